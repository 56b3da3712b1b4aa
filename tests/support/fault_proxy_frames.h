// Internal helpers of fault_proxy (frame headers and response rewrites).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "support/fault_proxy.h"

namespace kprod::test::frames {

struct parsed_request {
  bool header_ok = false;  // at least key, version and correlation id were readable
  std::int16_t api_key = -1;
  std::int16_t api_version = -1;
  std::int32_t correlation_id = -1;
  std::size_t body_offset = 0;
  bool acks_zero = false;  // a Produce request with acks=0
};

parsed_request parse_request(std::span<const std::uint8_t> payload);

// Where the body of a response to (api_key, api_version) starts.
std::size_t response_body_offset(std::span<const std::uint8_t> payload, std::int16_t api_key,
                                 std::int16_t api_version);

// (host, port) -> replacement, or nullopt to keep it.
using address_map =
    std::function<std::optional<std::pair<std::string, std::int32_t>>(const std::string&, std::int32_t)>;

// Metadata brokers / FindCoordinator coordinators mapped through `map`.
// True when the payload was changed.
bool rewrite_addresses(std::vector<std::uint8_t>& payload, std::size_t body_offset, std::int16_t api_key,
                       std::int16_t api_version, const address_map& map);

// Applies a rewrite_produce action. False if the response does not decode.
bool rewrite_produce_response(std::vector<std::uint8_t>& payload, std::size_t body_offset, std::int16_t api_version,
                              const fault_action& a);

}  // namespace kprod::test::frames
