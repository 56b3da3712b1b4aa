// Scripted broker faults against the producer (idempotent unless said
// otherwise), using the fake broker's interceptors. Every test checks that
// each record completed exactly once and what the log holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>

#include "fake/fake_broker.h"
#include "fake/producer_harness.h"
#include "protocol/generated/api_traits.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;
namespace pr = kprod::protocol;
using steady = std::chrono::steady_clock;

constexpr std::int16_t produce_key = pr::produce_api::key;
constexpr std::int16_t not_leader_or_follower = 6;
constexpr std::int16_t not_enough_replicas = 19;
constexpr std::int16_t topic_authorization_failed = 29;
constexpr std::int16_t out_of_order_sequence = 45;
constexpr std::int16_t duplicate_sequence = 46;
constexpr std::int16_t invalid_record = 87;

// Polls `pred` until it holds or `timeout` passes (for effects the fake sees
// asynchronously, such as a client closing its socket).
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto end = steady::now() + timeout;
  while (!pred()) {
    if (steady::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

struct fixture {
  explicit fixture(fake_cluster_options o = {.brokers = 2}, std::map<std::string, std::string> extra = {},
                   int partitions = 1)
      : fc(o) {
    fc.create_topic("t", partitions, std::vector<std::int32_t>(static_cast<std::size_t>(partitions), 1));
    auto created = producer::create(fake_props(fc, std::move(extra)));
    EXPECT_TRUE(created.ok()) << created.error().message();
    if (created.ok()) p = std::move(created.value());
  }
  // Sends [first, first + n) and waits for their completions.
  void wave(std::size_t first, std::size_t n, std::optional<std::int32_t> partition = std::nullopt) {
    t.send(*p, "t", first, n, partition);
    ASSERT_TRUE(t.wait_all(10s)) << "records did not complete; requests seen:\n" << describe_seen();
  }
  std::string describe_seen() const {
    std::string out;
    const auto t0 = fc.seen(-1).empty() ? steady::now() : fc.seen(-1).front().received;
    for (const auto& s : fc.seen(-1)) {
      out += "  node " + std::to_string(s.node_id) + " conn " + std::to_string(s.connection_id) + " key " +
             std::to_string(s.api_key) + " v" + std::to_string(s.api_version) + " corr " +
             std::to_string(s.correlation_id) + " at " +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(s.received - t0).count()) + "ms" +
             (s.answered == steady::time_point{} ? " unanswered" : " answered") + " errors";
      for (auto e : s.produce_errors) out += " " + std::to_string(e);
      out += "\n";
    }
    return out;
  }
  void close_and_check_completions() {
    ASSERT_TRUE(p->close(5s).ok());
    t.expect_exactly_one_completion_each();
  }

  fake_cluster fc;
  std::unique_ptr<producer> p;
  delivery_tracker t;
};

TEST(FakeBrokerFaults, NotLeaderOnFirstProduceRefreshesMetadataAndRetries) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.fc.control(produce_key, [](const request_view&) { return action::error(not_leader_or_follower); });
  const auto metadata_before = f.fc.requests(pr::metadata_api::key);
  f.wave(0, 30);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  EXPECT_EQ(f.fc.controls_pending(), 0u);
  EXPECT_GT(f.fc.requests(pr::metadata_api::key), metadata_before);
  EXPECT_GE(f.fc.requests(produce_key), 2u);
  expect_log_holds(f.fc, "t", 30);
  expect_offsets_match(f.fc, "t", f.t.reports());
}

TEST(FakeBrokerFaults, LeaderMovesToAnotherBrokerMidStream) {
  fixture f;
  ASSERT_TRUE(f.p);
  int produce_at_1 = 0;
  f.fc.control(
      produce_key,
      [&](const request_view& rv) {
        // The third Produce to broker 1 finds the partition moved to broker 2.
        if (rv.node_id == 1 && ++produce_at_1 == 3) f.fc.set_leader("t", 0, 2);
        return action::pass();
      },
      true);
  for (std::size_t w = 0; w < 6; ++w) f.wave(w * 10, 10);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  EXPECT_EQ(f.fc.leader("t", 0), 2);
  std::size_t at_2 = 0;
  bool not_leader_seen = false;
  for (const auto& s : f.fc.seen(produce_key)) {
    at_2 += s.node_id == 2;
    for (auto e : s.produce_errors) not_leader_seen |= e == not_leader_or_follower;
  }
  EXPECT_GT(at_2, 0u);
  EXPECT_TRUE(not_leader_seen);
  expect_log_holds(f.fc, "t", 60);
  expect_offsets_match(f.fc, "t", f.t.reports());
}

class DropAfterAppend : public ::testing::TestWithParam<bool> {};

TEST_P(DropAfterAppend, RetryIsDeduplicatedByIdempotence) {
  fake_cluster_options o{.brokers = 2};
  o.duplicate_as_error = GetParam();
  fixture f(o);
  ASSERT_TRUE(f.p);
  f.wave(0, 5);
  f.fc.control(produce_key, [](const request_view&) { return action::drop_after(); });
  const auto accepted = f.fc.connections_accepted();
  f.wave(5, 30);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  EXPECT_EQ(f.fc.controls_pending(), 0u);
  EXPECT_GT(f.fc.connections_accepted(), accepted) << "the producer must reconnect";
  expect_log_holds(f.fc, "t", 35);
  expect_offsets_match(f.fc, "t", f.t.reports());
  if (GetParam()) {
    bool duplicate_seen = false;
    for (const auto& s : f.fc.seen(produce_key)) {
      for (auto e : s.produce_errors) duplicate_seen |= e == duplicate_sequence;
    }
    EXPECT_TRUE(duplicate_seen) << "the retry of the appended batch should have been a duplicate";
  }
}

INSTANTIATE_TEST_SUITE_P(Duplicate, DropAfterAppend, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& pi) { return pi.param ? "as_error" : "as_original_offset"; });

// The head batch fails (not appended) after a delay that lets the producer
// pipeline 4 more requests behind it; those find a sequence gap.
void head_batch_fails_with_five_in_flight(fixture& f) {
  ASSERT_TRUE(f.p);
  f.wave(0, 5);  // the broker now knows the producer
  const std::size_t produce_before = f.fc.requests(produce_key);
  f.fc.control(produce_key, [](const request_view&) { return action::error(not_enough_replicas).after(150ms); });
  f.wave(5, 40);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  expect_log_holds(f.fc, "t", 45);
  expect_offsets_match(f.fc, "t", f.t.reports());
  auto seen = f.fc.seen(produce_key);
  ASSERT_GT(seen.size(), produce_before + 1);
  EXPECT_EQ(seen[produce_before].produce_errors, std::vector<std::int16_t>{not_enough_replicas});
  std::size_t out_of_order = 0;
  for (std::size_t i = produce_before + 1; i < seen.size(); ++i) {
    if (seen[i].produce_errors != std::vector<std::int16_t>{out_of_order_sequence}) break;
    ++out_of_order;
  }
  EXPECT_EQ(out_of_order, 4u) << "the 4 requests pipelined behind the head should be OUT_OF_ORDER";
}

const std::map<std::string, std::string> one_record_batches = {
    {"batch.size", "1"}, {"linger.ms", "0"}, {"max.in.flight.requests.per.connection", "5"}};

TEST(FakeBrokerFaults, RetriableErrorOnHeadBatchWithFiveInFlight) {
  fixture f({.brokers = 1}, one_record_batches);
  head_batch_fails_with_five_in_flight(f);
}

// DISABLED: fails on main 8212308. kprod asks for a new producer id
// (InitProducerId is sent twice) although the OUT_OF_ORDER answers are only
// the consequence of the head batch's retriable failure. sender::retry_or_fail
// erases the head batch's sequence from partition_queue::unacked_sequences
// when it re-enqueues it, so on_produce_response's `behind_earlier` test
// finds no earlier unacked sequence for the next batch and calls
// reset_producer_id(). Java retries such batches with the same id.
TEST(FakeBrokerFaults, HeadBatchRetryKeepsTheProducerId) {
  fixture f({.brokers = 1}, one_record_batches);
  head_batch_fails_with_five_in_flight(f);
  EXPECT_EQ(f.fc.requests(pr::init_producer_id_api::key), 1u) << "the producer id was reset";
  std::size_t foreign = 0;
  for (const auto& r : f.fc.records("t")) foreign += r.producer_id != 1000;
  EXPECT_EQ(foreign, 0u) << "records appended under a second producer id";
}

TEST(FakeBrokerFaults, DuplicateSequenceNumberCountsAsSuccess) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.wave(0, 5);
  f.fc.control(produce_key, [](const request_view&) { return action::error_after_apply(duplicate_sequence); });
  f.wave(5, 20);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  for (const auto& r : f.t.reports()) EXPECT_EQ(r.status, persistence::persisted);
  expect_log_holds(f.fc, "t", 25);
  expect_offsets_match(f.fc, "t", f.t.reports());
}

class NonRetriable : public ::testing::TestWithParam<std::int16_t> {};

TEST_P(NonRetriable, FailsExactlyThatBatchAndOthersSucceed) {
  const std::int16_t code = GetParam();
  fake_cluster_options o{.brokers = 1};
  fixture f(o, {}, 2);
  ASSERT_TRUE(f.p);
  // Partition 1's first batch is rejected; partition 0 in the same request is appended.
  f.fc.control(produce_key, [code](const request_view& rv) {
    for (const auto& td : rv.produce->topic_data) {
      for (const auto& pd : td.partition_data) {
        if (pd.index == 1) return action::error(code).only("t", 1);
      }
    }
    return action::pass();
  });
  f.wave(0, 10, 0);
  f.t.send(*f.p, "t", 10, 10, 1);
  f.t.send(*f.p, "t", 20, 10, 0);
  ASSERT_TRUE(f.t.wait_all(10s));
  f.wave(30, 10, 1);
  f.close_and_check_completions();
  std::vector<std::size_t> failed;
  const auto reps = f.t.reports();
  for (std::size_t i = 0; i < reps.size(); ++i) {
    if (!reps[i].error) continue;
    failed.push_back(i);
    EXPECT_EQ(reps[i].error.code(), make_error_code(static_cast<kafka_errc>(code))) << reps[i].error.message();
    EXPECT_EQ(reps[i].status, persistence::not_persisted);
    EXPECT_EQ(reps[i].partition, 1);
  }
  ASSERT_FALSE(failed.empty());
  // The failed records are one batch: the first records sent to partition 1.
  for (std::size_t j = 0; j < failed.size(); ++j) EXPECT_EQ(failed[j], 10 + j);
  EXPECT_EQ(f.fc.controls_pending(), 0u);
  expect_log_holds(f.fc, "t", 40, failed);
  expect_offsets_match(f.fc, "t", reps);
}

INSTANTIATE_TEST_SUITE_P(Codes, NonRetriable, ::testing::Values(invalid_record, topic_authorization_failed),
                         [](const ::testing::TestParamInfo<std::int16_t>& pi) { return "code" + std::to_string(pi.param); });

TEST(FakeBrokerFaults, ThrottleTimeHoldsTheNextRequestBack) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.fc.control(produce_key, [](const request_view&) {
    action a = action::respond();
    a.throttle_ms = 300;
    return a;
  });
  f.wave(0, 5);
  // Wave 1 may have taken two requests (the second sent before the throttled
  // answer arrived); every request of wave 2 is sent after that answer.
  const auto wave1_done = steady::now();
  f.wave(5, 5);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  auto seen = f.fc.seen(produce_key);
  ASSERT_GE(seen.size(), 2u);
  auto next = std::find_if(seen.begin(), seen.end(), [&](const seen_request& s) { return s.received > wave1_done; });
  ASSERT_NE(next, seen.end());
  EXPECT_GE(next->received - seen[0].answered, 300ms) << "the producer sent during the throttle time";
  expect_log_holds(f.fc, "t", 10);
}

// DISABLED: hangs on main 8212308 until delivery.timeout.ms (the records
// then fail with delivery_timeout). After a lost connection the node waits
// out reconnect.backoff.ms (cluster::on_closed sets node::next_attempt), but
// nothing wakes the sender when that backoff ends: sender::run_once's
// node_ready() gets nullptr from cluster::ready_connection (connect() returns
// early while now < next_attempt) and the drain reports no time to check
// again. Batches retried (retry_at) before next_attempt are therefore stuck
// until an unrelated event (a new record, metadata.max.age.ms, the delivery
// timeout). Here: reconnect backoff 200 ms, retry backoff 10 ms.
TEST(FakeBrokerFaults, ReconnectBackoffLongerThanRetryBackoffDoesNotStall) {
  fixture f({.brokers = 2}, {{"reconnect.backoff.ms", "200"},
                             {"reconnect.backoff.max.ms", "200"},
                             {"retry.backoff.ms", "10"},
                             {"retry.backoff.max.ms", "10"}});
  ASSERT_TRUE(f.p);
  f.wave(0, 5);
  f.fc.control(produce_key, [](const request_view&) { return action::drop_before(); });
  f.t.send(*f.p, "t", 5, 20);
  EXPECT_TRUE(f.t.wait_all(3s)) << "still waiting 3 s after a dropped connection; requests seen:\n"
                                << f.describe_seen();
  f.close_and_check_completions();
  f.t.expect_all_ok();
}

// The sender matches a response's partitions to its batches trying the
// next batch in request order first: a broker that answers them in another
// order must still complete each batch with its own partition's offsets.
TEST(FakeBrokerFaults, PartitionsAnsweredInReverseOrderCompleteTheirOwnBatches) {
  fixture f({.brokers = 1}, {{"linger.ms", "100"}}, 4);
  ASSERT_TRUE(f.p);
  auto reversed = std::make_shared<std::atomic<int>>(0);
  f.fc.control(
      produce_key,
      [reversed](const request_view& rv) {
        action a = action::respond();
        const std::int16_t version = rv.api_version;
        a.edit_body = [reversed, version](std::vector<std::uint8_t>& body) {
          pr::produce_response resp;
          kprod::codec::byte_reader r(body);
          ASSERT_TRUE(pr::decode(r, resp, version).ok());
          for (auto& t : resp.responses) {
            if (t.partition_responses.size() > 1) reversed->fetch_add(1);
            std::reverse(t.partition_responses.begin(), t.partition_responses.end());
          }
          std::vector<std::uint8_t> out;
          kprod::codec::byte_writer w(out);
          ASSERT_TRUE(pr::encode(w, resp, version).ok());
          body = std::move(out);
        };
        return a;
      },
      true);
  // Partition k holds k records first, so each partition's batch gets a
  // different base offset.
  std::size_t sent = 0;
  for (std::int32_t part = 1; part < 4; ++part) {
    f.wave(sent, static_cast<std::size_t>(part), part);
    sent += static_cast<std::size_t>(part);
  }
  for (std::int32_t part = 0; part < 4; ++part, sent += 5) f.t.send(*f.p, "t", sent, 5, part);
  ASSERT_TRUE(f.t.wait_all(10s)) << f.describe_seen();
  f.close_and_check_completions();
  f.t.expect_all_ok();
  EXPECT_GT(reversed->load(), 0) << "no request carried several partitions";
  expect_log_holds(f.fc, "t", sent);
  expect_offsets_match(f.fc, "t", f.t.reports());
}

action truncated_answer() {
  action a = action::respond();
  a.edit_body = [](std::vector<std::uint8_t>& body) { body.resize(body.size() / 2); };
  return a;
}

TEST(FakeBrokerFaults, TruncatedProduceResponseRecordsAreDeliveredOnce) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.wave(0, 5);
  f.fc.control(produce_key, [](const request_view&) { return truncated_answer(); });
  f.wave(5, 20);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  EXPECT_EQ(f.fc.controls_pending(), 0u);
  expect_log_holds(f.fc, "t", 25);
  expect_offsets_match(f.fc, "t", f.t.reports());
}

// DISABLED: fails on main 8212308. A Produce response that does not decode
// is retried (sender::on_produce_response, decode failure branch) but the
// connection stays open, unlike connection.h's "malformed bytes -> close()"
// rule and Java's NetworkClient; the next requests go on the same socket.
TEST(FakeBrokerFaults, TruncatedProduceResponseClosesTheConnection) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.wave(0, 5);
  f.fc.control(produce_key, [](const request_view&) { return truncated_answer(); });
  const auto closed_before = f.fc.connections_closed_by_client();
  f.wave(5, 20);
  EXPECT_TRUE(eventually([&] { return f.fc.connections_closed_by_client() > closed_before; }))
      << "a malformed response should close the connection";
  f.close_and_check_completions();
}

TEST(FakeBrokerFaults, TruncatedMetadataResponseIsAskedAgain) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.fc.control(pr::metadata_api::key, [](const request_view&) { return truncated_answer(); });
  f.wave(0, 10);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  EXPECT_EQ(f.fc.controls_pending(), 0u);
  EXPECT_GE(f.fc.requests(pr::metadata_api::key), 2u);
  expect_log_holds(f.fc, "t", 10);
}

TEST(FakeBrokerFaults, RetriableInitProducerIdErrorIsRetried) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.fc.control(pr::init_producer_id_api::key, [](const request_view&) {
    return action::error(15);  // COORDINATOR_NOT_AVAILABLE, retriable
  });
  f.wave(0, 10);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  EXPECT_EQ(f.fc.requests(pr::init_producer_id_api::key), 2u);
  expect_log_holds(f.fc, "t", 10);
}

TEST(FakeBrokerFaults, ConnectionDroppedBeforeApplyingIsRetried) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.wave(0, 5);
  f.fc.control(produce_key, [](const request_view&) { return action::drop_before(); });
  f.wave(5, 20);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  expect_log_holds(f.fc, "t", 25);
  expect_offsets_match(f.fc, "t", f.t.reports());
}

TEST(FakeBrokerFaults, UnknownCorrelationIdClosesConnectionAndRecordsAreDeliveredOnce) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.wave(0, 5);
  f.fc.control(produce_key, [](const request_view& rv) {
    action a = action::respond();
    a.correlation_id = rv.correlation_id + 1000;
    return a;
  });
  const auto closed_before = f.fc.connections_closed_by_client();
  f.wave(5, 20);
  EXPECT_TRUE(eventually([&] { return f.fc.connections_closed_by_client() > closed_before; }));
  f.close_and_check_completions();
  f.t.expect_all_ok();
  expect_log_holds(f.fc, "t", 25);
  expect_offsets_match(f.fc, "t", f.t.reports());
}

}  // namespace
}  // namespace kprod::test
