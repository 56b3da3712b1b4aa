// sender - the producer's I/O loop step (Java's Sender.runOnce).
//
// run_once(now) does, in order: metadata upkeep, producer id upkeep
// (idempotence), draining ready batches into one Produce request per leader,
// and expiring what passed delivery.timeout.ms; it returns when it next needs
// to run. Responses are classified per partition:
//
//   NONE / DUPLICATE_SEQUENCE_NUMBER      -> complete (offset -1 for a duplicate)
//   MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE on several records
//                                         -> split in halves, resent in order
//   retriable, lost connection, timeout   -> back to the queue front, backoff
//   OUT_OF_ORDER behind an earlier batch  -> retriable (that batch failed first)
//   OUT_OF_ORDER at the head, UNKNOWN_PRODUCER_ID
//                                         -> KIP-360: that partition restarts at
//                                            sequence 0 under a bumped epoch,
//                                            the batch is retried
//   INVALID_PRODUCER_EPOCH                -> the same under a new producer id
//   anything else                         -> the batch's records fail (and, if
//                                            it was sent, its partition's
//                                            epoch is bumped over the hole)
//
// All of it runs on the I/O thread; completions are invoked there.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "client/cluster.h"
#include "kprod/metrics.h"
#include "producer/accumulator.h"

namespace kprod::producer_detail {

// Counters behind producer::metrics(): written by the I/O thread, read by any.
struct sender_counters {
  std::atomic<std::uint64_t> acknowledged{0}, failed{0}, batches{0}, batch_bytes{0}, batch_records{0}, requests{0},
      retries{0};
  producer_metrics snapshot() const noexcept {
    producer_metrics m;
    m.records_acknowledged = acknowledged.load(std::memory_order_relaxed);
    m.records_failed = failed.load(std::memory_order_relaxed);
    m.batches_sent = batches.load(std::memory_order_relaxed);
    m.batch_bytes_sent = batch_bytes.load(std::memory_order_relaxed);
    m.batch_records_sent = batch_records.load(std::memory_order_relaxed);
    m.produce_requests = requests.load(std::memory_order_relaxed);
    m.retries = retries.load(std::memory_order_relaxed);
    return m;
  }
};

class transaction_manager;

// True while the current thread runs a record's completion handler.
bool in_completion_handler() noexcept;

class sender {
 public:
  sender(asio::io_context& io, const producer_config& cfg, accumulator& acc, client::cluster& cl);
  ~sender();

  // Thread-safe: makes the I/O thread run soon. Coalesced.
  void wake();
  // I/O thread: one step; returns the time of the next needed step.
  clock::time_point run_once(clock::time_point now);

  // I/O thread: hands a topic's metadata from `snap` to the accumulator.
  // False when the snapshot has no usable entry for it.
  bool apply_topic_metadata(const client::cluster_snapshot& snap, const std::string& topic);

  // I/O thread: fail everything queued, pending and in flight with `why`
  // (close() after its timeout).
  void abort_all(const kprod::error& why);
  // I/O thread, once, from close(): fails everything left (queued, waiting
  // for metadata, in flight) with `why`, closes every connection and stops
  // doing work.
  void shutdown(const kprod::error& why);
  std::size_t in_flight_requests() const noexcept { return in_flight_requests_; }
  // The transaction manager of a transactional producer (else nullptr).
  transaction_manager* transactions() noexcept { return txn_.get(); }
  const sender_counters& counters() const noexcept { return counters_; }

 private:
  struct request_state;

  void schedule(clock::time_point next);
  void run();
  void maybe_init_producer_id(clock::time_point now);
  void send_produce(std::int32_t node, std::vector<std::unique_ptr<producer_batch>> batches, clock::time_point now);
  void on_produce_response(const std::shared_ptr<request_state>& rs, const kprod::error& e,
                           std::span<const std::uint8_t> body);
  void retry_or_fail(std::unique_ptr<producer_batch> b, const kprod::error& e, bool sent);
  void complete(std::unique_ptr<producer_batch> b, const kprod::error& e, persistence status, std::int64_t base_offset,
                std::int64_t log_append_time);
  void fail_pending(accumulator::expired_pending& p, const kprod::error& e);
  // Idempotence recovery (sender_idempotence.cc).
  bool handle_sequence_error(producer_batch& b, kafka_errc code);
  void request_epoch_bump(partition_queue& q);
  void maybe_bump_epoch();
  void split_and_requeue(std::unique_ptr<producer_batch> b);
  std::chrono::milliseconds retry_backoff(int attempts);

  asio::io_context& io_;
  const producer_config cfg_;
  accumulator& acc_;
  client::cluster& cluster_;
  asio::steady_timer timer_;
  clock::time_point timer_at_ = clock::time_point::max();
  std::atomic<bool> wake_pending_{false};
  std::mt19937 rng_{std::random_device{}()};
  std::size_t in_flight_requests_ = 0;
  bool aborted_ = false;

  // Idempotence.
  const bool idempotent_;
  std::int64_t producer_id_ = -1;
  std::int16_t producer_epoch_ = -1;
  bool init_pid_in_flight_ = false;
  bool new_producer_id_needed_ = false;  // INVALID_PRODUCER_EPOCH, or the epoch is exhausted
  bool bump_requested_ = false;          // some partition_queue::bump_pending
  clock::time_point next_pid_attempt_{};
  kprod::error fatal_;

  // Transactions (sender_transactions.cc): null without transactional.id.
  std::unique_ptr<transaction_manager> txn_;
  void txn_setup();
  void txn_step(clock::time_point now, clock::time_point& next);
  // A Produce partition error a transactional producer handles its own way;
  // true when `b` was dealt with.
  bool txn_produce_error(std::unique_ptr<producer_batch>& b, kafka_errc code, const kprod::error& err);
  void txn_record_failed(const producer_batch& b, const kprod::error& e, persistence status);
  void txn_shutdown(const kprod::error& why);
  void txn_record_sequence_refused();

  std::map<std::int32_t, clock::time_point> throttled_until_;
  clock::time_point next_idle_check_{};  // metadata.max.idle.ms sweep
  clock::time_point next_arena_trim_{};
  static constexpr std::chrono::milliseconds arena_trim_interval{100};
  static constexpr std::chrono::milliseconds expiry_scan_interval{20};
  clock::time_point next_expiry_scan_{};  // delivery.timeout.ms of queued batches
  clock::time_point earliest_deadline_ = clock::time_point::max();
  // Produce requests awaiting their response: their batches expire at
  // delivery.timeout.ms even if the broker never answers.
  std::vector<std::shared_ptr<request_state>> in_flight_;
  sender_counters counters_;
  clock::time_point expire_in_flight(clock::time_point now);
};

}  // namespace kprod::producer_detail
