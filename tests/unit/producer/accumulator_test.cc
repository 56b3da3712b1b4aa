// The accumulator on its own: no sockets, times passed in explicitly.
#include "producer/accumulator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "protocol/record_batch_reader.h"

namespace kprod::producer_detail {
namespace {

using namespace std::chrono_literals;

producer_config make_config(std::int32_t batch_size = 16384, std::int64_t buffer = 1 << 20, bool idempotent = true) {
  producer_config c;
  c.bootstrap_servers = {"127.0.0.1:9092"};
  c.batch_size = batch_size;
  c.buffer_memory = buffer;
  c.linger = 5ms;
  c.enable_idempotence = idempotent;
  auto v = validate(c);
  EXPECT_TRUE(v.ok()) << v.error().message();
  return v.value();
}

struct fixture {
  explicit fixture(producer_config c) : cfg(std::move(c)), pool(cfg.buffer_memory), acc(cfg, pool, [this] { ++wakeups; }) {}

  result<void> send(std::string_view topic, std::optional<std::int32_t> partition, std::string_view value,
                    std::vector<delivery_report>* reports = nullptr, bool may_block = false) {
    record r{topic, partition, std::nullopt, bytes_view(value), {}, 1000};
    detail::completion done;
    if (reports) done = detail::completion::from([reports](delivery_report rep) { reports->push_back(rep); });
    return acc.append(r, done, reports != nullptr, may_block);
  }
  void known(const std::string& topic, int partitions, std::int32_t leader = 1) {
    std::vector<std::pair<std::int32_t, std::int32_t>> parts;
    for (int i = 0; i < partitions; ++i) parts.emplace_back(i, leader);
    acc.set_topic_metadata(topic, parts, clock::now());
  }
  accumulator::drained drain(clock::time_point now, std::int64_t pid = 7, std::int16_t epoch = 0) {
    return acc.drain(now, [](std::int32_t) { return true; }, cfg.enable_idempotence.value_or(false), pid, epoch);
  }
  std::vector<std::unique_ptr<producer_batch>> take_all(accumulator::drained& d) {
    std::vector<std::unique_ptr<producer_batch>> out;
    for (auto& [node, batches] : d.by_node) {
      for (auto& b : batches) out.push_back(std::move(b));
    }
    return out;
  }

  producer_config cfg;
  buffer_pool pool;
  std::atomic<int> wakeups{0};
  accumulator acc;
};

TEST(Accumulator, RecordsForAnUnknownTopicWaitThenJoinABatchWhenMetadataArrives) {
  fixture f(make_config());
  ASSERT_TRUE(f.send("t", std::nullopt, "v1").ok());
  EXPECT_EQ(f.acc.topics_without_metadata(), std::vector<std::string>{"t"});
  EXPECT_GT(f.wakeups.load(), 0);
  EXPECT_TRUE(f.take_all(*std::make_unique<accumulator::drained>(f.drain(clock::now() + 1h))).empty());
  f.known("t", 1);
  EXPECT_TRUE(f.acc.topics_without_metadata().empty());
  auto d = f.drain(clock::now() + 1s);
  auto batches = f.take_all(d);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0]->record_count, 1);
}

TEST(Accumulator, BatchIsReadyOnlyAfterLinger) {
  fixture f(make_config());
  f.known("t", 1);
  const auto t0 = clock::now();
  ASSERT_TRUE(f.send("t", 0, "a").ok());
  auto early = f.drain(t0 - 1s);
  EXPECT_TRUE(early.by_node.empty());
  EXPECT_NE(early.next_ready_check, clock::time_point::max()) << "the linger deadline must be reported";
  auto late = f.drain(early.next_ready_check + 1ms);
  EXPECT_EQ(f.take_all(late).size(), 1u);
}

TEST(Accumulator, FullBatchIsReadyAtOnceAndOnlyOneBatchPerPartitionIsDrained) {
  fixture f(make_config(/*batch_size=*/200));
  f.known("t", 1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.send("t", 0, std::string(60, 'x')).ok());
  // Before linger ends: only full batches qualify. (Not now - 1h: the
  // steady clock counts from boot, and on a machine up for less than an hour
  // that is before every hint - "ready at 0" - and nothing was due.)
  auto d = f.drain(clock::now());
  auto first = f.take_all(d);
  ASSERT_EQ(first.size(), 1u) << "a request carries one batch per partition";
  EXPECT_TRUE(first[0]->full);
  EXPECT_TRUE(d.more || !f.take_all(*std::make_unique<accumulator::drained>(f.drain(clock::now()))).empty());
}

TEST(Accumulator, IdempotentSequencesAreConsecutivePerPartitionInAppendOrder) {
  fixture f(make_config(/*batch_size=*/100));
  f.known("t", 2);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(f.send("t", i % 2, std::string(50, 'a' + i)).ok());
  std::map<std::int32_t, std::vector<std::pair<std::int32_t, std::int32_t>>> seqs;
  for (int round = 0; round < 10; ++round) {
    auto d = f.drain(clock::now() + 1h);
    for (auto& b : f.take_all(d)) {
      auto hdr = protocol::parse_batch(b->sealed, {});
      ASSERT_TRUE(hdr.ok()) << hdr.error().message();
      EXPECT_EQ(hdr->header.producer_id, 7);
      EXPECT_EQ(hdr->header.base_sequence, b->base_sequence);
      seqs[b->partition].emplace_back(b->base_sequence, b->record_count);
      f.acc.batch_done(*b);
    }
  }
  for (auto& [p, v] : seqs) {
    std::int32_t expect = 0;
    for (auto [base, count] : v) {
      EXPECT_EQ(base, expect) << "partition " << p;
      expect = base + count;
    }
    EXPECT_EQ(expect, 3) << "partition " << p;
  }
}

// A batch the I/O thread seals as it drains it (its linger ended) is sealed
// with the producer fields it is sent with (`sealed_stamp`), so stamping it
// has nothing to patch; a batch sealed before (full, by the sending thread)
// is stamped when drained. Either way the bytes carry the batch's fields
// under a valid CRC, also when the producer epoch changes.
TEST(Accumulator, BatchesCarryTheirStampUnderAValidCrcHoweverTheyWereSealed) {
  fixture f(make_config(/*batch_size=*/200));
  f.known("t", 2);
  for (std::int16_t epoch = 0; epoch < 2; ++epoch) {
    // Partition 0: one open batch (sealed as drained). Partition 1: a batch
    // closed full by the next record (sealed by the sender), then an open one.
    ASSERT_TRUE(f.send("t", 0, std::string(30, 'a')).ok());
    ASSERT_TRUE(f.send("t", 1, std::string(120, 'b')).ok());
    ASSERT_TRUE(f.send("t", 1, std::string(120, 'c')).ok());
    std::map<std::int32_t, std::int32_t> next_seq;  // the new epoch counts from 0 again
    int batches = 0;
    for (int round = 0; round < 4; ++round) {
      auto d = f.drain(clock::now() + 1h, 7, epoch);
      for (auto& b : f.take_all(d)) {
        ++batches;
        auto v = protocol::parse_batch(b->sealed);  // verifies the CRC
        ASSERT_TRUE(v.ok()) << v.error().message();
        const std::int32_t seq = next_seq[b->partition];
        EXPECT_EQ(v->header.producer_id, 7);
        EXPECT_EQ(v->header.producer_epoch, epoch);
        EXPECT_EQ(v->header.base_sequence, seq);
        EXPECT_EQ(b->base_sequence, seq);
        EXPECT_EQ(b->sealed_stamp, (protocol::batch_producer_fields{7, epoch, seq, false}));
        next_seq[b->partition] = seq + b->record_count;
        f.acc.batch_done(*b);  // acknowledged: nothing holds the partitions at the old epoch
      }
    }
    EXPECT_EQ(batches, 3) << "epoch " << epoch;
  }
}

TEST(Accumulator, RetriedBatchGoesBackBeforeNewerOnesAndWaitsForItsBackoff) {
  fixture f(make_config(/*batch_size=*/100));
  f.known("t", 1);
  ASSERT_TRUE(f.send("t", 0, std::string(80, 'a')).ok());
  auto d1 = f.drain(clock::now() + 1h);
  auto first = f.take_all(d1);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(f.send("t", 0, std::string(80, 'b')).ok());
  const auto now = clock::now();
  first[0]->attempts = 1;
  first[0]->retry_at = now + 100ms;
  const auto first_id = first[0]->id;
  f.acc.reenqueue(std::move(first[0]));
  auto blocked = f.drain(now);
  EXPECT_TRUE(blocked.by_node.empty()) << "the newer batch must not overtake the one waiting to retry";
  auto d2 = f.drain(now + 101ms);
  auto again = f.take_all(d2);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]->id, first_id);
}

TEST(Accumulator, ExplicitPartitionOutOfRangeIsRejected) {
  fixture f(make_config());
  f.known("t", 3);
  auto r = f.send("t", 3, "v");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), client_errc::invalid_argument);
  EXPECT_EQ(f.pool.used(), 0) << "a rejected record gives its memory back";
}

TEST(Accumulator, InvalidTopicNameIsRejected) {
  fixture f(make_config());
  auto r = f.send("bad topic!", std::nullopt, "v");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), client_errc::invalid_argument);
  EXPECT_EQ(f.pool.used(), 0);
}

TEST(Accumulator, FullBufferFailsANonBlockingSendAndHarmsNothingQueued) {
  fixture f(make_config(16384, /*buffer=*/4096));
  f.known("t", 1);
  int accepted = 0;
  result<void> r;
  for (int i = 0; i < 100; ++i) {
    r = f.send("t", 0, std::string(200, 'x'));
    if (!r.ok()) break;
    ++accepted;
  }
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), client_errc::queue_full);
  EXPECT_GT(accepted, 5);
  auto d = f.drain(clock::now() + 1h);
  auto batches = f.take_all(d);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0]->record_count, accepted);
  f.acc.batch_done(*batches[0]);
  EXPECT_EQ(f.pool.used(), 0) << "completing the batch returns every reserved byte";
}

// A send that went to wait for metadata and then waited for memory looks
// again once it has the memory: if the waiting records were appended
// meanwhile, it is appended too instead of starting a new waiting list
// (which sent every later record of every thread down the slow path until
// the next drain, and with several threads blocked there never stopped).
TEST(Accumulator, ASendThatWaitedForMemoryDoesNotRestartTheWaitingList) {
  fixture f(make_config(16384, /*buffer=*/8192));
  int waiting = 0;
  while (f.send("t", 0, std::string(200, 'w')).ok()) ++waiting;  // the pool fills with waiting records
  ASSERT_GT(waiting, 5);
  std::atomic<bool> returned{false};
  result<void> late_result;
  const std::string late_value(200, 'l');  // as large as the others: the pool has no room for it
  std::thread late([&] {
    record r{"t", 0, std::nullopt, bytes_view(late_value), {}, 1000};
    detail::completion none;
    late_result = f.acc.append(r, none, false, /*may_block=*/true);
    returned = true;
  });
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (f.pool.waiters() == 0 && !returned && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);  // until it is blocked in reserve()
  }
  if (f.pool.waiters() == 0) {
    late.join();
    FAIL() << "the late send did not wait for memory";
  }
  f.known("t", 1);  // the waiting records are appended
  // Appending them returns their worst-case reservations, which may already
  // let the late send through; if not, completing their batch does.
  std::int32_t appended = 0;
  std::vector<std::unique_ptr<producer_batch>> done;
  if (!returned) {
    auto d = f.drain(clock::now() + 1h);
    done = f.take_all(d);
    for (auto& b : done) {
      appended += b->record_count;
      f.acc.release_buffer(*b);
      f.acc.batch_done(*b);
    }
  }
  late.join();
  ASSERT_TRUE(late_result.ok()) << late_result.error().message();
  EXPECT_TRUE(f.acc.topics_without_metadata().empty()) << "appended, not waiting for metadata again";
  auto d = f.drain(clock::now() + 1h);
  auto rest = f.take_all(d);
  for (auto& b : rest) {
    appended += b->record_count;
    f.acc.batch_done(*b);
  }
  EXPECT_EQ(appended, waiting + 1) << "every record in a batch, none left waiting";
  done.clear();
  rest.clear();
  EXPECT_EQ(f.pool.used(), 0) << "every reservation went into a batch, and back";
}

// A record that waited for metadata holds memory for a batch of its own, so
// one append can close two batches: the open one it does not fit, and the
// new one it fills alone (larger than batch.size). Both must be sealed: the
// first one stayed "being sealed" at the front of its queue, and nothing of
// its partition was sent again.
TEST(Accumulator, AnAppendThatClosesTwoBatchesSealsBoth) {
  fixture f(make_config(/*batch_size=*/1024));
  ASSERT_TRUE(f.send("t", 0, std::string(600, 'a')).ok());   // both wait for metadata
  ASSERT_TRUE(f.send("t", 0, std::string(2000, 'b')).ok());  // larger than batch.size
  f.known("t", 1);
  std::vector<std::size_t> values;
  for (int round = 0; round < 3; ++round) {
    auto d = f.drain(clock::now() + 1h);
    for (auto& b : f.take_all(d)) {
      ASSERT_TRUE(b->is_sealed());
      auto view = protocol::parse_batch(b->sealed);
      ASSERT_TRUE(view.ok()) << view.error().message();
      auto recs = protocol::read_records(*view);
      ASSERT_TRUE(recs.ok()) << recs.error().message();
      for (const auto& r : *recs) values.push_back(r.value ? r.value->size() : 0);
      f.acc.batch_done(*b);
    }
  }
  EXPECT_EQ(values, (std::vector<std::size_t>{600, 2000})) << "both batches sent, in order";
}

TEST(Accumulator, RecordLargerThanMaxRequestSizeIsRefused) {
  auto cfg = make_config();
  fixture f(cfg);
  auto r = f.send("t", std::nullopt, std::string(static_cast<std::size_t>(cfg.max_request_size), 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), client_errc::record_too_large);
}

TEST(Accumulator, ExpiredBatchesAreTakenFromTheFront) {
  fixture f(make_config());
  f.known("t", 1);
  std::vector<delivery_report> reports;
  ASSERT_TRUE(f.send("t", 0, "v", &reports).ok());
  EXPECT_TRUE(f.acc.take_expired_batches(clock::now(), false).empty());
  auto expired = f.acc.take_expired_batches(clock::now() + *f.cfg.delivery_timeout + 1s, false);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]->slots.size(), 1u);
}

TEST(Accumulator, IdleTopicsAreForgottenOnlyWhenNothingIsQueued) {
  fixture f(make_config());
  f.known("busy", 1);
  f.known("idle", 1);
  ASSERT_TRUE(f.send("busy", 0, "v").ok());
  const auto later = clock::now() + 10min;
  auto forgotten = f.acc.forget_idle_topics(later, 5min);
  EXPECT_EQ(forgotten, std::vector<std::string>{"idle"});
  // A record for the forgotten topic waits for fresh metadata again.
  ASSERT_TRUE(f.send("idle", 0, "v").ok());
  auto missing = f.acc.topics_without_metadata();
  EXPECT_NE(std::find(missing.begin(), missing.end(), "idle"), missing.end());
}

TEST(Accumulator, PartitionsOfAStalledLeaderAreAvoidedByTheStickyPartitioner) {
  auto cfg = make_config(/*batch_size=*/64);
  cfg.partitioner_availability_timeout = 100ms;
  fixture f(cfg);
  f.acc.set_topic_metadata("t", {{0, 1}, {1, 2}}, clock::now());
  // Data for broker 2 is ready but broker 2 never takes it.
  ASSERT_TRUE(f.send("t", 1, std::string(100, 'x')).ok());
  const auto t0 = clock::now() + 1h;
  auto only_broker_1 = [](std::int32_t node) { return node == 1; };
  (void)f.acc.drain(t0, only_broker_1, true, 7, 0);
  (void)f.acc.drain(t0 + 300ms, only_broker_1, true, 7, 0);
  (void)f.acc.drain(t0 + 400ms, only_broker_1, true, 7, 0);  // refreshes the load stats
  std::map<std::int32_t, int> chosen;
  for (int i = 0; i < 200; ++i) {
    record r{"t", std::nullopt, std::nullopt, bytes_view("0123456789012345678901234567890123456789"), {}, 1000};
    detail::completion none;
    ASSERT_TRUE(f.acc.append(r, none, false, false).ok());
  }
  auto d = f.acc.drain(t0 + 500ms, only_broker_1, true, 7, 0);
  for (auto& b : f.take_all(d)) chosen[b->partition] += b->record_count;
  // Broker 2's queue holds the explicit record plus anything the sticky
  // partitioner sent there; it must be nothing.
  auto* q1 = f.acc.queue("t", 1);
  ASSERT_NE(q1, nullptr);
  std::lock_guard lk(q1->mu);
  ASSERT_EQ(q1->batches.size(), 1u);
  EXPECT_EQ(q1->batches.front()->record_count, 1);
  EXPECT_GT(chosen[0], 0);
}

// KIP-794 through append(): null-key records stay on one partition until
// batch.size bytes went to it (counted under the partition's lock), then
// the partitioner picks another; explicit and keyed records count nothing.
TEST(Accumulator, NullKeyRecordsSwitchPartitionAfterBatchSizeBytes) {
  constexpr std::int32_t batch_size = 2000;
  constexpr int partitions = 64;
  fixture f(make_config(batch_size, 1 << 20, false));
  f.known("t", partitions);
  const std::string value(90, 'v');
  const std::size_t upper = protocol::record_batch_builder::record_size_upper_bound(-1, 90, {});
  const int per_stay = static_cast<int>((batch_size + upper - 1) / upper);  // the one reaching it included
  auto counts = [&] {
    std::vector<int> n(partitions, 0);
    for (int p = 0; p < partitions; ++p) {
      partition_queue* q = f.acc.queue("t", p);
      std::lock_guard lk(q->mu);
      for (const auto& b : q->batches) n[static_cast<std::size_t>(p)] += b->record_count;
    }
    return n;
  };
  std::vector<int> runs;  // consecutive null-key records on one partition
  int current = -1;
  for (int i = 0; i < 12 * per_stay; ++i) {
    if (i % 7 == 3) {
      // Explicit and keyed records between them: not counted.
      ASSERT_TRUE(f.send("t", 5, value).ok());
      record keyed{"t", std::nullopt, bytes_view(std::string_view("k")), bytes_view(value), {}, 1000};
      detail::completion none;
      ASSERT_TRUE(f.acc.append(keyed, none, false, false).ok());
    }
    const auto before = counts();
    ASSERT_TRUE(f.send("t", std::nullopt, value).ok());
    const auto after = counts();
    int chosen = -1;
    for (int p = 0; p < partitions; ++p) {
      if (after[static_cast<std::size_t>(p)] != before[static_cast<std::size_t>(p)]) chosen = p;
    }
    ASSERT_GE(chosen, 0);
    if (chosen != current) {
      runs.push_back(0);
      current = chosen;
    }
    ++runs.back();
  }
  // A run is one stay of per_stay records, or several when the partitioner
  // happened to pick the same partition again (1 in 64).
  ASSERT_GE(runs.size(), 6u) << "the partitioner did not switch";
  int single = 0;
  for (std::size_t i = 0; i + 1 < runs.size(); ++i) {
    EXPECT_EQ(runs[i] % per_stay, 0) << "run " << i << ": " << runs[i];
    single += runs[i] == per_stay ? 1 : 0;
  }
  EXPECT_GE(single, static_cast<int>(runs.size()) / 2) << "stays longer than batch.size bytes";
}

// The I/O thread plans its next drain from what it scanned; a batch opened
// in a queue it had already scanned must wake it, or that batch waits for
// an unrelated wake-up (the drain publishes horizon 0 while it runs).
TEST(Accumulator, ABatchOpenedWhileTheIoThreadDrainsWakesIt) {
  fixture f(make_config());
  f.known("t", 2);
  ASSERT_TRUE(f.send("t", 1, "ready").ok());  // partition 1: drained below
  const int before = f.wakeups.load();
  bool appended = false;
  auto d = f.acc.drain(
      clock::now() + 1h,
      [&](std::int32_t) {
        // Called while partition 1 is drained: partition 0 was scanned (empty).
        if (!appended) appended = f.send("t", 0, "late").ok();
        return true;
      },
      true, 7, 0);
  ASSERT_TRUE(appended);
  auto batches = f.take_all(d);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0]->partition, 1);
  EXPECT_GT(f.wakeups.load(), before);
  // And the late batch is there for the next drain.
  auto next = f.drain(clock::now() + 1h);
  auto late = f.take_all(next);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0]->partition, 0);
}

// The drain skips queues by their ready hint without locking them: a hint
// must never hide a batch that is ready (full, lingered, retry due).
TEST(Accumulator, ReadyHintNeverHidesAReadyBatch) {
  fixture f(make_config(1024));
  f.known("t", 3);
  const auto t0 = clock::now();
  ASSERT_TRUE(f.send("t", 0, "lingering").ok());
  // Partition 1: filled past batch.size, closed full: ready at once.
  const std::string big(600, 'x');
  ASSERT_TRUE(f.send("t", 1, big).ok());
  ASSERT_TRUE(f.send("t", 1, big).ok());
  auto d1 = f.drain(t0);
  auto first = f.take_all(d1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]->partition, 1);
  EXPECT_GE(d1.next_ready_check, t0);  // partition 0's linger end (or partition 1's next batch)
  EXPECT_LE(d1.next_ready_check, clock::now() + f.cfg.linger);
  // Partition 0 once its linger ended; partition 1's second batch too.
  auto d2 = f.drain(clock::now() + f.cfg.linger);
  auto second = f.take_all(d2);
  ASSERT_EQ(second.size(), 2u);
  // A retried batch goes back with its backoff: hidden until then, not after.
  auto retried = std::move(second[0]);
  retried->attempts = 1;
  retried->retry_at = clock::now() + 1h;
  const std::int32_t p = retried->partition;
  f.acc.reenqueue(std::move(retried));
  EXPECT_TRUE(f.drain(clock::now()).by_node.empty());
  auto d3 = f.drain(clock::now() + 2h);
  auto third = f.take_all(d3);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0]->partition, p);
}

// Buffers larger than the arena's largest block and smaller than a mapping
// would come from malloc, whose freed memory stays resident in the heap of
// the thread that allocated it: a batch growing into that band gets a
// mapping (128 KiB) instead, and the budget counts it.
TEST(Accumulator, ABatchNeverGrowsIntoTheSizesBetweenTheArenaAndAMapping) {
  constexpr std::size_t mapping = protocol::batch_buffer::mapped_threshold;
  static_assert(buffer_pool::arena_largest_block < 100000 && 100000 < mapping);
  fixture f(make_config(100000, 8 << 20));  // batch.size in the band
  f.known("t", 1);
  const std::string value(1000, 'v');
  std::set<std::size_t> caps;
  for (int i = 0; i < 99; ++i) {
    ASSERT_TRUE(f.send("t", 0, value).ok());
    const producer_batch& b = *f.acc.queue("t", 0)->last;
    const std::size_t cap = b.builder.capacity_bytes();
    caps.insert(cap);
    EXPECT_TRUE(cap <= buffer_pool::arena_largest_block || cap >= mapping) << cap << " at record " << i;
    const bool in_arena = cap <= buffer_pool::arena_largest_block;
    EXPECT_EQ(f.pool.arena().allocated_bytes(), in_arena ? f.pool.arena().block_bytes(cap) : 0u);
    EXPECT_GE(f.pool.used(), static_cast<std::int64_t>(cap)) << "the budget counts the mapping";
  }
  EXPECT_TRUE(caps.count(mapping)) << "it grew past the arena's largest block into a mapping";
}

}  // namespace
}  // namespace kprod::producer_detail

namespace kprod::producer_detail {
namespace {

// Headers reach the batch intact whatever their count: append() keeps up to
// 16 header views on the stack and more in a vector, and records waiting for
// metadata keep owned copies. Null header values stay null.
TEST(Accumulator, HeadersSurviveAppendOnEveryPathAndCount) {
  fixture f(make_config(/*batch_size=*/1 << 20));
  const std::vector<std::size_t> counts = {0, 1, 15, 16, 17, 40};
  auto header_text = [](std::size_t rec, std::size_t h) { return "r" + std::to_string(rec) + "h" + std::to_string(h); };
  auto send_with_headers = [&](std::size_t rec, std::size_t n) {
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < n; ++i) texts.push_back(header_text(rec, i));
    std::vector<header> hs;
    for (std::size_t i = 0; i < n; ++i) {
      header h;
      h.key = texts[i];
      if (i % 3 != 2) h.value = bytes_view(texts[i]);  // every third value is null
      hs.push_back(h);
    }
    const std::string value = "v" + std::to_string(rec);
    record r{"t", 0, std::nullopt, bytes_view(value), hs, 1000};
    detail::completion done;
    return f.acc.append(r, done, false, false);
  };
  // Before metadata: pending copies; after: straight into the batch.
  for (std::size_t i = 0; i < counts.size(); ++i) ASSERT_TRUE(send_with_headers(i, counts[i]).ok());
  f.known("t", 1);
  for (std::size_t i = 0; i < counts.size(); ++i) ASSERT_TRUE(send_with_headers(counts.size() + i, counts[i]).ok());

  auto d = f.drain(clock::now() + 1h);
  auto batches = f.take_all(d);
  ASSERT_EQ(batches.size(), 1u);
  auto view = protocol::parse_batch(batches[0]->sealed);
  ASSERT_TRUE(view.ok()) << view.error().message();
  auto recs = protocol::read_records(*view);
  ASSERT_TRUE(recs.ok()) << recs.error().message();
  ASSERT_EQ(recs->size(), 2 * counts.size());
  for (std::size_t rec = 0; rec < recs->size(); ++rec) {
    const auto& r = (*recs)[rec];
    const std::size_t n = counts[rec % counts.size()];
    ASSERT_EQ(r.headers.size(), n) << "record " << rec;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string want = header_text(rec, i);
      EXPECT_EQ(r.headers[i].first, want);
      if (i % 3 == 2) {
        EXPECT_FALSE(r.headers[i].second.has_value()) << "record " << rec << " header " << i;
      } else {
        ASSERT_TRUE(r.headers[i].second.has_value());
        EXPECT_EQ(std::string(r.headers[i].second->begin(), r.headers[i].second->end()), want);
      }
    }
  }
  f.acc.batch_done(*batches[0]);
}

// Batch buffers and slot lists come from the pool's arena (storage_arena.h),
// also for records that waited for metadata, and go back to it when their
// batches are done.
TEST(Accumulator, BatchStorageComesFromThePoolsArenaAndGoesBackWithTheBatch) {
  fixture f(make_config(16384, 1 << 20));
  std::vector<delivery_report> reports;
  ASSERT_TRUE(f.send("t", 0, "waited for metadata", &reports).ok());
  EXPECT_EQ(f.pool.arena().allocated_bytes(), 0u) << "an owned copy until metadata arrives";
  f.known("t", 50);
  const protocol::storage_arena& arena = f.pool.arena();
  auto blocks_of = [&](int p) {
    const producer_batch& b = *f.acc.queue("t", p)->last;
    EXPECT_GT(b.slots.capacity_bytes(), 0u);
    return arena.block_bytes(b.builder.capacity_bytes()) + arena.block_bytes(b.slots.capacity_bytes());
  };
  EXPECT_EQ(arena.allocated_bytes(), blocks_of(0)) << "its buffer and its slots, nothing else";
  std::size_t all = blocks_of(0);
  for (int p = 1; p < 50; ++p) {
    ASSERT_TRUE(f.send("t", p, "v", &reports).ok());
    all += blocks_of(p);
  }
  EXPECT_EQ(arena.allocated_bytes(), all);

  auto d = f.drain(clock::now() + 1s);
  auto batches = f.take_all(d);
  ASSERT_EQ(batches.size(), 50u);
  for (auto& b : batches) {
    ASSERT_TRUE(b->is_sealed());
    auto view = protocol::parse_batch(b->sealed);
    ASSERT_TRUE(view.ok()) << view.error().message();
    EXPECT_EQ(view->header.records_count, 1);
    f.acc.release_buffer(*b);
    f.acc.batch_done(*b);
  }
  EXPECT_GT(f.pool.arena().allocated_bytes(), 0u) << "slots live until the batch object goes";
  batches.clear();
  EXPECT_EQ(f.pool.arena().allocated_bytes(), 0u);
  EXPECT_EQ(f.pool.used(), 0);
}

}  // namespace
}  // namespace kprod::producer_detail
