// Proves the fault proxy and its sequence auditor with an independent
// client: librdkafka's idempotent producer, bootstrapped at the proxy, which
// rewrites Metadata so that every connection goes through it. One kprod test
// shows the other route, kprod.broker.address.override.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/use_future.hpp>
#include <gtest/gtest.h>

#include "kprod/producer.h"
#include "support/consume_back.h"
#include "support/fault_proxy.h"
#include "support/mock_cluster.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// librdkafka idempotent producer; counts delivery results.
class idempotent_producer {
 public:
  explicit idempotent_producer(const std::string& bootstrap, std::map<std::string, std::string> extra = {}) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    std::map<std::string, std::string> props = {{"bootstrap.servers", bootstrap},
                                                {"enable.idempotence", "true"},
                                                {"linger.ms", "5"},
                                                {"message.timeout.ms", "30000"},
                                                {"request.timeout.ms", "5000"},
                                                {"retry.backoff.ms", "50"},
                                                {"reconnect.backoff.ms", "20"},
                                                {"reconnect.backoff.max.ms", "200"}};
    for (auto& [k, v] : extra) props[k] = v;
    if (const char* d = std::getenv("KP_TEST_RDKAFKA_DEBUG")) props["debug"] = d;
    for (const auto& [k, v] : props) {
      EXPECT_EQ(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr), RD_KAFKA_CONF_OK)
          << k << ": " << errstr;
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &idempotent_producer::on_delivery);
    rd_kafka_conf_set_throttle_cb(conf, [](rd_kafka_t*, const char*, int32_t, int ms, void* opaque) {
      auto* self = static_cast<idempotent_producer*>(opaque);
      self->max_throttle_ms_ = std::max(self->max_throttle_ms_, ms);
    });
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    EXPECT_NE(rk_, nullptr) << errstr;
  }
  ~idempotent_producer() {
    if (rk_ != nullptr) {
      rd_kafka_flush(rk_, 10000);
      rd_kafka_destroy(rk_);
    }
  }
  idempotent_producer(const idempotent_producer&) = delete;
  idempotent_producer& operator=(const idempotent_producer&) = delete;

  void produce(const std::string& topic, std::int32_t partition, const std::string& key, const std::string& value) {
    rd_kafka_resp_err_t err;
    do {
      err = rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key.data(), key.size()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(rk_, 10);  // wait for room
    } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
    ++sent_;
  }

  // Largest throttle time reported by librdkafka's throttle callback.
  int max_throttle_ms() const { return max_throttle_ms_; }

  // The failures so far (count, first error); forgotten afterwards.
  std::pair<std::uint64_t, std::string> take_failures() {
    auto f = std::make_pair(failed_, first_error_);
    sent_ -= failed_;
    failed_ = 0;
    first_error_.clear();
    return f;
  }

  // Flushes; success iff every record produced so far was delivered.
  ::testing::AssertionResult flush_all_delivered(std::chrono::milliseconds timeout = 30s) {
    const rd_kafka_resp_err_t f = rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
    if (f != RD_KAFKA_RESP_ERR_NO_ERROR) return ::testing::AssertionFailure() << "flush: " << rd_kafka_err2str(f);
    if (failed_ != 0)
      return ::testing::AssertionFailure() << failed_ << " of " << sent_ << " failed, first: " << first_error_;
    if (delivered_ != sent_) return ::testing::AssertionFailure() << delivered_ << " of " << sent_ << " delivered";
    return ::testing::AssertionSuccess();
  }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<idempotent_producer*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++self->delivered_;
    } else {
      if (self->failed_++ == 0) self->first_error_ = rd_kafka_err2str(m->err);
    }
  }

  rd_kafka_t* rk_ = nullptr;
  int max_throttle_ms_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t failed_ = 0;
  std::string first_error_;
};

struct proxied_cluster {
  std::unique_ptr<mock_cluster> mock;
  std::unique_ptr<fault_proxy> proxy;
};

proxied_cluster start(const std::string& topic, int partitions, bool rewrite_metadata = true) {
  proxied_cluster pc;
  auto mc = mock_cluster::start(3, {{topic, partitions}});
  EXPECT_TRUE(mc.ok()) << (mc.ok() ? "" : mc.error().message());
  if (!mc.ok()) return pc;
  pc.mock = std::move(*mc);
  fault_proxy_options o;
  o.rewrite_metadata = rewrite_metadata;
  auto px = fault_proxy::start(pc.mock->bootstrap(), o);
  EXPECT_TRUE(px.ok()) << (px.ok() ? "" : px.error().message());
  if (px.ok()) pc.proxy = std::move(*px);
  return pc;
}

std::string value_of(int i) { return "value-" + std::to_string(i); }

// Produces n records to partition 0 through the proxy and checks delivery.
::testing::AssertionResult produce_some(idempotent_producer& p, const std::string& topic, int from, int n) {
  for (int i = from; i < from + n; ++i) p.produce(topic, 0, "k", value_of(i));
  return p.flush_all_delivered();
}

TEST(fault_proxy, clean_pass_through_10k_idempotent_records) {
  auto pc = start("clean", 3);
  ASSERT_TRUE(pc.proxy);
  std::vector<consumed_record> expected;
  {
    idempotent_producer p(pc.proxy->bootstrap());
    for (int i = 0; i < 10000; ++i) {
      const std::int32_t part = i % 3;
      p.produce("clean", part, "k" + std::to_string(i), value_of(i));
      consumed_record r;
      r.partition = part;
      r.key = "k" + std::to_string(i);
      r.value = value_of(i);
      expected.push_back(r);
    }
    ASSERT_TRUE(p.flush_all_delivered());
  }
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
  const auditor_stats st = pc.proxy->auditor().stats();
  EXPECT_EQ(st.records, 10000u) << "every record went through the proxy exactly once";
  EXPECT_EQ(st.resends, 0u);
  EXPECT_GE(st.batches, 3u) << "at least one batch per partition";  // librdkafka may batch all of a partition at once
  EXPECT_GT(pc.proxy->counters(api_key::produce).requests, 0u);
  EXPECT_GE(pc.proxy->counters(api_key::metadata).responses, 1u);
  EXPECT_GE(pc.proxy->stats().rewritten_metadata, 1u);
  EXPECT_EQ(pc.proxy->stats().unmatched_responses, 0u);
  auto back = consume_with_kcat(pc.mock->bootstrap(), "clean", 30s);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(same_records(expected, *back));
  pc.proxy->stop();
  EXPECT_TRUE(exited_cleanly(pc.mock->stop()));
}

TEST(fault_proxy, produce_error_rewrite_makes_librdkafka_retry) {
  auto pc = start("rewrite", 1);
  ASSERT_TRUE(pc.proxy);
  idempotent_producer p(pc.proxy->bootstrap());
  ASSERT_TRUE(produce_some(p, "rewrite", 0, 1));  // warm up: PID and connections
  const auto before = pc.proxy->counters(api_key::produce).requests;
  auto id = pc.proxy->add_rule(fault_rule::on_response(api_key::produce, fault::rewrite_produce(6 /* NOT_LEADER */)));
  ASSERT_TRUE(produce_some(p, "rewrite", 1, 5));
  EXPECT_EQ(pc.proxy->rule_hits(id), 1u);
  EXPECT_GE(pc.proxy->counters(api_key::produce).requests, before + 2) << "retried";
  EXPECT_GE(pc.proxy->auditor().stats().resends, 1u) << "the retry resent the same sequence";
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
}

TEST(fault_proxy, silent_broker_triggers_request_timeout) {
  auto pc = start("silent", 1);
  ASSERT_TRUE(pc.proxy);
  idempotent_producer p(pc.proxy->bootstrap(), {{"request.timeout.ms", "1000"}, {"socket.timeout.ms", "1000"}});
  ASSERT_TRUE(produce_some(p, "silent", 0, 1));
  auto id = pc.proxy->add_rule(fault_rule::on_request(api_key::produce, fault::go_silent()));
  const auto t0 = clock_type::now();
  ASSERT_TRUE(produce_some(p, "silent", 1, 3));
  EXPECT_GE(clock_type::now() - t0, 900ms) << "delivered only after the request timed out";
  EXPECT_EQ(pc.proxy->rule_hits(id), 1u);
  EXPECT_GE(pc.proxy->stats().accepted, 2u) << "librdkafka reconnected";
  EXPECT_GE(pc.proxy->auditor().stats().resends, 1u);
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
}

// Each of these closes the connection; librdkafka reconnects and delivers.
TEST(fault_proxy, connection_killing_rules_take_effect) {
  auto pc = start("kill", 1);
  ASSERT_TRUE(pc.proxy);
  idempotent_producer p(pc.proxy->bootstrap());
  ASSERT_TRUE(produce_some(p, "kill", 0, 1));
  const std::vector<std::pair<const char*, fault_rule>> rules = {
      {"drop_before_forward", fault_rule::on_request(api_key::produce, fault::drop_before_forward())},
      {"close_after_forward", fault_rule::on_request(api_key::produce, fault::close_after_forward())},
      {"drop_and_close", fault_rule::on_response(api_key::produce, fault::drop_and_close())},
      {"truncate", fault_rule::on_response(api_key::produce, fault::truncate(5))},
  };
  int next = 1;
  for (const auto& [name, rule] : rules) {
    SCOPED_TRACE(name);
    const auto accepted = pc.proxy->stats().accepted;
    auto id = pc.proxy->add_rule(rule);
    EXPECT_TRUE(produce_some(p, "kill", next, 3));
    next += 3;
    EXPECT_EQ(pc.proxy->rule_hits(id), 1u);
    EXPECT_GT(pc.proxy->stats().accepted, accepted) << "the client had to reconnect";
  }
  // librdkafka closes the connection on an impossible response size and
  // fails the records in flight with _BAD_MSG (no retry); the next records
  // go through a new connection.
  for (std::int32_t bogus : {0x7FFFFFFF, -1}) {
    SCOPED_TRACE(bogus);
    const auto accepted = pc.proxy->stats().accepted;
    auto id = pc.proxy->add_rule(fault_rule::on_response(api_key::produce, fault::bogus_length(bogus)));
    EXPECT_FALSE(produce_some(p, "kill", next, 3));
    next += 3;
    auto [failed, first] = p.take_failures();
    EXPECT_EQ(failed, 3u);
    EXPECT_NE(first.find("Bad message format"), std::string::npos) << first;
    EXPECT_EQ(pc.proxy->rule_hits(id), 1u);
    EXPECT_TRUE(produce_some(p, "kill", next, 3));
    next += 3;
    EXPECT_GT(pc.proxy->stats().accepted, accepted) << "the client had to reconnect";
  }
  EXPECT_GE(pc.proxy->stats().closed_by_fault, 4u);
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
}

TEST(fault_proxy, delay_slow_delivery_duplicate_and_throttle) {
  auto pc = start("slow", 1);
  ASSERT_TRUE(pc.proxy);
  idempotent_producer p(pc.proxy->bootstrap());
  ASSERT_TRUE(produce_some(p, "slow", 0, 1));

  auto delay = pc.proxy->add_rule(fault_rule::on_response(api_key::produce, fault::delay(600ms)));
  auto t0 = clock_type::now();
  ASSERT_TRUE(produce_some(p, "slow", 1, 2));
  EXPECT_GE(clock_type::now() - t0, 600ms);
  EXPECT_EQ(pc.proxy->rule_hits(delay), 1u);

  const auto accepted = pc.proxy->stats().accepted;
  auto slow = pc.proxy->add_rule(fault_rule::on_response(api_key::produce, fault::byte_at_a_time(5ms)));
  t0 = clock_type::now();
  ASSERT_TRUE(produce_some(p, "slow", 3, 2));
  EXPECT_GE(clock_type::now() - t0, 100ms) << "a Produce v7 response is > 20 bytes at 5 ms each";
  EXPECT_EQ(pc.proxy->rule_hits(slow), 1u);

  // A duplicated response has an unknown correlation id the second time:
  // librdkafka drops it and carries on.
  auto dup = pc.proxy->add_rule(fault_rule::on_response(api_key::produce, fault::duplicate()));
  ASSERT_TRUE(produce_some(p, "slow", 5, 2));
  EXPECT_EQ(pc.proxy->rule_hits(dup), 1u);
  EXPECT_EQ(pc.proxy->stats().accepted, accepted) << "none of these needed a reconnect";

  // KIP-219 throttle: librdkafka reports it through its throttle callback.
  EXPECT_EQ(p.max_throttle_ms(), 0);
  auto thr = pc.proxy->add_rule(fault_rule::on_response(api_key::produce, fault::rewrite_produce(std::nullopt, 1000)));
  ASSERT_TRUE(produce_some(p, "slow", 7, 1));
  EXPECT_EQ(pc.proxy->rule_hits(thr), 1u);
  EXPECT_EQ(p.max_throttle_ms(), 1000);
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
}

TEST(fault_proxy, flipped_correlation_id_makes_librdkafka_time_out_and_retry) {
  auto pc = start("flip", 1);
  ASSERT_TRUE(pc.proxy);
  idempotent_producer p(pc.proxy->bootstrap(), {{"request.timeout.ms", "1000"}, {"socket.timeout.ms", "1000"}});
  ASSERT_TRUE(produce_some(p, "flip", 0, 1));
  auto id = pc.proxy->add_rule(fault_rule::on_response(api_key::produce, fault::flip_byte(0, 0x40)));
  const auto t0 = clock_type::now();
  ASSERT_TRUE(produce_some(p, "flip", 1, 2));
  EXPECT_GE(clock_type::now() - t0, 900ms);
  EXPECT_EQ(pc.proxy->rule_hits(id), 1u);
  EXPECT_GE(pc.proxy->auditor().stats().resends, 1u);
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
}

TEST(fault_proxy, refused_connections_delay_delivery) {
  auto pc = start("refuse", 1);
  ASSERT_TRUE(pc.proxy);
  idempotent_producer p(pc.proxy->bootstrap());
  ASSERT_TRUE(produce_some(p, "refuse", 0, 1));
  pc.proxy->refuse_connections(800ms);
  pc.proxy->close_all_connections();
  const auto t0 = clock_type::now();
  ASSERT_TRUE(produce_some(p, "refuse", 1, 3));
  EXPECT_GE(clock_type::now() - t0, 700ms);
  EXPECT_GE(pc.proxy->stats().refused, 1u);
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
}

TEST(fault_proxy, nth_occurrence_predicate_and_probability) {
  auto pc = start("match", 1);
  ASSERT_TRUE(pc.proxy);
  idempotent_producer p(pc.proxy->bootstrap(), {{"max.in.flight.requests.per.connection", "1"}});
  ASSERT_TRUE(produce_some(p, "match", 0, 1));
  fault_rule third = fault_rule::on_response(api_key::produce, fault::delay(1ms));
  third.nth = 3;
  auto id3 = pc.proxy->add_rule(third);
  fault_rule never = fault_rule::on_request(api_key::produce, fault::drop_before_forward());
  never.predicate = [](const frame_view& f) { return f.payload.size() > 100'000'000; };
  auto idn = pc.proxy->add_rule(never);
  fault_rule zero = fault_rule::on_request(api_key::produce, fault::drop_before_forward());
  zero.probability = 0.0;
  zero.times = -1;
  auto idz = pc.proxy->add_rule(zero);
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(produce_some(p, "match", i, 1));
  EXPECT_EQ(pc.proxy->rule_hits(id3), 1u);
  EXPECT_EQ(pc.proxy->rule_hits(idn), 0u);
  EXPECT_EQ(pc.proxy->rule_hits(idz), 0u);
  EXPECT_TRUE(pc.proxy->remove_rule(idz));
  EXPECT_FALSE(pc.proxy->remove_rule(id3)) << "retired after one use";
}

TEST(fault_proxy, chaos_kills_connections_without_sequence_violations) {
  auto pc = start("chaos", 3);
  ASSERT_TRUE(pc.proxy);
  chaos_options chaos;
  chaos.cut_request_probability = 0.05;
  pc.proxy->set_chaos(chaos);
  {
    idempotent_producer p(pc.proxy->bootstrap(), {{"message.timeout.ms", "40000"}});
    const auto until = clock_type::now() + 4s;
    int i = 0;
    while (clock_type::now() < until) {
      for (int k = 0; k < 50; ++k, ++i) p.produce("chaos", i % 3, "k", value_of(i));
      std::this_thread::sleep_for(20ms);  // pacing, so that traffic spans several connection lifetimes
    }
    EXPECT_TRUE(p.flush_all_delivered(40s));
  }
  pc.proxy->set_chaos(std::nullopt);
  EXPECT_GE(pc.proxy->stats().closed_by_fault, 3u);
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
  EXPECT_GT(pc.proxy->auditor().stats().resends, 0u);
}

// kprod's own route: bootstrap and advertised addresses mapped by
// kprod.broker.address.override, no Metadata rewrite.
TEST(fault_proxy, kprod_through_the_address_override) {
  auto pc = start("kp", 3, /*rewrite_metadata=*/false);
  ASSERT_TRUE(pc.proxy);
  auto prod = producer::create({{"bootstrap.servers", pc.proxy->bootstrap()},
                                {"kprod.broker.address.override", pc.proxy->override_config()},
                                {"linger.ms", "5"}});
  ASSERT_TRUE(prod.ok()) << prod.error().message();
  auto id = pc.proxy->add_rule(fault_rule::on_response(api_key::produce, fault::rewrite_produce(6)));
  std::vector<std::future<delivery_report>> futures;
  for (int i = 0; i < 300; ++i) {
    const std::string v = value_of(i);
    record r{"kp", i % 3, std::nullopt, bytes_view(v), {}, std::nullopt};
    futures.push_back((*prod)->async_send(r, asio::use_future));
  }
  for (auto& f : futures) {
    auto rep = f.get();
    EXPECT_TRUE(rep.ok()) << rep.error.message();
  }
  EXPECT_TRUE((*prod)->close().ok());
  EXPECT_EQ(pc.proxy->rule_hits(id), 1u);
  EXPECT_EQ(pc.proxy->stats().rewritten_metadata, 0u);
  EXPECT_GE(pc.proxy->stats().accepted, 3u) << "all brokers reached through the proxy";
  EXPECT_EQ(pc.proxy->auditor().stats().records, 300u);
  EXPECT_TRUE(pc.proxy->auditor().no_violations());
}

}  // namespace
}  // namespace kprod::test
