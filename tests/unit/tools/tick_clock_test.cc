// The load generators' latency stamps: when rdtsc is trusted, the ticks -> ns
// ratio over a run, and the steady fallback being exactly nanoseconds.
#include "../../../tools/cli/tick_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <thread>

namespace kprod::cli {
namespace {

TEST(TickClock, TscOnlyWhenInvariantAndTheKernelClocksourceIsTsc) {
  EXPECT_TRUE(tsc_usable(true, "tsc\n"));
  EXPECT_TRUE(tsc_usable(true, "tsc"));
  EXPECT_FALSE(tsc_usable(false, "tsc\n"));
  EXPECT_FALSE(tsc_usable(true, "hpet\n"));
  EXPECT_FALSE(tsc_usable(true, "kvm-clock\n"));
  EXPECT_FALSE(tsc_usable(true, "tsc-early\n"));  // not yet verified by the kernel
  EXPECT_FALSE(tsc_usable(true, ""));             // no sysfs
}

TEST(TickClock, SteadyFallbackTicksAreNanosecondsExactly) {
  const tick_clock clk(/*prefer_tsc=*/false);
  EXPECT_FALSE(clk.uses_tsc());
  tick_scale s = clk.begin_run();
  EXPECT_EQ(static_cast<std::int64_t>(s.start.ticks), s.start.ns);
  const std::uint64_t t = clk.now();
  clk.end_run(s);
  EXPECT_EQ(s.ns_per_tick(), 1.0);
  EXPECT_EQ(s.to_ns(12345.0), 12345.0);
  // --latency-log rows: ns since the start, integer arithmetic.
  EXPECT_EQ(s.since_start_ns(t), static_cast<std::int64_t>(t) - s.start.ns);
  EXPECT_EQ(s.since_start_ns(static_cast<std::uint64_t>(s.start.ns) + 7'000'123), 7'000'123);
}

TEST(TickClock, RatioIsNanosecondsOverTicksOfTheRun) {
  tick_scale s;
  s.ticks_are_ns = false;
  s.start = {1'000'000, 500};
  s.end = {1'000'000 + 3'000'000'000ull, 500 + 1'000'000'000};  // a 3 GHz counter over one second
  EXPECT_DOUBLE_EQ(s.ns_per_tick(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.to_ns(3000.0), 1000.0);
  EXPECT_EQ(s.since_start_ns(1'000'000 + 3'000'000), 1'000'000);
  EXPECT_EQ(s.since_start_ns(1'000'000), 0);
  // A stamp just before the start pair (another thread) is negative, not huge.
  EXPECT_LT(s.since_start_ns(999'970), 0);
}

TEST(TickClock, DegenerateSpanKeepsNumbersFinite) {
  tick_scale s;
  s.ticks_are_ns = false;
  s.start = {100, 100};
  s.end = {100, 200};  // no ticks passed
  EXPECT_EQ(s.ns_per_tick(), 1.0);
  s.end = {200, 50};  // steady went backwards: impossible, but no negative ratio
  EXPECT_EQ(s.ns_per_tick(), 1.0);
}

// On the real clock (whichever mode this machine gets): a span measured in
// ticks and converted agrees with steady_clock over the same span.
TEST(TickClock, ConvertedSpanAgreesWithSteadyClock) {
  const tick_clock clk;
  tick_scale s = clk.begin_run();
  const std::uint64_t t0 = clk.now();
  const std::int64_t n0 = steady_now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::uint64_t t1 = clk.now();
  const std::int64_t n1 = steady_now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  clk.end_run(s);
  const double measured = s.to_ns(static_cast<double>(t1 - t0));
  const double steady = static_cast<double>(n1 - n0);
  // Pairing error: a few us at most, even with a preemption between reads.
  EXPECT_NEAR(measured, steady, 0.01 * steady) << (clk.uses_tsc() ? "tsc" : "steady");
  if (clk.uses_tsc()) {
    // Any x86 TSC of this century runs between 0.5 and 10 GHz.
    EXPECT_GT(s.ns_per_tick(), 0.1);
    EXPECT_LT(s.ns_per_tick(), 2.0);
  } else {
    EXPECT_EQ(s.ns_per_tick(), 1.0);
  }
}

}  // namespace
}  // namespace kprod::cli
