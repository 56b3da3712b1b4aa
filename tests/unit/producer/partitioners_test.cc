#include "producer/partitioners.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "codec/murmur2.h"
#include "kprod/partitioner.h"

namespace kprod::producer_detail {
namespace {

using std::chrono::milliseconds;

const std::uint8_t* bytes(std::string_view s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }
std::int32_t len(std::string_view s) { return static_cast<std::int32_t>(s.size()); }

std::vector<std::int32_t> iota(std::int32_t n) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

partitioner_settings settings(partitioner_kind kind = partitioner_kind::builtin,
                              std::int32_t batch = 16384) {
  partitioner_settings s;
  s.kind = kind;
  s.sticky_batch_size = batch;
  return s;
}

// Forces a fresh sticky choice and returns it.
std::int32_t switch_and_pick(sticky_partitioner& sp, const topic_view& view, std::int32_t batch) {
  const std::int32_t p = sp.next_partition(view);
  sp.on_append(p, static_cast<std::size_t>(batch));
  EXPECT_EQ(sp.current(), -1);
  return p;
}

// ---- keyed ----------------------------------------------------------------------------

TEST(TopicPartitioner, KeyedRecordsUseMurmur2OverAllPartitions) {
  topic_partitioner tp("t", settings(), 42);
  const auto all = iota(12);
  // Only partition 0 has a leader: keys still hash over all 12 (Java does too).
  const std::int32_t only0[] = {0};
  const topic_view view{12, only0, {}, {}};
  for (int i = 0; i < 50; ++i) {
    const std::string key = "key-" + std::to_string(i);
    auto r = tp.partition(bytes(key), len(key), nullptr, -1, -1, view);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->sticky);
    EXPECT_EQ(r->partition, codec::partition_for_key({bytes(key), key.size()}, 12)) << key;
  }
  EXPECT_EQ(tp.sticky().current(), -1);  // the keyed path never touched the sticky state
}

// The send path's shortcut (keyed_partition) must agree with partition()
// wherever it answers, and decline (-1) wherever another rule decides.
TEST(TopicPartitioner, KeyedShortcutAgreesWithPartitionOrDeclines) {
  struct custom_first : kprod::partitioner {
    std::int32_t partition(std::string_view, const std::uint8_t*, std::int32_t, const std::uint8_t*, std::int32_t,
                           std::int32_t) override {
      return 0;
    }
  };
  partitioner_settings ignoring = settings();
  ignoring.ignore_keys = true;
  partitioner_settings custom = settings();
  custom.custom = std::make_shared<custom_first>();
  const auto all = iota(7);
  const topic_view view{7, all, {}, {}};
  const std::string key = "key-17";
  const std::uint8_t* k = bytes(key);
  topic_partitioner builtin("t", settings(), 1);
  EXPECT_EQ(builtin.keyed_partition(k, len(key), 7), builtin.partition(k, len(key), nullptr, -1, -1, view)->partition);
  EXPECT_EQ(builtin.keyed_partition(nullptr, 0, 7), builtin.partition(nullptr, 0, nullptr, -1, -1, view)->partition)
      << "an empty key is hashed";
  EXPECT_EQ(builtin.keyed_partition(nullptr, -1, 7), -1) << "null key: sticky decides";
  EXPECT_EQ(builtin.keyed_partition(k, len(key), 0), -1) << "no partitions: partition() reports the error";
  for (const partitioner_settings& other : {ignoring, custom, settings(partitioner_kind::round_robin),
                                            settings(partitioner_kind::uniform_sticky)}) {
    topic_partitioner tp("t", other, 1);
    EXPECT_EQ(tp.keyed_partition(k, len(key), 7), -1);
  }
}

TEST(TopicPartitioner, EmptyKeyIsHashedNotSticky) {
  topic_partitioner tp("t", settings(), 42);
  const auto all = iota(7);
  auto r = tp.partition(bytes(""), 0, nullptr, -1, -1, topic_view{7, all, {}, {}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->sticky);
  EXPECT_EQ(r->partition, 2);  // librdkafka murmur2_random agrees (see the table below)
}

// (key, partition count, partition) computed by kprod; librdkafka 2.0.2's
// rd_kafka_msg_partitioner_murmur2_random gave the same 22 answers in a
// hand-run check (and Java's default partitioner uses the same formula).
struct key_case {
  const char* key;
  std::int32_t partitions;
  std::int32_t expected;
};
constexpr key_case cross_check[] = {
    {"", 7, 2},           {"a", 3, 1},           {"ab", 6, 2},
    {"abc", 12, 3},       {"abcd", 16, 4},       {"21", 10, 0},
    {"foobar", 32, 30},   {"key-0", 6, 1},       {"key-1", 6, 0},
    {"key-2", 6, 2},      {"key-3", 6, 5},       {"key-42", 100, 27},
    {"user-12345", 1000, 595},                   {"tenant/acme", 64, 37},
    {"tenant/globex", 64, 21},                   {"order:2024-01-01:0001", 24, 16},
    {"a-little-bit-long-string", 9, 2},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 50, 27},
    {"\xff\xfe\x80\x01", 5, 4},                  {"kprod", 2, 0},
    {"partition-me", 1, 0},                      {"0123456789abcdef", 13, 10},
};

TEST(TopicPartitioner, KeyMappingCrossCheckTable) {
  for (const auto& c : cross_check) {
    const std::string_view key(c.key);
    EXPECT_EQ(default_partition_for_key(bytes(key), len(key), c.partitions), c.expected) << key;
    topic_partitioner tp("t", settings(), 1);
    const auto all = iota(c.partitions);
    auto r = tp.partition(bytes(key), len(key), nullptr, -1, -1, topic_view{c.partitions, all, {}, {}});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->partition, c.expected) << key;
  }
}

TEST(TopicPartitioner, IgnoreKeysMakesKeyedRecordsSticky) {
  auto s = settings();
  s.ignore_keys = true;
  topic_partitioner tp("t", s, 7);
  const auto all = iota(8);
  const topic_view view{8, all, {}, {}};
  auto first = tp.partition(bytes("a"), 1, nullptr, -1, -1, view);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->sticky);
  for (const char* key : {"b", "c", "d", "e"}) {
    auto r = tp.partition(bytes(key), 1, nullptr, -1, -1, view);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->partition, first->partition);
  }
}

TEST(TopicPartitioner, UniformStickyIgnoresKeys) {
  topic_partitioner tp("t", settings(partitioner_kind::uniform_sticky), 7);
  const auto all = iota(8);
  auto a = tp.partition(bytes("a"), 1, nullptr, -1, -1, topic_view{8, all, {}, {}});
  auto b = tp.partition(bytes("zzz"), 3, nullptr, -1, -1, topic_view{8, all, {}, {}});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->sticky);
  EXPECT_EQ(a->partition, b->partition);
}

TEST(TopicPartitioner, ExplicitPartitionPassesThrough) {
  int calls = 0;
  auto s = settings();
  s.custom = make_partitioner([&](auto, auto, auto, auto, auto, std::int32_t) { return ++calls, 0; });
  topic_partitioner tp("t", s, 1);
  const auto all = iota(3);
  auto r = tp.partition(bytes("k"), 1, nullptr, -1, 9, topic_view{3, all, {}, {}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->partition, 9);  // range is the caller's check
  EXPECT_FALSE(r->sticky);
  EXPECT_EQ(calls, 0);
}

TEST(TopicPartitioner, NoPartitionsIsAnError) {
  topic_partitioner tp("orders", settings(), 1);
  auto r = tp.partition(nullptr, -1, nullptr, -1, -1, topic_view{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), client_errc::invalid_argument);
  EXPECT_THAT(r.error().detail(), ::testing::HasSubstr("orders"));
}

// ---- sticky -----------------------------------------------------------------------------

TEST(StickyPartitioner, SticksUntilBatchSizeBytesThenSwitches) {
  sticky_partitioner sp(100, false, milliseconds(0), 5);
  const auto all = iota(10);
  const topic_view view{10, all, {}, {}};
  const std::int32_t p = sp.next_partition(view);
  EXPECT_EQ(sp.current(), p);
  sp.on_append(p, 40);
  EXPECT_EQ(sp.next_partition(view), p);
  sp.on_append(p, 59);  // 99 < 100
  EXPECT_EQ(sp.next_partition(view), p);
  sp.on_append(p, 1);  // 100: switch
  EXPECT_EQ(sp.current(), -1);
  const std::int32_t q = sp.next_partition(view);
  EXPECT_EQ(sp.current(), q);
  EXPECT_GE(q, 0);
  EXPECT_LT(q, 10);
}

TEST(StickyPartitioner, SwitchWaitsForFullBatchUpToTwiceTheBudget) {
  sticky_partitioner sp(100, false, milliseconds(0), 5);
  const auto all = iota(4);
  const topic_view view{4, all, {}, {}};
  const std::int32_t p = sp.next_partition(view);
  sp.on_append(p, 150, /*enable_switch=*/false);
  EXPECT_EQ(sp.current(), p);  // over budget but the batch is not full yet
  sp.on_append(p, 49, false);
  EXPECT_EQ(sp.current(), p);
  sp.on_append(p, 1, false);  // 200 = 2 x batch.size: switch regardless
  EXPECT_EQ(sp.current(), -1);
}

TEST(StickyPartitioner, AppendsToAnotherPartitionAreNotCounted) {
  sticky_partitioner sp(100, false, milliseconds(0), 5);
  const auto all = iota(4);
  const std::int32_t p = sp.next_partition(topic_view{4, all, {}, {}});
  sp.on_append((p + 1) % 4, 1000);
  EXPECT_EQ(sp.current(), p);
}

TEST(StickyPartitioner, UniformOverManySwitches) {
  sticky_partitioner sp(1, false, milliseconds(0), 1234);
  const auto all = iota(8);
  const topic_view view{8, all, {}, {}};
  std::map<std::int32_t, int> counts;
  constexpr int switches = 80000;
  for (int i = 0; i < switches; ++i) ++counts[switch_and_pick(sp, view, 1)];
  ASSERT_EQ(counts.size(), 8u);
  for (const auto& [partition, n] : counts) {
    EXPECT_NEAR(n, switches / 8, switches / 8 * 0.05) << "partition " << partition;
  }
}

TEST(StickyPartitioner, OnlyAvailablePartitionsAreChosen) {
  sticky_partitioner sp(1, true, milliseconds(0), 99);
  const std::int32_t available[] = {0, 2, 4};
  std::set<std::int32_t> seen;
  for (int i = 0; i < 3000; ++i) seen.insert(switch_and_pick(sp, topic_view{6, available, {}, {}}, 1));
  EXPECT_EQ(seen, (std::set<std::int32_t>{0, 2, 4}));
}

TEST(StickyPartitioner, WithoutAnyLeaderAnyPartitionMayBeChosen) {
  sticky_partitioner sp(1, true, milliseconds(0), 99);
  std::set<std::int32_t> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(switch_and_pick(sp, topic_view{5, {}, {}, {}}, 1));
  EXPECT_EQ(seen, (std::set<std::int32_t>{0, 1, 2, 3, 4}));
}

TEST(StickyPartitioner, AdaptivePrefersShortQueues) {
  sticky_partitioner sp(1, true, milliseconds(0), 2024);
  const std::int32_t available[] = {3, 5, 7, 9};
  const std::int32_t queues[] = {0, 9, 9, 4};
  // Java's weights: max + 1 - size = 10, 1, 1, 6 out of 18.
  std::map<std::int32_t, int> counts;
  constexpr int switches = 36000;
  for (int i = 0; i < switches; ++i)
    ++counts[switch_and_pick(sp, topic_view{10, available, queues, {}}, 1)];
  EXPECT_NEAR(counts[3], switches * 10 / 18, switches * 0.015);
  EXPECT_NEAR(counts[5], switches * 1 / 18, switches * 0.015);
  EXPECT_NEAR(counts[7], switches * 1 / 18, switches * 0.015);
  EXPECT_NEAR(counts[9], switches * 6 / 18, switches * 0.015);
  EXPECT_EQ(counts.size(), 4u);
}

TEST(StickyPartitioner, AdaptiveOffOrEqualQueuesIsUniform) {
  const std::int32_t available[] = {0, 1};
  const std::int32_t skewed[] = {0, 20};
  const std::int32_t equal[] = {4, 4};
  sticky_partitioner off(1, false, milliseconds(0), 77);
  sticky_partitioner on(1, true, milliseconds(0), 77);
  int off_zero = 0, equal_zero = 0;
  constexpr int switches = 20000;
  for (int i = 0; i < switches; ++i) {
    off_zero += switch_and_pick(off, topic_view{2, available, skewed, {}}, 1) == 0;
    equal_zero += switch_and_pick(on, topic_view{2, available, equal, {}}, 1) == 0;
  }
  EXPECT_NEAR(off_zero, switches / 2, switches * 0.02);
  EXPECT_NEAR(equal_zero, switches / 2, switches * 0.02);
}

TEST(StickyPartitioner, StalledLeadersAreAvoidedPastTheAvailabilityTimeout) {
  const std::int32_t available[] = {0, 1, 2};
  const std::int32_t queues[] = {1, 1, 1};
  const std::int64_t stalled[] = {0, 5000, 1000};
  sticky_partitioner sp(1, true, milliseconds(1000), 3);
  std::set<std::int32_t> seen;
  for (int i = 0; i < 3000; ++i)
    seen.insert(switch_and_pick(sp, topic_view{3, available, queues, stalled}, 1));
  EXPECT_EQ(seen, (std::set<std::int32_t>{0, 2}));  // 1000 is not > 1000

  // Timeout 0 turns the check off.
  sticky_partitioner off(1, true, milliseconds(0), 3);
  std::set<std::int32_t> all_seen;
  for (int i = 0; i < 3000; ++i)
    all_seen.insert(switch_and_pick(off, topic_view{3, available, queues, stalled}, 1));
  EXPECT_EQ(all_seen, (std::set<std::int32_t>{0, 1, 2}));
}

TEST(StickyPartitioner, AllLeadersStalledFallsBackToUniform) {
  const std::int32_t available[] = {0, 1};
  const std::int32_t queues[] = {0, 0};
  const std::int64_t stalled[] = {9000, 9000};
  sticky_partitioner sp(1, true, milliseconds(10), 3);
  std::set<std::int32_t> seen;
  for (int i = 0; i < 500; ++i)
    seen.insert(switch_and_pick(sp, topic_view{2, available, queues, stalled}, 1));
  EXPECT_EQ(seen, (std::set<std::int32_t>{0, 1}));
}

TEST(StickyPartitioner, SameSeedSameSequence) {
  sticky_partitioner a(1, false, milliseconds(0), 555);
  sticky_partitioner b(1, false, milliseconds(0), 555);
  const auto all = iota(16);
  const topic_view view{16, all, {}, {}};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(switch_and_pick(a, view, 1), switch_and_pick(b, view, 1));
}

TEST(StickyPartitioner, ConcurrentUseStaysConsistent) {
  sticky_partitioner sp(1000, true, milliseconds(0), 8);
  const std::int32_t available[] = {1, 2, 3, 5, 8};
  const topic_view view{9, available, {}, {}};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        const std::int32_t p = sp.next_partition(view);
        if (std::find(std::begin(available), std::end(available), p) == std::end(available)) ++bad;
        sp.on_append(p, 10);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  const std::int32_t last = sp.current();
  EXPECT_TRUE(last == -1 || std::find(std::begin(available), std::end(available), last) !=
                                std::end(available));
}

// ---- round robin --------------------------------------------------------------------------

TEST(RoundRobin, CyclesOverAvailablePartitionsIgnoringKeys) {
  topic_partitioner tp("t", settings(partitioner_kind::round_robin), 1);
  const std::int32_t available[] = {1, 3, 5};
  std::vector<std::int32_t> got;
  for (int i = 0; i < 7; ++i) {
    auto r = tp.partition(bytes("same-key"), 8, nullptr, -1, -1, topic_view{6, available, {}, {}});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->sticky);
    got.push_back(r->partition);
  }
  EXPECT_EQ(got, (std::vector<std::int32_t>{1, 3, 5, 1, 3, 5, 1}));
}

TEST(RoundRobin, WithoutLeadersCyclesOverAllPartitions) {
  round_robin_partitioner rr;
  std::vector<std::int32_t> got;
  for (int i = 0; i < 5; ++i) got.push_back(rr.next_partition(topic_view{3, {}, {}, {}}));
  EXPECT_EQ(got, (std::vector<std::int32_t>{0, 1, 2, 0, 1}));
}

// ---- custom -------------------------------------------------------------------------------

TEST(CustomPartitioner, CalledWithTopicKeyValueAndCount) {
  struct call {
    std::string topic, key, value;
    std::int32_t key_len, value_len, n;
    bool key_null, value_null;
  };
  std::vector<call> calls;
  auto s = settings();
  s.custom = make_partitioner([&](std::string_view topic, const std::uint8_t* k, std::int32_t kl,
                                  const std::uint8_t* v, std::int32_t vl, std::int32_t n) {
    calls.push_back({std::string(topic), k ? std::string(reinterpret_cast<const char*>(k), kl) : "",
                     v ? std::string(reinterpret_cast<const char*>(v), vl) : "", kl, vl, n,
                     k == nullptr, v == nullptr});
    return n - 1;
  });
  topic_partitioner tp("tenants", s, 1);
  const auto all = iota(4);
  auto r = tp.partition(bytes("acme"), 4, bytes("payload"), 7, -1, topic_view{4, all, {}, {}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->partition, 3);
  EXPECT_FALSE(r->sticky);
  auto r2 = tp.partition(bytes("ignored"), -1, bytes("x"), -1, -1, topic_view{4, all, {}, {}});
  ASSERT_TRUE(r2.ok());
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].topic, "tenants");
  EXPECT_EQ(calls[0].key, "acme");
  EXPECT_EQ(calls[0].key_len, 4);
  EXPECT_EQ(calls[0].value, "payload");
  EXPECT_EQ(calls[0].value_len, 7);
  EXPECT_EQ(calls[0].n, 4);
  EXPECT_TRUE(calls[1].key_null);  // length -1: null, whatever pointer was passed
  EXPECT_TRUE(calls[1].value_null);
  EXPECT_EQ(calls[1].key_len, -1);
}

TEST(CustomPartitioner, OutOfRangeResultFailsTheRecord) {
  for (std::int32_t bad : {-1, 4, 100}) {
    auto s = settings();
    s.custom = make_partitioner([bad](auto, auto, auto, auto, auto, std::int32_t) { return bad; });
    topic_partitioner tp("t", s, 1);
    const auto all = iota(4);
    auto r = tp.partition(nullptr, -1, nullptr, -1, -1, topic_view{4, all, {}, {}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), client_errc::invalid_argument);
    EXPECT_THAT(r.error().detail(), ::testing::HasSubstr("partition " + std::to_string(bad)));
  }
}

TEST(CustomPartitioner, ExceptionBecomesAnError) {
  auto s = settings();
  s.custom = make_partitioner([](auto, auto, auto, auto, auto, std::int32_t) -> std::int32_t {
    throw std::runtime_error("tenant unknown");
  });
  topic_partitioner tp("t", s, 1);
  const auto all = iota(2);
  auto r = tp.partition(nullptr, -1, nullptr, -1, -1, topic_view{2, all, {}, {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), client_errc::invalid_argument);
  EXPECT_THAT(r.error().detail(), ::testing::HasSubstr("tenant unknown"));
}

TEST(CustomPartitioner, EmptyFunctionMeansBuiltIn) {
  EXPECT_EQ(make_partitioner(partition_function{}), nullptr);
  EXPECT_EQ(default_partition_for_key(nullptr, -1, 3), -1);
  EXPECT_EQ(default_partition_for_key(bytes("abc"), 3, 0), -1);
}

TEST(PartitionerSettings, FromEffectiveConfig) {
  producer_config c;
  c.batch_size = 0;
  c.partitioner_ignore_keys = true;
  c.partitioner_adaptive = false;
  c.partitioner_availability_timeout = milliseconds(250);
  c.partitioner_choice = partitioner_kind::round_robin;
  const auto s = partitioner_settings::from(c);
  EXPECT_EQ(s.sticky_batch_size, 1);
  EXPECT_TRUE(s.ignore_keys);
  EXPECT_FALSE(s.adaptive);
  EXPECT_EQ(s.availability_timeout, milliseconds(250));
  EXPECT_EQ(s.kind, partitioner_kind::round_robin);
}

}  // namespace
}  // namespace kprod::producer_detail
