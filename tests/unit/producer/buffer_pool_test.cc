#include "producer/buffer_pool.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>
#include <vector>

#include "producer/flush_tracker.h"

namespace kprod::producer_detail {
namespace {

using namespace std::chrono_literals;

TEST(BufferPool, ReservesWithinCapacityAndReleases) {
  buffer_pool pool(100);
  EXPECT_TRUE(pool.try_reserve(60));
  EXPECT_FALSE(pool.try_reserve(41));
  EXPECT_TRUE(pool.try_reserve(40));
  EXPECT_EQ(pool.used(), 100);
  pool.release(100);
  EXPECT_EQ(pool.used(), 0);
}

TEST(BufferPool, MoreThanCapacityNeverSucceeds) {
  buffer_pool pool(100);
  EXPECT_FALSE(pool.reserve(101, 10ms));
  EXPECT_EQ(pool.used(), 0);
}

TEST(BufferPool, BlockedReserveTimesOut) {
  buffer_pool pool(100);
  ASSERT_TRUE(pool.try_reserve(100));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(pool.reserve(1, 50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_EQ(pool.waiters(), 0u);
}

TEST(BufferPool, BlockedReserveSucceedsWhenMemoryIsReleased) {
  buffer_pool pool(100);
  ASSERT_TRUE(pool.try_reserve(100));
  auto waiter = std::async(std::launch::async, [&] { return pool.reserve(30, 60s); });
  while (pool.waiters() == 0) std::this_thread::yield();
  pool.release(50);
  EXPECT_TRUE(waiter.get());
  EXPECT_EQ(pool.used(), 80);
}

TEST(BufferPool, BlockedReservesGetWhatFitsWithOrWithoutTheWakeSlack) {
  // 16 MiB: the slack is 1 MiB. A release that frees the waiter's bytes but
  // not the slack wakes nobody; the first waiter finds them on its own
  // within front_recheck. One that frees the slack too wakes it at once.
  constexpr std::int64_t cap = 16 << 20;
  buffer_pool pool(cap);
  ASSERT_EQ(pool.wake_slack(), 1 << 20);
  ASSERT_TRUE(pool.try_reserve(cap));
  auto small = std::async(std::launch::async, [&] { return pool.reserve(1000, 60s); });
  while (pool.waiters() == 0) std::this_thread::yield();
  const auto t0 = std::chrono::steady_clock::now();
  pool.release(1000);
  EXPECT_TRUE(small.get());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(pool.used(), cap);

  // Several blocked senders: one release of the slack lets each of them go
  // on in turn (each wakes the next as it leaves), not one per release.
  // Only the first waiter rechecks on its own: the others get their turn
  // from the one before them, well before their 60 s.
  std::vector<std::future<bool>> waiters;
  for (int i = 0; i < 4; ++i) waiters.push_back(std::async(std::launch::async, [&] { return pool.reserve(1000, 60s); }));
  while (pool.waiters() < 4) std::this_thread::yield();
  const auto t1 = std::chrono::steady_clock::now();
  pool.release(pool.wake_slack() + 4000);
  for (auto& w : waiters) EXPECT_TRUE(w.get());
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 5s);
  EXPECT_EQ(pool.used(), cap - pool.wake_slack());
  EXPECT_EQ(pool.waiters(), 0u);
}

TEST(BufferPool, NonBlockingCallersDoNotOvertakeWaiters) {
  buffer_pool pool(100);
  ASSERT_TRUE(pool.try_reserve(90));
  auto big = std::async(std::launch::async, [&] { return pool.reserve(50, 60s); });
  while (pool.waiters() == 0) std::this_thread::yield();
  // 10 bytes are free, but a waiter is first in line.
  EXPECT_FALSE(pool.try_reserve(5));
  pool.release(90);
  EXPECT_TRUE(big.get());
  EXPECT_TRUE(pool.try_reserve(50));
}

TEST(BufferPool, CallersThatDoNotWaitUseWhatIsFreeBeyondTheWaitersNeeds) {
  // Right after a release the waiter has not run yet (it needs a wake-up
  // and the pool's lock), or has taken its 30: either way 30 of the 60
  // freed bytes are the waiter's and 30 anyone's. Refusing every caller
  // while someone waited made each sending thread that then needed a few
  // bytes join the queue, which - served one hand-off at a time - never
  // emptied: 8 threads blocking in send() at a full buffer ran ~30x slower.
  buffer_pool pool(100);
  ASSERT_TRUE(pool.try_reserve(100));
  auto waiter = std::async(std::launch::async, [&] { return pool.reserve(30, 60s); });
  while (pool.waiters() == 0) std::this_thread::yield();
  pool.release(60);
  EXPECT_FALSE(pool.try_reserve(31));  // would eat into the waiter's 30
  EXPECT_TRUE(pool.try_reserve(30));
  EXPECT_TRUE(waiter.get());
  EXPECT_EQ(pool.used(), 100);
}

TEST(BufferPool, WaitersKeepWhatTheyWaitForFromCallersThatDoNotWait) {
  // Two waiters in line (the front one does not fit yet): the memory both
  // wait for is kept, even the part the second could already take.
  buffer_pool pool(100);
  ASSERT_TRUE(pool.try_reserve(100));
  auto first = std::async(std::launch::async, [&] { return pool.reserve(80, 60s); });
  while (pool.waiters() == 0) std::this_thread::yield();
  auto second = std::async(std::launch::async, [&] { return pool.reserve(10, 60s); });
  while (pool.waiters() < 2) std::this_thread::yield();
  pool.release(50);
  EXPECT_FALSE(pool.try_reserve(1));
  pool.release(40);  // 90 free: both fit, in order
  EXPECT_TRUE(first.get());
  EXPECT_TRUE(second.get());
  EXPECT_EQ(pool.used(), 100);
  EXPECT_EQ(pool.waiters(), 0u);
}

TEST(BufferPool, CloseWakesWaitersWithFailure) {
  buffer_pool pool(10);
  ASSERT_TRUE(pool.try_reserve(10));
  auto waiter = std::async(std::launch::async, [&] { return pool.reserve(5, 60s); });
  while (pool.waiters() == 0) std::this_thread::yield();
  pool.close();
  EXPECT_FALSE(waiter.get());
  EXPECT_FALSE(pool.reserve(1, 0ms));
}

TEST(FlushTracker, WaitsOnlyForUnitsOlderThanTheFlush) {
  flush_tracker t;
  const auto old_unit = t.add();
  const auto target = t.begin();
  const auto new_unit = t.add();  // created after the flush began
  EXPECT_FALSE(t.wait(target, std::chrono::steady_clock::now() + 10ms));
  t.remove(old_unit);
  EXPECT_TRUE(t.wait(target, std::chrono::steady_clock::now() + 10ms));
  EXPECT_FALSE(t.idle());
  t.remove(new_unit);
  EXPECT_TRUE(t.idle());
}

TEST(FlushTracker, MergeKeepsTheOlderEpoch) {
  flush_tracker t;
  const auto waiting_record = t.add();
  const auto target = t.begin();
  const auto batch = t.add();
  const auto merged = t.merge(waiting_record, batch);
  EXPECT_EQ(merged, waiting_record);
  EXPECT_FALSE(t.wait(target, std::chrono::steady_clock::now() + 5ms));
  t.remove(merged);
  EXPECT_TRUE(t.idle());
}

}  // namespace
}  // namespace kprod::producer_detail
