// scenario: one fault scenario for kprod's idempotent producer, end to end.
//
// run_scenario() starts a mock cluster (3 brokers, one topic of 6
// partitions) behind a fault proxy, produces N keyed records (10,000 by
// default) through the proxy with a completion per record, applies the
// scenario's faults (proxy rules, mock commands at a record index or a time),
// then checks, with gtest assertions:
//  - every record completes exactly once, within delivery.timeout.ms (+ max
//    block + slack) of being sent, and nothing completes after close();
//  - a success is `persisted` (or `possibly_persisted` with acks=0), a
//    failure is not `persisted`;
//  - the log, read back with kcat (and/or python3-kafka, both with CRC
//    checks), holds no unknown record, no record twice, every acknowledged
//    record at its reported partition/offset, no `not_persisted` record, and
//    per partition the acknowledged records in send order;
//  - the proxy's sequence auditor saw no violation;
//  - with expect::all_succeed, every record succeeded.
// Returns what happened per record for the test's own extra checks.
//
// The mock does not deduplicate an idempotent producer's resends (see
// fault_proxy_identities.h): a record found twice is a failure only if kprod
// sent it under two (pid, epoch, sequence) identities; otherwise it is counted
// in scenario_result::mock_duplicates. Likewise the mock appends a batch past
// a sequence gap (a broker answers OUT_OF_ORDER_SEQUENCE_NUMBER): an ordering
// break is excused only when the record appended late has a lower sequence
// than the one before it in the same (pid, epoch, partition) stream
// (scenario_result::mock_gap_appends); any other break fails.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kprod/producer.h"
#include "support/consume_back.h"
#include "support/fault_proxy.h"
#include "support/mock_cluster.h"

namespace kprod::test {

struct scenario_env {
  mock_cluster& mock;
  fault_proxy& proxy;
  producer& prod;
  const std::string& topic;
  // Ids of the rules added by scenario_options::rules and step::rule, in order.
  std::vector<fault_proxy::rule_id>& rule_ids;
};

// Something done mid-stream: before record `at_record` is sent (inline, on
// the sending thread), or `at_time` after the first send (on a timer thread);
// `delay` later than that trigger when set (always on the timer thread).
struct scenario_step {
  std::optional<std::size_t> at_record;
  std::optional<std::chrono::milliseconds> at_time;
  std::chrono::milliseconds delay{0};
  std::string label;
  std::function<void(scenario_env&)> action;

  // A mock host command (must answer OK), e.g. "leader sc 0 2", "down 2".
  static scenario_step mock(std::size_t at_record, std::string command);
  // A proxy rule; its id is appended to scenario_env::rule_ids.
  static scenario_step rule(std::size_t at_record, fault_rule r);
  // flush() the producer (must succeed within `timeout`).
  static scenario_step flush(std::size_t at_record, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  static scenario_step call(std::size_t at_record, std::string label, std::function<void(scenario_env&)> fn);
  scenario_step& after(std::chrono::milliseconds d) {
    delay = d;
    return *this;
  }
};

// What record i looks like; the default is key "k<i % keys>", value
// "v<i>-" padded to value_bytes, partition from the key.
struct record_spec {
  std::string topic;
  std::optional<std::int32_t> partition;
  std::optional<std::string> key;
  std::string value;  // must stay unique per record: the log is matched by value
};

enum class expect : std::uint8_t { all_succeed, some_may_fail };
enum class finish_mode : std::uint8_t {
  wait,   // wait for every completion, then close()
  flush,  // flush(finish_timeout) right after the last send, then close()
  close,  // close(finish_timeout) right after the last send: all complete by its return
};

struct scenario_options {
  std::string topic = "sc";
  int partitions = 6;
  int brokers = 3;
  bool create_topic = true;
  std::size_t records = 10000;
  int keys = 64;
  std::size_t value_bytes = 24;
  // Optional reshaping of record i (big record, explicit partition, bad input).
  std::function<void(std::size_t, record_spec&)> shape;
  // Sent before the producer exists (e.g. "leader sc 5 1", "topic_err sc 3").
  std::vector<std::string> setup_commands;
  // Producer properties over the defaults (see scenario.cc); "" removes a default.
  std::map<std::string, std::string> config;
  std::vector<fault_rule> rules;  // added before the first send
  std::vector<scenario_step> steps;
  // Pacing: after every `pace_every` records, sleep `pace_sleep`, so that the
  // stream spans the faults (0: no pacing).
  std::size_t pace_every = 250;
  std::chrono::milliseconds pace_sleep{5};
  expect outcome = expect::all_succeed;
  finish_mode finish = finish_mode::wait;
  std::chrono::milliseconds finish_timeout{30000};
  std::chrono::milliseconds completion_slack{5000};
  bool consume_kcat = true;
  bool consume_python = false;
  bool check_auditor = true;
  std::uint64_t proxy_seed = 1;
  // Sent to the mock before consuming back (restores are automatic: "up -1",
  // "rtt -1 0").
  std::vector<std::string> cleanup_commands;
};

struct record_outcome {
  int completions = 0;
  bool ok = false;
  std::error_code code;
  std::string message;
  persistence status = persistence::not_persisted;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::chrono::milliseconds latency{-1};  // completion - the async_send call
  int found_in_log = 0;                   // copies read back (kcat)
};

struct scenario_result {
  std::vector<record_outcome> records;
  std::size_t succeeded = 0, failed = 0;
  std::map<persistence, std::size_t> by_status;
  std::map<std::string, std::size_t> errors;  // error message category -> count
  std::size_t mock_duplicates = 0;  // extra copies a real broker would have deduplicated
  // Records the mock appended after a later-sequenced batch of their stream
  // (a broker would have refused that batch): excluded from the order check.
  std::size_t mock_gap_appends = 0;
  std::vector<std::uint64_t> rule_hits;
  auditor_stats audit;
  proxy_stats proxy;
  producer_metrics metrics;
  std::chrono::milliseconds elapsed{0};
  bool ran = false;  // false if setup failed (a fatal assertion was raised)

  std::string summary() const;
};

scenario_result run_scenario(const scenario_options& opts);

// The value of record i with the default shape.
std::string scenario_value(std::size_t i, std::size_t value_bytes);

}  // namespace kprod::test
