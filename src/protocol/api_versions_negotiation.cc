#include "protocol/api_versions_negotiation.h"

#include <algorithm>

#include "codec/byte_reader.h"

namespace kprod::protocol {

kprod::result<std::int16_t> api_versions_error_code(std::span<const std::uint8_t> body) {
  codec::byte_reader r(body);
  std::int16_t code = r.read_i16();
  if (!r.ok()) return kprod::error(client_errc::malformed_response, "ApiVersions response shorter than its ErrorCode");
  return code;
}

namespace {

// The broker's ApiVersions max version from a v0-layout body, if it parses.
std::optional<std::int16_t> v0_layout_api_versions_max(std::span<const std::uint8_t> body) {
  constexpr std::size_t entry_bytes = 6;  // ApiKey, MinVersion, MaxVersion: three int16
  codec::byte_reader r(body);
  r.read_i16();  // ErrorCode
  std::int32_t count = r.read_i32();
  if (!r.ok() || !r.check_count(count, entry_bytes)) return std::nullopt;
  std::optional<std::int16_t> found;
  for (std::int32_t i = 0; i < count; ++i) {
    std::int16_t key = r.read_i16();
    std::int16_t min_version = r.read_i16();
    std::int16_t max_version = r.read_i16();
    if (key == api_versions_api::key && !found && min_version <= max_version && min_version >= 0) found = max_version;
  }
  if (!r.ok()) return std::nullopt;
  return found;
}

}  // namespace

std::int16_t api_versions_retry_version(std::span<const std::uint8_t> error_body, std::int16_t sent_version) {
  std::optional<std::int16_t> broker_max = v0_layout_api_versions_max(error_body);
  if (!broker_max || sent_version <= 0) return 0;
  int v = std::min<int>({*broker_max, api_versions_api::max_version, sent_version - 1});
  return static_cast<std::int16_t>(std::max(v, 0));
}

std::optional<std::int16_t> common_version(const api_versions_response& broker, std::int16_t api_key,
                                           std::int16_t our_min, std::int16_t our_max) {
  for (const auto& e : broker.api_keys) {
    if (e.api_key != api_key) continue;
    std::int16_t hi = std::min(our_max, e.max_version);
    std::int16_t lo = std::max(our_min, e.min_version);
    if (lo > hi) return std::nullopt;
    return hi;
  }
  return std::nullopt;
}

negotiated_versions::negotiated_versions(const api_versions_response& broker,
                                         std::span<const api_version_range> ours) {
  for (const auto& api : ours) {
    if (auto v = common_version(broker, api.key, api.min_version, api.max_version)) chosen_.emplace_back(api.key, *v);
  }
}

std::optional<std::int16_t> negotiated_versions::version(std::int16_t api_key) const {
  for (const auto& [key, v] : chosen_) {
    if (key == api_key) return v;
  }
  return std::nullopt;
}

}  // namespace kprod::protocol
