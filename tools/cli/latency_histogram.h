// latency_histogram.h - an HDR-style log-bucketed histogram of unsigned values
// (the CLI records nanoseconds). Memory and recording cost are constant no
// matter how many samples arrive, so `kprod perf` can keep every latency of a
// multi-million-record run without storing or sorting the samples.
//
// Buckets: values below 2^precision_bits are counted exactly. Above that,
// every power-of-two range [2^k, 2^(k+1)) is split into 2^precision_bits
// equal sub-buckets, so a bucket's width is at most value / 2^precision_bits:
// a reported percentile is within a relative error of 2^-precision_bits of the
// true sample (0.39% with the default of 8 bits). min, max and mean are exact.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace kprod::cli {

class latency_histogram {
 public:
  explicit latency_histogram(int precision_bits = 8)
      : precision_bits_(std::clamp(precision_bits, 1, 16)),
        counts_(bucket_index(std::numeric_limits<std::uint64_t>::max()) + 1, 0) {}

  void record(std::uint64_t value) noexcept { record_n(value, 1); }

  void record_n(std::uint64_t value, std::uint64_t n) noexcept {
    if (n == 0) return;
    counts_[bucket_index(value)] += n;
    count_ += n;
    sum_ += static_cast<double>(value) * static_cast<double>(n);
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }

  // Adds another histogram's samples; both must use the same precision.
  bool merge(const latency_histogram& other) noexcept {
    if (other.precision_bits_ != precision_bits_) return false;
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    return true;
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }
  int precision_bits() const noexcept { return precision_bits_; }
  // The bound on |reported - true| / true for value_at_percentile().
  double max_relative_error() const noexcept { return std::ldexp(1.0, -precision_bits_); }

  // The smallest recorded value v such that at least `percentile` % of the
  // samples are <= v, reported as the highest value its bucket can hold
  // (clamped to [min, max]), like HdrHistogram. 0 for an empty histogram.
  std::uint64_t value_at_percentile(double percentile) const noexcept {
    if (count_ == 0) return 0;
    percentile = std::clamp(percentile, 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(highest_in_bucket(i), min(), max_);
    }
    return max_;
  }

  // Bucket arithmetic, public for the tests.
  std::size_t bucket_index(std::uint64_t v) const noexcept {
    const std::uint64_t exact_limit = std::uint64_t{1} << precision_bits_;
    if (v < exact_limit) return static_cast<std::size_t>(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - precision_bits_;
    // (v >> shift) lies in [2^p, 2^(p+1)): consecutive ranges tile the index space.
    return static_cast<std::size_t>((static_cast<std::uint64_t>(shift) << precision_bits_) + (v >> shift));
  }
  std::uint64_t lowest_in_bucket(std::size_t index) const noexcept {
    const std::uint64_t sub = std::uint64_t{1} << precision_bits_;
    if (index < 2 * sub) return index;
    const std::uint64_t shift = index / sub - 1;
    const std::uint64_t top = index - shift * sub;  // in [2^p, 2^(p+1))
    return top << shift;
  }
  std::uint64_t highest_in_bucket(std::size_t index) const noexcept {
    const std::uint64_t sub = std::uint64_t{1} << precision_bits_;
    if (index < 2 * sub) return index;
    const std::uint64_t shift = index / sub - 1;
    return lowest_in_bucket(index) + ((std::uint64_t{1} << shift) - 1);
  }

 private:
  int precision_bits_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;  // the mean needs no more (long double is x87 arithmetic on every sample)
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace kprod::cli
