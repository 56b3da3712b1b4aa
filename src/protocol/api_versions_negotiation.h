// api_versions_negotiation - reading ApiVersions answers and picking versions.
//
// An ApiVersions request is sent before the client knows which versions the
// broker speaks, so an UNSUPPORTED_VERSION answer may come in a layout other
// than the one requested: a real broker (KIP-511) answers in the v0 layout
// (int16 error, int32 count, entries), librdkafka's mock cluster answers a v3
// request with a 1-byte count instead. Only the leading ErrorCode is common to
// every layout, so the error path reads that and trusts nothing after it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "kprod/result.h"
#include "protocol/generated/api_traits.h"

namespace kprod::protocol {

// The ErrorCode at the start of an ApiVersions response body of any version;
// malformed_response when fewer than two bytes arrived.
kprod::result<std::int16_t> api_versions_error_code(std::span<const std::uint8_t> body);

// After an error answer to an ApiVersions request sent at `sent_version`: the
// version to retry with. When the body parses in the v0 layout and lists the
// broker's ApiVersions range, that is min(broker max, our max, sent - 1);
// otherwise 0, which every broker accepts. Always < sent_version when
// sent_version > 0, so retrying cannot loop.
std::int16_t api_versions_retry_version(std::span<const std::uint8_t> error_body, std::int16_t sent_version);

// The highest version in both [our_min, our_max] and the broker's advertised
// range for api_key; nullopt when the broker lacks the API or the ranges do
// not overlap.
std::optional<std::int16_t> common_version(const api_versions_response& broker, std::int16_t api_key,
                                           std::int16_t our_min, std::int16_t our_max);

// The version to use for every API kprod implements, chosen once per
// connection from the broker's ApiVersions response.
class negotiated_versions {
 public:
  negotiated_versions() = default;
  negotiated_versions(const api_versions_response& broker,
                      std::span<const api_version_range> ours = client_api_versions);

  // nullopt: no common version (or an API kprod does not implement).
  std::optional<std::int16_t> version(std::int16_t api_key) const;
  template <typename Api>
  std::optional<std::int16_t> version() const {
    return version(Api::key);
  }

 private:
  std::vector<std::pair<std::int16_t, std::int16_t>> chosen_;  // (api key, version), unsupported omitted
};

}  // namespace kprod::protocol
