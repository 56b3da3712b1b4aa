// Transactions against librdkafka 2.0.2's mock cluster, read back by kcat
// (librdkafka consumer, isolation.level=read_committed by default) and
// python3-kafka.
//
// What the 2.0.2 mock does (read in its source, rdkafka_mock_handlers.c, and
// observed here): EndTxn only checks the coordinator and the producer
// id/epoch - it writes no commit/abort control records; Fetch answers
// LastStableOffset = high watermark and no aborted transactions, so
// read_committed does not hide aborted records; InitProducerId with a
// transactional id hands out a NEW producer id each time, so a second
// instance does not fence the first. The tests therefore check what can be
// checked: every committed record is there, once, in order, with the offset
// its report gave; aborted records are at most once; fencing is injected
// (the error a real coordinator returns) after a second instance started.
#include <gtest/gtest.h>

#include <asio/use_future.hpp>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include "kprod/producer.h"
#include "support/consume_back.h"
#include "support/mock_cluster.h"

namespace kprod {
namespace {

using namespace std::chrono_literals;
using test::consumed_record;

constexpr int producer_fenced = 90;

struct sent_record {
  std::string key, value;
  int txn = -1;
  bool acked = false;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

TEST(TransactionIntegration, CommittedAndAbortedTransactionsConsumeBack) {
  auto mc = test::mock_cluster::start(3, {{"txn", 6}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  auto p = producer::create({{"bootstrap.servers", (*mc)->bootstrap()},
                             {"transactional.id", "kprod-it-1"},
                             {"linger.ms", "5"},
                             {"batch.size", "4096"}});
  ASSERT_TRUE(p.ok()) << p.error().message();
  auto init = (*p)->init_transactions(30s);
  ASSERT_TRUE(init.ok()) << init.error().message();

  constexpr int total = 10000, per_txn = 1000;
  std::vector<sent_record> sent(total);
  std::mutex mu;
  std::set<int> aborted_txns;
  for (int txn = 0; txn < total / per_txn; ++txn) {
    ASSERT_TRUE((*p)->begin_transaction().ok());
    for (int i = txn * per_txn; i < (txn + 1) * per_txn; ++i) {
      sent[i].key = "k" + std::to_string(i % 97);
      sent[i].value = "v" + std::to_string(i);
      sent[i].txn = txn;
      record r{"txn", std::nullopt, bytes_view(sent[i].key), bytes_view(sent[i].value), {}, 1700000000000 + i};
      (*p)->async_send(r, [&, i](delivery_report rep) {
        std::lock_guard lk(mu);
        sent[i].acked = rep.ok();
        sent[i].partition = rep.metadata.partition;
        sent[i].offset = rep.metadata.offset;
      });
    }
    const bool abort = txn % 3 == 1;
    if (abort) {
      aborted_txns.insert(txn);
      // Let the records reach the log first, so that the abort has
      // something to hide from read_committed consumers.
      ASSERT_TRUE((*p)->flush(30s).ok());
    }
    auto end = abort ? (*p)->abort_transaction(30s) : (*p)->commit_transaction(30s);
    ASSERT_TRUE(end.ok()) << "transaction " << txn << ": " << end.error().message();
    if (!abort) {
      // commit returned: every record of the transaction is acknowledged.
      std::lock_guard lk(mu);
      for (int i = txn * per_txn; i < (txn + 1) * per_txn; ++i) ASSERT_TRUE(sent[i].acked) << i;
    }
  }
  ASSERT_TRUE((*p)->close(10s).ok());

  std::vector<consumed_record> committed;
  std::set<std::string> aborted_values;
  for (const auto& s : sent) {
    if (aborted_txns.count(s.txn)) {
      aborted_values.insert(s.value);
      continue;
    }
    consumed_record c;
    c.partition = s.partition;
    c.offset = s.offset;
    c.key = s.key;
    c.value = s.value;
    committed.push_back(c);
  }
  auto check = [&](const std::vector<consumed_record>& got, const char* who) {
    std::vector<consumed_record> only_committed;
    std::set<std::string> aborted_seen;
    for (const auto& r : got) {
      if (r.value && aborted_values.count(*r.value)) {
        EXPECT_TRUE(aborted_seen.insert(*r.value).second) << who << ": aborted record twice: " << *r.value;
        continue;
      }
      consumed_record c = r;
      c.headers.clear();
      c.timestamp_ms = -1;
      only_committed.push_back(c);
    }
    EXPECT_TRUE(test::same_records(committed, only_committed)) << who;
    // Offsets without gaps: no control record took an offset.
    std::map<std::int32_t, std::int64_t> next;
    bool gaps = false;
    for (const auto& r : got) {
      gaps |= r.offset != next[r.partition];
      next[r.partition] = r.offset + 1;
    }
    std::cout << "[mock finding] " << who << ": " << aborted_seen.size() << " of " << aborted_values.size()
              << " aborted records visible; offsets " << (gaps ? "have gaps (control records)" : "contiguous (no control records)")
              << '\n';
    ::testing::Test::RecordProperty(std::string(who) + "_aborted_visible", static_cast<int>(aborted_seen.size()));
  };
  auto kc = test::consume_with_kcat((*mc)->bootstrap(), "txn", 60s);
  ASSERT_TRUE(kc.ok()) << kc.error().message();
  check(*kc, "kcat_read_committed");
  auto py = test::consume_with_python((*mc)->bootstrap(), "txn", 60s);
  ASSERT_TRUE(py.ok()) << py.error().message();
  check(*py, "python");
  EXPECT_TRUE(test::exited_cleanly((*mc)->stop()));
}

TEST(TransactionIntegration, SecondInstanceThenFencedIsFatal) {
  auto mc = test::mock_cluster::start(3, {{"fence", 3}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  auto props = std::map<std::string, std::string>{
      {"bootstrap.servers", (*mc)->bootstrap()}, {"transactional.id", "kprod-it-fence"}, {"linger.ms", "1"}};
  auto first = producer::create(props);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->init_transactions(30s).ok());
  ASSERT_TRUE((*first)->begin_transaction().ok());
  const std::string v = "from-first";
  std::vector<std::future<delivery_report>> f1;
  for (int i = 0; i < 10; ++i) f1.push_back((*first)->async_send(record{"fence", i % 3, std::nullopt, bytes_view(v), {}, std::nullopt}, asio::use_future));

  auto second = producer::create(props);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->init_transactions(30s).ok());

  // A real coordinator has bumped the epoch now; the 2.0.2 mock gave the
  // second instance a new producer id instead, so the first one's commit
  // would still pass. Answer its EndTxn the way a real coordinator does.
  ASSERT_TRUE((*mc)->push_errors(test::api_key::end_txn, {producer_fenced}).ok());
  auto c = (*first)->commit_transaction(30s);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), make_error_code(client_errc::fenced)) << c.error().message();
  EXPECT_EQ((*first)->begin_transaction().error().code(), make_error_code(client_errc::fenced));
  auto late = (*first)->async_send(record{"fence", 0, std::nullopt, bytes_view(v), {}, std::nullopt}, asio::use_future);
  EXPECT_EQ(late.get().error.code(), make_error_code(client_errc::fenced));
  ASSERT_TRUE((*first)->close(10s).ok());

  ASSERT_TRUE((*second)->begin_transaction().ok());
  const std::string v2 = "from-second";
  auto ok = (*second)->async_send(record{"fence", 1, std::nullopt, bytes_view(v2), {}, std::nullopt}, asio::use_future);
  auto commit2 = (*second)->commit_transaction(30s);
  ASSERT_TRUE(commit2.ok()) << commit2.error().message();
  EXPECT_TRUE(ok.get().ok());
  ASSERT_TRUE((*second)->close(10s).ok());
  EXPECT_TRUE(test::exited_cleanly((*mc)->stop()));
}

}  // namespace
}  // namespace kprod
