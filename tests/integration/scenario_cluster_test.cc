// Fault scenarios of the idempotent producer: the cluster changes under it
// (leaders move or vanish, a broker goes down, the topic is missing from
// metadata, a broker goes half-open, API versions are limited). Each runs
// 10,000 keyed records over 6 partitions on 3 brokers through the fault
// proxy and checks completions, persistence statuses, the log read back and
// the sequence auditor (support/scenario.h).
//
// Partition p is led by broker p % 3 + 1; proxy broker index b is broker b + 1.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "support/scenario.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

TEST(Scenario, LeaderMovesWithBatchesInFlight) {
  scenario_options o;
  o.setup_commands = {"rtt -1 20"};  // answers take 20 ms: requests pile up in flight
  for (int p = 0; p < 3; ++p) o.steps.push_back(scenario_step::mock(3000, "leader sc " + std::to_string(p) + " " + std::to_string((p + 1) % 3 + 1)));
  for (int p = 3; p < 6; ++p) o.steps.push_back(scenario_step::mock(6000, "leader sc " + std::to_string(p) + " " + std::to_string((p + 2) % 3 + 1)));
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.metrics.retries, 0u) << "the old leaders refused batches: some were retried";
}

TEST(Scenario, PartitionWithoutLeaderForAWhile) {
  scenario_options o;
  o.steps.push_back(scenario_step::mock(3000, "leader sc 1 -1"));
  o.steps.push_back(scenario_step::mock(3000, "leader sc 1 3").after(1500ms));
  o.pace_every = 100;  // ~0.5 s of sending: records keep coming while partition 1 has no leader
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
}

TEST(Scenario, BrokerDownThenUp) {
  scenario_options o;
  o.setup_commands = {"rtt -1 10"};
  o.steps.push_back(scenario_step::mock(3000, "down 2"));
  o.steps.push_back(scenario_step::mock(3000, "up 2").after(1500ms));
  o.pace_every = 100;
  o.consume_python = true;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.metrics.retries, 0u);
}

TEST(Scenario, UnknownTopicThenCreated) {
  // Metadata says UNKNOWN_TOPIC_OR_PARTITION until the topic "appears".
  scenario_options o;
  o.setup_commands = {"topic_err sc 3"};
  scenario_step appear;
  appear.at_time = 1500ms;
  appear.label = "topic appears";
  appear.action = [](scenario_env& env) { EXPECT_TRUE(env.mock.set_topic_error("sc", 0).ok()); };
  o.steps.push_back(appear);
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  for (std::size_t i = 0; i < r.records.size(); i += 997) {
    EXPECT_GE(r.records[i].latency, 1000ms) << "record " << i << " was delivered while the topic was unknown";
  }
}

TEST(Scenario, TopicMissingFromMetadataForAWhile) {
  // Mid-stream the leaders move (forcing a metadata refresh) while Metadata
  // says the topic is unknown; 1.5 s later it is back.
  scenario_options o;
  o.pace_every = 100;
  o.steps.push_back(scenario_step::mock(3000, "topic_err sc 3"));
  for (int p = 0; p < 6; ++p) o.steps.push_back(scenario_step::mock(3000, "leader sc " + std::to_string(p) + " " + std::to_string((p + 1) % 3 + 1)));
  o.steps.push_back(scenario_step::mock(3000, "topic_err sc 0").after(1500ms));
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
}

TEST(Scenario, SilentHalfOpenBroker) {
  // Broker 2's connection stops answering (TCP stays open): requests time
  // out after request.timeout.ms, kprod reconnects and resends.
  scenario_options o;
  o.config = {{"request.timeout.ms", "1000"}};
  fault_rule silent = fault_rule::on_request(-1, fault::go_silent());
  silent.broker = 1;
  o.steps.push_back(scenario_step::rule(3000, silent));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  ASSERT_EQ(r.rule_hits.size(), 1u);
  EXPECT_EQ(r.rule_hits[0], 1u);
  EXPECT_GT(r.metrics.retries, 0u);
}

TEST(Scenario, ProduceVersionLimitedToV3) {
  scenario_options o;
  o.setup_commands = {"apiversion 0 3 3"};
  auto max_seen = std::make_shared<std::atomic<int>>(-1);
  fault_rule watch = fault_rule::on_request(0, fault::delay(0ms));
  watch.times = -1;
  watch.predicate = [max_seen](const frame_view& f) {
    int cur = max_seen->load();
    while (f.api_version > cur && !max_seen->compare_exchange_weak(cur, f.api_version)) {
    }
    return false;
  };
  o.rules.push_back(watch);
  o.records = 10000;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_EQ(max_seen->load(), 3) << "kprod must use the broker's highest Produce version";
}

TEST(Scenario, ProduceVersionsBelowV3OnlyFailEveryRecordNotPersisted) {
  scenario_options o;
  o.setup_commands = {"apiversion 0 0 2"};
  o.config = {{"delivery.timeout.ms", "2500"}, {"request.timeout.ms", "1000"}};
  o.outcome = expect::some_may_fail;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_EQ(r.failed, r.records.size());
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    ASSERT_EQ(r.records[i].status, persistence::not_persisted) << "record " << i << ": " << r.records[i].message;
  }
}

TEST(Scenario, InitProducerIdUnsupportedFailsEveryRecord) {
  scenario_options o;
  o.setup_commands = {"apiversion 22 -1 -1"};
  o.outcome = expect::some_may_fail;
  o.check_auditor = true;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_EQ(r.failed, r.records.size());
  EXPECT_EQ(r.audit.requests, 0u) << "nothing may be produced without a producer id";
}

}  // namespace
}  // namespace kprod::test
