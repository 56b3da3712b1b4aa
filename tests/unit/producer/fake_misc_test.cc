// More producer behaviour against the fake broker: without idempotence,
// unknown topics, several topics in one request.
#include <gtest/gtest.h>

#include "fake/fake_broker.h"
#include "fake/producer_harness.h"
#include "protocol/generated/api_traits.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;
namespace pr = kprod::protocol;

TEST(FakeBrokerPlain, Acks1WithoutIdempotenceAtEveryProduceVersion) {
  for (std::int16_t v = 3; v <= pr::produce_api::max_version; ++v) {
    SCOPED_TRACE("Produce v" + std::to_string(v));
    fake_cluster fc({.brokers = 2});
    fc.set_api_versions(pr::produce_api::key, v, v);
    fc.create_topic("t", 2);
    auto p = producer::create(fake_props(fc, {{"acks", "1"}, {"enable.idempotence", "false"}}));
    ASSERT_TRUE(p.ok()) << p.error().message();
    delivery_tracker t;
    t.send(**p, "t", 0, 40);
    ASSERT_TRUE(t.wait_all(10s));
    ASSERT_TRUE((*p)->close(5s).ok());
    t.expect_exactly_one_completion_each();
    t.expect_all_ok();
    expect_log_holds(fc, "t", 40);
    expect_offsets_match(fc, "t", t.reports());
    for (const auto& r : fc.records("t")) {
      EXPECT_EQ(r.producer_id, -1);
      EXPECT_EQ(r.sequence, -1);
    }
    EXPECT_EQ(fc.requests(pr::init_producer_id_api::key), 0u);
    EXPECT_EQ(fc.versions_seen(pr::produce_api::key), std::vector<std::int16_t>{v});
  }
}

TEST(FakeBrokerPlain, NotLeaderWithOneInFlightKeepsOrderWithoutIdempotence) {
  fake_cluster fc({.brokers = 2});
  fc.create_topic("t", 1, {1});
  fc.control(pr::produce_api::key, [](const request_view&) { return action::error(6); });
  auto p = producer::create(fake_props(
      fc, {{"enable.idempotence", "false"}, {"max.in.flight.requests.per.connection", "1"}, {"acks", "all"}}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  delivery_tracker t;
  t.send(**p, "t", 0, 50);
  ASSERT_TRUE(t.wait_all(10s));
  ASSERT_TRUE((*p)->close(5s).ok());
  t.expect_exactly_one_completion_each();
  t.expect_all_ok();
  expect_log_holds(fc, "t", 50);
  expect_offsets_match(fc, "t", t.reports());
}

TEST(FakeBrokerPlain, UnknownTopicWithoutAutoCreationFailsEveryRecordOnce) {
  fake_cluster fc({.brokers = 1, .auto_create_topics = false});
  auto p = producer::create(fake_props(fc, {{"delivery.timeout.ms", "600"},
                                            {"request.timeout.ms", "300"},
                                            {"linger.ms", "0"},
                                            {"max.block.ms", "300"}}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  delivery_tracker t;
  t.send(**p, "nope", 0, 20);
  ASSERT_TRUE(t.wait_all(10s)) << "records for a missing topic must complete (with an error)";
  ASSERT_TRUE((*p)->close(5s).ok());
  t.expect_exactly_one_completion_each();
  for (const auto& r : t.reports()) {
    EXPECT_TRUE(r.error);
    EXPECT_EQ(r.status, persistence::not_persisted);
  }
  EXPECT_EQ(fc.record_count("nope"), 0u);
  EXPECT_GE(fc.requests(pr::metadata_api::key), 1u);
}

TEST(FakeBrokerPlain, SeveralTopicsAndPartitionsInterleaved) {
  fake_cluster fc({.brokers = 3});
  fc.create_topic("a", 5);
  fc.create_topic("b", 2);
  auto p = producer::create(fake_props(fc));
  ASSERT_TRUE(p.ok()) << p.error().message();
  delivery_tracker ta, tb;
  for (std::size_t w = 0; w < 10; ++w) {
    ta.send(**p, "a", w * 20, 20);
    tb.send(**p, "b", w * 20, 20);
  }
  ASSERT_TRUE(ta.wait_all(10s));
  ASSERT_TRUE(tb.wait_all(10s));
  ASSERT_TRUE((*p)->close(5s).ok());
  ta.expect_exactly_one_completion_each();
  tb.expect_exactly_one_completion_each();
  ta.expect_all_ok();
  tb.expect_all_ok();
  expect_log_holds(fc, "a", 200);
  expect_log_holds(fc, "b", 200);
  expect_offsets_match(fc, "a", ta.reports());
  expect_offsets_match(fc, "b", tb.reports());
}

}  // namespace
}  // namespace kprod::test
