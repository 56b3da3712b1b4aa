// flush_tracker - lets flush() wait for exactly the records sent before it.
//
// Units (a batch, or a record waiting for metadata) are counted in the epoch
// current when they were created; flush() opens a new epoch and waits until
// no unit of an older epoch is left. A record appended to a batch created
// before the flush began is waited for too (its batch is counted in the old
// epoch) - conservative, and flush makes every batch ready at once anyway.
// Counting is per batch, not per record, so the lock is off the record path.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>

namespace kprod::producer_detail {

class flush_tracker {
 public:
  std::uint64_t add() {
    std::lock_guard lk(mu_);
    ++outstanding_[epoch_];
    return epoch_;
  }
  // One more unit in an existing epoch (a batch split into pieces).
  void add_to(std::uint64_t epoch) {
    std::lock_guard lk(mu_);
    ++outstanding_[epoch];
  }
  void remove(std::uint64_t epoch) {
    std::lock_guard lk(mu_);
    dec(epoch);
  }
  // Two units (a waiting record, the batch it joins) become one that keeps
  // the older epoch. Returns that epoch.
  std::uint64_t merge(std::uint64_t a, std::uint64_t b) {
    std::lock_guard lk(mu_);
    const std::uint64_t keep = a < b ? a : b;
    ++outstanding_[keep];
    dec(a);
    dec(b);
    return keep;
  }

  // Starts a flush: returns the epoch to wait for.
  std::uint64_t begin() {
    std::lock_guard lk(mu_);
    return epoch_++;
  }
  bool wait(std::uint64_t target, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lk(mu_);
    return cv_.wait_until(lk, deadline, [&] { return outstanding_.empty() || outstanding_.begin()->first > target; });
  }
  bool idle() {
    std::lock_guard lk(mu_);
    return outstanding_.empty();
  }

 private:
  void dec(std::uint64_t epoch) {
    auto it = outstanding_.find(epoch);
    if (it == outstanding_.end()) return;
    if (--it->second == 0) {
      outstanding_.erase(it);
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t epoch_ = 0;
  std::map<std::uint64_t, std::int64_t> outstanding_;
};

}  // namespace kprod::producer_detail
