// kprod/transaction.h - vocabulary of the transactional producer.
//
//   (*p)->init_transactions(10s);
//   (*p)->begin_transaction();
//   (*p)->async_send(...);                                    // any number of records
//   (*p)->send_offsets_to_transaction(offsets, group, 10s);   // consume-transform-produce
//   (*p)->commit_transaction(10s);                            // or abort_transaction(10s)
//
// The semantics are Java's KafkaProducer: a commit returns once every record
// of the transaction is acknowledged and the coordinator has committed; any
// record that failed makes the commit fail (then only abort is allowed); a
// fencing error is fatal (every later call returns it). A call that times out
// keeps its pending outcome: calling it again waits for the same outcome.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace kprod {

// One consumed position to commit with the transaction: `offset` is the
// offset of the next record the group should read (last processed + 1).
struct topic_partition_offset {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::optional<std::int32_t> leader_epoch;  // of the record last read, when known
  std::string metadata;                      // committed with the offset
};

// Java's ConsumerGroupMetadata: which group member consumed the offsets.
// Brokers use generation and member id (TxnOffsetCommit v3+) to reject
// commits from a zombie member.
struct consumer_group_metadata {
  std::string group_id;
  std::int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
};

}  // namespace kprod
