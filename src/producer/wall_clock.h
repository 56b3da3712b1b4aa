// wall_clock_ms(): the wall clock in whole milliseconds, for record
// CreateTime stamps, without a clock_gettime per call.
//
// The rule, and why it is exact: each thread caches the current millisecond
// and the TSC value by which the next millisecond boundary can at the
// earliest be due. While __rdtsc() is below that value the boundary has not
// passed, so the cached value is what system_clock would give (truncated to
// ms); otherwise the thread reads CLOCK_REALTIME again. "At the earliest" is
// what makes it exact rather than approximate:
//  - the TSC distance to the boundary is computed from the TSC read *before*
//    the clock read, with a tick rate that is a lower bound (ticks observed
//    between two CLOCK_MONOTONIC reads, counting only the ticks certainly
//    between them, minus 1/512 for NTP slewing, which is at most 500 ppm),
//    and the last `guard_ns` (2 us) before the boundary are never cached
//    (rdtsc is not ordered with earlier instructions; residual TSC skew
//    between cores). So the cache is refreshed at or before the boundary,
//    never after.
//  - the rate comes from CLOCK_MONOTONIC, which is slewed like REALTIME but
//    never stepped, so an NTP step cannot spoil it; a step itself is picked
//    up at the next refresh, i.e. within 1 ms.
//  - a TSC below the cached base (migration to a core whose TSC is behind,
//    TSC reset on resume) fails the unsigned range check and refreshes; a
//    thread that slept long sees a TSC far past the boundary and refreshes.
//  - no rate known yet (the first ~10 ms of the process): every call reads
//    the clock. No calibration sleep.
// Guard rails: the TSC path is used only on x86-64 with an invariant TSC
// (CPUID 0x80000007 EDX bit 8) and when the kernel's clocksource is "tsc"
// (then the kernel itself trusts the TSC across cores, and the vDSO's
// clock_gettime is a TSC read too). Otherwise every call is a plain
// clock_gettime(CLOCK_REALTIME). The state is per thread; the only shared
// datum is the process-wide rate estimate (an atomic, written rarely).
#pragma once

#include <cstdint>

namespace kprod::producer_detail {

namespace wall_clock_detail {

// Never cache the last guard_ns before a millisecond boundary.
inline constexpr std::int64_t guard_ns = 2000;
// The minimum CLOCK_MONOTONIC interval over which a rate is estimated.
inline constexpr std::int64_t min_estimate_ns = 10'000'000;

// The cache itself, separated from the clocks so tests can drive it with
// made-up readings. rate_fp is TSC ticks per ns in 32.32 fixed point.
struct ms_cache {
  std::uint64_t base_tsc = 0;  // TSC read just before the clock reading
  std::uint64_t span = 0;      // ticks from base_tsc certainly before the next ms
  std::int64_t ms = 0;

  // True while `tsc` is certainly in the cached millisecond. Unsigned: a TSC
  // below base_tsc wraps to a huge distance and fails too.
  bool fresh(std::uint64_t tsc) const noexcept { return tsc - base_tsc < span; }

  // A CLOCK_REALTIME reading (ns since the epoch) taken after TSC value t0.
  // rate_fp == 0 (unknown) caches nothing.
  void set(std::int64_t realtime_ns, std::uint64_t t0, std::uint64_t rate_fp) noexcept;
};

// A lower bound of the TSC rate (32.32 ticks/ns, already reduced by the slew
// allowance) from two CLOCK_MONOTONIC readings: the first finished before TSC
// a_after, the second started after TSC b_before. 0 if nothing can be said.
std::uint64_t rate_lower_bound(std::uint64_t a_after, std::int64_t mono_a, std::uint64_t b_before,
                               std::int64_t mono_b) noexcept;

// Test hooks. force_fallback(true) makes every thread use plain
// clock_gettime from its next refresh on (the calling thread at once);
// false re-enables detection. tsc_in_use() says whether the TSC path is
// enabled for the process; thread_refreshes() counts the calling thread's
// clock reads through wall_clock_ms().
void force_fallback(bool on) noexcept;
bool tsc_in_use() noexcept;
std::uint64_t thread_refreshes() noexcept;
// The process-wide rate estimate (0 while unknown).
std::uint64_t rate_estimate() noexcept;

// The calling thread's cache (span 0: nothing cached), and the slow path:
// reads the clocks and refreshes the cache.
extern thread_local ms_cache t_cache;
std::int64_t refresh_this_thread() noexcept;

}  // namespace wall_clock_detail
// Inline: the common case is one rdtsc and a compare (an out-of-line call
// was ~3% of a 100-byte record's CPU).
inline std::int64_t wall_clock_ms() noexcept {
#if defined(__x86_64__)
  const wall_clock_detail::ms_cache& c = wall_clock_detail::t_cache;
  // span == 0: nothing cached (fallback, no rate yet, inside the guard): skip the rdtsc.
  if (c.span != 0 && c.fresh(__builtin_ia32_rdtsc())) return c.ms;
#endif
  return wall_clock_detail::refresh_this_thread();
}

}  // namespace kprod::producer_detail
