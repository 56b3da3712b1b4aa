// The load generators' per-thread bookkeeping: one stats object per thread,
// single-writer counters summed while the run goes on, histograms and latency
// logs merged afterwards.
#include "../../../tools/cli/perf_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <new>
#include <thread>
#include <vector>

namespace kprod::cli {
namespace {

TEST(PerfStats, OneStatsObjectPerThreadOnOwnCacheLines) {
  stats_registry reg;
  thread_stats& a = reg.local();
  EXPECT_EQ(&a, &reg.local());
  thread_stats* b = nullptr;
  std::thread([&] { b = &reg.local(); }).join();
  EXPECT_NE(&a, b);
  EXPECT_EQ(reg.threads(), 2u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) % 64, 0u);
  EXPECT_EQ(sizeof(thread_stats) % 64, 0u);
}

TEST(PerfStats, ARegistryAtAReusedAddressIsNotConfusedWithTheOldOne) {
  alignas(stats_registry) unsigned char storage[sizeof(stats_registry)];
  auto* first = new (storage) stats_registry;
  first->local().acked.add(5);
  first->~stats_registry();
  auto* second = new (storage) stats_registry;  // same address, this thread's cache still names it
  EXPECT_EQ(second->local().acked.get(), 0u);
  EXPECT_EQ(second->threads(), 1u);
  second->~stats_registry();
}

TEST(PerfStats, AThreadAlternatingBetweenRegistriesKeepsOneEntryInEach) {
  stats_registry r1, r2;
  thread_stats& s1 = r1.local();
  thread_stats& s2 = r2.local();
  EXPECT_EQ(&r1.local(), &s1);
  EXPECT_EQ(&r2.local(), &s2);
  EXPECT_EQ(r1.threads(), 1u);
  EXPECT_EQ(r2.threads(), 1u);
}

TEST(PerfStats, MergeSumsEveryThreadsCountersHistogramAndLog) {
  stats_registry reg(/*log_latencies=*/true);
  constexpr int threads = 4;
  constexpr std::uint64_t per_thread = 10000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&reg, t] {
      thread_stats& s = reg.local();
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        s.sent.add(1);
        // Latencies 1..40000 over all threads, each once.
        const std::uint64_t latency = static_cast<std::uint64_t>(t) * per_thread + i + 1;
        s.on_ack(latency, 100, /*send_stamp=*/latency * 10);
      }
    });
  }
  for (auto& t : ts) t.join();
  const stats_totals tot = reg.totals();
  EXPECT_EQ(tot.sent, threads * per_thread);
  EXPECT_EQ(tot.acked, threads * per_thread);
  EXPECT_EQ(tot.acked_bytes, threads * per_thread * 100);
  const latency_histogram h = reg.merged_latency();
  EXPECT_EQ(h.count(), threads * per_thread);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), threads * per_thread);
  EXPECT_DOUBLE_EQ(h.mean(), (threads * per_thread + 1) / 2.0);
  const double p50 = static_cast<double>(h.value_at_percentile(50));
  EXPECT_NEAR(p50, 20000.0, 20000.0 * h.max_relative_error());
  auto rows = reg.merged_latency_log();
  ASSERT_EQ(rows.size(), threads * per_thread);
  std::sort(rows.begin(), rows.end());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].second, i + 1);
    EXPECT_EQ(rows[i].first, (i + 1) * 10);
  }
}

TEST(PerfStats, NoLatencyLogUnlessAsked) {
  stats_registry reg;
  reg.local().on_ack(5, 1, 1);
  EXPECT_TRUE(reg.merged_latency_log().empty());
  EXPECT_EQ(reg.merged_latency().count(), 1u);
}

// The progress reporter reads while the writers write: every value it sees
// is one the writer stored (never torn, never decreasing), and the final sum
// is exact.
TEST(PerfStats, LiveTotalsAreMonotonicWhileWritersRun) {
  stats_registry reg;
  std::atomic<bool> done{false};
  constexpr std::uint64_t n = 200000;
  std::vector<std::thread> ts;
  for (int t = 0; t < 2; ++t) {
    ts.emplace_back([&reg] {
      thread_stats& s = reg.local();
      for (std::uint64_t i = 0; i < n; ++i) s.on_ack(1, 3, 0);
    });
  }
  std::thread reader([&] {
    std::uint64_t last = 0;
    while (!done.load()) {
      const stats_totals t = reg.totals();
      EXPECT_GE(t.acked, last);
      EXPECT_LE(t.acked, 2 * n);
      last = t.acked;
    }
  });
  for (auto& t : ts) t.join();
  done.store(true);
  reader.join();
  EXPECT_EQ(reg.totals().acked, 2 * n);
  EXPECT_EQ(reg.totals().acked_bytes, 6 * n);
}

}  // namespace
}  // namespace kprod::cli
