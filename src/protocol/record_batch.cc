// record_batch.cc - building and re-stamping v2 record batches.
#include "protocol/record_batch.h"

#include <sys/mman.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "codec/crc32c.h"
#include "codec/varint.h"

namespace kprod::protocol {

namespace {
constexpr std::size_t page_bytes = 4096;
std::size_t mapping_bytes(std::size_t cap) noexcept { return (cap + page_bytes - 1) & ~(page_bytes - 1); }
}  // namespace

std::uint8_t* batch_buffer::grow(std::size_t n) {
  if (arena_ != nullptr) {
    // The block may already hold n (blocks are powers of two).
    if (p_ != nullptr && arena_->owns(p_) && arena_->block_bytes(cap_) >= n) return p_;
    if (void* q = arena_->allocate(n)) {
      if (p_ != nullptr) {
        std::memcpy(q, p_, size_);
        release(p_, cap_);
      }
      return static_cast<std::uint8_t*>(q);
    }
    // A mapping's fresh pages replace free ones the arena holds resident
    // (storage_arena::yield_resident).
    const bool from_arena = p_ != nullptr && arena_->owns(p_);
    if (n >= mapped_threshold) {
      const bool mapped_now = !from_arena && p_ != nullptr && cap_ >= mapped_threshold;
      const std::size_t before = mapped_now ? mapping_bytes(cap_) : 0;
      if (mapping_bytes(n) > before) arena_->yield_resident(mapping_bytes(n) - before);
    }
    if (from_arena) {
      // No block this large free: the bytes move out of the arena.
      std::uint8_t* q = grow_outside(nullptr, 0, 0, n);
      std::memcpy(q, p_, size_);
      arena_->deallocate(p_, cap_);
      return q;
    }
  }
  return grow_outside(p_, size_, cap_, n);
}

void batch_buffer::remap(std::size_t n) {
  if (n == cap_) return;
  // Growth maps fresh pages beyond the old end: the arena gives back as many
  // resident free ones first, as grow() does.
  if (arena_ != nullptr && mapping_bytes(n) > mapping_bytes(cap_)) {
    arena_->yield_resident(mapping_bytes(n) - mapping_bytes(cap_));
  }
  p_ = grow_outside(p_, std::min(size_, n), cap_, n);
  cap_ = n;
  size_ = std::min(size_, n);
}

void batch_buffer::release(std::uint8_t* p, std::size_t cap) noexcept {
  if (p != nullptr && arena_ != nullptr && arena_->owns(p)) {
    arena_->deallocate(p, cap);
  } else {
    release_outside(p, cap);
  }
}

std::uint8_t* batch_buffer::grow_outside(std::uint8_t* p, std::size_t size, std::size_t cap, std::size_t n) {
  if (n < mapped_threshold) {
    void* q = std::realloc(p, n);
    if (q == nullptr) throw std::bad_alloc();
    return static_cast<std::uint8_t*>(q);
  }
  if (p != nullptr && cap >= mapped_threshold) {
    if (mapping_bytes(n) == mapping_bytes(cap)) return p;
    void* q = mremap(p, mapping_bytes(cap), mapping_bytes(n), MREMAP_MAYMOVE);
    if (q == MAP_FAILED) throw std::bad_alloc();
    return static_cast<std::uint8_t*>(q);
  }
  void* q = mmap(nullptr, mapping_bytes(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (q == MAP_FAILED) throw std::bad_alloc();
  if (p != nullptr) {
    std::memcpy(q, p, size);
    std::free(p);
  }
  return static_cast<std::uint8_t*>(q);
}

void batch_buffer::release_outside(std::uint8_t* p, std::size_t cap) noexcept {
  if (p == nullptr) return;
  if (cap >= mapped_threshold) {
    munmap(p, mapping_bytes(cap));
  } else {
    std::free(p);
  }
}

namespace {

using namespace batch_v2;

template <typename U>
void put_be(std::uint8_t* p, U v) noexcept {
  for (std::size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * (sizeof(U) - 1 - i)));
}

std::uint16_t get_be16(const std::uint8_t* p) noexcept { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t get_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

void put_producer_fields(std::uint8_t* b, const batch_producer_fields& f) noexcept {
  put_be(b + producer_id_at, static_cast<std::uint64_t>(f.producer_id));
  put_be(b + producer_epoch_at, static_cast<std::uint16_t>(f.producer_epoch));
  put_be(b + base_sequence_at, static_cast<std::uint32_t>(f.base_sequence));
  std::uint16_t attrs = get_be16(b + attributes_at);
  attrs = f.transactional ? static_cast<std::uint16_t>(attrs | transactional_bit)
                          : static_cast<std::uint16_t>(attrs & ~transactional_bit);
  put_be(b + attributes_at, attrs);
}

void put_crc(std::span<std::uint8_t> b) noexcept {
  put_be(b.data() + crc_at, codec::crc32c(b.data() + attributes_at, b.size() - attributes_at));
}

// Zig-zag varint of a non-negative length or -1 (null).
inline std::size_t put_varint(std::uint8_t* p, std::int32_t v) noexcept { return codec::encode_varint32(v, p); }

inline std::uint8_t* copy_bytes(std::uint8_t* p, const void* src, std::size_t n) noexcept {
  const auto* s = static_cast<const std::uint8_t*>(src);
  if (n <= 16) {
    // Short keys and values (most keys): two overlapping loads and stores
    // instead of a call into libc's memcpy and its size dispatch.
    if (n >= 8) {
      std::uint64_t a, b;
      std::memcpy(&a, s, 8);
      std::memcpy(&b, s + n - 8, 8);
      std::memcpy(p, &a, 8);
      std::memcpy(p + n - 8, &b, 8);
    } else if (n >= 4) {
      std::uint32_t a, b;
      std::memcpy(&a, s, 4);
      std::memcpy(&b, s + n - 4, 4);
      std::memcpy(p, &a, 4);
      std::memcpy(p + n - 4, &b, 4);
    } else if (n != 0) {
      p[0] = s[0];
      p[n / 2] = s[n / 2];
      p[n - 1] = s[n - 1];
    }
    return p + n;
  }
  std::memcpy(p, src, n);
  return p + n;
}

inline std::size_t nonneg(std::int32_t len) noexcept { return len > 0 ? static_cast<std::size_t>(len) : 0; }

}  // namespace

void record_batch_builder::start(std::int64_t base_timestamp_ms) {
  buf_.clear();
  buf_.reserve(std::max(last_size_, header_size));
  buf_.resize_uninitialized(header_size);  // the header is written by seal
  base_ts_ = base_timestamp_ms;
  max_ts_ = base_timestamp_ms;
  count_ = 0;
}

void record_batch_builder::start(std::int64_t base_timestamp_ms, batch_buffer&& buf) {
  buf_ = std::move(buf);
  start(base_timestamp_ms);
}

std::size_t record_batch_builder::record_size_upper_bound(std::int32_t key_len, std::int32_t value_len,
                                                          std::span<const record_header_view> headers) noexcept {
  constexpr std::size_t v32 = codec::max_varint32_bytes;
  // length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, headerCount
  std::size_t n = v32 + 1 + codec::max_varint64_bytes + v32 + v32 + v32 + v32;
  n += nonneg(key_len) + nonneg(value_len);
  for (const auto& h : headers) n += v32 + h.key.size() + v32 + nonneg(h.value_len);
  return n;
}

std::size_t record_batch_builder::append(std::int64_t timestamp_ms, const std::uint8_t* key, std::int32_t key_len,
                                         const std::uint8_t* value, std::int32_t value_len,
                                         std::span<const record_header_view> headers) {
  if (buf_.size() < header_size) start(timestamp_ms);
  if (key_len < 0) key_len = -1;
  if (value_len < 0) value_len = -1;
  // Wrapping subtraction: any pair of int64 timestamps has a representable delta modulo 2^64.
  const auto ts_delta = static_cast<std::int64_t>(static_cast<std::uint64_t>(timestamp_ms) -
                                                  static_cast<std::uint64_t>(base_ts_));
  const std::int32_t offset_delta = count_;
  const auto header_count = static_cast<std::int32_t>(headers.size());

  // Room for the most this record can take (the accumulator reserved it
  // already, so this rarely grows the buffer).
  const std::size_t bound = record_size_upper_bound(key_len, value_len, headers);
  if (buf_.capacity() - buf_.size() < bound) buf_.reserve(std::max(buf_.capacity() * 2, buf_.size() + bound));
  // The body is encoded first and its length written in front of it, so no
  // field is sized and then encoded. The body starts after as many bytes as
  // the length of the largest possible body takes; the real length can only
  // take fewer (a body within a few bytes below 64 or 8192), and then the
  // body moves down.
  std::uint8_t* const rec = buf_.end();
  const std::size_t room = codec::varint_size(static_cast<std::int32_t>(bound - codec::max_varint32_bytes));
  std::uint8_t* p = rec + room;
  *p++ = 0;  // record attributes
  p += codec::encode_varint64(ts_delta, p);
  p += put_varint(p, offset_delta);
  p += put_varint(p, key_len);
  if (key_len > 0) p = copy_bytes(p, key, static_cast<std::size_t>(key_len));
  p += put_varint(p, value_len);
  if (value_len > 0) p = copy_bytes(p, value, static_cast<std::size_t>(value_len));
  p += put_varint(p, header_count);
  for (const auto& h : headers) {
    const std::int32_t hv = h.value_len < 0 ? -1 : h.value_len;
    p += put_varint(p, static_cast<std::int32_t>(h.key.size()));
    p = copy_bytes(p, h.key.data(), h.key.size());
    p += put_varint(p, hv);
    if (hv > 0) p = copy_bytes(p, h.value, static_cast<std::size_t>(hv));
  }
  const auto body = static_cast<std::size_t>(p - (rec + room));
  const auto body32 = static_cast<std::int32_t>(body);
  const std::size_t length_bytes = codec::varint_size(body32);
  if (length_bytes != room) std::memmove(rec + length_bytes, rec + room, body);
  put_varint(rec, body32);
  const std::size_t total = length_bytes + body;
  buf_.extend(total);

  ++count_;
  max_ts_ = std::max(max_ts_, timestamp_ms);
  return total;
}

kprod::result<std::vector<std::uint8_t>> record_batch_builder::seal(const batch_producer_fields& f,
                                                                    codec::compressor* c) {
  std::vector<std::uint8_t> scratch;
  auto sealed = seal_buffer(f, c, scratch);
  if (!sealed.ok()) return sealed.error();
  std::vector<std::uint8_t> out(sealed->begin(), sealed->end());
  buf_ = std::move(sealed.value());  // keep the capacity for the next batch
  buf_.clear();
  return out;
}

kprod::result<batch_buffer> record_batch_builder::seal_buffer(const batch_producer_fields& f, codec::compressor* c,
                                                              std::vector<std::uint8_t>& scratch) {
  if (count_ == 0 || buf_.size() < header_size)
    return kprod::error(client_errc::illegal_state, "cannot seal a record batch with no records");

  const bool compressed = c != nullptr && c->type() != compression_type::none;
  const std::size_t uncompressed_size = buf_.size();
  if (compressed) {
    scratch.clear();
    KP_TRY(c->compress(std::span<const std::uint8_t>(buf_.data() + header_size, buf_.size() - header_size), scratch));
    // The records are no longer needed uncompressed: the compressed form
    // takes their place behind the header.
    buf_.resize_uninitialized(header_size + scratch.size());
    std::memcpy(buf_.data() + header_size, scratch.data(), scratch.size());
  }
  if (buf_.size() - log_overhead > static_cast<std::size_t>(INT32_MAX))
    return kprod::error(client_errc::record_too_large, "record batch exceeds 2 GiB");

  std::uint8_t* b = buf_.data();
  const auto codec_bits = static_cast<std::uint16_t>(compressed ? static_cast<int>(c->type()) : 0);
  put_be(b + base_offset_at, std::uint64_t{0});
  put_be(b + batch_length_at, static_cast<std::uint32_t>(buf_.size() - log_overhead));
  put_be(b + leader_epoch_at, static_cast<std::uint32_t>(-1));
  b[magic_at] = static_cast<std::uint8_t>(magic);
  put_be(b + attributes_at, codec_bits);  // create time; transactional bit set below
  put_be(b + last_offset_delta_at, static_cast<std::uint32_t>(count_ - 1));
  put_be(b + base_timestamp_at, static_cast<std::uint64_t>(base_ts_));
  put_be(b + max_timestamp_at, static_cast<std::uint64_t>(max_ts_));
  put_be(b + records_count_at, static_cast<std::uint32_t>(count_));
  put_producer_fields(b, f);
  put_crc(std::span<std::uint8_t>(buf_.data(), buf_.size()));

  last_size_ = uncompressed_size;
  count_ = 0;
  return std::move(buf_);
}

void restamp_batch(std::span<std::uint8_t> sealed, const batch_producer_fields& f) noexcept {
  if (sealed.size() < header_size) return;
  // The CRC covers attributes .. end; only the header part changes here.
  // The CRC is patched (the header change's CRC moved past the records:
  // ~10 carry-less multiplications), not recomputed: a pass over the
  // records, which the thread stamping them (the I/O thread, under the
  // partition's lock) mostly finds in another core's cache - ~1.4 us for a
  // 16 KiB batch of 100-byte records, the sending threads waiting for the
  // lock meanwhile.
  constexpr std::size_t changed = header_size - attributes_at;
  const std::size_t tail = sealed.size() - header_size;
  std::uint8_t before[changed];
  std::memcpy(before, sealed.data() + attributes_at, changed);
  put_producer_fields(sealed.data(), f);
  const std::uint32_t old_crc = get_be32(sealed.data() + crc_at);
  put_be(sealed.data() + crc_at, codec::crc32c_patch(old_crc, before, sealed.data() + attributes_at, changed, tail));
}

}  // namespace kprod::protocol
