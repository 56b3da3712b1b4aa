// record_batch_reader.cc - bounds-checked parsing of v2 record batches.
#include "protocol/record_batch_reader.h"

#include <string>

#include "codec/compression.h"
#include "codec/crc32c.h"

namespace kprod::protocol {
namespace {

using namespace batch_v2;

// Smallest possible record: a length byte, then attributes, timestampDelta,
// offsetDelta, keyLength, valueLength and headerCount of one byte each.
constexpr std::size_t min_record_bytes = 7;

kprod::error corrupt(std::string detail) { return kprod::error(client_errc::corrupt_batch, std::move(detail)); }

std::string hex32(std::uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s = "0x00000000";
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(9 - i)] = digits[(v >> (4 * i)) & 0xf];
  return s;
}

enum class parse_status { ok, truncated, corrupt };

struct parsed {
  parse_status status = parse_status::ok;
  batch_view view;
  std::string detail;
};

parsed parse_one(std::span<const std::uint8_t> data, const batch_read_options& opts) {
  parsed p;
  auto bad = [&p](parse_status s, std::string d) {
    p.status = s;
    p.detail = std::move(d);
    return p;
  };
  if (data.size() < log_overhead) return bad(parse_status::truncated, "fewer than 12 bytes left for a batch");
  codec::byte_reader r(data);
  batch_header& h = p.view.header;
  h.base_offset = r.read_i64();
  h.batch_length = r.read_i32();
  if (h.batch_length < static_cast<std::int32_t>(header_size - log_overhead))
    return bad(parse_status::corrupt, "batch length " + std::to_string(h.batch_length) + " is smaller than a header");
  if (static_cast<std::size_t>(h.batch_length) > r.remaining())
    return bad(parse_status::truncated, "batch length " + std::to_string(h.batch_length) + " runs past the end (" +
                                            std::to_string(r.remaining()) + " bytes left)");
  const std::size_t total = log_overhead + static_cast<std::size_t>(h.batch_length);
  h.partition_leader_epoch = r.read_i32();
  h.magic = r.read_i8();
  if (h.magic != magic) return bad(parse_status::corrupt, "unsupported magic " + std::to_string(h.magic));
  h.crc = r.read_u32();
  h.attributes = r.read_i16();
  h.last_offset_delta = r.read_i32();
  h.base_timestamp = r.read_i64();
  h.max_timestamp = r.read_i64();
  h.producer_id = r.read_i64();
  h.producer_epoch = r.read_i16();
  h.base_sequence = r.read_i32();
  h.records_count = r.read_i32();
  if (!r.ok()) return bad(parse_status::corrupt, "truncated header");  // unreachable: length checked above
  p.view.bytes = data.first(total);
  p.view.records = data.subspan(header_size, total - header_size);

  if (opts.verify_crc) {
    std::uint32_t actual = codec::crc32c(data.data() + attributes_at, total - attributes_at);
    if (actual != h.crc)
      return bad(parse_status::corrupt, "CRC mismatch: stored " + hex32(h.crc) + ", computed " + hex32(actual));
  }
  if ((h.attributes & codec_mask) > static_cast<int>(compression_type::zstd))
    return bad(parse_status::corrupt, "unknown compression codec " + std::to_string(h.attributes & codec_mask));
  if (h.records_count < 0) return bad(parse_status::corrupt, "negative record count");
  if (opts.strict_offsets) {
    if (h.records_count == 0) return bad(parse_status::corrupt, "batch has no records");
    if (h.last_offset_delta != h.records_count - 1)
      return bad(parse_status::corrupt, "lastOffsetDelta " + std::to_string(h.last_offset_delta) +
                                            " does not match " + std::to_string(h.records_count) + " records");
  }
  if (h.compression() == compression_type::none &&
      static_cast<std::uint64_t>(h.records_count) > p.view.records.size() / min_record_bytes)
    return bad(parse_status::corrupt, std::to_string(h.records_count) + " records cannot fit in " +
                                          std::to_string(p.view.records.size()) + " bytes");
  return p;
}

}  // namespace

kprod::result<batch_view> parse_batch(std::span<const std::uint8_t> data, const batch_read_options& opts) {
  parsed p = parse_one(data, opts);
  if (p.status != parse_status::ok) return corrupt(std::move(p.detail));
  return p.view;
}

kprod::result<std::vector<batch_view>> parse_batches(std::span<const std::uint8_t> data,
                                                     const batch_read_options& opts) {
  std::vector<batch_view> out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    parsed p = parse_one(data.subspan(pos), opts);
    if (p.status == parse_status::truncated && opts.allow_partial_tail) break;
    if (p.status != parse_status::ok)
      return corrupt("batch " + std::to_string(out.size()) + " at byte " + std::to_string(pos) + ": " + p.detail);
    pos += p.view.bytes.size();
    out.push_back(p.view);
  }
  return out;
}

kprod::result<record_reader> record_reader::open(const batch_view& batch, const batch_read_options& opts) {
  record_reader rr;
  rr.h_ = batch.header;
  rr.strict_ = opts.strict_offsets;
  if (rr.h_.records_count < 0) return corrupt("negative record count");
  compression_type codec_type = rr.h_.compression();
  if (codec_type == compression_type::none) {
    rr.in_ = codec::byte_reader(batch.records);
  } else {
    auto d = codec::decompressor::create(codec_type);
    if (!d) return corrupt(d.error().detail());
    auto ok = (*d)->decompress(batch.records, rr.decompressed_, opts.max_uncompressed_bytes);
    if (!ok) return corrupt("records do not decompress: " + ok.error().detail());
    if (static_cast<std::uint64_t>(rr.h_.records_count) > rr.decompressed_.size() / min_record_bytes)
      return corrupt(std::to_string(rr.h_.records_count) + " records cannot fit in " +
                     std::to_string(rr.decompressed_.size()) + " decompressed bytes");
    rr.in_ = codec::byte_reader(rr.decompressed_);
  }
  return rr;
}

kprod::error record_reader::fail(std::string detail) {
  failed_ = true;
  return corrupt("record " + std::to_string(index_) + ": " + detail);
}

kprod::result<bool> record_reader::next(record_view& out) {
  if (failed_) return corrupt("record reader already failed");
  if (index_ >= h_.records_count) {
    if (!in_.empty()) return fail(std::to_string(in_.remaining()) + " bytes follow the last record");
    return false;
  }
  const std::int32_t len = in_.read_varint();
  if (!in_.ok() || len < 0 || static_cast<std::size_t>(len) > in_.remaining())
    return fail("bad record length " + std::to_string(len));
  codec::byte_reader r(in_.position(), static_cast<std::size_t>(len));
  in_.skip(static_cast<std::size_t>(len));

  record_view v;
  v.attributes = r.read_i8();
  const std::int64_t ts_delta = r.read_varlong();
  v.offset_delta = r.read_varint();
  v.key_len = r.read_varint();
  if (v.key_len < -1) return fail("negative key length " + std::to_string(v.key_len));
  if (v.key_len >= 0) v.key = r.read_span(static_cast<std::size_t>(v.key_len)).data();
  v.value_len = r.read_varint();
  if (v.value_len < -1) return fail("negative value length " + std::to_string(v.value_len));
  if (v.value_len >= 0) v.value = r.read_span(static_cast<std::size_t>(v.value_len)).data();
  const std::int32_t header_count = r.read_varint();
  if (header_count < 0 || !r.check_count(header_count, 2))
    return fail("bad header count " + std::to_string(header_count));
  headers_.clear();
  headers_.reserve(static_cast<std::size_t>(header_count));
  for (std::int32_t i = 0; i < header_count; ++i) {
    record_header_view hv;
    const std::int32_t key_len = r.read_varint();
    if (key_len < 0) return fail("header key length " + std::to_string(key_len));
    hv.key = r.read_string_view(static_cast<std::size_t>(key_len));
    hv.value_len = r.read_varint();
    if (hv.value_len < -1) return fail("negative header value length " + std::to_string(hv.value_len));
    if (hv.value_len >= 0) hv.value = r.read_span(static_cast<std::size_t>(hv.value_len)).data();
    if (!r.ok()) break;
    headers_.push_back(hv);
  }
  if (!r.ok()) return fail("record body runs past its length");
  if (!r.empty()) return fail(std::to_string(r.remaining()) + " unread bytes inside the record");
  if (strict_ && v.offset_delta != index_)
    return fail("offset delta " + std::to_string(v.offset_delta) + " out of sequence");
  // Empty spans from read_span may carry a null data(); keep "empty" and "null" apart.
  static const std::uint8_t empty = 0;
  if (v.key_len == 0) v.key = &empty;
  if (v.value_len == 0) v.value = &empty;
  for (auto& hv : headers_)
    if (hv.value_len == 0) hv.value = &empty;

  v.offset = static_cast<std::int64_t>(static_cast<std::uint64_t>(h_.base_offset) +
                                       static_cast<std::uint64_t>(static_cast<std::int64_t>(v.offset_delta)));
  v.timestamp = h_.log_append_time() ? h_.max_timestamp
                                     : static_cast<std::int64_t>(static_cast<std::uint64_t>(h_.base_timestamp) +
                                                                 static_cast<std::uint64_t>(ts_delta));
  v.headers = headers_;
  out = v;
  ++index_;
  return true;
}

kprod::result<std::vector<owned_record>> read_records(const batch_view& batch, const batch_read_options& opts) {
  auto rr = record_reader::open(batch, opts);
  if (!rr) return rr.error();
  std::vector<owned_record> out;
  record_view v;
  for (;;) {
    auto more = rr->next(v);
    if (!more) return more.error();
    if (!*more) break;
    owned_record o;
    o.offset = v.offset;
    o.timestamp = v.timestamp;
    if (v.key_len >= 0) o.key.emplace(v.key, v.key + v.key_len);
    if (v.value_len >= 0) o.value.emplace(v.value, v.value + v.value_len);
    for (const auto& h : v.headers) {
      std::optional<std::vector<std::uint8_t>> hv;
      if (h.value_len >= 0) hv.emplace(h.value, h.value + h.value_len);
      o.headers.emplace_back(std::string(h.key), std::move(hv));
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace kprod::protocol
