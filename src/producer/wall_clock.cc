#include "producer/wall_clock.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#define KP_WALL_CLOCK_TSC 1
#else
#define KP_WALL_CLOCK_TSC 0
#endif

namespace kprod::producer_detail {
namespace wall_clock_detail {

thread_local ms_cache t_cache;

namespace {

constexpr std::int64_t ns_per_ms = 1'000'000;

enum : int { mode_unknown = 0, mode_tsc = 1, mode_clock = 2 };
std::atomic<int> g_mode{mode_unknown};
// Best (largest) lower bound of the TSC rate seen by any thread; every
// candidate is a lower bound, so their maximum is one too.
std::atomic<std::uint64_t> g_rate_fp{0};

struct thread_state {
  // This thread's first CLOCK_MONOTONIC reading and the TSC just after it:
  // the far end of every rate estimate it makes (a long baseline makes the
  // bracketing error negligible).
  std::uint64_t anchor_tsc = 0;  // 0 = none
  std::int64_t anchor_mono = 0;
  // Estimate again once this many ticks passed since the anchor (doubles
  // after each estimate; 0 = at every refresh until the first one).
  std::uint64_t estimate_at = 0;
  std::uint64_t refreshes = 0;
};
// Trivially constructible and destructible: no TLS guard on the fast path.
thread_local thread_state t_state;

std::int64_t read_ns(clockid_t id) noexcept {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Like duration_cast<milliseconds>(system_clock::now()...): truncation.
std::int64_t realtime_ms() noexcept { return read_ns(CLOCK_REALTIME) / ns_per_ms; }

int detect_mode() noexcept {
  int mode = mode_clock;
#if KP_WALL_CLOCK_TSC
  unsigned a = 0, b = 0, c = 0, d = 0;
  // __get_cpuid checks that the extended leaf exists.
  const bool invariant = __get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8)) != 0;
  bool kernel_tsc = false;
  if (std::FILE* f = std::fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r")) {
    char buf[32] = {};
    if (std::fgets(buf, sizeof buf, f)) kernel_tsc = std::strncmp(buf, "tsc", 3) == 0 && (buf[3] == '\n' || !buf[3]);
    std::fclose(f);
  }
  if (invariant && kernel_tsc) mode = mode_tsc;
#endif
  int expected = mode_unknown;
  // A concurrent detection finds the same; a forced mode wins.
  return g_mode.compare_exchange_strong(expected, mode, std::memory_order_relaxed) ? mode : expected;
}

void publish_rate(std::uint64_t r) noexcept {
  std::uint64_t cur = g_rate_fp.load(std::memory_order_relaxed);
  while (r > cur && !g_rate_fp.compare_exchange_weak(cur, r, std::memory_order_relaxed)) {
  }
}

[[gnu::noinline]] std::int64_t refresh(thread_state& s) noexcept {
  ++s.refreshes;
  int mode = g_mode.load(std::memory_order_relaxed);
  if (mode == mode_unknown) mode = detect_mode();
  if (mode != mode_tsc) {
    t_cache.span = 0;
    return realtime_ms();
  }
#if KP_WALL_CLOCK_TSC
  const std::uint64_t t0 = __rdtsc();
  const std::int64_t real_ns = read_ns(CLOCK_REALTIME);
  if (s.anchor_tsc == 0 || t0 <= s.anchor_tsc) {
    // First refresh, or the TSC went back (another core, resume): re-anchor.
    s.anchor_mono = read_ns(CLOCK_MONOTONIC);
    s.anchor_tsc = __rdtsc();
    s.estimate_at = 0;
  } else if (t0 - s.anchor_tsc >= s.estimate_at) {
    // t0 was read before this MONOTONIC reading started.
    const std::int64_t mono = read_ns(CLOCK_MONOTONIC);
    if (mono - s.anchor_mono >= min_estimate_ns) {
      publish_rate(rate_lower_bound(s.anchor_tsc, s.anchor_mono, t0, mono));
      s.estimate_at = 2 * (t0 - s.anchor_tsc);
    }
  }
  t_cache.set(real_ns, t0, g_rate_fp.load(std::memory_order_relaxed));
  return t_cache.ms;
#else
  return realtime_ms();
#endif
}

}  // namespace

void ms_cache::set(std::int64_t realtime_ns, std::uint64_t t0, std::uint64_t rate_fp) noexcept {
  ms = realtime_ns / ns_per_ms;
  base_tsc = t0;
  span = 0;
  if (realtime_ns < 0 || rate_fp == 0) return;
  const std::int64_t usable_ns = (ms + 1) * ns_per_ms - realtime_ns - guard_ns;
  if (usable_ns <= 0) return;
  // usable_ns < 2^20 and rate_fp < 2^40 (rate_lower_bound's cap): no overflow.
  span = (static_cast<std::uint64_t>(usable_ns) * rate_fp) >> 32;
}

std::uint64_t rate_lower_bound(std::uint64_t a_after, std::int64_t mono_a, std::uint64_t b_before,
                               std::int64_t mono_b) noexcept {
  if (b_before <= a_after || mono_b <= mono_a) return 0;
  // Ticks certainly between the readings / ns between them, less 1/512
  // (~1950 ppm): NTP slews REALTIME and MONOTONIC alike by at most 500 ppm,
  // so the rate now may differ from the interval's average by up to 1000 ppm.
  const double ticks_per_ns =
      static_cast<double>(b_before - a_after) / static_cast<double>(mono_b - mono_a) * (1.0 - 1.0 / 512);
  const double fp = ticks_per_ns * 4294967296.0;
  if (!(fp >= 1.0) || fp >= 1099511627776.0) return 0;  // below 2^-32 or 256+ ticks/ns: nonsense
  return static_cast<std::uint64_t>(fp);
}

void force_fallback(bool on) noexcept {
  g_mode.store(on ? mode_clock : mode_unknown, std::memory_order_relaxed);
  t_state = thread_state{};
  t_cache = ms_cache{};
}

bool tsc_in_use() noexcept {
  const int mode = g_mode.load(std::memory_order_relaxed);
  return (mode == mode_unknown ? detect_mode() : mode) == mode_tsc;
}

std::uint64_t thread_refreshes() noexcept { return t_state.refreshes; }

std::uint64_t rate_estimate() noexcept { return g_rate_fp.load(std::memory_order_relaxed); }

}  // namespace wall_clock_detail

std::int64_t wall_clock_detail::refresh_this_thread() noexcept { return refresh(t_state); }

}  // namespace kprod::producer_detail
