// core_latency - how long a cache line takes to go from one CPU to another
// and back, as bench/compare records it beside every run.
//
// Two threads, pinned to the first two CPUs this process may use, hand a
// counter back and forth through one cache line; the round trip is the
// median over several rounds. Why bench/compare wants it: on a shared VM the
// host moves the two vCPUs apart and together, and this round trip swings
// (60 to 400 ns on the machine the README's table comes from) within
// minutes. The workloads that move the most lines between cores - 600
// partitions, 8 sending threads - follow it (kprod: ~0.17 vs ~0.23 us per
// record at 600 partitions), while one thread on 6 partitions does not.
//
// Prints one JSON object: {"round_trip_ns": <median>, "cpus": [a, b]}, or
// {"round_trip_ns": null} with fewer than two CPUs allowed.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// One round of `n` round trips between the calling thread (on `a`) and a
// helper (on `b`); nanoseconds per round trip.
double round_trip_ns(int a, int b, int n) {
  alignas(64) std::atomic<int> turn{0};
  std::thread helper([&] {
    pin(b);
    for (int i = 0; i < n; ++i) {
      while (turn.load(std::memory_order_acquire) != 2 * i + 1) {
      }
      turn.store(2 * i + 2, std::memory_order_release);
    }
  });
  pin(a);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    turn.store(2 * i + 1, std::memory_order_release);
    while (turn.load(std::memory_order_acquire) != 2 * i + 2) {
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  helper.join();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
}

}  // namespace

int main() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c) {
      if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
    }
  }
  if (cpus.size() < 2) {
    std::printf("{\"round_trip_ns\": null}\n");
    return 0;
  }
  // ~10-60 ms in all: short beside the runs it is measured between.
  std::vector<double> rounds;
  for (int r = 0; r < 5; ++r) rounds.push_back(round_trip_ns(cpus[0], cpus[1], 20000));
  std::sort(rounds.begin(), rounds.end());
  std::printf("{\"round_trip_ns\": %.1f, \"cpus\": [%d, %d]}\n", rounds[rounds.size() / 2], cpus[0], cpus[1]);
  return 0;
}
