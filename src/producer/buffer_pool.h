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

// Batch buffers and slot lists of completed batches, kept for the next
// batches so that the steady state maps nothing and new batches reuse pages
// that are already resident. A fresh mapping costs a page fault per 4 KiB
// and its munmap a TLB flush: with a small cache (4 MiB), 100-byte records
// spent ~20% of the producer's CPU there, as an acknowledgement frees a
// burst of batches larger than the cache and the next linger period maps
// the same amount afresh.
//
// What is kept is bounded by the free part of buffer.memory, clamped to
// [floor, cap] with floor = min(buffer.memory / 8, 4 MiB) and an adaptive
// cap, less the storage arena's resident free pages; and the bound holds at
// every moment: the pool brings the cache down to it whenever it hands out
// budget (fit_bound; plus what it hands out, which the taker's take then
// removes from the cache), so kept items and the budget in use hold at most
// max(buffer.memory, in use + floor) together, and one batch more for an
// instant. A miss unmaps as many kept bytes as it is about to map (oldest
// first, same kind first), and at least down to the bound.
// - The eviction on a miss keeps mapped bytes at most the most the producer
//   had in use at once, so sizes that stopped matching do not pile up
//   beside fresh mappings (without it, 10 B records: 17 -> 30 MB).
// - The free-budget bound matters when the buffer is full (large records):
//   a kept buffer stays resident up to the most it was ever filled, where a
//   fresh one is resident only where written; caching the whole budget there
//   raised peak RSS by ~4 MB (100 KB records) for little CPU.
// - The cap starts at 2 * floor and grows by what the producer refills: a
//   miss while less budget is in use than at an earlier miss (an ack freed
//   more than was kept, and the next batches map it afresh) raises it by
//   the bytes missed; it decays back by an eighth of its excess every
//   100 ms. A fixed cap of 2 * floor (8 MiB) made 8 sending threads at a
//   full buffer (100 B records, 1 MB batches) map ~200 MB afresh per 4M
//   records (55-61k page faults against 12-17k with one thread) and cost
//   1 KB records ~20% of their CPU; no cap at all (the whole free budget)
//   fixed that but kept ~12 MB more resident where nothing is refilled
//   (100 B unkeyed: peak RSS 22 -> 34.5 MB). Adaptive: 1 KB 0.640 -> 0.507
//   us per record, 8 threads 0.227 -> 0.160, 100 B unkeyed 0.123 -> 0.114
//   at 26.6 MB.
// - The floor keeps recycling alive when the buffer is full, exactly when
//   every new batch would otherwise be a fresh mapping (min(floor, free
//   budget) cached nothing: 100 KB records fell to 0.8x librdkafka).
// - The storage arena's free pages that are still resident count against
//   the bound: both are memory held for batches to come, and together they
//   stood beside a full buffer (600 partitions, 1 KB records, 8 threads:
//   peak RSS 42.1 -> 38.5 MiB median; 10 KB records 44.4 -> 41.1; ~5% more
//   CPU per record there, none at 600 partitions with 100 B records or at 6
//   partitions, where the arena holds little).
// Items not taken within one trim interval are unmapped (trim_unused), so an
// idle producer gives its memory back.
// Only mapped storage (128 KiB and up) is kept. Smaller buffers come from the
// pool's storage_arena, which keeps their pages itself (or, when it is full,
// from malloc; a cache of those beside malloc's free lists could hold up to
// the budget twice: 600 partitions, ~8 KB batches, peaks of 50-60 MB at
// 32 MiB).
class buffer_cache {
 public:
  // Keeps as much of the free budget (budget - *used) as fits in [floor,
  // cap] (cap: adaptive, see cap_), less what `arena` holds resident in free
  // blocks.
  buffer_cache(std::size_t floor_bytes, std::int64_t budget, const std::atomic<std::int64_t>* used,
               const protocol::storage_arena* arena = nullptr)
      : floor_(floor_bytes), budget_(budget), used_(used), arena_(arena) {}
  // Keeps up to `bound_bytes` (tests).
  explicit buffer_cache(std::size_t bound_bytes) : floor_(bound_bytes), budget_(0), used_(nullptr) {}

  // A kept buffer with a capacity of exactly `capacity` bytes: one kept at
  // that size, else the nearest kept size remapped to it (the smallest
  // larger one, shrunk; else the largest smaller one, grown); else, with no
  // buffer kept, an empty one (and what is kept shrinks by `capacity`: the
  // caller maps it afresh). Remapping keeps the pages the two sizes share
  // resident: at a full buffer, batch sizes wander between powers of two
  // (batches sent early for want of memory), and exact matches only missed
  // ~40% of takes with 8 sending threads (100 B records, 1 MB batches),
  // each a fresh mapping faulting in every page while a kept one of
  // another size was unmapped.
  protocol::batch_buffer take(std::size_t capacity);
  // A kept slot list with `bytes` of capacity (likewise).
  slot_list take_slots(std::size_t bytes);
  // Keeps `b` if it fits the bound; otherwise frees it. `releasing`: budget
  // the caller gives back right after (the buffer's own reservation),
  // counted as free already. Gave it back first and a sender waiting for
  // memory could map a fresh buffer before this one was kept; counted as
  // used, a full buffer kept none: with 8 sending threads (buffer.memory
  // mostly in use) ~80% of freed 1 MB buffers were unmapped and their
  // successors mapped afresh, ~20k extra page faults per 4 M records.
  void give(protocol::batch_buffer&& b, std::size_t releasing = 0);
  void give(slot_list&& v);
  // Unmaps every item kept since before the previous call and not taken;
  // returns the bytes unmapped. Called periodically (the I/O thread).
  std::size_t trim_unused();
  // Lets the adaptive cap (see bound()) fall back by an eighth of its
  // excess over 2 * floor. Called periodically (the I/O thread).
  void decay_cap() noexcept;
  // Unmaps kept items, oldest first, down to bound() + `allowance`. The
  // pool calls it whenever it hands out budget, with what it handed out as
  // the allowance: a new batch reserves its bytes first and takes its
  // buffer from the cache next, which brings what is kept down by as much
  // (a hit, or a miss's eviction). Cheap when nothing is kept.
  void fit_bound(std::size_t allowance);
  std::size_t cached_bytes() const;
  // What may be kept now; `releasing`: budget about to be given back,
  // counted as free.
  std::size_t bound(std::size_t releasing = 0) const noexcept;

 private:
  template <typename T>
  struct entry {
    T item;
    std::uint64_t generation;  // trim_unused() calls before it was given
  };
  // Items leaving the cache, destroyed (unmapped) after mu_ is released.
  struct evicted {
    std::vector<protocol::batch_buffer> buffers;
    std::vector<slot_list> slots;
    void emplace_back(protocol::batch_buffer&& b) { buffers.push_back(std::move(b)); }
    void emplace_back(slot_list&& v) { slots.push_back(std::move(v)); }
  };
  // Caller holds mu_ for all of these.
  // Unmaps kept items, oldest first from the longer list, until `incoming`
  // more fit the bound (plus `allowance`).
  void make_room_locked(std::size_t incoming, evicted& out, std::size_t allowance = 0, std::size_t releasing = 0);
  template <typename T>
  void evict_front_locked(std::deque<entry<T>>& from, evicted& out);
  template <typename T, typename Other>
  void evict_for_miss_locked(std::deque<entry<T>>& same, std::deque<entry<Other>>& other, std::size_t bytes,
                             evicted& out);
  // The kept item of exactly `bytes`, else the nearest size (see take());
  // an empty T when none is kept, after handling the miss (note_miss_locked,
  // evict_for_miss_locked). An item of another size makes room as a miss of
  // the bytes its remap maps afresh would.
  template <typename T, typename Other>
  T take_nearest_locked(std::deque<entry<T>>& from, std::deque<entry<Other>>& other, std::size_t bytes,
                        evicted& out);
  // Keeps `item` if it fits the bound (making room oldest first), else frees it.
  template <typename T>
  void keep(std::deque<entry<T>>& into, T&& item, std::size_t releasing);
  // A take found nothing to serve `bytes` from: raises cap_ when it is a
  // refill (see cap_).
  void note_miss_locked(std::size_t bytes);

  const std::size_t floor_;
  const std::int64_t budget_;
  const std::atomic<std::int64_t>* const used_;
  const protocol::storage_arena* const arena_ = nullptr;
  mutable std::mutex mu_;
  std::deque<entry<protocol::batch_buffer>> buffers_;  // oldest first
  std::deque<entry<slot_list>> slots_;               // oldest first
  std::atomic<std::size_t> bytes_{0};                  // both lists; written under mu_
  // bound()'s cap: 2 * floor, raised by every miss that maps afresh memory
  // the producer had in use before (used below its high-water mark: a
  // refill after an acknowledgement freed more than was kept), decaying
  // back (decay_cap).
  std::atomic<std::size_t> cap_{2 * floor_};
  std::int64_t high_water_ = 0;  // under mu_: budget in use at the highest miss
  std::uint64_t generation_ = 0;
};

class buffer_pool {
 public:
  explicit buffer_pool(std::int64_t capacity_bytes)
      : capacity_(capacity_bytes),
        arena_(static_cast<std::size_t>(std::max<std::int64_t>(capacity_bytes, 0)), arena_largest_block),
        cache_(static_cast<std::size_t>(std::clamp<std::int64_t>(capacity_bytes / 8, 0, 4 << 20)), capacity_bytes,
               &used_, &arena_) {}

  // Reserves n bytes, waiting at most `max_wait`. False on timeout or when
  // the pool was closed. n > capacity never succeeds.
  bool reserve(std::int64_t n, std::chrono::milliseconds max_wait);
  // Never waits.
  bool try_reserve(std::int64_t n);
  // Takes n bytes even past the capacity (the I/O thread, which must neither
  // wait nor fail, growing a batch for a record that already held its own
  // reservation). Later reservations wait until enough is released.
  void force_reserve(std::int64_t n) noexcept {
    used_.fetch_add(n, std::memory_order_acq_rel);
    claimed_.fetch_add(n, std::memory_order_acq_rel);
    cache_.fit_bound(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  }
  // Gives n bytes back. A blocked reserve() is woken once its bytes and
  // wake_slack() more are free, not at every release: at a full buffer each
  // completed batch freed just one batch's bytes, woke one blocked sender
  // (a context switch), which filled one batch and blocked again - with 8
  // sending threads and batch.size 16384, ~25k context switches per 4M
  // records. Woken with slack, the blocked senders go on in turn (each
  // wakes the next as it leaves) until the slack is used up.
  void release(std::int64_t n);
  std::int64_t wake_slack() const noexcept { return std::min<std::int64_t>(capacity_ / 16, 1 << 20); }
  // How often the first blocked reserve() looks by itself (its bytes may
  // fit without the slack, and no release may come to top it up).
  static constexpr std::chrono::milliseconds front_recheck{1};

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
  // Where batch buffers and slot lists up to arena_largest_block are placed
  // first (storage_arena.h). Larger ones are mappings as before: written
  // only as far as filled, and given back beyond the cache, they keep peak
  // RSS lower than arena blocks do, which stay resident once written (100 B
  // records: 37 vs 28 MB with the arena for every size, for 9% less CPU).
  protocol::storage_arena& arena() noexcept { return arena_; }
  static constexpr std::size_t arena_largest_block = protocol::batch_buffer::mapped_threshold / 2;
  // So the cache, which keeps only storage from the mapping thresholds up,
  // never holds an arena block.
  static_assert(arena_largest_block < protocol::batch_buffer::mapped_threshold &&
                arena_largest_block < mapped_allocation_threshold);

 private:
  struct waiter {
    std::int64_t bytes;
    std::condition_variable cv;
  };
  // Callers that do not wait: claims and takes n if every claim fits.
  bool claim_if_fits(std::int64_t n) noexcept;
  // reserve()'s wait in the FIFO of waiters (n > what is free now).
  bool wait_for(std::int64_t n, std::chrono::milliseconds max_wait);
  // A waiter, whose n is already claimed: takes it once it fits.
  bool take_claimed_if_fits(std::int64_t n) noexcept;

  const std::int64_t capacity_;
  std::atomic<std::int64_t> used_{0};
  // used_ plus what the waiters wait for. Callers that do not wait are
  // admitted against this, so they never take a waiter's bytes but may use
  // what is free beyond them. Refusing them all while anyone waited made
  // every sending thread that then needed a few bytes join the queue, and
  // the queue - served one condition-variable hand-off at a time - never
  // emptied: 8 threads blocking in send() at a full buffer ran ~30x slower
  // (Java's BufferPool, too, serves a caller at once when memory suffices).
  // A waiter's take changes only used_, so no caller ever sees its bytes
  // counted twice.
  std::atomic<std::int64_t> claimed_{0};
  std::atomic<int> waiting_{0};  // waiters registered
  std::atomic<bool> closed_{false};
  mutable std::mutex mu_;
  std::deque<waiter*> waiters_;
  protocol::storage_arena arena_;  // before cache_: outlives what the cache keeps
  buffer_cache cache_;
};

}  // namespace kprod::producer_detail
