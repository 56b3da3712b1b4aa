// Scripted broker faults against the producer (idempotent unless said
// otherwise), using the fake broker's interceptors. Every test checks that
// each record completed exactly once and what the log holds.
#include <gtest/gtest.h>

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
    ASSERT_TRUE(t.wait_all(10s)) << "records did not complete";
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

TEST(FakeBrokerFaults, RetriableErrorOnHeadBatchWithFiveInFlight) {
  // One record per batch, up to 5 requests in flight to the one leader.
  fixture f({.brokers = 1},
            {{"batch.size", "1"}, {"linger.ms", "0"}, {"max.in.flight.requests.per.connection", "5"}});
  ASSERT_TRUE(f.p);
  f.wave(0, 5);  // the broker now knows the producer
  const std::size_t produce_before = f.fc.requests(produce_key);
  // The head batch fails (not appended) after a delay that lets the
  // producer pipeline more requests behind it; those find a sequence gap.
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
  // Java semantics: OUT_OF_ORDER behind a batch that failed first is retried
  // with the same producer id; no new id is needed.
  EXPECT_EQ(f.fc.requests(pr::init_producer_id_api::key), 1u) << "the producer id was reset";
  for (const auto& r : f.fc.records("t")) EXPECT_EQ(r.producer_id, 1000);
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
  f.wave(5, 5);
  f.close_and_check_completions();
  f.t.expect_all_ok();
  auto seen = f.fc.seen(produce_key);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_GE(seen[1].received - seen[0].answered, 300ms) << "the producer sent during the throttle time";
  expect_log_holds(f.fc, "t", 10);
}

TEST(FakeBrokerFaults, TruncatedResponseClosesConnectionAndRecordsAreDeliveredOnce) {
  fixture f;
  ASSERT_TRUE(f.p);
  f.wave(0, 5);
  f.fc.control(produce_key, [](const request_view&) {
    action a = action::respond();
    a.edit_body = [](std::vector<std::uint8_t>& body) { body.resize(body.size() / 2); };
    return a;
  });
  const auto closed_before = f.fc.connections_closed_by_client();
  f.wave(5, 20);
  EXPECT_TRUE(eventually([&] { return f.fc.connections_closed_by_client() > closed_before; }))
      << "a malformed response should close the connection";
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
