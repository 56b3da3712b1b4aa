#include "protocol/api_versions_negotiation.h"

#include <gtest/gtest.h>

#include <vector>

#include "codec/byte_reader.h"

namespace kprod::protocol {
namespace {

using bytes = std::vector<std::uint8_t>;

// librdkafka 2.0.2's mock cluster answering an ApiVersions v3 request (body
// after the v0 response header), as seen on the wire:
const bytes mock_v3_error = {
    0x00, 0x23,                          // ErrorCode 35 UNSUPPORTED_VERSION
    0x01,                                // ApiKeys count as a raw 1-byte 1 (neither int32 nor count+1)
    0x00, 0x12, 0x00, 0x00, 0x00, 0x02,  // ApiVersions 0-2
    0x00, 0x00, 0x00, 0x00,              // ThrottleTimeMs
};

// A real broker (KIP-511) answers in the v0 layout with the ApiVersions range.
const bytes broker_v0_error = {
    0x00, 0x23,                          // ErrorCode 35
    0x00, 0x00, 0x00, 0x01,              // int32 count 1
    0x00, 0x12, 0x00, 0x00, 0x00, 0x03,  // ApiVersions 0-3
};

TEST(ApiVersionsNegotiation, ErrorCodeIsReadFromAnyLayout) {
  auto mock = api_versions_error_code(mock_v3_error);
  ASSERT_TRUE(mock.ok());
  EXPECT_EQ(*mock, 35);
  auto broker = api_versions_error_code(broker_v0_error);
  ASSERT_TRUE(broker.ok());
  EXPECT_EQ(*broker, 35);
  EXPECT_EQ(api_versions_error_code(bytes{0x00}).error().code(), client_errc::malformed_response);
  EXPECT_FALSE(api_versions_error_code(bytes{}).ok());
}

TEST(ApiVersionsNegotiation, MockLayoutFallsBackToVersionZero) {
  EXPECT_EQ(api_versions_retry_version(mock_v3_error, 3), 0);
  EXPECT_EQ(api_versions_retry_version(mock_v3_error, 4), 0);
}

TEST(ApiVersionsNegotiation, MockBytesWouldMisparseAsAV3Body) {
  // Why the error path must not decode the body at the requested version:
  // the mock's bytes "decode" as v3 but leave bytes behind.
  codec::byte_reader r(mock_v3_error);
  api_versions_response m;
  auto res = decode(r, m, 3);
  EXPECT_TRUE(!res.ok() || !r.empty());
}

TEST(ApiVersionsNegotiation, BrokerV0LayoutGivesTheBrokersMax) {
  EXPECT_EQ(api_versions_retry_version(broker_v0_error, 4), 3);
  EXPECT_EQ(api_versions_retry_version(broker_v0_error, 3), 2);  // never the version that just failed
  EXPECT_EQ(api_versions_retry_version(broker_v0_error, 0), 0);
  const bytes two_entries = {0x00, 0x23, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
                             0x00, 0x12, 0x00, 0x00, 0x00, 0x02};
  EXPECT_EQ(api_versions_retry_version(two_entries, 3), 2);
}

TEST(ApiVersionsNegotiation, TruncatedOrMissingEntriesFallBackToZero) {
  const bytes truncated = {0x00, 0x23, 0x00, 0x00, 0x00, 0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x03};
  EXPECT_EQ(api_versions_retry_version(truncated, 3), 0);
  const bytes no_api_versions_entry = {0x00, 0x23, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(api_versions_retry_version(no_api_versions_entry, 3), 0);
  EXPECT_EQ(api_versions_retry_version(bytes{0x00, 0x23}, 3), 0);
  EXPECT_EQ(api_versions_retry_version(bytes{}, 3), 0);
}

api_versions_response broker_with(std::initializer_list<std::array<std::int16_t, 3>> apis) {
  api_versions_response r;
  for (const auto& a : apis) {
    auto& e = r.api_keys.emplace_back();
    e.api_key = a[0];
    e.min_version = a[1];
    e.max_version = a[2];
  }
  return r;
}

TEST(ApiVersionsNegotiation, HighestCommonVersion) {
  // librdkafka 2.0.2 mock ranges (reliability notes 1.2).
  const auto broker = broker_with({{0, 0, 7}, {3, 0, 2}, {18, 0, 2}, {22, 0, 4}, {1, 0, 11}});
  EXPECT_EQ(common_version(broker, produce_api::key, produce_api::min_version, produce_api::max_version), 7);
  EXPECT_EQ(common_version(broker, 3, 0, 12), 2);
  EXPECT_EQ(common_version(broker, 3, 5, 12), std::nullopt);  // no overlap
  EXPECT_EQ(common_version(broker, 10, 0, 6), std::nullopt);  // broker lacks the API

  const negotiated_versions chosen(broker);
  EXPECT_EQ(chosen.version<produce_api>(), 7);
  EXPECT_EQ(chosen.version<metadata_api>(), 2);
  EXPECT_EQ(chosen.version<api_versions_api>(), 2);
  EXPECT_EQ(chosen.version<init_producer_id_api>(), 4);
  EXPECT_EQ(chosen.version<fetch_api>(), 11);
  EXPECT_EQ(chosen.version<find_coordinator_api>(), std::nullopt);
  EXPECT_EQ(chosen.version(9999), std::nullopt);
}

TEST(ApiVersionsNegotiation, OurRangeCapsANewerBroker) {
  const auto broker = broker_with({{0, 0, 50}, {26, 0, 50}});
  const negotiated_versions chosen(broker);
  EXPECT_EQ(chosen.version<produce_api>(), produce_api::max_version);
  // EndTxn v5 is marked latestVersionUnstable: kprod stops at 4.
  EXPECT_EQ(end_txn_api::max_version, 4);
  EXPECT_EQ(chosen.version<end_txn_api>(), 4);
}

}  // namespace
}  // namespace kprod::protocol
