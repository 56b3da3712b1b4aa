#include "producer/seal_workers.h"

#include <algorithm>

namespace kprod::producer_detail {

seal_workers::seal_workers(compression_type type, int level, int threads, wake_fn wake)
    : type_(type), level_(level), offload_(true), wake_(std::move(wake)) {
  if (auto s = make_slot()) io_slot_ = std::move(*s);
  // Without compression sealing is only the CRC: the appending thread does
  // it, over bytes it has just written (still in its cache), rather than the
  // I/O thread reading a cold megabyte.
  if (type_ == compression_type::none) return;
  if (threads < 0) threads = static_cast<int>(std::min(std::max(std::thread::hardware_concurrency(), 1u), 4u));
  threads_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

seal_workers::~seal_workers() { stop(); }

std::unique_ptr<seal_workers::codec_slot> seal_workers::make_slot() const {
  auto slot = std::make_unique<codec_slot>();
  if (type_ != compression_type::none) {
    auto c = codec::compressor::create(type_, level_);
    if (c.ok()) slot->comp = std::move(c.value());
  }
  return slot;
}

kprod::result<void> seal_workers::seal_with(producer_batch& b, codec_slot& slot,
                                            const protocol::batch_producer_fields& stamp) {
  if (before_seal_) before_seal_(b);
  auto bytes = b.builder.seal_buffer(stamp, slot.comp.get(), slot.scratch);
  if (!bytes.ok()) return bytes.error();
  b.sealed = std::move(bytes.value());  // same buffer, same capacity: reserved_bytes still holds
  b.sealed_stamp = stamp;
  return {};
}

void seal_workers::finish(producer_batch& b, bool ok, bool wake) {
  // A failed seal (a codec failure) leaves the batch to the I/O thread,
  // which tries again when it drains. After this exchange `b` may be gone;
  // it also tells whether a drain skipped the batch meanwhile (reclaim).
  const seal_state was = b.state.exchange(ok ? seal_state::sealed : seal_state::open, std::memory_order_acq_rel);
  if (wake || was == seal_state::sealing_watched || !ok) wake_();
}

bool seal_workers::hand_off(producer_batch& b) {
  {
    std::lock_guard lk(mu_);
    if (!threads_.empty() && !stopped_) {
      b.state.store(seal_state::queued, std::memory_order_relaxed);  // read under mu_ by workers
      jobs_.push_back(&b);
      cv_.notify_one();
      return false;
    }
  }
  b.state.store(seal_state::sealing, std::memory_order_relaxed);  // under the partition lock
  return true;
}

void seal_workers::seal_claimed(producer_batch& b, bool wake) {
  std::unique_ptr<codec_slot> slot;
  {
    std::lock_guard lk(mu_);
    if (!idle_slots_.empty()) {
      slot = std::move(idle_slots_.back());
      idle_slots_.pop_back();
    }
  }
  if (!slot) slot = make_slot();
  const bool ok = seal_with(b, *slot).ok();
  {
    std::lock_guard lk(mu_);
    idle_slots_.push_back(std::move(slot));
  }
  finish(b, ok, wake);
}

bool seal_workers::reclaim(producer_batch& b) {
  seal_state s = b.state.load(std::memory_order_acquire);
  if (s == seal_state::queued) {
    std::lock_guard lk(mu_);
    s = b.state.load(std::memory_order_acquire);
    if (s == seal_state::queued) {
      // Not started: the I/O thread seals it itself rather than wait.
      auto it = std::find(jobs_.begin(), jobs_.end(), &b);
      if (it != jobs_.end()) jobs_.erase(it);
      b.state.store(seal_state::open, std::memory_order_relaxed);
      return true;
    }
    // A worker took it meanwhile.
  }
  // Being sealed: ask to be woken when it is done, unless it is done
  // already. One atomic word, so either this CAS or the sealer's exchange
  // comes first: a sealer that did not see `sealing_watched` finished
  // before, and the caller sees `sealed` here.
  while (s == seal_state::sealing) {
    if (b.state.compare_exchange_weak(s, seal_state::sealing_watched, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      return false;
    }
  }
  return s == seal_state::open || s == seal_state::sealed;
}

void seal_workers::reclaim_wait(producer_batch& b) {
  while (!reclaim(b)) std::this_thread::yield();
}

kprod::result<void> seal_workers::seal_here(producer_batch& b, const protocol::batch_producer_fields& stamp) {
  auto r = seal_with(b, io_slot_, stamp);
  b.state.store(r.ok() ? seal_state::sealed : seal_state::open, std::memory_order_release);
  return r;
}

void seal_workers::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    // Whatever is still queued returns to the I/O thread (normally nothing:
    // shutdown took every batch out of the queues first).
    for (producer_batch* b : jobs_) b->state.store(seal_state::open, std::memory_order_relaxed);
    jobs_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void seal_workers::run() {
  std::unique_ptr<codec_slot> slot = make_slot();
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stopped_ || !jobs_.empty(); });
    if (stopped_) return;
    producer_batch* b = jobs_.front();
    jobs_.pop_front();
    // Under mu_: reclaim() sees `queued` only while the job is in jobs_.
    b->state.store(seal_state::sealing, std::memory_order_relaxed);
    lk.unlock();
    const bool ok = seal_with(*b, *slot).ok();
    finish(*b, ok, true);
    lk.lock();
  }
}

}  // namespace kprod::producer_detail
