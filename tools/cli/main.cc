// kprod: command-line producer, load generator and metadata viewer built on
// the kprod library. Flags follow kcat where kcat has one; `perf` output
// follows kafka-producer-perf-test.
#include <csignal>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.h"

namespace {

using kprod::cli::connection_options;

void add_connection_options(CLI::App* cmd, connection_options* c, bool with_properties = true) {
  cmd->add_option("-b,--brokers", c->brokers, "Bootstrap brokers, host:port[,host:port...]");
  cmd->add_option("--mock-cluster", c->mock_brokers,
                  "Instead of -b: start an embedded mock cluster (librdkafka) of N brokers for this "
                  "command's lifetime")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--partitions", c->mock_partitions,
                  "With --mock-cluster: partitions of the topics it creates (default 6)")
      ->check(CLI::Range(1, 10000));
  if (with_properties) {
    cmd->add_option("-X", c->properties, "Producer property PROP=VALUE (Java names; repeatable)")
        ->allow_extra_args(false)
        ->type_name("PROP=VALUE");
    cmd->add_option("-F", c->properties_file, "Producer properties file (key=value lines, # comments)")
        ->type_name("FILE");
  }
}

// -b xor --mock-cluster.
bool check_connection(const char* cmd, const connection_options& c) {
  if (c.brokers.empty() == (c.mock_brokers == 0)) {
    std::fprintf(stderr, "kprod %s: give exactly one of -b BROKERS and --mock-cluster N\n", cmd);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  using namespace kprod::cli;

  CLI::App app{"kprod - Kafka producer command line (produce, load test, metadata)", "kprod"};
  app.set_version_flag("--version", std::string(version));
  app.require_subcommand(1);
  app.footer("Run 'kprod COMMAND --help' for a command's options.");

  produce_options prod;
  auto* produce = app.add_subcommand("produce", "Produce one record per input line (files or stdin)");
  add_connection_options(produce, &prod.conn);
  produce->add_option("-t,--topic", prod.topic, "Topic")->required();
  produce->add_option("-p,--partition", prod.partition, "Partition (default: the partitioner decides)");
  produce->add_option("-K", prod.key_delimiter,
                      "Key delimiter: lines are KEY<DELIM>VALUE (escapes: \\t \\n \\r \\\\ \\0 \\xNN)")
      ->type_name("DELIM");
  produce->add_option("-H", prod.headers, "Header NAME=VALUE added to every record (repeatable)")
      ->allow_extra_args(false)
      ->type_name("NAME=VALUE");
  produce->add_option("-z", prod.compression, "Compression codec")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));
  produce->add_option("files", prod.files, "Input files (default: stdin; '-' is stdin)")->type_name("FILE");

  perf_options perf;
  auto* perf_cmd = app.add_subcommand("perf", "Producer load test (kafka-producer-perf-test style)");
  add_connection_options(perf_cmd, &perf.conn);
  perf_cmd->add_option("-t,--topic", perf.topic, "Topic")->required();
  perf_cmd->add_option("--num-records", perf.num_records, "Records to send")->required()
      ->check(CLI::NonNegativeNumber);
  perf_cmd->add_option("--record-size", perf.record_size, "Value size in bytes (generated JSON-like text)")
      ->check(CLI::NonNegativeNumber);
  perf_cmd->add_option("--throughput", perf.throughput,
                       "Target records/s, paced open loop (-1 or absent: as fast as possible)");
  perf_cmd->add_option("--keys", perf.keys, "Key the records over K distinct keys (default: null keys)")
      ->check(CLI::NonNegativeNumber);
  perf_cmd->add_option("--payload-file", perf.payload_file, "Values are this file's lines, in turn")
      ->type_name("FILE");
  perf_cmd->add_option("--threads", perf.threads, "Application threads calling send (record i: thread i % N)")
      ->check(CLI::Range(1, 256));
  perf_cmd->add_option("--latency-log", perf.latency_log,
                       "Write one line per acknowledged record: microseconds from the start to when it was due, "
                       "and its ack latency in microseconds (tails over time: start-up, stalls)")
      ->type_name("FILE");
  perf_cmd->add_flag("--json", perf.json, "Print the summary as one JSON object on stdout");

  metadata_options meta;
  auto* metadata = app.add_subcommand("metadata", "Show partitions, leaders, replicas and ISR");
  add_connection_options(metadata, &meta.conn);
  metadata->add_option("-t,--topic", meta.topics, "Topic (repeatable)")->allow_extra_args(false);
  metadata->add_flag("--json", meta.json, "Print JSON on stdout");

  if (argc > 1 && argv[1][0] != '-') {
    const std::string cmd = argv[1];
    if (cmd != "produce" && cmd != "perf" && cmd != "metadata") {
      std::fprintf(stderr, "kprod: unknown subcommand '%s' (expected produce, perf or metadata; see kprod --help)\n",
                   cmd.c_str());
      return exit_usage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? exit_ok : exit_usage;
  }

  if (produce->parsed()) {
    if (!check_connection("produce", prod.conn)) return exit_usage;
    return run_produce(prod);
  }
  if (perf_cmd->parsed()) {
    if (!check_connection("perf", perf.conn)) return exit_usage;
    if (perf_cmd->count("--record-size") == 0 && perf.payload_file.empty()) {
      std::fprintf(stderr, "kprod perf: give --record-size BYTES or --payload-file FILE\n");
      return exit_usage;
    }
    return run_perf(perf);
  }
  if (metadata->parsed()) {
    if (!check_connection("metadata", meta.conn)) return exit_usage;
    return run_metadata(meta);
  }
  return exit_usage;
}
