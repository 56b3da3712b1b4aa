// kprod/types.h - small vocabulary types shared by the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace kprod {

// acks: how many replicas must have the record before the broker answers.
enum class acks : std::int16_t { none = 0, leader = 1, all = -1 };

// Record batch compression codec; the values are the v2 batch attribute bits.
enum class compression_type : std::int8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

std::string_view to_string(compression_type c) noexcept;

struct topic_partition {
  std::string topic;
  std::int32_t partition = -1;
  friend bool operator==(const topic_partition&, const topic_partition&) = default;
};

}  // namespace kprod

template <>
struct std::hash<kprod::topic_partition> {
  std::size_t operator()(const kprod::topic_partition& tp) const noexcept {
    return std::hash<std::string_view>{}(tp.topic) * 31u + static_cast<std::size_t>(tp.partition);
  }
};
