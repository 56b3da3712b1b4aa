// The transaction state table: every call in every state, without a broker.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include "client/cluster.h"
#include "producer/accumulator.h"
#include "producer/buffer_pool.h"
#include "producer/transaction_manager.h"

namespace kprod::producer_detail {
namespace {

using namespace std::chrono_literals;

constexpr std::array all_states = {txn_state::uninitialized, txn_state::initializing,  txn_state::ready,
                                   txn_state::in_transaction, txn_state::committing,   txn_state::aborting,
                                   txn_state::abortable_error, txn_state::fatal_error};
constexpr std::array all_calls = {txn_call::init_transactions, txn_call::begin_transaction, txn_call::send,
                                  txn_call::send_offsets,      txn_call::commit,            txn_call::abort};
static_assert(all_states.size() == txn_state_count && all_calls.size() == txn_call_count);

struct manager_fixture {
  producer_config cfg;
  asio::io_context io;
  buffer_pool pool{1 << 20};
  std::unique_ptr<accumulator> acc;
  std::unique_ptr<client::cluster> cl;
  std::unique_ptr<transaction_manager> tm;
  manager_fixture() {
    cfg.bootstrap_servers = {"127.0.0.1:1"};
    cfg.transactional_id = "tx";
    auto v = validate(cfg);
    EXPECT_TRUE(v.ok());
    cfg = v.value();
    acc = std::make_unique<accumulator>(cfg, pool, [] {});
    cl = std::make_unique<client::cluster>(io, cfg, [] {});
    tm = std::make_unique<transaction_manager>(cfg, *acc, *cl,
                                               transaction_manager::io_hooks{[] {}, [] { return std::size_t{0}; }});
  }
  result<void> call(txn_call c) {
    switch (c) {
      case txn_call::init_transactions: return tm->init_transactions(0ms);
      case txn_call::begin_transaction: return tm->begin_transaction();
      case txn_call::send: {
        auto lk = tm->lock_for_send();
        if (auto e = tm->check_send()) return e;
        return {};
      }
      case txn_call::send_offsets: return tm->send_offsets({{"in", 0, 5, {}, ""}}, {"group", 1, "m", {}}, 0ms);
      case txn_call::commit: return tm->commit(0ms);
      case txn_call::abort: return tm->abort(0ms);
    }
    return {};
  }
};

TEST(TransactionStateTable, MovesAreClosedUnderTheTable) {
  for (auto from : all_states) {
    EXPECT_EQ(is_legal_move(from, txn_state::fatal_error), from != txn_state::fatal_error) << to_string(from);
    EXPECT_FALSE(is_legal_move(txn_state::fatal_error, from)) << to_string(from);
  }
  EXPECT_TRUE(is_legal_move(txn_state::aborting, txn_state::initializing));  // KIP-360 bump
  EXPECT_FALSE(is_legal_move(txn_state::ready, txn_state::committing));
  EXPECT_FALSE(is_legal_move(txn_state::abortable_error, txn_state::committing));
  EXPECT_FALSE(is_legal_move(txn_state::uninitialized, txn_state::in_transaction));
}

// Every call in every state: a call the table allows is accepted (its state
// moves to the rule's target; blocking ones then time out at 0 ms), any
// other fails naming the call and the state - except after a fatal error,
// where every call returns that error.
TEST(TransactionStateTable, EveryIllegalCallNamesStateAndCall) {
  int legal = 0, illegal_calls = 0;
  for (auto s : all_states) {
    for (auto c : all_calls) {
      manager_fixture f;
      const kprod::error cause(kafka_errc::producer_fenced, "cause");
      f.tm->set_state_for_testing(s, cause);
      auto r = f.call(c);
      const auto* rule = find_call_rule(c, s);
      SCOPED_TRACE(std::string(to_string(c)) + " in " + std::string(to_string(s)));
      if (rule) {
        ++legal;
        if (!r.ok()) {
          EXPECT_EQ(r.error().code(), make_error_code(client_errc::timed_out)) << r.error().message();
        }
        EXPECT_EQ(f.tm->state(), rule->to);
        continue;
      }
      ++illegal_calls;
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(f.tm->state(), s) << "an illegal call must not move the state";
      if (s == txn_state::fatal_error) {
        EXPECT_EQ(r.error().code(), cause.code());
        continue;
      }
      if (s == txn_state::abortable_error && (c == txn_call::commit || c == txn_call::send)) {
        EXPECT_EQ(r.error().code(), cause.code()) << r.error().message();  // the transaction's own error
        continue;
      }
      EXPECT_EQ(r.error().code(), make_error_code(client_errc::illegal_state)) << r.error().message();
      EXPECT_NE(r.error().message().find(std::string(to_string(s))), std::string::npos) << r.error().message();
      EXPECT_NE(r.error().message().find(std::string(to_string(c))), std::string::npos) << r.error().message();
    }
  }
  EXPECT_EQ(legal, static_cast<int>(txn_call_rules.size()));
  EXPECT_EQ(illegal_calls, static_cast<int>(all_states.size() * all_calls.size() - txn_call_rules.size()));
}

TEST(TransactionStateTable, TimedOutCallKeepsItsOutcomeAndBlocksOthers) {
  manager_fixture f;
  f.tm->set_state_for_testing(txn_state::in_transaction);
  auto r = f.tm->commit(0ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), make_error_code(client_errc::timed_out));
  EXPECT_EQ(f.tm->state(), txn_state::committing);
  auto other = f.tm->abort(0ms);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code(), make_error_code(client_errc::illegal_state));
  EXPECT_NE(other.error().message().find("commit_transaction() timed out"), std::string::npos)
      << other.error().message();
  auto again = f.tm->commit(0ms);  // the same call waits for the same outcome
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), make_error_code(client_errc::timed_out));
  EXPECT_EQ(f.tm->state(), txn_state::committing);
}

}  // namespace
}  // namespace kprod::producer_detail
