// kprod perf: a load generator with kafka-producer-perf-test's summary, plus
// latency percentiles from a log-bucketed histogram, CPU and memory use.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "payload_generator.h"
#include "commands.h"
#include "latency_histogram.h"
#include "perf_stats.h"
#include "send_gate.h"
#include "tick_clock.h"
#include "timer_slack.h"

namespace kprod::cli {

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr double mib = 1024.0 * 1024.0;
// What a run may still take once Ctrl-C was pressed (sending what is
// buffered); then whatever is left fails.
constexpr std::chrono::milliseconds after_interrupt{5000};

// Bookkeeping shared with bench/rdkafka_perf (perf_stats.h, tick_clock.h):
// stamps are ticks, per-thread stats need no lock in the delivery callback.
struct perf_state {
  explicit perf_state(bool paced, bool log_latencies)
      : clock(/*prefer_tsc=*/!paced), stats(log_latencies) {}

  const tick_clock clock;  // paced: steady ns (due times are computed in ns)
  stats_registry stats;
  alignas(64) std::atomic<std::uint64_t> errors{0};
  std::mutex mu;  // guards first_error (failures are rare)
  std::string first_error;

  void fail(const kprod::error& e) {
    errors.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.empty()) first_error = e.message();
  }
};

// The run's state, for the delivery callback: so that the per-record functor
// carries one stamp, as librdkafka's per-message opaque does in rdkafka_perf
// (whose callback gets the state through the handle's opaque). One run per
// process.
perf_state* current_run = nullptr;

struct on_ack {
  std::uint64_t send_stamp;  // tick_clock ticks
  void operator()(const delivery_report& rep) const {
    perf_state& st = *current_run;
    if (rep.ok()) {
      const std::uint64_t end = st.clock.now();
      const auto& m = rep.metadata;
      const std::uint64_t bytes = static_cast<std::uint64_t>(std::max(m.serialized_key_size, 0)) +
                                  static_cast<std::uint64_t>(std::max(m.serialized_value_size, 0));
      st.stats.local().on_ack(end > send_stamp ? end - send_stamp : 0, bytes, send_stamp);
    } else {
      st.fail(rep.error);
    }
  }
};

// Live progress on stderr: rewritten in place twice a second on a terminal,
// one line a second otherwise (logs, CI).
class progress_reporter {
 public:
  progress_reporter(perf_state& st, std::int64_t total) : st_(st), total_(total), tty_(stderr_is_terminal()) {
    thread_ = std::thread([this] { run(); });
  }
  ~progress_reporter() { stop(); }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (tty_ && printed_) std::fputs("\n", stderr);
  }

 private:
  void run() {
    const auto interval = tty_ ? 500ms : 1000ms;
    auto last_t = clock_type::now();
    std::uint64_t last_acked = 0;
    std::uint64_t last_bytes = 0;
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval, [this] { return stopped_; })) {
      const auto t = clock_type::now();
      const double dt = std::chrono::duration<double>(t - last_t).count();
      const stats_totals tot = st_.stats.totals();
      const std::uint64_t acked = tot.acked;
      const std::uint64_t bytes = tot.acked_bytes;
      const std::uint64_t errors = st_.errors.load();
      const std::uint64_t sent = tot.sent;
      const double rate = static_cast<double>(acked - last_acked) / dt;
      const double mbs = static_cast<double>(bytes - last_bytes) / mib / dt;
      const std::uint64_t done = acked + errors;
      const std::uint64_t in_flight = sent > done ? sent - done : 0;
      const double left = static_cast<double>(total_) - static_cast<double>(done);
      const std::string eta = rate > 0 ? format_double(left / rate, 1) + " s" : "?";
      std::fprintf(stderr, "%s%llu/%lld acked, %s records/s, %s MB/s, %llu in flight, %llu errors, ETA %s%s",
                   tty_ ? "\r\033[K" : "", static_cast<unsigned long long>(acked),
                   static_cast<long long>(total_), format_double(rate, 1).c_str(), format_double(mbs, 2).c_str(),
                   static_cast<unsigned long long>(in_flight), static_cast<unsigned long long>(errors), eta.c_str(),
                   tty_ ? "" : "\n");
      std::fflush(stderr);
      printed_ = true;
      last_t = t;
      last_acked = acked;
      last_bytes = bytes;
    }
  }

  perf_state& st_;
  std::int64_t total_;
  bool tty_;
  bool printed_ = false;
  bool stopped_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

result<std::vector<std::string>> read_payloads(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return error(client_errc::invalid_argument,
                 "cannot read payload file '" + path + "': " + std::strerror(errno));
  }
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(std::move(l));
  }
  if (lines.empty()) return error(client_errc::invalid_argument, "payload file '" + path + "' has no lines");
  return lines;
}

// Sorted by due time, so that the file reads as a timeline. Rows are tick
// stamps; the file has microseconds since the start, as before ticks.
void write_latency_log(const std::string& path, std::vector<std::pair<std::uint64_t, std::uint64_t>> rows,
                       const tick_scale& scale) {
  std::sort(rows.begin(), rows.end());
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "kprod perf: cannot write %s\n", path.c_str());
    return;
  }
  for (const auto& [due, latency] : rows) {
    const auto latency_ns = scale.ticks_are_ns ? static_cast<std::int64_t>(latency)
                                               : static_cast<std::int64_t>(scale.to_ns(static_cast<double>(latency)));
    std::fprintf(f, "%lld %lld\n", static_cast<long long>(scale.since_start_ns(due) / 1000),
                 static_cast<long long>(latency_ns / 1000));
  }
  std::fclose(f);
}

}  // namespace

int run_perf(const perf_options& o) {
  if (o.num_records < 0) {
    std::fprintf(stderr, "kprod perf: --num-records must be >= 0\n");
    return exit_usage;
  }
  if (o.payload_file.empty() && o.record_size < 0) {
    std::fprintf(stderr, "kprod perf: --record-size must be >= 0\n");
    return exit_usage;
  }
  if (o.keys < 0) {
    std::fprintf(stderr, "kprod perf: --keys must be >= 0\n");
    return exit_usage;
  }
  std::vector<std::string> payloads;
  if (!o.payload_file.empty()) {
    auto pl = read_payloads(o.payload_file);
    if (!pl) {
      std::fprintf(stderr, "kprod perf: %s\n", pl.error().detail().c_str());
      return exit_usage;
    }
    payloads = std::move(*pl);
  }
  if (o.threads < 1 || o.threads > 256) {
    std::fprintf(stderr, "kprod perf: --threads must be in 1..256\n");
    return exit_usage;
  }

  install_interrupt_handler();
  auto s = open_session("perf", o.conn, {o.topic});
  if (!s) return exit_usage;
  producer& p = *s->prod;
  const bool paced = o.throughput > 0;
  perf_state st(paced, !o.latency_log.empty());  // before cpu0: probing the clock is not the producer's work
  current_run = &st;
  const cpu_usage cpu0 = process_usage();
  const double interval_ns = paced ? 1e9 / o.throughput : 0;
  std::optional<progress_reporter> progress;
  progress.emplace(st, o.num_records);

  // Record i goes to application thread i % threads; with one thread the
  // main thread sends. Each thread has its own value buffer and key text, so
  // every record's bytes are the same whatever the thread count.
  const std::int64_t threads = std::max<std::int64_t>(1, o.threads);
  const key_table keys(o.keys, o.num_records);  // before the clock starts, as in rdkafka_perf
  tick_scale scale = st.clock.begin_run();
  auto send_share = [&](std::int64_t first) {
    if (paced) use_least_timer_slack();
    thread_stats& mine = st.stats.local();
    payload_generator gen(o.payload_file.empty() ? static_cast<std::size_t>(o.record_size) : 0);
    key_table::scratch key_scratch;
    for (std::int64_t i = first; i < o.num_records && !interrupted(); i += threads) {
      std::uint64_t t_send;
      if (paced) {
        // Open loop: record i is due at start + i / throughput whatever happened
        // before; its latency counts from when it was due. (Paced, ticks are ns.)
        const std::int64_t due =
            scale.start.ns + static_cast<std::int64_t>(std::llround(static_cast<double>(i) * interval_ns));
        const std::int64_t ahead = due - steady_now_ns();
        if (ahead > 0 && wait_interruptible(std::chrono::nanoseconds(ahead))) break;
        t_send = static_cast<std::uint64_t>(due);
      } else {
        t_send = st.clock.now();
      }
      record r;
      r.topic = o.topic;
      r.value = payloads.empty() ? gen.make(static_cast<std::uint64_t>(i))
                                 : std::string_view(payloads[static_cast<std::size_t>(i) % payloads.size()]);
      if (o.keys > 0) r.key = keys.key(i, key_scratch);
      mine.sent.add(1);
      // The library's own back-pressure, as a Java producer's send(): blocks
      // while buffer.memory is full (at most max.block.ms); errors, that one
      // included, reach on_ack.
      p.async_send(r, on_ack{t_send});
    }
  };
  {
    // Ctrl-C: the send loops stop; one blocked on a full buffer is freed
    // within the grace that flush gets below.
    close_on_interrupt unblock(p, after_interrupt);
    if (threads == 1) {
      send_share(0);
    } else {
      std::vector<std::thread> senders;
      senders.reserve(static_cast<std::size_t>(threads));
      for (std::int64_t t = 0; t < threads; ++t) senders.emplace_back(send_share, t);
      for (auto& t : senders) t.join();
    }
  }

  // Never hang: the library completes every record within delivery.timeout.ms;
  // the extra margin only guards against a bug there. Ctrl-C: at most 5 s more.
  const auto delivery_timeout = p.config().delivery_timeout.value_or(120000ms);
  auto fl = flush_interruptible(p, delivery_timeout + 5000ms, after_interrupt);
  if (!fl && !interrupted()) {
    std::fprintf(stderr, "kprod perf: flush: %s\n", fl.error().message().c_str());
  }
  const kprod::producer_metrics metrics = p.metrics();
  (void)p.close(0ms);
  st.clock.end_run(scale);
  progress.reset();
  const cpu_usage cpu1 = process_usage();

  // close() returned: no callback runs any more, every thread's stats are final.
  std::lock_guard<std::mutex> lock(st.mu);
  const stats_totals tot = st.stats.totals();
  const std::uint64_t sent = tot.sent;
  const std::uint64_t acked = tot.acked;
  const std::uint64_t errors = st.errors.load();
  if (!o.latency_log.empty()) write_latency_log(o.latency_log, st.stats.merged_latency_log(), scale);
  const double elapsed = static_cast<double>(scale.end.ns - scale.start.ns) / 1e9;
  const double rps = elapsed > 0 ? static_cast<double>(acked) / elapsed : 0;
  const double mbps = elapsed > 0 ? static_cast<double>(tot.acked_bytes) / mib / elapsed : 0;
  const latency_histogram h = st.stats.merged_latency();  // ticks
  auto ms = [&scale](double ticks) { return scale.to_ns(ticks) / 1e6; };
  const double cpu_s = cpu1.cpu_s - cpu0.cpu_s;
  const double cpu_us_per_record = sent > 0 ? cpu_s * 1e6 / static_cast<double>(sent) : 0;

  if (o.json) {
    nlohmann::ordered_json j;
    j["records"] = acked;
    j["errors"] = errors;
    j["elapsed_s"] = elapsed;
    j["records_per_s"] = rps;
    j["mb_per_s"] = mbps;
    // Wire bytes per record batch sent (after compression, retries included).
    j["batch_bytes_avg"] = metrics.batch_bytes_avg();
    j["latency_ms"] = {{"avg", ms(h.mean())},
                       {"p50", ms(static_cast<double>(h.value_at_percentile(50)))},
                       {"p95", ms(static_cast<double>(h.value_at_percentile(95)))},
                       {"p99", ms(static_cast<double>(h.value_at_percentile(99)))},
                       {"p999", ms(static_cast<double>(h.value_at_percentile(99.9)))},
                       {"max", ms(static_cast<double>(h.max()))}};
    j["cpu_s"] = cpu_s;
    j["cpu_us_per_record"] = cpu_us_per_record;
    j["peak_rss_mb"] = cpu1.peak_rss_mb;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%llu records sent, %s records/sec (%s MB/sec), %s ms avg latency, %s ms max latency.\n",
                static_cast<unsigned long long>(acked), format_double(rps, 1).c_str(),
                format_double(mbps, 2).c_str(), format_double(ms(h.mean()), 2).c_str(),
                format_double(ms(static_cast<double>(h.max())), 2).c_str());
    std::printf("latency ms: p50 %s, p95 %s, p99 %s, p99.9 %s (histogram relative error <= %s%%)\n",
                format_double(ms(static_cast<double>(h.value_at_percentile(50))), 2).c_str(),
                format_double(ms(static_cast<double>(h.value_at_percentile(95))), 2).c_str(),
                format_double(ms(static_cast<double>(h.value_at_percentile(99))), 2).c_str(),
                format_double(ms(static_cast<double>(h.value_at_percentile(99.9))), 2).c_str(),
                format_double(h.max_relative_error() * 100, 2).c_str());
    std::printf("errors: %llu; elapsed %s s; batches %llu, avg %s bytes (%s records), %llu produce requests\n",
                static_cast<unsigned long long>(errors), format_double(elapsed, 3).c_str(),
                static_cast<unsigned long long>(metrics.batches_sent), format_double(metrics.batch_bytes_avg(), 0).c_str(),
                format_double(metrics.batches_sent ? static_cast<double>(metrics.batch_records_sent) /
                                                         static_cast<double>(metrics.batches_sent)
                                                   : 0.0,
                              1)
                    .c_str(),
                static_cast<unsigned long long>(metrics.produce_requests));
    std::printf("producer cpu: %s s (%s us/record), peak RSS %s MB\n", format_double(cpu_s, 2).c_str(),
                format_double(cpu_us_per_record, 2).c_str(), format_double(cpu1.peak_rss_mb, 1).c_str());
  }
  std::fflush(stdout);
  if (!st.first_error.empty()) std::fprintf(stderr, "kprod perf: first error: %s\n", st.first_error.c_str());
  const bool lost = acked != sent;
  if (interrupted()) {
    std::fprintf(stderr, "kprod perf: interrupted after %llu of %lld records%s\n",
                 static_cast<unsigned long long>(sent), static_cast<long long>(o.num_records),
                 lost ? "; some were not acknowledged" : "");
  }
  return lost ? exit_failed : exit_ok;
}

}  // namespace kprod::cli
