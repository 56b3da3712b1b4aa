// Proves the integration harness itself: the out-of-process mock cluster and
// its fault commands, and the two consume-back paths, using librdkafka's own
// producer as the reference writer (test-only; kprod never links librdkafka).
#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/consume_back.h"
#include "support/mock_cluster.h"

namespace kprod::test {
namespace {

using namespace std::chrono_literals;

constexpr auto consume_timeout = 30s;

mock_cluster_options cluster_options(int brokers, std::vector<std::pair<std::string, int>> topics = {}) {
  mock_cluster_options o;
  o.brokers = brokers;
  o.topics = std::move(topics);
  return o;
}

std::unique_ptr<mock_cluster> start_cluster(mock_cluster_options opts) {
  auto mc = mock_cluster::start(std::move(opts));
  EXPECT_TRUE(mc.ok()) << (mc.ok() ? "" : mc.error().message());
  return mc.ok() ? std::move(*mc) : nullptr;
}

// librdkafka producer used as an independent reference writer.
class rdkafka_producer {
 public:
  explicit rdkafka_producer(const std::string& bootstrap) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const char* k, const char* v) {
      EXPECT_EQ(rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr), RD_KAFKA_CONF_OK) << k << ": " << errstr;
    };
    set("bootstrap.servers", bootstrap.c_str());
    set("max.in.flight.requests.per.connection", "1");  // keep send order without idempotence
    set("message.timeout.ms", "30000");
    set("linger.ms", "5");
    if (const char* d = std::getenv("KP_TEST_RDKAFKA_DEBUG")) set("debug", d);
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &rdkafka_producer::on_delivery);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    EXPECT_NE(rk_, nullptr) << errstr;
  }
  ~rdkafka_producer() {
    if (rk_ != nullptr) {
      rd_kafka_flush(rk_, 10000);
      rd_kafka_destroy(rk_);
    }
  }
  rdkafka_producer(const rdkafka_producer&) = delete;
  rdkafka_producer& operator=(const rdkafka_producer&) = delete;

  rd_kafka_t* handle() const { return rk_; }

  // Sends r (partition, key, value, headers, timestamp if not -1). Returns
  // the index under which its delivery report is stored.
  size_t produce(const std::string& topic, const consumed_record& r) {
    const size_t index = reports_.size();
    reports_.push_back({RD_KAFKA_RESP_ERR__IN_PROGRESS, -1});
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(r.headers.size());
    for (const auto& [name, value] : r.headers) {
      rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()),
                          value ? value->data() : nullptr, value ? value->size() : 0);
    }
    // librdkafka's V_ macros do not parenthesise their arguments.
    const char* key = r.key ? r.key->data() : nullptr;
    const size_t key_len = r.key ? r.key->size() : 0;
    char* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
    const size_t value_len = r.value ? r.value->size() : 0;
    const std::int64_t ts = r.timestamp_ms == -1 ? 0 : r.timestamp_ms;
    void* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(index));
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(value, value_len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(hdrs);  // ownership passes only on success
      reports_[index].err = err;
    }
    return index;
  }

  // Flushes and checks that every record was delivered.
  ::testing::AssertionResult flush_all_delivered() {
    rd_kafka_resp_err_t f = rd_kafka_flush(rk_, 30000);
    if (f != RD_KAFKA_RESP_ERR_NO_ERROR) return ::testing::AssertionFailure() << "flush: " << rd_kafka_err2str(f);
    for (size_t i = 0; i < reports_.size(); ++i) {
      if (reports_[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return ::testing::AssertionFailure() << "record " << i << ": " << rd_kafka_err2str(reports_[i].err);
      }
    }
    return ::testing::AssertionSuccess();
  }

  std::int64_t offset_of(size_t index) const { return reports_.at(index).offset; }

 private:
  struct report {
    rd_kafka_resp_err_t err;
    std::int64_t offset;
  };
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<rdkafka_producer*>(opaque);
    auto& rep = self->reports_.at(static_cast<size_t>(reinterpret_cast<std::uintptr_t>(m->_private)));
    rep.err = m->err;
    rep.offset = m->offset;
  }

  rd_kafka_t* rk_ = nullptr;
  std::vector<report> reports_;
};

// Leader broker id per partition, and broker id -> port, from a fresh
// Metadata request.
struct metadata_view {
  std::map<std::int32_t, std::int32_t> leaders;
  std::map<std::int32_t, int> broker_ports;
};

metadata_view fetch_metadata(rd_kafka_t* rk, const std::string& topic) {
  metadata_view v;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < md->broker_cnt; ++i) v.broker_ports[md->brokers[i].id] = md->brokers[i].port;
    for (int t = 0; t < md->topic_cnt; ++t) {
      for (int p = 0; p < md->topics[t].partition_cnt; ++p) {
        v.leaders[md->topics[t].partitions[p].id] = md->topics[t].partitions[p].leader;
      }
    }
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(rkt);
  return v;
}

bool can_connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// Edge cases every consumer must return exactly as sent.
std::vector<consumed_record> edge_case_records() {
  const std::int64_t ts = 1'700'000'000'000;
  std::string reversed = all_bytes();
  std::reverse(reversed.begin(), reversed.end());
  std::vector<consumed_record> v;
  v.push_back({0, -1, std::nullopt, "value with null key", {}, ts + 1});
  v.push_back({0, -1, std::string(), "value with empty key", {}, ts + 2});
  v.push_back({0, -1, "key with null value", std::nullopt, {}, ts + 3});
  v.push_back({0, -1, "key with empty value", std::string(), {}, ts + 4});
  v.push_back({0, -1, std::nullopt, std::nullopt, {}, ts + 5});
  v.push_back({0, -1, std::string(), std::string(), {}, ts + 6});
  v.push_back({1, -1, all_bytes(), reversed, {}, ts + 7});
  v.push_back({1, -1, "headers", "v",
               {{"a", "1"}, {"null-value", std::nullopt}, {"empty-value", std::string()},
                {"a", "repeated name"}, {"binary", all_bytes()}, {"comma,equals=", "x,y=z"}},
               ts + 8});
  v.push_back({1, -1, "one header", "v", {{"h", "NULL"}}, 0});
  for (int i = 0; i < 20; ++i) {
    v.push_back({2, -1, "k" + std::to_string(i), "ordered " + std::to_string(i), {}, ts + 100 - i});
  }
  return v;
}

TEST(mock_cluster_host, starts_answers_and_exits_cleanly) {
  auto mc = start_cluster(cluster_options(4));
  ASSERT_NE(mc, nullptr);
  EXPECT_EQ(std::count(mc->bootstrap().begin(), mc->bootstrap().end(), ','), 3) << mc->bootstrap();
  EXPECT_TRUE(mc->ping().ok());
  EXPECT_TRUE(mc->alive());
  EXPECT_TRUE(exited_cleanly(mc->stop()));
  EXPECT_FALSE(mc->alive());
  // Commands after stop fail instead of hanging.
  EXPECT_FALSE(mc->ping().ok());
}

TEST(mock_cluster_host, missing_host_binary_is_an_error) {
  mock_cluster_options o;
  o.host_path = "/nonexistent/kprod_mock_cluster";
  auto mc = mock_cluster::start(o);
  EXPECT_FALSE(mc.ok());
}

TEST(mock_cluster_host, spreads_leaders_over_brokers) {
  auto mc = start_cluster(cluster_options(3, {{"spread", 6}}));
  ASSERT_NE(mc, nullptr);
  {
    rdkafka_producer producer(mc->bootstrap());
    auto md = fetch_metadata(producer.handle(), "spread");
    ASSERT_EQ(md.leaders.size(), 6u);
    for (const auto& [p, leader] : md.leaders) EXPECT_EQ(leader, p % 3 + 1) << "partition " << p;
  }
  EXPECT_TRUE(exited_cleanly(mc->stop()));
}

TEST(mock_cluster_host, survives_malformed_commands) {
  auto mc = start_cluster(cluster_options(2));
  ASSERT_NE(mc, nullptr);
  const std::vector<std::string> bad = {"", "   ", "nonsense", "leader", "leader t 0 3", "leader t x 1", "down 0", "down 3",
                       "up abc", "rtt 1", "rtt 1 -5", "err", "err 0", "err 0 NOT_AN_ERROR", "err -1 6",
                       "err 99999 6", "broker_err 1 0 6", "broker_err 1 0 6:x", "broker_err 9 0 6:0",
                       "error_stack_cnt 5 0", "wait_errors_consumed 1 0", "topic_create t 0",
                       "topic_create t 999999999", "topic_create t 1 9", "coordinator transaction tx 3",
                       "coordinator transaction tx 0", "coordinator banana tx 1", "apiversion 0 x 7",
                       "topic_err t", "clear_errors", std::string(10000, 'x')};
  for (const std::string& line : bad) {
    std::string reply;
    EXPECT_FALSE(mc->command(line, &reply)) << "'" << line << "' got: " << reply;
    EXPECT_EQ(reply.rfind("ERR", 0), 0u) << reply;
  }
  // Valid error codes by name and by number, then the host still answers.
  EXPECT_TRUE(mc->command("err 0 NOT_LEADER_FOR_PARTITION 6 _TRANSPORT", nullptr));
  EXPECT_TRUE(mc->clear_errors(api_key::produce).ok());
  EXPECT_TRUE(mc->ping().ok());
  EXPECT_TRUE(exited_cleanly(mc->stop()));
}

TEST(mock_cluster_host, crash_is_reported_not_hidden) {
  auto mc = start_cluster(cluster_options(1));
  ASSERT_NE(mc, nullptr);
  ASSERT_EQ(::kill(mc->pid(), SIGABRT), 0);
  auto r = mc->command("ping");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), make_error_code(client_errc::connection_lost)) << r.error().message();
  const exit_status& st = mc->stop();
  EXPECT_FALSE(exited_cleanly(st));
  EXPECT_EQ(st.signal, SIGABRT) << st.describe();
}

TEST(mock_cluster_host, fault_commands_take_effect) {
  auto mc = start_cluster(cluster_options(3, {{"faults", 3}}));
  ASSERT_NE(mc, nullptr);
  {  // the producer goes before the cluster, so teardown is quiet
    rdkafka_producer producer(mc->bootstrap());
    auto md = fetch_metadata(producer.handle(), "faults");
    ASSERT_EQ(md.broker_ports.size(), 3u);
    ASSERT_EQ(md.leaders.at(0), 1);

    // down/up: connects to broker 2 are refused while it is down.
    const int port2 = md.broker_ports.at(2);
    EXPECT_TRUE(can_connect(port2));
    ASSERT_TRUE(mc->broker_down(2).ok());
    EXPECT_FALSE(can_connect(port2));
    ASSERT_TRUE(mc->broker_up(2).ok());
    EXPECT_TRUE(can_connect(port2));

    // Leader moves show up in Metadata, including leaderless.
    ASSERT_TRUE(mc->set_leader("faults", 0, 3).ok());
    ASSERT_TRUE(mc->set_leader("faults", 1, -1).ok());
    md = fetch_metadata(producer.handle(), "faults");
    EXPECT_EQ(md.leaders.at(0), 3);
    EXPECT_EQ(md.leaders.at(1), -1);
    ASSERT_TRUE(mc->set_leader("faults", 1, 2).ok());

    // Error stacks: counted per broker, consumed by requests to that broker.
    ASSERT_TRUE(mc->push_broker_errors(3, api_key::produce, {{0, 0}, {0, 0}}).ok());
    auto cnt = mc->error_stack_count(3, api_key::produce);
    ASSERT_TRUE(cnt.ok());
    EXPECT_EQ(*cnt, 2u);
    EXPECT_FALSE(mc->wait_errors_consumed(3, api_key::produce, 50ms).ok()) << "nothing produced yet";
    // Two Produce requests to broker 3 (leader of partition 0) pop both entries.
    producer.produce("faults", {0, -1, "a", "1", {}, -1});
    ASSERT_TRUE(producer.flush_all_delivered());
    producer.produce("faults", {0, -1, "b", "2", {}, -1});
    ASSERT_TRUE(producer.flush_all_delivered());
    EXPECT_TRUE(mc->wait_errors_consumed(3, api_key::produce, 10s).ok());
    cnt = mc->error_stack_count(3, api_key::produce);
    ASSERT_TRUE(cnt.ok());
    EXPECT_EQ(*cnt, 0u);

    // A cluster-wide retriable error is retried by librdkafka: delivered anyway.
    ASSERT_TRUE(mc->push_errors(api_key::produce, {6 /* NOT_LEADER_FOR_PARTITION */}).ok());
    producer.produce("faults", {2, -1, "c", "3", {}, -1});
    EXPECT_TRUE(producer.flush_all_delivered());

    // RTT delays every response of the broker.
    ASSERT_TRUE(mc->set_rtt(-1, 400).ok());
    const auto t0 = std::chrono::steady_clock::now();
    producer.produce("faults", {2, -1, "d", "4", {}, -1});
    EXPECT_TRUE(producer.flush_all_delivered());
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 400ms);
    ASSERT_TRUE(mc->set_rtt(-1, 0).ok());

    EXPECT_TRUE(mc->set_topic_error("faults", 0).ok());
    EXPECT_TRUE(mc->set_coordinator("transaction", "txid", 2).ok());
    EXPECT_TRUE(mc->set_api_version(api_key::init_producer_id, -1, -1).ok());
  }
  EXPECT_TRUE(mc->alive());
  EXPECT_TRUE(exited_cleanly(mc->stop()));
}

class consume_back_round_trip : public ::testing::Test {
 protected:
  void SetUp() override {
    mc_ = start_cluster(cluster_options(3, {{topic_, 3}}));
    ASSERT_NE(mc_, nullptr);
    rdkafka_producer producer(mc_->bootstrap());
    expected_ = edge_case_records();
    std::vector<size_t> idx;
    for (const auto& r : expected_) idx.push_back(producer.produce(topic_, r));
    ASSERT_TRUE(producer.flush_all_delivered());
    for (size_t i = 0; i < expected_.size(); ++i) expected_[i].offset = producer.offset_of(idx[i]);
    // librdkafka stamps "now" when given timestamp 0; don't compare that one.
    for (auto& r : expected_) {
      if (r.timestamp_ms == 0) r.timestamp_ms = -1;
    }
  }
  void TearDown() override {
    if (mc_) {
      EXPECT_TRUE(exited_cleanly(mc_->stop()));
    }
  }

  const std::string topic_ = "roundtrip";
  std::unique_ptr<mock_cluster> mc_;
  std::vector<consumed_record> expected_;
};

TEST_F(consume_back_round_trip, python_consumer_returns_every_field_exactly) {
  auto got = consume_with_python(mc_->bootstrap(), topic_, consume_timeout);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_TRUE(same_records(expected_, *got));
}

TEST_F(consume_back_round_trip, kcat_consumer_returns_every_field_it_can_express) {
  auto got = consume_with_kcat(mc_->bootstrap(), topic_, consume_timeout);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_TRUE(same_records(expected_, *got, {.headers_via_kcat = true}));
  // Keys and values are exact through kcat: null and empty stay apart.
  ASSERT_GE(got->size(), 6u);
  EXPECT_EQ((*got)[0].key, std::nullopt);
  EXPECT_EQ((*got)[1].key, std::optional<std::string>(""));
  EXPECT_EQ((*got)[2].value, std::nullopt);
  EXPECT_EQ((*got)[3].value, std::optional<std::string>(""));
}

TEST_F(consume_back_round_trip, both_consumers_agree_on_everything_but_kcat_header_loss) {
  auto py = consume_with_python(mc_->bootstrap(), topic_, consume_timeout);
  auto kc = consume_with_kcat(mc_->bootstrap(), topic_, consume_timeout);
  ASSERT_TRUE(py.ok()) << py.error().message();
  ASSERT_TRUE(kc.ok()) << kc.error().message();
  EXPECT_TRUE(same_records(*py, *kc, {.headers_via_kcat = true}));
}

TEST_F(consume_back_round_trip, comparison_catches_differences) {
  auto got = consume_with_python(mc_->bootstrap(), topic_, consume_timeout);
  ASSERT_TRUE(got.ok()) << got.error().message();

  auto changed = expected_;
  changed[7].headers[1].second = std::string();  // null header value -> empty
  auto r = same_records(changed, *got);
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("partition 1 index 1"), std::string::npos) << r.message();
  EXPECT_NE(std::string(r.message()).find("headers"), std::string::npos) << r.message();

  changed = expected_;
  changed[1].key = std::nullopt;  // empty key -> null key
  EXPECT_FALSE(same_records(changed, *got));

  changed = expected_;
  std::swap(changed[10], changed[11]);  // order within partition 2
  EXPECT_FALSE(same_records(changed, *got));

  changed = expected_;
  changed.pop_back();
  r = same_records(changed, *got);
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("first unexpected"), std::string::npos) << r.message();

  changed = expected_;
  changed[12].timestamp_ms += 1;
  EXPECT_FALSE(same_records(changed, *got));
}

TEST(consume_back_parsing, kcat_output_keeps_null_and_empty_apart) {
  std::string out;
  auto rec = [&](const std::string& meta, const std::string& kv, const std::string& hdrs) {
    out += "\x1e" "KCREC " + meta + "\n" + kv + "\n" + hdrs + "\n\x1f" "KCEND\n";
  };
  rec("1 5 1000 -1 0", "", "");
  rec("0 7 1001 0 -1", "", "a=1,b=NULL,c=");
  rec("0 8 1002 3 2", std::string("k\n\0", 3) + "v\n", "");
  auto got = parse_kcat_output(out);
  ASSERT_TRUE(got.ok()) << got.error().message();
  ASSERT_EQ(got->size(), 3u);
  // Sorted by (partition, offset).
  EXPECT_EQ((*got)[0], (consumed_record{0, 7, "", std::nullopt, {{"a", "1"}, {"b", std::nullopt}, {"c", ""}}, 1001}));
  EXPECT_EQ((*got)[1], (consumed_record{0, 8, std::string("k\n\0", 3), "v\n", {}, 1002}));
  EXPECT_EQ((*got)[2], (consumed_record{1, 5, std::nullopt, "", {}, 1000}));

  EXPECT_FALSE(parse_kcat_output(out.substr(0, out.size() - 3)).ok());
  EXPECT_FALSE(parse_kcat_output("garbage").ok());
}

TEST(consume_back_parsing, python_output_decodes_base64_and_nulls) {
  auto got = parse_python_output(
      R"({"partition":2,"offset":3,"timestamp":5,"timestamp_type":0,"key":null,"value":"","headers":[["h",null],["i","AP8="]]})"
      "\n");
  ASSERT_TRUE(got.ok()) << got.error().message();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0], (consumed_record{2, 3, std::nullopt, "", {{"h", std::nullopt}, {"i", std::string("\0\xff", 2)}}, 5}));
  EXPECT_FALSE(parse_python_output("{\"partition\":1}\n").ok());
  EXPECT_FALSE(parse_python_output(R"({"partition":2,"offset":3,"timestamp":5,"key":"@@@@","value":null,"headers":[]})").ok());
}

TEST(consume_back_parsing, kcat_header_view_applies_kcat_losses) {
  const header_list h{{"n", std::nullopt}, {"s", "NULL"}, {"e", ""}, {"z", std::string("a\0b", 3)}};
  const header_list expected{{"n", std::nullopt}, {"s", std::nullopt}, {"e", ""}, {"z", "a"}};
  EXPECT_EQ(kcat_header_view(h), expected);
}

}  // namespace
}  // namespace kprod::test
