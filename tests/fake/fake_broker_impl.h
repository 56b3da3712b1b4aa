// fake_broker_impl.h - the fake cluster's state, shared by the network side
// (fake_broker.cc) and the API handlers (fake_handlers.cc). Not for tests.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "fake/fake_broker.h"

namespace kprod::test {

struct fake_partition {
  std::int32_t leader = 1;
  std::int32_t leader_epoch = 0;
  std::vector<stored_record> log;
  std::int64_t next_offset = 0;
};

struct fake_topic {
  std::array<std::uint8_t, 16> id{};
  std::vector<fake_partition> partitions;
};

// What the broker remembers of one producer on one partition.
struct producer_state {
  struct batch {
    std::int32_t first_seq;
    std::int32_t last_seq;
    std::int64_t base_offset;
  };
  std::int16_t epoch = -1;
  std::deque<batch> last_batches;  // at most 5, as ProducerStateEntry
};

// The response a handler built: the body, or nothing (acks=0).
struct handler_reply {
  bool respond = true;
  std::vector<std::uint8_t> body;
  std::vector<std::int16_t> produce_errors;
};

class fake_session;

// A transactional id as its coordinator remembers it.
struct fake_txn {
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  bool ongoing = false;
  std::set<std::pair<std::string, std::int32_t>> partitions;
  std::set<std::string> groups;
  std::map<std::tuple<std::string, std::string, std::int32_t>, std::int64_t> pending_offsets;  // group, topic, partition
};

struct fake_cluster::impl {
  explicit impl(fake_cluster_options o);

  fake_cluster_options opts;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  struct broker {
    std::int32_t node_id;
    std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
    std::uint16_t port = 0;
  };
  std::vector<broker> brokers;

  mutable std::recursive_mutex mu;  // interceptors may call back into the cluster
  std::map<std::int16_t, std::pair<std::int16_t, std::int16_t>> advertised;
  std::map<std::string, fake_topic> topics;
  std::map<std::tuple<std::int64_t, std::string, std::int32_t>, producer_state> producers;
  std::int64_t next_producer_id = 1000;
  std::uint8_t next_topic_id = 1;

  struct control_entry {
    std::int16_t api_key;
    control_fn fn;
    bool keep;
  };
  std::vector<control_entry> controls;
  std::vector<seen_request> seen_list;
  std::size_t accepted = 0;
  std::size_t client_closed = 0;
  std::uint64_t next_connection_id = 1;
  std::map<std::uint64_t, std::weak_ptr<fake_session>> sessions;

  // Transactions (fake_txn_handlers.cc).
  std::map<std::string, fake_txn> txns;
  std::map<std::pair<std::int8_t, std::string>, std::int32_t> coordinators;  // (key type, key) -> node
  std::map<std::tuple<std::string, std::string, std::int32_t>, std::int64_t> group_offsets;
  std::vector<txn_event> txn_log;
  std::int32_t coordinator_for(std::int8_t key_type, const std::string& key) const;  // under mu
  // Produce of a transactional batch: the error code to answer (0: append),
  // and whether the partition was added to the transaction. Under mu.
  std::int16_t check_txn_produce(const std::optional<std::string>& txn_id, std::int64_t pid, std::int16_t epoch,
                                 const std::string& topic, std::int32_t partition, std::int32_t node_id);
  void end_transaction_locked(const std::string& txn_id, fake_txn& t, bool commit);

  void accept(broker& b);
  void create_topic_locked(const std::string& topic, int partitions, std::vector<std::int32_t> leaders);
  // Runs the interceptors for `rv`: the first that handles it decides.
  action run_controls(const request_view& rv);

  // API handlers (fake_handlers.cc). `a` carries the overrides; when
  // !a.apply the broker state is not touched.
  handler_reply handle_api_versions(const request_view& rv, const action& a);
  handler_reply handle_metadata(const request_view& rv, const action& a);
  handler_reply handle_init_producer_id(const request_view& rv, const action& a);
  handler_reply handle_produce(const request_view& rv, const action& a);
  handler_reply handle_txn_init_producer_id(const request_view& rv, const action& a);
  handler_reply handle_find_coordinator(const request_view& rv, const action& a);
  handler_reply handle_add_partitions_to_txn(const request_view& rv, const action& a);
  handler_reply handle_add_offsets_to_txn(const request_view& rv, const action& a);
  handler_reply handle_txn_offset_commit(const request_view& rv, const action& a);
  handler_reply handle_end_txn(const request_view& rv, const action& a);
};

}  // namespace kprod::test
