// Tagged fields (KIP-482), fields missing from older versions (the Java
// generator's "ignorable" rule) and nullability by version.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "protocol/generated/api_traits.h"

namespace kprod::protocol {
namespace {

using bytes = std::vector<std::uint8_t>;

template <typename T>
kprod::result<void> encode_into(bytes& out, const T& m, std::int16_t version) {
  codec::byte_writer w(out);
  return encode(w, m, version);
}

// ApiVersionsResponse v3 body prefix: ErrorCode 0, no ApiKeys, ThrottleTimeMs 0.
const bytes api_versions_v3_prefix = {0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};

bytes with_prefix(const bytes& tags) {
  bytes b = api_versions_v3_prefix;
  b.insert(b.end(), tags.begin(), tags.end());
  return b;
}

TEST(TaggedFields, DefaultTaggedFieldsAreNotWritten) {
  api_versions_response m;
  bytes out;
  ASSERT_TRUE(encode_into(out, m, 3).ok());
  EXPECT_EQ(out, with_prefix({0x00}));  // an empty tagged-field section
}

TEST(TaggedFields, KnownAndUnknownTagsAreWrittenInAscendingOrder) {
  api_versions_response m;
  m.zk_migration_ready = true;     // tag 3
  m.finalized_features_epoch = 5;  // tag 1
  m.unknown_tagged_fields = {tagged_field{9, {0xee}}, tagged_field{2 + 2, {0xab, 0xcd}}};
  bytes out;
  ASSERT_TRUE(encode_into(out, m, 3).ok());
  const bytes expected = with_prefix({
      0x04,                                                  // four tagged fields
      0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // tag 1: int64 epoch 5
      0x03, 0x01, 0x01,                                      // tag 3: bool true
      0x04, 0x02, 0xab, 0xcd,                                // tag 4: unknown, kept verbatim
      0x09, 0x01, 0xee,                                      // tag 9: unknown
  });
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.size(), encoded_size(m, 3));

  codec::byte_reader r(out);
  api_versions_response back;
  ASSERT_TRUE(decode(r, back, 3).ok());
  EXPECT_EQ(back.finalized_features_epoch, 5);
  EXPECT_TRUE(back.zk_migration_ready);
  // Decoded in wire order; re-encoding gives the same bytes.
  ASSERT_EQ(back.unknown_tagged_fields.size(), 2u);
  EXPECT_EQ(back.unknown_tagged_fields[0].tag, 4u);
  EXPECT_EQ(back.unknown_tagged_fields[1].data, bytes{0xee});
  bytes again;
  ASSERT_TRUE(encode_into(again, back, 3).ok());
  EXPECT_EQ(again, out);
}

TEST(TaggedFields, UnknownTagsFromTheWireArePreserved) {
  const bytes wire = with_prefix({0x01, 0x1e, 0x03, 0x61, 0x62, 0x63});  // tag 30, "abc"
  codec::byte_reader r(wire);
  api_versions_response m;
  ASSERT_TRUE(decode(r, m, 4).ok());
  ASSERT_EQ(m.unknown_tagged_fields.size(), 1u);
  EXPECT_EQ(m.unknown_tagged_fields[0].tag, 30u);
  EXPECT_EQ(m.unknown_tagged_fields[0].data, (bytes{'a', 'b', 'c'}));
  bytes out;
  ASSERT_TRUE(encode_into(out, m, 4).ok());
  EXPECT_EQ(out, wire);
}

TEST(TaggedFields, NestedStructTagsArePreserved) {
  produce_response m;
  auto& p = m.responses.emplace_back().partition_responses.emplace_back();
  p.current_leader.leader_id = 3;
  p.current_leader.leader_epoch = 4;
  p.current_leader.unknown_tagged_fields.push_back({7, {0x01}});
  p.unknown_tagged_fields.push_back({5, {}});
  bytes out;
  ASSERT_TRUE(encode_into(out, m, 10).ok());
  codec::byte_reader r(out);
  produce_response back;
  ASSERT_TRUE(decode(r, back, 10).ok());
  EXPECT_TRUE(back == m);
}

TEST(TaggedFields, AKnownTagMustFillItsPayloadExactly) {
  // tag 1 (FinalizedFeaturesEpoch, int64) announced with 9 bytes.
  const bytes wire = with_prefix({0x01, 0x01, 0x09, 0, 0, 0, 0, 0, 0, 0, 5, 0});
  codec::byte_reader r(wire);
  api_versions_response m;
  auto res = decode(r, m, 3);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), client_errc::malformed_response);
}

TEST(TaggedFields, UnknownTagCollidingWithAWrittenKnownTagIsRejected) {
  api_versions_response m;
  m.finalized_features_epoch = 5;  // tag 1
  m.unknown_tagged_fields.push_back({1, {0x00}});
  bytes out;
  auto res = encode_into(out, m, 3);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), client_errc::invalid_argument);
  EXPECT_TRUE(out.empty());
}

TEST(TaggedFields, TaggedFieldsAreDroppedBeforeTheirVersionWhenIgnorable) {
  api_versions_response m;
  m.finalized_features_epoch = 5;  // ignorable, 3+
  bytes out;
  ASSERT_TRUE(encode_into(out, m, 2).ok());
  EXPECT_EQ(out, (bytes{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
}

TEST(VersionedFields, NonIgnorableFieldMissingFromTheVersionIsAnError) {
  produce_request m;
  m.transactional_id = "tx";  // 3+, not ignorable
  bytes out;
  auto res = encode_into(out, m, 2);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), client_errc::unsupported_version);
  EXPECT_NE(res.error().detail().find("ProduceRequest.TransactionalId"), std::string::npos) << res.error().detail();
  EXPECT_NE(res.error().detail().find("version 2"), std::string::npos) << res.error().detail();
  EXPECT_TRUE(out.empty());
  m.transactional_id.reset();  // the default: nothing to lose
  EXPECT_TRUE(encode_into(out, m, 2).ok());
}

TEST(VersionedFields, NonIgnorableNestedAndTaggedFields) {
  produce_response m;
  m.responses.emplace_back().partition_responses.emplace_back().current_leader.leader_id = 1;  // tagged, 10+
  bytes out;
  auto res = encode_into(out, m, 9);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), client_errc::unsupported_version);
  EXPECT_NE(res.error().detail().find("ProduceResponse.PartitionProduceResponse.CurrentLeader"), std::string::npos);

  fetch_response f;
  f.session_id = 12;  // 7+, "ignorable": false
  EXPECT_EQ(encode_into(out, f, 6).error().code(), client_errc::unsupported_version);
  metadata_request md;
  md.allow_auto_topic_creation = false;  // 4+, default true, not ignorable
  EXPECT_EQ(encode_into(out, md, 3).error().code(), client_errc::unsupported_version);
  md.allow_auto_topic_creation = true;
  EXPECT_TRUE(encode_into(out, md, 3).ok());
}

TEST(VersionedFields, IgnorableFieldsAreSilentlyDropped) {
  produce_response m;
  m.throttle_time_ms = 100;  // 1+, ignorable
  auto& part = m.responses.emplace_back().partition_responses.emplace_back();
  part.log_start_offset = 77;  // 5+, ignorable
  bytes out;
  ASSERT_TRUE(encode_into(out, m, 0).ok());
  produce_response plain;
  plain.responses.emplace_back().partition_responses.emplace_back();
  bytes expected;
  ASSERT_TRUE(encode_into(expected, plain, 0).ok());
  EXPECT_EQ(out, expected);

  fetch_response f;
  f.error_code = 3;  // 7+, ignorable
  bytes fo;
  EXPECT_TRUE(encode_into(fo, f, 6).ok());
}

TEST(Nullability, NullIsOnlyWrittenWhereTheVersionAllowsIt) {
  metadata_request m;
  m.topics.reset();  // nullable from v1
  bytes out;
  auto res = encode_into(out, m, 0);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), client_errc::invalid_argument);
  EXPECT_TRUE(encode_into(out, m, 1).ok());

  // And a null read where the version does not allow it is malformed.
  const bytes null_topics = {0xff, 0xff, 0xff, 0xff};
  codec::byte_reader r(null_topics);
  metadata_request back;
  EXPECT_EQ(decode(r, back, 0).error().code(), client_errc::malformed_response);
  codec::byte_reader r1(null_topics);
  ASSERT_TRUE(decode(r1, back, 1).ok());
  EXPECT_FALSE(back.topics.has_value());
}

TEST(Nullability, DefaultsFollowTheSpec) {
  produce_request p;
  EXPECT_FALSE(p.transactional_id.has_value());  // "default": "null"
  init_producer_id_request i;
  EXPECT_EQ(i.producer_id, -1);
  EXPECT_EQ(i.producer_epoch, -1);
  ASSERT_TRUE(i.transactional_id.has_value());  // nullable, no default: ""
  EXPECT_TRUE(i.transactional_id->empty());
  metadata_response md;
  EXPECT_EQ(md.cluster_authorized_operations, std::numeric_limits<std::int32_t>::min());
  fetch_request f;
  EXPECT_EQ(f.max_bytes, 0x7fffffff);
  EXPECT_TRUE(metadata_request{}.allow_auto_topic_creation);
}

TEST(Decoding, HostileCountsFailWithoutAllocating) {
  // Produce response v0: a topic count of 2^31-1 with nothing behind it.
  const bytes wire = {0x7f, 0xff, 0xff, 0xff};
  codec::byte_reader r(wire);
  produce_response m;
  EXPECT_EQ(decode(r, m, 0).error().code(), client_errc::malformed_response);
  // A string length beyond the buffer.
  const bytes str = {0x00, 0x00, 0x00, 0x01, 0x7f, 0xff};
  codec::byte_reader r2(str);
  EXPECT_FALSE(decode(r2, m, 0).ok());
  // A negative string length other than -1 for a non-nullable string.
  const bytes neg = {0x00, 0x00, 0x00, 0x01, 0xff, 0xfe};
  codec::byte_reader r3(neg);
  EXPECT_FALSE(decode(r3, m, 0).ok());
}

}  // namespace
}  // namespace kprod::protocol
