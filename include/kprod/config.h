// kprod/config.h - the producer's configuration.
//
// A typed struct whose fields carry the Java producer's property names and
// Java 4.x defaults, plus a parser for Java-style properties. Either way, a
// configuration goes through validate() before use: it reports every problem
// at once and returns the *effective* configuration (idempotence resolved,
// delivery timeout adjusted, ...), the way Java's ProducerConfig post-processes.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kprod/result.h"
#include "kprod/types.h"

namespace kprod {

class partitioner;  // kprod/partitioner.h

// client.dns.lookup
enum class client_dns_lookup : std::uint8_t {
  use_all_dns_ips,                          // try every address a name resolves to
  resolve_canonical_bootstrap_servers_only  // bootstrap names: resolve, then use canonical names
};

// Built-in partitioning strategy (kprod.partitioner / partitioner.class).
enum class partitioner_kind : std::uint8_t {
  builtin,         // "default": murmur2 for keys, KIP-794 uniform sticky for null keys
  round_robin,     // "round_robin": Java's RoundRobinPartitioner; keys are ignored
  uniform_sticky,  // "uniform_sticky": sticky for every record; keys are ignored
};

struct producer_config {
  // ---- connection -------------------------------------------------------------
  std::vector<std::string> bootstrap_servers;  // bootstrap.servers: "host:port", "[::1]:9092" (required)
  std::string client_id = "kprod";             // client.id
  client_dns_lookup dns_lookup = client_dns_lookup::use_all_dns_ips;  // client.dns.lookup
  // kprod.broker.address.override: advertised "host:port" -> "host:port" to
  // connect to instead (port-forwards, test proxies).
  std::map<std::string, std::string> broker_address_overrides;

  // ---- durability and ordering -------------------------------------------------
  kprod::acks acks = kprod::acks::all;  // acks: all/-1, 0, 1
  // enable.idempotence. Unset: on, unless acks != all or retries == 0 turn it
  // off (Java's implicit rule); explicitly true with those is an error.
  // Always engaged in validate()'s result.
  std::optional<bool> enable_idempotence;
  std::int32_t retries = std::numeric_limits<std::int32_t>::max();  // retries
  std::int32_t max_in_flight = 5;  // max.in.flight.requests.per.connection (<= 5 with idempotence)
  std::optional<std::string> transactional_id;            // transactional.id
  std::chrono::milliseconds transaction_timeout{60000};   // transaction.timeout.ms

  // ---- batching and memory ------------------------------------------------------
  std::chrono::milliseconds linger{5};        // linger.ms
  std::int32_t batch_size = 16384;            // batch.size (0 = one record per batch; effective >= 1)
  std::int64_t buffer_memory = 32 * 1024 * 1024;  // buffer.memory
  std::chrono::milliseconds max_block{60000};  // max.block.ms
  std::int32_t max_request_size = 1048576;     // max.request.size
  compression_type compression = compression_type::none;  // compression.type
  std::int32_t gzip_level = -1;  // compression.gzip.level: 1..9, -1 = zlib default (6)
  std::int32_t lz4_level = 9;    // compression.lz4.level: 1..17
  std::int32_t zstd_level = 3;   // compression.zstd.level: -131072..22
  // Threads that compress full batches off the I/O thread (no property;
  // kprod internal): -1 = min(hardware threads, 4), 0 = the sending thread
  // that filled a batch compresses it. Unused without compression.
  std::int32_t compression_threads = -1;

  // ---- timeouts and retries -----------------------------------------------------
  // delivery.timeout.ms. Unset: 120000, raised to linger + request timeout if
  // that is larger (Java); set explicitly below that sum: an error. Always
  // engaged in validate()'s result.
  std::optional<std::chrono::milliseconds> delivery_timeout;
  std::chrono::milliseconds request_timeout{30000};     // request.timeout.ms
  std::chrono::milliseconds retry_backoff{100};         // retry.backoff.ms
  std::chrono::milliseconds retry_backoff_max{1000};    // retry.backoff.max.ms

  // ---- partitioning ---------------------------------------------------------------
  partitioner_kind partitioner_choice = partitioner_kind::builtin;
  // A custom partitioner; when set it decides every record without an
  // explicit partition, and the partitioner.* settings below do not apply.
  std::shared_ptr<kprod::partitioner> partitioner;
  bool partitioner_ignore_keys = false;                         // partitioner.ignore.keys
  bool partitioner_adaptive = true;                             // partitioner.adaptive.partitioning.enable
  std::chrono::milliseconds partitioner_availability_timeout{0};  // partitioner.availability.timeout.ms (0 = off)

  // ---- metadata and sockets -------------------------------------------------------
  std::chrono::milliseconds metadata_max_age{300000};   // metadata.max.age.ms
  std::chrono::milliseconds metadata_max_idle{300000};  // metadata.max.idle.ms (>= 5000)
  std::chrono::milliseconds reconnect_backoff{50};      // reconnect.backoff.ms
  std::chrono::milliseconds reconnect_backoff_max{1000};  // reconnect.backoff.max.ms
  std::chrono::milliseconds connections_max_idle{540000};  // connections.max.idle.ms
  std::chrono::milliseconds socket_connection_setup_timeout{10000};      // socket.connection.setup.timeout.ms
  std::chrono::milliseconds socket_connection_setup_timeout_max{30000};  // socket.connection.setup.timeout.max.ms
  std::int32_t send_buffer_bytes = 131072;    // send.buffer.bytes (-1 = OS default)
  std::int32_t receive_buffer_bytes = 32768;  // receive.buffer.bytes (-1 = OS default)

  friend bool operator==(const producer_config&, const producer_config&) = default;
};

// Parses Java-style properties ("linger.ms" -> "10") into a validated,
// effective configuration. Unknown keys, values of the wrong type and values
// out of range are all collected into one invalid_config error whose detail
// names each key and its rule, e.g. "linger.ms: must be an integer >= 0, got 'abc'".
// Values are trimmed; durations are integer milliseconds; booleans are
// true/false in any case.
result<producer_config> producer_config_from_properties(
    const std::map<std::string, std::string>& props);

// Checks every field and the cross-field rules, reporting all problems at
// once (invalid_config; problems separated by "; "). Returns the effective
// configuration: enable_idempotence and delivery_timeout engaged, batch_size
// at least 1, backoff maxima at least their base values.
result<producer_config> validate(const producer_config& cfg);

// "host:port" or "[ipv6]:port", as bootstrap.servers entries are written.
struct host_port {
  std::string host;  // without brackets
  std::uint16_t port = 0;
};
result<host_port> parse_host_port(std::string_view text);

// ---- reference table (README configuration section, `kprod --help-config`) --------
enum class config_type : std::uint8_t { string, list, boolean, int32, int64, duration_ms, choice };

struct config_key_info {
  std::string_view key;
  config_type type;
  std::string_view default_text;  // empty: no default (required or unset)
  std::string_view rule;          // what a valid value is: "an integer >= 0"
  std::string_view doc;           // one line
};

// Every key producer_config_from_properties() accepts, in documentation order.
std::span<const config_key_info> config_reference() noexcept;
const config_key_info* find_config_key(std::string_view key) noexcept;
std::string_view to_string(config_type t) noexcept;
// The table as Markdown: | Key | Type | Default | Valid values | Description |
std::string config_reference_markdown();

}  // namespace kprod
