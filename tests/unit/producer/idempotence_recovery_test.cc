// Idempotence recovery against the fake broker (which checks sequences like
// a broker): KIP-360 epoch bumps per partition, MESSAGE_TOO_LARGE splits,
// the sequence wrap from INT32_MAX to 0. Every test checks one completion
// per record and the log: each record once, in send order.
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <set>

#include "fake/fake_broker.h"
#include "fake/producer_harness.h"
#include "producer/idempotence.h"
#include "protocol/generated/api_traits.h"
#include "protocol/record_batch_reader.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;
namespace pr = kprod::protocol;

constexpr std::int16_t produce_key = pr::produce_api::key;
constexpr std::int16_t message_too_large = 10;
constexpr std::int16_t out_of_order_sequence = 45;
constexpr std::int16_t unknown_producer_id = 59;

struct rig {
  explicit rig(std::map<std::string, std::string> extra = {}, int partitions = 1, fake_cluster_options o = {})
      : fc(o) {
    fc.create_topic("t", partitions, std::vector<std::int32_t>(static_cast<std::size_t>(partitions), 1));
    auto created = producer::create(fake_props(fc, std::move(extra)));
    EXPECT_TRUE(created.ok()) << created.error().message();
    if (created.ok()) p = std::move(created.value());
  }
  void wave(std::size_t first, std::size_t n, std::optional<std::int32_t> partition = std::nullopt) {
    t.send(*p, "t", first, n, partition);
    ASSERT_TRUE(t.wait_all(10s)) << "records did not complete";
  }
  void finish() {
    ASSERT_TRUE(p->close(5s).ok());
    t.expect_exactly_one_completion_each();
  }
  // Epochs seen per partition, in log order.
  std::map<std::int32_t, std::vector<std::int16_t>> epochs() const {
    std::map<std::int32_t, std::vector<std::int16_t>> out;
    for (const auto& r : fc.records("t")) {
      auto& v = out[r.partition];
      if (v.empty() || v.back() != r.producer_epoch) v.push_back(r.producer_epoch);
    }
    return out;
  }

  fake_cluster fc;
  std::unique_ptr<producer> p;
  delivery_tracker t;
};

const std::map<std::string, std::string> one_record_batches = {
    {"batch.size", "1"}, {"linger.ms", "0"}, {"max.in.flight.requests.per.connection", "5"}};

// The fake answers `code` for partition `partition` once, without appending.
void fail_partition_once(fake_cluster& fc, std::int32_t partition, std::int16_t code) {
  fc.control(produce_key, [partition, code](const request_view& rv) {
    for (const auto& td : rv.produce->topic_data) {
      for (const auto& pd : td.partition_data) {
        if (pd.index == partition) return action::error(code).only("t", partition);
      }
    }
    return action::pass();
  });
}

TEST(IdempotenceRecovery, OutOfOrderOnTheHeadBatchBumpsTheEpochLocally) {
  rig r({}, 2);
  ASSERT_TRUE(r.p);
  r.wave(0, 10, 0);
  r.wave(10, 10, 1);
  fail_partition_once(r.fc, 1, out_of_order_sequence);
  r.wave(20, 10, 1);
  r.wave(30, 10, 0);
  r.finish();
  r.t.expect_all_ok();
  expect_log_holds(r.fc, "t", 40);
  expect_offsets_match(r.fc, "t", r.t.reports());
  EXPECT_EQ(r.fc.requests(pr::init_producer_id_api::key), 1u) << "KIP-360: a local bump, not a new producer id";
  auto ep = r.epochs();
  EXPECT_EQ(ep[1], (std::vector<std::int16_t>{0, 1})) << "partition 1 restarts under epoch 1";
  // Partition 0 follows the producer's epoch only at a quiet point: never
  // back, never mixed.
  ASSERT_FALSE(ep[0].empty());
  EXPECT_EQ(ep[0].front(), 0);
  EXPECT_TRUE(std::is_sorted(ep[0].begin(), ep[0].end()));
}

TEST(IdempotenceRecovery, UnknownProducerIdWithFiveInFlightKeepsOrderAndLosesNothing) {
  rig r(one_record_batches, 1, {.brokers = 1});
  ASSERT_TRUE(r.p);
  r.wave(0, 5);
  // The third request after this point loses the producer state, later
  // requests then find a sequence gap (OUT_OF_ORDER) until the bump.
  int produce_seen = 0;
  r.fc.control(
      produce_key,
      [&](const request_view&) {
        if (++produce_seen == 3) return action::error(unknown_producer_id).after(50ms);
        return action::pass();
      },
      true);
  r.wave(5, 40);
  r.finish();
  r.t.expect_all_ok();
  expect_log_holds(r.fc, "t", 45);
  expect_offsets_match(r.fc, "t", r.t.reports());
  EXPECT_EQ(r.fc.requests(pr::init_producer_id_api::key), 1u);
  EXPECT_EQ(r.epochs()[0], (std::vector<std::int16_t>{0, 1}));
  // Under epoch 1 the sequences start at 0 and have no gap.
  std::int32_t expect_seq = 0;
  for (const auto& rec : r.fc.records("t")) {
    if (rec.producer_epoch != 1) continue;
    EXPECT_EQ(rec.sequence, expect_seq++);
  }
}

TEST(IdempotenceRecovery, MessageTooLargeSplitsTheBatchAndKeepsOrder) {
  rig r({{"linger.ms", "50"}, {"batch.size", "100000"}});
  ASSERT_TRUE(r.p);
  r.wave(0, 3);
  // Any batch of more than 4 records is "too large" (not appended).
  r.fc.control(
      produce_key,
      [](const request_view& rv) {
        for (const auto& td : rv.produce->topic_data) {
          for (const auto& pd : td.partition_data) {
            if (!pd.records) continue;
            auto batches = pr::parse_batches(*pd.records);
            if (batches.ok() && !batches->empty() && batches->front().header.records_count > 4) {
              return action::error(message_too_large);
            }
          }
        }
        return action::pass();
      },
      true);
  r.wave(3, 37);  // one batch of 37 -> 18+19 -> 9+9+9+10 -> pieces of 4 or 5 -> ...
  r.finish();
  r.t.expect_all_ok();
  expect_log_holds(r.fc, "t", 40);
  expect_offsets_match(r.fc, "t", r.t.reports());
  std::size_t too_large = 0;
  for (const auto& s : r.fc.seen(produce_key)) {
    for (auto e : s.produce_errors) too_large += e == message_too_large;
  }
  EXPECT_GE(too_large, 3u) << "the batch should have been split more than once";
}

TEST(IdempotenceRecovery, MessageTooLargeSplitsWithoutIdempotenceToo) {
  rig r({{"linger.ms", "50"}, {"batch.size", "100000"}, {"enable.idempotence", "false"}, {"acks", "1"}});
  ASSERT_TRUE(r.p);
  bool refused = false;
  r.fc.control(produce_key, [&](const request_view&) {
    refused = true;
    return action::error(message_too_large);
  });
  r.wave(0, 20);
  r.finish();
  r.t.expect_all_ok();
  EXPECT_TRUE(refused);
  expect_log_holds(r.fc, "t", 20);
  expect_offsets_match(r.fc, "t", r.t.reports());
}

TEST(IdempotenceRecovery, SingleRecordTooLargeFailsAloneAndLaterRecordsFlow) {
  rig r(one_record_batches, 1, {.brokers = 1});
  ASSERT_TRUE(r.p);
  r.wave(0, 5);
  r.fc.control(produce_key, [](const request_view&) { return action::error(message_too_large); });
  r.wave(5, 1);
  r.wave(6, 20);
  r.finish();
  const auto reps = r.t.reports();
  for (std::size_t i = 0; i < reps.size(); ++i) {
    if (i == 5) {
      EXPECT_EQ(reps[i].error.code(), make_error_code(kafka_errc::message_too_large)) << reps[i].error.message();
      EXPECT_EQ(reps[i].status, persistence::not_persisted);
    } else {
      EXPECT_FALSE(reps[i].error) << "record " << i << ": " << reps[i].error.message();
    }
  }
  expect_log_holds(r.fc, "t", 26, {5});
  expect_offsets_match(r.fc, "t", reps);
  EXPECT_EQ(r.epochs()[0], (std::vector<std::int16_t>{0, 1})) << "the hole is closed by an epoch bump";
}

TEST(IdempotenceRecovery, SequencesWrapFromInt32MaxToZero) {
  constexpr std::int32_t start = std::numeric_limits<std::int32_t>::max() - 6;
  producer_detail::initial_sequence_for_testing().store(start);
  struct restore {
    ~restore() { producer_detail::initial_sequence_for_testing().store(0); }
  } restore_on_exit;
  fake_cluster_options o{.brokers = 1};
  o.first_sequence = start;
  rig r({{"batch.size", "60"}, {"linger.ms", "0"}}, 1, o);
  ASSERT_TRUE(r.p);
  r.wave(0, 30);
  r.finish();
  r.t.expect_all_ok();
  expect_log_holds(r.fc, "t", 30);
  expect_offsets_match(r.fc, "t", r.t.reports());
  std::vector<std::int32_t> seqs;
  for (const auto& rec : r.fc.records("t")) seqs.push_back(rec.sequence);
  ASSERT_EQ(seqs.size(), 30u);
  EXPECT_EQ(seqs.front(), start);
  std::set<std::int16_t> epochs;
  for (const auto& rec : r.fc.records("t")) epochs.insert(rec.producer_epoch);
  EXPECT_EQ(epochs, std::set<std::int16_t>{0});
  bool wrapped = false;
  for (std::size_t i = 1; i < seqs.size(); ++i) {
    const auto expect = static_cast<std::int32_t>((static_cast<std::int64_t>(start) + static_cast<std::int64_t>(i)) & 0x7fffffff);
    wrapped |= seqs[i] == 0;
    EXPECT_EQ(seqs[i], expect) << "record " << i;
  }
  EXPECT_TRUE(wrapped) << "no batch started past the wrap";
}

}  // namespace
}  // namespace kprod::test
