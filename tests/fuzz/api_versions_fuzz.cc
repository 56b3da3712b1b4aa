// libFuzzer target for the ApiVersions error path and version negotiation:
// arbitrary bytes as an error body must never crash the error-code reader or
// the retry-version choice, and the retry version must stay below the one sent.
// When the bytes decode as an ApiVersions response, negotiation over them must
// pick versions inside both our range and the broker's.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "codec/byte_reader.h"
#include "protocol/api_versions_negotiation.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kprod::protocol;
  if (size == 0) return 0;
  const auto sent = static_cast<std::int16_t>(data[0] % (api_versions_api::max_version + 1));
  std::span<const std::uint8_t> body(data + 1, size - 1);

  auto code = api_versions_error_code(body);
  if (code.ok() != (body.size() >= 2)) std::abort();
  const std::int16_t retry = api_versions_retry_version(body, sent);
  if (retry < 0 || (sent > 0 && retry >= sent) || (sent == 0 && retry != 0)) std::abort();

  kprod::codec::byte_reader r(body);
  api_versions_response broker;
  if (!decode(r, broker, sent).ok()) return 0;
  const negotiated_versions chosen(broker);
  for (const auto& ours : client_api_versions) {
    auto v = chosen.version(ours.key);
    if (!v) continue;
    if (*v < ours.min_version || *v > ours.max_version) std::abort();
    bool inside_broker_range = false;
    for (const auto& e : broker.api_keys) {
      if (e.api_key == ours.key) {
        inside_broker_range = *v >= e.min_version && *v <= e.max_version;
        break;
      }
    }
    if (!inside_broker_range) std::abort();
  }
  return 0;
}
