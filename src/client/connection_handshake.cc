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
#include "protocol/api_versions_negotiation.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/api_versions_request.h"
#include "protocol/generated/api_versions_response.h"

namespace kprod::client {

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
         auto code = protocol::api_versions_error_code(body);
         if (code.ok() && *code == static_cast<std::int16_t>(kafka_errc::unsupported_version) && version > 0) {
           self->negotiate(protocol::api_versions_retry_version(body, version));
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
         protocol::negotiated_versions chosen(resp);
         self->versions_.assign(protocol::client_api_versions.back().key + 1, -1);
         for (const auto& api : protocol::client_api_versions) {
           self->versions_[static_cast<std::size_t>(api.key)] = chosen.version(api.key).value_or(-1);
         }
         self->finish_start({});
       });
}

}  // namespace kprod::client
