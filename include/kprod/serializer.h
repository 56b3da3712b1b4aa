// kprod/serializer.h - turning application values into record bytes.
//
// A serializer for T is any type with
//
//   result<void> serialize(std::string_view topic, const T& value, std::string& out) const;
//
// that appends the bytes of `value` to `out` (which may already hold bytes),
// or returns an error (client_errc::serialization_failed by convention). It is
// const and called concurrently from every sending thread, so it must be
// thread-safe. A serializer may throw: typed_producer turns an exception into
// serialization_failed as well.
//
// Built in: string_serializer (text), bytes_serializer (any contiguous range
// of 1-byte elements), integer_serializer (big-endian, like the Java client's
// IntegerSerializer / LongSerializer). JSON lives in kprod/json_serializer.h
// so that this header does not pull in nlohmann/json.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>

#include "kprod/error.h"
#include "kprod/result.h"

namespace kprod {

template <typename S, typename T>
concept serializer = requires(const S& s, std::string_view topic, const T& value, std::string& out) {
  { s.serialize(topic, value, out) } -> std::same_as<result<void>>;
};

// A contiguous range whose elements are single bytes (std::vector<std::byte>,
// std::span<const std::uint8_t>, std::array<char, N>, ...).
template <typename T>
concept byte_range = std::ranges::contiguous_range<const T> && std::ranges::sized_range<const T> &&
                     sizeof(std::ranges::range_value_t<const T>) == 1 &&
                     std::is_trivially_copyable_v<std::ranges::range_value_t<const T>>;

// Text: anything convertible to std::string_view, copied as is.
struct string_serializer {
  template <typename T>
    requires std::convertible_to<const T&, std::string_view>
  result<void> serialize(std::string_view /*topic*/, const T& value, std::string& out) const {
    out.append(std::string_view(value));
    return {};
  }
};

// Raw bytes of a contiguous byte range.
struct bytes_serializer {
  template <byte_range T>
  result<void> serialize(std::string_view /*topic*/, const T& value, std::string& out) const {
    const auto n = std::ranges::size(value);
    if (n != 0) out.append(reinterpret_cast<const char*>(std::ranges::data(value)), n);
    return {};
  }
};

// Integers as fixed-width big-endian bytes (Kafka's and Java's convention).
struct integer_serializer {
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  result<void> serialize(std::string_view /*topic*/, const T& value, std::string& out) const {
    using U = std::make_unsigned_t<T>;
    const U u = static_cast<U>(value);
    for (int shift = static_cast<int>(sizeof(T) - 1) * 8; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>(static_cast<unsigned char>((u >> shift) & 0xFFu)));
    }
    return {};
  }
};

// The serializer typed_producer uses when none is named: string-like types
// -> string_serializer, byte ranges -> bytes_serializer, integers ->
// integer_serializer. Other types (e.g. a struct sent as JSON) have no
// default; name the serializer explicitly.
template <typename T>
struct default_serializer {};

template <typename T>
  requires std::convertible_to<const T&, std::string_view>
struct default_serializer<T> {
  using type = string_serializer;
};

template <typename T>
  requires(!std::convertible_to<const T&, std::string_view> && byte_range<T>)
struct default_serializer<T> {
  using type = bytes_serializer;
};

template <typename T>
  requires(std::integral<T> && !std::same_as<T, bool>)
struct default_serializer<T> {
  using type = integer_serializer;
};

template <typename T>
using default_serializer_t = typename default_serializer<T>::type;

}  // namespace kprod
