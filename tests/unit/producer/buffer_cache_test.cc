// buffer_cache keeps recycled batch buffers and slot lists up to the free
// part of buffer.memory and a floor, also when the budget is used up, and at
// every moment the pool hands out budget; serves other sizes from the
// nearest kept one by remapping it; unmaps on a miss what the caller will
// map, and trims what sat unused; batch_buffer and slot_list switch to their
// own mappings for large sizes without losing contents.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "producer/buffer_pool.h"
#include "protocol/record_batch.h"

namespace kprod::producer_detail {
namespace {

protocol::batch_buffer buffer_of(std::size_t cap) {
  protocol::batch_buffer b;
  b.reserve(cap);
  return b;
}

TEST(BufferCache, KeepsTheFreeBudgetBetweenAFloorAndACapEvenWhenTheBudgetIsUsedUp) {
  buffer_pool pool(8 << 20);  // floor: min(8 MiB / 8, 4 MiB) = 1 MiB; cap 2 MiB to start with
  buffer_cache& c = pool.cache();
  EXPECT_EQ(c.bound(), std::size_t{2} << 20) << "the cap";
  ASSERT_TRUE(pool.try_reserve(6 << 20));
  EXPECT_EQ(c.bound(), std::size_t{2} << 20);
  ASSERT_TRUE(pool.try_reserve(1 << 19));
  EXPECT_EQ(c.bound(), std::size_t{3} << 19) << "the free budget, between floor and cap";
  pool.release(1 << 19);
  for (int i = 0; i < 8; ++i) c.give(buffer_of(256 << 10));
  EXPECT_EQ(c.cached_bytes(), std::size_t{2} << 20);  // the oldest went
  ASSERT_TRUE(pool.try_reserve(2 << 20));
  EXPECT_EQ(c.bound(), std::size_t{1} << 20);
  // A full buffer is when reuse matters most (every new batch would
  // otherwise fault in fresh pages): completed batches' buffers are still
  // kept, up to the floor.
  c.give(buffer_of(256 << 10));
  EXPECT_EQ(c.cached_bytes(), std::size_t{1} << 20);
  EXPECT_EQ(c.take(256 << 10).capacity(), std::size_t{256} << 10);
  pool.release(8 << 20);
}

// A completed batch's buffer is given before its reservation goes back to
// the pool (so that a sender waiting for memory cannot map a fresh buffer
// while this one still exists), and the budget it is about to free counts
// as free: at a full buffer it was kept only within the floor, and with 8
// sending threads most freed 1 MB buffers were unmapped and their
// successors mapped afresh.
TEST(BufferCache, ABufferGivenJustBeforeItsReservationIsReleasedCountsThatAsFree) {
  buffer_pool pool(8 << 20);  // floor 1 MiB, cap 2 MiB
  buffer_cache& c = pool.cache();
  constexpr std::size_t batch = std::size_t{3} << 19;  // 1.5 MiB: beyond the floor
  ASSERT_TRUE(pool.try_reserve(8 << 20));              // all of it in use
  c.give(buffer_of(batch));
  EXPECT_EQ(c.cached_bytes(), 0u) << "counted as in use: only the floor may be kept";
  c.give(buffer_of(batch), batch);
  EXPECT_EQ(c.cached_bytes(), batch) << "its own reservation is about to be free";
  pool.release(static_cast<std::int64_t>(batch));
  ASSERT_TRUE(pool.try_reserve(static_cast<std::int64_t>(batch)));  // the next batch
  EXPECT_EQ(c.take(batch).capacity(), batch) << "and serves the next batch";
  pool.release(8 << 20);
}

// The cap follows what the producer refills: a miss that maps afresh memory
// it had in use before (an acknowledgement freed more than was kept) raises
// it by the bytes missed, growth does not, and it decays back to 2 * floor.
TEST(BufferCache, RefillMissesRaiseTheCapWhichDecaysBack) {
  buffer_pool pool(8 << 20);  // floor 1 MiB, cap 2 MiB
  buffer_cache& c = pool.cache();
  ASSERT_TRUE(pool.try_reserve(1 << 20));
  EXPECT_EQ(c.take(1 << 20).capacity(), 0u);  // growing: a miss that raises nothing
  ASSERT_TRUE(pool.try_reserve(1 << 20));
  EXPECT_EQ(c.take(1 << 20).capacity(), 0u);
  EXPECT_EQ(c.bound(), std::size_t{2} << 20);
  pool.release(2 << 20);
  ASSERT_TRUE(pool.try_reserve(1 << 20));      // refilling what was in use before
  EXPECT_EQ(c.take(1 << 20).capacity(), 0u);  // (nothing kept)
  EXPECT_EQ(c.bound(), std::size_t{3} << 20) << "raised by the miss";
  c.decay_cap();
  EXPECT_EQ(c.bound(), (std::size_t{3} << 20) - (std::size_t{1} << 17)) << "an eighth of the excess";
  for (int i = 0; i < 200; ++i) c.decay_cap();
  EXPECT_EQ(c.bound(), std::size_t{2} << 20);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c.take(1 << 20).capacity(), 0u);
  EXPECT_EQ(c.bound(), std::size_t{7} << 20) << "never past the budget (here: the free part of it)";
  pool.release(1 << 20);
  EXPECT_EQ(c.bound(), std::size_t{8} << 20);
}

// The bound holds whenever budget is handed out, not only when something is
// given back: kept items never sit beside a budget that filled up meanwhile
// (by arena-sized batches, growth, ...), beyond what the taker takes next.
TEST(BufferCache, HandingOutBudgetBringsWhatIsKeptDownToTheBoundPlusTheAmountHandedOut) {
  buffer_pool pool(32 << 20);  // floor 4 MiB, cap 8 MiB
  buffer_cache& c = pool.cache();
  for (int i = 0; i < 40; ++i) c.give(buffer_of(256 << 10));
  ASSERT_EQ(c.cached_bytes(), std::size_t{8} << 20);
  ASSERT_TRUE(pool.try_reserve(20 << 20));  // free 12 MiB: bound 8 MiB, + 20 MiB allowance
  EXPECT_EQ(c.cached_bytes(), std::size_t{8} << 20);
  ASSERT_TRUE(pool.reserve(6 << 20, std::chrono::milliseconds(0)));  // free 6 MiB, + 6 MiB
  EXPECT_EQ(c.cached_bytes(), std::size_t{8} << 20);
  ASSERT_TRUE(pool.try_reserve(3 << 20));  // free 3 MiB: the floor, + 3 MiB
  EXPECT_EQ(c.cached_bytes(), std::size_t{7} << 20) << "oldest unmapped";
  pool.force_reserve(2 << 20);  // the floor, + 2 MiB
  EXPECT_EQ(c.cached_bytes(), std::size_t{6} << 20);
  pool.force_reserve(1 << 20);  // past the budget: the floor, + 1 MiB
  EXPECT_EQ(c.cached_bytes(), std::size_t{5} << 20);
  EXPECT_EQ(c.take(256 << 10).capacity(), std::size_t{256} << 10) << "the newest kept";
  pool.release(32 << 20);
}

TEST(BufferCache, TakeReturnsTheCapacityKeptAtThatSizeFirst) {
  buffer_pool pool(8 << 20);
  buffer_cache& c = pool.cache();
  c.give(buffer_of(128 << 10));
  c.give(buffer_of(256 << 10));
  auto b = c.take(256 << 10);
  EXPECT_EQ(b.capacity(), std::size_t{256} << 10);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(c.take(128 << 10).capacity(), std::size_t{128} << 10);
  EXPECT_EQ(c.cached_bytes(), 0u);
}

// Below the mapping threshold buffers come from malloc, which recycles them
// itself: kept here too, they could hold the budget twice.
TEST(BufferCache, KeepsOnlyMappedStorage) {
  buffer_pool pool(8 << 20);
  buffer_cache& c = pool.cache();
  c.give(buffer_of(4096));
  c.give(buffer_of(protocol::batch_buffer::mapped_threshold - 1));
  slot_list small;
  small.reserve_bytes(4096);
  c.give(std::move(small));
  EXPECT_EQ(c.cached_bytes(), 0u);
  c.give(buffer_of(protocol::batch_buffer::mapped_threshold));
  EXPECT_EQ(c.cached_bytes(), protocol::batch_buffer::mapped_threshold);
  EXPECT_EQ(c.take(4096).capacity(), 0u);  // a small miss unmaps nothing
  EXPECT_EQ(c.cached_bytes(), protocol::batch_buffer::mapped_threshold);
}

// Another size is served from the nearest kept one, remapped to exactly the
// capacity asked for (which the caller accounts in buffer.memory): the
// smallest larger one (shrunk), else the largest smaller one (grown).
TEST(BufferCache, AnotherSizeIsServedByRemappingTheNearestKeptOne) {
  buffer_pool pool(16 << 20);
  buffer_cache& c = pool.cache();
  c.give(buffer_of(128 << 10));
  c.give(buffer_of(1 << 20));
  c.give(buffer_of(512 << 10));
  auto b = c.take(256 << 10);
  EXPECT_EQ(b.capacity(), std::size_t{256} << 10);
  EXPECT_EQ(c.cached_bytes(), (std::size_t{128} << 10) + (std::size_t{1} << 20)) << "the 512 KiB one, shrunk";
  b.resize_uninitialized(b.capacity());
  std::memset(b.data(), 0x5a, b.size());  // all of it writable
  auto big = c.take(2 << 20);
  EXPECT_EQ(big.capacity(), std::size_t{2} << 20) << "the 1 MiB one, grown";
  big.resize_uninitialized(big.capacity());
  std::memset(big.data(), 0xa5, big.size());
  slot_list v;
  v.reserve_bytes(512 << 10);
  c.give(std::move(v));
  slot_list w = c.take_slots(300 << 10);
  EXPECT_EQ(w.capacity_bytes(), std::size_t{300} << 10);
  EXPECT_TRUE(w.empty());
  w.push(detail::completion::from([](delivery_report) {}), 1, 0, 1, 1);
  EXPECT_EQ(w.size(), 1u);
}

// Shrinking keeps the pages the buffer had: the point of remapping instead
// of mapping afresh is not to fault them in again.
TEST(BufferCache, AShrunkBufferKeepsItsPagesResident) {
  buffer_pool pool(16 << 20);
  buffer_cache& c = pool.cache();
  auto b = buffer_of(1 << 20);
  b.resize_uninitialized(b.capacity());
  std::memset(b.data(), 1, b.size());  // every page resident
  c.give(std::move(b));
  auto got = c.take(512 << 10);
  ASSERT_EQ(got.capacity(), std::size_t{512} << 10);
  const long page = sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> resident((got.capacity() + static_cast<std::size_t>(page) - 1) / static_cast<std::size_t>(page));
  ASSERT_EQ(mincore(got.data(), got.capacity(), resident.data()), 0);
  for (unsigned char r : resident) ASSERT_TRUE(r & 1) << "a page of the kept buffer was dropped";
}

// What the caller maps afresh after a miss (nothing of its kind kept) is
// unmapped from the cache first, so kept bytes plus bytes in use never exceed
// the most ever in use (peak RSS does not grow with sizes that stopped
// matching); likewise what a grown buffer maps afresh.
TEST(BufferCache, AMissUnmapsAsMuchAsTheCallerWillMap) {
  buffer_pool pool(8 << 20);
  buffer_cache& c = pool.cache();
  slot_list v;
  v.reserve_bytes(256 << 10);
  c.give(std::move(v));
  ASSERT_EQ(c.cached_bytes(), std::size_t{256} << 10);
  EXPECT_EQ(c.take(192 << 10).capacity(), 0u) << "no buffer kept: a miss";
  EXPECT_EQ(c.cached_bytes(), 0u) << "the slots went to make room";
  c.give(buffer_of(128 << 10));  // oldest
  c.give(buffer_of(128 << 10));
  c.give(buffer_of(128 << 10));  // newest
  // Grown from 128 KiB to 320 KiB: 192 KiB mapped afresh, so the oldest
  // (128 KiB) and the next (the rest) go; the newest was taken.
  EXPECT_EQ(c.take(320 << 10).capacity(), std::size_t{320} << 10);
  EXPECT_EQ(c.cached_bytes(), 0u);
  EXPECT_EQ(c.take(256 << 10).capacity(), 0u);  // an empty cache misses without harm
}

// Items kept while the budget had room do not stay beside a fresh mapping
// once the buffer has filled up: a miss, or a take of another size, also
// brings the cache down to the bound as it is now.
TEST(BufferCache, ATakeOfAnotherSizeAlsoUnmapsDownToTheBoundOfTheMoment) {
  buffer_pool pool(8 << 20);  // floor 1 MiB
  buffer_cache& c = pool.cache();
  for (int i = 0; i < 8; ++i) c.give(buffer_of(256 << 10));
  ASSERT_EQ(c.cached_bytes(), std::size_t{2} << 20);
  pool.force_reserve(6 << 20);  // the buffer fills up (allowance: 6 MiB, nothing unmapped yet)
  pool.force_reserve(2 << 20);
  ASSERT_EQ(c.bound(), std::size_t{1} << 20);
  EXPECT_EQ(c.take(192 << 10).capacity(), std::size_t{192} << 10);
  EXPECT_EQ(c.cached_bytes(), std::size_t{1} << 20) << "not just the 256 KiB one taken";
  EXPECT_EQ(c.take(256 << 10).capacity(), std::size_t{256} << 10) << "the newest kept";
  pool.release(8 << 20);
}

// The arena's resident free pages and the kept mappings are both memory
// held for batches to come: they share the bound.
TEST(BufferCache, TheArenasResidentFreePagesCountAgainstTheBound) {
  buffer_pool pool(8 << 20);  // floor 1 MiB, cap 2 MiB
  buffer_cache& c = pool.cache();
  protocol::storage_arena& arena = pool.arena();
  ASSERT_EQ(c.bound(), std::size_t{2} << 20);
  std::vector<void*> blocks;
  for (int i = 0; i < 12; ++i) {
    blocks.push_back(arena.allocate(64 << 10));
    ASSERT_NE(blocks.back(), nullptr);
    std::memset(blocks.back(), 1, 64 << 10);
  }
  EXPECT_EQ(c.bound(), std::size_t{2} << 20) << "blocks in use are not spare";
  for (void* b : blocks) arena.deallocate(b, 64 << 10);
  ASSERT_EQ(arena.free_resident_bytes(), std::size_t{768} << 10);
  EXPECT_EQ(c.bound(), std::size_t{1280} << 10);
  for (int i = 0; i < 8; ++i) c.give(buffer_of(256 << 10));
  EXPECT_EQ(c.cached_bytes(), std::size_t{1280} << 10);
}

TEST(BufferCache, OldestGoFirstWhenFull) {
  buffer_cache c(1 << 20);
  c.give(buffer_of(512 << 10));  // oldest
  c.give(buffer_of(256 << 10));
  c.give(buffer_of(512 << 10));  // needs room: the oldest is dropped
  EXPECT_EQ(c.cached_bytes(), std::size_t{768} << 10);
  EXPECT_EQ(c.take(256 << 10).capacity(), std::size_t{256} << 10);
}

TEST(BufferCache, TrimUnmapsWhatNoBatchTookSinceThePreviousTrim) {
  buffer_pool pool(8 << 20);
  buffer_cache& c = pool.cache();
  c.give(buffer_of(128 << 10));
  slot_list v;
  v.reserve_bytes(256 << 10);
  const std::size_t slot_bytes = v.capacity_bytes();
  c.give(std::move(v));
  EXPECT_EQ(c.trim_unused(), 0u);  // given since the previous trim (none): kept
  c.give(c.take(128 << 10));       // in use again: given back in the new interval
  EXPECT_EQ(c.trim_unused(), slot_bytes);  // the slots sat through a whole interval
  EXPECT_EQ(c.cached_bytes(), std::size_t{128} << 10);
  EXPECT_EQ(c.trim_unused(), std::size_t{128} << 10);
  EXPECT_EQ(c.cached_bytes(), 0u);
}

TEST(BufferCache, RecyclesSlotListsInTheSameBudget) {
  buffer_pool pool(8 << 20);
  buffer_cache& c = pool.cache();
  slot_list v;
  v.reserve_bytes(256 << 10);  // large enough to be mapped
  v.push(detail::completion::from([](delivery_report) {}), 1, 0, 1, 1);
  const std::size_t cap = v.capacity_bytes();
  c.give(std::move(v));
  EXPECT_EQ(c.cached_bytes(), cap);
  slot_list back = c.take_slots(cap);
  EXPECT_EQ(back.capacity_bytes(), cap);
  EXPECT_TRUE(back.empty());
  EXPECT_EQ(c.cached_bytes(), 0u);
  c.give(std::move(back));
  EXPECT_EQ(c.take_slots(cap + 4096).capacity_bytes(), cap + 4096);  // remapped to the size asked for
  EXPECT_EQ(c.cached_bytes(), 0u);
}

TEST(BatchBuffer, GrowingPastTheMappedThresholdKeepsTheBytes) {
  protocol::batch_buffer b;
  b.reserve(1000);
  b.resize_uninitialized(1000);
  for (std::size_t i = 0; i < 1000; ++i) b.data()[i] = static_cast<std::uint8_t>(i * 7);
  // malloc -> own mapping -> larger mapping (mremap) -> same pages (no-op).
  for (std::size_t cap : {protocol::batch_buffer::mapped_threshold + 1, std::size_t{3} << 20, (std::size_t{3} << 20) + 1}) {
    b.reserve(cap);
    ASSERT_GE(b.capacity(), cap);
    for (std::size_t i = 0; i < 1000; ++i) ASSERT_EQ(b.data()[i], static_cast<std::uint8_t>(i * 7)) << cap;
  }
  // The whole capacity is writable.
  b.resize_uninitialized(b.capacity());
  std::memset(b.data(), 0xab, b.size());
  protocol::batch_buffer moved = std::move(b);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(moved.data()[moved.size() - 1], 0xab);
  protocol::batch_buffer small = buffer_of(100);
  small = std::move(moved);  // frees the small one, takes the mapping
  EXPECT_EQ(small.data()[0], 0xab);
}

TEST(SlotList, EntriesTakeTheHandlersSizeAndKeepTheirFieldsThroughGrowth) {
  slot_list v;
  int calls = 0;
  std::int64_t sum = 0;
  const std::size_t small = slot_list::entry_bytes(detail::completion::from([&calls](delivery_report) { ++calls; }));
  EXPECT_EQ(small, sizeof(slot_header) + sizeof(void*));  // one captured pointer: 40 bytes
  for (int i = 0; i < 10000; ++i) {
    // Handlers of two sizes, one owning heap memory (moved, not copied, on growth).
    if (i % 3 == 0) {
      auto owned = std::make_unique<int>(i);
      v.push(detail::completion::from([&sum, o = std::move(owned)](delivery_report) { sum += *o; }), i, i, 1, 2);
    } else {
      v.push(detail::completion::from([&calls](delivery_report) { ++calls; }), i, i, 1, 2);
    }
  }
  ASSERT_EQ(v.size(), 10000u);
  ASSERT_GE(v.capacity_bytes(), mapped_allocation_threshold);  // grew through the threshold
  int i = 0;
  v.for_each([&](slot_header& h) {
    EXPECT_EQ(h.offset_delta, i);
    EXPECT_EQ(h.timestamp_ms, i);
    EXPECT_EQ(h.key_size, 1);
    EXPECT_EQ(h.value_size, 2);
    slot_list::invoke(h, delivery_report{});
    slot_list::invoke(h, delivery_report{});  // once only
    ++i;
  });
  EXPECT_EQ(i, 10000);
  EXPECT_EQ(calls, 10000 - 3334);
  std::int64_t expect = 0;
  for (int k = 0; k < 10000; k += 3) expect += k;
  EXPECT_EQ(sum, expect);
}

// Trivially copyable handlers are moved by copying the storage as a whole
// (a mapping by mremap); once a handler that is not is parked, growth moves
// handler by handler again. Each handler must still see its own captures.
TEST(SlotList, GrowthCopiesTriviallyRelocatableHandlersWholeAndOthersOneByOne) {
  slot_list v;
  std::vector<int> seen;
  auto owned_sum = std::make_shared<std::int64_t>(0);
  constexpr int trivial_first = 6000, total = 12000;
  for (int i = 0; i < total; ++i) {
    if (i < trivial_first || i % 2 == 0) {
      static_assert(std::is_trivially_copyable_v<decltype([&seen, i](delivery_report) { seen.push_back(i); })>);
      v.push(detail::completion::from([&seen, i](delivery_report) { seen.push_back(i); }), i, i, 0, 0);
    } else {
      // Not trivially copyable (a shared_ptr): from here on, growth moves one by one.
      v.push(detail::completion::from([owned_sum, i](delivery_report) { *owned_sum += i; }), i, i, 0, 0);
    }
    if (i == trivial_first - 1) {
      ASSERT_GE(v.capacity_bytes(), mapped_allocation_threshold) << "the trivial part grew through the threshold";
    }
  }
  EXPECT_EQ(owned_sum.use_count(), 1 + (total - trivial_first) / 2);
  int i = 0;
  v.for_each([&](slot_header& h) {
    EXPECT_EQ(h.offset_delta, i);
    slot_list::invoke(h, delivery_report{});
    ++i;
  });
  ASSERT_EQ(i, total);
  std::int64_t want_owned = 0;
  std::vector<int> want_seen;
  for (int k = 0; k < total; ++k) {
    if (k < trivial_first || k % 2 == 0) {
      want_seen.push_back(k);
    } else {
      want_owned += k;
    }
  }
  EXPECT_EQ(seen, want_seen);
  EXPECT_EQ(*owned_sum, want_owned);
  EXPECT_EQ(owned_sum.use_count(), 1) << "every invoked handler was destroyed";
}

TEST(SlotList, UninvokedHandlersAreDestroyedOnceAndRangesMoveForSplits) {
  auto alive = std::make_shared<int>(0);
  slot_list big;
  for (int i = 0; i < 6; ++i) big.push(detail::completion::from([alive](delivery_report) {}), 100 + i, i, 0, 0);
  EXPECT_EQ(alive.use_count(), 7);
  slot_list a, b;
  big.move_range_to(a, 0, 3);
  big.move_range_to(b, 3, 6);
  EXPECT_EQ(big.size(), 0u);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(alive.use_count(), 7);  // moved, not copied
  std::vector<std::int32_t> deltas;
  b.for_each([&](slot_header& h) {
    deltas.push_back(h.offset_delta);
    EXPECT_EQ(h.timestamp_ms, 100 + 3 + h.offset_delta);
  });
  EXPECT_EQ(deltas, (std::vector<std::int32_t>{0, 1, 2}));
  big.clear();  // only emptied entries left: nothing destroyed twice
  a.clear();
  EXPECT_EQ(alive.use_count(), 4);
  slot_list moved = std::move(b);
  EXPECT_EQ(moved.size(), 3u);
}

// The pool's arena places slot lists and buffers up to arena_largest_block;
// a list that grows past it moves out with every handler intact.
TEST(SlotList, StartsInThePoolsArenaAndMovesOutWhenItOutgrowsIt) {
  buffer_pool pool(8 << 20);
  protocol::storage_arena& arena = pool.arena();
  std::int64_t sum = 0;
  {
    slot_list v(&arena);
    auto owned = std::make_shared<int>(0);
    for (int i = 0; i < 5000; ++i) {
      if (i % 2 == 0) {
        v.push(detail::completion::from([&sum, i](delivery_report) { sum += i; }), i, i, 0, 0);
      } else {
        v.push(detail::completion::from([&sum, owned, i](delivery_report) { sum += i; }), i, i, 0, 0);
      }
      if (v.capacity_bytes() <= buffer_pool::arena_largest_block) {
        ASSERT_TRUE(v.in_arena()) << i;
        ASSERT_EQ(arena.allocated_bytes(), arena.block_bytes(v.capacity_bytes()));
      } else {
        ASSERT_FALSE(v.in_arena()) << i;
        ASSERT_EQ(arena.allocated_bytes(), 0u) << "its block went back when it moved out";
      }
    }
    int i = 0;
    v.for_each([&](slot_header& h) {
      EXPECT_EQ(h.offset_delta, i++);
      slot_list::invoke(h, delivery_report{});
    });
    EXPECT_EQ(sum, 4999 * 5000 / 2);
  }

  EXPECT_EQ(arena.allocated_bytes(), 0u);
}

// A slot list that maps fresh pages (a new mapping, or a mapping's growth)
// first makes the arena give back as many of its resident free pages.
TEST(SlotList, MappingFreshPagesMakesTheArenaYieldAsMuch) {
  buffer_pool pool(8 << 20);
  protocol::storage_arena& arena = pool.arena();
  const std::size_t k = 1024;
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    blocks.push_back(arena.allocate(64 * k));
    ASSERT_NE(blocks.back(), nullptr);
    std::memset(blocks.back(), 1, 64 * k);
  }
  for (void* b : blocks) arena.deallocate(b, 64 * k);
  const std::size_t spare = arena.free_resident_bytes();
  ASSERT_EQ(spare, 4096 * k);
  ASSERT_LT(arena.yield_slack(), spare - 1024 * k);
  slot_list v(&arena);
  v.reserve_bytes(256 * k);
  EXPECT_FALSE(v.in_arena());
  EXPECT_EQ(arena.free_resident_bytes(), spare - 256 * k);
  v.push(detail::completion::from([](delivery_report) {}), 0, 0, 0, 0);
  v.reserve_bytes(1024 * k);  // mremap: 768 KiB more
  EXPECT_EQ(arena.free_resident_bytes(), spare - 1024 * k);
  v.for_each([](slot_header& h) { slot_list::invoke(h, delivery_report{}); });
}

}  // namespace
}  // namespace kprod::producer_detail
