// config_reference.cc - the table of producer configuration keys.
//
// One row per key producer_config_from_properties() accepts. It is the single
// source for the README table, `kprod --help-config` and the "must be ..."
// part of configuration error messages, so keep rule texts phrased to follow
// "must be".
#include <string>

#include "kprod/config.h"

namespace kprod {
namespace {

using t = config_type;

constexpr config_key_info keys[] = {
    // connection
    {"bootstrap.servers", t::list, "",
     "a non-empty comma-separated list of host:port ([ipv6]:port), ports 1-65535, no duplicates",
     "Brokers to contact first to discover the cluster (required)."},
    {"client.id", t::string, "kprod", "a string of at most 32767 bytes",
     "Name sent with every request, for broker logs and quotas."},
    {"client.dns.lookup", t::choice, "use_all_dns_ips",
     "one of: use_all_dns_ips, resolve_canonical_bootstrap_servers_only",
     "How broker host names are resolved and tried."},
    {"kprod.broker.address.override", t::list, "",
     "a comma-separated list of advertised host:port=reachable host:port pairs",
     "kprod only: connect to another address than a broker advertises (port-forwards, proxies)."},
    // durability and ordering
    {"acks", t::choice, "all", "one of: all, -1, 0, 1",
     "Replicas that must have a record before it is acknowledged (all = -1 = in-sync replicas)."},
    {"enable.idempotence", t::boolean, "true", "true or false",
     "Exactly-once writes per partition; when not set, acks != all or retries = 0 disable it."},
    {"retries", t::int32, "2147483647", "an integer between 0 and 2147483647",
     "Retries of a failed batch (bounded in time by delivery.timeout.ms)."},
    {"max.in.flight.requests.per.connection", t::int32, "5", "an integer >= 1",
     "Unacknowledged produce requests per broker; at most 5 with idempotence."},
    {"transactional.id", t::string, "", "a non-empty string",
     "Identity for transactions across producer restarts; requires idempotence."},
    {"transaction.timeout.ms", t::duration_ms, "60000", "an integer between 1 and 2147483647",
     "How long the coordinator lets a transaction stay open before aborting it."},
    // batching and memory
    {"linger.ms", t::duration_ms, "5", "an integer >= 0",
     "How long to wait for more records before sending a batch that is not full."},
    {"batch.size", t::int32, "16384", "an integer >= 0",
     "Target batch size in bytes per partition (0 = one record per batch); also the sticky budget."},
    {"buffer.memory", t::int64, "33554432", "an integer >= 0",
     "Bytes of records the producer may hold before send() blocks."},
    {"max.block.ms", t::duration_ms, "60000", "an integer >= 0",
     "How long send() may block for buffer space or metadata."},
    {"max.request.size", t::int32, "1048576", "an integer >= 0",
     "Largest produce request in bytes; also caps one uncompressed record batch."},
    {"compression.type", t::choice, "none", "one of: none, gzip, snappy, lz4, zstd",
     "Codec for record batches."},
    {"compression.gzip.level", t::int32, "-1", "an integer between 1 and 9, or -1",
     "gzip level (-1 = zlib's default, 6)."},
    {"compression.lz4.level", t::int32, "9", "an integer between 1 and 17", "lz4 level."},
    {"compression.zstd.level", t::int32, "3", "an integer between -131072 and 22", "zstd level."},
    // timeouts and retries
    {"delivery.timeout.ms", t::duration_ms, "120000",
     "an integer between 0 and 2147483647, and >= linger.ms + request.timeout.ms",
     "Upper bound from send() to success or failure; raised to linger + request timeout when not set."},
    {"request.timeout.ms", t::duration_ms, "30000", "an integer between 0 and 2147483647",
     "How long to wait for a broker's response before retrying."},
    {"retry.backoff.ms", t::duration_ms, "100", "an integer >= 0",
     "First wait before retrying a failed request; doubles up to retry.backoff.max.ms."},
    {"retry.backoff.max.ms", t::duration_ms, "1000", "an integer >= 0",
     "Longest retry wait (values below retry.backoff.ms mean a constant retry.backoff.ms)."},
    // partitioning
    {"kprod.partitioner", t::choice, "default", "one of: default, round_robin, uniform_sticky",
     "kprod only: built-in partitioner (default = murmur2 for keys, KIP-794 sticky otherwise)."},
    {"partitioner.class", t::choice, "",
     "one of: org.apache.kafka.clients.producer.RoundRobinPartitioner, "
     "org.apache.kafka.clients.producer.UniformStickyPartitioner",
     "Java built-in partitioner class names, mapped to kprod.partitioner; custom "
     "partitioners are set in code."},
    {"partitioner.ignore.keys", t::boolean, "false", "true or false",
     "Partition keyed records like null-key ones (sticky) instead of by key hash."},
    {"partitioner.adaptive.partitioning.enable", t::boolean, "true", "true or false",
     "Sticky partitioner favours partitions with shorter queues."},
    {"partitioner.availability.timeout.ms", t::duration_ms, "0", "an integer >= 0",
     "Skip partitions whose leader has not drained for this long (0 = off; needs adaptive)."},
    // metadata and sockets
    {"metadata.max.age.ms", t::duration_ms, "300000", "an integer >= 0",
     "Refresh metadata at least this often."},
    {"metadata.max.idle.ms", t::duration_ms, "300000", "an integer >= 5000",
     "Forget metadata of topics not produced to for this long."},
    {"reconnect.backoff.ms", t::duration_ms, "50", "an integer >= 0",
     "First wait before reconnecting to a broker; doubles up to reconnect.backoff.max.ms."},
    {"reconnect.backoff.max.ms", t::duration_ms, "1000", "an integer >= 0",
     "Longest reconnect wait (when not set but reconnect.backoff.ms is: equal to it)."},
    {"connections.max.idle.ms", t::duration_ms, "540000", "an integer >= 0",
     "Close connections idle for this long."},
    {"socket.connection.setup.timeout.ms", t::duration_ms, "10000", "an integer >= 0",
     "First timeout for establishing a connection; doubles per failure."},
    {"socket.connection.setup.timeout.max.ms", t::duration_ms, "30000", "an integer >= 0",
     "Longest connection setup timeout."},
    {"send.buffer.bytes", t::int32, "131072", "an integer >= -1",
     "Socket send buffer (SO_SNDBUF); -1 = OS default."},
    {"receive.buffer.bytes", t::int32, "32768", "an integer >= -1",
     "Socket receive buffer (SO_RCVBUF); -1 = OS default."},
};

std::string escape_cell(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

}  // namespace

std::span<const config_key_info> config_reference() noexcept {
  return keys;
}

const config_key_info* find_config_key(std::string_view key) noexcept {
  for (const auto& k : config_reference()) {
    if (k.key == key) return &k;
  }
  return nullptr;
}

std::string_view to_string(config_type type) noexcept {
  switch (type) {
    case config_type::string: return "string";
    case config_type::list: return "list";
    case config_type::boolean: return "boolean";
    case config_type::int32: return "int";
    case config_type::int64: return "long";
    case config_type::duration_ms: return "duration (ms)";
    case config_type::choice: return "choice";
  }
  return "unknown";
}

std::string config_reference_markdown() {
  std::string out = "| Key | Type | Default | Valid values | Description |\n";
  out += "| --- | --- | --- | --- | --- |\n";
  for (const auto& k : config_reference()) {
    out += "| `";
    out += k.key;
    out += "` | ";
    out += to_string(k.type);
    out += " | ";
    if (k.default_text.empty()) {
      out += "(none)";
    } else {
      out += '`';
      out += k.default_text;
      out += '`';
    }
    out += " | ";
    out += escape_cell(k.rule);
    out += " | ";
    out += escape_cell(k.doc);
    out += " |\n";
  }
  return out;
}

}  // namespace kprod
