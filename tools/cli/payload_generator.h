// payload_generator.h - the values `kprod perf` (and bench/rdkafka_perf, so
// both clients send the same bytes) generate when no payload file is given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

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
    char prefix[48];
    const int n = std::snprintf(prefix, sizeof prefix, "{\"seq\":%llu,\"data\":\"",
                                static_cast<unsigned long long>(seq));
    const std::size_t offset = (seq * 7919) % 65536;
    const auto plen = static_cast<std::size_t>(n);
    if (size_ < plen + 2) {
      std::memcpy(buf_.data(), text_.data() + offset, size_);
      return buf_;
    }
    std::memcpy(buf_.data(), prefix, plen);
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

}  // namespace kprod::cli
