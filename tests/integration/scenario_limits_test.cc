// Fault scenarios at the producer's limits and API edges: a record over
// max.request.size, buffer exhaustion with max.block.ms, acks=0 and acks=1,
// close() and flush() with records in flight, invalid config and bad record
// input. 10,000 keyed records over 6 partitions on 3 brokers each
// (support/scenario.h).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "support/scenario.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

TEST(Scenario, RecordOverMaxRequestSizeFailsAtSendOthersFlow) {
  scenario_options o;
  o.shape = [](std::size_t i, record_spec& r) {
    if (i % 2000 == 1000) r.value = scenario_value(i, 1100 * 1024);
  };
  o.outcome = expect::some_may_fail;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_EQ(r.failed, 5u);
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    if (i % 2000 == 1000) {
      EXPECT_EQ(rec.code, client_errc::record_too_large) << "record " << i << ": " << rec.message;
      EXPECT_EQ(rec.status, persistence::not_persisted) << "record " << i;
      EXPECT_LT(rec.latency, 1000ms) << "record " << i << " must fail at send";
    } else {
      EXPECT_TRUE(rec.ok) << "record " << i << ": " << rec.message;
    }
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(Scenario, BufferExhaustedBlocksMaxBlockThenQueueFull) {
  // Every broker is down for 1.5 s: the 64 KiB buffer fills, each send then
  // blocks max.block.ms=200 and fails with queue_full; once the brokers are
  // back, sends block only until there is room and everything else flows.
  scenario_options o;
  o.config = {{"buffer.memory", "65536"}, {"max.block.ms", "200"}};
  o.steps.push_back(scenario_step::mock(3000, "down -1"));
  o.steps.push_back(scenario_step::mock(3000, "up -1").after(1500ms));
  o.outcome = expect::some_may_fail;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.failed, 0u) << "the buffer never ran out";
  EXPECT_LT(r.failed, 40u) << "sends kept failing after the brokers came back";
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    if (rec.ok) continue;
    EXPECT_EQ(rec.code, client_errc::queue_full) << "record " << i << ": " << rec.message;
    EXPECT_EQ(rec.status, persistence::not_persisted) << "record " << i;
    EXPECT_GE(rec.latency, 150ms) << "record " << i << " did not block max.block.ms";
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(Scenario, AcksZeroRecordsArePossiblyPersistedAndAllInTheLog) {
  scenario_options o;
  o.config = {{"acks", "0"}};
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    ASSERT_EQ(rec.status, persistence::possibly_persisted) << "record " << i;
    ASSERT_EQ(rec.offset, -1) << "record " << i << ": acks=0 has no offset";
    ASSERT_EQ(rec.found_in_log, 1) << "record " << i << " (no fault: every record reaches the log)";
  }
}

TEST(Scenario, AcksOneWithALeaderMove) {
  // Not idempotent: one request in flight keeps the order across the retry.
  scenario_options o;
  o.config = {{"acks", "1"}, {"max.in.flight.requests.per.connection", "1"}};
  for (int p = 0; p < 3; ++p) o.steps.push_back(scenario_step::mock(3000, "leader sc " + std::to_string(p) + " " + std::to_string((p + 1) % 3 + 1)));
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_EQ(r.audit.resends, 0u) << "not idempotent: the auditor sees no sequences";
}

TEST(Scenario, CloseWithRecordsInFlight) {
  // After 100 records are delivered (metadata and producer id known),
  // answers take 300 ms; close(0) right after the last send: every record
  // completes before close() returns, failed ones with producer_closed,
  // possibly persisted if their request was out, not persisted if queued.
  scenario_options o;
  o.steps.push_back(scenario_step::flush(100));
  o.steps.push_back(scenario_step::mock(100, "rtt -1 300"));
  o.pace_every = 0;
  o.finish = finish_mode::close;
  o.finish_timeout = 0ms;
  o.outcome = expect::some_may_fail;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.by_status[persistence::possibly_persisted], 0u) << "no request was in flight at close()";
  EXPECT_GT(r.by_status[persistence::not_persisted], 0u) << "nothing was left queued at close()";
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    if (rec.ok) continue;
    EXPECT_EQ(rec.code, client_errc::producer_closed) << "record " << i << ": " << rec.message;
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(Scenario, FlushWithRecordsInFlight) {
  scenario_options o;
  o.setup_commands = {"rtt -1 100"};
  o.pace_every = 0;
  o.finish = finish_mode::flush;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
}

TEST(Scenario, InvalidConfigIsRejectedWithEveryProblem) {
  auto p = producer::create({{"bootstrap.servers", "127.0.0.1:1"},
                             {"linger.ms", "-1"},
                             {"acks", "2"},
                             {"enable.idempotence", "true"},
                             {"max.in.flight.requests.per.connection", "6"},
                             {"no.such.key", "1"}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), client_errc::invalid_config);
  for (const char* key : {"linger.ms", "acks", "no.such.key"}) {
    EXPECT_NE(p.error().detail().find(key), std::string::npos) << key << " missing from: " << p.error().detail();
  }
  auto q = producer::create({{"bootstrap.servers", "127.0.0.1:1"},
                             {"enable.idempotence", "true"},
                             {"max.in.flight.requests.per.connection", "6"}});
  ASSERT_FALSE(q.ok()) << "idempotence allows at most 5 requests in flight";
  EXPECT_EQ(q.error().code(), client_errc::invalid_config);
}

TEST(Scenario, BadRecordsFailAloneInTheStream) {
  // Every 1000th record (offset 500) has a negative partition, every 1000th
  // (offset 700) an empty topic, and record 9999 a partition beyond the
  // topic's six: those fail, not persisted; the rest flow.
  scenario_options o;
  o.shape = [](std::size_t i, record_spec& r) {
    if (i % 1000 == 500) r.partition = -2;
    if (i % 1000 == 700) r.topic = "";
    if (i == 9999) r.partition = 99;
  };
  o.outcome = expect::some_may_fail;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_EQ(r.failed, 21u);
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& rec = r.records[i];
    const bool bad = i % 1000 == 500 || i % 1000 == 700 || i == 9999;
    if (bad) {
      EXPECT_FALSE(rec.ok) << "record " << i;
      EXPECT_EQ(rec.status, persistence::not_persisted) << "record " << i;
      if (i != 9999) {
        EXPECT_EQ(rec.code, client_errc::invalid_argument) << "record " << i << ": " << rec.message;
      }
    } else {
      EXPECT_TRUE(rec.ok) << "record " << i << ": " << rec.message;
    }
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace kprod::test
