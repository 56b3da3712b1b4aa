// Hand-checked request/response bytes. The expected bytes were written field
// by field from the Kafka protocol definitions, not produced by the encoder.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"

namespace kprod::protocol {
namespace {

using bytes = std::vector<std::uint8_t>;

template <typename T>
bytes encode_ok(const T& m, std::int16_t version) {
  bytes out;
  codec::byte_writer w(out);
  auto r = encode(w, m, version);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  EXPECT_EQ(out.size(), encoded_size(m, version));
  return out;
}

template <typename T>
T decode_ok(const bytes& in, std::int16_t version) {
  codec::byte_reader r(in);
  T m;
  auto res = decode(r, m, version);
  EXPECT_TRUE(res.ok()) << (res.ok() ? "" : res.error().message());
  EXPECT_TRUE(r.empty());
  return m;
}

bytes concat(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(GoldenFrames, ApiVersionsRequestV0WithHeaderV1) {
  ASSERT_EQ(request_header_version(api_versions_api::key, 0), 1);
  request_header h;
  h.request_api_key = 18;
  h.request_api_version = 0;
  h.correlation_id = 1;
  h.client_id = "kp";
  const bytes expected = {
      0x00, 0x12,              // RequestApiKey 18
      0x00, 0x00,              // RequestApiVersion 0
      0x00, 0x00, 0x00, 0x01,  // CorrelationId 1
      0x00, 0x02, 'k', 'p',    // ClientId: int16 length + bytes
      // ApiVersionsRequest v0 has no fields
  };
  EXPECT_EQ(concat(encode_ok(h, 1), encode_ok(api_versions_request{}, 0)), expected);
}

TEST(GoldenFrames, ApiVersionsRequestV3WithHeaderV2) {
  ASSERT_EQ(request_header_version(api_versions_api::key, 3), 2);
  request_header h;
  h.request_api_key = 18;
  h.request_api_version = 3;
  h.correlation_id = 7;
  h.client_id = "kp";
  api_versions_request body;
  body.client_software_name = "kprod";
  body.client_software_version = "0.1.0";
  const bytes expected = {
      0x00, 0x12,              // RequestApiKey 18
      0x00, 0x03,              // RequestApiVersion 3
      0x00, 0x00, 0x00, 0x07,  // CorrelationId 7
      0x00, 0x02, 'k', 'p',    // ClientId stays a non-compact string in header v2
      0x00,                    // header tagged fields: none
      0x06, 'k', 'p', 'r', 'o', 'd',  // ClientSoftwareName: compact, length+1 = 6
      0x06, '0', '.', '1', '.', '0',  // ClientSoftwareVersion: compact
      0x00,                           // body tagged fields: none
  };
  EXPECT_EQ(concat(encode_ok(h, 2), encode_ok(body, 3)), expected);
  EXPECT_TRUE(decode_ok<api_versions_request>(bytes(expected.begin() + 13, expected.end()), 3) == body);
}

TEST(GoldenFrames, RequestHeaderV2NullClientId) {
  request_header h;
  h.request_api_key = 0;
  h.request_api_version = 9;
  h.correlation_id = 2;
  h.client_id.reset();
  const bytes expected = {0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x02,
                          0xff, 0xff,  // null ClientId: int16 -1, even in v2
                          0x00};       // tagged fields
  EXPECT_EQ(encode_ok(h, 2), expected);
}

TEST(GoldenFrames, MetadataRequestV1) {
  metadata_request m;
  m.topics.emplace().emplace_back().name = "t1";
  const bytes expected = {
      0x00, 0x00, 0x00, 0x01,  // Topics: int32 count 1
      0x00, 0x02, 't', '1',    // Name
  };
  EXPECT_EQ(encode_ok(m, 1), expected);
  EXPECT_TRUE(decode_ok<metadata_request>(expected, 1) == m);

  metadata_request all;
  all.topics.reset();  // null: every topic (v1+)
  EXPECT_EQ(encode_ok(all, 1), (bytes{0xff, 0xff, 0xff, 0xff}));
}

TEST(GoldenFrames, MetadataRequestV12) {
  metadata_request m;
  auto& t = m.topics.emplace().emplace_back();
  t.topic_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  t.name = "t1";
  m.include_topic_authorized_operations = true;
  const bytes expected = {
      0x02,                                            // Topics: compact count 1+1
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,  // TopicId
      0x03, 't', '1',                                  // Name: compact nullable string
      0x00,                                            // topic tagged fields
      0x01,                                            // AllowAutoTopicCreation (default true)
      0x01,                                            // IncludeTopicAuthorizedOperations
      0x00,                                            // tagged fields
  };
  EXPECT_EQ(encode_ok(m, 12), expected);
  EXPECT_TRUE(decode_ok<metadata_request>(expected, 12) == m);
}

produce_request tiny_produce(std::optional<std::string> txn, std::int16_t acks) {
  produce_request p;
  p.transactional_id = std::move(txn);
  p.acks = acks;
  p.timeout_ms = 30000;
  auto& topic = p.topic_data.emplace_back();
  topic.name = "t1";
  auto& part = topic.partition_data.emplace_back();
  part.index = 2;
  part.records = bytes{0x01, 0x02, 0x03};  // a fake records payload
  return p;
}

TEST(GoldenFrames, ProduceRequestV3) {
  const auto p = tiny_produce(std::nullopt, -1);
  const bytes expected = {
      0xff, 0xff,              // TransactionalId: null
      0xff, 0xff,              // Acks -1
      0x00, 0x00, 0x75, 0x30,  // TimeoutMs 30000
      0x00, 0x00, 0x00, 0x01,  // TopicData count 1
      0x00, 0x02, 't', '1',    // Name
      0x00, 0x00, 0x00, 0x01,  // PartitionData count 1
      0x00, 0x00, 0x00, 0x02,  // Index 2
      0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03,  // Records: int32 length + bytes
  };
  EXPECT_EQ(encode_ok(p, 3), expected);
  EXPECT_TRUE(decode_ok<produce_request>(expected, 3) == p);
}

TEST(GoldenFrames, ProduceRequestV7WithHeader) {
  const auto p = tiny_produce("tx", 1);
  request_header h;
  h.request_api_key = 0;
  h.request_api_version = 7;
  h.correlation_id = 3;
  h.client_id = "kp";
  ASSERT_EQ(request_header_version(produce_api::key, 7), 1);
  const bytes expected = {
      0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 'k', 'p',  // header v1
      0x00, 0x02, 't', 'x',    // TransactionalId "tx"
      0x00, 0x01,              // Acks 1
      0x00, 0x00, 0x75, 0x30,  // TimeoutMs
      0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 't', '1',
      0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
      0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03,
  };
  EXPECT_EQ(concat(encode_ok(h, 1), encode_ok(p, 7)), expected);
}

TEST(GoldenFrames, ProduceRequestV9IsFlexible) {
  const auto p = tiny_produce(std::nullopt, -1);
  ASSERT_EQ(request_header_version(produce_api::key, 9), 2);
  const bytes expected = {
      0x00,                    // TransactionalId: compact null
      0xff, 0xff,              // Acks -1
      0x00, 0x00, 0x75, 0x30,  // TimeoutMs
      0x02,                    // TopicData: compact count 1+1
      0x03, 't', '1',          // Name: compact string
      0x02,                    // PartitionData: compact count
      0x00, 0x00, 0x00, 0x02,  // Index
      0x04, 0x01, 0x02, 0x03,  // Records: compact length 3+1
      0x00,                    // partition tagged fields
      0x00,                    // topic tagged fields
      0x00,                    // request tagged fields
  };
  EXPECT_EQ(encode_ok(p, 9), expected);
  EXPECT_TRUE(decode_ok<produce_request>(expected, 9) == p);
}

TEST(GoldenFrames, InitProducerIdRequestV2) {
  init_producer_id_request m;
  m.transactional_id = "tx";
  m.transaction_timeout_ms = 60000;
  const bytes expected = {
      0x03, 't', 'x',          // TransactionalId: compact nullable string
      0x00, 0x00, 0xea, 0x60,  // TransactionTimeoutMs 60000
      0x00,                    // tagged fields (ProducerId/Epoch arrive in v3)
  };
  EXPECT_EQ(encode_ok(m, 2), expected);
  EXPECT_TRUE(decode_ok<init_producer_id_request>(expected, 2) == m);
  m.transactional_id.reset();  // idempotent producer
  EXPECT_EQ(encode_ok(m, 2), (bytes{0x00, 0x00, 0x00, 0xea, 0x60, 0x00}));
}

TEST(GoldenFrames, ResponseHeaderVersions) {
  // KIP-511: ApiVersions responses always use header v0.
  EXPECT_EQ(response_header_version(api_versions_api::key, 0), 0);
  EXPECT_EQ(response_header_version(api_versions_api::key, 3), 0);
  EXPECT_EQ(response_header_version(api_versions_api::key, 4), 0);
  EXPECT_EQ(response_header_version(produce_api::key, 8), 0);
  EXPECT_EQ(response_header_version(produce_api::key, 9), 1);
  EXPECT_EQ(response_header_version(init_producer_id_api::key, 2), 1);
  EXPECT_EQ(response_header_version(sasl_handshake_api::key, 1), 0);
  EXPECT_EQ(request_header_version(sasl_handshake_api::key, 1), 1);
  EXPECT_EQ(response_header_version(12345, 0), -1);
  EXPECT_EQ(request_header_version(12345, 0), -1);
}

TEST(GoldenFrames, ApiVersionsResponseV3WithHeaderV0) {
  const bytes frame = {
      0x00, 0x00, 0x00, 0x07,  // ResponseHeader v0: CorrelationId 7, no tagged fields
      0x00, 0x00,              // ErrorCode 0
      0x03,                    // ApiKeys: compact count 2+1
      0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x00,  // Produce 0-11, no tags
      0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,  // ApiVersions 0-4, no tags
      0x00, 0x00, 0x00, 0x0a,  // ThrottleTimeMs 10
      0x00,                    // tagged fields
  };
  codec::byte_reader r(frame);
  response_header h;
  ASSERT_TRUE(decode(r, h, response_header_version(18, 3)).ok());
  EXPECT_EQ(h.correlation_id, 7);
  api_versions_response body;
  ASSERT_TRUE(decode(r, body, 3).ok());
  EXPECT_TRUE(r.empty());
  ASSERT_EQ(body.api_keys.size(), 2u);
  EXPECT_EQ(body.api_keys[1].api_key, 18);
  EXPECT_EQ(body.api_keys[1].max_version, 4);
  EXPECT_EQ(body.throttle_time_ms, 10);
  EXPECT_EQ(body.finalized_features_epoch, -1);
}

TEST(GoldenFrames, ProduceResponseV9HeaderV1) {
  const bytes frame = {0x00, 0x00, 0x00, 0x05, 0x00};  // CorrelationId 5, tagged fields
  codec::byte_reader r(frame);
  response_header h;
  ASSERT_TRUE(decode(r, h, response_header_version(0, 9)).ok());
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(h.correlation_id, 5);
}

}  // namespace
}  // namespace kprod::protocol
