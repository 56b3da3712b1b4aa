// connection_handshake.cc - API version negotiation when a connection opens.
//
// We ask with our highest ApiVersions version. A broker that does not know it
// answers UNSUPPORTED_VERSION (KIP-511) with a response it writes in the v0
// layout - librdkafka's mock writes a 1-byte count instead - so only the
// error code is trusted, and we retry with the version the broker can read.
#include <algorithm>

#include "client/connection.h"
#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/api_versions_request.h"
#include "protocol/generated/api_versions_response.h"

namespace kprod::client {
namespace {

// nullopt unless `body` is an UNSUPPORTED_VERSION answer to `sent`; then the
// version to retry with. Only the error code is trusted (see above).
std::optional<std::int16_t> retry_version(std::span<const std::uint8_t> body, std::int16_t sent) {
  codec::byte_reader r(body);
  const std::int16_t code = r.read_i16();
  if (!r.ok() || code != static_cast<std::int16_t>(kafka_errc::unsupported_version) || sent == 0) return std::nullopt;
  // A KIP-511 broker lists the ApiVersions range it supports, v0 layout.
  const std::int32_t n = r.read_i32();
  if (r.ok() && n > 0 && n < 1000 && r.remaining() >= static_cast<std::size_t>(n) * 6) {
    for (std::int32_t i = 0; i < n; ++i) {
      const std::int16_t key = r.read_i16();
      r.read_i16();
      const std::int16_t max = r.read_i16();
      if (key == protocol::api_versions_api::key && max >= 0 && max < sent) return max;
    }
  }
  return std::int16_t{0};
}

std::vector<std::int16_t> common_versions(const protocol::api_versions_response& resp) {
  std::vector<std::int16_t> out;
  for (const auto& ours : protocol::client_api_versions) {
    if (static_cast<std::size_t>(ours.key) >= out.size()) out.resize(static_cast<std::size_t>(ours.key) + 1, -1);
  }
  for (const auto& b : resp.api_keys) {
    for (const auto& ours : protocol::client_api_versions) {
      if (ours.key != b.api_key) continue;
      const std::int16_t lo = std::max(ours.min_version, b.min_version);
      const std::int16_t hi = std::min(ours.max_version, b.max_version);
      if (lo <= hi) out[static_cast<std::size_t>(ours.key)] = hi;
    }
  }
  return out;
}

}  // namespace

void connection::negotiate(std::int16_t version) {
  protocol::api_versions_request req;
  req.client_software_name = "kprod";
  req.client_software_version = "0.1.0";
  auto buf = std::make_shared<std::vector<std::uint8_t>>();
  codec::byte_writer w(*buf);
  if (auto enc = protocol::encode(w, req, version); !enc.ok()) {
    finish_start(enc.error());
    return;
  }
  auto self = shared_from_this();
  send(protocol::api_versions_api::key, version, {asio::buffer(*buf)}, buf, true,
       [self, version](const kprod::error& e, std::span<const std::uint8_t> body) {
         if (e) return;  // close() already reported it through on_ready
         auto next = retry_version(body, version);
         if (next) {
           self->negotiate(*next);
           return;
         }
         protocol::api_versions_response resp;
         codec::byte_reader r(body);
         if (auto dec = protocol::decode(r, resp, version); !dec.ok()) {
           self->finish_start(error(client_errc::malformed_response,
                                    "ApiVersions v" + std::to_string(version) + " response: " + dec.error().message()));
           return;
         }
         if (resp.error_code != 0) {
           self->finish_start(error(static_cast<kafka_errc>(resp.error_code), "ApiVersions"));
           return;
         }
         self->versions_ = common_versions(resp);
         self->finish_start({});
       });
}

}  // namespace kprod::client
