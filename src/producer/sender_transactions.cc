// sender_transactions.cc - the sender's side of transactions: where the I/O
// loop hands over to the transaction manager, and how Produce outcomes of a
// transactional producer differ from the idempotent ones:
//
//   PRODUCER_FENCED, INVALID_PRODUCER_EPOCH,
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED, INVALID_TXN_STATE -> fatal
//   OUT_OF_ORDER at the head of a partition, UNKNOWN_PRODUCER_ID
//                                   -> the batch fails; abortable error, and
//                                      the next transaction starts with a
//                                      bumped epoch (KIP-360), no local reset
//   any record failing for good     -> abortable error (commit impossible)
#include "producer/sender.h"
#include "producer/transaction_manager.h"

namespace kprod::producer_detail {

void sender::txn_setup() {
  transaction_manager::io_hooks hooks;
  hooks.wake = [this] { wake(); };
  hooks.produce_in_flight = [this] { return in_flight_requests_; };
  txn_ = std::make_unique<transaction_manager>(cfg_, acc_, cluster_, std::move(hooks));
}

void sender::txn_step(clock::time_point now, clock::time_point& next) {
  // Java's abortUndrainedBatches: once the transaction cannot commit, what is
  // still queued fails now instead of being sent into it.
  if (auto why = txn_->queued_records_must_fail()) abort_all(why);
  next = std::min(next, txn_->poll(now));
  producer_id_ = txn_->producer_id();
  producer_epoch_ = txn_->producer_epoch();
}

bool sender::txn_produce_error(std::unique_ptr<producer_batch>& b, kafka_errc code, const kprod::error& err) {
  switch (code) {
    case kafka_errc::producer_fenced:
    case kafka_errc::invalid_producer_epoch:
      txn_->on_fatal(kprod::error(client_errc::fenced, "Produce to " + std::string(b->topic) + "/" +
                                                           std::to_string(b->partition) + ": " + err.message()));
      complete(std::move(b), err, persistence::not_persisted, -1, -1);
      return true;
    case kafka_errc::transactional_id_authorization_failed:
    case kafka_errc::cluster_authorization_failed:
    case kafka_errc::invalid_txn_state:
      txn_->on_fatal(kprod::error(err.code(), "Produce: " + err.detail()));
      complete(std::move(b), err, persistence::not_persisted, -1, -1);
      return true;
    case kafka_errc::out_of_order_sequence_number: {
      auto* q = acc_.queue(b->topic, b->partition);
      const bool behind_earlier = q && !q->unacked_batches.empty() && *q->unacked_batches.begin() < b->id;
      if (behind_earlier) return false;  // an earlier batch failed first: retriable
      complete(std::move(b), err, persistence::not_persisted, -1, -1);
      return true;
    }
    case kafka_errc::unknown_producer_id:
      complete(std::move(b), err, persistence::not_persisted, -1, -1);
      return true;
    default:
      return false;
  }
}

void sender::txn_record_failed(const producer_batch& b, const kprod::error& e, persistence status) {
  // The broker's sequence state for this producer is unknown after these:
  // only a new epoch makes it consistent again (KIP-360).
  bool unknown_state = status == persistence::possibly_persisted ||
                       e.code() == make_error_code(kafka_errc::out_of_order_sequence_number) ||
                       e.code() == make_error_code(kafka_errc::unknown_producer_id);
  if (!unknown_state && b.base_sequence >= 0) {
    // Stamped but certainly not written: its sequence numbers are a hole
    // unless it was the partition's last stamped batch, whose numbers can be
    // handed out again (Java's adjustSequencesDueToFailedBatch, simplified).
    auto* q = acc_.queue(b.topic, b.partition);
    const auto after = static_cast<std::int32_t>((static_cast<std::int64_t>(b.base_sequence) + b.record_count) & 0x7fffffff);
    if (q && q->seq_producer_id == b.producer_id && q->seq_producer_epoch == b.producer_epoch &&
        q->next_sequence == after) {
      q->next_sequence = b.base_sequence;
    } else {
      unknown_state = true;
    }
  }
  txn_->on_record_failure(e, unknown_state);
}

void sender::txn_shutdown(const kprod::error& why) { txn_->shutdown(why); }

void sender::txn_record_sequence_refused() {
  // A batch split after MESSAGE_TOO_LARGE: its sequence range was refused.
  // Java re-sequences the pieces inside the same range; here the transaction
  // becomes abortable and the next one starts under a bumped epoch.
  txn_->on_record_failure(error(kafka_errc::out_of_order_sequence_number,
                                "a batch was split after MESSAGE_TOO_LARGE; its sequence numbers were refused"),
                          true);
}

}  // namespace kprod::producer_detail
