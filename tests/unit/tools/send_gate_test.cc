// completion_gate: a waiter wakes at the first completion after the count it
// saw (or at its timeout), and completions are counted without loss.
#include "../../../tools/cli/send_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace kprod::cli {
namespace {

using namespace std::chrono_literals;

TEST(CompletionGate, CountsEveryCompletionOfTheIoThread) {
  completion_gate g;
  std::thread io([&] {
    for (int i = 0; i < 100000; ++i) g.on_completion();
  });
  io.join();
  EXPECT_EQ(g.completions(), 100000u);
}

TEST(CompletionGate, ReturnsAtOnceWhenTheCompletionAlreadyHappened) {
  completion_gate g;
  g.on_completion();
  const auto t0 = std::chrono::steady_clock::now();
  g.wait_after(0, 10s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(CompletionGate, AWaiterWakesAtALaterCompletion) {
  completion_gate g;
  std::atomic<bool> woke{false};
  std::thread waiter([&] {
    const auto seen = g.completions();
    // A long timeout, re-entered until the completion is seen: only a
    // completion ends this loop, and a missed wake-up costs one slice.
    while (g.completions() <= seen) g.wait_after(seen, completion_gate::wait_slice);
    woke = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(woke.load());
  g.on_completion();
  waiter.join();
  EXPECT_TRUE(woke.load());
}

TEST(CompletionGate, ANotifiedWaiterDoesNotSleepItsWholeTimeout) {
  // One completion per millisecond from an "I/O thread": each wait for the
  // next one must end long before its 10 s timeout.
  completion_gate g;
  std::atomic<bool> stop{false};
  std::thread io([&] {
    while (!stop) {
      g.on_completion();
      std::this_thread::sleep_for(1ms);
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) g.wait_after(g.completions(), 10s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  stop = true;
  io.join();
}

}  // namespace
}  // namespace kprod::cli
