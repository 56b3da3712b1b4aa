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

#include <chrono>
#include <memory>
#include <set>
#include <string>

#include "codec/byte_reader.h"
#include "protocol/generated/produce_request.h"
#include "protocol/record_batch_reader.h"
#include "support/scenario.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

std::string repeat(const std::string& item, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += " " + item;
  return s;
}

// True when the Produce request in `f` carries a batch whose producer id or
// epoch differs from the first one `first` saw (which it then remembers).
bool carries_new_identity(const frame_view& f, std::shared_ptr<std::pair<std::int64_t, std::int16_t>> first) {
  protocol::produce_request req;
  codec::byte_reader r(f.payload.subspan(f.body_offset));
  if (!protocol::decode(r, req, f.api_version).ok()) return false;
  for (const auto& t : req.topic_data) {
    for (const auto& p : t.partition_data) {
      if (!p.records) continue;
      auto batches = protocol::parse_batches(*p.records, {.verify_crc = false});
      if (!batches.ok()) continue;
      for (const auto& b : *batches) {
        const std::pair<std::int64_t, std::int16_t> id{b.header.producer_id, b.header.producer_epoch};
        if (first->first == -2) *first = id;
        if (id != *first) return true;
      }
    }
  }
  return false;
}

// Every Produce request, to any broker, fails with `code` (nothing appended)
// from record `at` until kprod sends batches under a new producer identity
// (KIP-360: a bumped epoch; or a new producer id): a real broker that rejects
// a batch for its sequence also rejects every batch pipelined behind it,
// which a fixed number of mock errors cannot model. The proxy holds the first
// request with the new identity 300 ms while the errors are cleared, so every
// later batch is appended.
void reject_until_new_producer_id(scenario_options& o, std::size_t at, int code, std::chrono::milliseconds rtt,
                                  const std::string& first_codes = "") {
  auto first = std::make_shared<std::pair<std::int64_t, std::int16_t>>(-2, -2);
  fault_rule hold = fault_rule::on_request(api_key::produce, fault::delay(300ms));
  hold.predicate = [first](const frame_view& f) { return carries_new_identity(f, first); };
  o.steps.push_back(scenario_step::call(at, "hold the first Produce under a new identity", [hold](scenario_env& env) {
    env.rule_ids.push_back(env.proxy.add_rule(hold));
  }));
  o.steps.push_back(scenario_step::mock(at, "err 0" + first_codes + repeat(std::to_string(code), 200)));
  scenario_step clear = scenario_step::call(at, "clear the errors once a new identity is used", [](scenario_env& env) {
    EXPECT_TRUE(env.proxy.wait_rule_hits(env.rule_ids.back(), 1, 10s)) << "no new producer identity after the errors";
    EXPECT_TRUE(env.mock.clear_errors(api_key::produce).ok());
  });
  clear.after(1ms);
  o.steps.push_back(clear);
  if (rtt > 0ms) o.setup_commands.push_back("rtt -1 " + std::to_string(rtt.count()));
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
  // The head request fails with NOT_LEADER_OR_FOLLOWER and everything
  // pipelined behind it with OUT_OF_ORDER_SEQUENCE_NUMBER, as a broker does
  // once the head is missing; answers take 30 ms so that requests pile up.
  // The errors go on until kprod bumps its epoch (the retried head meets
  // OUT_OF_ORDER too); see reject_until_new_producer_id.
  scenario_options o;
  reject_until_new_producer_id(o, 3000, 45, 30ms, " 6");
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  EXPECT_GT(r.metrics.retries, 0u);
}

// From record 3000 every Produce fails with `code` until kprod sends under a
// new identity; every record must then be delivered once, in order.
void expect_recovery_by_new_identity(int code, std::chrono::milliseconds rtt) {
  scenario_options o;
  reject_until_new_producer_id(o, 3000, code, rtt);
  o.pace_every = 100;
  auto r = run_scenario(o);
  ASSERT_TRUE(r.ran);
  ASSERT_EQ(r.rule_hits.size(), 1u);
  EXPECT_GE(r.rule_hits[0], 1u) << "a new producer identity was used";
  EXPECT_GT(r.metrics.retries, 0u);
}

TEST(Scenario, OutOfOrderSequenceOnTheHeadBatch) {
  // The brokers answer OUT_OF_ORDER_SEQUENCE_NUMBER to the head batches
  // (and to everything behind them), appending nothing: kprod must restart
  // the sequences (a bumped epoch) and deliver every record once, in order.
  expect_recovery_by_new_identity(45, 20ms);
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

TEST(Scenario, UnknownProducerIdWithBatchesInFlight) { expect_recovery_by_new_identity(59, 30ms); }

TEST(Scenario, EpochErrorOnOnePartitionWhileOthersAreHealthy) {
  // Broker 3 leads partition 2 only, which gets every 100th record (one
  // batch in flight at a time); it answers one request with
  // INVALID_PRODUCER_EPOCH (nothing appended). The other five partitions
  // (records spread over them by index) keep flowing.
  scenario_options o;
  o.setup_commands = {"leader sc 5 1"};
  o.shape = [](std::size_t i, record_spec& r) {
    static constexpr std::int32_t others[] = {0, 1, 3, 4, 5};
    r.partition = i % 100 == 0 ? 2 : others[i % 5];
  };
  o.steps.push_back(scenario_step::mock(3000, "broker_err 3 0 47:0"));
  o.pace_every = 50;
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
