// idempotence - per-partition sequence identities (KIP-98, KIP-360).
//
// Sequences count per (producer id, epoch, partition). Each partition
// remembers the id and epoch its sequences belong to. When the producer
// moves to a new id or epoch, a partition follows only once none of its
// batches is unacknowledged: until then, batches it already sent are resent
// byte-identical under the old identity (so the broker can still
// de-duplicate them) and new batches wait. A partition flagged for a bump
// (bump_pending) sends nothing until the sender moves it to a fresh
// identity, where its queued batches are re-stamped from sequence 0.
#pragma once

#include <atomic>
#include <cstdint>

#include "producer/accumulator.h"

namespace kprod::producer_detail {

// Drain gate for an idempotent partition whose oldest queued batch is
// `front`. May move the partition to (producer_id, producer_epoch).
// Returns whether `front` may be sent now. Caller holds q.mu.
bool sequence_identity_ready(partition_queue& q, const producer_batch& front, std::int64_t producer_id,
                             std::int16_t producer_epoch);

// Moves the partition's sequences to a new identity, starting over.
void switch_sequence_identity(partition_queue& q, std::int64_t producer_id, std::int16_t producer_epoch);

// Tests only: the sequence a partition starts at under a new identity
// (default 0), to exercise the wrap from INT32_MAX to 0 without sending two
// billion records. Brokers expect 0; only fakes and the mock accept others.
std::atomic<std::int32_t>& initial_sequence_for_testing();

}  // namespace kprod::producer_detail
