// fake_broker - an in-process Kafka cluster for producer tests.
//
// N brokers (node ids 1..N), each an Asio TCP listener on 127.0.0.1 with an
// ephemeral port, all served by one io_context thread owned by the
// fake_cluster. It speaks every version kprod implements (the generated
// codecs), so tests can pin what a broker advertises and see the producer
// pick it, and it behaves like a broker where the producer can tell:
//
//  * requests on one connection are handled one at a time, in order (a real
//    broker mutes a connection while a request is being processed);
//  * ApiVersions above the advertised maximum -> UNSUPPORTED_VERSION in the
//    v0 layout listing the supported ApiVersions range (KIP-511); any other
//    API or version not advertised closes the connection;
//  * Metadata: known topics, auto-creation (or UNKNOWN_TOPIC_OR_PARTITION);
//  * InitProducerId: a fresh producer id, epoch 0;
//  * Produce: CRC-checked batches appended to per-partition logs, idempotent
//    sequence checks per (producer id, partition) like the broker's
//    ProducerStateManager (the last 5 batches are remembered for duplicate
//    detection), NOT_LEADER_OR_FOLLOWER when this node does not lead the
//    partition, and no response at all for acks=0.
//
// Faults are scripted with interceptors (franz-go kfake's ControlKey): see
// control(). All public methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "protocol/generated/produce_request.h"

namespace kprod::test {

// What an interceptor sees of one request.
struct request_view {
  std::int32_t node_id = -1;
  std::uint64_t connection_id = 0;  // unique per accepted connection
  std::int16_t api_key = -1;
  std::int16_t api_version = -1;
  std::int32_t correlation_id = 0;
  std::string client_id;
  std::span<const std::uint8_t> body;  // after the request header
  // Decoded Produce request (nullptr for other APIs or a malformed body).
  const protocol::produce_request* produce = nullptr;
};

// What an interceptor decides. `pass()` leaves the request to the next
// interceptor (or the default handling) and keeps the interceptor registered;
// anything else handles it, and the interceptor is then removed unless it was
// registered with keep = true.
struct action {
  enum class kind { pass, respond, drop };
  kind what = kind::pass;
  // Run the default handling first (Produce: validate and append). False:
  // the broker state is left untouched.
  bool apply = true;
  // respond: replace every error code of the answer (each Produce partition,
  // each Metadata topic, the top-level code elsewhere); Produce offsets
  // become -1 unless the code is 0.
  std::optional<std::int16_t> error_code;
  // Produce: only partitions for which this returns true get error_code (and,
  // when !apply, are left unapplied); the others are handled normally.
  std::function<bool(std::string_view topic, std::int32_t partition)> error_filter;
  std::optional<std::int32_t> throttle_ms;               // respond: throttle_time_ms
  std::optional<std::vector<std::uint8_t>> raw_body;     // respond: these body bytes instead
  std::function<void(std::vector<std::uint8_t>& body)> edit_body;  // respond: edit the encoded body
  std::optional<std::int32_t> correlation_id;            // respond with this correlation id
  std::chrono::milliseconds delay{0};                    // respond/drop: wait first

  static action pass() { return {}; }
  // The default answer (with whatever fields the caller sets afterwards).
  static action respond() {
    action a;
    a.what = kind::respond;
    return a;
  }
  // Answer with `code` without touching broker state.
  static action error(std::int16_t code) {
    action a = respond();
    a.apply = false;
    a.error_code = code;
    return a;
  }
  // Apply, then answer with `code` (e.g. DUPLICATE_SEQUENCE_NUMBER).
  static action error_after_apply(std::int16_t code) {
    action a = respond();
    a.error_code = code;
    return a;
  }
  // Close the connection without answering, before or after applying.
  static action drop_before() {
    action a;
    a.what = kind::drop;
    a.apply = false;
    return a;
  }
  static action drop_after() {
    action a;
    a.what = kind::drop;
    return a;
  }
  action& after(std::chrono::milliseconds d) {
    delay = d;
    return *this;
  }
  action& only(std::string topic, std::int32_t partition) {
    error_filter = [topic = std::move(topic), partition](std::string_view t, std::int32_t p) {
      return t == topic && p == partition;
    };
    return *this;
  }
};

using control_fn = std::function<action(const request_view&)>;

// One record as the fake stored it.
struct stored_record {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::int64_t timestamp = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t sequence = -1;  // this record's sequence (base + delta), -1 without idempotence
  std::int16_t produce_version = -1;
  // Transactions (fake_txn_handlers.cc): the batch's transactional bit, and
  // what became of its transaction (open until EndTxn).
  bool transactional = false;
  enum class txn_outcome : std::int8_t { none, open, committed, aborted } outcome = txn_outcome::none;
};

// One transactional step as the fake saw it, in arrival order.
struct txn_event {
  enum class kind { init_producer_id, add_partitions, produce, add_offsets, offset_commit, end_txn };
  kind what = kind::produce;
  std::string transactional_id;
  std::string topic;            // add_partitions / produce / offset_commit
  std::int32_t partition = -1;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  bool commit = false;          // end_txn
  bool partition_in_txn = false;  // produce: AddPartitionsToTxn had added it
  std::int16_t error_code = 0;  // what the fake answered
  std::int32_t node_id = -1;
};

// One request as seen (after the header was parsed).
struct seen_request {
  std::int32_t node_id;
  std::uint64_t connection_id;
  std::int16_t api_key;
  std::int16_t api_version;
  std::int32_t correlation_id;
  std::chrono::steady_clock::time_point received;
  std::chrono::steady_clock::time_point answered;  // time_point{} when never answered
  std::vector<std::int16_t> produce_errors;  // Produce: the error code of each partition answered
};

struct fake_cluster_options {
  int brokers = 1;
  bool auto_create_topics = true;
  int default_partitions = 3;
  // A duplicate of one of the last 5 batches gets DUPLICATE_SEQUENCE_NUMBER
  // (as the brief of older brokers); false: success with the original base
  // offset (what brokers since 2.x answer).
  bool duplicate_as_error = true;
  // The sequence a new producer (or epoch) must start at (0 like a broker's
  // strict check; tests of the INT32_MAX -> 0 wrap start elsewhere).
  std::int32_t first_sequence = 0;
};

class fake_cluster {
 public:
  explicit fake_cluster(fake_cluster_options opts = {});
  ~fake_cluster();
  fake_cluster(const fake_cluster&) = delete;
  fake_cluster& operator=(const fake_cluster&) = delete;

  // "127.0.0.1:port,..." of every broker.
  std::string bootstrap() const;
  std::uint16_t port(std::int32_t node_id) const;
  int broker_count() const;

  // ---- what the brokers advertise (all brokers alike) ----------------------
  // Default: every API in protocol::client_api_versions with its full range.
  void set_api_versions(std::int16_t api_key, std::int16_t min_version, std::int16_t max_version);
  void remove_api(std::int16_t api_key);

  // ---- topics ----------------------------------------------------------------
  // Leaders default to round robin over the brokers (partition p -> node p % N + 1).
  void create_topic(const std::string& topic, int partitions, std::vector<std::int32_t> leaders = {});
  // Moves a partition's leadership (bumps its leader epoch).
  void set_leader(const std::string& topic, std::int32_t partition, std::int32_t node_id);
  std::int32_t leader(const std::string& topic, std::int32_t partition) const;
  int partition_count(const std::string& topic) const;  // 0 for an unknown topic

  // ---- interceptors ----------------------------------------------------------
  // api_key -1 matches every API. Interceptors run in registration order;
  // one that handles a request (returns anything but pass) is removed unless
  // keep. Runs on the fake's I/O thread; it may call this object's methods.
  void control(std::int16_t api_key, control_fn fn, bool keep = false);
  void clear_controls();
  // Interceptors still registered (not yet consumed).
  std::size_t controls_pending() const;

  // ---- observations ------------------------------------------------------------
  std::size_t requests(std::int16_t api_key) const;
  std::size_t requests(std::int16_t api_key, std::int16_t version) const;
  // Versions seen for an API, sorted, without repeats.
  std::vector<std::int16_t> versions_seen(std::int16_t api_key) const;
  std::vector<seen_request> seen(std::int16_t api_key) const;
  std::size_t connections_accepted() const;
  std::size_t connections_closed_by_client() const;

  std::vector<stored_record> records(const std::string& topic, std::int32_t partition) const;
  // Every partition's records, partition by partition, in offset order.
  std::vector<stored_record> records(const std::string& topic) const;
  std::size_t record_count(const std::string& topic) const;

  // ---- transactions ------------------------------------------------------------------
  // Coordinator of a transactional id (key_type 1) or group (0); default node 1.
  void set_coordinator(std::int8_t key_type, const std::string& key, std::int32_t node_id);
  std::vector<txn_event> txn_events() const;
  // Offsets committed for a group by committed transactions: (topic, partition) -> offset.
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> committed_offsets(const std::string& group) const;

  // Closes every open connection to `node_id` (-1: all brokers).
  void drop_connections(std::int32_t node_id = -1);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace kprod::test
