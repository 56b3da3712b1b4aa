// buffer_cache keeps a bounded amount of recycled batch buffers and slot
// vectors, also when the budget is used up; batch_buffer and slot_vector
// switch to their own mappings for large sizes without losing contents.
#include <gtest/gtest.h>

#include <cstring>

#include "producer/buffer_pool.h"
#include "protocol/record_batch.h"

namespace kprod::producer_detail {
namespace {

protocol::batch_buffer buffer_of(std::size_t cap) {
  protocol::batch_buffer b;
  b.reserve(cap);
  return b;
}

TEST(BufferCache, KeepsAtMostTheFloorEvenWhenTheBudgetIsUsedUp) {
  buffer_pool pool(4 << 20);  // floor: min(4 MiB / 8, 4 MiB) = 512 KiB
  buffer_cache& c = pool.cache();
  EXPECT_EQ(c.bound(), std::size_t{512} << 10);
  c.give(buffer_of(256 << 10));
  c.give(buffer_of(256 << 10));
  EXPECT_EQ(c.cached_bytes(), std::size_t{512} << 10);
  c.give(buffer_of(256 << 10));  // over the floor: the oldest goes
  EXPECT_EQ(c.cached_bytes(), std::size_t{512} << 10);
  // A full buffer is when reuse matters most (every new batch would
  // otherwise fault in fresh pages): completed batches' buffers are still kept.
  ASSERT_TRUE(pool.try_reserve(4 << 20));
  EXPECT_EQ(c.take(256 << 10).capacity(), std::size_t{256} << 10);
  c.give(buffer_of(256 << 10));
  EXPECT_EQ(c.cached_bytes(), std::size_t{512} << 10);
  pool.release(4 << 20);
}

TEST(BufferCache, TakeReturnsOnlyExactCapacities) {
  buffer_pool pool(8 << 20);
  buffer_cache& c = pool.cache();
  c.give(buffer_of(4096));
  c.give(buffer_of(256 << 10));
  EXPECT_EQ(c.take(8192).capacity(), 0u);
  auto b = c.take(256 << 10);
  EXPECT_EQ(b.capacity(), std::size_t{256} << 10);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(c.take(4096).capacity(), 4096u);
  EXPECT_EQ(c.cached_bytes(), 0u);
}

TEST(BufferCache, OldestGoFirstWhenFull) {
  buffer_pool pool(8 << 20);  // floor 1 MiB
  buffer_cache& c = pool.cache();
  c.give(buffer_of(512 << 10));  // oldest
  c.give(buffer_of(256 << 10));
  c.give(buffer_of(512 << 10));  // needs room: the oldest is dropped
  EXPECT_EQ(c.cached_bytes(), std::size_t{768} << 10);
  EXPECT_EQ(c.take(256 << 10).capacity(), std::size_t{256} << 10);
}

TEST(BufferCache, RecyclesSlotVectorsInTheSameBudget) {
  buffer_pool pool(8 << 20);
  buffer_cache& c = pool.cache();
  slot_vector v;
  v.reserve(4096);  // 4096 slots: large enough to be mapped
  v.push_back(record_slot{{}, 1, 0, 1, 1});
  const std::size_t cap = v.capacity();
  c.give(std::move(v));
  EXPECT_EQ(c.cached_bytes(), cap * sizeof(record_slot));
  EXPECT_EQ(c.take_slots(cap + 1).capacity(), 0u);
  slot_vector back = c.take_slots(cap);
  EXPECT_EQ(back.capacity(), cap);
  EXPECT_TRUE(back.empty());
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

TEST(SlotVector, LargeVectorsWork) {
  slot_vector v;
  for (int i = 0; i < 10000; ++i) v.push_back(record_slot{{}, i, i, 0, 0});  // grows through the threshold
  ASSERT_EQ(v.size(), 10000u);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(v[static_cast<std::size_t>(i)].offset_delta, i);
}

}  // namespace
}  // namespace kprod::producer_detail
