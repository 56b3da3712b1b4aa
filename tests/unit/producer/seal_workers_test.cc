// Parallel sealing (seal_workers.h): full batches are compressed off the
// I/O thread, each exactly once, without reordering a partition and without
// the I/O thread ever waiting for a busy sealer. The test thread plays the
// I/O thread (it drains).
#include "producer/accumulator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "protocol/record_batch_reader.h"

namespace kprod::producer_detail {
namespace {

using namespace std::chrono_literals;

producer_config make_config(compression_type type, int threads, std::int32_t batch_size = 1024) {
  producer_config c;
  c.bootstrap_servers = {"127.0.0.1:9092"};
  c.batch_size = batch_size;
  c.buffer_memory = 8 << 20;
  c.linger = 1h;  // only full batches are ready (until a flush)
  c.enable_idempotence = false;
  c.compression = type;
  c.compression_threads = threads;
  auto v = validate(c);
  EXPECT_TRUE(v.ok()) << v.error().message();
  return v.value();
}

struct fixture {
  explicit fixture(producer_config c) : cfg(std::move(c)), pool(cfg.buffer_memory), acc(cfg, pool, [this] { ++wakeups; }) {
    std::vector<std::pair<std::int32_t, std::int32_t>> parts;
    for (int i = 0; i < 3; ++i) parts.emplace_back(i, 1);
    acc.set_topic_metadata("t", parts, clock::now());
  }
  result<void> send(std::int32_t partition, std::string value) {
    record r{"t", partition, std::nullopt, bytes_view(value), {}, 1000};
    detail::completion done;
    return acc.append(r, done, false, true);
  }
  std::vector<std::unique_ptr<producer_batch>> drain() {
    auto d = acc.drain(clock::now(), [](std::int32_t) { return true; }, false, -1, -1);
    std::vector<std::unique_ptr<producer_batch>> out;
    for (auto& [node, batches] : d.by_node) {
      for (auto& b : batches) out.push_back(std::move(b));
    }
    return out;
  }
  std::vector<std::string> values(const producer_batch& b) {
    std::vector<std::string> out;
    auto view = protocol::parse_batch(b.sealed);  // verifies the CRC
    EXPECT_TRUE(view.ok()) << view.error().message();
    if (!view.ok()) return out;
    EXPECT_EQ(view->header.compression(), cfg.compression);
    auto recs = protocol::read_records(*view);
    EXPECT_TRUE(recs.ok()) << recs.error().message();
    if (!recs.ok()) return out;
    for (auto& r : *recs) out.emplace_back(r.value->begin(), r.value->end());
    return out;
  }

  producer_config cfg;
  buffer_pool pool;
  std::atomic<int> wakeups{0};
  accumulator acc;
};

std::string value_of(int thread, int seq) {
  return std::to_string(thread) + ":" + std::to_string(seq) + ":" + std::string(40 + seq % 50, 'a' + thread);
}

// Blocks the first batch a non-drain thread seals until released.
struct gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;
  void hold() {
    std::unique_lock lk(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lk, [&] { return open; });
  }
  void wait_entered() {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 10s, [&] { return entered; }));
  }
  void release() {
    std::lock_guard lk(mu);
    open = true;
    cv.notify_all();
  }
};

class ParallelSeal : public ::testing::TestWithParam<std::tuple<compression_type, int>> {};

TEST_P(ParallelSeal, ManyAppendersEveryBatchSealedOnceDecodableAndInOrder) {
  const auto [type, threads] = GetParam();
  fixture f(make_config(type, threads));
  const auto drainer = std::this_thread::get_id();
  std::atomic<int> seals{0}, off_drainer{0};
  f.acc.sealers().set_before_seal_for_test([&](producer_batch&) {
    ++seals;
    if (std::this_thread::get_id() != drainer) ++off_drainer;
  });
  constexpr int appenders = 4, per_thread = 3000;
  std::atomic<int> running{appenders};
  std::vector<std::thread> ts;
  for (int t = 0; t < appenders; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) EXPECT_TRUE(f.send((t + i / 7) % 3, value_of(t, i)).ok());
      --running;
    });
  }
  std::map<std::int32_t, std::vector<std::string>> got;  // per partition, in drain order
  int batches = 0;
  auto take = [&] {
    for (auto& b : f.drain()) {
      EXPECT_TRUE(b->is_sealed());
      for (auto& v : f.values(*b)) got[b->partition].push_back(std::move(v));
      ++batches;
      f.acc.batch_done(*b);
    }
  };
  while (running.load() > 0) take();
  for (auto& t : ts) t.join();
  f.acc.begin_flush();  // the rest, lingering or still being sealed
  const auto deadline = clock::now() + 10s;
  while (f.acc.queued_units() > 0 && clock::now() < deadline) take();
  f.acc.end_flush();
  EXPECT_EQ(f.acc.queued_units(), 0);
  EXPECT_EQ(seals.load(), batches) << "every batch is sealed exactly once";
  EXPECT_GT(off_drainer.load(), 0) << "nothing sealed off the I/O thread";
  // Per partition, each appender's records arrive in its send order.
  int total = 0;
  for (auto& [p, vals] : got) {
    std::map<int, int> last;
    for (auto& v : vals) {
      const int t = std::stoi(v.substr(0, v.find(':')));
      const int seq = std::stoi(v.substr(v.find(':') + 1));
      auto it = last.find(t);
      if (it != last.end()) {
        EXPECT_LT(it->second, seq) << "partition " << p << " thread " << t;
      }
      last[t] = seq;
      ++total;
    }
  }
  EXPECT_EQ(total, appenders * per_thread);
  EXPECT_EQ(f.pool.used(), 0) << "buffer.memory accounting";
}

INSTANTIATE_TEST_SUITE_P(Codecs, ParallelSeal,
                         ::testing::Combine(::testing::Values(compression_type::none, compression_type::lz4, compression_type::zstd),
                                            ::testing::Values(0, 2)));

TEST(SealWorkers, DrainSkipsABatchBeingSealedAndTheSealerWakesIt) {
  fixture f(make_config(compression_type::zstd, 1));
  const auto drainer = std::this_thread::get_id();
  gate g;
  f.acc.sealers().set_before_seal_for_test([&](producer_batch&) {
    if (std::this_thread::get_id() != drainer) g.hold();
  });
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(f.send(0, value_of(0, i)).ok());  // > 1 KiB: a full batch
  g.wait_entered();
  const int wakeups_before = f.wakeups.load();
  const auto t0 = clock::now();
  EXPECT_TRUE(f.drain().empty()) << "a batch being sealed is not sent (nor sealed again)";
  EXPECT_TRUE(f.acc.take_expired_batches(clock::now() + 10h, false).empty()) << "nor expired under the sealer";
  EXPECT_LT(clock::now() - t0, 1s) << "the I/O thread does not wait for the sealer";
  g.release();
  for (auto until = clock::now() + 10s; f.wakeups.load() == wakeups_before && clock::now() < until;) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GT(f.wakeups.load(), wakeups_before) << "the sealer wakes the I/O thread";
  auto out = f.drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(f.values(*out[0]).front(), value_of(0, 0));
  f.acc.batch_done(*out[0]);
}

TEST(SealWorkers, TheIoThreadStealsAJobNoWorkerStarted) {
  fixture f(make_config(compression_type::lz4, 1));
  const auto drainer = std::this_thread::get_id();
  gate g;
  std::atomic<int> by_drainer{0};
  f.acc.sealers().set_before_seal_for_test([&](producer_batch&) {
    if (std::this_thread::get_id() != drainer) g.hold();
    else ++by_drainer;
  });
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(f.send(0, value_of(0, i)).ok());
  g.wait_entered();  // the only worker is busy with partition 0's batch
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(f.send(1, value_of(1, i)).ok());
  auto out = f.drain();
  ASSERT_EQ(out.size(), 1u) << "partition 1's queued batch is sealed by the I/O thread, 0's is skipped";
  EXPECT_EQ(out[0]->partition, 1);
  EXPECT_EQ(by_drainer.load(), 1);
  EXPECT_EQ(f.values(*out[0]).front(), value_of(1, 0));
  f.acc.batch_done(*out[0]);
  g.release();
}

TEST(SealWorkers, ShutdownWaitsForABatchBeingSealedBeforeTakingIt) {
  fixture f(make_config(compression_type::zstd, 0));  // the appending thread seals
  const auto drainer = std::this_thread::get_id();
  gate g;
  f.acc.sealers().set_before_seal_for_test([&](producer_batch&) {
    if (std::this_thread::get_id() != drainer) g.hold();
  });
  std::thread appender([&] {
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(f.send(2, value_of(2, i)).ok());
  });
  g.wait_entered();
  auto taken = std::async(std::launch::async, [&] { return f.acc.take_expired_batches(clock::now(), true); });
  EXPECT_EQ(taken.wait_for(50ms), std::future_status::timeout) << "taken while being sealed";
  g.release();
  appender.join();
  auto batches = taken.get();
  ASSERT_GE(batches.size(), 1u);
  EXPECT_TRUE(batches[0]->is_sealed());
  EXPECT_EQ(f.values(*batches[0]).front(), value_of(2, 0));
  for (auto& b : batches) f.acc.batch_done(*b);
  f.acc.stop_sealing();
}

TEST(SealWorkers, ThreadCountIsAnInternalPropertyWithARange) {
  auto ok = producer_config_from_properties(
      {{"bootstrap.servers", "a:1"}, {"compression.type", "zstd"}, {"kprod.compression.threads", "3"}});
  ASSERT_TRUE(ok.ok()) << ok.error().detail();
  EXPECT_EQ(ok->compression_threads, 3);
  EXPECT_EQ(producer_config{}.compression_threads, -1) << "default: min(hardware threads, 4)";
  EXPECT_FALSE(producer_config_from_properties({{"bootstrap.servers", "a:1"}, {"kprod.compression.threads", "-2"}}).ok());
  fixture f(make_config(compression_type::lz4, 3));
  EXPECT_EQ(f.acc.sealers().threads(), 3);
  fixture none(make_config(compression_type::none, 3));
  EXPECT_EQ(none.acc.sealers().threads(), 0) << "no seal threads without compression";
  EXPECT_TRUE(none.acc.sealers().offloads()) << "the appending thread computes the CRC";
}

TEST(SealWorkers, WithoutCompressionTheAppendingThreadSealsTheBatchItFilled) {
  fixture f(make_config(compression_type::none, -1));
  const int before = f.wakeups.load();
  // 1 KiB batches: the 30th record does not fit and closes the first batch.
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(f.send(0, value_of(0, i)).ok());
  partition_queue* q = f.acc.queue("t", 0);
  ASSERT_NE(q, nullptr);
  {
    std::lock_guard lk(q->mu);
    ASSERT_GE(q->batches.size(), 2u);
    EXPECT_TRUE(q->batches.front()->full);
    EXPECT_TRUE(q->batches.front()->is_sealed()) << "sealed by the thread that filled it, before any drain";
    EXPECT_FALSE(q->batches.back()->is_sealed());
  }
  EXPECT_GT(f.wakeups.load(), before) << "the sealer wakes the I/O thread";
  auto out = f.drain();
  ASSERT_EQ(out.size(), 1u);
  const auto vals = f.values(*out[0]);  // CRC verified
  ASSERT_FALSE(vals.empty());
  EXPECT_EQ(vals.front(), value_of(0, 0));
}

// seal_claimed(b, wake = false) - the appender saw a batch of the partition
// in flight, whose response will wake the I/O thread - wakes it anyway when
// a drain skipped `b` while it was being sealed (reclaim marks it watched),
// and only then.
TEST(SealWorkers, AnUnwatchedSealWithAResponseDueDoesNotWakeAWatchedOneDoes) {
  std::atomic<int> wakes{0};
  seal_workers sealers(compression_type::none, 0, 0, [&] { ++wakes; });
  auto batch = [] {
    auto b = std::make_unique<producer_batch>();
    b->builder.start(1000);
    const std::string v = "value";
    b->builder.append(1000, nullptr, -1, reinterpret_cast<const std::uint8_t*>(v.data()),
                      static_cast<std::int32_t>(v.size()), {});
    b->record_count = 1;
    b->full = true;
    return b;
  };
  auto quiet = batch();
  ASSERT_TRUE(sealers.hand_off(*quiet));  // no threads: the caller seals
  sealers.seal_claimed(*quiet, false);
  EXPECT_TRUE(quiet->is_sealed());
  EXPECT_EQ(wakes.load(), 0);

  auto watched = batch();
  ASSERT_TRUE(sealers.hand_off(*watched));
  EXPECT_FALSE(sealers.reclaim(*watched)) << "being sealed: the drain skips it";
  EXPECT_FALSE(sealers.reclaim(*watched)) << "still (marking it twice is harmless)";
  sealers.seal_claimed(*watched, false);
  EXPECT_EQ(wakes.load(), 1) << "the drain skipped it: woken";
  EXPECT_TRUE(sealers.reclaim(*watched)) << "sealed: the next drain takes it";

  auto plain = batch();
  ASSERT_TRUE(sealers.hand_off(*plain));
  sealers.seal_claimed(*plain, true);
  EXPECT_EQ(wakes.load(), 2) << "nothing in flight: always woken";
}

}  // namespace
}  // namespace kprod::producer_detail
