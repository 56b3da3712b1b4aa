// murmur2.cc - Kafka's murmur2 (see murmur2.h).
#include "codec/murmur2.h"

namespace kprod::codec {

std::int32_t murmur2(const void* data, std::size_t n) noexcept {
  // Unsigned arithmetic gives Java's wrapping int multiply and >>> shifts
  // without signed-overflow undefined behaviour.
  constexpr std::uint32_t seed = 0x9747b28cu;
  constexpr std::uint32_t m = 0x5bd1e995u;
  constexpr int r = 24;
  const auto* p = static_cast<const std::uint8_t*>(data);
  // Java hashes byte[] whose length is an int: truncating matches for all
  // lengths Kafka can carry.
  const auto length = static_cast<std::uint32_t>(n);

  std::uint32_t h = seed ^ length;
  const std::size_t blocks = n / 4;
  for (std::size_t i = 0; i < blocks; ++i) {
    const std::uint8_t* b = p + i * 4;
    std::uint32_t k = static_cast<std::uint32_t>(b[0]) | (static_cast<std::uint32_t>(b[1]) << 8) |
                      (static_cast<std::uint32_t>(b[2]) << 16) |
                      (static_cast<std::uint32_t>(b[3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }

  const std::uint8_t* tail = p + blocks * 4;
  switch (n % 4) {
    case 3:
      h ^= static_cast<std::uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<std::uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= tail[0];
      h *= m;
      break;
    default:
      break;
  }

  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

std::int32_t partition_for_key(std::span<const std::uint8_t> key,
                               std::int32_t num_partitions) noexcept {
  if (num_partitions <= 0) return -1;
  const auto positive = static_cast<std::uint32_t>(murmur2(key.data(), key.size())) & 0x7fffffffu;
  return static_cast<std::int32_t>(positive % static_cast<std::uint32_t>(num_partitions));
}

}  // namespace kprod::codec
