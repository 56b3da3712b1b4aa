// mock_cluster: a librdkafka 2.0.2 mock cluster running in its own process
// (kprod_mock_cluster), driven over its stdin/stdout line protocol.
//
// Each test starts its own cluster; ports are chosen by the mock, so tests
// can run in parallel. At teardown assert that the host did not crash:
//   EXPECT_TRUE(exited_cleanly(cluster->stop()));
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kprod/result.h"
#include "support/subprocess.h"

namespace kprod::test {

// Kafka API keys the fault commands are usually aimed at.
namespace api_key {
inline constexpr std::int16_t produce = 0;
inline constexpr std::int16_t fetch = 1;
inline constexpr std::int16_t list_offsets = 2;
inline constexpr std::int16_t metadata = 3;
inline constexpr std::int16_t find_coordinator = 10;
inline constexpr std::int16_t api_versions = 18;
inline constexpr std::int16_t init_producer_id = 22;
inline constexpr std::int16_t add_partitions_to_txn = 24;
inline constexpr std::int16_t add_offsets_to_txn = 25;
inline constexpr std::int16_t end_txn = 26;
inline constexpr std::int16_t txn_offset_commit = 28;
}  // namespace api_key

// librdkafka's "close the connection instead of answering" pseudo error.
inline constexpr int transport_error = -195;

struct mock_cluster_options {
  int brokers = 3;
  // Created at start: (name, partitions).
  std::vector<std::pair<std::string, int>> topics;
  // Leader of partition p = broker (p % brokers) + 1; else the mock picks at random.
  bool spread_leaders = true;
  std::chrono::milliseconds start_timeout{15000};
  std::chrono::milliseconds command_timeout{15000};
  // Defaults to the path CMake compiled in (KP_MOCK_CLUSTER_HOST).
  std::string host_path;
};

class mock_cluster {
 public:
  static result<std::unique_ptr<mock_cluster>> start(mock_cluster_options opts = {});
  // Shorthand (designated initializers of mock_cluster_options trip g++ 12's
  // -Wmissing-field-initializers).
  static result<std::unique_ptr<mock_cluster>> start(int brokers,
                                                     std::vector<std::pair<std::string, int>> topics = {});

  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;
  ~mock_cluster();  // stop() if not yet stopped

  // "127.0.0.1:port,127.0.0.1:port,..."
  const std::string& bootstrap() const noexcept { return bootstrap_; }
  int broker_count() const noexcept { return brokers_; }
  pid_t pid() const noexcept { return child_.pid(); }

  // One command line (no newline). OK -> the data after "OK " (maybe empty);
  // ERR -> error(invalid_argument, the host's message); no reply within the
  // command timeout -> timed_out; host gone -> connection_lost. After a
  // timeout or a dead host every later command fails.
  result<std::string> command(std::string_view line);
  // Same, raw: *reply gets the whole reply line (or a local error text);
  // true only for an OK reply.
  bool command(std::string_view line, std::string* reply);

  result<void> ping();
  // replication_factor < 1 lets the host choose (2.0.2 ignores it anyway).
  result<void> create_topic(std::string_view topic, int partitions, int replication_factor = -1);
  // broker -1: leaderless (Produce then gets NOT_LEADER_FOR_PARTITION).
  result<void> set_leader(std::string_view topic, std::int32_t partition, std::int32_t broker);
  result<void> broker_down(std::int32_t broker);  // -1: all
  result<void> broker_up(std::int32_t broker);    // -1: all
  result<void> set_rtt(std::int32_t broker, int rtt_ms);  // -1: all
  // Cluster-wide FIFO: the next requests of `api` (any broker) fail with these codes.
  result<void> push_errors(std::int16_t api, const std::vector<int>& codes);
  // Per-broker FIFO of (code, rtt_ms); (0, rtt) = handled now, answered late.
  result<void> push_broker_errors(std::int32_t broker, std::int16_t api,
                                  const std::vector<std::pair<int, int>>& code_rtt_ms);
  result<void> clear_errors(std::int16_t api);  // cluster-wide stack only
  result<std::size_t> error_stack_count(std::int32_t broker, std::int16_t api);
  // Until the broker's stack for `api` is empty; error on timeout.
  result<void> wait_errors_consumed(std::int32_t broker, std::int16_t api,
                                    std::chrono::milliseconds timeout);
  // Only Metadata and AddPartitionsToTxn report it; 0 clears it.
  result<void> set_topic_error(std::string_view topic, int code);
  // key_type: "transaction" or "group".
  result<void> set_coordinator(std::string_view key_type, std::string_view key, std::int32_t broker);
  // (-1, -1) disables the API.
  result<void> set_api_version(std::int16_t api, std::int16_t min_version, std::int16_t max_version);

  // True while the host process runs.
  bool alive();
  // Sends quit, waits up to `timeout`, then SIGTERM and SIGKILL. Idempotent;
  // returns the host's exit status.
  const exit_status& stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Set once the host has ended (after stop(), or once it was seen dead).
  const std::optional<exit_status>& final_status() const noexcept { return child_.status(); }

 private:
  mock_cluster(child_process child, int brokers, mock_cluster_options opts);
  result<std::string> command_with_timeout(std::string_view line, std::chrono::milliseconds timeout);
  result<std::string> read_line(std::chrono::milliseconds timeout);
  result<void> command_void(const std::string& line);

  child_process child_;
  int brokers_;
  mock_cluster_options opts_;
  std::string bootstrap_;
  std::string read_buf_;
  bool broken_ = false;  // protocol out of step or host gone
  std::mutex mu_;
};

// Success iff the host exited with status 0 and was not killed by us.
::testing::AssertionResult exited_cleanly(const exit_status& st);

}  // namespace kprod::test
