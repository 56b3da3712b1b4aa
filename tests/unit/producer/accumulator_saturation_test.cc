// A saturated producer (buffer.memory nearly used up: the application
// produces faster than the brokers take records) must keep its batches
// large, and give memory back as early as it can. Measured at 600
// partitions: tiny batches there made throughput collapse 5x.
#include "producer/accumulator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

namespace kprod::producer_detail {
namespace {

using namespace std::chrono_literals;

producer_config make_config(std::int32_t batch_size, std::int64_t buffer) {
  producer_config c;
  c.bootstrap_servers = {"127.0.0.1:9092"};
  c.batch_size = batch_size;
  c.buffer_memory = buffer;
  c.linger = 5ms;
  c.enable_idempotence = false;
  auto v = validate(c);
  EXPECT_TRUE(v.ok()) << v.error().message();
  return v.value();
}

struct fixture {
  explicit fixture(producer_config c) : cfg(std::move(c)), pool(cfg.buffer_memory), acc(cfg, pool, [] {}) {
    acc.set_topic_metadata("t", {{0, 1}, {1, 1}}, clock::now());
  }
  result<void> send(std::int32_t partition, std::size_t size) {
    const std::string value(size, 'v');
    record r{"t", partition, std::nullopt, bytes_view(value), {}, 1000};
    detail::completion done = detail::completion::from([this](delivery_report) {
      // What the pool still counts when the first report of a batch runs.
      if (used_at_first_report < 0) used_at_first_report = pool.used();
    });
    return acc.append(r, done, true, false);
  }
  accumulator::drained drain(clock::time_point now, bool busy, bool node_ready = true) {
    const std::function<bool(std::int32_t)> node_busy = [busy](std::int32_t) { return busy; };
    return acc.drain(now, [node_ready](std::int32_t) { return node_ready; }, false, -1, -1, nullptr, &node_busy);
  }
  static std::size_t count(const accumulator::drained& d) {
    std::size_t n = 0;
    for (const auto& [node, batches] : d.by_node) n += batches.size();
    return n;
  }

  producer_config cfg;
  buffer_pool pool;
  accumulator acc;
  std::int64_t used_at_first_report = -1;
};

// Batches drained for one partition.
std::size_t drained_for(const accumulator::drained& d, std::int32_t partition) {
  std::size_t n = 0;
  for (const auto& [node, batches] : d.by_node) {
    for (const auto& b : batches) n += b->partition == partition ? 1 : 0;
  }
  return n;
}

// Fills the pool with records for partition 0 until it refuses one.
int fill(fixture& f) {
  int n = 0;
  while (f.send(0, 200).ok()) ++n;
  return n;
}

// Saturates the pool (over half used) with records for partition 0, with no
// send refused.
void saturate(fixture& f, std::size_t size = 200) {
  while (f.pool.used() < f.pool.capacity() * 3 / 4) ASSERT_TRUE(f.send(0, size).ok());
}

TEST(AccumulatorSaturation, OneDrainTakesAReadyBatchFromEveryPartition) {
  // Not saturated; two batches on partition 0, one on 1: one drain takes the
  // head of each (one batch per partition per request), the next the rest.
  fixture f(make_config(1024, 1 << 20));
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(f.send(0, 200).ok());  // > 1 KiB: two batches
  ASSERT_TRUE(f.send(1, 200).ok());
  auto first = f.drain(clock::now() + 1h, false);
  EXPECT_EQ(drained_for(first, 0), 1u);
  EXPECT_EQ(drained_for(first, 1), 1u) << "the drain stopped after the first partition";
  EXPECT_TRUE(first.more);
  auto second = f.drain(clock::now() + 1h, false);
  EXPECT_EQ(drained_for(second, 0), 1u);
}

TEST(AccumulatorSaturation, BatchesBeyondAMegabyteGoInTheNextRequest) {
  // Two ~900 KB batches for one leader: one request each (several moderate
  // requests in flight pipeline better than one large one).
  fixture f(make_config(1 << 20, 8 << 20));
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(f.send(0, 100'000).ok());
    ASSERT_TRUE(f.send(1, 100'000).ok());
  }
  auto first = f.drain(clock::now() + 1h, false);
  EXPECT_EQ(fixture::count(first), 1u);
  EXPECT_TRUE(first.more);
  auto second = f.drain(clock::now() + 1h, false);
  EXPECT_EQ(fixture::count(second), 1u);
  EXPECT_EQ(drained_for(first, 0) + drained_for(second, 0), 1u);
}

TEST(AccumulatorSaturation, ASmallBatchThatCannotGrowWaitsForMemoryInsteadOfClosing) {
  fixture f(make_config(1 << 20, 64 * 1024));
  const int n = fill(f);
  ASSERT_GT(n, 50);
  // Refused for memory, but the batch it would have grown stays open: no
  // run of one-record batches behind it.
  partition_queue* q = f.acc.queue("t", 0);
  ASSERT_NE(q, nullptr);
  std::lock_guard lk(q->mu);
  ASSERT_EQ(q->batches.size(), 1u);
  EXPECT_FALSE(q->batches.front()->full);
  EXPECT_EQ(q->batches.front()->record_count, n);
}

TEST(AccumulatorSaturation, LingerReadyBatchesWaitOnlyWhileSaturated) {
  // batch.size 8 KiB: under saturation a linger-ready batch below 2 KiB
  // waits for more records; a larger one waits only for a busy leader.
  fixture f(make_config(8 * 1024, 64 * 1024));
  ASSERT_TRUE(f.send(1, 100).ok());
  const auto after_linger = clock::now() + 6ms;
  // Not saturated: linger ended, it goes whether the leader is busy or not.
  EXPECT_EQ(drained_for(f.drain(after_linger, true), 1), 1u);

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.send(1, 1000).ok());  // 3 KB: not small
  saturate(f, 1000);  // partition 0 holds full 8 KiB batches
  ASSERT_GE(f.pool.used(), f.pool.capacity() / 2);
  {
    partition_queue* q1 = f.acc.queue("t", 1);
    std::lock_guard lk(q1->mu);
    ASSERT_EQ(q1->batches.size(), 1u);
    ASSERT_FALSE(q1->batches.front()->full);
  }
  auto busy = f.drain(after_linger, true);
  EXPECT_EQ(drained_for(busy, 1), 0u) << "waits for its busy leader";
  EXPECT_EQ(drained_for(busy, 0), 1u) << "full batches always go";
  EXPECT_LE(busy.next_ready_check, clock::now() + f.cfg.linger + accumulator::saturated_hold);
  EXPECT_EQ(drained_for(f.drain(after_linger, false), 1), 1u) << "leader idle: sent";
}

// A held queue is skipped by later drains without its lock (hold_hint);
// each way its hold ends must still make it due.
TEST(AccumulatorSaturation, AHeldSmallBatchGoesOnceItGrowsToTheHoldSize) {
  // batch.size 8 KiB: held while below 2 KiB.
  fixture f(make_config(8 * 1024, 64 * 1024));
  ASSERT_TRUE(f.send(1, 100).ok());
  saturate(f, 1000);
  const auto after_linger = clock::now() + 6ms;
  EXPECT_EQ(drained_for(f.drain(after_linger, false), 1), 0u) << "small: held";
  EXPECT_EQ(drained_for(f.drain(after_linger, false), 1), 0u) << "still small: still held";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.send(1, 500).ok());
  EXPECT_EQ(drained_for(f.drain(after_linger, false), 1), 0u) << "1.6 KB: still held";
  ASSERT_TRUE(f.send(1, 500).ok());  // past 2 KiB
  EXPECT_EQ(drained_for(f.drain(after_linger, false), 1), 1u) << "grown to the hold size: sent";
}

TEST(AccumulatorSaturation, AHeldBatchGoesOnceTheProducerIsNoLongerSaturated) {
  fixture f(make_config(8 * 1024, 64 * 1024));
  ASSERT_TRUE(f.send(1, 100).ok());
  saturate(f, 1000);
  const auto after_linger = clock::now() + 6ms;
  auto first = f.drain(after_linger, true);
  EXPECT_EQ(drained_for(first, 1), 0u) << "held";
  // Partition 0's batches are acknowledged until the pool is below half.
  std::vector<std::unique_ptr<producer_batch>> sent;
  for (auto& [node, batches] : first.by_node) {
    for (auto& b : batches) sent.push_back(std::move(b));
  }
  while (f.pool.used() >= f.pool.capacity() / 2) {
    auto d = f.drain(after_linger, true);
    ASSERT_EQ(drained_for(d, 1), 0u) << "saturated and busy: still held";
    ASSERT_GT(drained_for(d, 0), 0u) << "nothing left to free";
    for (auto& [node, batches] : d.by_node) {
      for (auto& b : batches) sent.push_back(std::move(b));
    }
    for (auto& b : sent) {
      f.acc.release_buffer(*b);
      b->completed = true;
      f.acc.batch_done(*b);
    }
    sent.clear();
  }
  EXPECT_EQ(drained_for(f.drain(after_linger, true), 1), 1u) << "not saturated: its linger ended, sent";
}

TEST(AccumulatorSaturation, AHeldBatchTheLeaderCannotTakeYetIsNotSkippedUntilTheHoldEnds) {
  fixture f(make_config(8 * 1024, 64 * 1024));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.send(1, 1000).ok());  // 3 KB: not small
  saturate(f, 1000);
  const auto after_linger = clock::now() + 6ms;
  EXPECT_EQ(drained_for(f.drain(after_linger, true), 1), 0u) << "held for its busy leader";
  EXPECT_EQ(drained_for(f.drain(after_linger, false, false), 1), 0u) << "idle, but no request may go to it yet";
  EXPECT_EQ(drained_for(f.drain(after_linger, false), 1), 1u) << "a request may go: sent";
}

TEST(AccumulatorSaturation, ABatchHeldForItsBusyLeaderIsLookedAtAgainWhenTheLeaderMoves) {
  fixture f(make_config(8 * 1024, 64 * 1024));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.send(1, 1000).ok());  // 3 KB: not small
  saturate(f, 1000);
  const auto after_linger = clock::now() + 6ms;
  // Node 1 stays busy; partition 1 moves to node 2, which is idle.
  const std::function<bool(std::int32_t)> node1_busy = [](std::int32_t id) { return id == 1; };
  auto drain = [&] {
    return f.acc.drain(after_linger, [](std::int32_t) { return true; }, false, -1, -1, nullptr, &node1_busy);
  };
  EXPECT_EQ(drained_for(drain(), 1), 0u) << "held for busy node 1";
  f.acc.set_topic_metadata("t", {{0, 1}, {1, 2}}, clock::now());
  EXPECT_EQ(drained_for(drain(), 1), 1u) << "its new leader is idle: sent";
}

TEST(AccumulatorSaturation, ASmallLingerReadyBatchWaitsEvenForAnIdleLeaderWhileSaturated) {
  fixture f(make_config(1 << 20, 64 * 1024));
  ASSERT_TRUE(f.send(1, 100).ok());
  saturate(f);
  EXPECT_EQ(drained_for(f.drain(clock::now() + 6ms, false), 1), 0u);
}

// Holding a small batch for more records only makes sense while records can
// come in: once a send is refused for memory (or a sender waits for it),
// none can, and held batches would only keep the memory that sender waits
// for until the hold ends. Measured at 600 partitions with a 16 MiB buffer:
// 1.7M -> 4.7M records/s (8 MiB: 0.5M -> 3.3M). A batch whose leader is busy
// is still held: that leader's responses free memory soon, and sending at
// once cost 100 KB records ~25% more CPU per record.
TEST(AccumulatorSaturation, ASmallBatchIsNotHeldForRecordsOnceASendWasRefusedForMemory) {
  fixture f(make_config(1 << 20, 64 * 1024));
  ASSERT_TRUE(f.send(1, 100).ok());
  fill(f);  // the last send was refused
  auto d = f.drain(clock::now() + 6ms, false);
  EXPECT_EQ(drained_for(d, 1), 1u) << "small, saturated, leader idle: sent";
  EXPECT_EQ(drained_for(d, 0), 1u);
}

TEST(AccumulatorSaturation, ABusyLeadersBatchIsHeldEvenOnceASendWasRefused) {
  fixture f(make_config(1 << 20, 64 * 1024));
  ASSERT_TRUE(f.send(1, 100).ok());
  fill(f);
  EXPECT_EQ(fixture::count(f.drain(clock::now() + 6ms, true)), 0u);
}

TEST(AccumulatorSaturation, HeldBatchesGoAtTheBoundEvenWhileTheLeaderStaysBusy) {
  fixture f(make_config(1 << 20, 64 * 1024));
  saturate(f);
  EXPECT_EQ(fixture::count(f.drain(clock::now() + 6ms, true)), 0u) << "held";
  const auto past_bound = clock::now() + f.cfg.linger + accumulator::saturated_hold + 5ms;
  EXPECT_EQ(fixture::count(f.drain(past_bound, true)), 1u);
}

TEST(AccumulatorSaturation, ARefusedSendMakesBatchesReadyBeforeTheirLingerEnds) {
  // linger.ms = 1 h: without this a full buffer would sit in open batches
  // for an hour while senders fail (or block until max.block.ms).
  auto cfg = make_config(1 << 20, 64 * 1024);
  cfg.linger = std::chrono::hours(1);
  fixture f(cfg);
  fill(f);  // the last send was refused for memory
  const auto now = clock::now();
  auto d = f.drain(now, false);
  ASSERT_EQ(fixture::count(d), 1u) << "exhausted: ready at once";
  auto& b = d.by_node.begin()->second.front();  // acknowledged: its memory comes back
  f.acc.release_buffer(*b);
  b->completed = true;
  f.acc.batch_done(*b);
  ASSERT_TRUE(f.send(1, 100).ok());
  EXPECT_EQ(fixture::count(f.drain(now, false)), 0u) << "no refusal since: linger applies again";
}

TEST(AccumulatorSaturation, FlushSendsHeldBatchesAtOnce) {
  fixture f(make_config(1 << 20, 64 * 1024));
  saturate(f);
  ASSERT_EQ(fixture::count(f.drain(clock::now(), true)), 0u) << "held";
  f.acc.begin_flush();
  EXPECT_EQ(fixture::count(f.drain(clock::now(), true)), 1u);
  f.acc.end_flush();
}

TEST(AccumulatorSaturation, ReleaseBufferGivesTheBytesBackAndBatchDoneTheRest) {
  // sender::complete calls release_buffer before the reports: a sender
  // waiting for memory proceeds at the first report, not after the last.
  fixture f(make_config(1 << 20, 64 * 1024));
  const int n = fill(f);
  const std::int64_t full = f.pool.used();
  auto d = f.drain(clock::now() + 1h, false);
  ASSERT_EQ(fixture::count(d), 1u);
  auto& b = d.by_node.begin()->second.front();
  const auto buffer_bytes = static_cast<std::int64_t>(b->sealed.capacity());
  ASSERT_GT(buffer_bytes, 0);
  f.acc.release_buffer(*b);
  EXPECT_EQ(f.pool.used(), full - buffer_bytes);
  EXPECT_EQ(b->sealed.capacity(), 0u);
  // Then the reports (the slots are still there), then batch_done.
  b->slots.for_each([](slot_header& slot) { slot_list::invoke(slot, delivery_report{}); });
  EXPECT_EQ(f.used_at_first_report, full - buffer_bytes);
  EXPECT_EQ(static_cast<int>(b->slots.size()), n);
  b->completed = true;
  f.acc.batch_done(*b);
  EXPECT_EQ(f.pool.used(), 0);
}

}  // namespace
}  // namespace kprod::producer_detail
