#include "kprod/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <set>
#include <string>

#include "kprod/partitioner.h"

namespace kprod {
namespace {

using std::chrono::milliseconds;
using props = std::map<std::string, std::string>;
using ::testing::HasSubstr;

props with_bootstrap(props p) {
  p.emplace("bootstrap.servers", "localhost:9092");
  return p;
}

// The error detail of a configuration that must fail.
std::string failure(const props& p) {
  auto r = producer_config_from_properties(p);
  EXPECT_FALSE(r.ok()) << "expected an error";
  if (r.ok()) return {};
  EXPECT_EQ(r.error().code(), client_errc::invalid_config);
  return r.error().detail();
}

std::string failure(const producer_config& c) {
  auto r = validate(c);
  EXPECT_FALSE(r.ok()) << "expected an error";
  if (r.ok()) return {};
  EXPECT_EQ(r.error().code(), client_errc::invalid_config);
  return r.error().detail();
}

producer_config parsed(const props& p) {
  auto r = producer_config_from_properties(p);
  EXPECT_TRUE(r.ok()) << r.error().detail();
  return r.ok() ? r.value() : producer_config{};
}

producer_config typed() {
  producer_config c;
  c.bootstrap_servers = {"localhost:9092"};
  return c;
}

// ---- defaults ---------------------------------------------------------------------

TEST(ProducerConfig, DefaultsAreJava4Defaults) {
  const producer_config c;
  EXPECT_TRUE(c.bootstrap_servers.empty());
  EXPECT_EQ(c.client_id, "kprod");  // Java: "producer-<n>"; see config.h
  EXPECT_EQ(c.dns_lookup, client_dns_lookup::use_all_dns_ips);
  EXPECT_EQ(c.acks, acks::all);
  EXPECT_FALSE(c.enable_idempotence.has_value());
  EXPECT_EQ(c.retries, 2147483647);
  EXPECT_EQ(c.max_in_flight, 5);
  EXPECT_FALSE(c.transactional_id.has_value());
  EXPECT_EQ(c.transaction_timeout, milliseconds(60000));
  EXPECT_EQ(c.linger, milliseconds(5));
  EXPECT_EQ(c.batch_size, 16384);
  EXPECT_EQ(c.buffer_memory, 33554432);
  EXPECT_EQ(c.max_block, milliseconds(60000));
  EXPECT_EQ(c.max_request_size, 1048576);
  EXPECT_EQ(c.compression, compression_type::none);
  EXPECT_EQ(c.gzip_level, -1);
  EXPECT_EQ(c.lz4_level, 9);
  EXPECT_EQ(c.zstd_level, 3);
  EXPECT_FALSE(c.delivery_timeout.has_value());
  EXPECT_EQ(c.request_timeout, milliseconds(30000));
  EXPECT_EQ(c.retry_backoff, milliseconds(100));
  EXPECT_EQ(c.retry_backoff_max, milliseconds(1000));
  EXPECT_EQ(c.partitioner_choice, partitioner_kind::builtin);
  EXPECT_EQ(c.partitioner, nullptr);
  EXPECT_FALSE(c.partitioner_ignore_keys);
  EXPECT_TRUE(c.partitioner_adaptive);
  EXPECT_EQ(c.partitioner_availability_timeout, milliseconds(0));
  EXPECT_EQ(c.metadata_max_age, milliseconds(300000));
  EXPECT_EQ(c.metadata_max_idle, milliseconds(300000));
  EXPECT_EQ(c.reconnect_backoff, milliseconds(50));
  EXPECT_EQ(c.reconnect_backoff_max, milliseconds(1000));
  EXPECT_EQ(c.connections_max_idle, milliseconds(540000));
  EXPECT_EQ(c.socket_connection_setup_timeout, milliseconds(10000));
  EXPECT_EQ(c.socket_connection_setup_timeout_max, milliseconds(30000));
  EXPECT_EQ(c.send_buffer_bytes, 131072);
  EXPECT_EQ(c.receive_buffer_bytes, 32768);
  EXPECT_TRUE(c.broker_address_overrides.empty());
}

TEST(ProducerConfig, EffectiveDefaultsResolveIdempotenceAndDeliveryTimeout) {
  const producer_config c = parsed(with_bootstrap({}));
  ASSERT_TRUE(c.enable_idempotence.has_value());
  EXPECT_TRUE(*c.enable_idempotence);
  ASSERT_TRUE(c.delivery_timeout.has_value());
  EXPECT_EQ(*c.delivery_timeout, milliseconds(120000));
  EXPECT_EQ(c.bootstrap_servers, std::vector<std::string>{"localhost:9092"});
}

TEST(ProducerConfig, DocumentedDefaultsParseToTheStructDefaults) {
  // The reference table's default column is what the struct holds: parsing
  // each documented default must not change the effective configuration.
  const producer_config base = parsed(with_bootstrap({}));
  int checked = 0;
  for (const auto& key : config_reference()) {
    if (key.default_text.empty() || key.key == "bootstrap.servers") continue;
    SCOPED_TRACE(std::string(key.key));
    producer_config c = parsed(with_bootstrap({{std::string(key.key), std::string(key.default_text)}}));
    if (key.key == "enable.idempotence") c.enable_idempotence = base.enable_idempotence;
    if (key.key == "reconnect.backoff.ms") continue;  // also sets the max (Java rule)
    EXPECT_TRUE(c == base);
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

// ---- every key parsed ---------------------------------------------------------------

TEST(ProducerConfig, ParsesEveryKey) {
  const props p{
      {"bootstrap.servers", " a:1 , [::1]:9093,b.example.com:65535 "},
      {"client.id", " svc "},
      {"client.dns.lookup", "resolve_canonical_bootstrap_servers_only"},
      {"kprod.broker.address.override", "adv:9092=127.0.0.1:19092, adv2:9092 = localhost:29092"},
      {"acks", "all"},
      {"enable.idempotence", "TRUE"},
      {"retries", "+7"},
      {"max.in.flight.requests.per.connection", "3"},
      {"transactional.id", "tx-1"},
      {"transaction.timeout.ms", "90000"},
      {"linger.ms", "25"},
      {"batch.size", "65536"},
      {"buffer.memory", "67108864"},
      {"max.block.ms", "1234"},
      {"max.request.size", "2097152"},
      {"compression.type", "zstd"},
      {"compression.gzip.level", "9"},
      {"compression.lz4.level", "17"},
      {"compression.zstd.level", "-5"},
      {"delivery.timeout.ms", "200000"},
      {"request.timeout.ms", "40000"},
      {"retry.backoff.ms", "200"},
      {"retry.backoff.max.ms", "5000"},
      {"kprod.partitioner", "default"},
      {"partitioner.class", ""},
      {"partitioner.ignore.keys", "true"},
      {"partitioner.adaptive.partitioning.enable", "false"},
      {"partitioner.availability.timeout.ms", "750"},
      {"metadata.max.age.ms", "60000"},
      {"metadata.max.idle.ms", "5000"},
      {"reconnect.backoff.ms", "20"},
      {"reconnect.backoff.max.ms", "2000"},
      {"connections.max.idle.ms", "1000"},
      {"socket.connection.setup.timeout.ms", "3000"},
      {"socket.connection.setup.timeout.max.ms", "6000"},
      {"send.buffer.bytes", "-1"},
      {"receive.buffer.bytes", "65536"},
  };
  // The test covers every documented key.
  std::set<std::string> documented;
  for (const auto& key : config_reference()) documented.emplace(key.key);
  std::set<std::string> given;
  for (const auto& [k, v] : p) given.insert(k);
  EXPECT_EQ(documented, given);

  const producer_config c = parsed(p);
  EXPECT_EQ(c.bootstrap_servers, (std::vector<std::string>{"a:1", "[::1]:9093", "b.example.com:65535"}));
  EXPECT_EQ(c.client_id, "svc");
  EXPECT_EQ(c.dns_lookup, client_dns_lookup::resolve_canonical_bootstrap_servers_only);
  EXPECT_EQ(c.broker_address_overrides,
            (std::map<std::string, std::string>{{"adv:9092", "127.0.0.1:19092"},
                                                {"adv2:9092", "localhost:29092"}}));
  EXPECT_EQ(c.acks, acks::all);
  EXPECT_EQ(c.enable_idempotence, std::optional<bool>(true));
  EXPECT_EQ(c.retries, 7);
  EXPECT_EQ(c.max_in_flight, 3);
  EXPECT_EQ(c.transactional_id, std::optional<std::string>("tx-1"));
  EXPECT_EQ(c.transaction_timeout, milliseconds(90000));
  EXPECT_EQ(c.linger, milliseconds(25));
  EXPECT_EQ(c.batch_size, 65536);
  EXPECT_EQ(c.buffer_memory, 67108864);
  EXPECT_EQ(c.max_block, milliseconds(1234));
  EXPECT_EQ(c.max_request_size, 2097152);
  EXPECT_EQ(c.compression, compression_type::zstd);
  EXPECT_EQ(c.gzip_level, 9);
  EXPECT_EQ(c.lz4_level, 17);
  EXPECT_EQ(c.zstd_level, -5);
  EXPECT_EQ(c.delivery_timeout, std::optional<milliseconds>(200000));
  EXPECT_EQ(c.request_timeout, milliseconds(40000));
  EXPECT_EQ(c.retry_backoff, milliseconds(200));
  EXPECT_EQ(c.retry_backoff_max, milliseconds(5000));
  EXPECT_EQ(c.partitioner_choice, partitioner_kind::builtin);
  EXPECT_TRUE(c.partitioner_ignore_keys);
  EXPECT_FALSE(c.partitioner_adaptive);
  EXPECT_EQ(c.partitioner_availability_timeout, milliseconds(750));
  EXPECT_EQ(c.metadata_max_age, milliseconds(60000));
  EXPECT_EQ(c.metadata_max_idle, milliseconds(5000));
  EXPECT_EQ(c.reconnect_backoff, milliseconds(20));
  EXPECT_EQ(c.reconnect_backoff_max, milliseconds(2000));
  EXPECT_EQ(c.connections_max_idle, milliseconds(1000));
  EXPECT_EQ(c.socket_connection_setup_timeout, milliseconds(3000));
  EXPECT_EQ(c.socket_connection_setup_timeout_max, milliseconds(6000));
  EXPECT_EQ(c.send_buffer_bytes, -1);
  EXPECT_EQ(c.receive_buffer_bytes, 65536);
}

TEST(ProducerConfig, AcksSpellings) {
  EXPECT_EQ(parsed(with_bootstrap({{"acks", "-1"}})).acks, acks::all);
  EXPECT_EQ(parsed(with_bootstrap({{"acks", "1"}})).acks, acks::leader);
  EXPECT_EQ(parsed(with_bootstrap({{"acks", "0"}})).acks, acks::none);
  EXPECT_THAT(failure(with_bootstrap({{"acks", "2"}})),
              HasSubstr("acks: must be one of: all, -1, 0, 1, got '2'"));
}

TEST(ProducerConfig, CompressionAndDnsNames) {
  for (auto [name, type] : {std::pair{"none", compression_type::none},
                            std::pair{"gzip", compression_type::gzip},
                            std::pair{"snappy", compression_type::snappy},
                            std::pair{"lz4", compression_type::lz4},
                            std::pair{"zstd", compression_type::zstd}}) {
    EXPECT_EQ(parsed(with_bootstrap({{"compression.type", name}})).compression, type) << name;
  }
  EXPECT_THAT(failure(with_bootstrap({{"compression.type", "brotli"}})),
              HasSubstr("compression.type: must be one of: none, gzip, snappy, lz4, zstd, got 'brotli'"));
  EXPECT_EQ(parsed(with_bootstrap({{"client.dns.lookup", "use_all_dns_ips"}})).dns_lookup,
            client_dns_lookup::use_all_dns_ips);
  EXPECT_THAT(failure(with_bootstrap({{"client.dns.lookup", "default"}})),
              HasSubstr("client.dns.lookup: must be one of"));
}

TEST(ProducerConfig, PartitionerChoices) {
  EXPECT_EQ(parsed(with_bootstrap({{"kprod.partitioner", "round_robin"}})).partitioner_choice,
            partitioner_kind::round_robin);
  EXPECT_EQ(parsed(with_bootstrap({{"kprod.partitioner", "uniform_sticky"}})).partitioner_choice,
            partitioner_kind::uniform_sticky);
  EXPECT_EQ(parsed(with_bootstrap({{"partitioner.class",
                                    "org.apache.kafka.clients.producer.RoundRobinPartitioner"}}))
                .partitioner_choice,
            partitioner_kind::round_robin);
  EXPECT_EQ(parsed(with_bootstrap({{"partitioner.class",
                                    "org.apache.kafka.clients.producer.UniformStickyPartitioner"}}))
                .partitioner_choice,
            partitioner_kind::uniform_sticky);
  EXPECT_THAT(failure(with_bootstrap({{"partitioner.class", "com.example.MyPartitioner"}})),
              HasSubstr("partitioner.class: must be one of"));
  EXPECT_THAT(failure(with_bootstrap({{"kprod.partitioner", "hash"}})),
              HasSubstr("kprod.partitioner: must be one of: default, round_robin, uniform_sticky, got 'hash'"));
  EXPECT_THAT(failure(with_bootstrap(
                  {{"kprod.partitioner", "round_robin"},
                   {"partitioner.class", "org.apache.kafka.clients.producer.UniformStickyPartitioner"}})),
              HasSubstr("partitioner.class: conflicts with kprod.partitioner"));
}

// ---- type errors --------------------------------------------------------------------

TEST(ProducerConfig, TypeErrorsNameTheKeyTheRuleAndTheValue) {
  EXPECT_EQ(failure(with_bootstrap({{"linger.ms", "abc"}})),
            "linger.ms: must be an integer >= 0, got 'abc'");
  EXPECT_EQ(failure(with_bootstrap({{"partitioner.ignore.keys", "maybe"}})),
            "partitioner.ignore.keys: must be true or false, got 'maybe'");
  EXPECT_EQ(failure(with_bootstrap({{"enable.idempotence", "yes"}})),
            "enable.idempotence: must be true or false, got 'yes'");
  EXPECT_EQ(failure(with_bootstrap({{"batch.size", "99999999999"}})),
            "batch.size: must be an integer >= 0, got '99999999999'");
  EXPECT_EQ(failure(with_bootstrap({{"delivery.timeout.ms", "1.5"}})),
            "delivery.timeout.ms: must be an integer between 0 and 2147483647, and >= linger.ms + "
            "request.timeout.ms, got '1.5'");
  EXPECT_THAT(failure(with_bootstrap({{"retries", ""}})), HasSubstr("retries: must be an integer"));
  EXPECT_THAT(failure(with_bootstrap({{"buffer.memory", "10MB"}})),
              HasSubstr("buffer.memory: must be an integer >= 0, got '10MB'"));
  EXPECT_THAT(failure(with_bootstrap({{"kprod.broker.address.override", "a:1"}})),
              HasSubstr("kprod.broker.address.override: must be a comma-separated list"));
}

TEST(ProducerConfig, UnknownAndUnsupportedKeys) {
  EXPECT_EQ(failure(with_bootstrap({{"linger.msec", "5"}})),
            "linger.msec: unknown configuration key");
  EXPECT_EQ(failure(with_bootstrap({{"key.serializer", "org.Foo"}})),
            "key.serializer: a Java producer setting kprod does not support");
  EXPECT_THAT(failure(with_bootstrap({{"ssl.truststore.location", "/x"}})),
              HasSubstr("ssl.truststore.location: a Java producer setting"));
}

TEST(ProducerConfig, EveryProblemIsReportedAtOnce) {
  const std::string detail = failure(props{{"linger.ms", "abc"},
                                           {"batch.size", "-5"},
                                           {"acks", "maybe"},
                                           {"bogus", "1"},
                                           {"compression.lz4.level", "18"}});
  EXPECT_THAT(detail, HasSubstr("linger.ms: must be an integer >= 0, got 'abc'"));
  EXPECT_THAT(detail, HasSubstr("batch.size: must be an integer >= 0, got -5"));
  EXPECT_THAT(detail, HasSubstr("acks: must be one of: all, -1, 0, 1, got 'maybe'"));
  EXPECT_THAT(detail, HasSubstr("bogus: unknown configuration key"));
  EXPECT_THAT(detail, HasSubstr("compression.lz4.level: must be an integer between 1 and 17, got 18"));
  EXPECT_THAT(detail, HasSubstr("bootstrap.servers: is required"));
}

TEST(ProducerConfig, TypedValidationAlsoCollectsEverything) {
  producer_config c;  // no bootstrap servers
  c.max_in_flight = 0;
  c.linger = milliseconds(-1);
  c.metadata_max_idle = milliseconds(4999);
  const std::string detail = failure(c);
  EXPECT_THAT(detail, HasSubstr("bootstrap.servers: is required"));
  EXPECT_THAT(detail, HasSubstr("max.in.flight.requests.per.connection: must be an integer >= 1, got 0"));
  EXPECT_THAT(detail, HasSubstr("linger.ms: must be an integer >= 0, got -1"));
  EXPECT_THAT(detail, HasSubstr("metadata.max.idle.ms: must be an integer >= 5000, got 4999"));
}

// ---- one test per range rule ------------------------------------------------------------

struct range_case {
  const char* key;
  const char* value;
  const char* expected;
};

class RangeRule : public ::testing::TestWithParam<range_case> {};

TEST_P(RangeRule, ViolationNamesKeyAndRule) {
  const auto& rc = GetParam();
  EXPECT_THAT(failure(with_bootstrap({{rc.key, rc.value}})), HasSubstr(rc.expected));
}

INSTANTIATE_TEST_SUITE_P(
    ProducerConfig, RangeRule,
    ::testing::Values(
        range_case{"retries", "-1", "retries: must be an integer between 0 and 2147483647, got -1"},
        range_case{"max.in.flight.requests.per.connection", "0",
                   "max.in.flight.requests.per.connection: must be an integer >= 1, got 0"},
        range_case{"transactional.id", "  ", "transactional.id: must be a non-empty string, got ''"},
        range_case{"transaction.timeout.ms", "0",
                   "transaction.timeout.ms: must be an integer between 1 and 2147483647, got 0"},
        range_case{"linger.ms", "-1", "linger.ms: must be an integer >= 0, got -1"},
        range_case{"batch.size", "-1", "batch.size: must be an integer >= 0, got -1"},
        range_case{"buffer.memory", "-1", "buffer.memory: must be an integer >= 0, got -1"},
        range_case{"max.block.ms", "-1", "max.block.ms: must be an integer >= 0, got -1"},
        range_case{"max.request.size", "-1", "max.request.size: must be an integer >= 0, got -1"},
        range_case{"compression.gzip.level", "0",
                   "compression.gzip.level: must be an integer between 1 and 9, or -1, got 0"},
        range_case{"compression.gzip.level", "10", "compression.gzip.level: must be"},
        range_case{"compression.lz4.level", "0", "compression.lz4.level: must be an integer between 1 and 17"},
        range_case{"compression.zstd.level", "23",
                   "compression.zstd.level: must be an integer between -131072 and 22, got 23"},
        range_case{"compression.zstd.level", "-131073", "compression.zstd.level: must be"},
        range_case{"delivery.timeout.ms", "2147483648", "delivery.timeout.ms: must be"},
        range_case{"request.timeout.ms", "-1",
                   "request.timeout.ms: must be an integer between 0 and 2147483647, got -1"},
        range_case{"retry.backoff.ms", "-1", "retry.backoff.ms: must be an integer >= 0, got -1"},
        range_case{"retry.backoff.max.ms", "-1", "retry.backoff.max.ms: must be an integer >= 0"},
        range_case{"partitioner.availability.timeout.ms", "-1",
                   "partitioner.availability.timeout.ms: must be an integer >= 0, got -1"},
        range_case{"metadata.max.age.ms", "-1", "metadata.max.age.ms: must be an integer >= 0"},
        range_case{"metadata.max.idle.ms", "4999",
                   "metadata.max.idle.ms: must be an integer >= 5000, got 4999"},
        range_case{"reconnect.backoff.ms", "-1", "reconnect.backoff.ms: must be an integer >= 0"},
        range_case{"reconnect.backoff.max.ms", "-1", "reconnect.backoff.max.ms: must be"},
        range_case{"connections.max.idle.ms", "-1", "connections.max.idle.ms: must be"},
        range_case{"socket.connection.setup.timeout.ms", "-1",
                   "socket.connection.setup.timeout.ms: must be"},
        range_case{"socket.connection.setup.timeout.max.ms", "-1",
                   "socket.connection.setup.timeout.max.ms: must be"},
        range_case{"send.buffer.bytes", "-2", "send.buffer.bytes: must be an integer >= -1, got -2"},
        range_case{"receive.buffer.bytes", "-2", "receive.buffer.bytes: must be an integer >= -1, got -2"},
        range_case{"kprod.broker.address.override", "adv:9092=nowhere",
                   "kprod.broker.address.override: invalid address 'nowhere'"}));

TEST(ProducerConfig, ClientIdLengthLimit) {
  const std::string long_id(32768, 'x');
  EXPECT_THAT(failure(with_bootstrap({{"client.id", long_id}})),
              HasSubstr("client.id: must be a string of at most 32767 bytes, got 32768 bytes"));
  EXPECT_TRUE(producer_config_from_properties(with_bootstrap({{"client.id", std::string(32767, 'x')}})).ok());
}

// ---- bootstrap.servers -----------------------------------------------------------------

TEST(ProducerConfig, BootstrapServersRules) {
  EXPECT_THAT(failure(props{{"bootstrap.servers", ""}}), HasSubstr("bootstrap.servers: is required"));
  EXPECT_THAT(failure(props{{"bootstrap.servers", "localhost"}}),
              HasSubstr("bootstrap.servers: invalid address 'localhost': expected host:port"));
  EXPECT_THAT(failure(props{{"bootstrap.servers", "a:0"}}),
              HasSubstr("bootstrap.servers: invalid address 'a:0': port must be between 1 and 65535"));
  EXPECT_THAT(failure(props{{"bootstrap.servers", "a:65536"}}), HasSubstr("port must be between"));
  EXPECT_THAT(failure(props{{"bootstrap.servers", "a:1,,b:2"}}),
              HasSubstr("bootstrap.servers: invalid address '': empty"));
  EXPECT_THAT(failure(props{{"bootstrap.servers", "a:1,a:1"}}),
              HasSubstr("bootstrap.servers: duplicate entry 'a:1'"));
  EXPECT_THAT(failure(props{{"bootstrap.servers", "PLAINTEXT://a:1"}}),
              HasSubstr("without a scheme"));
  EXPECT_THAT(failure(props{{"bootstrap.servers", "::1:9092"}}),
              HasSubstr("write IPv6 addresses as [address]:port"));
}

TEST(ParseHostPort, AcceptsNamesIPv4AndBracketedIPv6) {
  auto a = parse_host_port("broker-1.example.com:9092");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "broker-1.example.com");
  EXPECT_EQ(a->port, 9092);
  auto b = parse_host_port("[::1]:9093");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 9093);
  auto c = parse_host_port("10.0.0.1:65535");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 65535);
  EXPECT_FALSE(parse_host_port("[::1]9093").ok());
  EXPECT_FALSE(parse_host_port("[]:1").ok());
  EXPECT_FALSE(parse_host_port("[127.0.0.1]:1").ok());
  EXPECT_FALSE(parse_host_port("host:+1").ok());
  EXPECT_FALSE(parse_host_port("host:1x").ok());
  EXPECT_FALSE(parse_host_port(":9092").ok());
  EXPECT_FALSE(parse_host_port("bad host:9092").ok());
}

TEST(ProducerConfig, DuplicateOverrideIsAnError) {
  EXPECT_THAT(failure(with_bootstrap({{"kprod.broker.address.override", "a:1=b:2,a:1=c:3"}})),
              HasSubstr("kprod.broker.address.override: duplicate entry for 'a:1'"));
}

// ---- idempotence: explicit vs implicit ------------------------------------------------------

TEST(Idempotence, ImplicitlyDisabledByAcksOrRetries) {
  EXPECT_EQ(parsed(with_bootstrap({{"acks", "1"}})).enable_idempotence, std::optional<bool>(false));
  EXPECT_EQ(parsed(with_bootstrap({{"acks", "0"}})).enable_idempotence, std::optional<bool>(false));
  EXPECT_EQ(parsed(with_bootstrap({{"retries", "0"}})).enable_idempotence, std::optional<bool>(false));
  EXPECT_EQ(parsed(with_bootstrap({{"max.in.flight.requests.per.connection", "1"}})).enable_idempotence,
            std::optional<bool>(true));
}

TEST(Idempotence, ExplicitlyEnabledConflictsAreErrors) {
  EXPECT_EQ(failure(with_bootstrap({{"enable.idempotence", "true"}, {"acks", "1"}})),
            "acks: must be all (-1) when enable.idempotence is true, got 1");
  EXPECT_EQ(failure(with_bootstrap({{"enable.idempotence", "true"}, {"retries", "0"}})),
            "retries: must be > 0 when enable.idempotence is true, got 0");
  producer_config c = typed();
  c.enable_idempotence = true;
  c.acks = acks::none;
  c.retries = 0;
  const std::string both = failure(c);
  EXPECT_THAT(both, HasSubstr("acks: must be all"));
  EXPECT_THAT(both, HasSubstr("retries: must be > 0"));
}

TEST(Idempotence, MoreThanFiveInFlightNeedsExplicitDisable) {
  // Java 4.0 (KAFKA-17927): an error unless idempotence is explicitly off.
  EXPECT_EQ(failure(with_bootstrap({{"max.in.flight.requests.per.connection", "6"}})),
            "max.in.flight.requests.per.connection: must be at most 5 unless enable.idempotence "
            "is false, got 6");
  EXPECT_THAT(failure(with_bootstrap({{"max.in.flight.requests.per.connection", "6"}, {"acks", "1"}})),
              HasSubstr("max.in.flight.requests.per.connection: must be at most 5"));
  const auto c = parsed(with_bootstrap({{"max.in.flight.requests.per.connection", "6"},
                                        {"enable.idempotence", "false"}}));
  EXPECT_EQ(c.max_in_flight, 6);
  EXPECT_EQ(c.enable_idempotence, std::optional<bool>(false));
}

TEST(Idempotence, ExplicitlyDisabledAllowsAnyAcks) {
  const auto c = parsed(with_bootstrap({{"enable.idempotence", "false"}, {"acks", "1"}, {"retries", "0"}}));
  EXPECT_EQ(c.enable_idempotence, std::optional<bool>(false));
  EXPECT_EQ(c.acks, acks::leader);
}

TEST(Idempotence, TransactionsRequireIt) {
  EXPECT_EQ(failure(with_bootstrap({{"transactional.id", "tx"}, {"enable.idempotence", "false"}})),
            "transactional.id: requires idempotence, but enable.idempotence is false");
  EXPECT_THAT(failure(with_bootstrap({{"transactional.id", "tx"}, {"acks", "1"}})),
              HasSubstr("transactional.id: requires idempotence, which acks != all or retries = 0"));
  const auto c = parsed(with_bootstrap({{"transactional.id", "tx"}}));
  EXPECT_EQ(c.enable_idempotence, std::optional<bool>(true));
  EXPECT_EQ(c.transactional_id, std::optional<std::string>("tx"));
}

// ---- delivery timeout and other effective values ---------------------------------------------

TEST(DeliveryTimeout, RaisedSilentlyWhenNotSet) {
  const auto c = parsed(with_bootstrap({{"linger.ms", "100000"}, {"request.timeout.ms", "50000"}}));
  EXPECT_EQ(c.delivery_timeout, std::optional<milliseconds>(150000));
  const auto d = parsed(with_bootstrap({{"linger.ms", "10"}}));
  EXPECT_EQ(d.delivery_timeout, std::optional<milliseconds>(120000));
}

TEST(DeliveryTimeout, ExplicitValueBelowLingerPlusRequestTimeoutIsAnError) {
  EXPECT_EQ(failure(with_bootstrap({{"delivery.timeout.ms", "30004"}})),
            "delivery.timeout.ms: must be >= linger.ms + request.timeout.ms (5 + 30000), got 30004");
  EXPECT_EQ(parsed(with_bootstrap({{"delivery.timeout.ms", "30005"}})).delivery_timeout,
            std::optional<milliseconds>(30005));
  producer_config c = typed();
  c.delivery_timeout = milliseconds(1000);
  EXPECT_THAT(failure(c), HasSubstr("delivery.timeout.ms: must be >="));
}

TEST(DeliveryTimeout, SumIsCappedAtInt32Max) {
  const auto c = parsed(with_bootstrap({{"linger.ms", "9000000000"}, {"request.timeout.ms", "2147483647"}}));
  EXPECT_EQ(c.delivery_timeout, std::optional<milliseconds>(2147483647));
  EXPECT_EQ(c.linger, milliseconds(2147483647));  // Java uses (int) min(linger.ms, MAX_INT)
}

TEST(EffectiveConfig, BatchSizeZeroMeansOneRecordPerBatch) {
  EXPECT_EQ(parsed(with_bootstrap({{"batch.size", "0"}})).batch_size, 1);
}

TEST(EffectiveConfig, BackoffMaximaNeverBelowTheirBase) {
  const auto c = parsed(with_bootstrap({{"retry.backoff.ms", "3000"}, {"retry.backoff.max.ms", "1000"}}));
  EXPECT_EQ(c.retry_backoff_max, milliseconds(3000));
  // Java: reconnect.backoff.ms alone turns the exponential backoff off.
  const auto d = parsed(with_bootstrap({{"reconnect.backoff.ms", "20"}}));
  EXPECT_EQ(d.reconnect_backoff_max, milliseconds(20));
  const auto e = parsed(with_bootstrap({{"reconnect.backoff.ms", "20"}, {"reconnect.backoff.max.ms", "900"}}));
  EXPECT_EQ(e.reconnect_backoff_max, milliseconds(900));
}

TEST(EffectiveConfig, ValidatingAnEffectiveConfigChangesNothing) {
  for (const props& p : {with_bootstrap({}), with_bootstrap({{"acks", "1"}}),
                         with_bootstrap({{"linger.ms", "200000"}, {"batch.size", "0"}}),
                         with_bootstrap({{"retries", "0"}, {"reconnect.backoff.ms", "5"}})}) {
    const producer_config once = parsed(p);
    auto twice = validate(once);
    ASSERT_TRUE(twice.ok()) << twice.error().detail();
    EXPECT_TRUE(*twice == once);
  }
}

TEST(EffectiveConfig, ValidateKeepsTheCustomPartitioner) {
  producer_config c = typed();
  c.partitioner = make_partitioner([](auto, auto, auto, auto, auto, std::int32_t) { return 0; });
  auto r = validate(c);
  ASSERT_TRUE(r.ok()) << r.error().detail();
  EXPECT_EQ(r->partitioner, c.partitioner);
}

TEST(EffectiveConfig, InvalidEnumValuesInTypedConfig) {
  producer_config c = typed();
  c.acks = static_cast<acks>(2);
  c.compression = static_cast<compression_type>(9);
  const std::string detail = failure(c);
  EXPECT_THAT(detail, HasSubstr("acks: must be one of: all, -1, 0, 1, got 2"));
  EXPECT_THAT(detail, HasSubstr("compression.type: must be one of"));
}

// ---- the reference table ----------------------------------------------------------------------

TEST(ConfigReference, KeysAreUniqueAndDocumented) {
  std::set<std::string_view> seen;
  for (const auto& key : config_reference()) {
    EXPECT_TRUE(seen.insert(key.key).second) << key.key;
    EXPECT_FALSE(key.rule.empty()) << key.key;
    EXPECT_FALSE(key.doc.empty()) << key.key;
    EXPECT_EQ(find_config_key(key.key), &key);
  }
  EXPECT_EQ(find_config_key("no.such.key"), nullptr);
}

TEST(ConfigReference, MarkdownHasOneRowPerKey) {
  const std::string md = config_reference_markdown();
  EXPECT_EQ(md.rfind("| Key | Type | Default | Valid values | Description |\n| --- |", 0), 0u);
  std::size_t rows = 0;
  for (std::size_t pos = 0; (pos = md.find('\n', pos)) != std::string::npos; ++pos) ++rows;
  EXPECT_EQ(rows, config_reference().size() + 2);
  EXPECT_THAT(md, HasSubstr("| `linger.ms` | duration (ms) | `5` | an integer >= 0 |"));
  EXPECT_THAT(md, HasSubstr("| `bootstrap.servers` | list | (none) |"));
}

}  // namespace
}  // namespace kprod
