// timer_slack.h - paced load generators sleep to the microsecond.
//
// Linux lets a sleep of a thread at the default timer slack end up to 50 us
// late (the kernel groups timer expiries). A paced run at 10,000 records/s
// sleeps ~100 us before each record, so the slack alone could make a record
// half an interval late, and latency counts from when it was due: that
// lateness is the load generator's, not the client's, and it is added to
// both clients alike. Both load generators (kprod perf, bench/rdkafka_perf)
// call this in each thread that sends paced records.
#pragma once

#if defined(__linux__)
#include <sys/prctl.h>
#endif

namespace kprod::cli {

inline void use_least_timer_slack() noexcept {
#if defined(__linux__)
  (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // 1 ns: the least; 0 would mean "the default"
#endif
}

}  // namespace kprod::cli
