// transaction_manager.cc - the state machine, the application-facing calls
// and the I/O step that decides which transactional request goes next. The
// requests themselves are in transaction_requests.cc.
#include "producer/transaction_manager.h"

#include <algorithm>

namespace kprod::producer_detail {

std::string_view to_string(txn_state s) noexcept {
  switch (s) {
    case txn_state::uninitialized: return "UNINITIALIZED";
    case txn_state::initializing: return "INITIALIZING";
    case txn_state::ready: return "READY";
    case txn_state::in_transaction: return "IN_TRANSACTION";
    case txn_state::committing: return "COMMITTING";
    case txn_state::aborting: return "ABORTING";
    case txn_state::abortable_error: return "ABORTABLE_ERROR";
    case txn_state::fatal_error: return "FATAL_ERROR";
  }
  return "?";
}

std::string_view to_string(txn_call c) noexcept {
  switch (c) {
    case txn_call::init_transactions: return "init_transactions()";
    case txn_call::begin_transaction: return "begin_transaction()";
    case txn_call::send: return "send()";
    case txn_call::send_offsets: return "send_offsets_to_transaction()";
    case txn_call::commit: return "commit_transaction()";
    case txn_call::abort: return "abort_transaction()";
  }
  return "?";
}

transaction_manager::transaction_manager(const producer_config& cfg, accumulator& acc, client::cluster& cl,
                                         io_hooks hooks)
    : cfg_(cfg), transactional_id_(cfg.transactional_id.value_or("")), acc_(acc), cluster_(cl),
      hooks_(std::move(hooks)) {}

// The accumulator may already be gone (producer_impl destroys it before the
// sender that owns this): touch nothing.
transaction_manager::~transaction_manager() = default;

// ---- application threads ---------------------------------------------------------

kprod::error transaction_manager::illegal(txn_call call, txn_state s) const {
  if (s == txn_state::fatal_error) return last_error_;
  std::string msg = std::string(to_string(call)) + " is not allowed in state " + std::string(to_string(s));
  if (s == txn_state::abortable_error) msg += " (only abort_transaction() is; cause: " + last_error_.message() + ")";
  if (s == txn_state::uninitialized) msg += " (call init_transactions() first)";
  return error(client_errc::illegal_state, msg);
}

void transaction_manager::move_to(txn_state to) {
  if (!is_legal_move(state_, to)) {
    // A bug in this file, not the caller's: refuse rather than corrupt.
    fatal_locked(error(client_errc::illegal_state, "internal: illegal transaction state move " +
                                                       std::string(to_string(state_)) + " -> " +
                                                       std::string(to_string(to))));
    return;
  }
  state_ = to;
  cv_.notify_all();
}

result<void> transaction_manager::wait_for(const std::shared_ptr<pending_op>& op, std::chrono::milliseconds timeout,
                                           txn_call call) {
  hooks_.wake();
  const auto deadline = timeout >= std::chrono::hours(24 * 365) ? clock::time_point::max() : clock::now() + timeout;
  std::unique_lock lk(mu_);
  const auto is_done = [&] { return op->done; };
  if (deadline == clock::time_point::max()) {
    cv_.wait(lk, is_done);
  } else if (!cv_.wait_until(lk, deadline, is_done)) {
    return error(client_errc::timed_out, std::string(to_string(call)) +
                                             " timed out; call it again to wait for the same outcome");
  }
  op->observed = true;
  if (pending_ == op) pending_.reset();
  if (op->err) return op->err;
  return {};
}

// A call made while an earlier one timed out with its outcome still pending
// (or unseen): the same call picks that outcome up, any other is refused.
#define KP_TXN_RESUME_PENDING(call_, timeout_)                                                              \
  if (pending_ && !pending_->observed) {                                                                   \
    if (pending_call_ != (call_)) {                                                                        \
      return error(client_errc::illegal_state, "cannot call " + std::string(to_string(call_)) +            \
                                                   ": the previous call to " +                             \
                                                   std::string(to_string(pending_call_)) +                  \
                                                   " timed out and must be retried");                     \
    }                                                                                                      \
    auto op_ = pending_;                                                                                   \
    lk.unlock();                                                                                           \
    return wait_for(op_, (timeout_), (call_));                                                             \
  }

result<void> transaction_manager::init_transactions(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (closed_) return error(client_errc::producer_closed, "producer is closed");
  KP_TXN_RESUME_PENDING(txn_call::init_transactions, timeout)
  if (!find_call_rule(txn_call::init_transactions, state_)) return illegal(txn_call::init_transactions, state_);
  move_to(txn_state::initializing);
  auto op = pending_ = std::make_shared<pending_op>();
  pending_call_ = txn_call::init_transactions;
  lk.unlock();
  return wait_for(op, timeout, txn_call::init_transactions);
}

result<void> transaction_manager::begin_transaction() {
  std::unique_lock lk(mu_);
  if (closed_) return error(client_errc::producer_closed, "producer is closed");
  if (pending_ && !pending_->observed) {
    return error(client_errc::illegal_state, "cannot call begin_transaction(): the previous call to " +
                                                 std::string(to_string(pending_call_)) +
                                                 " timed out and must be retried");
  }
  if (!find_call_rule(txn_call::begin_transaction, state_)) return illegal(txn_call::begin_transaction, state_);
  move_to(txn_state::in_transaction);
  return {};
}

result<void> transaction_manager::send_offsets(const std::vector<topic_partition_offset>& offsets,
                                               const consumer_group_metadata& group,
                                               std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (closed_) return error(client_errc::producer_closed, "producer is closed");
  KP_TXN_RESUME_PENDING(txn_call::send_offsets, timeout)
  if (!find_call_rule(txn_call::send_offsets, state_)) return illegal(txn_call::send_offsets, state_);
  if (group.group_id.empty()) return error(client_errc::invalid_argument, "consumer group id is empty");
  for (const auto& o : offsets) {
    if (o.topic.empty() || o.partition < 0 || o.offset < 0) {
      return error(client_errc::invalid_argument, "invalid offset to commit: " + o.topic + "/" +
                                                      std::to_string(o.partition) + " @" + std::to_string(o.offset));
    }
  }
  offsets_ = std::make_unique<offsets_job>(offsets_job{group, offsets});
  auto op = pending_ = std::make_shared<pending_op>();
  pending_call_ = txn_call::send_offsets;
  lk.unlock();
  return wait_for(op, timeout, txn_call::send_offsets);
}

result<void> transaction_manager::commit(std::chrono::milliseconds timeout) {
  std::unique_lock sends(send_mu_);  // no send between the state check and its append
  std::unique_lock lk(mu_);
  if (closed_) return error(client_errc::producer_closed, "producer is closed");
  KP_TXN_RESUME_PENDING(txn_call::commit, timeout)
  if (state_ == txn_state::abortable_error) {
    return kprod::error(last_error_.code(),
                        "commit_transaction(): the transaction failed and can only be aborted: " + last_error_.message());
  }
  if (!find_call_rule(txn_call::commit, state_)) return illegal(txn_call::commit, state_);
  move_to(txn_state::committing);
  auto op = pending_ = std::make_shared<pending_op>();
  pending_call_ = txn_call::commit;
  lk.unlock();
  sends.unlock();
  return wait_for(op, timeout, txn_call::commit);
}

result<void> transaction_manager::abort(std::chrono::milliseconds timeout) {
  std::unique_lock sends(send_mu_);
  std::unique_lock lk(mu_);
  if (closed_) return error(client_errc::producer_closed, "producer is closed");
  KP_TXN_RESUME_PENDING(txn_call::abort, timeout)
  if (!find_call_rule(txn_call::abort, state_)) return illegal(txn_call::abort, state_);
  move_to(txn_state::aborting);
  auto op = pending_ = std::make_shared<pending_op>();
  pending_call_ = txn_call::abort;
  lk.unlock();
  sends.unlock();
  return wait_for(op, timeout, txn_call::abort);
}

#undef KP_TXN_RESUME_PENDING

kprod::error transaction_manager::check_send() const {
  std::lock_guard lk(mu_);
  if (closed_) return error(client_errc::producer_closed, "producer is closed");
  if (state_ == txn_state::in_transaction) return {};
  if (state_ == txn_state::fatal_error) return last_error_;
  if (state_ == txn_state::abortable_error) {
    return kprod::error(last_error_.code(), "cannot send: the transaction failed (" + last_error_.message() +
                                                "); abort_transaction() it first");
  }
  return illegal(txn_call::send, state_);
}

txn_state transaction_manager::state() const {
  std::lock_guard lk(mu_);
  return state_;
}

kprod::error transaction_manager::last_error() const {
  std::lock_guard lk(mu_);
  return last_error_;
}

void transaction_manager::set_state_for_testing(txn_state s, const kprod::error& why) {
  std::lock_guard lk(mu_);
  state_ = s;
  last_error_ = why;
}

// ---- errors -------------------------------------------------------------------------

void transaction_manager::fatal_locked(const kprod::error& e) {
  if (state_ == txn_state::fatal_error) return;
  state_ = txn_state::fatal_error;
  last_error_ = e;
  if (pending_ && !pending_->done) {
    pending_->done = true;
    pending_->err = e;
  }
  offsets_.reset();
  cv_.notify_all();
}

void transaction_manager::abortable_locked(const kprod::error& e, bool needs_epoch_bump) {
  if (needs_epoch_bump) epoch_bump_needed_ = true;
  switch (state_) {
    case txn_state::in_transaction:
    case txn_state::committing:
    case txn_state::abortable_error:
      break;
    case txn_state::aborting:
      return;  // already being aborted; the bump (if any) is remembered
    default:
      // No transaction to abort (initializing): nothing else can be done.
      fatal_locked(e);
      return;
  }
  if (state_ != txn_state::abortable_error) last_error_ = e;
  move_to(txn_state::abortable_error);
  // A commit in progress, or offsets being sent, fail now; only abort can follow.
  if (pending_ && !pending_->done && pending_call_ != txn_call::abort) {
    pending_->done = true;
    pending_->err = kprod::error(e.code(), "the transaction failed and must be aborted: " + e.message());
  }
  offsets_.reset();
  cv_.notify_all();
}

void transaction_manager::on_record_failure(const kprod::error& e, bool needs_epoch_bump) {
  std::lock_guard lk(mu_);
  if (state_ == txn_state::fatal_error) return;
  abortable_locked(e, needs_epoch_bump);
}

void transaction_manager::on_fatal(const kprod::error& e) {
  {
    std::lock_guard lk(mu_);
    fatal_locked(e);
  }
  hooks_.wake();
}

kprod::error transaction_manager::queued_records_must_fail() const {
  std::lock_guard lk(mu_);
  switch (state_) {
    case txn_state::fatal_error:
    case txn_state::abortable_error:
      return last_error_;
    case txn_state::aborting:
      return error(client_errc::not_in_transaction, "the transaction was aborted before the record was sent");
    default:
      return {};
  }
}

void transaction_manager::complete_op(const kprod::error& e) {
  if (pending_ && !pending_->done) {
    pending_->done = true;
    pending_->err = e;
  }
  cv_.notify_all();
}

void transaction_manager::shutdown(const kprod::error& why) {
  std::lock_guard lk(mu_);
  closed_ = true;
  complete_op(why);
}

// ---- I/O thread ------------------------------------------------------------------------

bool transaction_manager::can_send() const {
  // Batches go out only with an initialised producer id and never after a
  // fatal error; which partitions may receive them is partition_allowed()'s.
  std::lock_guard lk(mu_);
  return producer_id_ >= 0 && state_ != txn_state::fatal_error;
}

bool transaction_manager::partition_allowed(std::string_view topic, std::int32_t partition) {
  std::pair<std::string, std::int32_t> tp{std::string(topic), partition};
  if (added_.count(tp)) return true;
  txn_state s;
  {
    std::lock_guard lk(mu_);
    s = state_;
  }
  if (s == txn_state::in_transaction || s == txn_state::committing) {
    if (!adding_.count(tp) && to_add_.insert(std::move(tp)).second) hooks_.wake();
  }
  return false;
}

void transaction_manager::finish_transaction() {
  // I/O thread, with the EndTxn outcome (or none needed) in hand.
  added_.clear();
  to_add_.clear();
  adding_.clear();
  offsets_added_ = false;
  if (flushing_) {
    acc_.end_flush();
    flushing_ = false;
  }
}

clock::time_point transaction_manager::poll(clock::time_point now) {
  if (request_in_flight_) return clock::time_point::max();
  txn_state s;
  bool offsets_pending, bump;
  {
    std::lock_guard lk(mu_);
    if (closed_) return clock::time_point::max();
    s = state_;
    offsets_pending = offsets_ != nullptr;
    bump = epoch_bump_needed_;
  }
  const bool completing = s == txn_state::committing || s == txn_state::aborting;
  if (completing && !flushing_) {
    acc_.begin_flush();  // linger.ms no longer applies: the transaction is ending
    flushing_ = true;
  }
  if (s == txn_state::aborting) {
    to_add_.clear();  // their batches fail (queued_records_must_fail): nothing to add
  }
  if (now < next_attempt_) return next_attempt_;

  const std::string txn_key = transactional_id_;
  if (s == txn_state::initializing) {
    if (auto c = coordinator_connection(coordinator_kind::transaction, txn_key, now)) send_init_producer_id(*c);
    return take_wake_at();
  }
  if (s != txn_state::in_transaction && !completing) return clock::time_point::max();

  if (!to_add_.empty()) {
    if (auto c = coordinator_connection(coordinator_kind::transaction, txn_key, now)) send_add_partitions(*c);
    return take_wake_at();
  }
  if (offsets_pending && s == txn_state::in_transaction) {
    if (!offsets_added_) {
      if (auto c = coordinator_connection(coordinator_kind::transaction, txn_key, now)) send_add_offsets(*c);
    } else {
      std::string group;
      {
        std::lock_guard lk(mu_);
        if (offsets_) group = offsets_->group.group_id;
      }
      if (!group.empty()) {
        if (auto c = coordinator_connection(coordinator_kind::group, group, now)) send_txn_offset_commit(*c);
      }
    }
    return take_wake_at();
  }
  if (!completing) return clock::time_point::max();

  // The invariant: EndTxn only once every record of the transaction has its
  // outcome. Records still queued or in flight wake the sender when they
  // complete, which calls poll() again.
  if (acc_.queued_units() > 0 || hooks_.produce_in_flight() > 0) return clock::time_point::max();

  if (added_.empty() && !offsets_added_) {
    // Nothing reached the coordinator: there is no transaction to end there.
    finish_transaction();
    std::lock_guard lk(mu_);
    if (s == txn_state::aborting && bump) {
      move_to(txn_state::initializing);
      hooks_.wake();
    } else {
      move_to(txn_state::ready);
      complete_op({});
    }
    return clock::time_point::max();
  }
  if (auto c = coordinator_connection(coordinator_kind::transaction, txn_key, now)) {
    send_end_txn(*c, s == txn_state::committing);
  }
  return take_wake_at();
}

}  // namespace kprod::producer_detail
