// Transactions against the fake broker as transaction/group coordinator:
// happy paths, coordinator moves, fencing, failed records, KIP-360 bumps.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "fake/fake_broker.h"
#include "fake/producer_harness.h"
#include "protocol/generated/api_traits.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;
namespace pr = kprod::protocol;
using outcome = stored_record::txn_outcome;

constexpr std::int16_t not_coordinator = 16;
constexpr std::int16_t coordinator_load_in_progress = 14;
constexpr std::int16_t concurrent_transactions = 51;
constexpr std::int16_t out_of_order_sequence = 45;
constexpr std::int16_t invalid_record = 87;

struct txn_fixture {
  explicit txn_fixture(std::map<std::string, std::string> extra = {}, int brokers = 3) : fc({.brokers = brokers}) {
    fc.create_topic("t", 3);
    extra.emplace("transactional.id", "tx-1");
    extra.emplace("client.id", "txn-producer");
    auto created = producer::create(fake_props(fc, std::move(extra)));
    EXPECT_TRUE(created.ok()) << created.error().message();
    if (created.ok()) p = std::move(created.value());
  }
  void init() {
    ASSERT_TRUE(p);
    auto r = p->init_transactions(10s);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  void send_and_wait(std::size_t first, std::size_t n) {
    t.send(*p, "t", first, n);
    ASSERT_TRUE(t.wait_all(10s));
  }
  std::vector<stored_record> log(outcome o) const {
    std::vector<stored_record> out;
    for (const auto& r : fc.records("t")) {
      if (r.outcome == o) out.push_back(r);
    }
    return out;
  }
  std::set<long> indexes(outcome o) const {
    std::set<long> out;
    for (const auto& r : log(o)) out.insert(index_of(r));
    return out;
  }
  // Every transactional Produce went to a partition already added, and no
  // EndTxn overtook a Produce of its transaction.
  void expect_protocol_order() const {
    const auto ev = fc.txn_events();
    for (std::size_t i = 0; i < ev.size(); ++i) {
      if (ev[i].what == txn_event::kind::produce && ev[i].error_code == 0) {
        EXPECT_TRUE(ev[i].partition_in_txn) << "Produce to " << ev[i].topic << "/" << ev[i].partition
                                            << " before AddPartitionsToTxn (event " << i << ")";
      }
    }
  }
  fake_cluster fc;
  std::unique_ptr<producer> p;
  delivery_tracker t;
};

std::set<long> range(long first, long n) {
  std::set<long> s;
  for (long i = first; i < first + n; ++i) s.insert(i);
  return s;
}

TEST(TransactionFake, CommitThenAbortThenCommit) {
  txn_fixture f;
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 0, 300);
  auto c = f.p->commit_transaction(10s);
  ASSERT_TRUE(c.ok()) << c.error().message();
  // commit returned: every record of the transaction has its completion.
  for (std::size_t i = 0; i < 300; ++i) {
    const auto rep = f.t.reports()[i];
    EXPECT_EQ(rep.completions, 1) << i;
    EXPECT_FALSE(rep.error) << i << ": " << rep.error.message();
  }
  EXPECT_EQ(f.indexes(outcome::committed), range(0, 300));

  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.send_and_wait(300, 100);
  ASSERT_TRUE(f.p->abort_transaction(10s).ok());
  EXPECT_EQ(f.indexes(outcome::aborted), range(300, 100));

  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 400, 50);
  ASSERT_TRUE(f.p->commit_transaction(10s).ok());
  auto committed = range(0, 300);
  for (long i = 400; i < 450; ++i) committed.insert(i);
  EXPECT_EQ(f.indexes(outcome::committed), committed);
  EXPECT_TRUE(f.log(outcome::open).empty());
  EXPECT_TRUE(f.log(outcome::none).empty()) << "every batch carries the transactional bit";
  f.expect_protocol_order();
  ASSERT_TRUE(f.p->close().ok());
  f.t.expect_exactly_one_completion_each();
  std::size_t ends = 0;
  for (const auto& e : f.fc.txn_events()) ends += e.what == txn_event::kind::end_txn;
  EXPECT_EQ(ends, 3u);
}

TEST(TransactionFake, CloseAbortsAnOpenTransaction) {
  txn_fixture f;
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.send_and_wait(0, 50);  // appended, not committed
  ASSERT_TRUE(f.p->close(10s).ok());
  f.t.expect_exactly_one_completion_each();
  EXPECT_EQ(f.indexes(outcome::aborted), range(0, 50)) << "close() must abort the open transaction";
  EXPECT_TRUE(f.log(outcome::open).empty());
  std::size_t aborts = 0;
  for (const auto& e : f.fc.txn_events()) aborts += e.what == txn_event::kind::end_txn && !e.commit && e.error_code == 0;
  EXPECT_EQ(aborts, 1u);
}

TEST(TransactionFake, AbortFailsRecordsNotYetSent) {
  txn_fixture f({{"linger.ms", "60000"}, {"batch.size", "1000000"}, {"delivery.timeout.ms", "120000"}});
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 0, 20);  // lingering: none sent yet
  ASSERT_TRUE(f.p->abort_transaction(10s).ok());
  ASSERT_TRUE(f.t.wait_all(5s));
  for (const auto& rep : f.t.reports()) {
    EXPECT_EQ(rep.error.code(), make_error_code(client_errc::not_in_transaction)) << rep.error.message();
  }
  EXPECT_EQ(f.fc.record_count("t"), 0u);
  std::size_t ends = 0;
  for (const auto& e : f.fc.txn_events()) ends += e.what == txn_event::kind::end_txn;
  EXPECT_EQ(ends, 0u) << "nothing reached the coordinator: no EndTxn needed";
}

TEST(TransactionFake, SendOutsideTransactionFailsWithoutCrash) {
  txn_fixture f;
  f.t.send(*f.p, "t", 0, 1);  // before init_transactions
  ASSERT_TRUE(f.t.wait_all(5s));
  EXPECT_EQ(f.t.reports()[0].error.code(), make_error_code(client_errc::illegal_state));
  EXPECT_NE(f.t.reports()[0].error.message().find("UNINITIALIZED"), std::string::npos);
  ASSERT_NO_FATAL_FAILURE(f.init());
  const std::string v = "x";
  auto r = f.p->send(record{"t", std::nullopt, std::nullopt, bytes_view(v), {}, std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("READY"), std::string::npos) << r.error().message();
  EXPECT_EQ(f.fc.record_count("t"), 0u);
}

TEST(TransactionFake, CoordinatorMovesAreFollowed) {
  txn_fixture f;
  f.fc.set_coordinator(1, "tx-1", 2);
  // The first InitProducerId is refused as if the coordinator had moved, and
  // the first EndTxn lands while the coordinator is loading.
  f.fc.control(pr::init_producer_id_api::key, [](const request_view&) { return action::error(not_coordinator); });
  f.fc.control(pr::end_txn_api::key,
               [](const request_view&) { return action::error(coordinator_load_in_progress); });
  f.fc.control(pr::add_partitions_to_txn_api::key,
               [](const request_view&) { return action::error(concurrent_transactions); });
  ASSERT_NO_FATAL_FAILURE(f.init());
  EXPECT_GE(f.fc.requests(pr::find_coordinator_api::key), 2u) << "NOT_COORDINATOR must trigger a new lookup";
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 0, 50);
  auto c = f.p->commit_transaction(10s);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(f.fc.controls_pending(), 0u);
  EXPECT_EQ(f.indexes(outcome::committed), range(0, 50));
  for (const auto& e : f.fc.txn_events()) {
    if (e.what != txn_event::kind::produce && e.error_code == 0) {
      EXPECT_EQ(e.node_id, 2) << "coordinator requests go to the coordinator";
    }
  }
  f.expect_protocol_order();
}

TEST(TransactionFake, FencedByNewerInstanceIsFatalAndSendsNothingMore) {
  txn_fixture f;
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.send_and_wait(0, 10);

  // A second instance with the same transactional.id fences the first.
  auto second = producer::create(fake_props(f.fc, {{"transactional.id", "tx-1"}, {"client.id", "second"}}));
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->init_transactions(10s).ok());

  std::atomic<int> first_after_fence{0};
  f.fc.control(
      -1,
      [&](const request_view& rv) {
        if (rv.client_id == "txn-producer" && rv.api_key != pr::metadata_api::key &&
            rv.api_key != pr::api_versions_api::key) {
          ++first_after_fence;
        }
        return action::pass();
      },
      true);
  auto c = f.p->commit_transaction(10s);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), make_error_code(client_errc::fenced)) << c.error().message();
  const int seen_at_fatal = first_after_fence.load();
  EXPECT_LE(seen_at_fatal, 1) << "only the EndTxn that learned of the fence";

  // Every later call returns the fatal error; sends fail without a request.
  EXPECT_EQ(f.p->begin_transaction().error().code(), make_error_code(client_errc::fenced));
  EXPECT_EQ(f.p->abort_transaction(1s).error().code(), make_error_code(client_errc::fenced));
  f.t.send(*f.p, "t", 10, 5);
  ASSERT_TRUE(f.t.wait_all(5s));
  for (std::size_t i = 10; i < 15; ++i) EXPECT_EQ(f.t.reports()[i].error.code(), make_error_code(client_errc::fenced));
  ASSERT_TRUE(f.p->close().ok());
  EXPECT_EQ(first_after_fence.load(), seen_at_fatal) << "a fenced producer must send nothing more";

  // The new instance works, and the first one's records were aborted.
  ASSERT_TRUE((*second)->begin_transaction().ok());
  delivery_tracker t2;
  t2.send(**second, "t", 100, 10);
  ASSERT_TRUE((*second)->commit_transaction(10s).ok());
  EXPECT_EQ(f.indexes(outcome::committed), range(100, 10));
  EXPECT_EQ(f.indexes(outcome::aborted), range(0, 10));
}

TEST(TransactionFake, FencedProduceIsFatal) {
  txn_fixture f;
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.fc.control(pr::produce_api::key, [](const request_view&) { return action::error(90); });  // PRODUCER_FENCED
  f.t.send(*f.p, "t", 0, 5, 0);
  ASSERT_TRUE(f.t.wait_all(5s));
  EXPECT_TRUE(f.t.reports()[0].error);
  auto c = f.p->commit_transaction(5s);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), make_error_code(client_errc::fenced)) << c.error().message();
  EXPECT_EQ(f.p->init_transactions(1s).error().code(), make_error_code(client_errc::fenced));
}

TEST(TransactionFake, FailedRecordMakesCommitFailUntilAborted) {
  txn_fixture f;
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.fc.control(pr::produce_api::key, [](const request_view&) { return action::error(invalid_record); });
  f.send_and_wait(0, 3);
  auto c = f.p->commit_transaction(5s);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), make_error_code(kafka_errc::invalid_record)) << c.error().message();
  auto b = f.p->begin_transaction();
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message().find("ABORTABLE_ERROR"), std::string::npos) << b.error().message();
  ASSERT_TRUE(f.p->abort_transaction(5s).ok());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 3, 10);
  ASSERT_TRUE(f.p->commit_transaction(5s).ok());
  EXPECT_EQ(f.indexes(outcome::committed), range(3, 10));
  std::int16_t epoch = -1;
  for (const auto& r : f.log(outcome::committed)) epoch = r.producer_epoch;
  EXPECT_EQ(epoch, 0) << "a plain broker rejection needs no epoch bump";
}

// KIP-360: records whose outcome is unknown (delivery timeout after being
// sent) make the transaction abortable, and the next one runs with a bumped
// epoch of the same producer id.
TEST(TransactionFake, EpochBumpAfterAbortableTimeout) {
  txn_fixture f({{"request.timeout.ms", "300"}, {"delivery.timeout.ms", "800"}, {"linger.ms", "0"}});
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  std::atomic<bool> blackhole{true};
  f.fc.control(
      pr::produce_api::key,
      [&](const request_view&) { return blackhole ? action::drop_before() : action::pass(); }, true);
  f.send_and_wait(0, 3);
  for (const auto& rep : f.t.reports()) {
    EXPECT_EQ(rep.error.code(), make_error_code(client_errc::delivery_timeout)) << rep.error.message();
  }
  blackhole = false;
  EXPECT_FALSE(f.p->commit_transaction(5s).ok());
  ASSERT_TRUE(f.p->abort_transaction(10s).ok());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 3, 20);
  ASSERT_TRUE(f.p->commit_transaction(10s).ok());
  EXPECT_EQ(f.indexes(outcome::committed), range(3, 20));
  std::vector<txn_event> inits;
  for (const auto& e : f.fc.txn_events()) {
    if (e.what == txn_event::kind::init_producer_id && e.error_code == 0) inits.push_back(e);
  }
  ASSERT_EQ(inits.size(), 2u);
  EXPECT_EQ(inits[1].producer_id, inits[0].producer_id);
  EXPECT_EQ(inits[1].producer_epoch, inits[0].producer_epoch + 1);
  for (const auto& r : f.log(outcome::committed)) EXPECT_EQ(r.producer_epoch, inits[1].producer_epoch);
}

TEST(TransactionFake, OutOfOrderSequenceNeedsEpochBump) {
  txn_fixture f;
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.fc.control(pr::produce_api::key, [](const request_view&) { return action::error(out_of_order_sequence); });
  f.send_and_wait(0, 1);
  ASSERT_TRUE(f.p->abort_transaction(10s).ok());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 1, 5);
  ASSERT_TRUE(f.p->commit_transaction(10s).ok());
  for (const auto& r : f.log(outcome::committed)) EXPECT_EQ(r.producer_epoch, 1);
  EXPECT_EQ(f.indexes(outcome::committed), range(1, 5));
}

TEST(TransactionFake, BumpWithoutInitProducerIdV3IsFatal) {
  txn_fixture f;
  f.fc.set_api_versions(pr::init_producer_id_api::key, 0, 2);
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.fc.control(pr::produce_api::key, [](const request_view&) { return action::error(out_of_order_sequence); });
  f.send_and_wait(0, 1);
  auto a = f.p->abort_transaction(10s);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), make_error_code(client_errc::unsupported_version)) << a.error().message();
  EXPECT_EQ(f.p->begin_transaction().error().code(), make_error_code(client_errc::unsupported_version));
}

TEST(TransactionFake, OffsetsCommitWithTheTransaction) {
  txn_fixture f;
  f.fc.set_coordinator(0, "group-a", 3);
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 0, 10);
  f.fc.control(pr::txn_offset_commit_api::key, [](const request_view&) { return action::error(not_coordinator); });
  auto s = f.p->send_offsets_to_transaction({{"in", 0, 42, {}, ""}, {"in", 1, 7, 3, "meta"}},
                                            {"group-a", 5, "member-1", std::nullopt}, 10s);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_TRUE(f.fc.committed_offsets("group-a").empty()) << "offsets count only once committed";
  ASSERT_TRUE(f.p->commit_transaction(10s).ok());
  auto offs = f.fc.committed_offsets("group-a");
  EXPECT_EQ(offs.size(), 2u);
  EXPECT_EQ((offs[{"in", 0}]), 42);
  EXPECT_EQ((offs[{"in", 1}]), 7);
}

TEST(TransactionFake, TimedOutCommitCanBeCalledAgain) {
  txn_fixture f;
  ASSERT_NO_FATAL_FAILURE(f.init());
  ASSERT_TRUE(f.p->begin_transaction().ok());
  f.t.send(*f.p, "t", 0, 5);
  f.fc.control(pr::end_txn_api::key, [](const request_view&) { return action::respond().after(800ms); });
  auto first = f.p->commit_transaction(50ms);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code(), make_error_code(client_errc::timed_out));
  EXPECT_EQ(f.p->abort_transaction(50ms).error().code(), make_error_code(client_errc::illegal_state));
  auto second = f.p->commit_transaction(10s);
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(f.indexes(outcome::committed), range(0, 5));
  ASSERT_TRUE(f.p->begin_transaction().ok());
}

TEST(TransactionFake, NonTransactionalProducerRefusesTransactionCalls) {
  fake_cluster fc;
  auto p = producer::create(fake_props(fc));
  ASSERT_TRUE(p.ok());
  auto r = (*p)->begin_transaction();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), make_error_code(client_errc::illegal_state));
}

}  // namespace
}  // namespace kprod::test
