// The sequence auditor on hand-built Produce requests and responses: no
// network. It lives in the integration binary because that is the one that
// links kprod_test_support.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "codec/byte_writer.h"
#include "codec/crc32c.h"
#include "protocol/generated/produce_request.h"
#include "protocol/generated/produce_response.h"
#include "protocol/record_batch.h"
#include "support/sequence_auditor.h"

namespace kprod::test {
namespace {

constexpr std::int16_t version = 7;  // what librdkafka 2.0.2 negotiates with the mock
constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();

std::vector<std::uint8_t> make_batch(std::int64_t pid, std::int16_t epoch, std::int32_t base_sequence, int records,
                                     const std::string& tag = "v") {
  protocol::record_batch_builder b;
  b.start(1'700'000'000'000);
  for (int i = 0; i < records; ++i) {
    const std::string value = tag + std::to_string(i);
    b.append(1'700'000'000'000 + i, nullptr, -1, reinterpret_cast<const std::uint8_t*>(value.data()),
             static_cast<std::int32_t>(value.size()), {});
  }
  auto sealed = b.seal({pid, epoch, base_sequence, false}, nullptr);
  EXPECT_TRUE(sealed.ok());
  return sealed.ok() ? std::move(*sealed) : std::vector<std::uint8_t>{};
}

std::vector<std::uint8_t> request_body(const std::vector<std::uint8_t>& batch, std::int32_t partition = 0,
                                       std::int16_t acks = -1) {
  protocol::produce_request req;
  req.acks = acks;
  req.timeout_ms = 30000;
  req.topic_data.push_back({"t", {{partition, batch, {}}}, {}});
  std::vector<std::uint8_t> out;
  codec::byte_writer w(out);
  EXPECT_TRUE(protocol::encode(w, req, version).ok());
  return out;
}

std::vector<std::uint8_t> response_body(std::int32_t partition = 0) {
  protocol::produce_response resp;
  protocol::produce_response::partition_produce_response p;
  p.index = partition;
  resp.responses.push_back({"t", {p}, {}});
  std::vector<std::uint8_t> out;
  codec::byte_writer w(out);
  EXPECT_TRUE(protocol::encode(w, resp, version).ok());
  return out;
}

void fix_crc(std::vector<std::uint8_t>& batch) {
  using namespace protocol::batch_v2;
  const std::uint32_t crc = codec::crc32c(batch.data() + attributes_at, batch.size() - attributes_at);
  for (int i = 0; i < 4; ++i) batch[crc_at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
}

bool mentions(const std::vector<std::string>& v, const std::string& what) {
  for (const auto& s : v) {
    if (s.find(what) != std::string::npos) return true;
  }
  return false;
}

// Sends one batch on connection 1 and answers it, so the window stays empty.
void send_acked(sequence_auditor& a, std::int32_t corr, const std::vector<std::uint8_t>& batch) {
  a.on_produce_request(1, corr, version, request_body(batch));
  a.on_produce_response(1, corr, version, response_body());
}

TEST(sequence_auditor, contiguous_sequences_pass) {
  sequence_auditor a;
  send_acked(a, 1, make_batch(1000, 0, 0, 3));
  send_acked(a, 2, make_batch(1000, 0, 3, 2));
  send_acked(a, 3, make_batch(1000, 0, 5, 10));
  EXPECT_TRUE(a.no_violations());
  EXPECT_EQ(a.stats().batches, 3u);
  EXPECT_EQ(a.stats().records, 15u);
}

TEST(sequence_auditor, catches_a_sequence_gap) {
  sequence_auditor a;
  send_acked(a, 1, make_batch(1000, 0, 0, 3));
  send_acked(a, 2, make_batch(1000, 0, 4, 1));  // 3 skipped
  const auto v = a.violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(mentions(v, "starts at sequence 4, expected 3 (gap)")) << v[0];
  // Resynchronised: the next contiguous batch is fine.
  send_acked(a, 3, make_batch(1000, 0, 5, 1));
  EXPECT_EQ(a.violations().size(), 1u);
}

TEST(sequence_auditor, catches_an_overlap) {
  sequence_auditor a;
  send_acked(a, 1, make_batch(1000, 0, 0, 3));
  send_acked(a, 2, make_batch(1000, 0, 2, 3));
  EXPECT_TRUE(mentions(a.violations(), "overlap")) << ::testing::PrintToString(a.violations());
}

TEST(sequence_auditor, catches_a_bad_crc) {
  sequence_auditor a;
  auto batch = make_batch(1000, 0, 0, 3);
  batch.back() ^= 0x01;  // a record byte; the CRC no longer matches
  send_acked(a, 1, batch);
  const auto v = a.violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(mentions(v, "CRC mismatch")) << v[0];
  EXPECT_TRUE(mentions(v, "pid 1000 epoch 0 t-0 base sequence 0")) << v[0];
}

TEST(sequence_auditor, catches_last_offset_delta_mismatch) {
  sequence_auditor a;
  auto batch = make_batch(1000, 0, 0, 3);
  batch[protocol::batch_v2::last_offset_delta_at + 3] = 5;
  fix_crc(batch);
  send_acked(a, 1, batch);
  EXPECT_TRUE(mentions(a.violations(), "lastOffsetDelta 5")) << ::testing::PrintToString(a.violations());
}

TEST(sequence_auditor, first_batch_must_start_at_zero) {
  sequence_auditor a;
  send_acked(a, 1, make_batch(1000, 0, 7, 1));
  EXPECT_TRUE(mentions(a.violations(), "first batch starts at sequence 7, not 0"));
}

TEST(sequence_auditor, identical_resend_is_fine_a_changed_one_is_not) {
  sequence_auditor a;
  const auto batch = make_batch(1000, 0, 0, 3, "a");
  send_acked(a, 1, batch);
  send_acked(a, 2, batch);
  EXPECT_TRUE(a.no_violations());
  EXPECT_EQ(a.stats().resends, 1u);
  send_acked(a, 3, make_batch(1000, 0, 0, 3, "b"));
  EXPECT_TRUE(mentions(a.violations(), "resend of base sequence 0 differs")) << ::testing::PrintToString(a.violations());
}

TEST(sequence_auditor, epoch_bump_and_new_producer_id_restart_at_zero) {
  sequence_auditor a;
  send_acked(a, 1, make_batch(1000, 0, 0, 3));
  send_acked(a, 2, make_batch(1000, 1, 0, 3));  // bumped epoch
  send_acked(a, 3, make_batch(2000, 0, 0, 3));  // new producer id
  EXPECT_TRUE(a.no_violations());
  send_acked(a, 4, make_batch(1000, 2, 3, 1));  // bumped epoch that did not restart
  EXPECT_TRUE(mentions(a.violations(), "epoch 2 t-0: first batch starts at sequence 3"));
}

TEST(sequence_auditor, wraps_only_from_int32_max_to_zero) {
  EXPECT_EQ(next_sequence(0, 3), 3);
  EXPECT_EQ(next_sequence(int32_max, 1), 0);
  EXPECT_EQ(next_sequence(int32_max - 1, 2), 0);
  EXPECT_EQ(next_sequence(int32_max - 1, 5), 3);

  sequence_auditor a;
  send_acked(a, 1, make_batch(1000, 0, int32_max - 1, 2));  // reported: not starting at 0
  ASSERT_EQ(a.violations().size(), 1u);
  send_acked(a, 2, make_batch(1000, 0, 0, 2));  // the wrap
  EXPECT_EQ(a.violations().size(), 1u) << ::testing::PrintToString(a.violations());
  send_acked(a, 3, make_batch(1000, 0, 2, 1));
  EXPECT_EQ(a.violations().size(), 1u);

  sequence_auditor b;
  send_acked(b, 1, make_batch(1000, 0, int32_max - 1, 2));
  send_acked(b, 2, make_batch(1000, 0, 1, 2));  // a wrap to 1 is not allowed
  EXPECT_EQ(b.violations().size(), 2u);
}

TEST(sequence_auditor, at_most_five_unacknowledged_batches) {
  sequence_auditor a;
  for (int i = 0; i < 5; ++i) a.on_produce_request(1, i, version, request_body(make_batch(1000, 0, i, 1)));
  EXPECT_TRUE(a.no_violations());
  EXPECT_EQ(a.stats().max_unacked, 5u);
  a.on_produce_request(1, 5, version, request_body(make_batch(1000, 0, 5, 1)));
  EXPECT_TRUE(mentions(a.violations(), "6 unacknowledged batches")) << ::testing::PrintToString(a.violations());

  // A response releases its batch; a closed connection releases all of them.
  sequence_auditor b;
  for (int i = 0; i < 5; ++i) b.on_produce_request(1, i, version, request_body(make_batch(1000, 0, i, 1)));
  b.on_produce_response(1, 0, version, response_body());
  b.on_produce_request(1, 5, version, request_body(make_batch(1000, 0, 5, 1)));
  EXPECT_TRUE(b.no_violations());
  b.on_connection_closed(1);
  for (int i = 0; i < 5; ++i) b.on_produce_request(2, i, version, request_body(make_batch(1000, 0, i, 1)));
  EXPECT_TRUE(b.no_violations()) << "resends after a close";
  // A response without this partition does not release it.
  b.on_produce_response(2, 0, version, response_body(/*partition=*/9));
  b.on_produce_request(2, 7, version, request_body(make_batch(1000, 0, 6, 1)));
  EXPECT_TRUE(mentions(b.violations(), "6 unacknowledged")) << ::testing::PrintToString(b.violations());
}

TEST(sequence_auditor, acks_zero_requests_are_not_outstanding) {
  sequence_auditor a;
  for (int i = 0; i < 8; ++i) a.on_produce_request(1, i, version, request_body(make_batch(1000, 0, i, 1), 0, 0));
  EXPECT_TRUE(a.no_violations());
}

TEST(sequence_auditor, garbage_is_a_violation_not_a_crash) {
  sequence_auditor a;
  const std::vector<std::uint8_t> junk = {0xff, 0xff, 0xff, 0xff, 0x00, 0x01};
  a.on_produce_request(1, 1, version, junk);
  a.on_produce_request(1, 2, version, {});
  auto batch = make_batch(1000, 0, 0, 3);
  batch.resize(batch.size() - 4);  // truncated inside the records
  a.on_produce_request(1, 3, version, request_body(batch));
  a.on_produce_response(1, 3, version, junk);  // unreadable response: still releases
  EXPECT_EQ(a.violations().size(), 3u) << ::testing::PrintToString(a.violations());
  EXPECT_TRUE(mentions(a.violations(), "does not decode"));
  EXPECT_TRUE(mentions(a.violations(), "bad batch"));
}

TEST(sequence_auditor, non_idempotent_batches_get_only_framing_checks) {
  sequence_auditor a;
  send_acked(a, 1, make_batch(-1, -1, -1, 3));
  send_acked(a, 2, make_batch(-1, -1, -1, 3));
  EXPECT_TRUE(a.no_violations());
  EXPECT_EQ(a.stats().records, 6u);
}

}  // namespace
}  // namespace kprod::test
