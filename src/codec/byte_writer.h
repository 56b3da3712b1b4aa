// byte_writer - appends big-endian integers, varints and raw bytes to a
// growable buffer. Used by every encoder; the hot path (record append) keeps
// to the inline functions here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "codec/varint.h"

namespace kprod::codec {

class byte_writer {
 public:
  explicit byte_writer(std::vector<std::uint8_t>& out) : out_(&out) {}

  std::size_t size() const noexcept { return out_->size(); }
  std::vector<std::uint8_t>& buffer() noexcept { return *out_; }

  void reserve_more(std::size_t n) { out_->reserve(out_->size() + n); }

  void write_i8(std::int8_t v) { out_->push_back(static_cast<std::uint8_t>(v)); }
  void write_u8(std::uint8_t v) { out_->push_back(v); }
  void write_bool(bool v) { out_->push_back(v ? 1 : 0); }
  void write_i16(std::int16_t v) { write_be<std::uint16_t>(static_cast<std::uint16_t>(v)); }
  void write_u16(std::uint16_t v) { write_be<std::uint16_t>(v); }
  void write_i32(std::int32_t v) { write_be<std::uint32_t>(static_cast<std::uint32_t>(v)); }
  void write_u32(std::uint32_t v) { write_be<std::uint32_t>(v); }
  void write_i64(std::int64_t v) { write_be<std::uint64_t>(static_cast<std::uint64_t>(v)); }
  void write_f64(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    write_be<std::uint64_t>(bits);
  }

  // Unsigned LEB128 varint (flexible-version lengths, tag numbers).
  void write_uvarint(std::uint32_t v) {
    std::uint8_t tmp[max_varint32_bytes];
    out_->insert(out_->end(), tmp, tmp + encode_uvarint32(v, tmp));
  }
  // Zig-zag signed varint / varlong (record fields).
  void write_varint(std::int32_t v) {
    std::uint8_t tmp[max_varint32_bytes];
    out_->insert(out_->end(), tmp, tmp + encode_varint32(v, tmp));
  }
  void write_varlong(std::int64_t v) {
    std::uint8_t tmp[max_varint64_bytes];
    out_->insert(out_->end(), tmp, tmp + encode_varint64(v, tmp));
  }

  void write_raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out_->insert(out_->end(), b, b + n);
  }
  void write_raw(std::span<const std::uint8_t> s) { write_raw(s.data(), s.size()); }
  void write_raw(std::string_view s) { write_raw(s.data(), s.size()); }

  // Reserve n bytes to be patched later (e.g. a length prefix); returns offset.
  std::size_t skip(std::size_t n) {
    std::size_t at = out_->size();
    out_->resize(at + n);
    return at;
  }
  void patch_i32(std::size_t at, std::int32_t v) { put_be<std::uint32_t>(at, static_cast<std::uint32_t>(v)); }
  void patch_u32(std::size_t at, std::uint32_t v) { put_be<std::uint32_t>(at, v); }

 private:
  template <typename U>
  void write_be(U v) {
    std::size_t at = out_->size();
    out_->resize(at + sizeof(U));
    put_be<U>(at, v);
  }
  template <typename U>
  void put_be(std::size_t at, U v) {
    std::uint8_t* p = out_->data() + at;
    for (std::size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * (sizeof(U) - 1 - i)));
  }

  std::vector<std::uint8_t>* out_;
};

}  // namespace kprod::codec
