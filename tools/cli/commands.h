// commands.h - the kprod subcommands. Each returns the process exit status and
// reports problems on stderr as "kprod <cmd>: ...".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli_common.h"
#include "embedded_cluster.h"
#include "kprod/producer.h"

namespace kprod::cli {

struct produce_options {
  connection_options conn;
  std::string topic;
  std::optional<std::int32_t> partition;  // -p
  std::optional<std::string> key_delimiter;  // -K, escaped as typed
  std::vector<std::string> headers;       // -H NAME=VALUE
  std::string compression;                // -z
  std::vector<std::string> files;         // empty: stdin ("-" also means stdin)
};

struct perf_options {
  connection_options conn;
  std::string topic;
  std::int64_t num_records = 0;
  std::int64_t record_size = 0;
  double throughput = -1;  // records/s; <= 0: unlimited
  std::int64_t keys = 0;   // 0: null keys
  std::string payload_file;
  std::int64_t threads = 1;  // application threads calling send
  bool json = false;
  std::string latency_log;  // per acknowledged record: "due_us latency_us"
};

struct metadata_options {
  connection_options conn;
  std::vector<std::string> topics;
  bool json = false;
};

int run_produce(const produce_options& o);
int run_perf(const perf_options& o);
int run_metadata(const metadata_options& o);

// The embedded mock (if --mock-cluster) and a producer connected to the
// cluster. The mock is started first so that it is forked before the producer
// has threads, and destroyed last.
struct session {
  std::unique_ptr<embedded_cluster> mock;
  std::unique_ptr<producer> prod;
  std::string bootstrap;
  ~session() { prod.reset(); }  // close the producer before the brokers go
};

// Prints the problem as "kprod <cmd>: ..." and returns nullptr on failure.
std::unique_ptr<session> open_session(const char* cmd, const connection_options& conn,
                                      const std::vector<std::string>& mock_topics,
                                      const std::map<std::string, std::string>& extra_props = {});

}  // namespace kprod::cli
