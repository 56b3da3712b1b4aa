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

#include "producer/record_slot.h"
#include "protocol/record_batch.h"

namespace kprod::producer_detail {

// Batch buffers and slot vectors of completed batches, kept for the next
// batches so that the steady state allocates nothing and new batches reuse
// pages that are already resident (a fresh mapping costs a page fault per
// 4 KiB: with 100 KB records, 20% of the CPU). Bounded: at most `floor` =
// min(buffer.memory / 8, 4 MiB) bytes, oldest evicted first; these bytes hold
// no record and are outside buffer.memory, which is why the bound is small.
// Two bounds were tried and rejected: the whole free budget (as Java's
// BufferPool) raised peak RSS toward buffer.memory even when the producer
// never needed it (10 B records: 17 -> 30 MB); min(floor, free budget)
// cached nothing exactly when reuse matters, with the buffer full (100 KB
// records: a fresh mapping for every batch, 0.8x librdkafka's throughput).
class buffer_cache {
 public:
  explicit buffer_cache(std::size_t floor_bytes) : floor_(floor_bytes) {}

  // A kept buffer of exactly `capacity` bytes, else an empty one.
  protocol::batch_buffer take(std::size_t capacity);
  // A kept slot vector with capacity for exactly `n` slots, else an empty one.
  slot_vector take_slots(std::size_t n);
  // Keeps `b` if it fits the bound; otherwise frees it.
  void give(protocol::batch_buffer&& b);
  void give(slot_vector&& v);
  std::size_t cached_bytes() const;
  // What may be kept.
  std::size_t bound() const noexcept;

 private:
  // Drops the oldest kept items until `bytes_ + incoming` fits bound() (or
  // nothing is left). Caller holds mu_.
  void make_room_locked(std::size_t incoming);

  const std::size_t floor_;
  mutable std::mutex mu_;
  std::deque<protocol::batch_buffer> buffers_;  // oldest first
  std::deque<slot_vector> slots_;  // oldest first
  std::size_t bytes_ = 0;                       // both lists
};

class buffer_pool {
 public:
  explicit buffer_pool(std::int64_t capacity_bytes)
      : capacity_(capacity_bytes),
        cache_(static_cast<std::size_t>(std::min<std::int64_t>(capacity_bytes / 8, 4 << 20))) {}

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
