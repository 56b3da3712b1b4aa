// kprod/partitioner.h - plugging in your own choice of partition.
//
// Set producer_config::partitioner to route records yourself (for example
// tenant-aware routing); leave it null for the built-in partitioner
// (murmur2 of the key, KIP-794 uniform sticky for null keys).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace kprod {

class partitioner {
 public:
  virtual ~partitioner();

  // Picks the partition for a record sent without an explicit partition.
  // key_len / value_len are -1 for a null key / value (the pointer is then
  // null). Called concurrently from every thread that sends, with the
  // serialized bytes, so it must be thread-safe and should be quick.
  // num_partitions is the topic's current partition count (> 0).
  // A result < 0 or >= num_partitions fails the record with
  // client_errc::invalid_argument.
  virtual std::int32_t partition(std::string_view topic, const std::uint8_t* key,
                                 std::int32_t key_len, const std::uint8_t* value,
                                 std::int32_t value_len, std::int32_t num_partitions) = 0;
};

using partition_function =
    std::function<std::int32_t(std::string_view topic, const std::uint8_t* key,
                               std::int32_t key_len, const std::uint8_t* value,
                               std::int32_t value_len, std::int32_t num_partitions)>;

// A partitioner that calls fn (which must be thread-safe, as above).
std::shared_ptr<partitioner> make_partitioner(partition_function fn);

// The default partitioner's mapping of a non-null key, for custom
// partitioners that fall back to it: (murmur2(key) & 0x7fffffff) % n,
// identical to the Java client's. Returns -1 when num_partitions <= 0.
std::int32_t default_partition_for_key(const std::uint8_t* key, std::int32_t key_len,
                                       std::int32_t num_partitions) noexcept;

}  // namespace kprod
