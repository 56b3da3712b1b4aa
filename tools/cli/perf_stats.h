// perf_stats.h - the load generators' per-record bookkeeping without a shared
// lock (`kprod perf` and bench/rdkafka_perf use it identically).
//
// Why: a std::mutex around the histogram in every delivery callback, plus
// shared atomic counters, cost both clients the same and blurred what the
// producers themselves cost. Instead every thread that sends or completes
// records owns a thread_stats (histogram, counters, latency log), registered
// once per thread; the owner is the only writer, so its counters are relaxed
// load + store (no locked instruction), read by the progress reporter while
// the run goes on. The histograms and logs are read only after the run,
// once the writers are finished (joined, flushed, closed), under the
// registry's lock that also ordered their registration.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "latency_histogram.h"

namespace kprod::cli {

// Counter written by one thread, read by any: relaxed load + store is enough
// (no read-modify-write needed with one writer).
class single_writer_counter {
 public:
  void add(std::uint64_t n) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// Own cache lines (the object is aligned and padded to 64 bytes), so that two
// writer threads never share one.
struct alignas(64) thread_stats {
  single_writer_counter sent;
  single_writer_counter acked;
  single_writer_counter acked_bytes;
  latency_histogram latency{8};  // in ticks (tick_clock.h)
  bool log_latencies = false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> latency_log;  // (send stamp, latency), ticks

  void on_ack(std::uint64_t latency_ticks, std::uint64_t bytes, std::uint64_t send_stamp) {
    latency.record(latency_ticks);
    if (log_latencies) latency_log.emplace_back(send_stamp, latency_ticks);
    acked_bytes.add(bytes);
    acked.add(1);
  }
};

struct stats_totals {
  std::uint64_t sent = 0;
  std::uint64_t acked = 0;
  std::uint64_t acked_bytes = 0;
};

class stats_registry {
 public:
  explicit stats_registry(bool log_latencies = false) : log_latencies_(log_latencies) {}
  stats_registry(const stats_registry&) = delete;
  stats_registry& operator=(const stats_registry&) = delete;

  // The calling thread's stats, created on its first call. The fast path is
  // one thread_local compare; the registry's identity is a process-unique id,
  // not its address (a later registry may reuse the address).
  thread_stats& local() {
    thread_local cache c;
    if (c.registry_id == id_) [[likely]] return *c.stats;
    c.stats = &register_thread();
    c.registry_id = id_;
    return *c.stats;
  }

  // Live sums for the progress reporter: each counter is exact, but the
  // three are not one snapshot.
  stats_totals totals() const {
    std::lock_guard<std::mutex> lock(mu_);
    stats_totals t;
    for (const auto& s : all_) {
      t.sent += s->sent.get();
      t.acked += s->acked.get();
      t.acked_bytes += s->acked_bytes.get();
    }
    return t;
  }

  // After the run (every writer finished): every thread's latencies in one
  // histogram, and every latency log row.
  latency_histogram merged_latency() const {
    std::lock_guard<std::mutex> lock(mu_);
    latency_histogram h{8};
    for (const auto& s : all_) h.merge(s->latency);
    return h;
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> merged_latency_log() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> rows;
    for (const auto& s : all_) rows.insert(rows.end(), s->latency_log.begin(), s->latency_log.end());
    return rows;
  }
  std::size_t threads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return all_.size();
  }

 private:
  struct cache {
    std::uint64_t registry_id = 0;
    thread_stats* stats = nullptr;
  };

  static std::uint64_t next_id() noexcept {
    static std::atomic<std::uint64_t> ids{0};
    return ids.fetch_add(1) + 1;  // 0 is "no registry" in the caches
  }

  thread_stats& register_thread() {
    // A thread that used another registry in between comes back to its own
    // entry rather than adding a second one.
    const auto me = std::this_thread::get_id();
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < owners_.size(); ++i) {
      if (owners_[i] == me) return *all_[i];
    }
    auto s = std::make_unique<thread_stats>();
    s->log_latencies = log_latencies_;
    owners_.push_back(me);
    all_.push_back(std::move(s));
    return *all_.back();
  }

  const std::uint64_t id_ = next_id();
  const bool log_latencies_;
  mutable std::mutex mu_;
  std::vector<std::thread::id> owners_;
  std::vector<std::unique_ptr<thread_stats>> all_;
};

}  // namespace kprod::cli
