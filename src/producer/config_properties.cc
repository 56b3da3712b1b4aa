// config_properties.cc - Java-style properties -> producer_config.
//
// This layer only converts text to typed values (type errors); ranges and
// cross-field rules are validate()'s job, so a typed config built in code and
// one parsed from properties are checked by the same code.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "kprod/config.h"

namespace kprod {
namespace {

using std::chrono::milliseconds;
using problems = std::vector<std::string>;

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// "<key>: must be <rule>, got '<value>'"
void bad_value(problems& out, std::string_view key, std::string_view value) {
  const config_key_info* info = find_config_key(key);
  std::string text(key);
  text += ": must be ";
  text += info != nullptr ? info->rule : std::string_view("valid");
  text += ", got '";
  text += value;
  text += "'";
  out.push_back(std::move(text));
}

// Java's Integer/Long.parseLong: optional sign, decimal digits, nothing else.
std::optional<std::int64_t> parse_int(std::string_view s) noexcept {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return std::nullopt;
  std::int64_t v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

std::optional<std::int32_t> parse_int32(std::string_view s) noexcept {
  auto v = parse_int(s);
  if (!v || *v < std::numeric_limits<std::int32_t>::min() ||
      *v > std::numeric_limits<std::int32_t>::max())
    return std::nullopt;
  return static_cast<std::int32_t>(*v);
}

std::optional<bool> parse_bool(std::string_view s) noexcept {
  if (iequals(s, "true")) return true;
  if (iequals(s, "false")) return false;
  return std::nullopt;
}

// Java LIST: comma-separated, each element trimmed; "" is the empty list.
std::vector<std::string> parse_list(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  for (;;) {
    const auto comma = s.find(',');
    out.emplace_back(trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// ---- setters: one per key ------------------------------------------------------
using setter = void (*)(producer_config&, std::string_view key, std::string_view value, problems&);

template <auto Field>
void set_int32(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (auto n = parse_int32(v)) c.*Field = *n;
  else bad_value(p, k, v);
}

template <auto Field>
void set_int64(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (auto n = parse_int(v)) c.*Field = *n;
  else bad_value(p, k, v);
}

template <auto Field>
void set_duration(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (auto n = parse_int(v)) c.*Field = milliseconds(*n);
  else bad_value(p, k, v);
}

template <auto Field>
void set_bool(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (auto b = parse_bool(v)) c.*Field = *b;
  else bad_value(p, k, v);
}

void set_bootstrap(producer_config& c, std::string_view, std::string_view v, problems&) {
  c.bootstrap_servers = parse_list(v);
}

void set_client_id(producer_config& c, std::string_view, std::string_view v, problems&) {
  c.client_id = std::string(v);
}

void set_dns_lookup(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (v == "use_all_dns_ips") c.dns_lookup = client_dns_lookup::use_all_dns_ips;
  else if (v == "resolve_canonical_bootstrap_servers_only")
    c.dns_lookup = client_dns_lookup::resolve_canonical_bootstrap_servers_only;
  else bad_value(p, k, v);
}

void set_overrides(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  c.broker_address_overrides.clear();
  for (const auto& entry : parse_list(v)) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos) {
      bad_value(p, k, entry);
      continue;
    }
    std::string from(trim(std::string_view(entry).substr(0, eq)));
    std::string to(trim(std::string_view(entry).substr(eq + 1)));
    if (!c.broker_address_overrides.emplace(from, to).second)
      p.push_back(std::string(k) + ": duplicate entry for '" + from + "'");
  }
}

void set_acks(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (v == "all" || v == "-1") c.acks = acks::all;
  else if (v == "1") c.acks = acks::leader;
  else if (v == "0") c.acks = acks::none;
  else bad_value(p, k, v);
}

void set_idempotence(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (auto b = parse_bool(v)) c.enable_idempotence = *b;
  else bad_value(p, k, v);
}

void set_transactional_id(producer_config& c, std::string_view, std::string_view v, problems&) {
  c.transactional_id = std::string(v);  // emptiness is validate()'s call
}

void set_compression(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  for (auto type : {compression_type::none, compression_type::gzip, compression_type::snappy,
                    compression_type::lz4, compression_type::zstd}) {
    if (v == to_string(type)) {
      c.compression = type;
      return;
    }
  }
  bad_value(p, k, v);
}

void set_delivery_timeout(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (auto n = parse_int(v)) c.delivery_timeout = milliseconds(*n);
  else bad_value(p, k, v);
}

std::optional<partitioner_kind> kprod_partitioner_name(std::string_view v) noexcept {
  if (v == "default") return partitioner_kind::builtin;
  if (v == "round_robin") return partitioner_kind::round_robin;
  if (v == "uniform_sticky") return partitioner_kind::uniform_sticky;
  return std::nullopt;
}

std::optional<partitioner_kind> java_partitioner_class(std::string_view v) noexcept {
  if (v == "org.apache.kafka.clients.producer.RoundRobinPartitioner")
    return partitioner_kind::round_robin;
  if (v == "org.apache.kafka.clients.producer.UniformStickyPartitioner")
    return partitioner_kind::uniform_sticky;
  return std::nullopt;
}

void set_kprod_partitioner(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (auto kind = kprod_partitioner_name(v)) c.partitioner_choice = *kind;
  else bad_value(p, k, v);
}

void set_partitioner_class(producer_config& c, std::string_view k, std::string_view v, problems& p) {
  if (v.empty()) return;  // Java's null: the built-in partitioner
  if (auto kind = java_partitioner_class(v)) c.partitioner_choice = *kind;
  else bad_value(p, k, v);
}

struct key_setter {
  std::string_view key;
  setter set;
};

using pc = producer_config;
constexpr key_setter setters[] = {
    {"bootstrap.servers", set_bootstrap},
    {"client.id", set_client_id},
    {"client.dns.lookup", set_dns_lookup},
    {"kprod.broker.address.override", set_overrides},
    {"acks", set_acks},
    {"enable.idempotence", set_idempotence},
    {"retries", set_int32<&pc::retries>},
    {"max.in.flight.requests.per.connection", set_int32<&pc::max_in_flight>},
    {"transactional.id", set_transactional_id},
    {"transaction.timeout.ms", set_duration<&pc::transaction_timeout>},
    {"linger.ms", set_duration<&pc::linger>},
    {"batch.size", set_int32<&pc::batch_size>},
    {"buffer.memory", set_int64<&pc::buffer_memory>},
    {"max.block.ms", set_duration<&pc::max_block>},
    {"max.request.size", set_int32<&pc::max_request_size>},
    {"compression.type", set_compression},
    {"compression.gzip.level", set_int32<&pc::gzip_level>},
    {"compression.lz4.level", set_int32<&pc::lz4_level>},
    {"compression.zstd.level", set_int32<&pc::zstd_level>},
    {"kprod.compression.threads", set_int32<&pc::compression_threads>},  // internal: not in the reference
    {"delivery.timeout.ms", set_delivery_timeout},
    {"request.timeout.ms", set_duration<&pc::request_timeout>},
    {"retry.backoff.ms", set_duration<&pc::retry_backoff>},
    {"retry.backoff.max.ms", set_duration<&pc::retry_backoff_max>},
    {"kprod.partitioner", set_kprod_partitioner},
    {"partitioner.class", set_partitioner_class},
    {"partitioner.ignore.keys", set_bool<&pc::partitioner_ignore_keys>},
    {"partitioner.adaptive.partitioning.enable", set_bool<&pc::partitioner_adaptive>},
    {"partitioner.availability.timeout.ms", set_duration<&pc::partitioner_availability_timeout>},
    {"metadata.max.age.ms", set_duration<&pc::metadata_max_age>},
    {"metadata.max.idle.ms", set_duration<&pc::metadata_max_idle>},
    {"reconnect.backoff.ms", set_duration<&pc::reconnect_backoff>},
    {"reconnect.backoff.max.ms", set_duration<&pc::reconnect_backoff_max>},
    {"connections.max.idle.ms", set_duration<&pc::connections_max_idle>},
    {"socket.connection.setup.timeout.ms", set_duration<&pc::socket_connection_setup_timeout>},
    {"socket.connection.setup.timeout.max.ms",
     set_duration<&pc::socket_connection_setup_timeout_max>},
    {"send.buffer.bytes", set_int32<&pc::send_buffer_bytes>},
    {"receive.buffer.bytes", set_int32<&pc::receive_buffer_bytes>},
};

setter find_setter(std::string_view key) noexcept {
  for (const auto& s : setters) {
    if (s.key == key) return s.set;
  }
  return nullptr;
}

// Java producer settings that are meaningful there but have no kprod
// equivalent; named separately so a copied Java config gets a clear answer.
bool is_unsupported_java_key(std::string_view key) noexcept {
  constexpr std::string_view exact[] = {
      "key.serializer", "value.serializer", "interceptor.classes", "metric.reporters",
      "security.protocol", "security.providers", "enable.metrics.push", "auto.include.jmx.reporter",
      "transaction.two.phase.commit.enable", "metadata.recovery.strategy",
      "metadata.recovery.rebootstrap.trigger.ms", "config.providers"};
  constexpr std::string_view prefixes[] = {"ssl.", "sasl.", "metrics."};
  for (auto k : exact) {
    if (key == k) return true;
  }
  for (auto prefix : prefixes) {
    if (key.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace

result<producer_config> producer_config_from_properties(
    const std::map<std::string, std::string>& props) {
  producer_config cfg;
  problems p;
  for (const auto& [key, raw] : props) {
    if (setter set = find_setter(key)) {
      set(cfg, key, trim(raw), p);
    } else if (is_unsupported_java_key(key)) {
      p.push_back(key + ": a Java producer setting kprod does not support");
    } else {
      p.push_back(key + ": unknown configuration key");
    }
  }

  // Both spellings choose the built-in partitioner; they must not disagree.
  const auto kprod_name = props.find("kprod.partitioner");
  const auto java_class = props.find("partitioner.class");
  if (kprod_name != props.end() && java_class != props.end()) {
    auto a = kprod_partitioner_name(trim(kprod_name->second));
    auto b = java_partitioner_class(trim(java_class->second));
    if (a && b && *a != *b)
      p.push_back("partitioner.class: conflicts with kprod.partitioner; set only one");
  }

  // CommonClientConfigs.postProcessReconnectBackoffConfigs: a user who sets
  // only the base backoff gets a constant backoff.
  if (props.count("reconnect.backoff.ms") != 0 && props.count("reconnect.backoff.max.ms") == 0)
    cfg.reconnect_backoff_max = cfg.reconnect_backoff;

  auto validated = validate(cfg);
  if (p.empty()) return validated;
  std::string detail;
  for (const auto& item : p) {
    if (!detail.empty()) detail += "; ";
    detail += item;
  }
  if (!validated) {
    detail += "; ";
    detail += validated.error().detail();
  }
  return kprod::error(client_errc::invalid_config, std::move(detail));
}

}  // namespace kprod
