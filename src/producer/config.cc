// config.cc - validation of a typed producer_config and the effective values
// derived from it, following Java 4.x ProducerConfig / KafkaProducer.
#include <algorithm>
#include <charconv>
#include <set>
#include <string>
#include <vector>

#include "kprod/config.h"

namespace kprod {
namespace {

using std::chrono::milliseconds;

constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();
constexpr std::int32_t max_in_flight_for_idempotence = 5;
constexpr std::size_t max_string16 = 32767;  // Kafka STRING / NULLABLE_STRING length limit

class problem_list {
 public:
  void add(std::string text) { items_.push_back(std::move(text)); }

  // "<key>: must be <rule from the reference table>, got <got>"
  void must_be(std::string_view key, const std::string& got) {
    const config_key_info* info = find_config_key(key);
    std::string text(key);
    text += ": must be ";
    text += info != nullptr ? info->rule : std::string_view("valid");
    text += ", got ";
    text += got;
    add(std::move(text));
  }

  void check_range(std::string_view key, std::int64_t value, std::int64_t min, std::int64_t max) {
    if (value < min || value > max) must_be(key, std::to_string(value));
  }

  bool empty() const noexcept { return items_.empty(); }

  std::string joined() const {
    std::string out;
    for (const auto& item : items_) {
      if (!out.empty()) out += "; ";
      out += item;
    }
    return out;
  }

 private:
  std::vector<std::string> items_;
};

bool valid_host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '%';
}

kprod::error host_port_error(std::string_view text, std::string_view why) {
  std::string detail = "invalid address '";
  detail += text;
  detail += "': ";
  detail += why;
  return kprod::error(client_errc::invalid_config, std::move(detail));
}

void check_addresses(problem_list& problems, std::string_view key,
                     const std::vector<std::string>& entries) {
  std::set<std::string_view> seen;
  for (const auto& entry : entries) {
    auto parsed = parse_host_port(entry);
    if (!parsed) {
      problems.add(std::string(key) + ": " + parsed.error().detail());
    } else if (!seen.insert(entry).second) {
      problems.add(std::string(key) + ": duplicate entry '" + entry + "'");
    }
  }
}

void check_enums(problem_list& problems, const producer_config& cfg) {
  switch (cfg.acks) {
    case acks::all:
    case acks::leader:
    case acks::none: break;
    default: problems.must_be("acks", std::to_string(static_cast<int>(cfg.acks)));
  }
  if (static_cast<int>(cfg.compression) < 0 || static_cast<int>(cfg.compression) > 4)
    problems.must_be("compression.type", std::to_string(static_cast<int>(cfg.compression)));
  if (static_cast<int>(cfg.dns_lookup) > 1)
    problems.must_be("client.dns.lookup", std::to_string(static_cast<int>(cfg.dns_lookup)));
  if (static_cast<int>(cfg.partitioner_choice) > 2)
    problems.must_be("kprod.partitioner",
                     std::to_string(static_cast<int>(cfg.partitioner_choice)));
}

void check_fields(problem_list& p, const producer_config& cfg) {
  if (cfg.bootstrap_servers.empty()) {
    p.add("bootstrap.servers: is required (a comma-separated list of host:port)");
  }
  check_addresses(p, "bootstrap.servers", cfg.bootstrap_servers);
  for (const auto& [from, to] : cfg.broker_address_overrides) {
    if (auto r = parse_host_port(from); !r)
      p.add("kprod.broker.address.override: " + r.error().detail());
    if (auto r = parse_host_port(to); !r)
      p.add("kprod.broker.address.override: " + r.error().detail());
  }
  if (cfg.client_id.size() > max_string16)
    p.must_be("client.id", std::to_string(cfg.client_id.size()) + " bytes");
  check_enums(p, cfg);

  p.check_range("retries", cfg.retries, 0, int32_max);
  p.check_range("max.in.flight.requests.per.connection", cfg.max_in_flight, 1, int32_max);
  if (cfg.transactional_id) {
    if (cfg.transactional_id->empty()) p.must_be("transactional.id", "''");
    else if (cfg.transactional_id->size() > max_string16)
      p.add("transactional.id: must be at most 32767 bytes, got " +
            std::to_string(cfg.transactional_id->size()));
  }
  p.check_range("transaction.timeout.ms", cfg.transaction_timeout.count(), 1, int32_max);

  p.check_range("linger.ms", cfg.linger.count(), 0, std::numeric_limits<std::int64_t>::max());
  p.check_range("batch.size", cfg.batch_size, 0, int32_max);
  p.check_range("buffer.memory", cfg.buffer_memory, 0, std::numeric_limits<std::int64_t>::max());
  p.check_range("max.block.ms", cfg.max_block.count(), 0, std::numeric_limits<std::int64_t>::max());
  p.check_range("max.request.size", cfg.max_request_size, 0, int32_max);
  if (cfg.gzip_level != -1) p.check_range("compression.gzip.level", cfg.gzip_level, 1, 9);
  p.check_range("compression.lz4.level", cfg.lz4_level, 1, 17);
  p.check_range("compression.zstd.level", cfg.zstd_level, -131072, 22);
  p.check_range("kprod.compression.threads", cfg.compression_threads, -1, 64);

  if (cfg.delivery_timeout)
    p.check_range("delivery.timeout.ms", cfg.delivery_timeout->count(), 0, int32_max);
  p.check_range("request.timeout.ms", cfg.request_timeout.count(), 0, int32_max);
  p.check_range("retry.backoff.ms", cfg.retry_backoff.count(), 0, INT64_MAX);
  p.check_range("retry.backoff.max.ms", cfg.retry_backoff_max.count(), 0, INT64_MAX);

  p.check_range("partitioner.availability.timeout.ms", cfg.partitioner_availability_timeout.count(),
                0, INT64_MAX);
  p.check_range("metadata.max.age.ms", cfg.metadata_max_age.count(), 0, INT64_MAX);
  p.check_range("metadata.max.idle.ms", cfg.metadata_max_idle.count(), 5000, INT64_MAX);
  p.check_range("reconnect.backoff.ms", cfg.reconnect_backoff.count(), 0, INT64_MAX);
  p.check_range("reconnect.backoff.max.ms", cfg.reconnect_backoff_max.count(), 0, INT64_MAX);
  p.check_range("connections.max.idle.ms", cfg.connections_max_idle.count(), 0, INT64_MAX);
  p.check_range("socket.connection.setup.timeout.ms", cfg.socket_connection_setup_timeout.count(),
                0, INT64_MAX);
  p.check_range("socket.connection.setup.timeout.max.ms",
                cfg.socket_connection_setup_timeout_max.count(), 0, INT64_MAX);
  p.check_range("send.buffer.bytes", cfg.send_buffer_bytes, -1, int32_max);
  p.check_range("receive.buffer.bytes", cfg.receive_buffer_bytes, -1, int32_max);
}

// Java's postProcessAndValidateIdempotenceConfigs. Explicitly enabled
// idempotence with acks != all or retries = 0 is an error; left unset, those
// settings quietly turn it off. More than 5 in flight is an error whenever
// idempotence is not explicitly disabled (Java 4.0, KAFKA-17927) - even if
// acks or retries would have turned it off.
void resolve_idempotence(problem_list& p, producer_config& out) {
  const bool user_set = out.enable_idempotence.has_value();
  bool enabled = out.enable_idempotence.value_or(true);
  if (enabled) {
    bool disable = false;
    if (out.retries == 0) {
      if (user_set) p.add("retries: must be > 0 when enable.idempotence is true, got 0");
      disable = true;
    }
    if (out.acks != acks::all) {
      if (user_set)
        p.add("acks: must be all (-1) when enable.idempotence is true, got " +
              std::to_string(static_cast<int>(out.acks)));
      disable = true;
    }
    if (out.max_in_flight > max_in_flight_for_idempotence) {
      p.add("max.in.flight.requests.per.connection: must be at most 5 unless "
            "enable.idempotence is false, got " + std::to_string(out.max_in_flight));
    }
    if (disable) enabled = false;
  }
  out.enable_idempotence = enabled;

  if (out.transactional_id && !enabled) {
    p.add(user_set ? "transactional.id: requires idempotence, but enable.idempotence is false"
                   : "transactional.id: requires idempotence, which acks != all or retries = 0 "
                     "turned off");
  }
}

// KafkaProducer.configureDeliveryTimeout: the record must get at least one
// linger plus one request timeout.
void resolve_delivery_timeout(problem_list& p, producer_config& out) {
  const std::int64_t floor_ms =
      std::min(std::clamp<std::int64_t>(out.linger.count(), 0, int32_max) +
                   std::clamp<std::int64_t>(out.request_timeout.count(), 0, int32_max),
               int32_max);
  if (out.delivery_timeout) {
    if (out.delivery_timeout->count() < floor_ms && out.delivery_timeout->count() >= 0) {
      p.add("delivery.timeout.ms: must be >= linger.ms + request.timeout.ms (" +
            std::to_string(out.linger.count()) + " + " + std::to_string(out.request_timeout.count()) +
            "), got " + std::to_string(out.delivery_timeout->count()));
    }
  } else {
    out.delivery_timeout = milliseconds(std::max<std::int64_t>(120000, floor_ms));
  }
}

}  // namespace

result<host_port> parse_host_port(std::string_view text) {
  if (text.empty()) return host_port_error(text, "empty");
  if (text.find("://") != std::string_view::npos)
    return host_port_error(text, "expected host:port without a scheme");
  host_port out;
  std::string_view port_text;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return host_port_error(text, "missing ']'");
    const std::string_view host = text.substr(1, close - 1);
    if (host.empty() || host.find(':') == std::string_view::npos)
      return host_port_error(text, "brackets must hold an IPv6 address");
    for (char c : host) {
      if (!valid_host_char(c) && c != ':') return host_port_error(text, "invalid character in host");
    }
    if (close + 1 >= text.size() || text[close + 1] != ':')
      return host_port_error(text, "expected host:port");
    out.host = std::string(host);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return host_port_error(text, "expected host:port");
    const std::string_view host = text.substr(0, colon);
    if (host.empty()) return host_port_error(text, "empty host");
    if (host.find(':') != std::string_view::npos)
      return host_port_error(text, "write IPv6 addresses as [address]:port");
    for (char c : host) {
      if (!valid_host_char(c)) return host_port_error(text, "invalid character in host");
    }
    out.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const char* end = port_text.data() + port_text.size();
  auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  if (port_text.empty() || ec != std::errc() || ptr != end || port < 1 || port > 65535)
    return host_port_error(text, "port must be between 1 and 65535");
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

result<producer_config> validate(const producer_config& cfg) {
  problem_list problems;
  check_fields(problems, cfg);

  producer_config out = cfg;
  // Java's KafkaProducer uses (int) min(linger.ms, Integer.MAX_VALUE).
  out.linger = std::min(out.linger, milliseconds(int32_max));
  // Java: batchSize = max(1, batch.size); 0 means "no batching".
  out.batch_size = std::max(out.batch_size, 1);
  // ExponentialBackoff with max < base waits the base every time.
  out.retry_backoff_max = std::max(out.retry_backoff_max, out.retry_backoff);
  out.reconnect_backoff_max = std::max(out.reconnect_backoff_max, out.reconnect_backoff);
  resolve_idempotence(problems, out);
  resolve_delivery_timeout(problems, out);

  if (!problems.empty()) return kprod::error(client_errc::invalid_config, problems.joined());
  return out;
}

}  // namespace kprod
