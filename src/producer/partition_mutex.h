// partition_mutex - the lock of one partition's queue of batches
// (partition_queue::mu), taken once per record sent.
//
// A futex mutex with three states (0 free, 1 held, 2 held and maybe
// waited for; Drepper, "Futexes Are Tricky", mutex 2) whose uncontended
// lock and unlock are inline: one compare-exchange and one exchange. Through
// pthread_mutex_* the same pair was two calls that dispatch on the mutex
// type, ~8% of the CPU per 100-byte record. Before sleeping it spins a
// little: the holder of this lock keeps it for a few hundred nanoseconds at
// most (an append, or the I/O thread taking one batch).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace kprod::producer_detail {

class partition_mutex {
 public:
  partition_mutex() = default;
  partition_mutex(const partition_mutex&) = delete;
  partition_mutex& operator=(const partition_mutex&) = delete;

  void lock() noexcept {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    lock_contended();
  }
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }
  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) wake_one();
  }

 private:
  void lock_contended() noexcept;
  void wake_one() noexcept;

  std::atomic<std::uint32_t> state_{0};
};

// Sleeps while `word` holds `expected`, at most `timeout` (it may return
// early, spuriously too: callers re-check); and wakes every such sleeper.
// Private futexes: the word is never shared with another process.
void futex_wait_for(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                    std::chrono::nanoseconds timeout) noexcept;
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

}  // namespace kprod::producer_detail
