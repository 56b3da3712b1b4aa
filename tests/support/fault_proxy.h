// fault_proxy: a frame-aware TCP proxy between a Kafka client and the mock
// cluster, for faults the mock cannot inject, with a sequence auditor on the
// Produce traffic (support/sequence_auditor.h).
//
// One listener on 127.0.0.1:<ephemeral> per upstream broker. Clients reach it
// either through kprod's `kprod.broker.address.override` (override_config())
// or, for any client, by bootstrapping at bootstrap() with
// fault_proxy_options::rewrite_metadata, which rewrites the brokers of
// Metadata responses and the coordinator of FindCoordinator responses to the
// proxy's listeners.
//
// The proxy runs its own thread and Asio io_context. Every frame is read
// whole (4-byte size prefix), requests are matched to responses by a FIFO of
// (correlation id, api key, version) per connection, and at most one rule
// applies to a frame: the first rule in insertion order that matches.
//
//   auto proxy = fault_proxy::start(cluster->bootstrap());
//   cfg.set("bootstrap.servers", (*proxy)->bootstrap());
//   cfg.set("kprod.broker.address.override", (*proxy)->override_config());
//   (*proxy)->add_rule(fault_rule::on_response(api_key::produce,
//                                              fault::rewrite_produce(6 /* NOT_LEADER */)));
//   ... produce ...
//   EXPECT_TRUE((*proxy)->auditor().no_violations());
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kprod/result.h"
#include "support/fault_proxy_identities.h"
#include "support/sequence_auditor.h"

namespace kprod::test {

enum class frame_direction : std::uint8_t { request, response };

// What a rule predicate sees. `payload` is the frame after its size prefix
// (header included); `body_offset` is where the body starts in it.
struct frame_view {
  frame_direction direction = frame_direction::request;
  std::int16_t api_key = -1;  // -1: unknown (unmatched response, unreadable header)
  std::int16_t api_version = -1;
  std::int32_t correlation_id = -1;
  std::size_t broker = 0;        // index of the upstream broker (listener)
  std::uint64_t connection = 0;  // unique per proxied TCP connection
  std::span<const std::uint8_t> payload;
  std::size_t body_offset = 0;
};

enum class fault_kind : std::uint8_t {
  delay,                // forward after `delay`
  drop_before_forward,  // request: swallowed (the broker never sees it), then both sides closed
  close_after_forward,  // request: forwarded, then both sides closed at once (possibly persisted)
  drop_and_close,       // response: swallowed, then both sides closed (the broker applied the request)
  truncate,             // write the size prefix and `bytes` payload bytes, then close; with
                        // `consistent_length` the prefix says `bytes` and the connection stays
  flip_byte,            // payload[offset] ^= mask (no effect if offset is past the end)
  rewrite_produce,      // Produce response: error codes and/or throttle_time_ms re-encoded
  bogus_length,         // size prefix replaced by `length`, payload sent, then the connection goes silent
  go_silent,            // this frame and everything after it, both ways, swallowed; TCP stays open
  byte_at_a_time,       // written one byte per write, `delay` between bytes
  duplicate,            // written twice
};

struct fault_action {
  fault_kind kind = fault_kind::delay;
  std::chrono::milliseconds delay{0};
  std::size_t bytes = 0;  // truncate
  bool consistent_length = false;
  std::size_t offset = 0;  // flip_byte
  std::uint8_t mask = 0xFF;
  std::int32_t length = 0x7FFFFFFF;  // bogus_length
  // rewrite_produce: the error code for every partition (or only `partition`
  // of `topic` when set) and/or the throttle time.
  std::optional<std::int16_t> error_code;
  std::optional<std::string> topic;
  std::optional<std::int32_t> partition;
  std::optional<std::int32_t> throttle_time_ms;
};

namespace fault {
fault_action delay(std::chrono::milliseconds d);
fault_action drop_before_forward();
fault_action close_after_forward();
fault_action drop_and_close();
fault_action truncate(std::size_t payload_bytes, bool consistent_length = false);
fault_action flip_byte(std::size_t payload_offset, std::uint8_t mask = 0xFF);
fault_action rewrite_produce(std::optional<std::int16_t> error_code,
                             std::optional<std::int32_t> throttle_time_ms = std::nullopt,
                             std::optional<std::string> topic = std::nullopt,
                             std::optional<std::int32_t> partition = std::nullopt);
fault_action bogus_length(std::int32_t length);
fault_action go_silent();
fault_action byte_at_a_time(std::chrono::milliseconds gap = std::chrono::milliseconds(0));
fault_action duplicate();
}  // namespace fault

struct fault_rule {
  frame_direction direction = frame_direction::request;
  std::int16_t api_key = -1;                // -1: any
  std::optional<std::size_t> broker;        // only frames of this upstream broker
  // Runs on the proxy thread under the rules lock: must not call the proxy.
  std::function<bool(const frame_view&)> predicate;
  int nth = 0;               // > 0: apply only from the nth frame that matches the above (1-based)
  double probability = 1.0;  // applied with this probability (the proxy's seeded RNG)
  int times = 1;             // applications before the rule is retired; -1: kept forever
  fault_action action;

  static fault_rule on_request(std::int16_t api_key, fault_action a);
  static fault_rule on_response(std::int16_t api_key, fault_action a);
};

struct chaos_options {
  // Each connection accepted while chaos is on is closed after a uniformly
  // random lifetime in [min_lifetime, max_lifetime] (zero max: off).
  std::chrono::milliseconds min_lifetime{500};
  std::chrono::milliseconds max_lifetime{1500};
  // Probability per request frame of forwarding only a random prefix of it,
  // then closing (the broker never sees a whole request).
  double cut_request_probability = 0.0;
};

struct api_counters {
  std::uint64_t requests = 0;   // request frames read from clients
  std::uint64_t responses = 0;  // response frames read from brokers (matched to this key)
  std::uint64_t faults = 0;     // rule applications on frames of this key
};

struct proxy_stats {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;              // accepted and closed at once (refuse_connections)
  std::uint64_t upstream_failures = 0;    // could not connect to the broker
  std::uint64_t closed_by_fault = 0;      // connections closed by a rule or by chaos
  std::uint64_t unmatched_responses = 0;  // response with no request of that correlation id
  std::uint64_t rewritten_metadata = 0;   // Metadata/FindCoordinator responses rewritten
  std::uint64_t live_connections = 0;
};

struct fault_proxy_options {
  bool rewrite_metadata = false;
  bool audit = true;  // feed Produce traffic to the sequence auditor
  // Log the (pid, epoch, partition, sequence) each record value is sent
  // under (record_identities()); costs a record decode per Produce request.
  bool track_record_identities = false;
  std::uint64_t seed = 1;
  std::size_t max_frame_bytes = std::size_t{256} << 20;  // larger frames close the connection
};

class fault_proxy {
 public:
  // upstream: "host:port,host:port,..." (the mock's bootstrap lists every broker).
  static result<std::unique_ptr<fault_proxy>> start(const std::string& upstream, fault_proxy_options opts = {});
  ~fault_proxy();  // stop()
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  // Closes every listener and connection and joins the thread. Idempotent.
  void stop();

  // "127.0.0.1:p1,127.0.0.1:p2,..." one per upstream broker, in upstream order.
  std::string bootstrap() const;
  // "up1host:up1port=127.0.0.1:p1,..." for kprod.broker.address.override.
  std::string override_config() const;
  std::size_t broker_count() const;
  std::uint16_t listener_port(std::size_t broker) const;
  const std::string& upstream(std::size_t broker) const;

  // Rules: thread-safe, may be changed while traffic flows.
  using rule_id = std::uint64_t;
  rule_id add_rule(fault_rule rule);
  bool remove_rule(rule_id id);
  void clear_rules();
  std::uint64_t rule_hits(rule_id id) const;  // applications so far (kept after retirement)
  // Until the rule was applied `n` times; false on timeout.
  bool wait_rule_hits(rule_id id, std::uint64_t n, std::chrono::milliseconds timeout) const;

  // Connections accepted within `duration` are closed at once. nullopt: all brokers.
  void refuse_connections(std::chrono::milliseconds duration, std::optional<std::size_t> broker = std::nullopt);
  // Closes every live proxied connection now.
  void close_all_connections();
  // Turns chaos on (also for live connections) or off (nullopt).
  void set_chaos(std::optional<chaos_options> chaos);

  api_counters counters(std::int16_t api_key) const;
  proxy_stats stats() const;

  sequence_auditor& auditor() noexcept;
  // Filled only with fault_proxy_options::track_record_identities.
  const record_identity_log& record_identities() const noexcept;
  std::vector<std::string> violations() const;

  struct impl;

 private:
  explicit fault_proxy(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace kprod::test
