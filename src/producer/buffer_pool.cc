#include "producer/buffer_pool.h"

#include <algorithm>

namespace kprod::producer_detail {

bool buffer_pool::try_reserve(std::int64_t n) {
  std::lock_guard lk(mu_);
  // Waiters go first: a non-blocking caller must not overtake them.
  if (closed_ || !waiters_.empty() || used_ + n > capacity_) return false;
  used_ += n;
  return true;
}

bool buffer_pool::reserve(std::int64_t n, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lk(mu_);
  if (closed_ || n > capacity_) return false;
  if (waiters_.empty() && used_ + n <= capacity_) {
    used_ += n;
    return true;
  }
  waiter w{n, {}};
  waiters_.push_back(&w);
  bool got = false;
  while (true) {
    if (closed_) break;
    if (waiters_.front() == &w && used_ + n <= capacity_) {
      used_ += n;
      got = true;
      break;
    }
    if (w.cv.wait_until(lk, deadline) == std::cv_status::timeout) {
      if (!closed_ && waiters_.front() == &w && used_ + n <= capacity_) {
        used_ += n;
        got = true;
      }
      break;
    }
  }
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
  // The next waiter may fit now (we either took our share or gave up).
  if (!waiters_.empty()) waiters_.front()->cv.notify_one();
  return got;
}

void buffer_pool::release(std::int64_t n) {
  std::lock_guard lk(mu_);
  used_ -= n;
  if (used_ < 0) used_ = 0;
  if (!waiters_.empty()) waiters_.front()->cv.notify_one();
}

void buffer_pool::close() {
  std::lock_guard lk(mu_);
  closed_ = true;
  for (waiter* w : waiters_) w->cv.notify_one();
}

std::int64_t buffer_pool::used() const {
  std::lock_guard lk(mu_);
  return used_;
}

std::size_t buffer_pool::waiters() const {
  std::lock_guard lk(mu_);
  return waiters_.size();
}

}  // namespace kprod::producer_detail
