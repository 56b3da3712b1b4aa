// read_mostly_mutex: readers exclude writers and writers exclude each other,
// in both modes (membarrier, and the full-fence fallback that ctest runs
// again with KPROD_READ_MOSTLY_FENCE=1).
#include "producer/read_mostly_mutex.h"

#include <gtest/gtest.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace kprod::producer_detail {
namespace {

using namespace std::chrono_literals;

// Polls `cond` for up to 10 s (the box may be loaded; only a broken lock
// makes this time out).
template <typename F>
bool eventually(F cond) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return cond();
}

TEST(ReadMostlyMutex, ModeFollowsTheEnvironment) {
  const char* v = std::getenv("KPROD_READ_MOSTLY_FENCE");
  if (v != nullptr && *v == '1') {
    EXPECT_FALSE(read_mostly_mutex::asymmetric());
  }
  // Where the kernel offers membarrier, readers must run without a fence
  // (for a while the inline reader path never learnt that it could, and
  // paid a locked instruction on every send).
  if (v == nullptr || *v != '1') {
    const long cmds = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    const bool offered = cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
                         ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 &&
                         ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
    EXPECT_EQ(read_mostly_mutex::asymmetric(), offered);
    EXPECT_EQ(read_mostly_detail::readers_fence_free, offered);  // what the inline path reads
  }
  read_mostly_mutex m;  // either mode works: lock and unlock once
  m.lock();
  m.unlock();
  m.lock_shared();
  m.unlock_shared();
}

// Writers keep two fields equal (changing them one after the other);
// readers must never see them differ, and the writers' increments must all
// survive (writers exclude each other).
TEST(ReadMostlyMutex, ReadersNeverSeeAHalfDoneWrite) {
  read_mostly_mutex m;
  std::uint64_t a = 0, b = 0;  // plain fields: a race is also a TSan/ASan-visible bug
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> torn{0}, reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::shared_lock lk(m);
        const std::uint64_t x = a;
        std::this_thread::yield();  // widen the window a broken lock would leave open
        if (b != x) torn.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  constexpr int writers = 2, rounds = 2000;
  std::vector<std::thread> ws;
  for (int w = 0; w < writers; ++w) {
    ws.emplace_back([&] {
      for (int i = 0; i < rounds; ++i) {
        std::unique_lock lk(m);
        ++a;
        std::this_thread::yield();
        ++b;
      }
    });
  }
  for (auto& t : ws) t.join();
  ASSERT_TRUE(eventually([&] { return reads.load() > 1000; }));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(a, static_cast<std::uint64_t>(writers * rounds));
  EXPECT_EQ(b, a);
}

// A thread that takes the lock exclusively, sets `in`, and leaves.
std::thread start_writer(read_mostly_mutex& m, std::atomic<bool>& in) {
  return std::thread([&m, &in] {
    m.lock();
    in = true;
    m.unlock();
  });
}

// Whether a writer is waiting or inside: a reader that is not already
// holding the lock cannot get in then.
bool writer_active(read_mostly_mutex& m) {
  bool got = false;
  std::thread([&] {
    got = m.try_lock_shared();
    if (got) m.unlock_shared();
  }).join();
  return !got;
}

TEST(ReadMostlyMutex, WriterWaitsForReaderAndReaderForWriter) {
  read_mostly_mutex m;
  m.lock_shared();
  std::atomic<bool> writer_in{false};
  std::thread w = start_writer(m, writer_in);
  ASSERT_TRUE(eventually([&] { return writer_active(m); }));
  EXPECT_FALSE(writer_in.load()) << "a writer got in while a reader held the lock";
  m.unlock_shared();
  ASSERT_TRUE(eventually([&] { return writer_in.load(); }));
  // The writer is in (or done): a reader waits for it, then gets in.
  std::atomic<bool> reader_in{false};
  std::thread r([&] {
    std::shared_lock lk(m);
    reader_in = true;
  });
  w.join();
  r.join();
  EXPECT_TRUE(reader_in.load());
}

TEST(ReadMostlyMutex, TryLockSharedFailsWhileAWriterHoldsIt) {
  read_mostly_mutex m;
  m.lock();
  bool got = true;
  std::thread t([&] { got = m.try_lock_shared(); });
  t.join();
  EXPECT_FALSE(got);
  m.unlock();
  std::thread t2([&] {
    got = m.try_lock_shared();
    if (got) m.unlock_shared();
  });
  t2.join();
  EXPECT_TRUE(got);
}

// A thread that holds the lock shared may take it shared again even while a
// writer waits (the writer waits for both holds): no deadlock.
TEST(ReadMostlyMutex, RecursiveSharedHoldWhileAWriterWaits) {
  read_mostly_mutex m;
  m.lock_shared();
  std::atomic<bool> writer_in{false};
  std::thread w = start_writer(m, writer_in);
  ASSERT_TRUE(eventually([&] { return writer_active(m); }));  // the writer waits for us
  m.lock_shared();
  m.unlock_shared();
  EXPECT_FALSE(writer_in.load()) << "the writer got in while the first hold remained";
  m.unlock_shared();
  w.join();
  EXPECT_TRUE(writer_in.load());
}

// Several different locks held at once by one thread, released out of order.
TEST(ReadMostlyMutex, NestedLocksReleasedInAnyOrder) {
  read_mostly_mutex m[read_mostly_mutex::max_held];
  for (auto& x : m) x.lock_shared();
  m[1].unlock_shared();  // not the last taken
  std::atomic<bool> got1{false};
  start_writer(m[1], got1).join();  // free now, while the others are still held
  EXPECT_TRUE(got1.load());
  std::atomic<bool> got0{false};
  std::thread w0 = start_writer(m[0], got0);
  ASSERT_TRUE(eventually([&] { return writer_active(m[0]); }));
  EXPECT_FALSE(got0.load());
  for (int i = read_mostly_mutex::max_held; i-- > 0;) {
    if (i != 1) m[i].unlock_shared();
  }
  w0.join();
  EXPECT_TRUE(got0.load());
  // The slot is reusable to full depth again.
  for (auto& x : m) x.lock_shared();
  for (auto& x : m) x.unlock_shared();
}

// Threads that took the lock and exited leave no hold behind.
TEST(ReadMostlyMutex, ExitedReadersDoNotBlockWriters) {
  read_mostly_mutex m;
  for (int i = 0; i < 50; ++i) {
    std::thread([&] {
      m.lock_shared();
      m.unlock_shared();
    }).join();
  }
  std::atomic<bool> done{false};
  std::thread w([&] {
    m.lock();
    m.unlock();
    done = true;
  });
  EXPECT_TRUE(eventually([&] { return done.load(); }));
  w.join();
}

}  // namespace
}  // namespace kprod::producer_detail
