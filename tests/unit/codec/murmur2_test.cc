#include "codec/murmur2.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace kprod::codec {
namespace {

std::int32_t hash(std::string_view s) { return murmur2(s.data(), s.size()); }

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Known answers from ../shared/kafka-protocol/test-vectors.md (Apache
// Kafka's UtilsTest values). They cover all four tail lengths.
TEST(Murmur2, MatchesKafkaKnownAnswers) {
  EXPECT_EQ(hash("21"), -973932308);
  EXPECT_EQ(hash("foobar"), -790332482);
  EXPECT_EQ(hash("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(hash("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(hash("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(hash("abc"), 479470107);
}

TEST(Murmur2, EmptyInputIsWellDefined) {
  // h = seed ^ 0, then only the final mix: must not read any byte.
  const std::int32_t empty = murmur2(nullptr, 0);
  EXPECT_EQ(empty, hash(""));
  EXPECT_NE(empty, hash(std::string_view("\0", 1)));
}

TEST(Murmur2, HighBytesAreTreatedAsUnsigned) {
  // Java masks each byte with 0xff; a sign-extending port differs on these.
  const std::vector<std::uint8_t> high{0xff, 0x80, 0xfe, 0x81, 0x90};
  const std::vector<std::uint8_t> low{0x7f, 0x00, 0x7e, 0x01, 0x10};
  EXPECT_NE(murmur2(high.data(), high.size()), murmur2(low.data(), low.size()));
}

TEST(Murmur2, PartitionForKeyMasksTheSignBit) {
  // murmur2("21") is negative: & 0x7fffffff, not abs(), decides the partition.
  const auto h = static_cast<std::uint32_t>(hash("21")) & 0x7fffffffu;
  for (std::int32_t n : {1, 2, 3, 7, 12, 100, 1000}) {
    EXPECT_EQ(partition_for_key(bytes("21"), n), static_cast<std::int32_t>(h % static_cast<std::uint32_t>(n)))
        << "n=" << n;
  }
  EXPECT_EQ(partition_for_key(bytes("21"), 1), 0);
}

TEST(Murmur2, PartitionForKeyRejectsNoPartitions) {
  EXPECT_EQ(partition_for_key(bytes("abc"), 0), -1);
  EXPECT_EQ(partition_for_key(bytes("abc"), -3), -1);
}

TEST(Murmur2, PartitionForKeyKnownMappings) {
  // (h & 0x7fffffff) % n worked out by hand from the known hashes.
  // foobar: -790332482 & 0x7fffffff = 1357151166.
  EXPECT_EQ(partition_for_key(bytes("foobar"), 10), 6);
  EXPECT_EQ(partition_for_key(bytes("foobar"), 7), static_cast<std::int32_t>(1357151166u % 7u));
  // abc: 479470107 is positive.
  EXPECT_EQ(partition_for_key(bytes("abc"), 100), 7);
}

}  // namespace
}  // namespace kprod::codec
