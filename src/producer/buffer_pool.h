// buffer_pool - the buffer.memory byte budget.
//
// Every byte the producer holds for records (buffered and in flight) is
// reserved here first and released when the record's batch completes. When
// the budget is exhausted a sender waits (FIFO, so a large record is not
// starved by a stream of small ones) up to max.block.ms; a non-blocking
// sender fails at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

namespace kprod::producer_detail {

class buffer_pool {
 public:
  explicit buffer_pool(std::int64_t capacity_bytes) : capacity_(capacity_bytes) {}

  // Reserves n bytes, waiting until `deadline` (steady clock). Returns false
  // on timeout or when the pool was closed. n > capacity never succeeds.
  bool reserve(std::int64_t n, std::chrono::steady_clock::time_point deadline);
  // Never waits.
  bool try_reserve(std::int64_t n);
  void release(std::int64_t n);

  // Wakes every waiter with failure; later reserve() calls fail at once.
  void close();

  std::int64_t capacity() const noexcept { return capacity_; }
  std::int64_t used() const;
  std::size_t waiters() const;

 private:
  struct waiter {
    std::int64_t bytes;
    std::condition_variable cv;
  };

  const std::int64_t capacity_;
  mutable std::mutex mu_;
  std::int64_t used_ = 0;
  bool closed_ = false;
  std::deque<waiter*> waiters_;
};

}  // namespace kprod::producer_detail
