// payload_generator.h - the values and keys `kprod perf` (and
// bench/rdkafka_perf, so both clients send the same bytes) generate when no
// payload file is given. Both are cheap per record on purpose: what the
// load generator spends is billed to the client's CPU per record.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace kprod::cli {

// Deterministic JSON-like values of exactly `size` bytes: a sequence number
// and a slice of pseudo-random text, so that codecs see realistic (neither
// constant nor incompressible) data and every value differs.
class payload_generator {
 public:
  explicit payload_generator(std::size_t size) : size_(size) {
    static constexpr char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789     ,.:-_";
    std::uint64_t x = 0x9e3779b97f4a7c15ull;  // splitmix64, fixed seed
    text_.resize(65536 + size);
    for (auto& c : text_) {
      x += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      c = alphabet[z % (sizeof alphabet - 1)];
    }
    buf_.resize(size);
  }

  std::string_view make(std::uint64_t seq) {
    static constexpr std::string_view head = "{\"seq\":";
    static constexpr std::string_view tail = ",\"data\":\"";
    const std::size_t offset = (seq * 7919) % 65536;
    // Too small for even a one-digit head: plain text, without formatting a
    // number that would not be used (~100 instructions per 10-byte record,
    // billed to the client under test).
    if (size_ < head.size() + 1 + tail.size() + 2) {
      std::memcpy(buf_.data(), text_.data() + offset, size_);
      return buf_;
    }
    char digits[24];
    const std::size_t dlen = static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, seq).ptr - digits);
    const std::size_t plen = head.size() + dlen + tail.size();
    if (size_ < plen + 2) {
      std::memcpy(buf_.data(), text_.data() + offset, size_);
      return buf_;
    }
    std::memcpy(buf_.data(), head.data(), head.size());
    std::memcpy(buf_.data() + head.size(), digits, dlen);
    std::memcpy(buf_.data() + head.size() + dlen, tail.data(), tail.size());
    std::memcpy(buf_.data() + plen, text_.data() + offset, size_ - plen - 2);
    buf_[size_ - 2] = '"';
    buf_[size_ - 1] = '}';
    return buf_;
  }

 private:
  std::size_t size_;
  std::string text_;
  std::string buf_;
};

// Record i's key "key-<i % keys>" (keys > 0), formatted once instead of per
// record. Read-only after construction, so sender threads share one table.
// Beyond max_table keys (more distinct keys than that are used in a run)
// they are formatted per record into the caller's scratch instead, so that
// the table's memory does not inflate the tool's peak RSS.
class key_table {
 public:
  static constexpr std::int64_t max_table = 1 << 16;
  struct scratch {
    char buf[24];  // "key-" and up to 19 digits
  };

  // num_records bounds the keys a run uses: record i < num_records.
  key_table(std::int64_t keys, std::int64_t num_records) : keys_(keys) {
    const std::int64_t used = std::min(keys, std::max<std::int64_t>(num_records, 0));
    if (keys <= 0 || used > max_table) return;
    starts_.reserve(static_cast<std::size_t>(used) + 1);
    scratch s;
    for (std::int64_t k = 0; k < used; ++k) {
      starts_.push_back(static_cast<std::uint32_t>(text_.size()));
      text_ += format(k, s);
    }
    starts_.push_back(static_cast<std::uint32_t>(text_.size()));
  }

  // keys > 0 only. The view is valid while the table (and `s`) live.
  std::string_view key(std::int64_t i, scratch& s) const {
    const std::int64_t k = i % keys_;
    if (static_cast<std::uint64_t>(k) + 1 >= starts_.size()) return format(k, s);
    const auto idx = static_cast<std::size_t>(k);
    return std::string_view(text_).substr(starts_[idx], starts_[idx + 1] - starts_[idx]);
  }

 private:
  static std::string_view format(std::int64_t k, scratch& s) {
    std::memcpy(s.buf, "key-", 4);
    const char* end = std::to_chars(s.buf + 4, s.buf + sizeof s.buf, k).ptr;
    return std::string_view(s.buf, static_cast<std::size_t>(end - s.buf));
  }

  std::int64_t keys_;
  std::string text_;                  // every key, back to back
  std::vector<std::uint32_t> starts_;  // key k is text_[starts_[k], starts_[k + 1])
};

}  // namespace kprod::cli
