// connections.max.idle.ms against the in-process fake broker.
#include <gtest/gtest.h>

#include <thread>

#include "fake/producer_harness.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

TEST(FakeBrokerIdle, IdleConnectionsAreClosedAndReopenedOnDemand) {
  fake_cluster fc({.brokers = 1});
  fc.create_topic("t", 1);
  auto p = producer::create(fake_props(fc, {{"connections.max.idle.ms", "300"}}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  delivery_tracker t;
  t.send(**p, "t", 0, 10);
  ASSERT_TRUE(t.wait_all(10s));
  // Nothing to do for longer than connections.max.idle.ms: the client closes.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (fc.connections_closed_by_client() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // polling an observable, not standing in for synchronisation
  }
  EXPECT_GE(fc.connections_closed_by_client(), 1u);
  // And the producer still works: it reconnects when it has records again.
  t.send(**p, "t", 10, 10);
  ASSERT_TRUE(t.wait_all(10s));
  ASSERT_TRUE((*p)->close(5s).ok());
  t.expect_exactly_one_completion_each();
  t.expect_all_ok();
  expect_log_holds(fc, "t", 20);
}

}  // namespace
}  // namespace kprod::test
