// Fault scenarios about time and broken responses: request timeouts with
// requests in flight, delivery timeouts in the queue and in flight (with
// their persistence statuses), malformed, truncated and bogus-length
// responses, throttling. 10,000 keyed records over 6 partitions on 3
// brokers each (support/scenario.h). Broker 2 leads partitions 1 and 4.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "support/scenario.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

TEST(Scenario, RequestTimeoutsWithFiveInFlightThenRecovery) {
  // Broker 1 answers in 40 ms, so up to 5 requests are in flight; then its
  // connection stops answering: every one of them times out, kprod
  // reconnects and resends them, in order.
  scenario_options o;
  o.setup_commands = {"rtt 1 40"};
  o.config = {{"request.timeout.ms", "1000"}};
  fault_rule silent = fault_rule::on_response(0, fault::go_silent());
  silent.broker = 0;
  o.steps.push_back(scenario_step::rule(3000, silent));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  ASSERT_EQ(r.rule_hits.size(), 1u);
  EXPECT_EQ(r.rule_hits[0], 1u);
  EXPECT_GE(r.audit.max_unacked, 2u) << "requests were pipelined";
  EXPECT_GT(r.audit.resends, 0u);
}

TEST(Scenario, DeliveryTimeoutWhileQueued) {
  // Broker 2 is down for 3.5 s, longer than delivery.timeout.ms: records of
  // partitions 1 and 4 expire in the queue (not persisted unless they had
  // been sent); everything else is delivered.
  scenario_options o;
  o.config = {{"delivery.timeout.ms", "2500"}, {"request.timeout.ms", "1000"}};
  o.steps.push_back(scenario_step::mock(3000, "down 2"));
  o.steps.push_back(scenario_step::mock(3000, "up 2").after(3500ms));
  o.outcome = expect::some_may_fail;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.failed, 0u);
  std::size_t not_persisted = 0;
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    if (rec.ok) continue;
    EXPECT_TRUE(rec.partition == 1 || rec.partition == 4) << "record " << i << " on partition " << rec.partition;
    EXPECT_EQ(rec.code, client_errc::delivery_timeout) << "record " << i << ": " << rec.message;
    not_persisted += rec.status == persistence::not_persisted;
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(not_persisted, 0u) << "records that never left the queue are not persisted";
}

TEST(Scenario, DeliveryTimeoutWithTheRequestInFlight) {
  // Broker 2 takes 4 s to answer: requests time out (1 s), are resent, and
  // the records expire in flight at delivery.timeout.ms: possibly persisted
  // (the mock did append them).
  scenario_options o;
  o.config = {{"delivery.timeout.ms", "2500"}, {"request.timeout.ms", "1000"}};
  o.steps.push_back(scenario_step::mock(3000, "rtt 2 4000"));
  o.steps.push_back(scenario_step::mock(3000, "rtt 2 0").after(3000ms));
  o.outcome = expect::some_may_fail;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  std::size_t possibly = 0;
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    if (rec.ok) continue;
    EXPECT_TRUE(rec.partition == 1 || rec.partition == 4) << "record " << i << " on partition " << rec.partition;
    EXPECT_EQ(rec.code, client_errc::delivery_timeout) << "record " << i << ": " << rec.message;
    possibly += rec.status == persistence::possibly_persisted;
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(possibly, 0u) << "records that expired in flight are possibly persisted";
}

TEST(Scenario, MalformedAndTruncatedResponses) {
  // A response cut short with a consistent length prefix (undecodable), and
  // one cut short before the connection closes: kprod drops the connection,
  // resends with the same sequences, delivers everything once.
  scenario_options o;
  fault_rule consistent = fault_rule::on_response(0, fault::truncate(6, true));
  consistent.times = 2;
  fault_rule cut = fault_rule::on_response(0, fault::truncate(10));
  cut.times = 2;
  o.steps.push_back(scenario_step::rule(2000, consistent));
  o.steps.push_back(scenario_step::rule(5000, cut));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  ASSERT_EQ(r.rule_hits.size(), 2u);
  EXPECT_EQ(r.rule_hits[0], 2u);
  EXPECT_EQ(r.rule_hits[1], 2u);
  EXPECT_GT(r.audit.resends, 0u);
}

TEST(Scenario, BogusResponseFrameLength) {
  // A size prefix of 2^31-1, then of -1 (the connection then goes silent):
  // kprod must drop the connection and resend, not wait or allocate.
  scenario_options o;
  o.config = {{"request.timeout.ms", "1000"}};
  o.steps.push_back(scenario_step::rule(2000, fault_rule::on_response(0, fault::bogus_length(0x7FFFFFFF))));
  o.steps.push_back(scenario_step::rule(5000, fault_rule::on_response(0, fault::bogus_length(-1))));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  ASSERT_EQ(r.rule_hits.size(), 2u);
  EXPECT_EQ(r.rule_hits[0], 1u);
  EXPECT_EQ(r.rule_hits[1], 1u);
}

TEST(Scenario, ThrottledResponsesAreHonoured) {
  // Three Produce responses of broker 1 carry throttle_time_ms=500 (KIP-219:
  // the client must not send to that broker meanwhile). Without throttling
  // Produce requests to broker 1 follow each other within a few ms while the
  // stream lasts.
  scenario_options o;
  auto times = std::make_shared<std::vector<std::chrono::steady_clock::time_point>>();
  auto mu = std::make_shared<std::mutex>();
  fault_rule watch = fault_rule::on_request(0, fault::delay(0ms));
  watch.broker = 0;
  watch.times = -1;
  watch.predicate = [times, mu](const frame_view&) {
    std::lock_guard lk(*mu);
    times->push_back(std::chrono::steady_clock::now());
    return false;
  };
  o.rules.push_back(watch);
  fault_rule thr = fault_rule::on_response(0, fault::rewrite_produce(std::nullopt, 500));
  thr.times = 3;
  thr.broker = 0;
  o.steps.push_back(scenario_step::rule(2000, thr));
  o.pace_every = 50;  // ~1 s of sending
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  ASSERT_EQ(r.rule_hits.size(), 2u);
  EXPECT_EQ(r.rule_hits[1], 3u);
  std::lock_guard lk(*mu);
  std::chrono::steady_clock::duration longest{0};
  for (std::size_t i = 1; i < times->size(); ++i) longest = std::max(longest, (*times)[i] - (*times)[i - 1]);
  EXPECT_GE(longest, 450ms) << "no pause after a throttled response (" << times->size() << " requests)";
}

}  // namespace
}  // namespace kprod::test
