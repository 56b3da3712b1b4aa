#include "producer/wall_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace kprod::producer_detail {
namespace {

namespace wc = wall_clock_detail;

std::int64_t system_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct run_result {
  std::uint64_t calls = 0;
  std::uint64_t outside = 0;       // values outside [system before, system after]
  std::uint64_t backwards = 0;     // values below the previous one
  std::int64_t first_bad = 0, first_bad_before = 0, first_bad_after = 0;
};

// Calls wall_clock_ms() for `ms` milliseconds; every value must lie between
// system_clock read just before and just after the call. Only sides of a
// wall-clock step could break that; none is expected during a unit test.
run_result run_for(std::int64_t ms, int tight_calls_between_checks) {
  run_result r;
  std::int64_t prev = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    const std::int64_t before = system_ms();
    const std::int64_t v = wall_clock_ms();
    const std::int64_t after = system_ms();
    ++r.calls;
    if (v < before || v > after) {
      if (r.outside++ == 0) r.first_bad = v, r.first_bad_before = before, r.first_bad_after = after;
    }
    if (v < prev) ++r.backwards;
    prev = v;
    // Also calls back to back (the cached path's common case), checked only
    // for monotonicity and against the value after.
    for (int i = 0; i < tight_calls_between_checks; ++i) {
      const std::int64_t w = wall_clock_ms();
      ++r.calls;
      if (w < prev) ++r.backwards;
      prev = w;
    }
    if (prev > system_ms()) ++r.outside;
  }
  return r;
}

TEST(WallClock, EqualsSystemClockTruncatedToMs) {
  wc::force_fallback(false);
  const run_result r = run_for(200, 8);
  EXPECT_EQ(r.outside, 0u) << "first bad " << r.first_bad << " not in [" << r.first_bad_before << ", "
                           << r.first_bad_after << "]";
  EXPECT_EQ(r.backwards, 0u);
  EXPECT_GT(r.calls, 1000u);
  if (wc::tsc_in_use()) {
    // 200 ms is far beyond the 10 ms a first rate estimate needs, and the
    // cache is then refreshed about once per millisecond, not per call.
    EXPECT_GT(wc::rate_estimate(), 0u);
    EXPECT_LT(wc::thread_refreshes() * 4, r.calls);
  } else {
    GTEST_LOG_(INFO) << "TSC path not in use on this machine: only the fallback was exercised";
  }
}

TEST(WallClock, FallbackBehavesIdentically) {
  wc::force_fallback(true);
  EXPECT_FALSE(wc::tsc_in_use());
  const run_result r = run_for(100, 8);
  const std::uint64_t refreshes = wc::thread_refreshes();
  wc::force_fallback(false);
  EXPECT_EQ(r.outside, 0u) << "first bad " << r.first_bad << " not in [" << r.first_bad_before << ", "
                           << r.first_bad_after << "]";
  EXPECT_EQ(r.backwards, 0u);
  EXPECT_EQ(refreshes, r.calls);  // every call read the clock
}

// Threads each learn their own anchor and publish into the shared rate at
// once; every thread's values must still be exact and monotone.
TEST(WallClock, ExactOnSeveralThreadsAtOnce) {
  wc::force_fallback(false);
  std::vector<run_result> results(3);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&r] { r = run_for(100, 4); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    EXPECT_EQ(r.outside, 0u) << "first bad " << r.first_bad << " not in [" << r.first_bad_before << ", "
                             << r.first_bad_after << "]";
    EXPECT_EQ(r.backwards, 0u);
  }
}

// Deterministic: the cache with made-up readings at 3 ticks/ns.
constexpr std::uint64_t rate_3ghz = 3ull << 32;

TEST(WallClockCache, CachesUntilJustBeforeTheBoundary) {
  wc::ms_cache c;
  const std::int64_t ms = 1'700'000'000'123;
  c.set(ms * 1'000'000 + 400'000, 1'000'000, rate_3ghz);  // 600 us left in this ms
  EXPECT_EQ(c.ms, ms);
  EXPECT_TRUE(c.fresh(1'000'000));
  EXPECT_TRUE(c.fresh(1'000'000 + 3 * (600'000 - wc::guard_ns) - 1));
  EXPECT_FALSE(c.fresh(1'000'000 + 3 * (600'000 - wc::guard_ns)));
  EXPECT_FALSE(c.fresh(1'000'000 + 3 * 600'000));  // the boundary itself
  EXPECT_FALSE(c.fresh(1'000'000 + 3'000'000'000ull));  // long sleep
  EXPECT_FALSE(c.fresh(999'999));                       // TSC went back
}

TEST(WallClockCache, NothingCachedWithoutRateOrInsideTheGuard) {
  wc::ms_cache c;
  c.set(5'000'000'000 + 100, 77, 0);
  EXPECT_EQ(c.ms, 5'000);
  EXPECT_FALSE(c.fresh(77));
  c.set(5'000'000'000 + 1'000'000 - wc::guard_ns, 77, rate_3ghz);  // exactly guard_ns left
  EXPECT_EQ(c.ms, 5'000);
  EXPECT_FALSE(c.fresh(77));
  c.set(5'000'000'000 + 1'000'000 - wc::guard_ns - 1, 77, rate_3ghz);  // 1 ns usable: 3 ticks
  EXPECT_TRUE(c.fresh(79));
  EXPECT_FALSE(c.fresh(80));
  c.set(5'000'000'000, 77, rate_3ghz);  // exactly on a boundary: the new ms
  EXPECT_EQ(c.ms, 5'000);
  EXPECT_TRUE(c.fresh(77 + 3 * (1'000'000 - wc::guard_ns) - 1));
}

TEST(WallClockCache, RateIsALowerBound) {
  // 30M ticks certainly between readings 10 ms apart: 3 ticks/ns, less 1/512.
  const std::uint64_t r = wc::rate_lower_bound(1'000, 0, 30'001'000, 10'000'000);
  EXPECT_LT(r, rate_3ghz);
  EXPECT_GT(r, rate_3ghz - rate_3ghz / 256);
  // A slower true rate than measured would be unsafe; a lower bound never
  // exceeds ticks/ns measured.
  EXPECT_LE(r * 10'000'000 >> 32, 30'000'000u);
  // Nonsense: TSC or MONOTONIC not moving forward.
  EXPECT_EQ(wc::rate_lower_bound(5, 0, 5, 10'000'000), 0u);
  EXPECT_EQ(wc::rate_lower_bound(5, 0, 4, 10'000'000), 0u);
  EXPECT_EQ(wc::rate_lower_bound(1, 10, 100, 10), 0u);
}

TEST(WallClockCache, ConservativeRateRefreshesBeforeTheBoundary) {
  // With the rate estimated as above, the cached span ends before the
  // true boundary at the true 3 ticks/ns, from any point in the ms.
  const std::uint64_t r = wc::rate_lower_bound(1'000, 0, 30'001'000, 10'000'000);
  wc::ms_cache c;
  for (std::int64_t into = 0; into < 1'000'000; into += 997) {
    c.set(42 * 1'000'000 + into, 10, r);
    const std::uint64_t boundary_tsc = 10 + 3 * static_cast<std::uint64_t>(1'000'000 - into);
    ASSERT_FALSE(c.fresh(boundary_tsc)) << into;
    ASSERT_FALSE(c.fresh(boundary_tsc - 3 * wc::guard_ns)) << into;
  }
}

}  // namespace
}  // namespace kprod::producer_detail
