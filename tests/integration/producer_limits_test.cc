// The producer at its limits, end to end against librdkafka's mock cluster:
// buffer.memory exhausted, a record larger than max.request.size, close(0)
// with records in flight, flush()/close() from a completion handler. What was
// accepted is read back with kcat and python3-kafka.
#include <gtest/gtest.h>

#include <asio/use_future.hpp>
#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kprod/producer.h"
#include "support/consume_back.h"
#include "support/mock_cluster.h"

namespace kprod {
namespace {

using namespace std::chrono_literals;
using properties = std::map<std::string, std::string>;
using test::consumed_record;
using clock_type = std::chrono::steady_clock;

constexpr std::int64_t kBaseTs = 1700000000000;

// Records sent with a counting callback; what the consumers should see.
class send_log {
 public:
  // try_send when may_block is false. Returns the enqueue result; a record
  // that was refused is forgotten.
  result<void> send(producer& p, const record& r, bool may_block = true) {
    std::size_t i;
    {
      std::lock_guard lk(mu_);
      i = expected_.size();
      consumed_record e;
      if (r.key) e.key = std::string(*r.key);
      if (r.value) e.value = std::string(*r.value);
      e.timestamp_ms = r.timestamp_ms.value_or(-1);
      expected_.push_back(std::move(e));
      calls_.push_back(0);
      reports_.emplace_back();
    }
    auto cb = [this, i](delivery_report rep) {
      std::lock_guard lk(mu_);
      ++calls_[i];
      reports_[i] = std::move(rep);
    };
    result<void> res;
    if (may_block) {
      p.async_send(r, cb);
    } else {
      res = p.try_send(r, cb);
    }
    if (!res.ok()) {
      std::lock_guard lk(mu_);
      expected_.pop_back();
      calls_.pop_back();
      reports_.pop_back();
    }
    return res;
  }

  std::size_t size() {
    std::lock_guard lk(mu_);
    return expected_.size();
  }
  std::vector<int> calls() {
    std::lock_guard lk(mu_);
    return {calls_.begin(), calls_.end()};
  }
  delivery_report report(std::size_t i) {
    std::lock_guard lk(mu_);
    return reports_.at(i);
  }

  // Every record completed once, successfully; partition/offset filled in.
  ::testing::AssertionResult all_delivered_once() {
    std::lock_guard lk(mu_);
    for (std::size_t i = 0; i < expected_.size(); ++i) {
      if (calls_[i] != 1) return ::testing::AssertionFailure() << "record " << i << ": " << calls_[i] << " completions";
      if (!reports_[i].ok()) return ::testing::AssertionFailure() << "record " << i << ": " << reports_[i].error.message();
      expected_[i].partition = reports_[i].metadata.partition;
      expected_[i].offset = reports_[i].metadata.offset;
    }
    return ::testing::AssertionSuccess();
  }
  std::vector<consumed_record> expected() {
    std::lock_guard lk(mu_);
    return {expected_.begin(), expected_.end()};
  }

 private:
  std::mutex mu_;
  std::deque<consumed_record> expected_;
  std::deque<int> calls_;
  std::deque<delivery_report> reports_;
};

void expect_consumed(const std::string& bootstrap, const std::string& topic,
                     const std::vector<consumed_record>& expected) {
  auto kc = test::consume_with_kcat(bootstrap, topic, 60s);
  ASSERT_TRUE(kc.ok()) << kc.error().message();
  test::compare_options kopts;
  kopts.headers_via_kcat = true;
  EXPECT_TRUE(test::same_records(expected, *kc, kopts)) << "kcat";
  auto py = test::consume_with_python(bootstrap, topic, 60s);
  ASSERT_TRUE(py.ok()) << py.error().message();
  EXPECT_TRUE(test::same_records(expected, *py)) << "python3-kafka";
}

record make_record(std::string_view topic, const std::string& key, const std::string& value, std::int64_t ts) {
  record r;
  r.topic = topic;
  r.key = bytes_view(key);
  r.value = bytes_view(value);
  r.timestamp_ms = ts;
  return r;
}

TEST(ProducerLimits, BufferMemoryExhaustedBlocksAtMostMaxBlockThenQueueFull) {
  auto mc = test::mock_cluster::start(3, {{"full", 1}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  constexpr auto kMaxBlock = 800ms;
  auto p = producer::create(properties{{"bootstrap.servers", (*mc)->bootstrap()},
                             {"linger.ms", "0"},
                             {"buffer.memory", "131072"},
                             {"batch.size", "16384"},
                             {"max.block.ms", std::to_string(kMaxBlock.count())}});
  ASSERT_TRUE(p.ok()) << p.error().message();
  send_log log;
  const std::string value(1000, 'x');
  ASSERT_TRUE(log.send(**p, make_record("full", "warm", value, kBaseTs), false).ok());
  ASSERT_TRUE((*p)->flush(30s).ok());  // metadata and connections are up

  ASSERT_TRUE((*mc)->broker_down(-1).ok());
  int accepted = 0;
  result<void> refused;
  for (int i = 1; i <= 1000 && refused.ok(); ++i) {
    const auto t0 = clock_type::now();
    refused = log.send(**p, make_record("full", "k", value, kBaseTs + i), /*may_block=*/false);
    if (refused.ok()) {
      ++accepted;
    } else {
      EXPECT_LT(clock_type::now() - t0, 200ms) << "try_send must fail at once";
    }
  }
  ASSERT_FALSE(refused.ok()) << "1000 records of 1 KB fit into buffer.memory=128 KiB";
  EXPECT_EQ(refused.error().code(), client_errc::queue_full) << refused.error().message();
  EXPECT_GT(accepted, 10);

  const std::string blocked = "blocked";
  auto t0 = clock_type::now();
  auto s = (*p)->send(make_record("full", blocked, value, kBaseTs + 5000));
  auto waited = clock_type::now() - t0;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), client_errc::queue_full) << s.error().message();
  EXPECT_GE(waited, kMaxBlock - 50ms);
  EXPECT_LT(waited, kMaxBlock + 2s);

  t0 = clock_type::now();
  auto fut = (*p)->async_send(make_record("full", blocked, value, kBaseTs + 5001), asio::use_future);
  ASSERT_EQ(fut.wait_for(kMaxBlock + 5s), std::future_status::ready);
  auto rep = fut.get();
  waited = clock_type::now() - t0;
  EXPECT_EQ(rep.error.code(), client_errc::queue_full) << rep.error.message();
  EXPECT_GE(waited, kMaxBlock - 50ms);
  EXPECT_LT(waited, kMaxBlock + 2s);

  t0 = clock_type::now();
  auto again = (*p)->try_send(make_record("full", blocked, value, kBaseTs + 5002));
  EXPECT_LT(clock_type::now() - t0, 200ms);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), client_errc::queue_full);

  // Recovery: everything accepted is delivered, once, in order.
  ASSERT_TRUE((*mc)->broker_up(-1).ok());
  ASSERT_TRUE((*p)->flush(90s).ok());
  EXPECT_TRUE(log.all_delivered_once());
  ASSERT_TRUE((*p)->close(10s).ok());
  expect_consumed((*mc)->bootstrap(), "full", log.expected());
  EXPECT_TRUE(test::exited_cleanly((*mc)->stop()));
}

TEST(ProducerLimits, RecordLargerThanMaxRequestSizeIsRefusedAtSend) {
  auto mc = test::mock_cluster::start(3, {{"big", 2}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  auto p = producer::create(properties{{"bootstrap.servers", (*mc)->bootstrap()}, {"max.request.size", "1048576"}});
  ASSERT_TRUE(p.ok()) << p.error().message();
  send_log log;
  ASSERT_TRUE(log.send(**p, make_record("big", "before", "small", kBaseTs)).ok());

  const std::string huge(1048576, 'h');
  const record too_big = make_record("big", "huge", huge, kBaseTs + 1);
  auto s = (*p)->send(too_big);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), client_errc::record_too_large) << s.error().message();
  auto t = (*p)->try_send(too_big);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), client_errc::record_too_large);
  auto fut = (*p)->async_send(too_big, asio::use_future);
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  auto rep = fut.get();
  EXPECT_EQ(rep.error.code(), client_errc::record_too_large) << rep.error.message();
  EXPECT_EQ(rep.status, persistence::not_persisted);

  ASSERT_TRUE(log.send(**p, make_record("big", "after", std::string(1000, 'a'), kBaseTs + 2)).ok());
  ASSERT_TRUE((*p)->flush(30s).ok());
  EXPECT_TRUE(log.all_delivered_once());
  ASSERT_TRUE((*p)->close(10s).ok());
  expect_consumed((*mc)->bootstrap(), "big", log.expected());  // no trace of the huge record
  EXPECT_TRUE(test::exited_cleanly((*mc)->stop()));
}

TEST(ProducerLimits, CloseZeroWithRecordsInFlightCompletesEveryRecordOnceBeforeReturning) {
  auto mc = test::mock_cluster::start(3, {{"closing", 3}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  auto p = producer::create(properties{{"bootstrap.servers", (*mc)->bootstrap()}, {"linger.ms", "0"}});
  ASSERT_TRUE(p.ok()) << p.error().message();
  send_log log;
  ASSERT_TRUE(log.send(**p, make_record("closing", "warm", "up", kBaseTs)).ok());
  ASSERT_TRUE((*p)->flush(30s).ok());

  ASSERT_TRUE((*mc)->set_rtt(-1, 2000).ok());
  for (int i = 1; i <= 100; ++i) {
    ASSERT_TRUE(log.send(**p, make_record("closing", "k" + std::to_string(i % 6), "v" + std::to_string(i), kBaseTs + i))
                    .ok());
  }
  const auto t0 = clock_type::now();
  ASSERT_TRUE((*p)->close(0ms).ok());
  EXPECT_LT(clock_type::now() - t0, 1500ms) << "close(0) must not wait for the 2 s round trip";

  auto calls = log.calls();
  int closed = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    ASSERT_EQ(calls[i], 1) << "record " << i << " when close(0) returned";
    auto rep = log.report(i);
    if (!rep.ok()) {
      EXPECT_EQ(rep.error.code(), client_errc::producer_closed) << "record " << i << ": " << rep.error.message();
      ++closed;
    }
  }
  EXPECT_GT(closed, 0) << "every record was acknowledged despite the 2 s round trip: close(0) was not exercised";
  // Late broker answers (the 2 s round trip) must not complete anything again.
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(log.calls(), calls) << "a completion ran after close() returned";
  ASSERT_TRUE((*mc)->set_rtt(-1, 0).ok());

  // Acknowledged records are in the log; failed ones may be (in flight), but
  // nothing appears twice or out of nowhere.
  std::map<std::string, std::size_t> by_value;
  auto expected = log.expected();
  for (std::size_t i = 0; i < expected.size(); ++i) by_value[*expected[i].value] = i;
  for (int pass = 0; pass < 2; ++pass) {
    auto got = pass == 0 ? test::consume_with_kcat((*mc)->bootstrap(), "closing", 60s)
                         : test::consume_with_python((*mc)->bootstrap(), "closing", 60s);
    ASSERT_TRUE(got.ok()) << got.error().message();
    std::set<std::string> seen;
    for (const auto& c : *got) {
      ASSERT_TRUE(c.value.has_value());
      auto it = by_value.find(*c.value);
      ASSERT_NE(it, by_value.end()) << "unexpected record " << test::describe(c);
      EXPECT_TRUE(seen.insert(*c.value).second) << "duplicate " << test::describe(c);
      EXPECT_EQ(c.key, expected[it->second].key);
      EXPECT_EQ(c.timestamp_ms, expected[it->second].timestamp_ms);
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto rep = log.report(i);
      if (rep.ok()) {
        EXPECT_TRUE(seen.count(*expected[i].value)) << "acknowledged record " << i << " missing (pass " << pass << ")";
      }
    }
  }
  EXPECT_TRUE(test::exited_cleanly((*mc)->stop()));
}

TEST(ProducerLimits, FlushAndCloseFromACompletionHandlerReportWouldDeadlock) {
  auto mc = test::mock_cluster::start(3, {{"reentrant", 2}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  auto p = producer::create(properties{{"bootstrap.servers", (*mc)->bootstrap()}, {"linger.ms", "0"}});
  ASSERT_TRUE(p.ok()) << p.error().message();
  producer* raw = p->get();
  std::promise<std::pair<result<void>, result<void>>> inside;
  const std::string key = "k";
  const std::string value = "v";
  raw->async_send(make_record("reentrant", key, value, kBaseTs), [&](delivery_report rep) {
    EXPECT_TRUE(rep.ok()) << rep.error.message();
    auto f = raw->flush(1s);
    auto c = raw->close(1s);
    inside.set_value({f, c});
  });
  auto fut = inside.get_future();
  ASSERT_EQ(fut.wait_for(30s), std::future_status::ready);
  auto [f, c] = fut.get();
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), client_errc::would_deadlock);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), client_errc::would_deadlock);

  // The producer is unharmed: still open, still delivering.
  send_log log;
  ASSERT_TRUE(log.send(*raw, make_record("reentrant", key, "after", kBaseTs + 1)).ok());
  ASSERT_TRUE(raw->flush(30s).ok());
  EXPECT_TRUE(log.all_delivered_once());
  ASSERT_TRUE(raw->close(10s).ok());
  auto expected = log.expected();
  consumed_record first;
  first.key = key;
  first.value = value;
  first.timestamp_ms = kBaseTs;
  first.partition = expected[0].partition;  // same key, same partition
  expected.insert(expected.begin(), first);
  expect_consumed((*mc)->bootstrap(), "reentrant", expected);
  EXPECT_TRUE(test::exited_cleanly((*mc)->stop()));
}

TEST(ProducerLimits, InvalidRecordsFailFastAndHarmNothingElse) {
  auto mc = test::mock_cluster::start(3, {{"valid", 3}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  auto p = producer::create(properties{{"bootstrap.servers", (*mc)->bootstrap()}, {"linger.ms", "0"}});
  ASSERT_TRUE(p.ok()) << p.error().message();
  send_log log;
  ASSERT_TRUE(log.send(**p, make_record("valid", "a", "first", kBaseTs)).ok());
  ASSERT_TRUE((*p)->flush(30s).ok());  // metadata for "valid" is known: 3 partitions

  record beyond = make_record("valid", "b", "beyond", kBaseTs + 1);
  beyond.partition = 99;
  auto fut = (*p)->async_send(beyond, asio::use_future);
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready) << "a partition beyond the topic's count must fail fast";
  auto rep = fut.get();
  EXPECT_FALSE(rep.ok());
  EXPECT_EQ(rep.status, persistence::not_persisted);

  record negative = make_record("valid", "c", "negative", kBaseTs + 2);
  negative.partition = -2;
  auto neg = (*p)->send(negative);
  ASSERT_FALSE(neg.ok());
  EXPECT_EQ(neg.error().code(), client_errc::invalid_argument) << neg.error().message();

  auto no_topic = (*p)->send(make_record("", "d", "no topic", kBaseTs + 3));
  ASSERT_FALSE(no_topic.ok());
  EXPECT_EQ(no_topic.error().code(), client_errc::invalid_argument) << no_topic.error().message();

  ASSERT_TRUE(log.send(**p, make_record("valid", "a", "last", kBaseTs + 4)).ok());
  ASSERT_TRUE((*p)->flush(30s).ok());
  EXPECT_TRUE(log.all_delivered_once());
  ASSERT_TRUE((*p)->close(10s).ok());
  expect_consumed((*mc)->bootstrap(), "valid", log.expected());
  EXPECT_TRUE(test::exited_cleanly((*mc)->stop()));
}

}  // namespace
}  // namespace kprod
