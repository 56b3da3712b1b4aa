// byte_reader - a bounded cursor over untrusted bytes with a sticky error.
//
// Reads never go past the end: the first short read poisons the reader, every
// later read returns a zero value, and the caller checks ok() once at the end
// (franz-go's kbin.Reader habit). Array counts are checked against the bytes
// left *before* anything is allocated (check_count).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "codec/varint.h"

namespace kprod::codec {

class byte_reader {
 public:
  byte_reader() = default;
  explicit byte_reader(std::span<const std::uint8_t> data) : p_(data.data()), end_(data.data() + data.size()) {}
  byte_reader(const std::uint8_t* p, std::size_t n) : p_(p), end_(p + n) {}

  bool ok() const noexcept { return !failed_; }
  void fail() noexcept { failed_ = true; p_ = end_; }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  bool empty() const noexcept { return p_ == end_; }
  const std::uint8_t* position() const noexcept { return p_; }

  std::int8_t read_i8() { return static_cast<std::int8_t>(read_be<std::uint8_t>()); }
  std::uint8_t read_u8() { return read_be<std::uint8_t>(); }
  bool read_bool() { return read_be<std::uint8_t>() != 0; }
  std::int16_t read_i16() { return static_cast<std::int16_t>(read_be<std::uint16_t>()); }
  std::uint16_t read_u16() { return read_be<std::uint16_t>(); }
  std::int32_t read_i32() { return static_cast<std::int32_t>(read_be<std::uint32_t>()); }
  std::uint32_t read_u32() { return read_be<std::uint32_t>(); }
  std::int64_t read_i64() { return static_cast<std::int64_t>(read_be<std::uint64_t>()); }
  double read_f64() {
    std::uint64_t bits = read_be<std::uint64_t>();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }

  std::uint32_t read_uvarint() {
    std::uint32_t v = 0;
    std::size_t n = decode_uvarint32(p_, remaining(), v);
    if (n == 0) { fail(); return 0; }
    p_ += n;
    return v;
  }
  std::int32_t read_varint() {
    std::int32_t v = 0;
    std::size_t n = decode_varint32(p_, remaining(), v);
    if (n == 0) { fail(); return 0; }
    p_ += n;
    return v;
  }
  std::int64_t read_varlong() {
    std::int64_t v = 0;
    std::size_t n = decode_varint64(p_, remaining(), v);
    if (n == 0) { fail(); return 0; }
    p_ += n;
    return v;
  }

  // n raw bytes; an empty span (and a failed reader) when fewer remain.
  std::span<const std::uint8_t> read_span(std::size_t n) {
    if (n > remaining()) { fail(); return {}; }
    std::span<const std::uint8_t> s(p_, n);
    p_ += n;
    return s;
  }
  std::string_view read_string_view(std::size_t n) {
    auto s = read_span(n);
    return {reinterpret_cast<const char*>(s.data()), s.size()};
  }
  void skip(std::size_t n) { (void)read_span(n); }

  // True when `count` elements of at least `min_element_bytes` each can still
  // fit in what is left; fails the reader otherwise. Call before reserving.
  bool check_count(std::int64_t count, std::size_t min_element_bytes) {
    if (count < 0) { fail(); return false; }
    std::size_t per = min_element_bytes == 0 ? 1 : min_element_bytes;
    if (static_cast<std::uint64_t>(count) > remaining() / per) { fail(); return false; }
    return true;
  }

 private:
  template <typename U>
  U read_be() {
    if (remaining() < sizeof(U)) { fail(); return 0; }
    U v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v = static_cast<U>((v << 8) | p_[i]);
    p_ += sizeof(U);
    return v;
  }

  const std::uint8_t* p_ = nullptr;
  const std::uint8_t* end_ = nullptr;
  bool failed_ = false;
};

}  // namespace kprod::codec
