#include "codec/compression.h"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <snappy.h>
#include <zstd.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kprod::codec {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes json_like(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const char* names[] = {"user", "order", "sku", "price", "currency", "region", "status", "ts"};
  std::string s;
  while (s.size() < n) {
    s += "{\"";
    s += names[rng() % 8];
    s += "\":" + std::to_string(rng() % 100000) + ",\"";
    s += names[rng() % 8];
    s += "\":\"v" + std::to_string(rng() % 50) + "\"}\n";
  }
  s.resize(n);
  return {s.begin(), s.end()};
}

bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  bytes v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

bytes compress_with(compression_type t, int level, const bytes& in) {
  auto c = compressor::create(t, level);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
  bytes out;
  auto r = (*c)->compress(in, out);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return out;
}

bytes decompress_ok(compression_type t, const bytes& in, std::size_t limit = 64 << 20) {
  bytes out;
  auto r = decompress(t, in, out, limit);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return out;
}

const compression_type all_codecs[] = {compression_type::none, compression_type::gzip, compression_type::snappy,
                                       compression_type::lz4, compression_type::zstd};
const compression_type real_codecs[] = {compression_type::gzip, compression_type::snappy, compression_type::lz4,
                                        compression_type::zstd};

std::vector<int> levels_to_try(compression_type t) {
  switch (t) {
    case compression_type::gzip: return {default_level, 1, 6, 9, -1};
    case compression_type::lz4: return {default_level, 1, 9, 12, 17};
    case compression_type::zstd: return {default_level, -5, 1, 3, 19};
    default: return {default_level};
  }
}

TEST(Compression, RoundTripEveryCodecAndLevel) {
  const bytes inputs[] = {bytes{}, bytes{'x'}, json_like(10'000, 1), random_bytes(5'000, 2), json_like(1 << 20, 3)};
  for (auto t : all_codecs)
    for (int level : levels_to_try(t)) {
      auto c = compressor::create(t, level);
      ASSERT_TRUE(c.ok()) << to_string(t) << " level " << level;
      auto d = decompressor::create(t);
      ASSERT_TRUE(d.ok());
      for (const auto& in : inputs) {
        // Reuse the same codec objects: contexts must reset between calls.
        bytes out = {0xAA};  // compress appends
        ASSERT_TRUE((*c)->compress(in, out).ok());
        ASSERT_EQ(out[0], 0xAA);
        bytes back = {0x55};
        auto r = (*d)->decompress(std::span(out).subspan(1), back, in.size() + 1);
        ASSERT_TRUE(r.ok()) << to_string(t) << " level " << level << " size " << in.size() << ": "
                            << r.error().message();
        ASSERT_EQ(back[0], 0x55);
        ASSERT_EQ(bytes(back.begin() + 1, back.end()), in) << to_string(t) << " level " << level;
      }
    }
}

TEST(Compression, JsonCompressesAndRandomDoesNotExplode) {
  auto json = json_like(100'000, 4);
  auto noise = random_bytes(100'000, 5);
  for (auto t : real_codecs) {
    EXPECT_LT(compress_with(t, default_level, json).size(), json.size() / 2) << to_string(t);
    auto c = compress_with(t, default_level, noise);
    EXPECT_LT(c.size(), noise.size() + noise.size() / 50 + 1024) << to_string(t);
    EXPECT_EQ(decompress_ok(t, c), noise);
  }
}

TEST(Compression, LevelsAreValidatedWithTheRangeInTheMessage) {
  auto bad = compressor::create(compression_type::gzip, 10);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), client_errc::invalid_config);
  EXPECT_NE(bad.error().detail().find("1..9"), std::string::npos) << bad.error().detail();
  EXPECT_FALSE(compressor::create(compression_type::gzip, 0).ok());
  EXPECT_FALSE(compressor::create(compression_type::lz4, 0).ok());
  EXPECT_FALSE(compressor::create(compression_type::lz4, 18).ok());
  EXPECT_FALSE(compressor::create(compression_type::zstd, 23).ok());
  EXPECT_FALSE(compressor::create(compression_type::snappy, 1).ok());
  EXPECT_EQ(*resolve_compression_level(compression_type::gzip, default_level), 6);
  EXPECT_EQ(*resolve_compression_level(compression_type::gzip, -1), 6);
  EXPECT_EQ(*resolve_compression_level(compression_type::lz4, default_level), 9);
  EXPECT_EQ(*resolve_compression_level(compression_type::zstd, default_level), 3);
  EXPECT_EQ(compression_levels(compression_type::zstd).max, 22);
  EXPECT_FALSE(compressor::create(static_cast<compression_type>(7)).ok());
  EXPECT_FALSE(decompressor::create(static_cast<compression_type>(5)).ok());
}

TEST(Compression, GarbageFailsCleanlyAndLeavesOutputAlone) {
  const bytes garbage_inputs[] = {bytes{}, bytes{0x00}, random_bytes(1000, 6), bytes(64, 0xFF)};
  for (auto t : real_codecs)
    for (const auto& g : garbage_inputs) {
      bytes out = {1, 2, 3};
      auto r = decompress(t, g, out, 1 << 20);
      // Random data can, rarely, be a valid raw snappy stream; all others must fail.
      if (r.ok()) continue;
      EXPECT_EQ(r.error().code(), client_errc::compression_failed);
      EXPECT_EQ(out, (bytes{1, 2, 3})) << to_string(t);
    }
  // These specific inputs are invalid for every codec.
  for (auto t : real_codecs) {
    bytes out;
    EXPECT_FALSE(decompress(t, bytes(64, 0xFF), out, 1 << 20).ok()) << to_string(t);
    EXPECT_FALSE(decompress(t, bytes{}, out, 1 << 20).ok()) << to_string(t);
  }
}

TEST(Compression, TruncatedFramesFail) {
  auto in = json_like(50'000, 7);
  for (auto t : real_codecs) {
    auto c = compress_with(t, default_level, in);
    for (std::size_t cut : {c.size() - 1, c.size() / 2, std::size_t{5}}) {
      bytes out;
      EXPECT_FALSE(decompress(t, std::span(c).first(cut), out, 1 << 20).ok()) << to_string(t) << " cut " << cut;
      EXPECT_TRUE(out.empty());
    }
  }
}

TEST(Compression, OutputIsBoundedAgainstBombs) {
  bytes zeros(8 << 20, 0);
  for (auto t : all_codecs) {
    auto c = compress_with(t, default_level, zeros);
    bytes out = {9};
    auto r = decompress(t, c, out, 1 << 20);
    ASSERT_FALSE(r.ok()) << to_string(t);
    EXPECT_EQ(r.error().code(), client_errc::compression_failed);
    EXPECT_NE(r.error().detail().find("limit"), std::string::npos) << r.error().detail();
    EXPECT_EQ(out, bytes{9});
    EXPECT_LE(out.capacity(), std::size_t{2} << 20) << to_string(t) << ": allocated past the bound";
    // Exactly at the limit is fine.
    bytes exact;
    EXPECT_TRUE(decompress(t, c, exact, zeros.size()).ok()) << to_string(t);
    EXPECT_EQ(exact.size(), zeros.size());
    bytes one_less;
    EXPECT_FALSE(decompress(t, c, one_less, zeros.size() - 1).ok()) << to_string(t);
  }
}

// snappy-java's framing, as the Java client writes it.
bytes xerial_frame(const bytes& in, std::size_t block) {
  bytes out = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
  for (std::size_t pos = 0; pos < in.size(); pos += block) {
    std::string comp;
    snappy::Compress(reinterpret_cast<const char*>(in.data() + pos), std::min(block, in.size() - pos), &comp);
    auto n = static_cast<std::uint32_t>(comp.size());
    out.insert(out.end(), {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                           static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
    out.insert(out.end(), comp.begin(), comp.end());
  }
  return out;
}

TEST(Compression, SnappyReadsXerialFraming) {
  auto in = json_like(100'000, 8);
  auto framed = xerial_frame(in, 32 * 1024);
  EXPECT_EQ(decompress_ok(compression_type::snappy, framed), in);
  // Header only: an empty payload.
  EXPECT_TRUE(decompress_ok(compression_type::snappy, xerial_frame({}, 1024)).empty());
  // A block length running past the end.
  auto bad = framed;
  bad.resize(bad.size() - 3);
  bytes out;
  EXPECT_FALSE(decompress(compression_type::snappy, bad, out, 1 << 20).ok());
  // The bound applies across blocks.
  EXPECT_FALSE(decompress(compression_type::snappy, framed, out, 50'000).ok());
  EXPECT_TRUE(out.empty());
}

TEST(Compression, SnappyWritesRawSnappy) {
  auto in = json_like(5000, 9);
  auto c = compress_with(compression_type::snappy, default_level, in);
  std::string back;
  ASSERT_TRUE(snappy::Uncompress(reinterpret_cast<const char*>(c.data()), c.size(), &back));
  EXPECT_EQ(bytes(back.begin(), back.end()), in);
}

TEST(Compression, Lz4WritesIndependentBlocksTheJavaReaderAccepts) {
  auto in = json_like(300'000, 10);
  for (int level : {default_level, 12}) {
    auto c = compress_with(compression_type::lz4, level, in);
    ASSERT_GE(c.size(), 7u);
    EXPECT_EQ(c[0], 0x04);  // magic 0x184D2204, little-endian
    EXPECT_EQ(c[3], 0x18);
    const std::uint8_t flg = c[4], bd = c[5];
    EXPECT_EQ(flg >> 6, 1) << "frame version";
    EXPECT_EQ((flg >> 5) & 1, 1) << "block independence";
    EXPECT_EQ((bd >> 4) & 7, 4) << "64 KiB blocks";
  }
}

TEST(Compression, ZstdFrameWithoutContentSize) {
  auto in = json_like(200'000, 11);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  bytes frame(ZSTD_compressBound(in.size()));
  ZSTD_outBuffer out{frame.data(), frame.size(), 0};
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &out, &src, ZSTD_e_continue)));
  ZSTD_inBuffer none{nullptr, 0, 0};
  std::size_t left = 0;
  do {
    left = ZSTD_compressStream2(cctx, &out, &none, ZSTD_e_end);
    ASSERT_FALSE(ZSTD_isError(left));
  } while (left != 0);
  ZSTD_freeCCtx(cctx);
  frame.resize(out.pos);
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  EXPECT_EQ(decompress_ok(compression_type::zstd, frame), in);
  bytes small;
  EXPECT_FALSE(decompress(compression_type::zstd, frame, small, 100'000).ok());
}

TEST(Compression, ConcatenatedFramesDecodeAsOneStream) {
  auto a = json_like(1000, 12), b = json_like(2000, 13);
  bytes ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  for (auto t : {compression_type::gzip, compression_type::lz4, compression_type::zstd}) {
    auto c = compress_with(t, default_level, a);
    auto c2 = compress_with(t, default_level, b);
    c.insert(c.end(), c2.begin(), c2.end());
    EXPECT_EQ(decompress_ok(t, c), ab) << to_string(t);
  }
}

}  // namespace
}  // namespace kprod::codec
