// partitioners.h - the built-in partitioners, per topic, for the accumulator.
//
// Hot path: a keyed record costs one murmur2 and takes no lock; a null-key
// record reads one atomic word (the sticky partition), and the accumulator
// counts its bytes under the partition's lock, reporting them here (one CAS)
// only once they reach batch.size. A mutex is taken only when the sticky
// partition is (re)chosen - once per batch.size bytes - because choosing walks
// the topic's partitions, uses the RNG and a reused scratch table.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codec/murmur2.h"
#include "kprod/config.h"
#include "kprod/partitioner.h"
#include "kprod/result.h"

namespace kprod::producer_detail {

// What the accumulator knows about a topic when a record needs a partition.
// The spans are only read during the call.
struct topic_view {
  std::int32_t num_partitions = 0;
  // Partitions whose leader is known, ascending. Empty: none is known, and
  // any partition may be picked (the record waits for a leader).
  std::span<const std::int32_t> available;
  // Adaptive partitioning inputs, parallel to `available`; leave empty when
  // there are no stats yet (Java waits until every partition has had a
  // batch). queue_sizes: batches queued per partition. leader_stalled_ms: how
  // long the partition's leader has had data ready but not drained it
  // (Java's readyTimeMs - drainTimeMs); compared to
  // partitioner.availability.timeout.ms.
  std::span<const std::int32_t> queue_sizes;
  std::span<const std::int64_t> leader_stalled_ms;
};

struct partitioner_settings {
  partitioner_kind kind = partitioner_kind::builtin;
  bool ignore_keys = false;
  bool adaptive = true;
  std::chrono::milliseconds availability_timeout{0};
  std::int32_t sticky_batch_size = 16384;  // bytes before switching; >= 1
  std::shared_ptr<kprod::partitioner> custom;  // when set, decides every record

  // From a validated (effective) config.
  static partitioner_settings from(const producer_config& cfg);
};

// KIP-794 uniform sticky partitioning for one topic (Java's
// BuiltInPartitioner): stay on one partition until sticky_batch_size bytes
// went to it, then pick the next one uniformly among available partitions,
// or - adaptive - with probability falling with its queue size, skipping
// partitions whose leader stalled longer than the availability timeout.
class sticky_partitioner {
 public:
  // seed: the RNG's seed; 0 picks one from the clock (tests pass their own).
  sticky_partitioner(std::int32_t sticky_batch_size, bool adaptive,
                     std::chrono::milliseconds availability_timeout, std::uint64_t seed = 0);

  // The current sticky partition, choosing one when there is none.
  // Thread-safe; view.num_partitions must be > 0.
  std::int32_t next_partition(const topic_view& view);

  // Accounts bytes appended to `partition`. Once the partition has had
  // sticky_batch_size bytes (and enable_switch: the accumulator's "the last
  // batch is full"), or twice that regardless, the next call to
  // next_partition picks a new one. Appends to a partition that is no longer
  // the sticky one (a racing thread switched) are not counted. Thread-safe.
  // (The accumulator counts a partition's bytes itself and calls this once
  // they reach batch.size, with enable_switch.)
  void on_append(std::int32_t partition, std::size_t bytes, bool enable_switch = true) noexcept;

  // The sticky partition, or -1 when the next call will choose one.
  std::int32_t current() const noexcept;

 private:
  std::int32_t choose(const topic_view& view);  // with switch_mutex_ held
  std::uint32_t next_random() noexcept;          // with switch_mutex_ held; 31 bits

  // (partition + 1) << 32 | bytes produced to it; 0 = none chosen.
  std::atomic<std::uint64_t> state_{0};
  const std::uint32_t batch_size_;
  const bool adaptive_;
  const std::int64_t availability_timeout_ms_;

  std::mutex switch_mutex_;
  std::uint64_t rng_;
  std::vector<std::int64_t> cft_;         // cumulative frequency table (scratch)
  std::vector<std::int32_t> cft_ids_;     // partition of each cft_ entry (scratch)
};

// Java's RoundRobinPartitioner: a per-topic counter over available partitions.
class round_robin_partitioner {
 public:
  std::int32_t next_partition(const topic_view& view) noexcept;

 private:
  std::atomic<std::uint32_t> counter_{0};
};

struct partition_choice {
  std::int32_t partition = -1;
  bool sticky = false;  // chosen by the sticky partitioner: report the append via on_append
};

// All partitioning for one topic; one instance per topic, shared by threads.
class topic_partitioner {
 public:
  topic_partitioner(std::string topic, partitioner_settings settings, std::uint64_t seed = 0);

  // explicit_partition >= 0 is returned as is (the caller checks it against
  // the partition count). Otherwise the custom partitioner, or the built-in
  // one, decides; key_len / value_len are -1 for null. Errors
  // (invalid_argument): no partitions in view, a custom partitioner's
  // result out of range or its exception.
  result<partition_choice> partition(const std::uint8_t* key, std::int32_t key_len,
                                     const std::uint8_t* value, std::int32_t value_len,
                                     std::int32_t explicit_partition, const topic_view& view);

  // The common case without the result machinery: a keyed record under the
  // built-in partitioner goes to murmur2(key) mod partitions. -1 when some
  // other rule decides (null key, custom, round-robin, uniform sticky,
  // ignore_keys, no partitions): then call partition().
  std::int32_t keyed_partition(const std::uint8_t* key, std::int32_t key_len,
                               std::int32_t num_partitions) const noexcept {
    if (!hashes_keys_ || key_len < 0 || num_partitions <= 0 || (key == nullptr && key_len > 0)) return -1;
    return codec::partition_for_key({key, static_cast<std::size_t>(key_len)}, num_partitions);
  }

  // Likewise for the uniform sticky choice (a null key under the built-in
  // partitioner, or uniform_sticky): the sticky partition, or -1 when some
  // other rule decides. Its appends are reported with on_append (the
  // accumulator counts them per partition first: record_args::sticky).
  std::int32_t sticky_partition(std::int32_t key_len, const topic_view& view) {
    if (settings_.custom || view.num_partitions <= 0) return -1;
    if (settings_.kind == partitioner_kind::uniform_sticky ||
        (settings_.kind == partitioner_kind::builtin && (key_len < 0 || settings_.ignore_keys))) {
      return sticky_.next_partition(view);
    }
    return -1;
  }

  void on_append(const partition_choice& choice, std::size_t bytes,
                 bool enable_switch = true) noexcept {
    if (choice.sticky) sticky_.on_append(choice.partition, bytes, enable_switch);
  }

  const std::string& topic() const noexcept { return topic_; }
  sticky_partitioner& sticky() noexcept { return sticky_; }

 private:
  result<partition_choice> call_custom(const std::uint8_t* key, std::int32_t key_len,
                                       const std::uint8_t* value, std::int32_t value_len,
                                       std::int32_t num_partitions);

  std::string topic_;
  partitioner_settings settings_;
  // Keys decide the partition (built-in, no custom, keys not ignored).
  bool hashes_keys_;
  sticky_partitioner sticky_;
  round_robin_partitioner round_robin_;
};

}  // namespace kprod::producer_detail
