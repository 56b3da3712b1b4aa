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

void* reallocate_mapped(void* p, std::size_t old_bytes, std::size_t new_bytes) {
  void* q = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) throw std::bad_alloc();
  return q;
}

bool buffer_pool::claim_if_fits(std::int64_t n) noexcept {
  // Between the claim and the add to used_, a waiter registering and
  // taking at that moment sees used_ without these n bytes: used_ can pass
  // the capacity by this one request, for those few instructions.
  std::int64_t cur = claimed_.load(std::memory_order_relaxed);
  while (cur + n <= capacity_) {
    if (claimed_.compare_exchange_weak(cur, cur + n, std::memory_order_acq_rel)) {
      used_.fetch_add(n, std::memory_order_acq_rel);
      return true;
    }
  }
  return false;
}

bool buffer_pool::take_claimed_if_fits(std::int64_t n) noexcept {
  std::int64_t cur = used_.load(std::memory_order_relaxed);
  while (cur + n <= capacity_) {
    if (used_.compare_exchange_weak(cur, cur + n, std::memory_order_acq_rel)) return true;
  }
  return false;
}

bool buffer_pool::try_reserve(std::int64_t n) {
  if (closed_.load(std::memory_order_acquire) || !claim_if_fits(n)) return false;
  cache_.fit_bound(static_cast<std::size_t>(n));
  return true;
}

bool buffer_pool::reserve(std::int64_t n, std::chrono::milliseconds max_wait) {
  if (closed_.load(std::memory_order_acquire) || n > capacity_) return false;
  if (claim_if_fits(n) || wait_for(n, max_wait)) {
    cache_.fit_bound(static_cast<std::size_t>(n));  // without mu_ held
    return true;
  }
  return false;
}

bool buffer_pool::wait_for(std::int64_t n, std::chrono::milliseconds max_wait) {
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  std::unique_lock lk(mu_);
  waiter w{n, {}};
  waiters_.push_back(&w);
  // Claimed and registered before re-checking, so callers that do not wait
  // leave our bytes alone from now on and a release() that follows sees us.
  claimed_.fetch_add(n, std::memory_order_acq_rel);
  waiting_.fetch_add(1, std::memory_order_acq_rel);
  bool got = false;
  while (true) {
    if (closed_.load()) break;
    if (waiters_.front() == &w && take_claimed_if_fits(n)) {
      got = true;
      break;
    }
    // release() wakes the first waiter only once its bytes and some slack
    // are free (wake_slack()); the first waiter also looks every
    // front_recheck on its own, so bytes that fit without the slack - and
    // that no later release tops up - are taken within that.
    const auto until = waiters_.front() == &w ? std::min(deadline, std::chrono::steady_clock::now() + front_recheck)
                                              : deadline;
    if (w.cv.wait_until(lk, until) == std::cv_status::timeout && until == deadline) {
      got = !closed_.load() && waiters_.front() == &w && take_claimed_if_fits(n);
      break;
    }
  }
  if (!got) claimed_.fetch_sub(n, std::memory_order_acq_rel);
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
  waiting_.fetch_sub(1, std::memory_order_acq_rel);
  // The next waiter may fit now (we either took our share or gave up).
  if (!waiters_.empty()) waiters_.front()->cv.notify_one();
  return got;
}

void buffer_pool::release(std::int64_t n) {
  const std::int64_t used = used_.fetch_sub(n, std::memory_order_acq_rel) - n;
  claimed_.fetch_sub(n, std::memory_order_acq_rel);
  if (waiting_.load(std::memory_order_acquire) > 0) {
    std::lock_guard lk(mu_);
    if (!waiters_.empty() && (used <= 0 || capacity_ - used >= waiters_.front()->bytes + wake_slack())) {
      waiters_.front()->cv.notify_one();
    }
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

std::size_t buffer_cache::bound(std::size_t releasing) const noexcept {
  if (!used_) return floor_;
  const std::int64_t free_bytes =
      budget_ - used_->load(std::memory_order_relaxed) + static_cast<std::int64_t>(releasing);
  const std::size_t b = std::min(cap_.load(std::memory_order_relaxed),
                                 std::max(floor_, static_cast<std::size_t>(std::max<std::int64_t>(free_bytes, 0))));
  const std::size_t spare = arena_ != nullptr ? arena_->free_resident_bytes() : 0;
  return b > spare ? b - spare : 0;
}

namespace {
std::size_t bytes_of(const protocol::batch_buffer& b) noexcept { return b.capacity(); }
std::size_t bytes_of(const slot_list& v) noexcept { return v.capacity_bytes(); }
}  // namespace

template <typename T>
void buffer_cache::evict_front_locked(std::deque<entry<T>>& from, evicted& out) {
  bytes_ -= bytes_of(from.front().item);
  out.emplace_back(std::move(from.front().item));
  from.pop_front();
}

void buffer_cache::make_room_locked(std::size_t incoming, evicted& out, std::size_t allowance,
                                    std::size_t releasing) {
  // Oldest first from whichever list is longer: recent sizes predict the next.
  const std::size_t limit = bound(releasing) + allowance;
  while (bytes_ + incoming > limit && (!buffers_.empty() || !slots_.empty())) {
    if (!buffers_.empty() && (slots_.empty() || buffers_.size() >= slots_.size())) {
      evict_front_locked(buffers_, out);
    } else {
      evict_front_locked(slots_, out);
    }
  }
}

template <typename T, typename Other>
void buffer_cache::evict_for_miss_locked(std::deque<entry<T>>& same, std::deque<entry<Other>>& other,
                                         std::size_t bytes, evicted& out) {
  // The caller maps `bytes` afresh: unmap as much of what is kept first,
  // oldest of the same kind first (none of it had the size asked for), and
  // down to the bound as it is now: items kept while the budget had room
  // (up to 2 * floor) would otherwise stay beside the fresh mapping once
  // the buffer has filled up (600 partitions, 1 KB records, 8 threads: up to
  // 8 MiB kept with buffer.memory all in use, peak RSS past the budget +
  // 16 MiB).
  const std::size_t target = std::min(bytes_ > bytes ? bytes_ - bytes : 0, bound());
  while (bytes_ > target && !same.empty()) evict_front_locked(same, out);
  while (bytes_ > target && !other.empty()) evict_front_locked(other, out);
}

template <typename T, typename Other>
T buffer_cache::take_nearest_locked(std::deque<entry<T>>& from, std::deque<entry<Other>>& other, std::size_t bytes,
                                    evicted& out) {
  // Exact first, newest first: warmest in the CPU cache, and its pages are
  // resident. Else the smallest larger (shrinking faults nothing in), else
  // the largest smaller.
  std::size_t best = from.size();
  for (std::size_t i = from.size(); i-- > 0;) {
    const std::size_t have = bytes_of(from[i].item);
    if (have == bytes) {
      best = i;
      break;
    }
    if (best == from.size()) {
      best = i;
      continue;
    }
    const std::size_t kept = bytes_of(from[best].item);
    const bool better = have > bytes ? (kept < bytes || have < kept) : (kept < bytes && have > kept);
    if (better) best = i;
  }
  if (best == from.size()) {
    // A miss: the caller maps `bytes` afresh.
    note_miss_locked(bytes);
    evict_for_miss_locked(from, other, bytes, out);
    return T{};
  }
  T item = std::move(from[best].item);
  from.erase(from.begin() + static_cast<std::ptrdiff_t>(best));
  const std::size_t have = bytes_of(item);
  bytes_ -= have;
  // Not the size asked for: as a miss of what the remap maps afresh (none
  // when shrinking), which also brings what is kept down to the bound of
  // the moment.
  if (have != bytes) evict_for_miss_locked(from, other, have < bytes ? bytes - have : 0, out);
  return item;
}

protocol::batch_buffer buffer_cache::take(std::size_t capacity) {
  if (capacity < protocol::batch_buffer::mapped_threshold) return {};  // malloc's free lists recycle these
  protocol::batch_buffer out;
  {
    evicted gone;  // unmapped after the lock is released
    std::lock_guard lk(mu_);
    out = take_nearest_locked(buffers_, slots_, capacity, gone);
  }
  // Exactly the capacity asked for, which is what the caller accounts in
  // buffer.memory. Remapped without the lock (a system call).
  if (out.capacity() != 0) out.remap(capacity);
  return out;
}

slot_list buffer_cache::take_slots(std::size_t bytes) {
  if (bytes < mapped_allocation_threshold) return {};
  slot_list out;
  {
    evicted gone;
    std::lock_guard lk(mu_);
    out = take_nearest_locked(slots_, buffers_, bytes, gone);
  }
  if (out.capacity_bytes() != 0) out.remap_bytes(bytes);
  return out;
}

template <typename T>
void buffer_cache::keep(std::deque<entry<T>>& into, T&& item, std::size_t releasing) {
  const std::size_t bytes = bytes_of(item);
  evicted gone;  // unmapped after the lock is released
  std::lock_guard lk(mu_);
  make_room_locked(bytes, gone, 0, releasing);
  if (bytes_ + bytes > bound(releasing)) {
    gone.emplace_back(std::move(item));
    return;
  }
  bytes_ += bytes;
  into.push_back({std::move(item), generation_});
}

void buffer_cache::give(protocol::batch_buffer&& b, std::size_t releasing) {
  // Smaller ones (arena blocks among them) are freed by the caller's object.
  if (b.capacity() < protocol::batch_buffer::mapped_threshold) return;
  b.clear();
  keep(buffers_, std::move(b), releasing);
}

void buffer_cache::give(slot_list&& v) {
  if (bytes_of(v) < mapped_allocation_threshold) return;  // as for buffers
  v.clear();  // destroys the (already invoked) completions
  keep(slots_, std::move(v), 0);
}

std::size_t buffer_cache::trim_unused() {
  evicted gone;
  std::lock_guard lk(mu_);
  const std::size_t before = bytes_;
  // Kept items are in the order they were given: those from an earlier
  // generation are at the front.
  while (!buffers_.empty() && buffers_.front().generation != generation_) evict_front_locked(buffers_, gone);
  while (!slots_.empty() && slots_.front().generation != generation_) evict_front_locked(slots_, gone);
  ++generation_;
  return before - bytes_;
}

std::size_t buffer_cache::cached_bytes() const { return bytes_.load(std::memory_order_relaxed); }

void buffer_cache::note_miss_locked(std::size_t bytes) {
  if (!used_) return;
  const std::int64_t used = used_->load(std::memory_order_relaxed);
  if (used >= high_water_) {
    high_water_ = used;  // the producer grows: nothing it had is being refilled
    return;
  }
  const std::size_t most = static_cast<std::size_t>(std::max<std::int64_t>(budget_, 0));
  cap_.store(std::min(most, cap_.load(std::memory_order_relaxed) + bytes), std::memory_order_relaxed);
}

void buffer_cache::decay_cap() noexcept {
  const std::size_t c = cap_.load(std::memory_order_relaxed);
  if (c > 2 * floor_) cap_.store(c - std::max<std::size_t>((c - 2 * floor_) / 8, 1), std::memory_order_relaxed);
}

void buffer_cache::fit_bound(std::size_t allowance) {
  if (bytes_.load(std::memory_order_relaxed) == 0) return;  // the common case at many partitions
  evicted gone;  // unmapped after the lock is released
  std::lock_guard lk(mu_);
  make_room_locked(0, gone, allowance);
}

}  // namespace kprod::producer_detail
