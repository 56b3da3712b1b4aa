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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "protocol/record_batch.h"

namespace kprod::producer_detail {

// Batch buffers of completed batches, kept for the next batches so that the
// steady state allocates nothing and the allocator's heap does not fragment
// (which is what made the resident size exceed buffer.memory). Bounded: at
// most `max_bytes` of capacity is kept; these bytes are outside buffer.memory
// (they hold no record), which is why the bound is small.
class buffer_cache {
 public:
  explicit buffer_cache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // A cached buffer of exactly `capacity` bytes, else an empty one.
  protocol::batch_buffer take(std::size_t capacity);
  // Keeps `b` if it fits the bound; otherwise frees it.
  void give(protocol::batch_buffer&& b);
  std::size_t cached_bytes() const;

 private:
  const std::size_t max_bytes_;
  mutable std::mutex mu_;
  std::vector<protocol::batch_buffer> free_;
  std::size_t bytes_ = 0;
};

class buffer_pool {
 public:
  explicit buffer_pool(std::int64_t capacity_bytes)
      : capacity_(capacity_bytes), cache_(static_cast<std::size_t>(std::min<std::int64_t>(capacity_bytes / 8, 4 << 20))) {}

  // Reserves n bytes, waiting at most `max_wait`. False on timeout or when
  // the pool was closed. n > capacity never succeeds.
  bool reserve(std::int64_t n, std::chrono::milliseconds max_wait);
  // Never waits.
  bool try_reserve(std::int64_t n);
  // Takes n bytes even past the capacity (the I/O thread, which must neither
  // wait nor fail, growing a batch for a record that already held its own
  // reservation). Later reservations wait until enough is released.
  void force_reserve(std::int64_t n) noexcept { used_.fetch_add(n, std::memory_order_acq_rel); }
  void release(std::int64_t n);

  // Wakes every waiter with failure; later reserve() calls fail at once.
  void close();

  std::int64_t capacity() const noexcept { return capacity_; }
  std::int64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  // Some sender is blocked waiting for memory.
  bool has_waiters() const noexcept { return waiting_.load(std::memory_order_acquire) > 0; }
  std::size_t waiters() const;
  // Recycled batch buffers; outlives every batch (the pool outlives the
  // accumulator and the sender).
  buffer_cache& cache() noexcept { return cache_; }

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
  buffer_cache cache_;
};

}  // namespace kprod::producer_detail
