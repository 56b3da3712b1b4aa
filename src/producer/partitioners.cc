// partitioners.cc - built-in partitioners (see partitioners.h) and the
// public custom-partitioner helpers.
#include "producer/partitioners.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <limits>
#include <utility>

#include "codec/murmur2.h"

namespace kprod {

partitioner::~partitioner() = default;

namespace {

class function_partitioner final : public partitioner {
 public:
  explicit function_partitioner(partition_function fn) : fn_(std::move(fn)) {}
  std::int32_t partition(std::string_view topic, const std::uint8_t* key, std::int32_t key_len,
                         const std::uint8_t* value, std::int32_t value_len,
                         std::int32_t num_partitions) override {
    return fn_(topic, key, key_len, value, value_len, num_partitions);
  }

 private:
  partition_function fn_;
};

}  // namespace

std::shared_ptr<partitioner> make_partitioner(partition_function fn) {
  if (!fn) return nullptr;
  return std::make_shared<function_partitioner>(std::move(fn));
}

std::int32_t default_partition_for_key(const std::uint8_t* key, std::int32_t key_len,
                                       std::int32_t num_partitions) noexcept {
  if (key_len < 0 || (key == nullptr && key_len > 0)) return -1;
  return codec::partition_for_key({key, static_cast<std::size_t>(key_len)}, num_partitions);
}

}  // namespace kprod

namespace kprod::producer_detail {
namespace {

constexpr std::uint64_t no_partition = 0;

constexpr std::uint64_t pack(std::int32_t partition, std::uint32_t produced) noexcept {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(partition) + 1u) << 32) | produced;
}
constexpr std::int32_t unpack_partition(std::uint64_t state) noexcept {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(state >> 32) - 1u);
}

std::uint64_t clock_seed(const void* self) noexcept {
  const auto now = static_cast<std::uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  return now ^ (reinterpret_cast<std::uintptr_t>(self) * 0x9e3779b97f4a7c15ull);
}

// Load stats are refreshed in place by the I/O thread while senders read
// them (accumulator.h, topic_state): relaxed atomic loads.
template <typename T>
T load_stat(const T& v) noexcept {
  return std::atomic_ref<T>(const_cast<T&>(v)).load(std::memory_order_relaxed);
}

std::int32_t uniform_pick(const topic_view& view, std::uint32_t random) noexcept {
  if (!view.available.empty())
    return view.available[random % static_cast<std::uint32_t>(view.available.size())];
  return static_cast<std::int32_t>(random % static_cast<std::uint32_t>(view.num_partitions));
}

}  // namespace

partitioner_settings partitioner_settings::from(const producer_config& cfg) {
  partitioner_settings s;
  s.kind = cfg.partitioner_choice;
  s.ignore_keys = cfg.partitioner_ignore_keys;
  s.adaptive = cfg.partitioner_adaptive;
  s.availability_timeout = cfg.partitioner_availability_timeout;
  s.sticky_batch_size = std::max(cfg.batch_size, 1);
  s.custom = cfg.partitioner;
  return s;
}

// ---- sticky ---------------------------------------------------------------------

sticky_partitioner::sticky_partitioner(std::int32_t sticky_batch_size, bool adaptive,
                                       std::chrono::milliseconds availability_timeout,
                                       std::uint64_t seed)
    : batch_size_(static_cast<std::uint32_t>(std::max(sticky_batch_size, 1))),
      adaptive_(adaptive),
      availability_timeout_ms_(availability_timeout.count()),
      rng_(seed != 0 ? seed : clock_seed(this)) {}

std::int32_t sticky_partitioner::current() const noexcept {
  const std::uint64_t s = state_.load(std::memory_order_acquire);
  return s == no_partition ? -1 : unpack_partition(s);
}

std::int32_t sticky_partitioner::next_partition(const topic_view& view) {
  std::uint64_t s = state_.load(std::memory_order_acquire);
  if (s != no_partition && unpack_partition(s) < view.num_partitions) return unpack_partition(s);

  std::lock_guard lock(switch_mutex_);
  s = state_.load(std::memory_order_acquire);  // another thread may have chosen meanwhile
  if (s != no_partition && unpack_partition(s) < view.num_partitions) return unpack_partition(s);
  const std::int32_t chosen = choose(view);
  state_.store(pack(chosen, 0), std::memory_order_release);
  return chosen;
}

void sticky_partitioner::on_append(std::int32_t partition, std::size_t bytes,
                                   bool enable_switch) noexcept {
  const std::uint64_t add = std::min<std::uint64_t>(bytes, std::numeric_limits<std::uint32_t>::max());
  const std::uint64_t twice = 2ull * batch_size_;
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (s == no_partition || unpack_partition(s) != partition) return;
    const std::uint64_t produced =
        std::min<std::uint64_t>((s & 0xffffffffull) + add, std::numeric_limits<std::uint32_t>::max());
    // As Java: switch after batch.size bytes when the accumulator allows it
    // (the last batch is full), and after twice that in any case.
    const bool switch_now = (produced >= batch_size_ && enable_switch) || produced >= twice;
    const std::uint64_t next =
        switch_now ? no_partition : pack(partition, static_cast<std::uint32_t>(produced));
    if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                     std::memory_order_acquire))
      return;
  }
}

std::uint32_t sticky_partitioner::next_random() noexcept {
  // splitmix64: fast, good enough for load spreading, seedable for tests.
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<std::uint32_t>(z >> 33);  // 31 bits, like Java's toPositive(nextInt())
}

std::int32_t sticky_partitioner::choose(const topic_view& view) {
  const std::uint32_t random = next_random();
  const std::size_t n = view.available.size();
  const bool have_stats = adaptive_ && n > 0 && view.queue_sizes.size() == n;
  // Java skips adaptive logic for topics with fewer than 2 partitions.
  if (!have_stats || view.num_partitions < 2) return uniform_pick(view, random);

  const bool check_stalls = availability_timeout_ms_ > 0 && view.leader_stalled_ms.size() == n;
  cft_ids_.clear();
  cft_.clear();
  std::int64_t max_size = 0;
  bool all_equal = true;
  for (std::size_t i = 0; i < n; ++i) {
    if (check_stalls && load_stat(view.leader_stalled_ms[i]) > availability_timeout_ms_) continue;
    const std::int64_t size = std::max(load_stat(view.queue_sizes[i]), 0);
    if (!cft_.empty() && size != cft_.front()) all_equal = false;
    max_size = std::max(max_size, size);
    cft_.push_back(size);
    cft_ids_.push_back(view.available[i]);
  }
  const std::size_t kept = cft_.size();
  // Nothing left, or nothing to prefer: uniform over the available
  // partitions, as Java does when it has no load stats.
  if (kept == 0 || (all_equal && kept == n)) return uniform_pick(view, random);

  // Invert queue sizes into weights (max + 1 - size, so the longest queue
  // still gets weight 1) and fold them into a running sum; a uniform draw
  // in [0, total) then lands on partition i with probability weight_i/total.
  std::int64_t running = 0;
  for (auto& entry : cft_) {
    running += max_size + 1 - entry;
    entry = running;
  }
  const std::int64_t draw = static_cast<std::int64_t>(random) % running;
  const auto it = std::upper_bound(cft_.begin(), cft_.end(), draw);
  return cft_ids_[static_cast<std::size_t>(it - cft_.begin())];
}

// ---- round robin ------------------------------------------------------------------

std::int32_t round_robin_partitioner::next_partition(const topic_view& view) noexcept {
  const std::uint32_t next = counter_.fetch_add(1, std::memory_order_relaxed) & 0x7fffffffu;
  return uniform_pick(view, next);
}

// ---- per topic ----------------------------------------------------------------------

topic_partitioner::topic_partitioner(std::string topic, partitioner_settings settings,
                                     std::uint64_t seed)
    : topic_(std::move(topic)),
      settings_(std::move(settings)),
      hashes_keys_(!settings_.custom && settings_.kind == partitioner_kind::builtin && !settings_.ignore_keys),
      sticky_(settings_.sticky_batch_size, settings_.adaptive, settings_.availability_timeout,
              seed) {}

result<partition_choice> topic_partitioner::partition(const std::uint8_t* key, std::int32_t key_len,
                                                      const std::uint8_t* value,
                                                      std::int32_t value_len,
                                                      std::int32_t explicit_partition,
                                                      const topic_view& view) {
  if (explicit_partition >= 0) return partition_choice{explicit_partition, false};
  if (view.num_partitions <= 0)
    return kprod::error(client_errc::invalid_argument,
                        "topic '" + topic_ + "' has no partitions in metadata");
  if (settings_.custom) return call_custom(key, key_len, value, value_len, view.num_partitions);

  switch (settings_.kind) {
    case partitioner_kind::round_robin:
      return partition_choice{round_robin_.next_partition(view), false};
    case partitioner_kind::uniform_sticky:
      break;
    case partitioner_kind::builtin:
      if (key_len >= 0 && !settings_.ignore_keys)
        return partition_choice{default_partition_for_key(key, key_len, view.num_partitions), false};
      break;
  }
  return partition_choice{sticky_.next_partition(view), true};
}

result<partition_choice> topic_partitioner::call_custom(const std::uint8_t* key,
                                                        std::int32_t key_len,
                                                        const std::uint8_t* value,
                                                        std::int32_t value_len,
                                                        std::int32_t num_partitions) {
  std::int32_t p = -1;
  try {
    p = settings_.custom->partition(topic_, key_len < 0 ? nullptr : key, key_len,
                                    value_len < 0 ? nullptr : value, value_len, num_partitions);
  } catch (const std::exception& e) {
    return kprod::error(client_errc::invalid_argument,
                        "partitioner threw for topic '" + topic_ + "': " + e.what());
  } catch (...) {
    return kprod::error(client_errc::invalid_argument,
                        "partitioner threw for topic '" + topic_ + "'");
  }
  if (p < 0 || p >= num_partitions)
    return kprod::error(client_errc::invalid_argument,
                        "partitioner returned partition " + std::to_string(p) + " for topic '" +
                            topic_ + "' with " + std::to_string(num_partitions) + " partitions");
  return partition_choice{p, false};
}

}  // namespace kprod::producer_detail
