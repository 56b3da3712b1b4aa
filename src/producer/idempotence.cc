#include "producer/idempotence.h"

namespace kprod::producer_detail {

std::atomic<std::int32_t>& initial_sequence_for_testing() {
  static std::atomic<std::int32_t> value{0};
  return value;
}

void switch_sequence_identity(partition_queue& q, std::int64_t producer_id, std::int16_t producer_epoch) {
  q.seq_producer_id = producer_id;
  q.seq_producer_epoch = producer_epoch;
  q.next_sequence = initial_sequence_for_testing().load(std::memory_order_relaxed);
  q.unacked_batches.clear();
}

bool sequence_identity_ready(partition_queue& q, const producer_batch& front, std::int64_t producer_id,
                             std::int16_t producer_epoch) {
  if (q.bump_pending) return false;
  if (q.seq_producer_id == producer_id && q.seq_producer_epoch == producer_epoch) return true;
  if (q.in_flight == 0 && q.unacked_batches.empty()) {
    switch_sequence_identity(q, producer_id, producer_epoch);
    return true;
  }
  // Batches of the old identity are unresolved: resend those as they were,
  // hold back the rest (sequence 0 of the new identity must not overtake them).
  return front.base_sequence >= 0 && front.producer_id == q.seq_producer_id &&
         front.producer_epoch == q.seq_producer_epoch;
}

}  // namespace kprod::producer_detail
