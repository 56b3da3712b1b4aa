// cluster - what the producer knows about the Kafka cluster, and its
// connections to it. I/O thread only.
//
// * Bootstrap: servers are tried in order; one that fails is skipped (with
//   backoff) for the next, so a dead first address costs one attempt.
// * Metadata: fetched for the topics the producer uses, when a topic is new,
//   when metadata.max.age.ms has passed, and when the sender reports a stale
//   leader (NOT_LEADER_OR_FOLLOWER, ...) or a lost connection. Each response
//   becomes a new immutable snapshot.
// * Connections: one per broker, opened on demand, reconnected with
//   exponential backoff (reconnect.backoff.ms .. reconnect.backoff.max.ms).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>

#include "client/connection.h"
#include "kprod/config.h"

namespace kprod::client {

using clock = std::chrono::steady_clock;

struct partition_snapshot {
  std::int32_t id = -1;
  std::int32_t leader = -1;
  std::int32_t leader_epoch = -1;
  std::int16_t error = 0;
  std::vector<std::int32_t> replicas, isr;
};

struct topic_snapshot {
  std::string name;
  std::int16_t error = 0;
  std::vector<partition_snapshot> partitions;  // sorted by id
};

struct broker_address {
  std::string host;
  std::uint16_t port = 0;
};

struct cluster_snapshot {
  std::map<std::int32_t, broker_address> brokers;
  std::unordered_map<std::string, topic_snapshot> topics;
  clock::time_point fetched_at{};
};

class cluster {
 public:
  using metadata_listener = std::function<void(const cluster_snapshot&, const std::vector<std::string>& updated)>;

  cluster(asio::io_context& io, const producer_config& cfg, std::function<void()> on_event);
  ~cluster();

  void set_metadata_listener(metadata_listener l) { listener_ = std::move(l); }

  // A ready connection to broker `node_id`, or nullptr (then a connection is
  // being opened, or waits for its backoff).
  std::shared_ptr<connection> ready_connection(std::int32_t node_id, clock::time_point now);
  // A ready connection to any broker (bootstrap servers before metadata).
  std::shared_ptr<connection> any_ready_connection(clock::time_point now);

  void want_topics(const std::vector<std::string>& topics);
  // metadata.max.idle.ms: stop refreshing topics nobody produced to lately.
  void forget_topics(const std::vector<std::string>& topics);
  void request_update() { update_requested_ = true; }
  // Asks for every topic of the cluster with the next Metadata request.
  void request_full_metadata() {
    full_requested_ = true;
    update_requested_ = true;
  }
  // Bumped (any thread may read it) each time a full Metadata response was
  // applied, before the metadata listener runs.
  std::uint64_t full_metadata_generation() const noexcept { return full_generation_.load(); }
  // Sends a metadata request when one is due. Returns when to call again.
  clock::time_point poll(clock::time_point now);

  std::shared_ptr<const cluster_snapshot> snapshot() const { return snapshot_; }
  bool has_metadata() const { return snapshot_->fetched_at != clock::time_point{}; }
  // Why the last attempt to reach the cluster failed (empty if it did not).
  const kprod::error& last_error() const { return last_error_; }

  void close_all();
  // Closes the connection to a broker that sent bytes we cannot trust.
  void disconnect(std::int32_t node_id, const kprod::error& why);
  // The earliest time a connection asked for (ready_connection) may be
  // attempted again; max when none waits. Cleared by the call.
  clock::time_point take_reconnect_wakeup() {
    auto t = reconnect_wakeup_;
    reconnect_wakeup_ = clock::time_point::max();
    return t;
  }

 private:
  struct node {
    std::int32_t id;
    broker_address address;
    std::shared_ptr<connection> conn;
    int failures = 0;
    clock::time_point next_attempt{};
  };

  void connect(node& n, clock::time_point now);
  clock::time_point close_idle_connections(clock::time_point now);
  void on_closed(std::int32_t node_id, const kprod::error& why);
  void send_metadata(connection& c, clock::time_point now);
  void on_metadata(std::int32_t node_id, std::int16_t version, bool full, const kprod::error& e,
                   std::span<const std::uint8_t> body);
  std::chrono::milliseconds backoff(int failures);
  std::chrono::milliseconds setup_timeout(int failures);
  broker_address resolve_override(const broker_address& a) const;

  asio::io_context& io_;
  const producer_config cfg_;
  std::function<void()> on_event_;
  metadata_listener listener_;
  connection_options conn_opts_;
  std::mt19937 rng_{std::random_device{}()};

  std::map<std::int32_t, node> nodes_;  // bootstrap servers use ids -1, -2, ...
  std::size_t next_bootstrap_ = 0;
  std::set<std::string> wanted_topics_;
  bool update_requested_ = true;
  bool metadata_in_flight_ = false;
  clock::time_point last_metadata_attempt_{};
  std::shared_ptr<const cluster_snapshot> snapshot_ = std::make_shared<cluster_snapshot>();
  kprod::error last_error_;
  bool closed_ = false;
  bool full_requested_ = false;
  std::atomic<std::uint64_t> full_generation_{0};
  clock::time_point reconnect_wakeup_ = clock::time_point::max();
};

}  // namespace kprod::client
