// The CLI's latency histogram: exact small values, bounded relative error for
// percentiles, exact min/max/mean, merge.
#include "../../../tools/cli/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace kprod::cli {
namespace {

TEST(LatencyHistogram, EmptyReportsZeros) {
  latency_histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
  EXPECT_EQ(h.value_at_percentile(100), 0u);
}

TEST(LatencyHistogram, BucketsTileTheValueRangeWithoutGapsOrOverlap) {
  latency_histogram h(4);
  std::size_t expected_index = 0;
  for (std::uint64_t v = 0; v < 100000; ++v) {
    const auto i = h.bucket_index(v);
    ASSERT_TRUE(i == expected_index || i == expected_index + 1) << v;
    if (i == expected_index + 1) {
      ASSERT_EQ(h.lowest_in_bucket(i), v) << "bucket " << i << " must start at " << v;
      ASSERT_EQ(h.highest_in_bucket(expected_index), v - 1);
      expected_index = i;
    }
    ASSERT_LE(h.lowest_in_bucket(i), v);
    ASSERT_GE(h.highest_in_bucket(i), v);
  }
  // The largest value still maps inside the table.
  EXPECT_EQ(h.highest_in_bucket(h.bucket_index(UINT64_MAX)), UINT64_MAX);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  latency_histogram h(8);
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.value_at_percentile(50), 50u);
  EXPECT_EQ(h.value_at_percentile(99), 99u);
  EXPECT_EQ(h.value_at_percentile(100), 100u);
  EXPECT_EQ(h.value_at_percentile(0), 1u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LatencyHistogram, PercentilesStayWithinTheRelativeErrorBound) {
  for (int bits : {3, 7, 8, 10}) {
    latency_histogram h(bits);
    std::mt19937_64 rng(42 + bits);
    // Log-normal-ish latencies from ~1 us to ~10 s in nanoseconds.
    std::lognormal_distribution<double> dist(std::log(2e6), 2.0);
    std::vector<std::uint64_t> samples;
    for (int i = 0; i < 200000; ++i) {
      auto v = static_cast<std::uint64_t>(std::clamp(dist(rng), 1.0, 1e13));
      samples.push_back(v);
      h.record(v);
    }
    std::sort(samples.begin(), samples.end());
    for (double q : {1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
      auto rank = static_cast<std::size_t>(std::ceil(q / 100.0 * static_cast<double>(samples.size())));
      const auto exact = samples[std::max<std::size_t>(rank, 1) - 1];
      const auto got = h.value_at_percentile(q);
      const double rel = std::abs(static_cast<double>(got) - static_cast<double>(exact)) /
                         static_cast<double>(exact);
      EXPECT_LE(rel, h.max_relative_error()) << "bits " << bits << " q " << q << " exact " << exact
                                             << " got " << got;
    }
    EXPECT_EQ(h.max(), samples.back());
    EXPECT_EQ(h.min(), samples.front());
    EXPECT_EQ(h.value_at_percentile(100), samples.back());
  }
}

TEST(LatencyHistogram, PercentilesAreMonotone) {
  latency_histogram h;
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> dist(1e-6);
  for (int i = 0; i < 50000; ++i) h.record(static_cast<std::uint64_t>(dist(rng)));
  std::uint64_t prev = 0;
  for (double q = 0; q <= 100.0; q += 0.5) {
    const auto v = h.value_at_percentile(q);
    EXPECT_GE(v, prev) << q;
    prev = v;
  }
}

TEST(LatencyHistogram, MeanIsExactForLargeValues) {
  latency_histogram h;
  h.record(1'000'000'007);
  h.record(3'000'000'001);
  h.record_n(5, 2);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.mean(), (1'000'000'007.0 + 3'000'000'001.0 + 10.0) / 4.0);
  EXPECT_EQ(h.max(), 3'000'000'001u);
  EXPECT_EQ(h.min(), 5u);
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  latency_histogram a, b, all;
  for (std::uint64_t v = 1; v < 100000; v += 37) {
    (v % 2 ? a : b).record(v * 1000);
    all.record(v * 1000);
  }
  ASSERT_TRUE(a.merge(b));
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double q : {50.0, 95.0, 99.9}) EXPECT_EQ(a.value_at_percentile(q), all.value_at_percentile(q));
  latency_histogram other_precision(5);
  EXPECT_FALSE(a.merge(other_precision));
}

}  // namespace
}  // namespace kprod::cli
