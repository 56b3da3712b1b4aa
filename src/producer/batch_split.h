// batch_split - MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE on a batch of
// several records: the batch is cut in two halves (by record count) that are
// sent in its place, in order; a half that is still too large is cut again,
// down to single records (which then fail with the broker's error).
//
// Halving, not re-batching at batch.size: the broker's limit is unknown, and
// halving reaches any limit in log2(records) round trips.
#pragma once

#include <memory>
#include <vector>

#include "kprod/result.h"
#include "producer/producer_batch.h"

namespace kprod::producer_detail {

// Rebuilds the records of the sealed batch `big` into two unsealed, full
// batches (same topic, partition, timestamps, deadline; ids between `big`'s
// and its successor's; sequences unassigned). `big`'s completion slots move
// into the pieces; its buffer reservation and flush epoch stay on `big` for
// accumulator::requeue_split to hand over. Fails (leaving `big` intact) on a
// single-record batch or a batch kprod cannot read back.
kprod::result<std::vector<std::unique_ptr<producer_batch>>> split_batch(producer_batch& big);

}  // namespace kprod::producer_detail
