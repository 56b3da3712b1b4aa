// tick_clock.h - latency stamps for the load generators (`kprod perf` and
// bench/rdkafka_perf, which must stamp identically).
//
// Why: a steady_clock read costs ~21 ns on the benchmark VM (vDSO, with its
// seqlock and scaling), and every record takes two of them (before the send,
// in the delivery callback). At ~0.2 us of producer CPU per record that was
// a sixth of the measured cost, billed to both clients alike. A raw rdtsc is
// ~9 ns. It is only a clock if the TSC is invariant (constant rate in every
// P/C-state, cpuid 0x80000007 EDX bit 8) and the kernel trusts it across
// CPUs (clocksource "tsc": it checked the TSCs are synchronised, or it would
// have fallen back to hpet/acpi_pm). Otherwise stamps are steady_clock
// nanoseconds, exactly the old behaviour.
//
// Ticks -> ns: the ratio of ticks to steady_clock ns between two paired
// readings, one at the start of the run and one at the end. No calibration
// sleep; over a run of milliseconds or more the pairing error (tens of ns)
// is far below the histogram's 0.39%. In the steady mode the ratio is exactly 1.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

namespace kprod::cli {

inline std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The decision, separated from the probing so that it can be tested.
inline bool tsc_usable(bool invariant_tsc, std::string_view clocksource) noexcept {
  while (!clocksource.empty() && (clocksource.back() == '\n' || clocksource.back() == ' ')) {
    clocksource.remove_suffix(1);
  }
  return invariant_tsc && clocksource == "tsc";
}

inline bool cpu_has_invariant_tsc() noexcept {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000007u) return false;
  if (!__get_cpuid(0x80000007u, &a, &b, &c, &d)) return false;
  return (d & (1u << 8)) != 0;
#else
  return false;
#endif
}

inline std::string current_clocksource() {
  std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string s;
  std::getline(f, s);
  return s;
}

// One paired reading of both clocks. The tick read is the midpoint of two
// around the steady read, so a preemption inside the pair shows up as a wide
// bracket rather than a skewed pair; take_pair() retries a few times for a
// narrow one.
struct clock_pair {
  std::uint64_t ticks = 0;
  std::int64_t ns = 0;
};

// Converts tick counts (differences) to nanoseconds over one run.
struct tick_scale {
  clock_pair start;
  clock_pair end;
  bool ticks_are_ns = true;

  double ns_per_tick() const noexcept {
    if (ticks_are_ns) return 1.0;
    // A degenerate span (no time passed, or clocks disagreeing about its
    // sign) has no ratio to offer; 1 keeps the numbers finite.
    if (end.ticks <= start.ticks || end.ns <= start.ns) return 1.0;
    return static_cast<double>(end.ns - start.ns) / static_cast<double>(end.ticks - start.ticks);
  }
  double to_ns(double ticks) const noexcept { return ticks * ns_per_tick(); }
  // A stamp taken during the run, in ns since start.ns (for --latency-log).
  std::int64_t since_start_ns(std::uint64_t stamp) const noexcept {
    if (ticks_are_ns) return static_cast<std::int64_t>(stamp) - start.ns;
    return static_cast<std::int64_t>(
        static_cast<double>(static_cast<std::int64_t>(stamp - start.ticks)) * ns_per_tick());
  }
};

class tick_clock {
 public:
  // prefer_tsc = false forces steady ns (paced runs compute due times in ns).
  explicit tick_clock(bool prefer_tsc = true)
      : tsc_(prefer_tsc && tsc_usable(cpu_has_invariant_tsc(), current_clocksource())) {}

  bool uses_tsc() const noexcept { return tsc_; }

  std::uint64_t now() const noexcept {
#if defined(__x86_64__)
    if (tsc_) return __rdtsc();
#endif
    return static_cast<std::uint64_t>(steady_now_ns());
  }

  clock_pair take_pair() const noexcept {
    if (!tsc_) {
      const std::int64_t ns = steady_now_ns();
      return {static_cast<std::uint64_t>(ns), ns};
    }
    clock_pair best;
    std::uint64_t best_width = ~std::uint64_t{0};
    for (int i = 0; i < 5; ++i) {
      const std::uint64_t t0 = now();
      const std::int64_t ns = steady_now_ns();
      const std::uint64_t t1 = now();
      if (t1 - t0 < best_width) {
        best_width = t1 - t0;
        best = {t0 + (t1 - t0) / 2, ns};
      }
    }
    return best;
  }

  tick_scale begin_run() const noexcept { return {take_pair(), {}, !tsc_}; }
  void end_run(tick_scale& s) const noexcept { s.end = take_pair(); }

 private:
  bool tsc_;
};

}  // namespace kprod::cli
