// compression.h - the record batch codecs: gzip, snappy, lz4, zstd.
//
// Wire formats (what Kafka brokers and other clients accept):
//  * gzip:   a gzip member (RFC 1952), zlib with windowBits 15+16.
//  * snappy: written as one raw snappy block (as librdkafka does); read as raw
//            snappy or as xerial-framed snappy (what the Java client writes).
//  * lz4:    the LZ4 frame format with independent 64 KiB blocks (the Java
//            reader decodes every block on its own, so linked blocks would
//            break it).
//  * zstd:   a zstd frame.
//
// Compressors and decompressors keep their codec contexts between calls so a
// producer compressing batch after batch does not allocate codec state each
// time. Neither is thread-safe: use one per thread.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kprod/result.h"
#include "kprod/types.h"

namespace kprod::codec {

// Pass as `level` for the codec's default level.
inline constexpr int default_level = INT_MIN;

// The levels a codec accepts (the Java client's ranges, KIP-390).
struct level_range {
  int min = 0;
  int max = 0;
  int default_level = 0;  // what default_level resolves to
};
// gzip 1..9 (also -1, zlib's own default), default 6; lz4 1..17, default 9;
// zstd ZSTD_minCLevel()..ZSTD_maxCLevel(), default 3; snappy and none: 0..0.
level_range compression_levels(compression_type type) noexcept;

// The level actually used for `level` (default_level resolved), or
// client_errc::invalid_config naming the allowed range.
kprod::result<int> resolve_compression_level(compression_type type, int level);

class compressor {
 public:
  // client_errc::invalid_config for a level out of range or an unknown type;
  // compression_type::none gives a compressor that copies.
  static kprod::result<std::unique_ptr<compressor>> create(compression_type type, int level = default_level);

  virtual ~compressor() = default;
  compressor(const compressor&) = delete;
  compressor& operator=(const compressor&) = delete;

  compression_type type() const noexcept { return type_; }
  int level() const noexcept { return level_; }

  // Appends the compressed form of `in` to `out` (one complete frame). Only
  // the compressed bytes are written to `out`: it never grows to the codec's
  // worst-case bound, so no bound-sized zero fill happens per batch.
  kprod::result<void> compress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out);

  // The compressed form of `in` (one complete frame), held by the compressor
  // until the next call (for compression_type::none, `in` itself): for
  // callers that copy the frame somewhere anyway and need no vector.
  virtual kprod::result<std::span<const std::uint8_t>> compress_frame(std::span<const std::uint8_t> in) = 0;

 protected:
  compressor(compression_type type, int level) : type_(type), level_(level) {}

  // At least n writable bytes, left uninitialised; earlier contents up to
  // `keep` bytes survive. The capacity only grows, so after the first few
  // batches compressing allocates nothing.
  std::uint8_t* frame_buffer(std::size_t n, std::size_t keep = 0);

 private:
  compression_type type_;
  int level_;
  std::unique_ptr<std::uint8_t[]> frame_;
  std::size_t frame_capacity_ = 0;
};

class decompressor {
 public:
  static kprod::result<std::unique_ptr<decompressor>> create(compression_type type);

  virtual ~decompressor() = default;
  decompressor(const decompressor&) = delete;
  decompressor& operator=(const decompressor&) = delete;

  compression_type type() const noexcept { return type_; }

  // Appends the decompressed form of `in` to `out`. Never lets `out` grow by
  // more than max_out_bytes: a larger result (a decompression bomb) fails
  // with client_errc::compression_failed, as does malformed input.
  virtual kprod::result<void> decompress(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out,
                                         std::size_t max_out_bytes) = 0;

 protected:
  explicit decompressor(compression_type type) : type_(type) {}

 private:
  compression_type type_;
};

// One-shot helper (creates a decompressor per call).
kprod::result<void> decompress(compression_type type, std::span<const std::uint8_t> in,
                               std::vector<std::uint8_t>& out, std::size_t max_out_bytes);

}  // namespace kprod::codec
