// The partition memory gate (partition_queue::memory_waiter): sending
// threads that need buffer.memory for the same partition wait behind the
// one that reserves it, holding nothing, instead of each reserving a batch.
#include "producer/accumulator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace kprod::producer_detail {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t buffer_bytes = 64 * 1024;
constexpr std::size_t value_bytes = 1000;

struct gate_fixture {
  explicit gate_fixture(std::chrono::milliseconds max_block)
      : cfg(config(max_block)), pool(cfg.buffer_memory), acc(cfg, pool, [] {}) {
    acc.set_topic_metadata("t", {{0, 1}}, clock::now());
  }
  static producer_config config(std::chrono::milliseconds max_block) {
    producer_config c;
    c.bootstrap_servers = {"127.0.0.1:9092"};
    c.batch_size = 16384;
    c.buffer_memory = buffer_bytes;
    c.max_block = max_block;
    return validate(c).value();
  }
  result<void> send(bool may_block) {
    record r{"t", 0, std::nullopt, bytes_view(value), {}, 1000};
    detail::completion none;
    return acc.append(r, none, false, may_block);
  }
  // Fills buffer.memory with non-blocking sends; returns how many got in.
  int fill() {
    int n = 0;
    while (send(false).ok()) ++n;
    return n;
  }
  int followers() {
    partition_queue* q = acc.queue("t", 0);
    std::lock_guard lk(q->mu);
    return q->memory_followers;
  }
  bool waiter() {
    partition_queue* q = acc.queue("t", 0);
    std::lock_guard lk(q->mu);
    return q->memory_waiter;
  }
  // Sends every queued batch and completes it (frees its memory); returns
  // the records in them.
  int complete_queued() {
    int records = 0;
    for (;;) {
      auto d = acc.drain(clock::now() + 1h, [](std::int32_t) { return true; }, true, 7, 0);
      if (d.by_node.empty()) return records;
      for (auto& [node, batches] : d.by_node) {
        for (auto& b : batches) {
          records += b->record_count;
          acc.release_buffer(*b);
          acc.batch_done(*b);
        }
      }
    }
  }

  const std::string value = std::string(value_bytes, 'v');
  producer_config cfg;
  buffer_pool pool;
  accumulator acc;
};

// Until `done` holds or 10 s pass; whether it held.
template <typename F>
bool eventually(F done) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(AccumulatorMemoryGate, SendsNeedingMemoryForOnePartitionWaitBehindOneReservation) {
  gate_fixture f(60s);
  const int queued = f.fill();
  ASSERT_GT(queued, 10);
  constexpr int senders = 4;
  std::atomic<int> returned{0};
  std::vector<result<void>> results(senders);
  std::vector<std::thread> threads;
  for (int i = 0; i < senders; ++i) {
    threads.emplace_back([&, i] {
      results[static_cast<std::size_t>(i)] = f.send(true);
      ++returned;
    });
  }
  const bool settled = eventually([&] { return f.pool.waiters() >= 1 && f.followers() == senders - 1; });
  EXPECT_TRUE(settled) << "waiting for memory: " << f.pool.waiters() << ", behind it: " << f.followers();
  EXPECT_EQ(f.pool.waiters(), 1u) << "one reservation waits for the pool; each waited there before";
  EXPECT_EQ(returned.load(), 0);

  // Freed memory lets them in, one batch at a time.
  int records = 0;
  EXPECT_TRUE(eventually([&] {
    records += f.complete_queued();
    return returned.load() == senders;
  }));
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.error().message();
  // complete_queued() drained the senders' batches only once they were all
  // in; what is left is drained here.
  records += f.complete_queued();
  EXPECT_EQ(records, queued + senders) << "every record in exactly one batch";
  EXPECT_FALSE(f.waiter());
  EXPECT_EQ(f.followers(), 0);
  EXPECT_EQ(f.pool.used(), 0) << "every reservation went into a batch, and back";
}

TEST(AccumulatorMemoryGate, ThreadsWaitingBehindTheReservationGiveUpAtMaxBlock) {
  gate_fixture f(200ms);
  const int queued = f.fill();
  const std::int64_t used = f.pool.used();
  constexpr int senders = 3;
  std::vector<result<void>> results(senders);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < senders; ++i) {
    threads.emplace_back([&, i] { results[static_cast<std::size_t>(i)] = f.send(true); });
  }
  for (auto& t : threads) t.join();
  const auto took = std::chrono::steady_clock::now() - start;
  for (const auto& r : results) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), client_errc::queue_full) << r.error().message();
  }
  EXPECT_GE(took, 200ms) << "none gave up before max.block.ms";
  EXPECT_LT(took, 5s);
  EXPECT_FALSE(f.waiter()) << "the gate is free again";
  EXPECT_EQ(f.followers(), 0);
  EXPECT_EQ(f.pool.used(), used) << "nothing held by the sends that failed";
  // And a send gets in once memory is back.
  EXPECT_EQ(f.complete_queued(), queued);
  EXPECT_TRUE(f.send(true).ok());
}

}  // namespace
}  // namespace kprod::producer_detail
