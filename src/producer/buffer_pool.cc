#include "producer/buffer_pool.h"

#include <sys/mman.h>

#include <algorithm>

namespace kprod::producer_detail {

void* allocate_mapped(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return p;
}

void deallocate_mapped(void* p, std::size_t bytes) noexcept { munmap(p, bytes); }

bool buffer_pool::take_if_fits(std::int64_t n) noexcept {
  std::int64_t cur = used_.load(std::memory_order_relaxed);
  while (cur + n <= capacity_) {
    if (used_.compare_exchange_weak(cur, cur + n, std::memory_order_acq_rel)) return true;
  }
  return false;
}

bool buffer_pool::try_reserve(std::int64_t n) {
  // Waiters go first: a non-blocking caller must not overtake them.
  if (closed_.load(std::memory_order_acquire) || waiting_.load(std::memory_order_acquire) > 0) return false;
  return take_if_fits(n);
}

bool buffer_pool::reserve(std::int64_t n, std::chrono::milliseconds max_wait) {
  if (closed_.load(std::memory_order_acquire) || n > capacity_) return false;
  if (waiting_.load(std::memory_order_acquire) == 0 && take_if_fits(n)) return true;
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  std::unique_lock lk(mu_);
  waiter w{n, {}};
  waiters_.push_back(&w);
  // Registered before re-checking, so a release() that follows sees us.
  waiting_.fetch_add(1, std::memory_order_acq_rel);
  bool got = false;
  while (true) {
    if (closed_.load()) break;
    if (waiters_.front() == &w && take_if_fits(n)) {
      got = true;
      break;
    }
    if (w.cv.wait_until(lk, deadline) == std::cv_status::timeout) {
      got = !closed_.load() && waiters_.front() == &w && take_if_fits(n);
      break;
    }
  }
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
  waiting_.fetch_sub(1, std::memory_order_acq_rel);
  // The next waiter may fit now (we either took our share or gave up).
  if (!waiters_.empty()) waiters_.front()->cv.notify_one();
  return got;
}

void buffer_pool::release(std::int64_t n) {
  used_.fetch_sub(n, std::memory_order_acq_rel);
  if (waiting_.load(std::memory_order_acquire) > 0) {
    std::lock_guard lk(mu_);
    if (!waiters_.empty()) waiters_.front()->cv.notify_one();
  }
}

void buffer_pool::close() {
  closed_.store(true);
  std::lock_guard lk(mu_);
  for (waiter* w : waiters_) w->cv.notify_one();
}

std::size_t buffer_pool::waiters() const {
  std::lock_guard lk(mu_);
  return waiters_.size();
}

}  // namespace kprod::producer_detail

namespace kprod::producer_detail {

std::size_t buffer_cache::bound() const noexcept { return floor_; }

void buffer_cache::make_room_locked(std::size_t incoming) {
  const std::size_t limit = bound();
  // Oldest first from whichever list is longer: recent sizes predict the next.
  while (bytes_ + incoming > limit && (!buffers_.empty() || !slots_.empty())) {
    if (!buffers_.empty() && (slots_.empty() || buffers_.size() >= slots_.size())) {
      bytes_ -= buffers_.front().capacity();
      buffers_.pop_front();
    } else {
      bytes_ -= slots_.front().capacity() * sizeof(record_slot);
      slots_.pop_front();
    }
  }
}

protocol::batch_buffer buffer_cache::take(std::size_t capacity) {
  std::lock_guard lk(mu_);
  // Exactly the capacity asked for, which is what the caller accounts in
  // buffer.memory (batches are sized in powers of two, so sizes repeat).
  // Newest first: warmest in cache.
  for (std::size_t i = buffers_.size(); i-- > 0;) {
    if (buffers_[i].capacity() != capacity) continue;
    protocol::batch_buffer out = std::move(buffers_[i]);
    buffers_.erase(buffers_.begin() + static_cast<std::ptrdiff_t>(i));
    bytes_ -= out.capacity();
    return out;
  }
  return {};
}

slot_vector buffer_cache::take_slots(std::size_t n) {
  std::lock_guard lk(mu_);
  for (std::size_t i = slots_.size(); i-- > 0;) {
    if (slots_[i].capacity() != n) continue;
    slot_vector out = std::move(slots_[i]);
    slots_.erase(slots_.begin() + static_cast<std::ptrdiff_t>(i));
    bytes_ -= out.capacity() * sizeof(record_slot);
    return out;
  }
  return {};
}

void buffer_cache::give(protocol::batch_buffer&& b) {
  const std::size_t cap = b.capacity();
  if (cap == 0) return;
  std::lock_guard lk(mu_);
  make_room_locked(cap);
  if (bytes_ + cap > bound()) return;  // b is freed here
  b.clear();
  bytes_ += cap;
  buffers_.push_back(std::move(b));
}

void buffer_cache::give(slot_vector&& v) {
  const std::size_t bytes = v.capacity() * sizeof(record_slot);
  if (bytes == 0) return;
  v.clear();  // destroys the (already invoked) completions
  std::lock_guard lk(mu_);
  make_room_locked(bytes);
  if (bytes_ + bytes > bound()) return;  // v is freed here
  bytes_ += bytes;
  slots_.push_back(std::move(v));
}

std::size_t buffer_cache::cached_bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

}  // namespace kprod::producer_detail
