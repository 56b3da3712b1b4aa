#include "support/sequence_auditor.h"

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

#include "codec/byte_reader.h"
#include "protocol/generated/produce_request.h"
#include "protocol/generated/produce_response.h"
#include "protocol/record_batch.h"
#include "protocol/record_batch_reader.h"

namespace kprod::test {
namespace {

constexpr std::size_t max_reported = 20;

std::uint64_t fnv1a(std::span<const std::uint8_t> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string where(std::int64_t pid, std::int16_t epoch, const std::string& topic, std::int32_t partition) {
  return "pid " + std::to_string(pid) + " epoch " + std::to_string(epoch) + " " + topic + "-" +
         std::to_string(partition);
}

}  // namespace

std::int32_t next_sequence(std::int32_t base, std::int32_t count) noexcept {
  constexpr std::int32_t max = std::numeric_limits<std::int32_t>::max();
  if (count <= 0) return base;
  if (base > max - count) return count - (max - base) - 1;
  return base + count;
}

void sequence_auditor::violation(std::string what) { violations_.push_back(std::move(what)); }

void sequence_auditor::add_violation(std::string what) {
  std::lock_guard lock(mu_);
  violation(std::move(what));
}

std::vector<std::string> sequence_auditor::violations() const {
  std::lock_guard lock(mu_);
  return violations_;
}

auditor_stats sequence_auditor::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

::testing::AssertionResult sequence_auditor::no_violations() const {
  std::lock_guard lock(mu_);
  if (violations_.empty()) return ::testing::AssertionSuccess();
  auto failure = ::testing::AssertionFailure();
  failure << violations_.size() << " sequence-auditor violation(s):";
  for (std::size_t i = 0; i < violations_.size() && i < max_reported; ++i) failure << "\n  " << violations_[i];
  return failure;
}

void sequence_auditor::on_produce_request(std::uint64_t connection, std::int32_t correlation_id,
                                          std::int16_t version, std::span<const std::uint8_t> body) {
  protocol::produce_request req;
  codec::byte_reader r(body);
  auto decoded = protocol::decode(r, req, version);
  std::lock_guard lock(mu_);
  ++stats_.requests;
  if (!decoded.ok()) {
    violation("Produce v" + std::to_string(version) + " request (correlation " + std::to_string(correlation_id) +
              ") does not decode: " + decoded.error().message());
    return;
  }
  std::vector<partition_key> idempotent_partitions;
  for (const auto& topic : req.topic_data) {
    for (const auto& part : topic.partition_data) {
      if (!part.records) {
        violation("Produce request (correlation " + std::to_string(correlation_id) + ") has null records for " +
                  topic.name + "-" + std::to_string(part.index));
        continue;
      }
      audit_partition(topic.name, part.index, *part.records, idempotent_partitions);
    }
  }
  // acks=0: the client expects no answer, so nothing stays unacknowledged.
  if (req.acks == 0 || idempotent_partitions.empty()) return;
  for (const auto& k : idempotent_partitions) {
    int& n = ++unacked_count_[k];
    stats_.max_unacked = std::max<std::uint64_t>(stats_.max_unacked, static_cast<std::uint64_t>(n));
    if (n > max_unacked_batches) {
      violation(std::to_string(n) + " unacknowledged batches on pid " + std::to_string(std::get<0>(k)) + " " +
                std::get<1>(k) + "-" + std::to_string(std::get<2>(k)) + " (max " +
                std::to_string(max_unacked_batches) + "), correlation " + std::to_string(correlation_id));
    }
  }
  auto& slot = in_flight_[{connection, correlation_id}];
  slot.insert(slot.end(), idempotent_partitions.begin(), idempotent_partitions.end());
}

void sequence_auditor::audit_partition(const std::string& topic, std::int32_t partition,
                                       std::span<const std::uint8_t> records,
                                       std::vector<partition_key>& idempotent_partitions) {
  if (records.empty()) {
    violation("empty records for " + topic + "-" + std::to_string(partition));
    return;
  }
  protocol::batch_read_options strict;  // verify_crc and strict_offsets
  protocol::batch_read_options lenient;
  lenient.verify_crc = false;
  lenient.strict_offsets = false;
  while (!records.empty()) {
    auto batch = protocol::parse_batch(records, strict);
    if (!batch.ok()) {
      // Report, then step over the batch if its framing is still readable.
      auto framing = protocol::parse_batch(records, lenient);
      std::string who = topic + "-" + std::to_string(partition);
      if (framing.ok()) {
        const auto& h = framing->header;
        who = where(h.producer_id, h.producer_epoch, topic, partition) + " base sequence " +
              std::to_string(h.base_sequence);
      }
      violation("bad batch for " + who + ": " + batch.error().detail());
      if (!framing.ok()) return;
      records = records.subspan(framing->bytes.size());
      continue;
    }
    const auto& h = batch->header;
    if (h.producer_id >= 0) {
      partition_key k{h.producer_id, topic, partition};
      if (std::find(idempotent_partitions.begin(), idempotent_partitions.end(), k) == idempotent_partitions.end())
        idempotent_partitions.push_back(std::move(k));
    }
    audit_batch(topic, partition, batch->bytes);
    records = records.subspan(batch->bytes.size());
  }
}

void sequence_auditor::audit_batch(const std::string& topic, std::int32_t partition,
                                   std::span<const std::uint8_t> bytes) {
  using namespace protocol::batch_v2;
  codec::byte_reader r(bytes.subspan(producer_id_at));
  const std::int64_t pid = r.read_i64();
  const std::int16_t epoch = r.read_i16();
  const std::int32_t base = r.read_i32();
  const std::int32_t count = r.read_i32();
  ++stats_.batches;
  if (pid < 0) {  // not idempotent: only the framing checks apply
    stats_.records += static_cast<std::uint64_t>(count);
    return;
  }
  const std::string at = where(pid, epoch, topic, partition);
  if (epoch < 0 || base < 0) {
    violation(at + ": idempotent batch with epoch " + std::to_string(epoch) + " and base sequence " +
              std::to_string(base));
    return;
  }
  const auto tail = bytes.subspan(attributes_at);
  const seen_batch fingerprint{count, tail.size(), fnv1a(tail)};

  auto [it, fresh] = streams_.try_emplace(stream_key{pid, epoch, topic, partition});
  stream& s = it->second;
  if (auto seen = s.seen.find(base); seen != s.seen.end()) {
    ++stats_.resends;
    const seen_batch& was = seen->second;
    if (was.count != fingerprint.count || was.length != fingerprint.length || was.hash != fingerprint.hash) {
      violation(at + ": resend of base sequence " + std::to_string(base) + " differs from the first send (" +
                std::to_string(was.count) + " records/" + std::to_string(was.length) + " bytes, now " +
                std::to_string(count) + " records/" + std::to_string(tail.size()) + " bytes" +
                (was.hash != fingerprint.hash ? ", contents differ)" : ")"));
    }
    return;
  }
  stats_.records += static_cast<std::uint64_t>(count);
  if (fresh && base != 0) {
    violation(at + ": first batch starts at sequence " + std::to_string(base) + ", not 0");
  } else if (!fresh && base != s.next_sequence) {
    violation(at + ": new batch starts at sequence " + std::to_string(base) + ", expected " +
              std::to_string(s.next_sequence) + (base > s.next_sequence ? " (gap)" : " (overlap or rewind)"));
  }
  s.seen.emplace(base, fingerprint);
  // Resynchronise on what was sent so one fault is reported once.
  s.next_sequence = next_sequence(base, count);
}

void sequence_auditor::release(const partition_key& k) {
  auto it = unacked_count_.find(k);
  if (it == unacked_count_.end()) return;
  if (--it->second <= 0) unacked_count_.erase(it);
}

void sequence_auditor::on_produce_response(std::uint64_t connection, std::int32_t correlation_id,
                                           std::int16_t version, std::span<const std::uint8_t> body) {
  std::lock_guard lock(mu_);
  auto it = in_flight_.find({connection, correlation_id});
  if (it == in_flight_.end()) return;
  ++stats_.responses;
  protocol::produce_response resp;
  codec::byte_reader r(body);
  if (!protocol::decode(r, resp, version).ok()) {
    // An unreadable response (maybe corrupted on purpose) still ends the
    // request from the client's point of view.
    for (const auto& k : it->second) release(k);
    in_flight_.erase(it);
    return;
  }
  auto& pending = it->second;
  for (const auto& topic : resp.responses) {
    for (const auto& p : topic.partition_responses) {
      auto match = std::find_if(pending.begin(), pending.end(), [&](const partition_key& k) {
        return std::get<1>(k) == topic.name && std::get<2>(k) == p.index;
      });
      if (match == pending.end()) continue;
      release(*match);
      pending.erase(match);
    }
  }
  if (pending.empty()) in_flight_.erase(it);
}

void sequence_auditor::on_connection_closed(std::uint64_t connection) {
  std::lock_guard lock(mu_);
  auto it = in_flight_.lower_bound({connection, std::numeric_limits<std::int32_t>::min()});
  while (it != in_flight_.end() && it->first.first == connection) {
    for (const auto& k : it->second) release(k);
    it = in_flight_.erase(it);
  }
}

}  // namespace kprod::test
