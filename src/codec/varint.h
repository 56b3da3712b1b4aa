// varint.h - LEB128 varints as Kafka uses them.
//
// Unsigned varints carry flexible-version lengths and tags; zig-zag signed
// varints/varlongs carry record fields (protobuf's encoding). Decoders return
// the number of bytes consumed, 0 when the input is truncated or the value
// overflows (more than 5 / 10 bytes).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kprod::codec {

inline constexpr std::size_t max_varint32_bytes = 5;
inline constexpr std::size_t max_varint64_bytes = 10;

constexpr std::uint32_t zigzag32(std::int32_t v) noexcept {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
constexpr std::uint64_t zigzag64(std::int64_t v) noexcept {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
constexpr std::int32_t unzigzag32(std::uint32_t v) noexcept {
  return static_cast<std::int32_t>((v >> 1) ^ (~(v & 1) + 1));
}
constexpr std::int64_t unzigzag64(std::uint64_t v) noexcept {
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

// One byte per started group of 7 bits. Most values in a record take one or
// two bytes, so those are tested first (a branch-free bit_width + divide was
// more instructions per record: without LZCNT in the baseline ISA it is BSR
// plus fix-ups).
constexpr std::size_t uvarint_size(std::uint64_t v) noexcept {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  std::size_t n = 3;
  for (v >>= 21; v != 0; v >>= 7) ++n;
  return n;
}
constexpr std::size_t varint_size(std::int32_t v) noexcept { return uvarint_size(zigzag32(v)); }
constexpr std::size_t varlong_size(std::int64_t v) noexcept { return uvarint_size(zigzag64(v)); }

inline std::size_t encode_uvarint64(std::uint64_t v, std::uint8_t* out) noexcept {
  // Most varints of a record (lengths, deltas) take one or two bytes.
  if (v < 0x80) {
    out[0] = static_cast<std::uint8_t>(v);
    return 1;
  }
  if (v < 0x4000) {
    out[0] = static_cast<std::uint8_t>(v | 0x80);
    out[1] = static_cast<std::uint8_t>(v >> 7);
    return 2;
  }
  std::size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<std::uint8_t>(v | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<std::uint8_t>(v);
  return n;
}
inline std::size_t encode_uvarint32(std::uint32_t v, std::uint8_t* out) noexcept { return encode_uvarint64(v, out); }
inline std::size_t encode_varint32(std::int32_t v, std::uint8_t* out) noexcept { return encode_uvarint64(zigzag32(v), out); }
inline std::size_t encode_varint64(std::int64_t v, std::uint8_t* out) noexcept { return encode_uvarint64(zigzag64(v), out); }

inline std::size_t decode_uvarint64(const std::uint8_t* p, std::size_t avail, std::uint64_t& out) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < avail && i < max_varint64_bytes; ++i) {
    std::uint64_t b = p[i];
    if (i == max_varint64_bytes - 1 && b > 1) return 0;  // would overflow 64 bits
    v |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) { out = v; return i + 1; }
  }
  return 0;
}
inline std::size_t decode_uvarint32(const std::uint8_t* p, std::size_t avail, std::uint32_t& out) noexcept {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < avail && i < max_varint32_bytes; ++i) {
    std::uint32_t b = p[i];
    if (i == max_varint32_bytes - 1 && b > 0x0f) return 0;  // would overflow 32 bits
    v |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) { out = v; return i + 1; }
  }
  return 0;
}
inline std::size_t decode_varint32(const std::uint8_t* p, std::size_t avail, std::int32_t& out) noexcept {
  std::uint32_t u = 0;
  std::size_t n = decode_uvarint32(p, avail, u);
  if (n) out = unzigzag32(u);
  return n;
}
inline std::size_t decode_varint64(const std::uint8_t* p, std::size_t avail, std::int64_t& out) noexcept {
  std::uint64_t u = 0;
  std::size_t n = decode_uvarint64(p, avail, u);
  if (n) out = unzigzag64(u);
  return n;
}

}  // namespace kprod::codec
