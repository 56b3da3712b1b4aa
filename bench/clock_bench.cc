// clock_bench - the record timestamp: system_clock::now() vs wall_clock_ms().
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <ctime>

#include "producer/wall_clock.h"

namespace {

namespace wc = kprod::producer_detail::wall_clock_detail;

// What accumulator.cc's now_ms() did before.
void BM_SystemClockMs(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
  }
}
BENCHMARK(BM_SystemClockMs);

// Tick-accurate only (ms of staleness): not usable for CreateTime, shown as
// the floor of what a kernel read can cost.
void BM_RealtimeCoarse(benchmark::State& state) {
  timespec ts;
  for (auto _ : state) {
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_RealtimeCoarse);

// The TSC cache (or its fallback where the TSC path is off). The first
// ~10 ms of the process read the clock on every call (no rate known yet);
// Google Benchmark's warm-up and iteration count make that negligible.
void BM_WallClockMs(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(kprod::producer_detail::wall_clock_ms());
  state.SetLabel(wc::tsc_in_use() ? "tsc" : "clock_gettime");
}
BENCHMARK(BM_WallClockMs);

// The forced fallback: clock_gettime(CLOCK_REALTIME) on every call.
void BM_WallClockMsFallback(benchmark::State& state) {
  wc::force_fallback(true);
  for (auto _ : state) benchmark::DoNotOptimize(kprod::producer_detail::wall_clock_ms());
  wc::force_fallback(false);
}
BENCHMARK(BM_WallClockMsFallback);

}  // namespace
