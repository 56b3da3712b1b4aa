// partition_mutex: mutual exclusion under contention (more threads than
// cores, so holders are preempted and waiters sleep on the futex), and
// try_lock semantics.
#include "producer/partition_mutex.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

namespace kprod::producer_detail {
namespace {

TEST(PartitionMutex, TryLockFailsWhileHeldAndSucceedsAfter) {
  partition_mutex m;
  ASSERT_TRUE(m.try_lock());
  bool other = true;
  std::thread t([&] { other = m.try_lock(); });
  t.join();
  EXPECT_FALSE(other);
  m.unlock();
  std::thread t2([&] {
    other = m.try_lock();
    if (other) m.unlock();
  });
  t2.join();
  EXPECT_TRUE(other);
}

TEST(PartitionMutex, ExcludesUnderContentionAndWakesSleepers) {
  partition_mutex m;
  // Non-atomic on purpose: a lost update shows a broken lock.
  std::uint64_t counter = 0;
  std::uint64_t inside = 0, overlaps = 0;
  constexpr int threads = 8, rounds = 50000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < rounds; ++i) {
        std::lock_guard lk(m);
        if (inside++ != 0) ++overlaps;
        ++counter;
        if (i % 1000 == 0) std::this_thread::yield();  // preempted while holding: others go to the futex
        --inside;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(counter, std::uint64_t{threads} * rounds);
  EXPECT_EQ(overlaps, 0u);
  EXPECT_TRUE(m.try_lock());  // left free
  m.unlock();
}

}  // namespace
}  // namespace kprod::producer_detail
