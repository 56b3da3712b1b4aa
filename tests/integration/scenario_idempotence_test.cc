// Fault scenarios aimed at the idempotence state machine: lost responses,
// OUT_OF_ORDER_SEQUENCE_NUMBER at the head and behind it, duplicates,
// UNKNOWN_PRODUCER_ID, epoch errors, error storms, permanent errors and
// MESSAGE_TOO_LARGE. 10,000 keyed records over 6 partitions on 3 brokers
// each (support/scenario.h).
//
// Errors that a real broker returns *without appending* are injected with the
// mock's per-broker error stack (`broker_err B 0 CODE:RTT ...`: the next
// Produce requests to broker B fail as a whole, nothing appended). A proxy
// rewrite of a successful response would tell kprod "rejected" for records
// the mock did append, a world no broker produces. Partition p is led by
// broker p % 3 + 1; "leader sc 5 1" leaves broker 3 leading partition 2 only.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "support/scenario.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

std::string repeat(const std::string& item, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += " " + item;
  return s;
}

TEST(Scenario, ResponseLostAfterTheAppend) {
  scenario_options o;
  fault_rule lost = fault_rule::on_response(0, fault::drop_and_close());
  lost.times = 3;
  o.steps.push_back(scenario_step::rule(2000, lost));
  o.pace_every = 100;
  o.consume_python = true;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  ASSERT_EQ(r.rule_hits.size(), 1u);
  EXPECT_EQ(r.rule_hits[0], 3u);
  EXPECT_GT(r.audit.resends, 0u) << "the unanswered batches were resent with their sequences";
}

TEST(Scenario, RetriableErrorOnTheHeadThenOutOfOrderBehind) {
  // Broker 1 fails the head request with NOT_LEADER_OR_FOLLOWER and the
  // ones pipelined behind it with OUT_OF_ORDER_SEQUENCE_NUMBER, as a broker
  // does once the head is missing. Answers take 30 ms so that they pile up.
  scenario_options o;
  o.setup_commands = {"rtt 1 30"};
  o.steps.push_back(scenario_step::mock(3000, "broker_err 1 0 6:30" + repeat("45:30", 4)));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.metrics.retries, 0u);
}

TEST(Scenario, OutOfOrderSequenceOnTheHeadBatch) {
  // Broker 3 (partition 2 only) answers OUT_OF_ORDER_SEQUENCE_NUMBER to the
  // next five requests, appending nothing: kprod must restart the sequences
  // (new producer id or epoch) and deliver every record once, in order.
  scenario_options o;
  o.setup_commands = {"leader sc 5 1"};
  o.steps.push_back(scenario_step::mock(3000, "broker_err 3 0" + repeat("45:0", 5)));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.metrics.retries, 0u);
}

TEST(Scenario, DuplicateSequenceNumberIsSuccessWithoutOffset) {
  // The broker appended; the response (rewritten) says DUPLICATE_SEQUENCE_NUMBER.
  scenario_options o;
  fault_rule dup = fault_rule::on_response(0, fault::rewrite_produce(46));
  dup.times = 4;
  o.steps.push_back(scenario_step::rule(2000, dup));
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  ASSERT_EQ(r.rule_hits.size(), 1u);
  EXPECT_EQ(r.rule_hits[0], 4u);
  std::size_t no_offset = 0;
  for (const auto& rec : r.records) no_offset += rec.ok && rec.offset == -1;
  EXPECT_GT(no_offset, 0u) << "records acknowledged as duplicates report offset -1";
}

TEST(Scenario, UnknownProducerIdAfterIdling) {
  scenario_options o;
  o.steps.push_back(scenario_step::flush(5000));
  o.steps.push_back(scenario_step::mock(5000, "broker_err 1 0 59:0"));
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.metrics.retries, 0u);
}

TEST(Scenario, UnknownProducerIdWithBatchesInFlight) {
  scenario_options o;
  o.setup_commands = {"rtt 1 30"};
  o.steps.push_back(scenario_step::mock(3000, "broker_err 1 0" + repeat("59:30", 3)));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.metrics.retries, 0u);
}

TEST(Scenario, EpochErrorOnOnePartitionWhileOthersAreHealthy) {
  // Broker 3 leads partition 2 only and answers INVALID_PRODUCER_EPOCH three
  // times; the other five partitions keep flowing.
  scenario_options o;
  o.setup_commands = {"leader sc 5 1", "rtt 3 20"};
  o.steps.push_back(scenario_step::mock(3000, "broker_err 3 0" + repeat("47:20", 3)));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.metrics.retries, 0u);
}

TEST(Scenario, StormOfRetriableErrors) {
  // The next 80 Produce requests, whichever broker gets them, fail with
  // retriable errors (nothing appended).
  scenario_options o;
  std::string codes;
  const int retriable[] = {6, 7, 19, 56};
  for (int i = 0; i < 80; ++i) codes += " " + std::to_string(retriable[i % 4]);
  o.steps.push_back(scenario_step::mock(2000, "err 0" + codes));
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GE(r.metrics.retries, 80u);
}

TEST(Scenario, PermanentErrorOnOnePartitionFailsOnlyItsRecords) {
  // Broker 3 (partition 2 only) rejects every Produce with INVALID_RECORD:
  // partition 2's records fail, not persisted; the others flow.
  scenario_options o;
  o.setup_commands = {"leader sc 5 1", "broker_err 3 0" + repeat("87:0", 800)};
  o.outcome = expect::some_may_fail;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.failed, 0u);
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    if (rec.partition == 2) {
      EXPECT_FALSE(rec.ok) << "record " << i << " on partition 2 succeeded";
      EXPECT_EQ(rec.code, kafka_errc::invalid_record) << "record " << i << ": " << rec.message;
      EXPECT_EQ(rec.status, persistence::not_persisted) << "record " << i;
    } else {
      EXPECT_TRUE(rec.ok) << "record " << i << " on partition " << rec.partition << ": " << rec.message;
    }
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(Scenario, MessageTooLargeSplitsTheBatch) {
  // Broker 1 rejects the next request (appending nothing) with
  // MESSAGE_TOO_LARGE: its multi-record batches must be split and every
  // record delivered once, in order. Fails until batch splitting lands.
  scenario_options o;
  o.steps.push_back(scenario_step::mock(3000, "broker_err 1 0 10:0"));
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
}

}  // namespace
}  // namespace kprod::test
