// kprod/record.h - what an application sends and what it gets back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "kprod/error.h"

namespace kprod {

// Bytes are passed as std::string_view (any bytes, not only text). Use
// as_bytes() to view other contiguous byte containers.
using bytes_view = std::string_view;

inline bytes_view as_bytes(std::span<const std::byte> s) noexcept {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}
inline bytes_view as_bytes(std::span<const std::uint8_t> s) noexcept {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

struct header {
  std::string_view key{};
  std::optional<bytes_view> value{};  // nullopt = null header value
};

// One record to send. Views only: send() copies everything it needs before it
// returns, so the caller's buffers need to live only for the call.
struct record {
  // Every member has a default, so designated initializers may leave any out
  // (and -Wextra does not warn about it).
  std::string_view topic{};
  std::optional<std::int32_t> partition{};    // nullopt = the partitioner decides
  std::optional<bytes_view> key{};            // nullopt = null key
  std::optional<bytes_view> value{};          // nullopt = null value (a tombstone)
  std::span<const header> headers{};
  std::optional<std::int64_t> timestamp_ms{};  // nullopt = now (CreateTime)
};

struct record_metadata {
  std::string_view topic;        // valid while the producer lives
  std::int32_t partition = -1;   // -1 when no partition was chosen
  std::int64_t offset = -1;      // -1 when unknown (acks=0, duplicate ack, failure)
  std::int64_t timestamp_ms = -1;
  std::int32_t serialized_key_size = -1;    // -1 for a null key
  std::int32_t serialized_value_size = -1;  // -1 for a null value
};

// The one completion every record gets.
struct delivery_report {
  kprod::error error;  // empty on success
  kprod::persistence status = persistence::not_persisted;
  record_metadata metadata;

  bool ok() const noexcept { return !error; }
};

}  // namespace kprod
