// seal_workers - who compresses ("seals") a full batch.
//
// Sealing a batch = compressing its records and computing the CRC; the
// producer id, epoch and base sequence are stamped later (restamp_batch
// fixes the CRC), so a batch can be sealed as soon as it is closed.
// Compressing everything on the I/O thread limits a producer to one core
// of compression; here a batch closed because it is full is sealed
// elsewhere while the I/O thread keeps sending:
//
//   threads > 0: a small pool of seal threads takes closed batches in
//                order; the I/O thread takes back ("steals") a job no worker
//                has started when it wants to send that batch, so it never
//                waits for a busy worker.
//   threads = 0: the appending thread seals the batch it closed, once it has
//                released the partition lock.
//
// Batches closed by the I/O thread (linger ended, flush, split pieces) are
// sealed by it, as before. Without compression (sealing is the CRC only)
// there are no seal threads: the appending thread computes the CRC of the
// batch it filled, while its bytes are still in its cache.
//
// Each batch's seal_state makes it sealed exactly once:
//   open -> queued (pool) -> sealing -> sealed     (a sealer)
//   queued -> open                                 (the I/O thread stole it)
// While a batch is queued or sealing it stays in its queue and is neither
// moved nor destroyed: drain skips it (the sealer wakes the I/O thread when
// done), expiry stops at it, shutdown waits for it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "codec/compression.h"
#include "kprod/result.h"
#include "producer/producer_batch.h"

namespace kprod::producer_detail {

class seal_workers {
 public:
  using wake_fn = std::function<void()>;

  // `threads` < 0: min(hardware threads, 4). `type` none: no threads (the
  // appending thread seals).
  seal_workers(compression_type type, int level, int threads, wake_fn wake);
  ~seal_workers();
  seal_workers(const seal_workers&) = delete;
  seal_workers& operator=(const seal_workers&) = delete;

  // True when full batches are sealed off the I/O thread (always, now: by the
  // appending thread without compression).
  bool offloads() const noexcept { return offload_; }
  int threads() const noexcept { return static_cast<int>(threads_.size()); }

  // Appending thread, under the partition lock, for a batch it just closed
  // as full (only when offloads()). Returns true when the caller must seal
  // it itself with seal_claimed() once it released the lock.
  bool hand_off(producer_batch& b);
  // No lock held: seals a batch hand_off() left to the caller, then wakes
  // the I/O thread if `wake` (the caller saw nothing of its partition in
  // flight: no response will wake it) or if a drain skipped the batch while
  // it was being sealed. `b` must not be used afterwards.
  void seal_claimed(producer_batch& b, bool wake = true);

  // Under the partition lock: makes sure no other thread seals `b` from now
  // on (a queued job is taken back). False while another thread is sealing
  // it (the I/O thread is woken when it is done).
  bool reclaim(producer_batch& b);
  // reclaim() that waits for a seal in progress (shutdown: every batch must
  // leave its queue now). Sealers take no partition lock, so this ends.
  void reclaim_wait(producer_batch& b);
  // I/O thread: seals `b` (which reclaim() gave it, then marked `sealing`
  // under the partition lock) on this thread, with no lock held, with the
  // producer fields it is about to be stamped with (so that stamping it
  // finds them there: see producer_batch::sealed_stamp).
  kprod::result<void> seal_here(producer_batch& b, const protocol::batch_producer_fields& stamp);

  // Stops and joins the workers (jobs still queued are dropped: shutdown
  // has taken every batch out of the queues before). Later hand-offs are
  // sealed by the caller.
  void stop();

  // Tests: runs on the sealing thread just before a batch is compressed.
  void set_before_seal_for_test(std::function<void(producer_batch&)> fn) { before_seal_ = std::move(fn); }

 private:
  // A compressor and its scratch buffer: codec contexts are not thread-safe.
  struct codec_slot {
    std::unique_ptr<codec::compressor> comp;
    std::vector<std::uint8_t> scratch;
  };
  std::unique_ptr<codec_slot> make_slot() const;
  kprod::result<void> seal_with(producer_batch& b, codec_slot& slot,
                                const protocol::batch_producer_fields& stamp = {});
  void finish(producer_batch& b, bool ok, bool wake);
  void run();

  const compression_type type_;
  const int level_;
  const bool offload_;
  wake_fn wake_;
  std::function<void(producer_batch&)> before_seal_;
  codec_slot io_slot_;  // the I/O thread's own

  std::mutex mu_;  // after a partition lock, never before one
  std::condition_variable cv_;
  std::deque<producer_batch*> jobs_;  // queued batches, in hand-off order
  bool stopped_ = false;
  std::vector<std::unique_ptr<codec_slot>> idle_slots_;  // for appending threads (threads = 0)
  std::vector<std::thread> threads_;
};

}  // namespace kprod::producer_detail
