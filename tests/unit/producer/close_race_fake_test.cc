// close() while other threads keep sending: every async_send still gets
// exactly one completion, and none arrives after close() returned.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "fake/producer_harness.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

TEST(FakeBrokerClose, CloseWhileThreadsSendCompletesEveryRecordExactlyOnce) {
  fake_cluster fc({.brokers = 2});
  fc.create_topic("t", 4);
  auto p = producer::create(fake_props(fc, {{"linger.ms", "1"}}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  constexpr int threads = 4;
  constexpr int per_thread = 20000;
  std::vector<std::atomic<int>> completions(threads * per_thread);
  std::atomic<int> initiated{0};
  std::atomic<bool> closed{false};
  std::atomic<int> after_close{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const int id = t * per_thread + i;
        const std::string v = "v" + std::to_string(id);
        record r{"t", std::nullopt, std::nullopt, bytes_view(v), {}, std::nullopt};
        (*p)->async_send(r, [&, id](delivery_report) {
          if (closed.load()) after_close.fetch_add(1);
          completions[static_cast<std::size_t>(id)].fetch_add(1);
        });
        initiated.fetch_add(1);
      }
    });
  }
  while (initiated.load() < threads * per_thread / 4) std::this_thread::yield();
  ASSERT_TRUE((*p)->close(0ms).ok());
  closed.store(true);
  for (auto& s : senders) s.join();
  // Sends after close() complete with producer_closed - on the caller's side
  // of close, so they may run after it returned; wait for them.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto all_done = [&] {
    for (auto& c : completions) {
      if (c.load() == 0) return false;
    }
    return true;
  };
  while (!all_done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  for (int id = 0; id < threads * per_thread; ++id) {
    ASSERT_EQ(completions[static_cast<std::size_t>(id)].load(), 1) << "record " << id;
  }
}

}  // namespace
}  // namespace kprod::test
