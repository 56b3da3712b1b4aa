// producer_batch - one record batch for one partition, from its first record
// to its final completion.
//
//   app threads                      I/O thread
//   -----------                      ----------
//   append() -> builder (open)  -->  seal(): compress + CRC, bytes fixed
//     (a full batch is sealed by a seal thread instead: seal_workers.h)
//                                    stamp pid/epoch/seq (only when first sent)
//                                    send ... retry with the same bytes
//                                    complete(): one report per record
//
// The batch's buffer (builder, then sealed bytes) and its slot list come
// from and return to the buffer pool's buffer_cache when they are mapped
// (128 KiB and up; malloc recycles smaller ones); their capacities are what
// the batch holds of buffer.memory (`reserved_bytes`).
//
// Only records sent with a handler keep a slot (fire-and-forget records cost
// nothing beyond their wire bytes). A slot remembers the record's offset
// delta so its offset is base_offset + delta.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kprod/detail/completion.h"
#include "kprod/error.h"
#include "producer/buffer_pool.h"
#include "producer/record_slot.h"
#include "protocol/record_batch.h"

namespace kprod::producer_detail {

using clock = std::chrono::steady_clock;

inline constexpr std::uint64_t batch_id_step = std::uint64_t{1} << 24;

// Who may touch a batch's builder and sealed bytes: see seal_workers.h.
// sealing_watched: being sealed, and the I/O thread skipped it meanwhile, so
// the sealer must wake it when done (seal_workers::reclaim).
enum class seal_state : std::uint8_t { open, queued, sealing, sealing_watched, sealed };

struct producer_batch {
  producer_batch() = default;
  producer_batch(const producer_batch&) = delete;
  producer_batch& operator=(const producer_batch&) = delete;
  ~producer_batch() {
    if (!cache) return;
    cache->give(sealed.capacity() ? std::move(sealed) : builder.take_buffer());
    cache->give(std::move(slots));
  }

  // What every append reads or writes comes first, so that it spans as few
  // cache lines as possible (with hundreds of partitions each append finds
  // its batch cold).
  bool full = false;                       // no more appends (size reached)
  bool in_flight = false;
  // open -> (queued ->) sealing -> sealed; `sealed` is written before the
  // release store of `sealed` state and read only after an acquire load.
  std::atomic<seal_state> state{seal_state::open};
  int attempts = 0;
  std::int32_t record_count = 0;
  // Under the partition's lock: set by the I/O thread when it holds this
  // (front) batch back for growing to this many bytes (accumulator::drain,
  // saturated); the append that reaches it clears it and marks the queue
  // ready (ready_hint 0), so that drains skip the queue meanwhile without
  // taking its lock. 0: not held for size. (Fills padding before builder.)
  std::uint32_t hold_bytes = 0;
  protocol::record_batch_builder builder;  // while open
  slot_list slots;
  std::uint64_t flush_epoch = 0;           // see flush_tracker
  std::int64_t reserved_bytes = 0;         // taken from the buffer pool

  std::string_view topic;  // owned by the accumulator's topic state
  std::int32_t partition = -1;
  // Creation order within its partition: retries go back in this order.
  // Batches are numbered in steps of 2^24 (batch_id_step) and a piece of a
  // split batch takes its parent's id plus the index of its first record, so
  // pieces sort between their neighbours.
  std::uint64_t id = 0;

  protocol::batch_buffer sealed;           // wire bytes once sealed
  buffer_cache* cache = nullptr;           // where buffer and slots go when the batch is destroyed

  clock::time_point created;
  clock::time_point deadline;              // created + delivery.timeout.ms
  clock::time_point retry_at{};            // earliest next attempt (backoff)
  bool ever_sent = false;                  // some attempt reached the wire
  bool completed = false;                  // its records have their reports

  // Idempotence: assigned when the batch is first drained, kept on retries.
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  // The producer fields `sealed` carries. A batch sealed off the I/O
  // thread (by a seal thread, or by the sending thread that filled it)
  // carries none (-1) until its first send stamps them; a batch the I/O
  // thread seals as it drains it is sealed with the fields it is about to be
  // stamped with, so that stamping changes nothing. Restamping a sealed
  // batch patches its CRC (restamp_batch, ~20 ns); it used to recompute it
  // below 16 KiB of records, and at 600 partitions, where batches are ~16
  // KiB and all sealed while draining, half of them had their CRC
  // computed twice.
  protocol::batch_producer_fields sealed_stamp{};

  bool is_sealed() const noexcept { return state.load(std::memory_order_acquire) == seal_state::sealed; }
};

}  // namespace kprod::producer_detail
