// murmur2.h - the 32-bit MurmurHash2 variant Apache Kafka uses to map keys to
// partitions (Utils.murmur2: seed 0x9747b28c, little-endian 4-byte blocks).
//
// Matching it bit for bit is what makes a keyed record land on the same
// partition whichever client produced it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kprod::codec {

// Kafka's murmur2 as a signed 32-bit value (what Java's int holds).
std::int32_t murmur2(const void* data, std::size_t n) noexcept;

// The default partitioner's keyed mapping: (murmur2(key) & 0x7fffffff) % n.
// num_partitions must be > 0; returns -1 otherwise.
std::int32_t partition_for_key(std::span<const std::uint8_t> key,
                               std::int32_t num_partitions) noexcept;

}  // namespace kprod::codec
