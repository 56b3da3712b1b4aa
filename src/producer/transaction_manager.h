// transaction_manager - the transactional producer's state machine and its
// coordinator requests (Java's TransactionManager).
//
// Application threads call init/begin/send_offsets/commit/abort; each checks
// the state table below, moves the state and, for the calls that need the
// coordinator, leaves a pending outcome that the I/O thread completes. The
// I/O thread calls poll() once per sender step: it finds coordinators, sends
// at most one transactional request at a time, and decides when EndTxn may
// go out (never while a record of the transaction is unacknowledged).
//
// The sender asks partition_allowed() before draining a batch: a partition
// is sent to only after AddPartitionsToTxn added it to the transaction.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/cluster.h"
#include "kprod/config.h"
#include "kprod/error.h"
#include "kprod/result.h"
#include "kprod/transaction.h"
#include "producer/accumulator.h"

namespace kprod::producer_detail {

enum class txn_state : std::uint8_t {
  uninitialized,
  initializing,
  ready,
  in_transaction,
  committing,
  aborting,
  abortable_error,
  fatal_error,
};
inline constexpr std::size_t txn_state_count = 8;

// What an application can ask of the transaction manager.
enum class txn_call : std::uint8_t { init_transactions, begin_transaction, send, send_offsets, commit, abort };
inline constexpr std::size_t txn_call_count = 6;

std::string_view to_string(txn_state s) noexcept;
std::string_view to_string(txn_call c) noexcept;

struct txn_move {
  txn_state from;
  txn_state to;
};

// Every legal state change (Java's State.isTransitionValid). Any state may
// also move to fatal_error; nothing leaves fatal_error.
inline constexpr std::array<txn_move, 12> txn_legal_moves = {{
    {txn_state::uninitialized, txn_state::initializing},
    {txn_state::initializing, txn_state::ready},
    {txn_state::ready, txn_state::in_transaction},
    {txn_state::in_transaction, txn_state::committing},
    {txn_state::in_transaction, txn_state::aborting},
    {txn_state::in_transaction, txn_state::abortable_error},
    {txn_state::committing, txn_state::ready},
    {txn_state::committing, txn_state::abortable_error},
    {txn_state::aborting, txn_state::ready},
    {txn_state::aborting, txn_state::initializing},  // KIP-360 epoch bump after the abort
    {txn_state::abortable_error, txn_state::aborting},
    {txn_state::abortable_error, txn_state::abortable_error},
}};

constexpr bool is_legal_move(txn_state from, txn_state to) noexcept {
  if (from == txn_state::fatal_error) return false;
  if (to == txn_state::fatal_error) return true;
  for (const auto& m : txn_legal_moves) {
    if (m.from == from && m.to == to) return true;
  }
  return false;
}

struct txn_call_rule {
  txn_call call;
  txn_state from;
  txn_state to;  // == from: the call does not change the state
};

// The calls an application may make, by state. A call in a state not listed
// for it fails with illegal_state naming both. Besides these, repeating
// init/commit/abort while its own pending outcome is outstanding
// (initializing / committing / aborting) waits for that outcome again.
inline constexpr std::array<txn_call_rule, 7> txn_call_rules = {{
    {txn_call::init_transactions, txn_state::uninitialized, txn_state::initializing},
    {txn_call::begin_transaction, txn_state::ready, txn_state::in_transaction},
    {txn_call::send, txn_state::in_transaction, txn_state::in_transaction},
    {txn_call::send_offsets, txn_state::in_transaction, txn_state::in_transaction},
    {txn_call::commit, txn_state::in_transaction, txn_state::committing},
    {txn_call::abort, txn_state::in_transaction, txn_state::aborting},
    {txn_call::abort, txn_state::abortable_error, txn_state::aborting},
}};

constexpr const txn_call_rule* find_call_rule(txn_call c, txn_state from) noexcept {
  for (const auto& r : txn_call_rules) {
    if (r.call == c && r.from == from) return &r;
  }
  return nullptr;
}

consteval bool call_rules_follow_moves() {
  for (const auto& r : txn_call_rules) {
    if (r.from != r.to && !is_legal_move(r.from, r.to)) return false;
  }
  return true;
}
static_assert(call_rules_follow_moves(), "every state-changing call must be a legal move");

class transaction_manager {
 public:
  struct io_hooks {
    std::function<void()> wake;                         // run the sender soon (any thread)
    std::function<std::size_t()> produce_in_flight;     // Produce requests awaiting responses
  };

  transaction_manager(const producer_config& cfg, accumulator& acc, client::cluster& cl, io_hooks hooks);
  ~transaction_manager();

  // ---- application threads (blocking up to `timeout`) -----------------------
  result<void> init_transactions(std::chrono::milliseconds timeout);
  result<void> begin_transaction();
  result<void> send_offsets(const std::vector<topic_partition_offset>& offsets, const consumer_group_metadata& group,
                            std::chrono::milliseconds timeout);
  result<void> commit(std::chrono::milliseconds timeout);
  result<void> abort(std::chrono::milliseconds timeout);

  // Held (shared) by a send from its state check until its record is queued:
  // commit/abort take it exclusively when they leave in_transaction, so no
  // record slips into a transaction whose EndTxn may already be on its way.
  std::shared_lock<std::shared_mutex> lock_for_send() { return std::shared_lock(send_mu_); }
  // Under lock_for_send(): ok only in_transaction.
  kprod::error check_send() const;

  txn_state state() const;
  kprod::error last_error() const;
  // Tests of the state table only: jump to `s` (with `why` as the error of
  // the error states).
  void set_state_for_testing(txn_state s, const kprod::error& why = {});

  // ---- I/O thread --------------------------------------------------------------
  // One step: coordinator lookups, AddPartitionsToTxn, offsets, EndTxn,
  // InitProducerId. Returns when it needs to run again (max: on an event).
  clock::time_point poll(clock::time_point now);
  // May a batch of this partition be sent now? When not yet part of the
  // transaction it is queued for AddPartitionsToTxn.
  bool partition_allowed(std::string_view topic, std::int32_t partition);
  // Current producer id and epoch (-1 until initialised) and whether batches
  // may be sent at all.
  std::int64_t producer_id() const noexcept { return producer_id_; }
  std::int16_t producer_epoch() const noexcept { return producer_epoch_; }
  bool can_send() const;
  // A record of the transaction failed for good. `needs_epoch_bump`: the
  // broker's sequence state for this producer is unknown (timeout after
  // sending, OUT_OF_ORDER, UNKNOWN_PRODUCER_ID) - KIP-360.
  void on_record_failure(const kprod::error& e, bool needs_epoch_bump);
  // PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, authorization... from anywhere.
  void on_fatal(const kprod::error& e);
  // Fatal error, or abortable error / abort in progress: queued records must
  // fail with this error (Java's abortUndrainedBatches). Empty otherwise.
  kprod::error queued_records_must_fail() const;
  // The producer is closing: pending calls end with `why`.
  void shutdown(const kprod::error& why);

 private:
  // The outcome of a blocking call, kept when the caller timed out.
  struct pending_op {
    bool done = false;
    bool observed = false;  // a caller saw the outcome: the next call starts afresh
    kprod::error err;
  };
  struct offsets_job {
    consumer_group_metadata group;
    std::vector<topic_partition_offset> offsets;  // those not yet committed
  };

  result<void> wait_for(const std::shared_ptr<pending_op>& op, std::chrono::milliseconds timeout, txn_call call);
  kprod::error illegal(txn_call call, txn_state s) const;
  void move_to(txn_state to);  // under mu_
  void fatal_locked(const kprod::error& e);
  void abortable_locked(const kprod::error& e, bool needs_epoch_bump);
  void complete_op(const kprod::error& e);  // the pending op, if any
  void finish_transaction();                // EndTxn done (or nothing to end)

  // I/O-thread request steps (transaction_requests.cc).
  enum class coordinator_kind : std::int8_t { group = 0, transaction = 1 };
  std::shared_ptr<client::connection> coordinator_connection(coordinator_kind kind, const std::string& key,
                                                            clock::time_point now);
  void find_coordinator(coordinator_kind kind, const std::string& key, const std::shared_ptr<client::connection>& c);
  // Reacts to a request's error (retry, rediscover, fatal, abortable); false
  // when there was none.
  bool handle_error(const kprod::error& e, std::string_view api, coordinator_kind kind, const std::string& key);
  void send_init_producer_id(client::connection& c);
  void send_add_partitions(client::connection& c);
  void send_add_offsets(client::connection& c);
  void send_txn_offset_commit(client::connection& c);
  void send_end_txn(client::connection& c, bool commit);
  // A retriable failure: back off, and forget the coordinator when it moved.
  void retry_later(const kprod::error& e, bool rediscover, coordinator_kind kind, const std::string& key);
  clock::time_point take_wake_at() { return std::exchange(wake_at_, clock::time_point::max()); }
  std::chrono::milliseconds backoff();
  template <typename Request>
  bool send_request(client::connection& c, std::int16_t api_key, std::string_view api_name, std::int16_t max_version,
                    const Request& req,
                    std::function<void(const kprod::error&, std::span<const std::uint8_t>, std::int16_t)> on_response);

  const producer_config cfg_;
  const std::string transactional_id_;
  accumulator& acc_;
  client::cluster& cluster_;
  io_hooks hooks_;

  // ---- shared state (mu_) --------------------------------------------------------
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_mutex send_mu_;
  txn_state state_ = txn_state::uninitialized;
  kprod::error last_error_;  // the abortable or fatal error
  bool epoch_bump_needed_ = false;
  std::shared_ptr<pending_op> pending_;  // init / commit / abort / send_offsets outcome
  txn_call pending_call_ = txn_call::init_transactions;
  std::unique_ptr<offsets_job> offsets_;  // send_offsets in progress
  bool closed_ = false;

  // ---- I/O thread only -------------------------------------------------------------
  std::int64_t producer_id_ = -1;
  std::int16_t producer_epoch_ = -1;
  std::map<std::string, std::int32_t> coordinators_;  // "t:<id>" / "g:<group>" -> node id
  bool request_in_flight_ = false;
  clock::time_point next_attempt_{};
  clock::time_point wake_at_ = clock::time_point::max();  // waiting for a connection: look again then
  clock::time_point coordinator_wait_since_{};
  int attempts_ = 0;
  std::set<std::pair<std::string, std::int32_t>> added_;    // in the transaction
  std::set<std::pair<std::string, std::int32_t>> to_add_;   // waiting for AddPartitionsToTxn
  std::set<std::pair<std::string, std::int32_t>> adding_;   // in the request in flight
  bool offsets_added_ = false;                              // AddOffsetsToTxn done this transaction
  bool flushing_ = false;                                   // acc_.begin_flush() while completing
};

}  // namespace kprod::producer_detail
