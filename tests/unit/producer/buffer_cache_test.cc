// buffer_cache keeps recycled batch buffers and slot lists up to the free
// part of buffer.memory and a floor, also when the budget is used up, unmaps on a miss what the
// caller will map, and trims what sat unused; batch_buffer and slot_list
// switch to their own mappings for large sizes without losing contents.
#include <gtest/gtest.h>

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

TEST(BufferCache, KeepsTheFreeBudgetBetweenAFloorAndTwiceItEvenWhenTheBudgetIsUsedUp) {
  buffer_pool pool(8 << 20);  // floor: min(8 MiB / 8, 4 MiB) = 1 MiB
  buffer_cache& c = pool.cache();
  EXPECT_EQ(c.bound(), std::size_t{2} << 20) << "capped at twice the floor";
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

TEST(BufferCache, TakeReturnsOnlyExactCapacities) {
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

// What the caller maps afresh after a miss is unmapped from the cache first,
// so kept bytes plus bytes in use never exceed the most ever in use (peak RSS
// does not grow with sizes that stopped matching).
TEST(BufferCache, AMissUnmapsAsMuchAsTheCallerWillMapOldestAndSameKindFirst) {
  buffer_pool pool(8 << 20);
  buffer_cache& c = pool.cache();
  slot_list v;
  v.reserve_bytes(256 << 10);
  const std::size_t slot_bytes = v.capacity_bytes();
  c.give(std::move(v));                 // oldest, other kind
  c.give(buffer_of(128 << 10));         // oldest buffer
  c.give(buffer_of(256 << 10));
  c.give(buffer_of(128 << 10));         // newest
  // Miss: 192 KiB will be mapped; the two oldest buffers (384 KiB) go.
  EXPECT_EQ(c.take(192 << 10).capacity(), 0u);
  EXPECT_EQ(c.cached_bytes(), slot_bytes + (std::size_t{128} << 10));
  EXPECT_EQ(c.take(128 << 10).capacity(), std::size_t{128} << 10);  // the newest still there
  EXPECT_EQ(c.cached_bytes(), slot_bytes);
  EXPECT_EQ(c.take(200 << 10).capacity(), 0u);  // nothing of the same kind: the slots go
  EXPECT_EQ(c.cached_bytes(), 0u);
  EXPECT_EQ(c.take(256 << 10).capacity(), 0u);  // an empty cache misses without harm
}

// Items kept while the budget had room (up to twice the floor) do not stay
// beside a fresh mapping once the buffer has filled up: a miss also brings
// the cache down to the bound as it is now.
TEST(BufferCache, AMissAlsoUnmapsDownToTheBoundOfTheMoment) {
  buffer_pool pool(8 << 20);  // floor 1 MiB, cap 2 MiB
  buffer_cache& c = pool.cache();
  for (int i = 0; i < 8; ++i) c.give(buffer_of(256 << 10));
  ASSERT_EQ(c.cached_bytes(), std::size_t{2} << 20);
  ASSERT_TRUE(pool.try_reserve(8 << 20));  // the buffer fills up
  ASSERT_EQ(c.bound(), std::size_t{1} << 20);
  EXPECT_EQ(c.take(192 << 10).capacity(), 0u);
  EXPECT_EQ(c.cached_bytes(), std::size_t{1} << 20) << "not just the 192 KiB the caller maps";
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
  EXPECT_EQ(c.take_slots(cap + 1).capacity_bytes(), 0u);  // exact capacities only
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
