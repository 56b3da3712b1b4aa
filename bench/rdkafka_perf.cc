// rdkafka_perf - librdkafka's side of the comparison: the same inputs and the
// same --json summary as `kprod perf`, so bench/ can run both on one broker.
//
//   rdkafka_perf -b BROKERS -t TOPIC --num-records N --record-size B
//                [--keys K] [--throughput R] [-X prop=value]... [--json]
//
// Records are produced with RD_KAFKA_MSG_F_COPY (kprod copies too), keyed
// over K keys with librdkafka's murmur2_random partitioner (kprod's default),
// values from the same payload generator. Latency is send -> delivery report.
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../tools/cli/latency_histogram.h"
#include "../tools/cli/payload_generator.h"

namespace {

struct options {
  std::string brokers, topic;
  long long num_records = 0;
  long record_size = 100;
  long keys = 0;
  double throughput = -1;
  bool json = false;
  std::vector<std::pair<std::string, std::string>> props;
};

struct stats {
  kprod::cli::latency_histogram hist{8};
  unsigned long long acked = 0, errors = 0, bytes = 0;
  std::string first_error;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<stats*>(opaque);
  const auto sent = reinterpret_cast<std::intptr_t>(m->_private);
  if (m->err) {
    if (st->errors++ == 0) st->first_error = rd_kafka_err2str(m->err);
    return;
  }
  ++st->acked;
  st->bytes += m->len + m->key_len;
  st->hist.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns() - sent)));
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
    else if (a == "--keys") o.keys = std::atol(v);
    else if (a == "--throughput") o.throughput = std::atof(v);
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
  if (o.brokers.empty() || o.topic.empty() || o.num_records <= 0 || o.record_size < 0) {
    std::fprintf(stderr, "usage: rdkafka_perf -b BROKERS -t TOPIC --num-records N --record-size B [--keys K] "
                         "[--throughput R] [-X prop=value]... [--json]\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) return 2;
  stats st;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "rdkafka_perf: %s=%s: %s\n", k.c_str(), v.c_str(), err);
      std::exit(2);
    }
  };
  set("bootstrap.servers", o.brokers);
  set("partitioner", "murmur2_random");
  for (auto& [k, v] : o.props) set(k, v);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &st);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) { std::fprintf(stderr, "rdkafka_perf: %s\n", err); return 2; }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);

  kprod::cli::payload_generator gen(static_cast<std::size_t>(o.record_size));
  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  const bool paced = o.throughput > 0;
  const double interval_ns = paced ? 1e9 / o.throughput : 0;
  const std::int64_t start = now_ns();
  char key[32];
  for (long long i = 0; i < o.num_records; ++i) {
    std::int64_t t_send = now_ns();
    if (paced) {
      t_send = start + static_cast<std::int64_t>(std::llround(static_cast<double>(i) * interval_ns));
      while (now_ns() < t_send) rd_kafka_poll(rk, 0);
    }
    auto value = gen.make(static_cast<std::uint64_t>(i));
    int klen = 0;
    if (o.keys > 0) klen = std::snprintf(key, sizeof key, "key-%lld", i % o.keys);
    while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                            value.size(), o.keys > 0 ? key : nullptr, static_cast<std::size_t>(klen),
                            reinterpret_cast<void*>(static_cast<std::intptr_t>(t_send))) == -1) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        if (st.errors++ == 0) st.first_error = rd_kafka_err2str(rd_kafka_last_error());
        break;
      }
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 300000);
  const double elapsed = static_cast<double>(now_ns() - start) / 1e9;
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  const double cpu = secs(ru1.ru_utime) - secs(ru0.ru_utime) + secs(ru1.ru_stime) - secs(ru0.ru_stime);

  // Average batch size from librdkafka's statistics is not wired here; the
  // comparison driver reads it from stats when it needs it.
  const double rps = static_cast<double>(st.acked) / elapsed;
  const double mbps = static_cast<double>(st.bytes) / elapsed / (1024.0 * 1024.0);
  auto ms = [](double ns) { return ns / 1e6; };
  auto pct = [&](double p) { return ms(static_cast<double>(st.hist.value_at_percentile(p))); };
  if (o.json) {
    std::printf(
        "{\"records\":%llu,\"errors\":%llu,\"elapsed_s\":%.6f,\"records_per_s\":%.1f,\"mb_per_s\":%.3f,"
        "\"batch_bytes_avg\":null,\"latency_ms\":{\"avg\":%.4f,\"p50\":%.4f,\"p95\":%.4f,\"p99\":%.4f,\"p999\":%.4f,"
        "\"max\":%.4f},\"cpu_s\":%.4f,\"cpu_us_per_record\":%.4f,\"peak_rss_mb\":%.1f}\n",
        st.acked, st.errors, elapsed, rps, mbps, ms(st.hist.mean()), pct(50), pct(95), pct(99), pct(99.9),
        ms(static_cast<double>(st.hist.max())), cpu, cpu * 1e6 / static_cast<double>(o.num_records),
        static_cast<double>(ru1.ru_maxrss) / 1024.0);
  } else {
    std::printf("%llu records sent, %.1f records/sec (%.2f MB/sec), latency ms p50 %.2f p99 %.2f max %.2f\n", st.acked,
                rps, mbps, pct(50), pct(99), ms(static_cast<double>(st.hist.max())));
    std::printf("errors: %llu%s%s; cpu %.2f s (%.3f us/record); peak RSS %.1f MB\n", st.errors,
                st.errors ? ", first: " : "", st.first_error.c_str(), cpu, cpu * 1e6 / static_cast<double>(o.num_records),
                static_cast<double>(ru1.ru_maxrss) / 1024.0);
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return st.errors ? 1 : 0;
}
