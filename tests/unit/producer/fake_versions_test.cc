// The producer against the in-process fake broker at every protocol version
// a broker may pick: Produce 3..11, Metadata 0..12, the ApiVersions fallback
// (KIP-511) and acks=0.
#include <gtest/gtest.h>

#include <thread>

#include "fake/fake_broker.h"
#include "fake/producer_harness.h"
#include "protocol/generated/api_traits.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;
namespace pr = kprod::protocol;

constexpr std::size_t records_per_test = 60;

// Produces records_per_test records to `topic` and checks every completion
// and the log.
void produce_and_check(fake_cluster& fc, const std::string& topic,
                       std::map<std::string, std::string> extra = {}) {
  auto p = producer::create(fake_props(fc, std::move(extra)));
  ASSERT_TRUE(p.ok()) << p.error().message();
  delivery_tracker t;
  t.send(**p, topic, 0, records_per_test / 2);
  t.send(**p, topic, records_per_test / 2, records_per_test / 2, 1);  // explicit partition
  ASSERT_TRUE(t.wait_all(10s)) << "not every record completed";
  ASSERT_TRUE((*p)->close(5s).ok());
  t.expect_exactly_one_completion_each();
  t.expect_all_ok();
  expect_log_holds(fc, topic, records_per_test);
  expect_offsets_match(fc, topic, t.reports());
  for (const auto& r : t.reports()) EXPECT_EQ(r.status, persistence::persisted);
}

class ProduceVersion : public ::testing::TestWithParam<int> {};

TEST_P(ProduceVersion, RecordsLandInTheLogAtThePinnedVersion) {
  const auto v = static_cast<std::int16_t>(GetParam());
  fake_cluster fc({.brokers = 2});
  fc.set_api_versions(pr::produce_api::key, 3, v);
  fc.create_topic("t", 3);
  produce_and_check(fc, "t");
  EXPECT_EQ(fc.versions_seen(pr::produce_api::key), std::vector<std::int16_t>{v});
  for (const auto& r : fc.records("t")) EXPECT_EQ(r.produce_version, v);
  // Idempotent batches carry the fake's producer id and gap-free sequences.
  for (std::int32_t part = 0; part < 3; ++part) {
    auto log = fc.records("t", part);
    for (std::size_t j = 0; j < log.size(); ++j) {
      EXPECT_EQ(log[j].producer_id, 1000);
      EXPECT_EQ(log[j].sequence, static_cast<std::int32_t>(j));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Every, ProduceVersion, ::testing::Range(3, 12),
                         [](const ::testing::TestParamInfo<int>& pi) { return "v" + std::to_string(pi.param); });

struct metadata_pin {
  int version;
  bool exact;  // advertise [v, v] instead of [0, v]
};

class MetadataVersion : public ::testing::TestWithParam<metadata_pin> {};

TEST_P(MetadataVersion, ProducerUsesThePinnedVersionAndAutoCreates) {
  const auto v = static_cast<std::int16_t>(GetParam().version);
  fake_cluster fc({.brokers = 3, .default_partitions = 4});
  fc.set_api_versions(pr::metadata_api::key, GetParam().exact ? v : std::int16_t{0}, v);
  produce_and_check(fc, "auto-created");  // the fake creates it on the first Metadata request
  EXPECT_EQ(fc.partition_count("auto-created"), 4);
  EXPECT_EQ(fc.versions_seen(pr::metadata_api::key), std::vector<std::int16_t>{v});
  EXPECT_EQ(fc.versions_seen(pr::produce_api::key), std::vector<std::int16_t>{pr::produce_api::max_version});
}

std::vector<metadata_pin> metadata_pins() {
  std::vector<metadata_pin> out;
  for (int v = 0; v <= 12; ++v) {
    out.push_back({v, false});
    out.push_back({v, true});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Every, MetadataVersion, ::testing::ValuesIn(metadata_pins()), [](const ::testing::TestParamInfo<metadata_pin>& pi) {
  return std::string(pi.param.exact ? "only_v" : "up_to_v") + std::to_string(pi.param.version);
});

class ApiVersionsFallback : public ::testing::TestWithParam<int> {};

TEST_P(ApiVersionsFallback, UnsupportedVersionMakesTheProducerAskAgainLower) {
  const auto max = static_cast<std::int16_t>(GetParam());
  fake_cluster fc;
  fc.set_api_versions(pr::api_versions_api::key, 0, max);
  fc.create_topic("t", 2);
  produce_and_check(fc, "t");
  const auto seen = fc.versions_seen(pr::api_versions_api::key);
  // The first try is our newest version; the broker's answer names its max.
  EXPECT_EQ(seen.back(), pr::api_versions_api::max_version);
  EXPECT_NE(std::find(seen.begin(), seen.end(), max), seen.end());
  for (auto s : seen) EXPECT_TRUE(s == max || s == pr::api_versions_api::max_version) << "asked v" << s;
}

INSTANTIATE_TEST_SUITE_P(BrokerMax, ApiVersionsFallback, ::testing::Range(0, 4),
                         [](const ::testing::TestParamInfo<int>& pi) { return "max_v" + std::to_string(pi.param); });

TEST(FakeBrokerAcks0, EveryRecordCompletesWithoutResponses) {
  fake_cluster fc;
  fc.create_topic("t", 2);
  auto p = producer::create(fake_props(fc, {{"acks", "0"}, {"enable.idempotence", "false"}}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  delivery_tracker t;
  t.send(**p, "t", 0, 200);
  ASSERT_TRUE(t.wait_all(10s)) << "acks=0 records must complete once written";
  ASSERT_TRUE((*p)->close(5s).ok());
  t.expect_exactly_one_completion_each();
  t.expect_all_ok();
  for (const auto& r : t.reports()) {
    EXPECT_EQ(r.offset, -1);
    EXPECT_EQ(r.status, persistence::possibly_persisted);
  }
  // Written is not yet read: the fake may still be appending.
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (fc.record_count("t") < 200 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(1ms);
  expect_log_holds(fc, "t", 200);
  // The fake answered none of the Produce requests, yet all are appended.
  EXPECT_GT(fc.requests(pr::produce_api::key), 0u);
  for (const auto& s : fc.seen(pr::produce_api::key)) EXPECT_EQ(s.answered, std::chrono::steady_clock::time_point{});
}

}  // namespace
}  // namespace kprod::test
