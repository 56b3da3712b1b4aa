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
// It also measures the wake round trip: the same two threads hand a token
// back and forth through two eventfds, each blocking in read() until the
// other writes, so every hand-off wakes a sleeping thread on the other CPU
// (as an application thread waking the I/O thread, or a broker's response
// waking it). Paced latency runs follow this one: on a machine where it was
// ~56 us (6 us with both threads on one CPU), the ack p99 of 10k records/s
// at linger 0 was 2-15 ms for both clients, where it had been 0.2-1.2 ms.
//
// Prints one JSON object: {"round_trip_ns": <median>, "wake_round_trip_us":
// <median>, "cpus": [a, b]}, or {"round_trip_ns": null} with fewer than two
// CPUs allowed.
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
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

// `n` blocking hand-offs there and back through two eventfds between the
// calling thread (on `a`) and a helper (on `b`); microseconds per round
// trip, or a negative value if eventfds are not available.
double wake_round_trip_us(int a, int b, int n) {
  const int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
  if (ping < 0 || pong < 0) {
    if (ping >= 0) close(ping);
    if (pong >= 0) close(pong);
    return -1;
  }
  auto hand = [](int fd) {
    const std::uint64_t one = 1;
    return write(fd, &one, sizeof one) == static_cast<ssize_t>(sizeof one);
  };
  auto wait = [](int fd) {
    std::uint64_t v = 0;
    return read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v);
  };
  std::thread helper([&] {
    pin(b);
    for (int i = 0; i < n; ++i) {
      if (!wait(ping) || !hand(pong)) return;
    }
  });
  pin(a);
  bool ok = true;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n && ok; ++i) ok = hand(ping) && wait(pong);
  const auto t1 = std::chrono::steady_clock::now();
  if (!ok) hand(ping);  // let a helper blocked in read() finish
  helper.join();
  close(ping);
  close(pong);
  return ok ? std::chrono::duration<double, std::micro>(t1 - t0).count() / n : -1;
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
  // ~3 x 300 blocking round trips: 20-60 ms where a wake costs 20-60 us.
  std::vector<double> wakes;
  for (int r = 0; r < 3; ++r) wakes.push_back(wake_round_trip_us(cpus[0], cpus[1], 300));
  std::sort(wakes.begin(), wakes.end());
  const double wake = wakes[wakes.size() / 2];
  char wake_text[32] = "null";
  if (wake >= 0) std::snprintf(wake_text, sizeof wake_text, "%.1f", wake);
  std::printf("{\"round_trip_ns\": %.1f, \"wake_round_trip_us\": %s, \"cpus\": [%d, %d]}\n",
              rounds[rounds.size() / 2], wake_text, cpus[0], cpus[1]);
  return 0;
}
