#include "protocol/produce_request_writer.h"

#include "codec/byte_writer.h"

// GCC 12 at -O3 reports a false -Wstringop-overflow inside vector::insert
// (byte_writer::write_uvarint) after framing_.clear(); the code is correct.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

namespace kprod::protocol {

std::vector<asio::const_buffer> produce_request_writer::encode(std::int16_t version,
                                                               const std::optional<std::string>& transactional_id,
                                                               std::int16_t acks, std::int32_t timeout_ms,
                                                               std::span<const produce_topic_ref> topics) {
  const bool flexible = version >= 9;
  framing_.clear();
  codec::byte_writer w(framing_);
  // (offset into framing_, batch) pairs: framing bytes up to `offset` come
  // before `batch`.
  std::vector<std::pair<std::size_t, std::span<const std::uint8_t>>> splices;

  auto write_string = [&](std::string_view s) {
    if (flexible) {
      w.write_uvarint(static_cast<std::uint32_t>(s.size() + 1));
    } else {
      w.write_i16(static_cast<std::int16_t>(s.size()));
    }
    w.write_raw(s);
  };
  auto write_count = [&](std::size_t n) {
    if (flexible) {
      w.write_uvarint(static_cast<std::uint32_t>(n + 1));
    } else {
      w.write_i32(static_cast<std::int32_t>(n));
    }
  };

  // TransactionalId: nullable string (v3+).
  if (transactional_id) {
    write_string(*transactional_id);
  } else if (flexible) {
    w.write_uvarint(0);
  } else {
    w.write_i16(-1);
  }
  w.write_i16(acks);
  w.write_i32(timeout_ms);
  write_count(topics.size());
  for (const auto& t : topics) {
    write_string(t.topic);
    write_count(t.partitions.size());
    for (const auto& p : t.partitions) {
      w.write_i32(p.partition);
      // Records: nullable bytes; never null here.
      if (flexible) {
        w.write_uvarint(static_cast<std::uint32_t>(p.records.size() + 1));
      } else {
        w.write_i32(static_cast<std::int32_t>(p.records.size()));
      }
      splices.emplace_back(framing_.size(), p.records);
      if (flexible) w.write_uvarint(0);  // partition tagged fields
    }
    if (flexible) w.write_uvarint(0);  // topic tagged fields
  }
  if (flexible) w.write_uvarint(0);  // request tagged fields

  std::vector<asio::const_buffer> out;
  out.reserve(splices.size() * 2 + 1);
  std::size_t at = 0;
  size_ = framing_.size();
  for (const auto& [offset, batch] : splices) {
    out.emplace_back(framing_.data() + at, offset - at);
    out.emplace_back(batch.data(), batch.size());
    size_ += batch.size();
    at = offset;
  }
  out.emplace_back(framing_.data() + at, framing_.size() - at);
  return out;
}

}  // namespace kprod::protocol
