// buffer_pool - the buffer.memory byte budget.
//
// Every byte the producer holds for records (buffered and in flight) is
// reserved here first and released when the record's batch completes. When
// the budget is exhausted a sender waits (FIFO, so a large record is not
// starved by a stream of small ones) up to max.block.ms; a non-blocking
// sender fails at once.
//
// The common case - budget available, nobody waiting - is one atomic
// compare-and-swap; the mutex is taken only when someone has to wait.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

namespace kprod::producer_detail {

class buffer_pool {
 public:
  explicit buffer_pool(std::int64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // Reserves n bytes, waiting at most `max_wait`. False on timeout or when
  // the pool was closed. n > capacity never succeeds.
  bool reserve(std::int64_t n, std::chrono::milliseconds max_wait);
  // Never waits.
  bool try_reserve(std::int64_t n);
  void release(std::int64_t n);

  // Wakes every waiter with failure; later reserve() calls fail at once.
  void close();

  std::int64_t capacity() const noexcept { return capacity_; }
  std::int64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  std::size_t waiters() const;

 private:
  struct waiter {
    std::int64_t bytes;
    std::condition_variable cv;
  };
  bool take_if_fits(std::int64_t n) noexcept;

  const std::int64_t capacity_;
  std::atomic<std::int64_t> used_{0};
  std::atomic<int> waiting_{0};  // waiters registered (fast paths step aside)
  std::atomic<bool> closed_{false};
  mutable std::mutex mu_;
  std::deque<waiter*> waiters_;
};

}  // namespace kprod::producer_detail
