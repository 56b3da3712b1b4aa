// rdkafka_perf - librdkafka's side of the comparison: the same inputs, the
// same records and the same --json summary as `kprod perf`, so bench/compare
// can run both against one broker.
//
//   rdkafka_perf -b BROKERS -t TOPIC --num-records N (--record-size B | --payload-file F)
//                [--keys K] [--throughput R] [--threads T] [-X prop=value]... [--json]
//
// Same bytes as kprod perf: values from tools/cli/payload_generator.h (or the
// payload file's lines in turn), key "key-<i % K>" for record i, null keys
// when K is 0, record i sent by thread i % T. Produced with
// RD_KAFKA_MSG_F_COPY (kprod copies too) and partitioner=murmur2_random
// (kprod's default: murmur2 for keys, sticky-ish for null keys).
//
// Pacing and latency, as in kprod perf: with --throughput R, open loop, record
// i is due at start + i / R whatever happened before, and its latency counts
// from the due time; without, latency counts from just before the produce
// call (so a wait for queue space counts). The end of latency is the delivery
// report callback. Waiting for a due time sleeps (serving delivery reports),
// it does not spin, so pacing costs no CPU on either side. Stamps and
// per-thread stats are kprod perf's (tools/cli/tick_clock.h, perf_stats.h);
// the send stamp travels as the message opaque, like kprod perf's one-stamp
// callback.
//
// batch_bytes_avg: wire bytes per record batch, as kprod reports it (after
// compression, retries included). librdkafka 2.0.2 sends exactly one batch
// per ProduceRequest, so it is taken from the statistics' brokers
// (sum of txbytes - Produce requests x Produce framing) / Produce requests.
// Not topics.*.batchsize: that is the batch before compression, a different
// quantity once a codec is on. The residue is the few non-Produce requests
// (ApiVersions, Metadata, InitProducerId), a few hundred bytes per run.
// Checked uncompressed with one record per batch (batch.num.messages=1):
// 175.1 here against topics.bench.batchsize 175 and kprod's 175.0.
// Statistics are emitted every statistics.interval.ms (default here 500);
// the last emission after flush is waited for outside the timed and CPU
// measured part.
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../tools/cli/latency_histogram.h"
#include "../tools/cli/payload_generator.h"
#include "../tools/cli/peak_rss.h"
#include "../tools/cli/perf_stats.h"
#include "../tools/cli/tick_clock.h"
#include "../tools/cli/timer_slack.h"

namespace {

constexpr const char* client_id = "rdkafka_perf";

struct options {
  std::string brokers, topic, payload_file;
  std::string stats_file;  // the last statistics JSON, for checking batch_bytes_avg by hand
  long long num_records = 0;
  long record_size = -1;
  long keys = 0;
  double throughput = -1;
  int threads = 1;
  bool json = false;
  std::vector<std::pair<std::string, std::string>> props;
};

// Bookkeeping shared with kprod perf (perf_stats.h, tick_clock.h): stamps
// are ticks, and delivery reports, which run on whichever thread polls, go to
// that thread's own stats without a lock.
struct run_state {
  explicit run_state(bool paced) : clock(/*prefer_tsc=*/!paced) {}

  const kprod::cli::tick_clock clock;  // paced: steady ns (due times are computed in ns)
  kprod::cli::stats_registry stats;
  std::mutex mu;  // guards errors and first_error (failures are rare)
  unsigned long long errors = 0;
  std::string first_error;

  std::mutex stats_mu;
  std::string last_stats;
  std::atomic<int> stats_generation{0};

  void fail(const char* what) {
    std::lock_guard<std::mutex> lock(mu);
    if (errors++ == 0) first_error = what;
  }
};

std::int64_t now_ns() { return kprod::cli::steady_now_ns(); }

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<run_state*>(opaque);
  if (m->err) {
    st->fail(rd_kafka_err2str(m->err));
    return;
  }
  const auto send_stamp = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m->_private));
  const std::uint64_t end = st->clock.now();
  st->stats.local().on_ack(end > send_stamp ? end - send_stamp : 0, m->len + m->key_len, send_stamp);
}

// Only keeps the text: parsing it during the run would bill the harness's
// JSON parsing to librdkafka's CPU.
int on_stats(rd_kafka_t*, char* json, size_t len, void* opaque) {
  auto* st = static_cast<run_state*>(opaque);
  {
    std::lock_guard<std::mutex> lock(st->stats_mu);
    st->last_stats.assign(json, len);
  }
  st->stats_generation.fetch_add(1);
  return 0;  // librdkafka frees json
}

// Until `due` (steady clock ns): delivery reports are served while waiting,
// the sub-millisecond rest is slept.
void wait_until(rd_kafka_t* rk, std::int64_t due) {
  for (;;) {
    const std::int64_t ahead = due - now_ns();
    if (ahead <= 0) return;
    if (ahead >= 1'000'000) {
      rd_kafka_poll(rk, static_cast<int>(ahead / 1'000'000));
      continue;
    }
    rd_kafka_poll(rk, 0);
    timespec ts{0, static_cast<long>(ahead)};
    nanosleep(&ts, nullptr);
    return;
  }
}

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--json") { o.json = true; continue; }
    if (!(v = next())) { std::fprintf(stderr, "rdkafka_perf: %s needs a value\n", a.c_str()); return false; }
    if (a == "-b") o.brokers = v;
    else if (a == "-t") o.topic = v;
    else if (a == "--num-records") o.num_records = std::atoll(v);
    else if (a == "--record-size") o.record_size = std::atol(v);
    else if (a == "--payload-file") o.payload_file = v;
    else if (a == "--stats-file") o.stats_file = v;
    else if (a == "--keys") o.keys = std::atol(v);
    else if (a == "--throughput") o.throughput = std::atof(v);
    else if (a == "--threads") o.threads = std::atoi(v);
    else if (a == "-X") {
      std::string kv = v;
      auto eq = kv.find('=');
      if (eq == std::string::npos) { std::fprintf(stderr, "rdkafka_perf: -X %s: expected prop=value\n", v); return false; }
      o.props.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else {
      std::fprintf(stderr, "rdkafka_perf: unknown flag %s\n", a.c_str());
      return false;
    }
  }
  const bool have_values = !o.payload_file.empty() || o.record_size >= 0;
  if (o.brokers.empty() || o.topic.empty() || o.num_records <= 0 || !have_values || o.keys < 0 || o.threads < 1 ||
      o.threads > 256) {
    std::fprintf(stderr, "usage: rdkafka_perf -b BROKERS -t TOPIC --num-records N (--record-size B | --payload-file F) "
                         "[--keys K] [--throughput R] [--threads 1..256] [-X prop=value]... [--json] [--stats-file F]\n");
    return false;
  }
  return true;
}

std::optional<std::vector<std::string>> read_payloads(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(std::move(l));
  }
  if (lines.empty()) return std::nullopt;
  return lines;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}


// Produce v3..v8 framing around one partition's records (non-flexible
// versions; librdkafka 2.0.2 sends at most v7): size 4, api key 2, version 2,
// correlation id 4, client id 2+len, transactional id 2 (null), acks 2,
// timeout 4, topic count 4, topic name 2+len, partition count 4, partition 4,
// records length 4.
std::size_t produce_framing_bytes(const std::string& topic) {
  return 40 + std::strlen(client_id) + topic.size();
}

// Wire bytes per batch from the last statistics; nullopt without statistics
// or without any Produce request.
std::optional<double> batch_bytes_avg(const std::string& stats_text, const std::string& topic) {
  if (stats_text.empty()) return std::nullopt;
  auto j = nlohmann::json::parse(stats_text, nullptr, false);
  if (j.is_discarded() || !j.contains("brokers")) return std::nullopt;
  double tx = 0, produce = 0;
  for (auto& [name, b] : j["brokers"].items()) {
    tx += b.value("txbytes", 0.0);
    if (b.contains("req")) produce += b["req"].value("Produce", 0.0);
  }
  if (produce <= 0) return std::nullopt;
  return (tx - produce * static_cast<double>(produce_framing_bytes(topic))) / produce;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) return 2;
  std::vector<std::string> payloads;
  if (!o.payload_file.empty()) {
    auto pl = read_payloads(o.payload_file);
    if (!pl) {
      std::fprintf(stderr, "rdkafka_perf: cannot read payload lines from '%s'\n", o.payload_file.c_str());
      return 2;
    }
    payloads = std::move(*pl);
  }
  const bool paced = o.throughput > 0;
  run_state st(paced);
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "rdkafka_perf: %s=%s: %s\n", k.c_str(), v.c_str(), err);
      std::exit(2);
    }
  };
  set("bootstrap.servers", o.brokers);
  set("client.id", client_id);
  set("partitioner", "murmur2_random");
  set("statistics.interval.ms", "500");
  for (auto& [k, v] : o.props) {
    if (k == "client.id") {
      std::fprintf(stderr, "rdkafka_perf: client.id is fixed (batch_bytes_avg subtracts its length)\n");
      return 2;
    }
    set(k, v);
  }
  int stats_interval_ms = 500;
  for (auto& [k, v] : o.props) {
    if (k == "statistics.interval.ms") stats_interval_ms = std::atoi(v.c_str());
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_stats_cb(conf, on_stats);
  rd_kafka_conf_set_opaque(conf, &st);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) { std::fprintf(stderr, "rdkafka_perf: %s\n", err); return 2; }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);

  const double cpu0 = cpu_seconds();
  const double interval_ns = paced ? 1e9 / o.throughput : 0;
  const long long threads = o.threads;
  const kprod::cli::key_table keys(o.keys, o.num_records);  // before the clock starts, as in kprod perf
  kprod::cli::tick_scale scale = st.clock.begin_run();
  auto send_share = [&](long long first) {
    if (paced) kprod::cli::use_least_timer_slack();
    kprod::cli::thread_stats& mine = st.stats.local();
    kprod::cli::payload_generator gen(payloads.empty() ? static_cast<std::size_t>(o.record_size) : 0);
    kprod::cli::key_table::scratch key_scratch;
    for (long long i = first; i < o.num_records; i += threads) {
      std::uint64_t due;  // tick_clock ticks (paced: ns)
      if (paced) {
        const std::int64_t due_ns =
            scale.start.ns + static_cast<std::int64_t>(std::llround(static_cast<double>(i) * interval_ns));
        wait_until(rk, due_ns);
        due = static_cast<std::uint64_t>(due_ns);
      } else {
        due = st.clock.now();
      }
      const std::string_view value = payloads.empty() ? gen.make(static_cast<std::uint64_t>(i))
                                                      : std::string_view(payloads[static_cast<std::size_t>(i) % payloads.size()]);
      const std::string_view key = o.keys > 0 ? keys.key(i, key_scratch) : std::string_view();
      mine.sent.add(1);
      while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                              value.size(), o.keys > 0 ? key.data() : nullptr, key.size(),
                              reinterpret_cast<void*>(static_cast<std::uintptr_t>(due))) == -1) {
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          st.fail(rd_kafka_err2str(rd_kafka_last_error()));
          break;
        }
        rd_kafka_poll(rk, 10);
      }
      rd_kafka_poll(rk, 0);
    }
  };
  if (threads == 1) {
    send_share(0);
  } else {
    std::vector<std::thread> senders;
    for (long long t = 0; t < threads; ++t) senders.emplace_back(send_share, t);
    for (auto& t : senders) t.join();
  }
  rd_kafka_flush(rk, 300000);
  st.clock.end_run(scale);
  const double elapsed = static_cast<double>(scale.end.ns - scale.start.ns) / 1e9;
  const double cpu = cpu_seconds() - cpu0;
  const double rss = kprod::cli::peak_rss_mb();

  // One statistics emission after everything was acknowledged.
  const int seen = st.stats_generation.load();
  const std::int64_t stats_deadline = now_ns() + (3LL * stats_interval_ms + 2000) * 1'000'000LL;
  while (stats_interval_ms > 0 && st.stats_generation.load() == seen && now_ns() < stats_deadline) {
    rd_kafka_poll(rk, 50);
  }
  std::optional<double> batch_avg;
  {
    std::lock_guard<std::mutex> lock(st.stats_mu);
    if (st.stats_generation.load() != seen) batch_avg = batch_bytes_avg(st.last_stats, o.topic);
    if (!o.stats_file.empty()) std::ofstream(o.stats_file) << st.last_stats;
  }
  if (!batch_avg) std::fprintf(stderr, "rdkafka_perf: no statistics after flush; batch_bytes_avg is null\n");

  // Flushed and the senders joined: every thread's stats are final.
  std::lock_guard<std::mutex> lock(st.mu);
  const kprod::cli::stats_totals tot = st.stats.totals();
  const kprod::cli::latency_histogram hist = st.stats.merged_latency();  // ticks
  const unsigned long long acked = tot.acked;
  const double rps = static_cast<double>(acked) / elapsed;
  const double mbps = static_cast<double>(tot.acked_bytes) / elapsed / (1024.0 * 1024.0);
  const double sent = static_cast<double>(tot.sent);
  const double cpu_per_record = sent > 0 ? cpu * 1e6 / sent : 0;
  auto ms = [&scale](double ticks) { return scale.to_ns(ticks) / 1e6; };
  auto pct = [&](double p) { return ms(static_cast<double>(hist.value_at_percentile(p))); };
  if (o.json) {
    nlohmann::ordered_json j;
    j["records"] = acked;
    j["errors"] = st.errors;
    j["elapsed_s"] = elapsed;
    j["records_per_s"] = rps;
    j["mb_per_s"] = mbps;
    j["batch_bytes_avg"] = batch_avg ? nlohmann::ordered_json(*batch_avg) : nlohmann::ordered_json(nullptr);
    j["latency_ms"] = {{"avg", ms(hist.mean())}, {"p50", pct(50)},   {"p95", pct(95)},
                       {"p99", pct(99)},            {"p999", pct(99.9)}, {"max", ms(static_cast<double>(hist.max()))}};
    j["cpu_s"] = cpu;
    j["cpu_us_per_record"] = cpu_per_record;
    j["peak_rss_mb"] = rss;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%llu records sent, %.1f records/sec (%.2f MB/sec), latency ms p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
                acked, rps, mbps, pct(50), pct(99), pct(99.9), ms(static_cast<double>(hist.max())));
    std::printf("errors: %llu%s%s; batches avg %.0f bytes; cpu %.2f s (%.3f us/record); peak RSS %.1f MB\n",
                st.errors, st.errors ? ", first: " : "", st.first_error.c_str(), batch_avg.value_or(0.0), cpu,
                cpu_per_record, rss);
  }
  std::fflush(stdout);
  if (!st.first_error.empty()) std::fprintf(stderr, "rdkafka_perf: first error: %s\n", st.first_error.c_str());
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return st.errors || acked != static_cast<unsigned long long>(o.num_records) ? 1 : 0;
}
