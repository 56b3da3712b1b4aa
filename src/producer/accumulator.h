// accumulator - per-partition queues of record batches (Java's
// RecordAccumulator).
//
// Application threads append; the I/O thread asks which partitions are ready,
// drains batches into requests, re-enqueues retries and completes batches.
//
// Locking: the topic map is read-mostly (std::shared_mutex; a per-thread
// cache skips it on most sends); each topic's partition table is read by
// every send and written only by metadata changes (read_mostly_mutex: its
// shared side writes no shared memory); each partition queue has its own
// mutex. The I/O
// thread's own bookkeeping (in-flight counts, sequences) lives in
// partition_queue fields that only the I/O thread touches.
//
// Records for a topic whose metadata is not known yet wait, as owned copies,
// in the topic's pending list; the I/O thread partitions and appends them,
// in order, once metadata arrives. While that list is non-empty new records
// join it too, so per-thread order holds.
#pragma once

#include <atomic>
#include <limits>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "codec/compression.h"
#include "kprod/config.h"
#include "kprod/record.h"
#include "producer/buffer_pool.h"
#include "producer/partition_mutex.h"
#include "producer/flush_tracker.h"
#include "producer/partitioners.h"
#include "producer/read_mostly_mutex.h"
#include "producer/producer_batch.h"
#include "producer/seal_workers.h"

namespace kprod::producer_detail {

struct partition_queue {
  // ready_hint value of an empty queue.
  static constexpr std::int64_t no_batch = std::numeric_limits<std::int64_t>::max();

  partition_mutex mu;
  // Under mu: bytes appended here as the sticky partitioner's choice since
  // it last counted them (see record_args::sticky). Beside the lock (in its
  // padding): counting costs an append nothing.
  std::uint32_t sticky_bytes = 0;
  // Under mu: batches.back(), or nullptr. On the lock's cache line, so an
  // append reaches its batch without walking the deque's node map (one
  // dependent cache miss fewer per record with hundreds of partitions).
  producer_batch* last = nullptr;
  std::deque<std::unique_ptr<producer_batch>> batches;  // front = oldest
  std::uint64_t next_batch_id = 0;                      // under mu
  // Under mu: size of this partition's last closed batch, which sizes the
  // next batch's buffer.
  std::size_t last_batch_bytes = 0;
  std::size_t last_batch_slot_bytes = 0;

  // I/O thread only.
  std::int32_t leader = -1;
  int in_flight = 0;
  // Idempotence: the producer id and epoch this partition's sequences count
  // under (it switches to the producer's current ones only when none of its
  // batches is unacknowledged), the next sequence, the ids of batches sent
  // and not yet completed (ids, not sequences: sequences wrap at INT32_MAX),
  // and whether it waits for a KIP-360 epoch bump (sending nothing).
  std::int64_t seq_producer_id = -1;
  std::int16_t seq_producer_epoch = -1;
  std::int32_t next_sequence = 0;
  std::set<std::uint64_t> unacked_batches;
  bool bump_pending = false;
  clock::time_point leader_lost_at{};

  // For the I/O thread's drain scan, read without mu: a steady-clock time
  // (ns) at or before which the front batch becomes ready by time (its
  // linger or retry backoff ends; 0 = ready now: full), or no_batch. Never
  // later than the truth, so a skipped queue is never one that was ready.
  // Written under mu, only when the front changes or closes (once per batch,
  // not per record), and on its own cache line: scanning every partition's
  // lock at each drain moved every lock's line to the I/O thread's core, so
  // with 600 partitions most appends missed the cache on the lock and the
  // unlock (~30% of the CPU per record).
  alignas(64) std::atomic<std::int64_t> ready_hint{no_batch};
  // I/O thread only, beside the hint it qualifies: ready_hint is the end of
  // a saturated hold (drain() held the front batch back to grow while its
  // leader is busy or it is small), not of a linger; `held_node` is the
  // leader it waited for (-1: held for size only). Such a queue is due
  // before its hint once the producer is no longer saturated or that leader
  // is idle; the append that grows the batch past its hold_bytes resets the
  // hint itself. Before this, every drain relocked every held queue: at 600
  // partitions ~0.1 locks per record, each moving the lock's and the
  // batch's lines to the I/O thread's core and back to the next append.
  bool hold_hint = false;
  std::int32_t held_node = -1;
  // Likewise for the delivery-timeout scans: the front batch's deadline
  // (steady ns), or no_batch. Exact (deadlines never change).
  std::atomic<std::int64_t> front_deadline{no_batch};
  // For the adaptive partitioner's load stats: batches queued + in flight,
  // refreshed with the hints and whenever in_flight changes.
  std::atomic<std::int32_t> load{0};

  // The memory gate (under mu; memory_turn is also a futex word). Set while
  // a sending thread waits for buffer.memory to open or grow this
  // partition's batch. Another thread that needs memory here meanwhile waits
  // for that one (memory_turn changes when it is done) instead of reserving
  // a batch of its own: each found an open batch once back and gave its
  // reservation up again, but held it while waiting - with 8 sending threads
  // and a full buffer, ~290 such 1.5 MB reservations per 4 M records, budget
  // no batch could use, and the buffer cache unmapped kept buffers to stay
  // within buffer.memory meanwhile.
  bool memory_waiter = false;
  int memory_followers = 0;
  std::atomic<std::uint32_t> memory_turn{0};
};

// Budget a batch takes beside its buffer and slots: the object itself and
// its queue entry.
inline constexpr std::int64_t batch_bookkeeping_bytes = 64 + static_cast<std::int64_t>(sizeof(producer_batch));

// A record waiting for its topic's metadata: owned copies of its bytes.
struct pending_record {
  std::optional<std::int32_t> partition;
  std::optional<std::string> key, value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  std::int64_t timestamp_ms;
  detail::completion done;
  bool has_handler;
  std::int64_t reserved_bytes;
  clock::time_point deadline;
  std::uint64_t flush_epoch;
};

struct topic_state {
  explicit topic_state(std::string n) : name(std::move(n)) {}
  const std::string name;

  read_mostly_mutex mu;  // guards the fields below (shared for appends)
  bool known = false;    // metadata seen with partitions
  std::vector<std::unique_ptr<partition_queue>> partitions;
  std::vector<std::int32_t> available;  // partitions with a leader
  std::mutex pending_mu;                // with mu held either way; drain_pending holds mu exclusively
  std::deque<pending_record> pending;   // under pending_mu
  std::atomic<bool> has_pending{false};
  std::unique_ptr<topic_partitioner> partitioner;
  // Adaptive partitioning's load stats, parallel to `available`: batches
  // queued, and how long the leader had ready data without a drain. Replaced
  // under the exclusive lock; refreshed in place under the shared one (the
  // I/O thread, every 5 ms) with relaxed atomic stores, read likewise
  // (load_stat()): stale by a few ms at worst, and no writer lock per refresh.
  std::vector<std::int32_t> queue_sizes;
  std::vector<std::int64_t> leader_stalled_ms;
  clock::time_point stats_at{};           // I/O thread: when queue_sizes was computed
  clock::time_point last_used{};          // I/O thread: metadata arrived or a batch was drained
  topic_view view() const {
    return {static_cast<std::int32_t>(partitions.size()), available, queue_sizes, leader_stalled_ms};
  }
  kprod::error last_error;              // why metadata is not usable (I/O thread)
};

class accumulator {
 public:
  using wakeup_fn = std::function<void()>;

  accumulator(const producer_config& cfg, buffer_pool& pool, wakeup_fn wake);
  ~accumulator();

  // ---- application threads -------------------------------------------------
  // Queues a record. On success `done` has been moved from. On failure `done`
  // is untouched and the error says why (nothing was queued).
  result<void> append(const record& r, detail::completion& done, bool has_handler, bool may_block);

  // ---- I/O thread ----------------------------------------------------------
  std::vector<std::string> topics_without_metadata();
  // metadata.max.idle.ms: topics with nothing queued or waiting that were not
  // used for `idle` become unknown again (their metadata is fetched anew on
  // next use). Returns their names.
  std::vector<std::string> forget_idle_topics(clock::time_point now, std::chrono::milliseconds idle);
  // Appends records that waited for metadata of topics now known.
  void drain_pending_known(clock::time_point now);
  // Applies partition counts and leaders of one topic; drains its pending
  // records. `partitions` are (id, leader) for every partition.
  void set_topic_metadata(const std::string& topic, const std::vector<std::pair<std::int32_t, std::int32_t>>& partitions,
                          clock::time_point now);
  void set_topic_error(const std::string& topic, const kprod::error& err);

  // Batches ready to send, grouped by leader broker id, each group at most
  // max_request_size bytes (at least one batch). Seals what it takes.
  // `node_ready(id)` tells whether a request may go to that broker now.
  struct drained {
    std::map<std::int32_t, std::vector<std::unique_ptr<producer_batch>>> by_node;
    clock::time_point next_ready_check = clock::time_point::max();
    bool unknown_leader = false;  // some partition with data has no leader
    bool more = false;            // batches left that another round or request may take
  };
  // `partition_gate` (transactions): a partition whose gate says no keeps
  // its batches (not yet added to the transaction).
  using partition_gate_fn = std::function<bool(std::string_view topic, std::int32_t partition)>;
  // `node_busy` (optional): whether a broker has requests in flight. While
  // buffer.memory is nearly used up, a batch that is ready only because its
  // linger ended waits (up to saturated_hold) for its leader's requests to
  // come back, so that it grows meanwhile: a saturated producer then sends
  // fewer, larger batches instead of ever more tiny ones (each costs the
  // broker the same; at hundreds of partitions that cost bounded throughput).
  // A small batch is not held for more records once a send was refused for
  // memory or a sender waits for it: none can come in then, and the held
  // batches would keep that memory until the hold ends (600 partitions at a
  // 16 MiB buffer: 1.7M vs 4.7M records/s). Busy leaders still hold theirs.
  drained drain(clock::time_point now, const std::function<bool(std::int32_t)>& node_ready, bool idempotent,
                std::int64_t producer_id, std::int16_t producer_epoch,
                const partition_gate_fn* partition_gate = nullptr,
                const std::function<bool(std::int32_t)>* node_busy = nullptr);
  static constexpr std::chrono::milliseconds saturated_hold{50};
  // Batches beyond this many bytes go in the leader's next request (up to
  // max.in.flight of them): a broker answers a request only once it has
  // appended all of it, so several moderate requests in flight keep it and
  // the connection busier than one large one (100 KB records: 1 MB batches).
  static constexpr std::int64_t soft_request_bytes = 1 << 20;

  // Puts a batch that will be retried back at the front of its queue, in
  // creation order, not before `retry_at`.
  void reenqueue(std::unique_ptr<producer_batch> b);
  // MESSAGE_TOO_LARGE: `pieces` (from split_batch(), in record order) take
  // the place of the in-flight batch `big` in its queue, with its buffer
  // reservation and flush epoch (batch_split.cc).
  void requeue_split(std::unique_ptr<producer_batch> big, std::vector<std::unique_ptr<producer_batch>> pieces);
  // A batch about to be completed: its bytes are no longer needed (the
  // reports need only the slots), so its buffer goes back to the cache and
  // its capacity to buffer.memory before the callbacks run - a sender waiting
  // for memory proceeds at the first report, not after the last.
  void release_buffer(producer_batch& b);
  // Called once a batch left the in-flight set (success or final failure).
  void batch_done(const producer_batch& b);

  // Removes queued batches and pending records whose delivery deadline has
  // passed (or all of them when `all` is set) and returns them.
  struct expired_pending {
    std::vector<pending_record> records;
    std::string_view topic;  // the topic state's name: lives as long as the producer
  };
  std::vector<std::unique_ptr<producer_batch>> take_expired_batches(clock::time_point now, bool all);
  std::vector<expired_pending> take_expired_pending(clock::time_point now, bool all);

  // The earliest delivery deadline among queued batches/pending records.
  clock::time_point next_expiry() const;

  partition_queue* queue(std::string_view topic, std::int32_t partition);
  void for_each_queue(const std::function<void(topic_state&, std::int32_t, partition_queue&)>& fn);

  // flush(): every batch is ready regardless of linger while > 0.
  void begin_flush() { flushing_.fetch_add(1); }
  void end_flush() { flushing_.fetch_sub(1); }
  bool flushing() const { return flushing_.load() > 0; }
  void set_closing() { closing_ = true; }
  // Joins the seal threads (shutdown, once every batch left the queues).
  void stop_sealing() { sealers_.stop(); }
  seal_workers& sealers() { return sealers_; }  // tests

  // Batches not yet completed plus records waiting for metadata: zero iff no
  // record is queued or in flight (EndTxn waits for zero).
  std::int64_t queued_units() const { return queued_units_.load(); }
  buffer_pool& pool() { return pool_; }
  flush_tracker& flushes() { return flushes_; }
  const producer_config& config() const { return cfg_; }

  // Bytes a record reserves from buffer.memory: its wire bytes and, sent
  // with a handler, its slot (slot_list::entry_bytes; 0 without one).
  static std::int64_t reservation_for(std::size_t wire_bytes, std::size_t slot_bytes);

 private:
  topic_state& topic_for(std::string_view name);
  topic_state* find_topic(std::string_view name);
  topic_state* find_topic_in_map(std::string_view name);
  struct record_args {
    std::int64_t ts;
    const std::uint8_t* key;
    std::int32_t key_len;
    const std::uint8_t* value;
    std::int32_t value_len;
    std::span<const protocol::record_header_view> headers;
    std::size_t upper;       // record_size_upper_bound
    std::size_t slot_bytes;  // its slot_list entry; 0 without a handler
    // Chosen by the sticky partitioner: its bytes are counted under the
    // partition's lock (partition_queue::sticky_bytes) and handed to the
    // partitioner once they reach batch.size, which switches it then. It
    // used to count every record itself, with a compare-and-swap on its
    // shared state per record (~7 ns with one sending thread, a line moving
    // between cores with several).
    bool sticky = false;
  };
  // Appends the record if the memory it needs (a new batch, a larger buffer)
  // is covered by the pool or by `held` (bytes the caller reserved; what is
  // used is subtracted). Returns 0 once appended, else the bytes the caller
  // must hold before calling again (nothing was changed but closing the
  // open batch).
  //
  // `gate` (sending threads that may block; null for the I/O thread, which
  // never waits): the partition's memory gate (partition_queue). When memory
  // is needed and another thread waits for it here already, returns
  // follow_memory_waiter with gate->turn set, and the caller waits for
  // gate->queue's memory_turn to change (wait_memory_turn) before calling
  // again; otherwise the caller becomes the waiter (gate->waiter) until an
  // append succeeds or it calls leave_memory_gate.
  struct memory_gate {
    memory_gate() = default;
    memory_gate(const memory_gate&) = delete;
    memory_gate& operator=(const memory_gate&) = delete;
    // The role ends with the send however it ends (an exception included):
    // a gate left set would make every later send to the partition that
    // needs memory wait its whole max.block.ms for nobody.
    ~memory_gate() { leave_memory_gate(*this); }
    partition_queue* queue = nullptr;
    bool waiter = false;
    std::uint32_t turn = 0;
  };
  static constexpr std::int64_t follow_memory_waiter = -1;
  std::int64_t append_to_partition(topic_state& t, std::int32_t partition, const record_args& a,
                                   detail::completion& done, std::int64_t& held, clock::time_point now,
                                   const std::uint64_t* pending_epoch, memory_gate* gate = nullptr);
  // Returns `gate`'s waiter role (it gave up waiting for memory) and wakes
  // the threads that wait for it.
  static void leave_memory_gate(memory_gate& gate);
  // A follower gives up (max.block.ms, closing): no longer counted.
  static void leave_memory_followers(const memory_gate& gate);
  // Caller holds q.mu: hands the gate on (clears it, wakes followers).
  static bool release_memory_gate_locked(partition_queue& q);
  static void wake_memory_followers(partition_queue& q);
  // A batch that cannot grow for want of memory is closed (and sent) from
  // this size on; a smaller one waits for memory instead.
  static std::size_t grow_or_close_bytes(std::size_t batch_limit) noexcept;
  // A send found the buffer full since the last drain (see reserve()).
  std::atomic<bool> memory_short_{false};
  bool take_for_growth(std::int64_t cost, std::int64_t& held);
  static void close_batch(partition_queue& q, producer_batch& b);
  // Recomputes q.ready_hint from the front batch. Caller holds q.mu.
  void refresh_ready_hint(partition_queue& q) const noexcept;
  void drain_pending(topic_state& t, clock::time_point now);
  // One waiting record into its batch; caller holds t.mu (either way). An
  // error is the record's to report (its reservation is already released).
  kprod::error append_pending_locked(topic_state& t, pending_record& pr, clock::time_point now);
  // Idempotence, as drain() sends `b` (the front of `q`): whether it is
  // stamped now (first send, or its partition moved to a new producer id or
  // epoch; a retry under the same ones resends the same bytes), and with what.
  static bool needs_stamp(const partition_queue& q, const producer_batch& b, bool idempotent) noexcept {
    return idempotent && (b.base_sequence < 0 || b.producer_id != q.seq_producer_id ||
                          b.producer_epoch != q.seq_producer_epoch);
  }
  protocol::batch_producer_fields stamp_for(const partition_queue& q, const producer_batch& b,
                                            bool idempotent) const noexcept {
    if (!needs_stamp(q, b, idempotent)) return {};
    return {q.seq_producer_id, q.seq_producer_epoch, q.next_sequence, transactional_};
  }
  bool batch_ready(const producer_batch& b, clock::time_point now, bool exhausted,
                   clock::time_point& next_check) const;
  // pool_.try_reserve, else (buffer full) flags memory_short_, wakes the I/O
  // thread and, if allowed, waits up to max_wait.
  bool reserve(std::int64_t bytes, bool may_block, std::chrono::milliseconds max_wait);
  void update_load_stats(topic_state& t, clock::time_point now);

  const producer_config cfg_;
  buffer_pool& pool_;
  wakeup_fn wake_;
  const std::uint64_t id_;  // identifies this accumulator in per-thread caches
  std::atomic<int> flushing_{0};
  std::atomic<bool> closing_{false};
  // Counted per batch, not per record: an atomic add per record cost ~3% of
  // the CPU per 100-byte record; a batch is created under its partition's
  // lock anyway.
  std::atomic<std::int64_t> queued_units_{0};
  // The I/O thread drains again no later than this (steady clock ticks; 0 =
  // unknown): a new batch whose linger ends later need not wake it.
  std::atomic<clock::rep> drain_horizon_{0};
  flush_tracker flushes_;
  const bool transactional_;  // batches carry the transactional attribute bit

  mutable std::shared_mutex topics_mu_;
  struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  // Heterogeneous lookup: finding a topic by string_view allocates nothing.
  std::unordered_map<std::string, std::unique_ptr<topic_state>, name_hash, std::equal_to<>> topics_;

  // Who compresses full batches (seal_workers.h). Declared last among what
  // its workers use: destroyed (joined) first.
  seal_workers sealers_;

  // Per broker, for partitioner.availability.timeout.ms (Java's node
  // latency stats): when it last had a ready batch, and when one was last
  // drained to it. I/O thread only.
  struct node_times {
    clock::time_point ready{};
    clock::time_point drained{};
  };
  std::map<std::int32_t, node_times> node_times_;
};

}  // namespace kprod::producer_detail
