// record_batch_reader.h - parsing v2 record batches from untrusted bytes.
//
// Used by tests, the fuzzer, the fault proxy's sequence auditor and batch
// splitting. Every read is bounds-checked; malformed input yields
// client_errc::corrupt_batch with a detail, never a crash, and decompression
// is bounded so a small batch cannot expand without limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "codec/byte_reader.h"
#include "kprod/result.h"
#include "kprod/types.h"
#include "protocol/record_batch.h"

namespace kprod::protocol {

struct batch_header {
  std::int64_t base_offset = 0;
  std::int32_t batch_length = 0;
  std::int32_t partition_leader_epoch = 0;
  std::int8_t magic = 0;
  std::uint32_t crc = 0;
  std::int16_t attributes = 0;
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp = 0;
  std::int64_t max_timestamp = 0;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  std::int32_t records_count = 0;

  compression_type compression() const noexcept {
    return static_cast<compression_type>(attributes & batch_v2::codec_mask);
  }
  bool log_append_time() const noexcept { return (attributes & batch_v2::timestamp_type_bit) != 0; }
  bool transactional() const noexcept { return (attributes & batch_v2::transactional_bit) != 0; }
  bool control() const noexcept { return (attributes & batch_v2::control_bit) != 0; }
};

struct batch_view {
  batch_header header;
  std::span<const std::uint8_t> bytes;    // the whole batch, from baseOffset to its end
  std::span<const std::uint8_t> records;  // the records section as on the wire (compressed or not)
};

struct batch_read_options {
  bool verify_crc = true;
  // What a producer writes: recordsCount >= 1, lastOffsetDelta ==
  // recordsCount - 1 and offset deltas 0, 1, 2, ... Turn off for fetched
  // batches, which compaction may have thinned out.
  bool strict_offsets = true;
  // Ignore a truncated last batch instead of failing (Fetch responses may
  // end in a partial batch).
  bool allow_partial_tail = false;
  // Bound on the decompressed size of one batch's records.
  std::size_t max_uncompressed_bytes = std::size_t{128} << 20;
};

// The batch at the start of `data`, which may continue past it (the batch
// occupies bytes.size() == 12 + batchLength bytes).
kprod::result<batch_view> parse_batch(std::span<const std::uint8_t> data, const batch_read_options& opts = {});

// Every batch of a Produce/Fetch `records` field.
kprod::result<std::vector<batch_view>> parse_batches(std::span<const std::uint8_t> data,
                                                     const batch_read_options& opts = {});

struct record_view {
  std::int64_t offset = 0;       // base offset + offset delta
  std::int64_t timestamp = 0;    // base timestamp + delta, or max timestamp for log-append time
  std::int32_t offset_delta = 0;
  std::int8_t attributes = 0;
  const std::uint8_t* key = nullptr;  // nullptr when key_len == -1 (null)
  std::int32_t key_len = -1;
  const std::uint8_t* value = nullptr;  // nullptr when value_len == -1 (null)
  std::int32_t value_len = -1;
  std::span<const record_header_view> headers;  // valid until the next call to next()
};

// Iterates the records of one batch. Key, value and header pointers point
// into the batch bytes (uncompressed batches) or into the reader's own
// buffer, so they live as long as both the batch bytes and the reader.
class record_reader {
 public:
  // Decompresses the records if needed (bounded by max_uncompressed_bytes).
  static kprod::result<record_reader> open(const batch_view& batch, const batch_read_options& opts = {});

  // The next record into `out`: true, or false after the last one (having
  // checked that no bytes follow it). Errors are sticky.
  kprod::result<bool> next(record_view& out);

  std::int32_t records_read() const noexcept { return index_; }

 private:
  record_reader() = default;
  kprod::error fail(std::string detail);

  batch_header h_;
  bool strict_ = true;
  bool failed_ = false;
  std::int32_t index_ = 0;
  std::vector<std::uint8_t> decompressed_;
  codec::byte_reader in_;
  std::vector<record_header_view> headers_;
};

// A record copied out of its batch (tests, batch splitting).
struct owned_record {
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;
  std::optional<std::vector<std::uint8_t>> key;
  std::optional<std::vector<std::uint8_t>> value;
  std::vector<std::pair<std::string, std::optional<std::vector<std::uint8_t>>>> headers;
};

kprod::result<std::vector<owned_record>> read_records(const batch_view& batch, const batch_read_options& opts = {});

}  // namespace kprod::protocol
