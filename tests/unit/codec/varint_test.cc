#include "codec/varint.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <limits>
#include <vector>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"

namespace kprod::codec {
namespace {

TEST(Varint, ZigzagEdges) {
  EXPECT_EQ(zigzag32(0), 0u);
  EXPECT_EQ(zigzag32(-1), 1u);
  EXPECT_EQ(zigzag32(1), 2u);
  EXPECT_EQ(zigzag32(INT32_MAX), 0xFFFFFFFEu);
  EXPECT_EQ(zigzag32(INT32_MIN), 0xFFFFFFFFu);
  EXPECT_EQ(unzigzag32(0xFFFFFFFFu), INT32_MIN);
  EXPECT_EQ(unzigzag32(0xFFFFFFFEu), INT32_MAX);
  EXPECT_EQ(zigzag64(INT64_MAX), 0xFFFFFFFFFFFFFFFEull);
  EXPECT_EQ(zigzag64(INT64_MIN), 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(unzigzag64(0xFFFFFFFFFFFFFFFFull), INT64_MIN);
  EXPECT_EQ(unzigzag64(0xFFFFFFFFFFFFFFFEull), INT64_MAX);
}

TEST(Varint, KnownEncodings) {
  std::uint8_t buf[max_varint64_bytes];
  ASSERT_EQ(encode_varint32(-1, buf), 1u);
  EXPECT_EQ(buf[0], 0x01);
  ASSERT_EQ(encode_varint32(300, buf), 2u);  // zigzag 600 = 0xd8 0x04
  EXPECT_EQ(buf[0], 0xd8);
  EXPECT_EQ(buf[1], 0x04);
  EXPECT_EQ(encode_varint32(INT32_MIN, buf), 5u);
  EXPECT_EQ(encode_varint32(INT32_MAX, buf), 5u);
  EXPECT_EQ(encode_varint64(INT64_MIN, buf), 10u);
  EXPECT_EQ(encode_varint64(INT64_MAX, buf), 10u);
  EXPECT_EQ(encode_uvarint32(UINT32_MAX, buf), 5u);
  EXPECT_EQ(buf[4], 0x0f);
}

TEST(Varint, RoundTrip32) {
  const std::int32_t values[] = {0, 1, -1, 63, -64, 64, -65, 8191, -8192, 1 << 20, -(1 << 20), INT32_MAX, INT32_MIN};
  for (std::int32_t v : values) {
    std::uint8_t buf[max_varint32_bytes];
    std::size_t n = encode_varint32(v, buf);
    EXPECT_EQ(n, varint_size(v));
    std::int32_t back = 0;
    EXPECT_EQ(decode_varint32(buf, n, back), n);
    EXPECT_EQ(back, v);
    EXPECT_EQ(decode_varint32(buf, n - 1, back), 0u) << "truncated input must fail for " << v;
  }
}

TEST(Varint, RoundTrip64) {
  const std::int64_t values[] = {0, 1, -1, 1LL << 35, -(1LL << 35), 1LL << 62, INT64_MAX, INT64_MIN, 1'700'000'000'000LL};
  for (std::int64_t v : values) {
    std::uint8_t buf[max_varint64_bytes];
    std::size_t n = encode_varint64(v, buf);
    EXPECT_EQ(n, varlong_size(v));
    std::int64_t back = 0;
    EXPECT_EQ(decode_varint64(buf, n, back), n);
    EXPECT_EQ(back, v);
    EXPECT_EQ(decode_varint64(buf, n - 1, back), 0u);
  }
}

// Sizes are computed without a loop; check them at every 7-bit boundary
// against what the encoder writes, and the encoding against the decoder.
TEST(Varint, SizeMatchesTheEncodingAtEveryBoundary) {
  for (int bits = 0; bits <= 64; ++bits) {
    const std::uint64_t top = bits == 64 ? UINT64_MAX : (std::uint64_t{1} << bits) - 1;
    for (std::uint64_t v : {top, top + 1, top - 1, top / 2}) {
      std::uint8_t buf[max_varint64_bytes];
      const std::size_t n = encode_uvarint64(v, buf);
      EXPECT_EQ(n, uvarint_size(v)) << v;
      std::uint64_t back = 0;
      EXPECT_EQ(decode_uvarint64(buf, n, back), n) << v;
      EXPECT_EQ(back, v);
      for (std::size_t i = 0; i + 1 < n; ++i) EXPECT_NE(buf[i] & 0x80, 0) << v << " byte " << i;
      EXPECT_EQ(buf[n - 1] & 0x80, 0) << v;
    }
  }
  static_assert(uvarint_size(0) == 1 && uvarint_size(127) == 1 && uvarint_size(128) == 2 &&
                uvarint_size(16383) == 2 && uvarint_size(16384) == 3 && uvarint_size(UINT64_MAX) == 10);
}

TEST(Varint, OverflowIsRejected) {
  // Sixth continuation byte for a 32-bit varint.
  const std::uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  std::uint32_t u = 0;
  EXPECT_EQ(decode_uvarint32(six, sizeof six, u), 0u);
  // Fifth byte carrying more than the 4 remaining bits.
  const std::uint8_t big5[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
  EXPECT_EQ(decode_uvarint32(big5, sizeof big5, u), 0u);
  const std::uint8_t max5[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  EXPECT_EQ(decode_uvarint32(max5, sizeof max5, u), 5u);
  EXPECT_EQ(u, UINT32_MAX);
  // Tenth byte > 1 overflows 64 bits; eleven bytes are never valid.
  std::uint8_t ten[10];
  for (auto& b : ten) b = 0xff;
  ten[9] = 0x02;
  std::uint64_t u64 = 0;
  EXPECT_EQ(decode_uvarint64(ten, sizeof ten, u64), 0u);
  ten[9] = 0x01;
  EXPECT_EQ(decode_uvarint64(ten, sizeof ten, u64), 10u);
  EXPECT_EQ(u64, UINT64_MAX);
  std::uint8_t eleven[11];
  for (auto& b : eleven) b = 0x80;
  eleven[10] = 0x00;
  EXPECT_EQ(decode_uvarint64(eleven, sizeof eleven, u64), 0u);
}

TEST(ByteWriterReader, RoundTripOfEveryType) {
  std::vector<std::uint8_t> buf;
  byte_writer w(buf);
  w.write_i8(-5);
  w.write_bool(true);
  w.write_i16(-12345);
  w.write_i32(INT32_MIN);
  w.write_u32(0xDEADBEEFu);
  w.write_i64(INT64_MAX);
  w.write_f64(2.5);
  w.write_uvarint(300);
  w.write_varint(-300);
  w.write_varlong(INT64_MIN);
  w.write_raw(std::string_view("abc"));
  std::size_t at = w.skip(4);
  w.patch_i32(at, 0x01020304);

  byte_reader r(buf);
  EXPECT_EQ(r.read_i8(), -5);
  EXPECT_TRUE(r.read_bool());
  EXPECT_EQ(r.read_i16(), -12345);
  EXPECT_EQ(r.read_i32(), INT32_MIN);
  EXPECT_EQ(r.read_u32(), 0xDEADBEEFu);
  EXPECT_EQ(r.read_i64(), INT64_MAX);
  EXPECT_EQ(r.read_f64(), 2.5);
  EXPECT_EQ(r.read_uvarint(), 300u);
  EXPECT_EQ(r.read_varint(), -300);
  EXPECT_EQ(r.read_varlong(), INT64_MIN);
  EXPECT_EQ(r.read_string_view(3), "abc");
  EXPECT_EQ(r.read_i32(), 0x01020304);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.empty());
}

TEST(ByteWriter, BigEndianLayout) {
  std::vector<std::uint8_t> buf;
  byte_writer w(buf);
  w.write_i32(0x0A0B0C0D);
  w.write_i16(0x0102);
  EXPECT_EQ(buf, (std::vector<std::uint8_t>{0x0A, 0x0B, 0x0C, 0x0D, 0x01, 0x02}));
}

TEST(ByteReader, ErrorIsSticky) {
  const std::uint8_t data[] = {0x00, 0x01, 0x02};
  byte_reader r(data, sizeof data);
  EXPECT_EQ(r.read_i16(), 1);
  EXPECT_EQ(r.read_i32(), 0);  // short read
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.read_i8(), 0);  // still failed, still zero
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, TruncatedVarintFails) {
  const std::uint8_t data[] = {0x80, 0x80};
  byte_reader r(data, sizeof data);
  EXPECT_EQ(r.read_varint(), 0);
  EXPECT_FALSE(r.ok());
}

TEST(ByteReader, CheckCountGuardsAllocations) {
  std::vector<std::uint8_t> data(10);
  byte_reader r(data);
  EXPECT_TRUE(r.check_count(5, 2));
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.check_count(6, 2));
  EXPECT_FALSE(r.ok());
  byte_reader r2(data);
  EXPECT_FALSE(r2.check_count(-1, 1));
  EXPECT_FALSE(r2.ok());
}

TEST(ByteReader, ReadSpanPastEndFails) {
  const std::uint8_t data[] = {1, 2, 3};
  byte_reader r(data, sizeof data);
  EXPECT_TRUE(r.read_span(4).empty());
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace kprod::codec
