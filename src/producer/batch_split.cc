#include "producer/batch_split.h"

#include <algorithm>

#include "producer/accumulator.h"
#include "protocol/record_batch_reader.h"

namespace kprod::producer_detail {

kprod::result<std::vector<std::unique_ptr<producer_batch>>> split_batch(producer_batch& big) {
  if (big.record_count < 2) return error(client_errc::illegal_state, "a single record cannot be split");
  if (!big.is_sealed()) return error(client_errc::illegal_state, "only a sealed batch is split");
  auto view = protocol::parse_batch(big.sealed);
  if (!view.ok()) return view.error();
  auto records = protocol::read_records(*view);
  if (!records.ok()) return records.error();
  const auto n = static_cast<std::int32_t>(records->size());
  if (n != big.record_count) return error(client_errc::illegal_state, "batch record count mismatch");

  const std::int32_t half = n / 2;
  const std::int32_t bounds[3] = {0, half, n};
  std::vector<std::unique_ptr<producer_batch>> pieces;
  std::vector<protocol::record_header_view> headers;
  for (int p = 0; p < 2; ++p) {
    auto piece = std::make_unique<producer_batch>();
    piece->topic = big.topic;
    piece->partition = big.partition;
    piece->id = big.id + static_cast<std::uint64_t>(bounds[p]);
    piece->created = big.created;
    piece->deadline = big.deadline;
    piece->attempts = big.attempts;
    piece->full = true;  // closed to appends, ready at once
    // The broker refused the whole batch, so nothing of it was appended by
    // this attempt; an earlier attempt that lost its connection may have.
    piece->ever_sent = big.attempts > 1;
    for (std::int32_t i = bounds[p]; i < bounds[p + 1]; ++i) {
      const auto& r = (*records)[static_cast<std::size_t>(i)];
      if (i == bounds[p]) piece->builder.start(r.timestamp);
      headers.clear();
      for (const auto& [k, v] : r.headers) {
        headers.push_back({k, v ? v->data() : nullptr, v ? static_cast<std::int32_t>(v->size()) : -1});
      }
      piece->builder.append(r.timestamp, r.key ? r.key->data() : nullptr,
                            r.key ? static_cast<std::int32_t>(r.key->size()) : -1, r.value ? r.value->data() : nullptr,
                            r.value ? static_cast<std::int32_t>(r.value->size()) : -1, headers);
      ++piece->record_count;
    }
    // A record's delta becomes its index in the piece.
    big.slots.move_range_to(piece->slots, bounds[p], bounds[p + 1]);
    pieces.push_back(std::move(piece));
  }
  big.slots.clear();
  return pieces;
}

void accumulator::requeue_split(std::unique_ptr<producer_batch> big, std::vector<std::unique_ptr<producer_batch>> pieces) {
  partition_queue* q = queue(big->topic, big->partition);
  if (!q || pieces.empty()) return;
  // The pieces inherit the big batch's accounting: its buffer reservation
  // (on the first piece) and its flush epoch (one unit per piece).
  pieces.front()->reserved_bytes = big->reserved_bytes;
  pieces.front()->flush_epoch = big->flush_epoch;
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    flushes_.add_to(big->flush_epoch);
    pieces[i]->flush_epoch = big->flush_epoch;
  }
  // The big batch is replaced by its pieces, each completed on its own.
  queued_units_.fetch_add(static_cast<std::int64_t>(pieces.size()) - 1);
  std::lock_guard ql(q->mu);
  if (big->in_flight) --q->in_flight;
  for (auto& piece : pieces) {
    auto it = q->batches.begin();
    while (it != q->batches.end() && (*it)->id < piece->id) ++it;
    q->batches.insert(it, std::move(piece));
  }
  refresh_ready_hint(*q);
}

}  // namespace kprod::producer_detail
