// producer_harness.h - sending numbered records through a kprod producer and
// checking what the fake cluster stored. Header-only test support.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fake/fake_broker.h"
#include "kprod/producer.h"

namespace kprod::test {

// What one record's completion said (copied: the report's views die with it).
struct report_copy {
  int completions = 0;
  kprod::error error;
  persistence status = persistence::not_persisted;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

// Record i has key "k<i>", value "v<i>", headers {"i": "<i>", "null": null}
// and timestamp base_ts + i.
inline constexpr std::int64_t base_ts = 1700000000000;
inline std::string key_of(std::size_t i) { return "k" + std::to_string(i); }
inline std::string value_of(std::size_t i) { return "v" + std::to_string(i); }

class delivery_tracker {
 public:
  // Sends records [first, first + n) to `topic`; every completion is counted.
  void send(producer& p, std::string_view topic, std::size_t first, std::size_t n,
            std::optional<std::int32_t> partition = std::nullopt) {
    for (std::size_t i = first; i < first + n; ++i) {
      {
        std::lock_guard lk(mu_);
        if (reports_.size() <= i) reports_.resize(i + 1);
        ++sent_;
      }
      const std::string k = key_of(i), v = value_of(i), idx = std::to_string(i);
      const header hs[] = {{"i", bytes_view(idx)}, {"null", std::nullopt}};
      record r{topic, partition, bytes_view(k), bytes_view(v), hs, base_ts + static_cast<std::int64_t>(i)};
      p.async_send(r, [this, i](delivery_report rep) {
        std::lock_guard lk(mu_);
        auto& c = reports_[i];
        if (++c.completions == 1) ++done_;
        c.error = rep.error;
        c.status = rep.status;
        c.partition = rep.metadata.partition;
        c.offset = rep.metadata.offset;
        cv_.notify_all();
      });
    }
  }

  // True once every record sent has completed at least once.
  bool wait_all(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return done_ >= sent_; });
  }

  std::vector<report_copy> reports() const {
    std::lock_guard lk(mu_);
    return reports_;
  }

  // Each record completed exactly once (call after producer::close()).
  void expect_exactly_one_completion_each() const {
    std::lock_guard lk(mu_);
    for (std::size_t i = 0; i < reports_.size(); ++i) {
      EXPECT_EQ(reports_[i].completions, 1) << "record " << i;
    }
  }

  void expect_all_ok() const {
    std::lock_guard lk(mu_);
    for (std::size_t i = 0; i < reports_.size(); ++i) {
      EXPECT_FALSE(reports_[i].error) << "record " << i << ": " << reports_[i].error.message();
    }
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<report_copy> reports_;
  std::size_t sent_ = 0;
  std::size_t done_ = 0;
};

inline std::map<std::string, std::string> fake_props(const fake_cluster& fc,
                                                     std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> p = {{"bootstrap.servers", fc.bootstrap()},
                                          {"linger.ms", "2"},
                                          {"retry.backoff.ms", "10"},
                                          {"retry.backoff.max.ms", "50"},
                                          // Shorter than retry.backoff.ms: see
                                          // DISABLED_ReconnectBackoffLongerThanRetryBackoffHangs.
                                          {"reconnect.backoff.ms", "1"},
                                          {"reconnect.backoff.max.ms", "1"},
                                          {"request.timeout.ms", "5000"},
                                          {"delivery.timeout.ms", "15000"},
                                          {"enable.idempotence", "true"},
                                          {"acks", "all"}};
  for (auto& [k, v] : extra) p[k] = v;
  return p;
}

// The index of a stored record (from its key "k<i>"), -1 when not one of ours.
inline long index_of(const stored_record& r) {
  if (!r.key || r.key->size() < 2 || (*r.key)[0] != 'k') return -1;
  return std::stol(r.key->substr(1));
}

// Records [0, n) are each stored exactly once, with their value, headers and
// timestamp, and in send order within each partition. `skip` lists indexes
// that must NOT be stored (failed records).
inline void expect_log_holds(const fake_cluster& fc, const std::string& topic, std::size_t n,
                             const std::vector<std::size_t>& skip = {}) {
  std::vector<int> times(n, 0);
  for (const auto& r : fc.records(topic)) {
    const long i = index_of(r);
    ASSERT_GE(i, 0) << "foreign record in the log";
    ASSERT_LT(static_cast<std::size_t>(i), n);
    ++times[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.value, value_of(static_cast<std::size_t>(i)));
    EXPECT_EQ(r.timestamp, base_ts + i);
    ASSERT_EQ(r.headers.size(), 2u);
    EXPECT_EQ(r.headers[0].first, "i");
    EXPECT_EQ(r.headers[0].second, std::to_string(i));
    EXPECT_EQ(r.headers[1].first, "null");
    EXPECT_EQ(r.headers[1].second, std::nullopt);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const bool skipped = std::find(skip.begin(), skip.end(), i) != skip.end();
    EXPECT_EQ(times[i], skipped ? 0 : 1) << "record " << i << " stored " << times[i] << " times";
  }
  for (std::int32_t p = 0; p < fc.partition_count(topic); ++p) {
    auto log = fc.records(topic, p);
    long last = -1;
    for (std::size_t j = 0; j < log.size(); ++j) {
      EXPECT_EQ(log[j].offset, static_cast<std::int64_t>(j));
      EXPECT_GT(index_of(log[j]), last) << "partition " << p << " out of send order at offset " << j;
      last = index_of(log[j]);
    }
  }
}

// Offsets reported back match where the fake stored each record.
inline void expect_offsets_match(const fake_cluster& fc, const std::string& topic,
                                 const std::vector<report_copy>& reps) {
  for (const auto& r : fc.records(topic)) {
    const long i = index_of(r);
    if (i < 0 || static_cast<std::size_t>(i) >= reps.size()) continue;
    const auto& rep = reps[static_cast<std::size_t>(i)];
    EXPECT_EQ(rep.partition, r.partition) << "record " << i;
    if (rep.offset >= 0) {
      EXPECT_EQ(rep.offset, r.offset) << "record " << i;
    }
  }
}

}  // namespace kprod::test
