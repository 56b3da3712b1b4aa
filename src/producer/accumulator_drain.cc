// accumulator_drain.cc - the I/O thread's side of the accumulator: which
// batches are ready, draining them into requests (one batch per partition
// per request), putting retries back, releasing completed batches, and
// delivery-timeout expiry. Appending is in accumulator.cc and
// accumulator_partition.cc.
#include "producer/accumulator.h"
#include "producer/idempotence.h"

#include <algorithm>
#include <array>

namespace kprod::producer_detail {

bool accumulator::batch_ready(const producer_batch& b, clock::time_point now, bool exhausted,
                              clock::time_point& next_check) const {
  if (b.attempts > 0) {
    if (b.retry_at <= now) return true;
    next_check = std::min(next_check, b.retry_at);
    return false;
  }
  // Exhausted (a send is waiting for memory, or was refused it): every batch
  // is ready, as in Java - memory comes back only from batches that are sent.
  if (b.full || exhausted || flushing() || closing_) return true;
  auto linger_end = b.created + cfg_.linger;
  if (linger_end <= now) return true;
  next_check = std::min(next_check, linger_end);
  return false;
}

void accumulator::update_load_stats(topic_state& t, clock::time_point now) {
  // KIP-794 adaptive partitioning: queue length (in batches) per available
  // partition, read by the sticky partitioner when it picks a new partition.
  // Like Java, no stats until every available partition has had a batch.
  std::vector<std::int32_t> sizes;
  std::vector<std::int64_t> stalled;
  {
    std::shared_lock tl(t.mu);
    sizes.reserve(t.available.size());
    stalled.reserve(t.available.size());
    for (std::int32_t id : t.available) {
      partition_queue& q = *t.partitions[static_cast<std::size_t>(id)];
      // Without q.mu (every partition every 5 ms took each lock's cache line
      // away from the sending threads): an estimate is all the stats need.
      sizes.push_back(q.load.load(std::memory_order_relaxed));
      // How long the leader has had data ready without a drain (Java's
      // readyTimeMs - drainTimeMs), for partitioner.availability.timeout.ms.
      auto nt = node_times_.find(q.leader);
      std::int64_t ms = 0;
      if (nt != node_times_.end() && nt->second.ready > nt->second.drained) {
        ms = std::chrono::duration_cast<std::chrono::milliseconds>(nt->second.ready - nt->second.drained).count();
      }
      stalled.push_back(ms);
    }
    t.stats_at = now;  // I/O thread only
    if (sizes.size() == t.available.size() && t.queue_sizes.size() == sizes.size() &&
        t.leader_stalled_ms.size() == stalled.size()) {
      // Same shape: refresh in place (partitioners read these concurrently).
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        std::atomic_ref<std::int32_t>(t.queue_sizes[i]).store(sizes[i], std::memory_order_relaxed);
        std::atomic_ref<std::int64_t>(t.leader_stalled_ms[i]).store(stalled[i], std::memory_order_relaxed);
      }
      return;
    }
  }
  // First stats, or `available` changed: replace them (rare).
  std::unique_lock tl(t.mu);
  if (sizes.size() == t.available.size()) {
    t.queue_sizes = std::move(sizes);
    t.leader_stalled_ms = std::move(stalled);
  }
}

accumulator::drained accumulator::drain(clock::time_point now, const std::function<bool(std::int32_t)>& node_ready,
                                        bool idempotent, std::int64_t producer_id, std::int16_t producer_epoch,
                                        const partition_gate_fn* partition_gate,
                                        const std::function<bool(std::int32_t)>* node_busy) {
  drained out;
  const bool exhausted = pool_.has_waiters() || memory_short_.exchange(false, std::memory_order_acq_rel);
  const bool saturated = node_busy != nullptr && !flushing() && !closing_ &&
                         pool_.used() >= pool_.capacity() / 2;
  const std::size_t saturated_min_batch =
      std::min<std::size_t>(static_cast<std::size_t>(std::max<std::int32_t>(cfg_.batch_size, 1)) / 4, 16 * 1024);
  // While draining, every new batch wakes the I/O thread; afterwards only one
  // whose linger ends before this drain's next check. A batch appended after
  // its queue was scanned reads the horizon after this store (q.mu orders
  // them), so it sees 0 or a horizon by which the I/O thread drains again.
  drain_horizon_.store(0);
  std::map<std::int32_t, std::int64_t> request_bytes;
  const int per_partition_limit = idempotent ? std::min(cfg_.max_in_flight, 5) : cfg_.max_in_flight;
  // node_busy per leader, asked once per drain (a lookup in the cluster).
  std::array<std::pair<std::int32_t, bool>, 8> busy_seen{};
  std::size_t busy_count = 0;
  auto leader_busy = [&](std::int32_t node) {
    for (std::size_t i = 0; i < busy_count; ++i) {
      if (busy_seen[i].first == node) return busy_seen[i].second;
    }
    const bool busy = (*node_busy)(node);
    if (busy_count < busy_seen.size()) busy_seen[busy_count++] = {node, busy};
    return busy;
  };
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    topic_state& t = *tp;
    if (cfg_.partitioner_adaptive && now - t.stats_at >= std::chrono::milliseconds(5)) update_load_stats(t, now);
    std::shared_lock tl(t.mu);
    for (std::size_t pi = 0; pi < t.partitions.size(); ++pi) {
      partition_queue& q = *t.partitions[pi];
      // Most queues are skipped without their lock (see ready_hint).
      const std::int64_t hint = q.ready_hint.load(std::memory_order_relaxed);
      if (hint == partition_queue::no_batch) continue;
      bool due = hint <= now.time_since_epoch().count() || exhausted || flushing() || closing_;
      if (!due && q.hold_hint) {
        // A hold's end (see hold_hint): over once the producer is no longer
        // saturated or the leader it waited for is idle.
        due = !saturated || (q.held_node >= 0 && !leader_busy(q.held_node));
      }
      if (!due) {
        out.next_ready_check = std::min(out.next_ready_check, clock::time_point(clock::duration(hint)));
        continue;
      }
      std::unique_lock ql(q.mu);
      if (q.hold_hint) {
        // The hold is re-decided below; until then the hint is the truth
        // again (the batch is past its linger), so that a batch not sent now
        // for another reason (in-flight limit) is not skipped until the hold
        // would have ended.
        q.hold_hint = false;
        refresh_ready_hint(q);
      }
      if (!q.batches.empty()) {
        producer_batch& b = *q.batches.front();
        if (!batch_ready(b, now, exhausted, out.next_ready_check)) continue;
        if (q.leader < 0) {
          out.unknown_leader = true;
          continue;
        }
        auto& times = node_times_[q.leader];
        times.ready = now;
        if (times.drained == clock::time_point{}) times.drained = now;
        // Held at most saturated_hold past its linger (past saturated_hold
        // when linger is longer: it may be ready because memory ran out).
        const auto hold_until =
            b.created + std::min<clock::duration>(cfg_.linger, saturated_hold) + saturated_hold;
        if (saturated && !b.full && b.attempts == 0 && now < hold_until) {
          const bool small = !exhausted && b.builder.size_bytes() < saturated_min_batch;
          const bool busy = leader_busy(q.leader);
          if (small || busy) {
            // Its leader's responses wake the I/O thread; the bound is a
            // backstop. Until one of them ends the hold, drains skip this
            // queue by its hint, without its lock (hold_hint).
            out.next_ready_check = std::min(out.next_ready_check, hold_until);
            b.hold_bytes = small ? static_cast<std::uint32_t>(saturated_min_batch) : 0;
            q.ready_hint.store(hold_until.time_since_epoch().count(), std::memory_order_relaxed);
            q.hold_hint = true;
            q.held_node = busy ? q.leader : -1;
            continue;
          }
        }
        if (q.in_flight >= per_partition_limit || !node_ready(q.leader)) continue;
        if (partition_gate && !(*partition_gate)(t.name, static_cast<std::int32_t>(pi))) continue;
        if (idempotent && !sequence_identity_ready(q, b, producer_id, producer_epoch)) continue;
        if (!b.is_sealed()) {
          // Being sealed by another thread: it wakes us when done. Queued
          // for a seal thread that has not started: sealed here, no wait.
          if (!sealers_.reclaim(b)) continue;
        }
        if (!b.is_sealed()) {
          if (!b.full) {
            close_batch(q, b);  // linger ended: its size sizes the next batch
            q.ready_hint.store(0, std::memory_order_relaxed);
          }
          // Compressed without q.mu, so sending threads keep appending to
          // this partition meanwhile. Only the I/O thread removes a queue's
          // front, so `b` is still the front afterwards.
          b.state.store(seal_state::sealing, std::memory_order_relaxed);
          ql.unlock();
          auto sealed = sealers_.seal_here(b, stamp_for(q, b, idempotent));
          ql.lock();
          if (!sealed.ok()) continue;  // cannot happen short of a codec failure; retried next round
        }
        auto& used = request_bytes[q.leader];
        const auto size = static_cast<std::int64_t>(b.sealed.size());
        if (used > 0 && used + size > std::min<std::int64_t>(cfg_.max_request_size, soft_request_bytes)) {
          out.more = true;  // the next request takes it
          continue;
        }
        used += size;
        // Stamp on first send, and again after the partition moved to a new
        // producer id or epoch; a retry under the same ones resends the
        // same bytes.
        if (needs_stamp(q, b, idempotent)) {
          const protocol::batch_producer_fields f = stamp_for(q, b, idempotent);
          b.producer_id = f.producer_id;
          b.producer_epoch = f.producer_epoch;
          b.base_sequence = f.base_sequence;
          q.next_sequence = static_cast<std::int32_t>(
              (static_cast<std::int64_t>(q.next_sequence) + b.record_count) & 0x7fffffff);
          if (b.sealed_stamp != f) {
            protocol::restamp_batch(b.sealed, f);
            b.sealed_stamp = f;
          }
        }
        b.in_flight = true;
        t.last_used = now;
        times.drained = now;
        ++q.in_flight;
        out.by_node[q.leader].push_back(std::move(q.batches.front()));
        q.batches.pop_front();
        refresh_ready_hint(q);
        // One batch per partition per request (brokers accept exactly one v2
        // batch per partition entry): the next one waits for another round.
        // Then on to the next partition - this used to `break` out of the
        // partition loop, so each drain took one batch per topic.
        if (!q.batches.empty()) out.more = true;
      }
    }
  }
  drain_horizon_.store(out.next_ready_check.time_since_epoch().count());
  return out;
}

void accumulator::reenqueue(std::unique_ptr<producer_batch> b) {
  partition_queue* q = queue(b->topic, b->partition);
  if (!q) return;
  std::lock_guard ql(q->mu);
  --q->in_flight;
  b->in_flight = false;
  // (refresh_ready_hint below counts it again.)
  // Back in creation order: before every newer batch (queued or retried).
  auto it = q->batches.begin();
  while (it != q->batches.end() && (*it)->id < b->id) ++it;
  q->batches.insert(it, std::move(b));
  refresh_ready_hint(*q);
}

void accumulator::release_buffer(producer_batch& b) {
  const bool sealed_bytes = b.sealed.capacity() != 0;
  const std::size_t cap = sealed_bytes ? b.sealed.capacity() : b.builder.capacity_bytes();
  // A split piece other than the first holds no reservation of its own.
  if (cap == 0 || b.reserved_bytes < static_cast<std::int64_t>(cap)) return;
  if (b.cache) {
    b.cache->give(sealed_bytes ? std::move(b.sealed) : b.builder.take_buffer(), cap);  // released below
  } else if (sealed_bytes) {
    b.sealed = {};
  } else {
    (void)b.builder.take_buffer();
  }
  b.reserved_bytes -= static_cast<std::int64_t>(cap);
  pool_.release(static_cast<std::int64_t>(cap));
}

void accumulator::batch_done(const producer_batch& b) {
  partition_queue* q = queue(b.topic, b.partition);
  if (q) {
    std::lock_guard ql(q->mu);
    if (b.in_flight) --q->in_flight;
    q->load.store(static_cast<std::int32_t>(q->batches.size()) + q->in_flight, std::memory_order_relaxed);
  }
  pool_.release(b.reserved_bytes);
  queued_units_.fetch_sub(1);
  flushes_.remove(b.flush_epoch);
}

partition_queue* accumulator::queue(std::string_view topic, std::int32_t partition) {
  topic_state* t = find_topic(topic);
  if (!t) return nullptr;
  std::shared_lock tl(t->mu);
  if (partition < 0 || partition >= static_cast<std::int32_t>(t->partitions.size())) return nullptr;
  return t->partitions[static_cast<std::size_t>(partition)].get();
}

void accumulator::for_each_queue(const std::function<void(topic_state&, std::int32_t, partition_queue&)>& fn) {
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    std::shared_lock tl(tp->mu);
    for (std::size_t i = 0; i < tp->partitions.size(); ++i) fn(*tp, static_cast<std::int32_t>(i), *tp->partitions[i]);
  }
}

std::vector<std::unique_ptr<producer_batch>> accumulator::take_expired_batches(clock::time_point now, bool all) {
  std::vector<std::unique_ptr<producer_batch>> out;
  const std::int64_t now_ns = now.time_since_epoch().count();
  for_each_queue([&](topic_state&, std::int32_t, partition_queue& q) {
    if (!all && q.front_deadline.load(std::memory_order_relaxed) > now_ns) return;  // nothing expired (or empty)
    std::lock_guard ql(q.mu);
    // Expire from the front only, so that what stays keeps its order. A
    // batch another thread is sealing stays until it is done (all: wait).
    while (!q.batches.empty() && (all || q.batches.front()->deadline <= now)) {
      if (all) {
        sealers_.reclaim_wait(*q.batches.front());
      } else if (!sealers_.reclaim(*q.batches.front())) {
        break;
      }
      out.push_back(std::move(q.batches.front()));
      q.batches.pop_front();
    }
    refresh_ready_hint(q);
  });
  return out;
}

std::vector<accumulator::expired_pending> accumulator::take_expired_pending(clock::time_point now, bool all) {
  std::vector<expired_pending> out;
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    // Most topics have nothing waiting: skip them.
    if (!all && !tp->has_pending.load(std::memory_order_acquire)) continue;
    std::shared_lock tl(tp->mu);
    std::lock_guard pl(tp->pending_mu);  // senders push under the shared lock too
    expired_pending e;
    e.topic = tp->name;
    while (!tp->pending.empty() && (all || tp->pending.front().deadline <= now)) {
      e.records.push_back(std::move(tp->pending.front()));
      tp->pending.pop_front();
    }
    if (tp->pending.empty()) tp->has_pending.store(false);
    if (!e.records.empty()) {
      queued_units_.fetch_sub(static_cast<std::int64_t>(e.records.size()));
      out.push_back(std::move(e));
    }
  }
  return out;
}

clock::time_point accumulator::next_expiry() const {
  clock::time_point next = clock::time_point::max();
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    std::shared_lock tl(tp->mu);
    {
      std::lock_guard pl(tp->pending_mu);
      if (!tp->pending.empty()) next = std::min(next, tp->pending.front().deadline);
    }
    for (auto& q : tp->partitions) {
      const std::int64_t d = q->front_deadline.load(std::memory_order_relaxed);
      if (d != partition_queue::no_batch) next = std::min(next, clock::time_point(clock::duration(d)));
    }
  }
  return next;
}

}  // namespace kprod::producer_detail
