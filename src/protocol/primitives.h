// primitives.h - wire helpers shared by the generated Kafka message codecs.
//
// The generated code (src/protocol/generated/) calls only these helpers and the
// byte_reader/byte_writer primitives, so the per-message .cc files stay short.
// "compact" selects the flexible-version encodings (KIP-482): lengths and
// counts as unsigned varints holding length+1, 0 meaning null. Readers follow
// byte_reader's sticky-error habit: on bad input they fail the reader and the
// caller checks ok() once at the end.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "codec/varint.h"
#include "kprod/error.h"
#include "kprod/result.h"

namespace kprod::protocol {

// A tagged field the generated code does not know, kept verbatim so that a
// decode/encode round trip loses nothing.
struct tagged_field {
  std::uint32_t tag = 0;
  std::vector<std::uint8_t> data;
  bool operator==(const tagged_field&) const = default;
};

using uuid_bytes = std::array<std::uint8_t, 16>;

// Kafka strings carry an int16 length on the wire (Java rejects longer ones).
inline constexpr std::size_t max_string_length = 0x7fff;

// ---- sizes --------------------------------------------------------------------
inline std::size_t length_prefix_size(std::size_t n, bool compact, std::size_t fixed_bytes) {
  return compact ? codec::uvarint_size(static_cast<std::uint64_t>(n) + 1) : fixed_bytes;
}
inline std::size_t string_size(std::string_view s, bool compact) {
  return length_prefix_size(s.size(), compact, 2) + s.size();
}
inline std::size_t nullable_string_size(const std::optional<std::string>& s, bool compact) {
  return s ? string_size(*s, compact) : (compact ? 1 : 2);
}
inline std::size_t bytes_size(const std::vector<std::uint8_t>& b, bool compact) {
  return length_prefix_size(b.size(), compact, 4) + b.size();
}
inline std::size_t nullable_bytes_size(const std::optional<std::vector<std::uint8_t>>& b, bool compact) {
  return b ? bytes_size(*b, compact) : (compact ? 1 : 4);
}
template <typename T, typename F>
std::size_t array_size(const std::vector<T>& a, bool compact, F&& element_size) {
  std::size_t n = length_prefix_size(a.size(), compact, 4);
  for (const auto& e : a) n += element_size(e);
  return n;
}
template <typename T, typename F>
std::size_t nullable_array_size(const std::optional<std::vector<T>>& a, bool compact, F&& element_size) {
  return a ? array_size(*a, compact, element_size) : (compact ? 1 : 4);
}
// One entry of a tagged-field section: tag, payload length, payload.
inline std::size_t tagged_entry_size(std::uint32_t tag, std::size_t payload) {
  return codec::uvarint_size(tag) + codec::uvarint_size(payload) + payload;
}
inline std::size_t unknown_tags_size(const std::vector<tagged_field>& unknown) {
  std::size_t n = 0;
  for (const auto& t : unknown) n += tagged_entry_size(t.tag, t.data.size());
  return n;
}

// ---- writers ------------------------------------------------------------------
inline void write_length(codec::byte_writer& w, std::size_t n, bool compact, bool int16_prefix) {
  if (compact) w.write_uvarint(static_cast<std::uint32_t>(n + 1));
  else if (int16_prefix) w.write_i16(static_cast<std::int16_t>(n));
  else w.write_i32(static_cast<std::int32_t>(n));
}
inline void write_null_length(codec::byte_writer& w, bool compact, bool int16_prefix) {
  if (compact) w.write_uvarint(0);
  else if (int16_prefix) w.write_i16(-1);
  else w.write_i32(-1);
}
inline kprod::error null_not_allowed(const char* field, std::int16_t version) {
  return kprod::error(client_errc::invalid_argument,
                      std::string(field) + " is null but not nullable at version " + std::to_string(version));
}
inline kprod::result<void> write_string(codec::byte_writer& w, std::string_view s, bool compact) {
  if (s.size() > max_string_length) return kprod::error(client_errc::out_of_range, "string longer than 32767 bytes");
  write_length(w, s.size(), compact, true);
  w.write_raw(s);
  return {};
}
inline kprod::result<void> write_nullable_string(codec::byte_writer& w, const std::optional<std::string>& s,
                                                 bool compact, bool nullable, const char* field,
                                                 std::int16_t version) {
  if (s) return write_string(w, *s, compact);
  if (!nullable) return null_not_allowed(field, version);
  write_null_length(w, compact, true);
  return {};
}
inline void write_bytes(codec::byte_writer& w, const std::vector<std::uint8_t>& b, bool compact) {
  write_length(w, b.size(), compact, false);
  w.write_raw(b.data(), b.size());
}
inline kprod::result<void> write_nullable_bytes(codec::byte_writer& w,
                                                const std::optional<std::vector<std::uint8_t>>& b,
                                                bool compact, bool nullable, const char* field,
                                                std::int16_t version) {
  if (b) {
    write_bytes(w, *b, compact);
    return {};
  }
  if (!nullable) return null_not_allowed(field, version);
  write_null_length(w, compact, false);
  return {};
}
template <typename T, typename F>
kprod::result<void> write_array(codec::byte_writer& w, const std::vector<T>& a, bool compact, F&& write_element) {
  write_length(w, a.size(), compact, false);
  for (const auto& e : a) KP_TRY(write_element(e));
  return {};
}
template <typename T, typename F>
kprod::result<void> write_nullable_array(codec::byte_writer& w, const std::optional<std::vector<T>>& a,
                                         bool compact, bool nullable, const char* field, std::int16_t version,
                                         F&& write_element) {
  if (a) return write_array(w, *a, compact, write_element);
  if (!nullable) return null_not_allowed(field, version);
  write_null_length(w, compact, false);
  return {};
}

// Emits the unknown tagged fields interleaved with the known ones so that the
// whole section is in ascending tag order, as the protocol requires.
class tag_section_writer {
 public:
  tag_section_writer(codec::byte_writer& w, const std::vector<tagged_field>& unknown) : w_(w) {
    order_.reserve(unknown.size());
    for (const auto& t : unknown) order_.push_back(&t);
    std::stable_sort(order_.begin(), order_.end(),
                     [](const tagged_field* a, const tagged_field* b) { return a->tag < b->tag; });
  }
  // Writes the unknown fields that sort before a known field with `tag`.
  kprod::result<void> before(std::uint32_t tag) {
    for (; next_ < order_.size() && order_[next_]->tag <= tag; ++next_) {
      if (order_[next_]->tag == tag) {
        return kprod::error(client_errc::invalid_argument,
                            "unknown tagged field " + std::to_string(tag) + " collides with a known field");
      }
      write_one(*order_[next_]);
    }
    return {};
  }
  void finish() {
    for (; next_ < order_.size(); ++next_) write_one(*order_[next_]);
  }

 private:
  void write_one(const tagged_field& t) {
    w_.write_uvarint(t.tag);
    w_.write_uvarint(static_cast<std::uint32_t>(t.data.size()));
    w_.write_raw(t.data.data(), t.data.size());
  }
  codec::byte_writer& w_;
  std::vector<const tagged_field*> order_;
  std::size_t next_ = 0;
};

inline kprod::error tags_need_flexible(const char* structure, std::int16_t version) {
  return kprod::error(client_errc::unsupported_version,
                      std::string(structure) + " has tagged fields, which version " + std::to_string(version) +
                          " cannot carry");
}
inline kprod::error field_not_in_version(const char* field, std::int16_t version) {
  return kprod::error(client_errc::unsupported_version,
                      "attempted to write a non-default " + std::string(field) + " at version " +
                          std::to_string(version));
}

// ---- readers ------------------------------------------------------------------
// Returns the length, -1 for null; fails the reader on a negative non-null
// length or one longer than what is left.
inline std::int64_t read_length(codec::byte_reader& r, bool compact, bool int16_prefix) {
  std::int64_t n;
  if (compact) n = static_cast<std::int64_t>(r.read_uvarint()) - 1;
  else n = int16_prefix ? r.read_i16() : r.read_i32();
  if (!r.ok() || n < -1) {
    r.fail();
    return -1;
  }
  return n;
}
inline void read_string(codec::byte_reader& r, std::string& out, bool compact) {
  std::int64_t n = read_length(r, compact, true);
  if (n < 0 || static_cast<std::size_t>(n) > max_string_length) {
    r.fail();
    return;
  }
  out.assign(r.read_string_view(static_cast<std::size_t>(n)));
}
inline void read_nullable_string(codec::byte_reader& r, std::optional<std::string>& out, bool compact,
                                 bool nullable) {
  std::int64_t n = read_length(r, compact, true);
  if (!r.ok()) return;
  if (n < 0) {
    if (!nullable) r.fail();
    out.reset();
    return;
  }
  if (static_cast<std::size_t>(n) > max_string_length) {
    r.fail();
    return;
  }
  out.emplace(r.read_string_view(static_cast<std::size_t>(n)));
}
inline void read_bytes_into(codec::byte_reader& r, std::vector<std::uint8_t>& out, std::int64_t n) {
  auto s = r.read_span(static_cast<std::size_t>(n));
  out.assign(s.begin(), s.end());
}
inline void read_bytes(codec::byte_reader& r, std::vector<std::uint8_t>& out, bool compact) {
  std::int64_t n = read_length(r, compact, false);
  if (n < 0) {
    r.fail();
    return;
  }
  read_bytes_into(r, out, n);
}
inline void read_nullable_bytes(codec::byte_reader& r, std::optional<std::vector<std::uint8_t>>& out,
                                bool compact, bool nullable) {
  std::int64_t n = read_length(r, compact, false);
  if (!r.ok()) return;
  if (n < 0) {
    if (!nullable) r.fail();
    out.reset();
    return;
  }
  read_bytes_into(r, out.emplace(), n);
}
inline void read_uuid(codec::byte_reader& r, uuid_bytes& out) {
  auto s = r.read_span(out.size());
  if (r.ok()) std::copy(s.begin(), s.end(), out.begin());
}
// Elements are at least min_element_bytes long on the wire, so a count larger
// than the bytes left is rejected before anything is allocated.
template <typename T, typename F>
void read_array_elements(codec::byte_reader& r, std::vector<T>& out, std::int64_t n, std::size_t min_element_bytes,
                         F&& read_element) {
  out.clear();
  if (!r.check_count(n, min_element_bytes)) return;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n && r.ok(); ++i) read_element(out.emplace_back());
}
template <typename T, typename F>
void read_array(codec::byte_reader& r, std::vector<T>& out, bool compact, std::size_t min_element_bytes,
                F&& read_element) {
  std::int64_t n = read_length(r, compact, false);
  if (n < 0) {
    r.fail();
    return;
  }
  read_array_elements(r, out, n, min_element_bytes, read_element);
}
template <typename T, typename F>
void read_nullable_array(codec::byte_reader& r, std::optional<std::vector<T>>& out, bool compact, bool nullable,
                         std::size_t min_element_bytes, F&& read_element) {
  std::int64_t n = read_length(r, compact, false);
  if (!r.ok()) return;
  if (n < 0) {
    if (!nullable) r.fail();
    out.reset();
    return;
  }
  read_array_elements(r, out.emplace(), n, min_element_bytes, read_element);
}

// Reads a tagged-field section. `read_known(tag, sub_reader)` decodes a tag
// the caller knows at this version and returns true; anything else is kept
// verbatim in `unknown`. A known field must fill its payload exactly.
template <typename F>
void read_tag_section(codec::byte_reader& r, std::vector<tagged_field>& unknown, F&& read_known) {
  std::uint32_t count = r.read_uvarint();
  if (!r.check_count(count, 2)) return;
  for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
    std::uint32_t tag = r.read_uvarint();
    std::uint32_t size = r.read_uvarint();
    auto payload = r.read_span(size);
    if (!r.ok()) return;
    codec::byte_reader sub(payload);
    if (read_known(tag, sub)) {
      if (!sub.ok() || !sub.empty()) r.fail();
    } else {
      unknown.push_back(tagged_field{tag, std::vector<std::uint8_t>(payload.begin(), payload.end())});
    }
  }
}

inline kprod::error malformed(const char* message, std::int16_t version) {
  return kprod::error(client_errc::malformed_response,
                      std::string(message) + " v" + std::to_string(version) + ": truncated or invalid");
}
inline kprod::error bad_version(const char* message, std::int16_t version, std::int16_t lo, std::int16_t hi) {
  return kprod::error(client_errc::unsupported_version,
                      std::string(message) + " version " + std::to_string(version) + " is outside " +
                          std::to_string(lo) + "-" + std::to_string(hi));
}

}  // namespace kprod::protocol
