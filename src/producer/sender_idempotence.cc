// The sender's idempotence recovery: KIP-360 epoch bumps per partition and
// MESSAGE_TOO_LARGE splitting. See DESIGN.md, "Idempotence".
#include <limits>

#include "producer/batch_split.h"
#include "producer/idempotence.h"
#include "producer/sender.h"

namespace kprod::producer_detail {

bool sender::handle_sequence_error(producer_batch& b, kafka_errc code) {
  auto* q = acc_.queue(b.topic, b.partition);
  if (!q) return false;
  switch (code) {
    case kafka_errc::out_of_order_sequence_number: {
      // Behind an earlier unacknowledged batch: that one failed first and
      // will be resent before this one; nothing is lost yet.
      const bool behind_earlier = !q->unacked_batches.empty() && *q->unacked_batches.begin() < b.id;
      if (!behind_earlier) request_epoch_bump(*q);
      return true;
    }
    case kafka_errc::unknown_producer_id:
      // The broker lost this producer's state for the partition (retention,
      // truncation): sequences restart at 0 under a bumped epoch (Java, KIP-360).
      request_epoch_bump(*q);
      return true;
    case kafka_errc::invalid_producer_epoch:
      // The broker knows a newer epoch of our id than this batch carries.
      // Only a new producer id is certain to be newer.
      if (b.producer_id == producer_id_ && b.producer_epoch == producer_epoch_) new_producer_id_needed_ = true;
      request_epoch_bump(*q);
      return true;
    default:
      return false;
  }
}

void sender::request_epoch_bump(partition_queue& q) {
  if (txn_) {
    // Only the transaction coordinator may bump a transactional epoch: the
    // transaction must be aborted, then the next one starts with a new epoch.
    txn_record_sequence_refused();
    return;
  }
  q.bump_pending = true;
  bump_requested_ = true;
}

void sender::maybe_bump_epoch() {
  // A flagged partition moves once none of its batches is in flight (their
  // outcome decides what is resent). It needs a fresh epoch only if it
  // already counts under the current one.
  bool waiting = false, need_fresh = false;
  acc_.for_each_queue([&](topic_state&, std::int32_t, partition_queue& q) {
    if (!q.bump_pending) return;
    if (q.in_flight > 0) {
      waiting = true;
    } else if (q.seq_producer_id == producer_id_ && q.seq_producer_epoch == producer_epoch_) {
      need_fresh = true;
    }
  });
  if (need_fresh) {
    if (new_producer_id_needed_ || producer_epoch_ == std::numeric_limits<std::int16_t>::max()) {
      new_producer_id_needed_ = true;  // InitProducerId, then this runs again
      return;
    }
    ++producer_epoch_;
  }
  acc_.for_each_queue([&](topic_state&, std::int32_t, partition_queue& q) {
    if (!q.bump_pending || q.in_flight > 0) return;
    switch_sequence_identity(q, producer_id_, producer_epoch_);
    q.bump_pending = false;
  });
  bump_requested_ = waiting;
}

void sender::split_and_requeue(std::unique_ptr<producer_batch> b) {
  auto pieces = split_batch(*b);
  if (!pieces.ok()) {
    complete(std::move(b), error(kafka_errc::message_too_large, "batch rejected as too large and not splittable: " +
                                                                    pieces.error().message()),
             persistence::not_persisted, -1, -1);
    return;
  }
  if (idempotent_ && b->base_sequence >= 0) {
    // Its sequences were refused: the pieces and everything after restart
    // at 0 under a bumped epoch.
    if (auto* q = acc_.queue(b->topic, b->partition)) {
      q->unacked_batches.erase(b->id);
      request_epoch_bump(*q);
    }
  }
  counters_.retries.fetch_add(1, std::memory_order_relaxed);
  acc_.requeue_split(std::move(b), std::move(*pieces));
}

}  // namespace kprod::producer_detail
