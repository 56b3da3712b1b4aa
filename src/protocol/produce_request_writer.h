// produce_request_writer - encodes a Produce request body around sealed
// record batches without copying them.
//
// The generated produce_request (src/protocol/generated) owns its records
// bytes and is used by tests and fakes; the hot path writes the small framing
// here and hands the batches to the socket as separate buffers (scatter/
// gather), as franz-go and Redpanda do.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/buffer.hpp>

namespace kprod::protocol {

struct produce_partition_ref {
  std::int32_t partition;
  std::span<const std::uint8_t> records;  // one sealed batch
};
struct produce_topic_ref {
  std::string_view topic;
  std::vector<produce_partition_ref> partitions;
};

class produce_request_writer {
 public:
  // Supported Produce versions: 3 (first with record batch v2) .. 11.
  static constexpr std::int16_t min_version = 3;
  static constexpr std::int16_t max_version = 11;

  // Encodes the body; the returned buffers point into this writer's framing
  // storage and into the batches, which must outlive the write.
  std::vector<asio::const_buffer> encode(std::int16_t version, const std::optional<std::string>& transactional_id,
                                         std::int16_t acks, std::int32_t timeout_ms,
                                         std::span<const produce_topic_ref> topics);

  // Total body size of the last encode().
  std::size_t size() const noexcept { return size_; }

 private:
  std::vector<std::uint8_t> framing_;
  std::size_t size_ = 0;
};

}  // namespace kprod::protocol
