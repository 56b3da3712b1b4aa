// Frame-level helpers of the fault proxy: headers, rule factories, and the
// Metadata / FindCoordinator / Produce response rewrites (decoded and
// re-encoded with kprod's generated codecs).
#include "support/fault_proxy_frames.h"

#include <utility>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/find_coordinator_response.h"
#include "protocol/generated/metadata_response.h"
#include "protocol/generated/produce_response.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"
#include "protocol/primitives.h"

namespace kprod::test {

namespace fault {
fault_action delay(std::chrono::milliseconds d) {
  fault_action a;
  a.kind = fault_kind::delay;
  a.delay = d;
  return a;
}
fault_action drop_before_forward() {
  fault_action a;
  a.kind = fault_kind::drop_before_forward;
  return a;
}
fault_action close_after_forward() {
  fault_action a;
  a.kind = fault_kind::close_after_forward;
  return a;
}
fault_action drop_and_close() {
  fault_action a;
  a.kind = fault_kind::drop_and_close;
  return a;
}
fault_action truncate(std::size_t payload_bytes, bool consistent_length) {
  fault_action a;
  a.kind = fault_kind::truncate;
  a.bytes = payload_bytes;
  a.consistent_length = consistent_length;
  return a;
}
fault_action flip_byte(std::size_t payload_offset, std::uint8_t mask) {
  fault_action a;
  a.kind = fault_kind::flip_byte;
  a.offset = payload_offset;
  a.mask = mask;
  return a;
}
fault_action rewrite_produce(std::optional<std::int16_t> error_code, std::optional<std::int32_t> throttle_time_ms,
                             std::optional<std::string> topic, std::optional<std::int32_t> partition) {
  fault_action a;
  a.kind = fault_kind::rewrite_produce;
  a.error_code = error_code;
  a.throttle_time_ms = throttle_time_ms;
  a.topic = std::move(topic);
  a.partition = partition;
  return a;
}
fault_action bogus_length(std::int32_t length) {
  fault_action a;
  a.kind = fault_kind::bogus_length;
  a.length = length;
  return a;
}
fault_action go_silent() {
  fault_action a;
  a.kind = fault_kind::go_silent;
  return a;
}
fault_action byte_at_a_time(std::chrono::milliseconds gap) {
  fault_action a;
  a.kind = fault_kind::byte_at_a_time;
  a.delay = gap;
  return a;
}
fault_action duplicate() {
  fault_action a;
  a.kind = fault_kind::duplicate;
  return a;
}
}  // namespace fault

fault_rule fault_rule::on_request(std::int16_t api_key, fault_action a) {
  fault_rule r;
  r.direction = frame_direction::request;
  r.api_key = api_key;
  r.action = std::move(a);
  return r;
}

fault_rule fault_rule::on_response(std::int16_t api_key, fault_action a) {
  fault_rule r;
  r.direction = frame_direction::response;
  r.api_key = api_key;
  r.action = std::move(a);
  return r;
}

namespace frames {

parsed_request parse_request(std::span<const std::uint8_t> payload) {
  parsed_request p;
  if (payload.size() < 8) return p;
  codec::byte_reader r(payload);
  p.api_key = r.read_i16();
  p.api_version = r.read_i16();
  p.correlation_id = r.read_i32();
  p.header_ok = true;
  std::int16_t hv = protocol::request_header_version(p.api_key, p.api_version);
  if (hv < 0) hv = 1;  // an API kprod does not know: assume no tagged fields
  codec::byte_reader hr(payload);
  protocol::request_header h;
  if (protocol::decode(hr, h, hv).ok()) {
    p.body_offset = payload.size() - hr.remaining();
  } else {
    p.body_offset = payload.size();
  }
  if (p.api_key == 0 && p.body_offset < payload.size()) {
    // Produce: [transactional_id (v3+)] acks ...
    codec::byte_reader br(payload.subspan(p.body_offset));
    const bool flex = p.api_version >= 9;
    if (p.api_version >= 3) {
      std::int64_t n = protocol::read_length(br, flex, true);
      if (n > 0) br.skip(static_cast<std::size_t>(n));
    }
    const std::int16_t acks = br.read_i16();
    p.acks_zero = br.ok() && acks == 0;
  }
  return p;
}

std::size_t response_body_offset(std::span<const std::uint8_t> payload, std::int16_t api_key,
                                 std::int16_t api_version) {
  const std::int16_t hv = api_key < 0 ? 0 : protocol::response_header_version(api_key, api_version);
  if (hv <= 0) return payload.size() < 4 ? payload.size() : 4;
  codec::byte_reader r(payload);
  protocol::response_header h;
  if (!protocol::decode(r, h, hv).ok()) return payload.size();
  return payload.size() - r.remaining();
}

namespace {

template <typename M>
bool reencode(std::vector<std::uint8_t>& payload, std::size_t body_offset, const M& m, std::int16_t version) {
  std::vector<std::uint8_t> out(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(body_offset));
  codec::byte_writer w(out);
  if (!protocol::encode(w, m, version).ok()) return false;
  payload = std::move(out);
  return true;
}

template <typename M>
bool decode_body(const std::vector<std::uint8_t>& payload, std::size_t body_offset, M& m, std::int16_t version) {
  if (body_offset > payload.size()) return false;
  codec::byte_reader r(payload.data() + body_offset, payload.size() - body_offset);
  return protocol::decode(r, m, version).ok();
}

}  // namespace

bool rewrite_addresses(std::vector<std::uint8_t>& payload, std::size_t body_offset, std::int16_t api_key,
                       std::int16_t api_version, const address_map& map) {
  bool changed = false;
  auto fix = [&](std::string& host, std::int32_t& port) {
    if (auto to = map(host, port)) {
      host = to->first;
      port = to->second;
      changed = true;
    }
  };
  if (api_key == protocol::metadata_api::key) {
    protocol::metadata_response m;
    if (!decode_body(payload, body_offset, m, api_version)) return false;
    for (auto& b : m.brokers) fix(b.host, b.port);
    return changed && reencode(payload, body_offset, m, api_version);
  }
  if (api_key == protocol::find_coordinator_api::key) {
    protocol::find_coordinator_response m;
    if (!decode_body(payload, body_offset, m, api_version)) return false;
    if (api_version < 4) fix(m.host, m.port);
    for (auto& c : m.coordinators) fix(c.host, c.port);
    return changed && reencode(payload, body_offset, m, api_version);
  }
  return false;
}

bool rewrite_produce_response(std::vector<std::uint8_t>& payload, std::size_t body_offset, std::int16_t api_version,
                              const fault_action& a) {
  protocol::produce_response m;
  if (!decode_body(payload, body_offset, m, api_version)) return false;
  if (a.throttle_time_ms) m.throttle_time_ms = *a.throttle_time_ms;
  if (a.error_code) {
    for (auto& t : m.responses) {
      if (a.topic && t.name != *a.topic) continue;
      for (auto& p : t.partition_responses) {
        if (a.partition && p.index != *a.partition) continue;
        p.error_code = *a.error_code;
        if (*a.error_code != 0) {  // what a broker sends with an error
          p.base_offset = -1;
          p.log_append_time_ms = -1;
          p.log_start_offset = -1;
        }
      }
    }
  }
  return reencode(payload, body_offset, m, api_version);
}

}  // namespace frames
}  // namespace kprod::test
