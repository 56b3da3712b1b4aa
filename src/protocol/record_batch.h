// record_batch.h - the v2 record batch (magic 2): layout, builder, re-stamping.
//
// Header layout (big-endian; offsets in bytes from the start of the batch):
//
//   @0   baseOffset            int64   0 from a producer; the broker assigns offsets
//   @8   batchLength           int32   bytes after this field (total size - 12)
//   @12  partitionLeaderEpoch  int32   -1 from a producer
//   @16  magic                 int8    2
//   @17  crc                   uint32  CRC-32C of bytes @21..end
//   @21  attributes            int16   bits 0-2 codec, 3 timestamp type (0 = create
//                                      time), 4 transactional, 5 control
//   @23  lastOffsetDelta       int32   records - 1 in a producer batch
//   @27  baseTimestamp         int64   first record's timestamp
//   @35  maxTimestamp          int64   largest record timestamp
//   @43  producerId            int64   -1 without idempotence
//   @51  producerEpoch         int16   -1 without idempotence
//   @53  baseSequence          int32   -1 without idempotence
//   @57  recordsCount          int32
//   @61  records               the records, compressed as one unit when the codec is not none
//
// The CRC starts at attributes and so leaves out baseOffset, batchLength,
// partitionLeaderEpoch and magic: the broker rewrites baseOffset and
// partitionLeaderEpoch on every append, and excluding them lets it do so
// without recomputing the CRC over the whole batch.
//
// Record (all lengths are zig-zag varints, -1 meaning null where allowed):
//   length varint (bytes after this field), attributes int8 (0),
//   timestampDelta varlong, offsetDelta varint, keyLength + key,
//   valueLength + value, headerCount varint, then per header
//   keyLength varint + key (UTF-8, never null), valueLength varint + value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <string_view>
#include <vector>

#include "codec/compression.h"
#include "codec/prefetch.h"
#include "kprod/result.h"
#include "kprod/types.h"
#include "protocol/storage_arena.h"

namespace kprod::protocol {

// Field offsets, each built from the previous one (DefaultRecordBatch's habit).
namespace batch_v2 {
inline constexpr std::size_t base_offset_at = 0;
inline constexpr std::size_t base_offset_len = 8;
inline constexpr std::size_t batch_length_at = base_offset_at + base_offset_len;
inline constexpr std::size_t batch_length_len = 4;
inline constexpr std::size_t leader_epoch_at = batch_length_at + batch_length_len;
inline constexpr std::size_t leader_epoch_len = 4;
inline constexpr std::size_t magic_at = leader_epoch_at + leader_epoch_len;
inline constexpr std::size_t magic_len = 1;
inline constexpr std::size_t crc_at = magic_at + magic_len;
inline constexpr std::size_t crc_len = 4;
inline constexpr std::size_t attributes_at = crc_at + crc_len;
inline constexpr std::size_t attributes_len = 2;
inline constexpr std::size_t last_offset_delta_at = attributes_at + attributes_len;
inline constexpr std::size_t last_offset_delta_len = 4;
inline constexpr std::size_t base_timestamp_at = last_offset_delta_at + last_offset_delta_len;
inline constexpr std::size_t base_timestamp_len = 8;
inline constexpr std::size_t max_timestamp_at = base_timestamp_at + base_timestamp_len;
inline constexpr std::size_t max_timestamp_len = 8;
inline constexpr std::size_t producer_id_at = max_timestamp_at + max_timestamp_len;
inline constexpr std::size_t producer_id_len = 8;
inline constexpr std::size_t producer_epoch_at = producer_id_at + producer_id_len;
inline constexpr std::size_t producer_epoch_len = 2;
inline constexpr std::size_t base_sequence_at = producer_epoch_at + producer_epoch_len;
inline constexpr std::size_t base_sequence_len = 4;
inline constexpr std::size_t records_count_at = base_sequence_at + base_sequence_len;
inline constexpr std::size_t records_count_len = 4;
inline constexpr std::size_t records_at = records_count_at + records_count_len;
inline constexpr std::size_t header_size = records_at;
// batchLength counts from the partition leader epoch on.
inline constexpr std::size_t log_overhead = batch_length_at + batch_length_len;

inline constexpr std::int8_t magic = 2;
inline constexpr std::int16_t codec_mask = 0x07;
inline constexpr std::int16_t timestamp_type_bit = 0x08;
inline constexpr std::int16_t transactional_bit = 0x10;
inline constexpr std::int16_t control_bit = 0x20;

static_assert(crc_at == 17 && attributes_at == 21 && producer_id_at == 43 && records_at == 61);
}  // namespace batch_v2

struct record_header_view {
  std::string_view key;
  const std::uint8_t* value = nullptr;
  std::int32_t value_len = -1;  // -1 = null
};

struct batch_producer_fields {
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  bool transactional = false;
  bool operator==(const batch_producer_fields&) const = default;
};

// A growable byte buffer whose growth leaves the new bytes uninitialised
// (std::vector zero-fills them, which costs a memset per append and touches
// pages that may never be written).
//
// A buffer given a storage_arena takes its bytes from there while the arena
// places blocks of that size (the producer's batches up to 64 KiB: see
// storage_arena.h for why). Otherwise small buffers come from malloc, and
// from `mapped_threshold` on, a buffer is
// its own anonymous mapping (mmap; growth by mremap, which moves pages
// instead of copying them; munmap returns them to the OS at once). Why not
// malloc: glibc raises its mmap threshold after the first large free, so
// later batch buffers come from the arenas of the threads that allocate
// them - with several sending threads, one arena each - and each arena keeps
// up to twice that threshold free and resident: ~15 MB more peak RSS with 8
// sending threads at a 32 MiB buffer.memory.
class batch_buffer {
 public:
  static constexpr std::size_t mapped_threshold = 128 * 1024;

  batch_buffer() noexcept = default;
  // Storage comes from `arena` while it has a block, else as above.
  explicit batch_buffer(storage_arena* arena) noexcept : arena_(arena) {}
  batch_buffer(const batch_buffer&) = delete;
  batch_buffer& operator=(const batch_buffer&) = delete;
  batch_buffer(batch_buffer&& o) noexcept : p_(o.p_), size_(o.size_), cap_(o.cap_), arena_(o.arena_) {
    o.p_ = nullptr, o.size_ = o.cap_ = 0;
  }
  batch_buffer& operator=(batch_buffer&& o) noexcept {
    if (this != &o) {
      release(p_, cap_);
      p_ = o.p_, size_ = o.size_, cap_ = o.cap_, arena_ = o.arena_;
      o.p_ = nullptr, o.size_ = o.cap_ = 0;
    }
    return *this;
  }
  ~batch_buffer() { release(p_, cap_); }

  std::uint8_t* data() noexcept { return p_; }
  const std::uint8_t* data() const noexcept { return p_; }
  std::uint8_t* begin() noexcept { return p_; }
  std::uint8_t* end() noexcept { return p_ + size_; }
  const std::uint8_t* begin() const noexcept { return p_; }
  const std::uint8_t* end() const noexcept { return p_ + size_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  bool empty() const noexcept { return size_ == 0; }
  void clear() noexcept { size_ = 0; }
  // The storage is a block of the arena (not malloc'd or mapped).
  bool in_arena() const noexcept { return p_ != nullptr && arena_ != nullptr && arena_->owns(p_); }

  // Capacity becomes at least n (contents kept). Throws std::bad_alloc.
  void reserve(std::size_t n) {
    if (n <= cap_) return;
    p_ = grow(n);
    cap_ = n;
  }
  // A mapped buffer (capacity at least mapped_threshold, not an arena
  // block) gets a capacity of exactly n >= mapped_threshold, by mremap:
  // pages up to the smaller of the two capacities stay (resident where they
  // were), so a recycled mapping serves another size without faulting in
  // afresh what it already had. Contents beyond n are lost. Throws
  // std::bad_alloc.
  void remap(std::size_t n);
  // Size becomes n; bytes past the old size are uninitialised.
  void resize_uninitialized(std::size_t n) {
    reserve(n);
    size_ = n;
  }
  // Appends n uninitialised bytes (capacity must suffice) and returns them.
  std::uint8_t* extend(std::size_t n) noexcept {
    std::uint8_t* at = p_ + size_;
    size_ += n;
    return at;
  }

 private:
  // Storage of capacity n holding the current bytes: an arena block when
  // there is one, else malloc'd below mapped_threshold, else mapped.
  std::uint8_t* grow(std::size_t n);
  static std::uint8_t* grow_outside(std::uint8_t* p, std::size_t size, std::size_t cap, std::size_t n);
  void release(std::uint8_t* p, std::size_t cap) noexcept;
  static void release_outside(std::uint8_t* p, std::size_t cap) noexcept;

  std::uint8_t* p_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
  storage_arena* arena_ = nullptr;
};

// Builds one batch at a time in final wire form. Not thread-safe.
class record_batch_builder {
 public:
  // Starts a new batch, reusing the buffer's capacity. base_timestamp_ms is
  // the first record's timestamp (later records are stored as deltas).
  void start(std::int64_t base_timestamp_ms);
  // Starts a new batch in `buf` (a recycled buffer: its capacity is kept,
  // its contents dropped).
  void start(std::int64_t base_timestamp_ms, batch_buffer&& buf);

  // Upper bound of the bytes one record adds (for batch.size /
  // max.request.size decisions). A negative length means null.
  static std::size_t record_size_upper_bound(std::int32_t key_len, std::int32_t value_len,
                                             std::span<const record_header_view> headers) noexcept;

  // Appends one record in final wire form, with no per-record allocation
  // (only amortised growth of one buffer). Returns the bytes added.
  // key_len / value_len < 0 means null (the pointer is then ignored); 0 is an
  // empty, non-null value. If start() was not called, the record's timestamp
  // becomes the base timestamp. Precondition: the record fits in an int32
  // length, which record_size_upper_bound lets the caller check.
  std::size_t append(std::int64_t timestamp_ms, const std::uint8_t* key, std::int32_t key_len,
                     const std::uint8_t* value, std::int32_t value_len,
                     std::span<const record_header_view> headers);

  std::int32_t record_count() const noexcept { return count_; }
  // Header + records appended so far (uncompressed).
  std::size_t size_bytes() const noexcept { return buf_.size(); }
  // Bytes the buffer holds (what the producer accounts in buffer.memory).
  std::size_t capacity_bytes() const noexcept { return buf_.capacity(); }
  // Grows the buffer's capacity to at least n bytes (append() also grows it
  // when needed, by doubling).
  void reserve(std::size_t n) { buf_.reserve(n); }
  // Software prefetch of the buffer's next lines, for writing, a fixed
  // distance ahead of the appends. A batch's buffer comes back from the I/O
  // thread (the kernel read it there to send it), so every line is cold on
  // the sending thread's core; the hardware prefetcher does not cross 4 KiB
  // pages and follows only a few streams (one per partition). Without this,
  // the release of the partition lock after an append (a full barrier)
  // waits for the append's stores to miss. See codec/prefetch.h for why it
  // is not __builtin_prefetch.
  static constexpr std::size_t prefetch_distance = 256;
  // After start(): the first lines.
  void prefetch_start() const noexcept { prefetch_lines(buf_.size(), buf_.size() + prefetch_distance); }
  // After an append that grew the batch from `size_before`: the lines that
  // came within prefetch_distance of the end.
  void prefetch_after_append(std::size_t size_before) const noexcept {
    prefetch_lines(size_before + prefetch_distance + 1, buf_.size() + prefetch_distance + 1);
  }
  // Takes the buffer out (for reuse); the builder is then empty.
  batch_buffer take_buffer() noexcept {
    count_ = 0;
    return std::move(buf_);
  }
  std::int64_t base_timestamp() const noexcept { return base_ts_; }
  std::int64_t max_timestamp() const noexcept { return max_ts_; }

  // Finishes the batch: compresses the records with `c` (nullptr = none),
  // fills every header field and the CRC, and moves the bytes out. The
  // builder is then empty and can be start()ed again. A batch with no
  // records is client_errc::illegal_state; a failed compression leaves the
  // builder unchanged.
  kprod::result<std::vector<std::uint8_t>> seal(const batch_producer_fields& f, codec::compressor* c);

  // seal() without copies: the batch is finished in the builder's own buffer,
  // which is moved out. A compressed batch is compressed into `scratch` (kept
  // by the caller so that its capacity is reused) and copied back over the
  // uncompressed records, so the batch still occupies one buffer.
  kprod::result<batch_buffer> seal_buffer(const batch_producer_fields& f, codec::compressor* c,
                                          std::vector<std::uint8_t>& scratch);

 private:
  batch_buffer buf_;
  std::int64_t base_ts_ = 0;
  std::int64_t max_ts_ = 0;
  std::int32_t count_ = 0;
  std::size_t last_size_ = 0;  // the previous batch's size: capacity to reserve after a move-out

  // Prefetches the lines that start in [from, to) (offsets, clamped to the
  // capacity), plus the line `from` falls in when it is not line-aligned.
  void prefetch_lines(std::size_t from, std::size_t to) const noexcept {
    const auto base = reinterpret_cast<std::uintptr_t>(buf_.data());
    const std::uintptr_t end = base + std::min(buf_.capacity(), to);
    for (std::uintptr_t line = (base + from) & ~std::uintptr_t{63}; line < end; line += 64) {
      codec::prefetch_for_write(reinterpret_cast<const void*>(line));
    }
  }
};

// Re-stamps producer id / epoch / base sequence / transactional bit of a
// sealed batch in place and fixes the CRC - patched, not recomputed (first
// send of an idempotent batch, epoch bumps, sequence resets); the records
// bytes stay identical. Spans shorter than a header are left alone.
void restamp_batch(std::span<std::uint8_t> sealed, const batch_producer_fields& f) noexcept;

}  // namespace kprod::protocol
