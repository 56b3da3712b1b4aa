// sequence_auditor: an oracle for idempotent Produce traffic that does not
// depend on the broker. librdkafka 2.0.2's mock checks neither CRCs nor the
// sequences of a non-transactional idempotent producer, so the fault proxy
// feeds every Produce request (as the client sent it, before any fault rule
// touched it) and every Produce response (as the client receives it) here.
//
// Checked per batch: CRC-32C, lastOffsetDelta == recordsCount - 1, magic 2.
// Checked per (producer id, epoch, topic, partition) of idempotent batches
// (producer id >= 0):
//  - the first batch starts at sequence 0 (so a new producer id or an epoch
//    bump restarts at 0);
//  - every new batch starts at the previous base + count (no gap, no
//    overlap); the only wrap allowed is INT32_MAX -> 0;
//  - a resend of an already seen base sequence is byte-identical from the
//    attributes field to the end (compared by length and a 64-bit hash);
//  - at most 5 unacknowledged batches per (producer id, topic, partition). A
//    batch is acknowledged when a Produce response with a result for its
//    partition arrives, or when its connection closes (the client may then
//    resend it). acks=0 requests are never counted as unacknowledged.
//
// Thread-safe. Violations are human-readable strings.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace kprod::test {

struct auditor_stats {
  std::uint64_t requests = 0;         // Produce requests audited
  std::uint64_t batches = 0;          // batches parsed (new + resent)
  std::uint64_t records = 0;          // records in new batches
  std::uint64_t resends = 0;          // batches whose (pid, epoch, partition, seq) was already seen
  std::uint64_t responses = 0;        // Produce responses matched to an audited request
  std::uint64_t max_unacked = 0;      // largest unacknowledged count seen on one partition
};

class sequence_auditor {
 public:
  static constexpr int max_unacked_batches = 5;

  // `body` is the request after its header; `connection` any id unique per
  // TCP connection. Malformed input is reported as a violation, never a crash.
  void on_produce_request(std::uint64_t connection, std::int32_t correlation_id, std::int16_t version,
                          std::span<const std::uint8_t> body);
  // `body` is the response after its header, at the request's version.
  void on_produce_response(std::uint64_t connection, std::int32_t correlation_id, std::int16_t version,
                           std::span<const std::uint8_t> body);
  // Every batch still unacknowledged on the connection counts as answered.
  void on_connection_closed(std::uint64_t connection);

  void add_violation(std::string what);
  std::vector<std::string> violations() const;
  auditor_stats stats() const;
  // Success iff no violation; the failure message lists them (at most 20).
  ::testing::AssertionResult no_violations() const;

 private:
  struct seen_batch {
    std::int32_t count = 0;
    std::size_t length = 0;  // bytes from attributes to the end
    std::uint64_t hash = 0;
  };
  struct stream {  // one (pid, epoch, topic, partition)
    std::int32_t next_sequence = 0;
    std::map<std::int32_t, seen_batch> seen;  // base sequence -> batch
  };
  using stream_key = std::tuple<std::int64_t, std::int16_t, std::string, std::int32_t>;
  using partition_key = std::tuple<std::int64_t, std::string, std::int32_t>;  // pid, topic, partition

  void audit_partition(const std::string& topic, std::int32_t partition, std::span<const std::uint8_t> records,
                       std::vector<partition_key>& idempotent_partitions);
  void audit_batch(const std::string& topic, std::int32_t partition, std::span<const std::uint8_t> batch);
  void release(const partition_key& k);
  void violation(std::string what);

  mutable std::mutex mu_;
  std::vector<std::string> violations_;
  auditor_stats stats_;
  std::map<stream_key, stream> streams_;
  std::map<partition_key, int> unacked_count_;
  // (connection, correlation id) -> partitions of that request not yet answered.
  std::map<std::pair<std::uint64_t, std::int32_t>, std::vector<partition_key>> in_flight_;
};

// The sequence after `base` + `count` records, wrapping INT32_MAX -> 0 as
// Kafka does (DefaultRecordBatch.incrementSequence).
std::int32_t next_sequence(std::int32_t base, std::int32_t count) noexcept;

}  // namespace kprod::test
