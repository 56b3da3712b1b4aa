// accumulator_partition.cc - an application thread's append into one
// partition's queue: the open batch, a new one sized like the last, growth
// within buffer.memory, closing full batches (and sealing them once the
// queue's lock is released), and the partition's memory gate. The rest of
// the send path (topic lookup, partitioning, waiting for metadata or
// memory) is in accumulator.cc; the I/O thread's side in accumulator_drain.cc.
#include "producer/accumulator.h"

#include <algorithm>
#include <array>

namespace kprod::producer_detail {
namespace {

std::size_t round_up_pow2(std::size_t n, std::size_t floor) noexcept {
  std::size_t c = floor;
  while (c < n) c *= 2;
  return c;
}

// A buffer or slot list larger than the arena's largest block and smaller
// than the mapping threshold would come from malloc (batch_buffer and
// slot_list place it there), and glibc keeps what such buffers free
// resident in the heap of whichever thread allocated them: batches grown
// "just enough" past 64 KiB (600 partitions, 1 KB records) left 10-20 MiB
// of freed heap resident beside the arena, peak RSS up to ~60 MiB at a
// 32 MiB buffer.memory. Such sizes are rounded up to a mapping instead:
// its pages are resident only where written, it is unmapped or recycled
// (the buffer cache keeps 128 KiB ones, the commonest) when freed, and the
// budget counts what was really allocated.
constexpr std::size_t mapping_floor = protocol::batch_buffer::mapped_threshold;
static_assert(mapping_floor == mapped_allocation_threshold);
std::size_t storage_bytes(std::size_t n) noexcept {
  return n > buffer_pool::arena_largest_block && n < mapping_floor ? mapping_floor : n;
}

}  // namespace

std::int64_t accumulator::append_to_partition(topic_state& t, std::int32_t partition, const record_args& a,
                                              detail::completion& done, std::int64_t& held, clock::time_point now,
                                              const std::uint64_t* pending_epoch, memory_gate* gate) {
  partition_queue& q = *t.partitions[static_cast<std::size_t>(partition)];
  const std::size_t limit = static_cast<std::size_t>(std::max<std::int32_t>(cfg_.batch_size, 1));
  constexpr std::size_t header = protocol::batch_v2::header_size;
  // A record larger than batch.size gets a batch of its own, sized to it.
  const std::size_t max_cap = std::max(limit, header + a.upper);
  bool wake = false;
  // A batch closed here as full is compressed off the I/O thread: by a seal
  // thread, or by this one once q.mu is released (`to_seal`). The sealer
  // wakes the I/O thread when it is done, not the close. Up to two: the open
  // batch the record did not fit, and the new one it filled on its own
  // (larger than batch.size) when the caller held memory for it already (a
  // record that waited for metadata). One slot lost the first of them: it
  // stayed "being sealed" at the front of its queue, and its partition sent
  // nothing more.
  std::array<producer_batch*, 2> to_seal{};
  // Whether sealing `to_seal` must wake the I/O thread. Not when a batch of
  // this partition is in flight: its response wakes the I/O thread, which
  // then sends this one with whatever else is ready (in one request). A wake
  // per full batch was a system call and a context switch per batch: with
  // 4 KB batches (600 partitions at linger 5 ms) more CPU than the records.
  bool seal_wake = true;
  bool wake_followers = false;  // the memory gate was handed on (see memory_needed)
  auto seal_claimed = [&] {
    for (producer_batch* s : to_seal) {
      if (s) sealers_.seal_claimed(*s, seal_wake);
    }
  };
  // Memory is short for this append (`need` bytes, more than `held`): the
  // caller reserves it, or waits for the thread that already does (see
  // partition_queue's memory gate). Called with q.mu held; releases it.
  auto memory_needed = [&](std::unique_lock<partition_mutex>& lk, std::int64_t need) -> std::int64_t {
    std::int64_t out = need;
    if (gate != nullptr) {
      gate->queue = &q;
      if (gate->waiter) {
        // Still the waiter (needs more than it got): keeps the role.
      } else if (q.memory_waiter) {
        ++q.memory_followers;
        gate->turn = q.memory_turn.load(std::memory_order_relaxed);
        out = follow_memory_waiter;
      } else {
        q.memory_waiter = true;
        gate->waiter = true;
      }
    }
    lk.unlock();
    seal_claimed();
    if (wake) wake_();
    return out;
  };
  auto close_full = [&](producer_batch& full) {
    close_batch(q, full);
    if (q.batches.front().get() == &full) q.ready_hint.store(0, std::memory_order_relaxed);
    if (!sealers_.offloads()) {
      wake = true;
    } else if (sealers_.hand_off(full)) {
      to_seal[to_seal[0] ? 1 : 0] = &full;
      seal_wake = q.in_flight == 0;
    }
  };
  {
    std::unique_lock lk(q.mu);
    producer_batch* b = q.last;
    bool open = b && !b->full && !b->is_sealed() && !b->in_flight && b->attempts == 0 &&
                b->record_count + 1 < static_cast<std::int32_t>(batch_id_step);
    if (open && b->builder.size_bytes() + a.upper > limit) {
      close_full(*b);
      open = false;
    }
    if (open) {
      // Grow by doubling while the pool has room, else by just enough; a
      // batch that cannot grow is closed (it becomes ready and frees memory
      // once sent) and the record opens a new one.
      const std::size_t size = b->builder.size_bytes(), cap = b->builder.capacity_bytes();
      const std::size_t slots = b->slots.bytes(), slots_cap = b->slots.capacity_bytes();
      const bool buf_short = cap - size < a.upper;
      const bool slots_short = slots_cap - slots < a.slot_bytes;
      if (buf_short || slots_short) {
        std::size_t new_cap = buf_short ? storage_bytes(std::min(max_cap, std::max(2 * cap, size + a.upper))) : cap;
        std::size_t new_slots =
            slots_short ? storage_bytes(std::max<std::size_t>(2 * slots_cap, slots + a.slot_bytes)) : slots_cap;
        auto cost = [&] {
          return static_cast<std::int64_t>(new_cap - cap) + static_cast<std::int64_t>(new_slots - slots_cap);
        };
        bool got = take_for_growth(cost(), held);
        if (!got) {
          if (buf_short) new_cap = storage_bytes(size + a.upper);
          if (slots_short) new_slots = storage_bytes(slots + a.slot_bytes);
          got = take_for_growth(cost(), held);
        }
        if (got) {
          b->reserved_bytes += cost();
          b->builder.reserve(new_cap);
          b->slots.reserve_bytes(new_slots);
        } else if (size < grow_or_close_bytes(limit)) {
          // Too small to send on its own: wait for memory to grow it (the
          // caller reserves `need`, maybe waiting, and calls again). Closing
          // it instead would, under memory pressure, send batches only as
          // large as the memory that happened to be free, and the broker's
          // cost per batch bounds a saturated producer's throughput.
          return memory_needed(lk, cost());  // the growth, just enough (more than held)
        } else {
          // Big enough: closed (it becomes ready and frees memory once
          // sent); it must not size the next batch, which is sized like this
          // partition's batches that closed on their own.
          const std::size_t hint_bytes = q.last_batch_bytes, hint_slots = q.last_batch_slot_bytes;
          close_full(*b);
          q.last_batch_bytes = std::max(hint_bytes, b->builder.size_bytes());
          q.last_batch_slot_bytes = std::max(hint_slots, b->slots.bytes());
          open = false;
        }
      }
    }
    if (!open) {
      // Sized like this partition's last batch, so that the common batch never
      // grows (and the budget holds what is really allocated).
      const std::size_t min_cap = header + a.upper;
      std::size_t cap = storage_bytes(
          std::max(min_cap, std::min(round_up_pow2(std::max(q.last_batch_bytes, min_cap), 1024), max_cap)));
      std::size_t slot_cap = a.slot_bytes ? round_up_pow2(std::max(q.last_batch_slot_bytes, a.slot_bytes), 256) : 0;
      auto cost = [&] {
        return static_cast<std::int64_t>(cap) + static_cast<std::int64_t>(slot_cap) + batch_bookkeeping_bytes;
      };
      if (cost() > cfg_.buffer_memory) {
        // Just this record; rounded up only where the budget has room.
        cap = storage_bytes(min_cap);
        slot_cap = storage_bytes(a.slot_bytes);
        if (cost() > cfg_.buffer_memory) {
          cap = min_cap;
          slot_cap = a.slot_bytes;
        }
      }
      const std::int64_t need = cost();
      if (need <= held) {
        held -= need;
      } else if (q.memory_waiter && (gate == nullptr || !gate->waiter)) {
        return memory_needed(lk, need);  // another sender waits for memory here: it goes first
      } else if (!take_for_growth(need, held)) {
        // The pool is short: the caller reserves it (maybe waiting) and
        // calls again. When it has room - nearly always below a full buffer
        // - the batch's bytes are taken here, as growth takes its own, not
        // by leaving the lock to reserve them and coming back: meanwhile
        // every other thread sending to this partition found the memory
        // gate taken and slept on it, for the ~2 us the reservation took
        // (8 sending threads, batch.size 16384: ~19k such sleeps per 4M
        // records, a context switch each).
        return memory_needed(lk, need);
      }
      auto nb = std::make_unique<producer_batch>();
      if (now == clock::time_point{}) now = clock::now();  // only a new batch needs the time
      nb->topic = t.name;
      nb->partition = partition;
      nb->id = (q.next_batch_id++) * batch_id_step;
      nb->created = now;
      nb->cache = &pool_.cache();
      {
        // A kept mapping of exactly this size (128 KiB and up), else storage
        // from the arena (up to 64 KiB) or malloc/mmap; sized before start()
        // so that it is allocated once.
        protocol::batch_buffer buf = pool_.cache().take(cap);
        if (buf.capacity() == 0) buf = protocol::batch_buffer(&pool_.arena());
        buf.reserve(cap);
        nb->builder.start(a.ts, std::move(buf));
      }
      if (slot_cap > 0) nb->slots = pool_.cache().take_slots(slot_cap);
      if (nb->slots.capacity_bytes() == 0) nb->slots = slot_list(&pool_.arena());
      nb->slots.reserve_bytes(slot_cap);
      nb->builder.prefetch_start();
      nb->slots.prefetch_start();
      nb->reserved_bytes = need;
      nb->deadline = now + *cfg_.delivery_timeout;
      nb->flush_epoch = flushes_.add();
      b = nb.get();
      q.batches.push_back(std::move(nb));
      q.last = b;
      queued_units_.fetch_add(1, std::memory_order_relaxed);
      if (q.batches.size() == 1) {
        refresh_ready_hint(q);
      } else {
        q.load.store(static_cast<std::int32_t>(q.batches.size()) + q.in_flight, std::memory_order_relaxed);
      }
      // A new batch starts a linger timer the I/O thread must know of, unless
      // it will drain by then anyway (read under q.mu: see drain()).
      const auto linger_end = (now + cfg_.linger).time_since_epoch().count();
      const auto horizon = drain_horizon_.load();
      if (horizon == 0 || linger_end < horizon || flushing() || closing_) wake = true;
    }
    const std::size_t size_before = b->builder.size_bytes();
    b->builder.append(a.ts, a.key, a.key_len, a.value, a.value_len, a.headers);
    b->builder.prefetch_after_append(size_before);
    if (pending_epoch) b->flush_epoch = flushes_.merge(*pending_epoch, b->flush_epoch);
    if (a.slot_bytes) {
      const std::size_t slots_before = b->slots.bytes();
      b->slots.push(std::move(done), a.ts, b->record_count, a.key_len, a.value_len);
      b->slots.prefetch_after_push(slots_before);  // as the builder's
    }
    ++b->record_count;
    if (a.sticky) {
      // Counted here, under the lock held anyway, and only while this is
      // still the sticky partition (as Java: a record that chose it before
      // a switch - racing threads, or one that waited for memory - would
      // shorten its next stay); handed to the partitioner once they reach
      // batch.size, which switches it before the lock is released, so that
      // appends queued on the lock meanwhile are not counted either.
      sticky_partitioner& sticky = t.partitioner->sticky();
      if (sticky.current() == partition) {
        const std::uint64_t counted = std::uint64_t{q.sticky_bytes} + a.upper;
        if (counted >= limit) {
          q.sticky_bytes = 0;
          sticky.on_append(partition, static_cast<std::size_t>(counted));
        } else {
          q.sticky_bytes = static_cast<std::uint32_t>(counted);
        }
      }
    }
    if (b->builder.size_bytes() >= limit) {
      close_full(*b);
    } else if (b->hold_bytes != 0 && b->builder.size_bytes() >= b->hold_bytes) {
      // Grown as much as drain() held it back for (it is the front).
      b->hold_bytes = 0;
      q.ready_hint.store(0, std::memory_order_relaxed);
    }
    if (gate != nullptr && gate->waiter) {
      gate->waiter = false;
      wake_followers = release_memory_gate_locked(q);
    }
  }
  if (wake_followers) wake_memory_followers(q);
  seal_claimed();
  if (wake) wake_();
  return 0;
}

bool accumulator::release_memory_gate_locked(partition_queue& q) {
  q.memory_waiter = false;
  if (q.memory_followers == 0) return false;
  q.memory_followers = 0;
  q.memory_turn.fetch_add(1, std::memory_order_relaxed);  // under q.mu: a follower read it there
  return true;
}

void accumulator::wake_memory_followers(partition_queue& q) { futex_wake_all(q.memory_turn); }

void accumulator::leave_memory_followers(const memory_gate& gate) {
  std::lock_guard lk(gate.queue->mu);
  // Still counted only if the gate was not handed on since (that resets the
  // count; taking one off then could leave a newer follower unwoken).
  if (gate.queue->memory_turn.load(std::memory_order_relaxed) == gate.turn && gate.queue->memory_followers > 0) {
    --gate.queue->memory_followers;
  }
}

void accumulator::leave_memory_gate(memory_gate& gate) {
  if (!gate.waiter || gate.queue == nullptr) return;
  gate.waiter = false;
  bool wake;
  {
    std::lock_guard lk(gate.queue->mu);
    wake = release_memory_gate_locked(*gate.queue);
  }
  if (wake) wake_memory_followers(*gate.queue);
}

bool accumulator::reserve(std::int64_t bytes, bool may_block, std::chrono::milliseconds max_wait) {
  if (pool_.try_reserve(bytes)) return true;
  // The buffer is full: batches become ready now (drain(), as Java's
  // "exhausted"), and the I/O thread must look - it may be asleep until a
  // linger end while every byte sits in open batches.
  memory_short_.store(true, std::memory_order_release);
  wake_();
  return may_block && pool_.reserve(bytes, max_wait);
}

std::size_t accumulator::grow_or_close_bytes(std::size_t batch_limit) noexcept {
  return std::min<std::size_t>(batch_limit / 2, 64 * 1024);
}

bool accumulator::take_for_growth(std::int64_t cost, std::int64_t& held) {
  if (cost <= held) {
    held -= cost;
    return true;
  }
  if (!pool_.try_reserve(cost - held)) return false;
  held = 0;
  return true;
}

void accumulator::refresh_ready_hint(partition_queue& q) const noexcept {
  std::int64_t hint = partition_queue::no_batch, deadline = partition_queue::no_batch;
  if (!q.batches.empty()) {
    const producer_batch& f = *q.batches.front();
    // As batch_ready(), without the producer-wide conditions (the scan
    // checks those itself).
    const clock::time_point t = f.attempts > 0 ? f.retry_at : f.full ? clock::time_point{} : f.created + cfg_.linger;
    hint = std::max<std::int64_t>(0, t.time_since_epoch().count());
    deadline = f.deadline.time_since_epoch().count();
  }
  q.last = q.batches.empty() ? nullptr : q.batches.back().get();
  q.ready_hint.store(hint, std::memory_order_relaxed);
  q.front_deadline.store(deadline, std::memory_order_relaxed);
  q.load.store(static_cast<std::int32_t>(q.batches.size()) + q.in_flight, std::memory_order_relaxed);
}

void accumulator::close_batch(partition_queue& q, producer_batch& b) {
  b.full = true;  // it will take no more records: it is ready
  q.last_batch_bytes = b.builder.size_bytes();
  q.last_batch_slot_bytes = b.slots.bytes();
}

}  // namespace kprod::producer_detail
