#include "support/fault_proxy_identities.h"

#include <algorithm>

#include "codec/byte_reader.h"
#include "protocol/generated/produce_request.h"
#include "protocol/record_batch_reader.h"

namespace kprod::test {

void record_identity_log::on_produce_request(std::int16_t version, std::span<const std::uint8_t> body) {
  protocol::produce_request req;
  codec::byte_reader r(body);
  if (!protocol::decode(r, req, version).ok()) return;
  protocol::batch_read_options lenient;
  lenient.verify_crc = false;
  lenient.strict_offsets = false;
  std::vector<std::pair<std::string, identity>> seen;
  for (const auto& topic : req.topic_data) {
    for (const auto& part : topic.partition_data) {
      if (!part.records) continue;
      auto batches = protocol::parse_batches(*part.records, lenient);
      if (!batches.ok()) continue;
      for (const auto& b : *batches) {
        if (b.header.producer_id < 0) continue;
        auto reader = protocol::record_reader::open(b, lenient);
        if (!reader.ok()) continue;
        protocol::record_view rec;
        while (true) {
          auto more = reader->next(rec);
          if (!more.ok() || !*more) break;
          if (rec.value == nullptr) continue;
          const std::int64_t seq = (static_cast<std::int64_t>(b.header.base_sequence) + rec.offset_delta) & 0x7fffffff;
          seen.emplace_back(std::string(reinterpret_cast<const char*>(rec.value), static_cast<std::size_t>(rec.value_len)),
                            identity{b.header.producer_id, b.header.producer_epoch, topic.name, part.index,
                                     static_cast<std::int32_t>(seq)});
        }
      }
    }
  }
  std::lock_guard lock(mu_);
  for (auto& [value, id] : seen) {
    auto& ids = by_value_[value];
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
  }
}

std::size_t record_identity_log::identities(std::string_view value) const {
  std::lock_guard lock(mu_);
  auto it = by_value_.find(std::string(value));
  return it == by_value_.end() ? 0 : it->second.size();
}

std::vector<record_identity_log::identity> record_identity_log::identities_of(std::string_view value) const {
  std::lock_guard lock(mu_);
  auto it = by_value_.find(std::string(value));
  return it == by_value_.end() ? std::vector<identity>{} : it->second;
}

}  // namespace kprod::test
