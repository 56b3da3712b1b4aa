#include "codec/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

namespace kprod::codec {
namespace {

// Bit-at-a-time reference, independent of both table-driven paths.
std::uint32_t crc32c_bitwise(const std::uint8_t* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

struct known_answer {
  std::vector<std::uint8_t> input;
  std::uint32_t crc;
};

// /work/shared/kafka-protocol/test-vectors.md
std::vector<known_answer> known_answers() {
  std::vector<known_answer> v;
  std::string_view digits = "123456789";
  v.push_back({{digits.begin(), digits.end()}, 0xE3069283u});
  v.push_back({std::vector<std::uint8_t>(32, 0x00), 0x8A9136AAu});
  v.push_back({std::vector<std::uint8_t>(32, 0xFF), 0x62A8AB43u});
  std::vector<std::uint8_t> ramp(32);
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<std::uint8_t>(i);
  v.push_back({ramp, 0x46DD794Eu});
  return v;
}

TEST(Crc32c, KnownAnswersDispatched) {
  for (const auto& ka : known_answers()) EXPECT_EQ(crc32c(ka.input.data(), ka.input.size()), ka.crc);
}

TEST(Crc32c, KnownAnswersPortable) {
  for (const auto& ka : known_answers()) EXPECT_EQ(detail::crc32c_portable(0, ka.input.data(), ka.input.size()), ka.crc);
}

TEST(Crc32c, KnownAnswersHardware) {
  if (!detail::crc32c_hw_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  for (const auto& ka : known_answers()) EXPECT_EQ(detail::crc32c_hw(0, ka.input.data(), ka.input.size()), ka.crc);
}

TEST(Crc32c, EmptyInputIsZero) {
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  EXPECT_EQ(detail::crc32c_portable(0, nullptr, 0), 0u);
  EXPECT_EQ(crc32c_extend(0x12345678u, nullptr, 0), 0x12345678u);
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

TEST(Crc32c, PortableMatchesBitwiseForOddLengthsAndAlignments) {
  auto data = random_bytes(4096 + 16, 1);
  for (std::size_t offset = 0; offset < 8; ++offset)
    for (std::size_t n = 0; n <= 4096; n += (n < 64 ? 1 : 37)) {
      const std::uint8_t* p = data.data() + offset;
      ASSERT_EQ(detail::crc32c_portable(0, p, n), crc32c_bitwise(p, n)) << "offset " << offset << " len " << n;
    }
}

TEST(Crc32c, HardwareMatchesPortableForOddLengthsAndAlignments) {
  if (!detail::crc32c_hw_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  auto data = random_bytes(4096 + 16, 2);
  for (std::size_t offset = 0; offset < 8; ++offset)
    for (std::size_t n = 0; n <= 4096; ++n) {
      const std::uint8_t* p = data.data() + offset;
      ASSERT_EQ(detail::crc32c_hw(0, p, n), detail::crc32c_portable(0, p, n)) << "offset " << offset << " len " << n;
    }
}

// Sizes around the three-way block boundaries (3 x 256 and 3 x 8192 bytes).
TEST(Crc32c, HardwareMatchesPortableAcrossInterleavedBlocks) {
  if (!detail::crc32c_hw_available()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  auto data = random_bytes(200'000, 3);
  const std::size_t sizes[] = {767, 768, 769, 1535, 1536, 24575, 24576, 24577, 49152 + 768 + 13, 131072, 199'990};
  for (std::size_t n : sizes)
    for (std::size_t offset : {0u, 1u, 5u}) {
      const std::uint8_t* p = data.data() + offset;
      EXPECT_EQ(detail::crc32c_hw(0, p, n), detail::crc32c_portable(0, p, n)) << "len " << n << " offset " << offset;
    }
  EXPECT_EQ(detail::crc32c_hw(0, data.data(), data.size()), crc32c_bitwise(data.data(), data.size()));
}

TEST(Crc32c, ExtendEqualsWholeForEveryPath) {
  auto data = random_bytes(70'000, 4);
  const std::uint32_t whole = crc32c_bitwise(data.data(), data.size());
  for (std::size_t split : {0u, 1u, 7u, 1000u, 30'000u, 69'999u}) {
    std::uint32_t c = crc32c_extend(crc32c(data.data(), split), data.data() + split, data.size() - split);
    EXPECT_EQ(c, whole) << "split " << split;
    c = detail::crc32c_portable(detail::crc32c_portable(0, data.data(), split), data.data() + split,
                                data.size() - split);
    EXPECT_EQ(c, whole) << "portable split " << split;
  }
}

TEST(Crc32c, PatchEqualsRecomputingAfterAChange) {
  // Changes of 1-100 bytes at several places, with 0 to ~1 MB after them
  // (the shift by x^(8*tail) walks every bit of the tail length).
  auto data = random_bytes(1'100'000, 6);
  std::mt19937 rng(7);
  for (std::size_t tail : {0u, 1u, 3u, 64u, 4095u, 16'384u, 65'537u, 1'000'003u}) {
    for (std::size_t n : {1u, 16u, 40u, 64u, 65u, 100u}) {
      const std::size_t at = data.size() - tail - n;
      std::vector<std::uint8_t> msg(data.begin(), data.end());
      const std::uint32_t before_crc = crc32c(msg.data(), msg.size());
      std::vector<std::uint8_t> before(msg.begin() + static_cast<std::ptrdiff_t>(at),
                                       msg.begin() + static_cast<std::ptrdiff_t>(at + n));
      for (std::size_t i = 0; i < n; ++i) msg[at + i] = static_cast<std::uint8_t>(rng());
      EXPECT_EQ(crc32c_patch(before_crc, before.data(), msg.data() + at, n, tail), crc32c(msg.data(), msg.size()))
          << "tail " << tail << " changed " << n;
    }
  }
  // No change: the CRC stays.
  const std::uint8_t same[3] = {1, 2, 3};
  EXPECT_EQ(crc32c_patch(0x12345678u, same, same, 3, 999), 0x12345678u);
}

TEST(Crc32c, ShiftByZeroBytesAgreesOnBothPaths) {
  // The carry-less path (when the CPU has it) against the bitwise one, for
  // lengths up to 2^40 - every power of x the tables hold - and against
  // feeding real zero bytes for short lengths.
  std::mt19937_64 rng(12);
  for (int i = 0; i < 2000; ++i) {
    const auto v = static_cast<std::uint32_t>(rng());
    const std::size_t n = static_cast<std::size_t>(rng() >> (24 + rng() % 40));
    ASSERT_EQ(detail::shift_zero_bytes(v, n), detail::shift_zero_bytes_portable(v, n)) << "v " << v << " n " << n;
  }
  const std::vector<std::uint8_t> zeros(5000, 0);
  for (std::size_t n : {0u, 1u, 3u, 8u, 100u, 4999u}) {
    const std::uint32_t v = 0xDEADBEEFu;
    // A raw state v moved past n zeros: the finished CRC ~v extended by them.
    EXPECT_EQ(detail::shift_zero_bytes(v, n), ~crc32c_extend(~v, zeros.data(), n)) << n;
  }
}

TEST(Crc32c, DetectsSingleBitFlip) {
  auto data = random_bytes(1000, 5);
  const std::uint32_t before = crc32c(data.data(), data.size());
  data[500] ^= 0x10;
  EXPECT_NE(crc32c(data.data(), data.size()), before);
}

}  // namespace
}  // namespace kprod::codec
