// kprod_mock_cluster: hosts librdkafka 2.0.2's mock cluster in its own process
// and exposes its fault-injection functions over a line protocol on
// stdin/stdout. Out of process because a malformed request from the client
// under test can make the mock abort; a test must see that as the host's exit
// status, not lose its own process.
//
// Protocol: on start one line "BOOTSTRAP host:port,..."; then exactly one reply
// line per command line: "OK [data]" or "ERR message". EOF on stdin, "quit",
// SIGTERM or SIGINT end the process with status 0.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int sig) { g_stop_signal = sig; }

// The mock aborts on absurd sizes; these bounds keep a typo from doing that.
constexpr int max_partitions = 10000;
constexpr int max_brokers = 64;

struct host_options {
  int brokers = 3;
  bool spread_leaders = true;
  std::vector<std::pair<std::string, int>> topics;
};

template <typename T>
std::optional<T> parse_int(std::string_view s) {
  T v{};
  if (s.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Error codes by number ("6", "-195") or by librdkafka's name without the
// RD_KAFKA_RESP_ERR_ prefix ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT").
std::optional<rd_kafka_resp_err_t> parse_error_code(std::string_view s) {
  if (auto n = parse_int<int>(s)) return static_cast<rd_kafka_resp_err_t>(*n);
  const rd_kafka_err_desc* descs = nullptr;
  size_t cnt = 0;
  rd_kafka_get_err_descs(&descs, &cnt);
  for (size_t i = 0; i < cnt; ++i) {
    if (descs[i].name != nullptr && s == descs[i].name) return descs[i].code;
  }
  return std::nullopt;
}

std::optional<std::int16_t> parse_api_key(std::string_view s) {
  auto k = parse_int<int>(s);
  if (!k || *k < 0 || *k > std::numeric_limits<std::int16_t>::max()) return std::nullopt;
  return static_cast<std::int16_t>(*k);
}

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(std::move(w));
  return words;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

class host {
 public:
  host(rd_kafka_mock_cluster_t* mc, int brokers) : mc_(mc), brokers_(brokers) {}

  // Returns the reply line without its newline.
  std::string execute(const std::string& line, bool* quit) {
    const auto w = split_words(line);
    if (w.empty()) return "ERR empty command";
    const std::string& cmd = w[0];
    try {
      if (cmd == "ping") return "OK pong";
      if (cmd == "quit") {
        *quit = true;
        return "OK bye";
      }
      if (cmd == "bootstrap") return std::string("OK ") + rd_kafka_mock_cluster_bootstraps(mc_);
      if (cmd == "brokers") return "OK " + std::to_string(brokers_);
      if (cmd == "topic_create") return topic_create(w);
      if (cmd == "leader") return leader(w);
      if (cmd == "down" || cmd == "up") return up_down(w);
      if (cmd == "rtt") return rtt(w);
      if (cmd == "err") return push_errors(w);
      if (cmd == "broker_err") return broker_errors(w);
      if (cmd == "clear_errors") return clear_errors(w);
      if (cmd == "error_stack_cnt") return error_stack_cnt(w);
      if (cmd == "wait_errors_consumed") return wait_errors_consumed(w);
      if (cmd == "topic_err") return topic_err(w);
      if (cmd == "coordinator") return coordinator(w);
      if (cmd == "apiversion") return apiversion(w);
    } catch (const std::exception& e) {
      return std::string("ERR internal: ") + e.what();
    }
    return "ERR unknown command '" + cmd + "'";
  }

 private:
  static std::string reply(rd_kafka_resp_err_t err, std::string ok_data = {}) {
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return "ERR " + std::to_string(static_cast<int>(err)) + " " + rd_kafka_err2name(err) + ": " +
             rd_kafka_err2str(err);
    }
    return ok_data.empty() ? "OK" : "OK " + ok_data;
  }

  // Broker ids of the mock are 1..N; -1 means "all" (or "no leader").
  std::optional<std::int32_t> parse_broker(std::string_view s, bool allow_all) const {
    auto b = parse_int<std::int32_t>(s);
    if (!b) return std::nullopt;
    if (*b == -1 && allow_all) return b;
    if (*b < 1 || *b > brokers_) return std::nullopt;
    return b;
  }

  std::string bad_broker(std::string_view s) const {
    return "ERR bad broker id '" + std::string(s) + "' (valid: 1.." + std::to_string(brokers_) + ")";
  }

  std::string topic_create(const std::vector<std::string>& w) {
    if (w.size() != 3 && w.size() != 4) return "ERR usage: topic_create TOPIC PARTITIONS [RF]";
    auto parts = parse_int<int>(w[2]);
    if (!parts || *parts < 1 || *parts > max_partitions) return "ERR bad partition count";
    // 2.0.2 ignores the replication factor; pass something sane anyway.
    int rf = brokers_ < 3 ? brokers_ : 3;
    if (w.size() == 4) {
      auto r = parse_int<int>(w[3]);
      if (!r || *r < 1 || *r > brokers_) return "ERR bad replication factor";
      rf = *r;
    }
    return reply(rd_kafka_mock_topic_create(mc_, w[1].c_str(), *parts, rf));
  }

  std::string leader(const std::vector<std::string>& w) {
    if (w.size() != 4) return "ERR usage: leader TOPIC PARTITION BROKER|-1";
    auto p = parse_int<std::int32_t>(w[2]);
    if (!p || *p < 0) return "ERR bad partition";
    auto b = parse_broker(w[3], true);
    if (!b) return bad_broker(w[3]);
    return reply(rd_kafka_mock_partition_set_leader(mc_, w[1].c_str(), *p, *b));
  }

  std::string up_down(const std::vector<std::string>& w) {
    if (w.size() != 2) return "ERR usage: " + w[0] + " BROKER|-1";
    auto b = parse_broker(w[1], true);
    if (!b) return bad_broker(w[1]);
    return reply(w[0] == "down" ? rd_kafka_mock_broker_set_down(mc_, *b)
                                : rd_kafka_mock_broker_set_up(mc_, *b));
  }

  std::string rtt(const std::vector<std::string>& w) {
    if (w.size() != 3) return "ERR usage: rtt BROKER|-1 MS";
    auto b = parse_broker(w[1], true);
    if (!b) return bad_broker(w[1]);
    auto ms = parse_int<int>(w[2]);
    if (!ms || *ms < 0) return "ERR bad rtt";
    return reply(rd_kafka_mock_broker_set_rtt(mc_, *b, *ms));
  }

  std::string push_errors(const std::vector<std::string>& w) {
    if (w.size() < 3) return "ERR usage: err APIKEY CODE [CODE...]";
    auto key = parse_api_key(w[1]);
    if (!key) return "ERR bad api key";
    std::vector<rd_kafka_resp_err_t> errs;
    for (size_t i = 2; i < w.size(); ++i) {
      auto e = parse_error_code(w[i]);
      if (!e) return "ERR bad error code '" + w[i] + "'";
      errs.push_back(*e);
    }
    rd_kafka_mock_push_request_errors_array(mc_, *key, errs.size(), errs.data());
    return "OK " + std::to_string(errs.size());
  }

  std::string broker_errors(const std::vector<std::string>& w) {
    if (w.size() < 4) return "ERR usage: broker_err BROKER APIKEY CODE:RTT_MS [CODE:RTT_MS...]";
    auto b = parse_broker(w[1], false);
    if (!b) return bad_broker(w[1]);
    auto key = parse_api_key(w[2]);
    if (!key) return "ERR bad api key";
    std::vector<std::pair<rd_kafka_resp_err_t, int>> entries;
    for (size_t i = 3; i < w.size(); ++i) {
      const auto colon = w[i].rfind(':');
      if (colon == std::string::npos) return "ERR expected CODE:RTT_MS, got '" + w[i] + "'";
      auto e = parse_error_code(std::string_view(w[i]).substr(0, colon));
      auto ms = parse_int<int>(std::string_view(w[i]).substr(colon + 1));
      if (!e || !ms || *ms < 0) return "ERR bad CODE:RTT_MS '" + w[i] + "'";
      entries.emplace_back(*e, *ms);
    }
    // The function is variadic only; pushing one tuple at a time onto the
    // same FIFO gives the same order.
    for (const auto& [err, ms] : entries) {
      auto r = rd_kafka_mock_broker_push_request_error_rtts(mc_, *b, *key, 1, err, ms);
      if (r != RD_KAFKA_RESP_ERR_NO_ERROR) return reply(r);
    }
    return "OK " + std::to_string(entries.size());
  }

  std::string clear_errors(const std::vector<std::string>& w) {
    if (w.size() != 2) return "ERR usage: clear_errors APIKEY";
    auto key = parse_api_key(w[1]);
    if (!key) return "ERR bad api key";
    rd_kafka_mock_clear_request_errors(mc_, *key);
    return "OK";
  }

  std::string error_stack_cnt(const std::vector<std::string>& w) {
    if (w.size() != 3) return "ERR usage: error_stack_cnt BROKER APIKEY";
    auto b = parse_broker(w[1], false);
    if (!b) return bad_broker(w[1]);
    auto key = parse_api_key(w[2]);
    if (!key) return "ERR bad api key";
    size_t cnt = 0;
    auto r = rd_kafka_mock_broker_error_stack_cnt(mc_, *b, *key, &cnt);
    return reply(r, std::to_string(cnt));
  }

  std::string wait_errors_consumed(const std::vector<std::string>& w) {
    if (w.size() != 4) return "ERR usage: wait_errors_consumed BROKER APIKEY TIMEOUT_MS";
    auto b = parse_broker(w[1], false);
    if (!b) return bad_broker(w[1]);
    auto key = parse_api_key(w[2]);
    if (!key) return "ERR bad api key";
    auto timeout = parse_int<int>(w[3]);
    if (!timeout || *timeout < 0) return "ERR bad timeout";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*timeout);
    for (;;) {
      size_t cnt = 0;
      auto r = rd_kafka_mock_broker_error_stack_cnt(mc_, *b, *key, &cnt);
      if (r != RD_KAFKA_RESP_ERR_NO_ERROR) return reply(r);
      if (cnt == 0) return "OK 0";
      if (std::chrono::steady_clock::now() >= deadline || g_stop_signal != 0) {
        return "ERR timed out with " + std::to_string(cnt) + " errors still queued";
      }
      // The mock offers no notification; poll its counter.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  std::string topic_err(const std::vector<std::string>& w) {
    if (w.size() != 3) return "ERR usage: topic_err TOPIC CODE";
    auto e = parse_error_code(w[2]);
    if (!e) return "ERR bad error code '" + w[2] + "'";
    rd_kafka_mock_topic_set_error(mc_, w[1].c_str(), *e);
    return "OK";
  }

  std::string coordinator(const std::vector<std::string>& w) {
    if (w.size() != 4) return "ERR usage: coordinator transaction|group KEY BROKER";
    if (w[1] != "transaction" && w[1] != "group") return "ERR type must be transaction or group";
    // A broker id that does not exist makes the mock abort on the next
    // FindCoordinator (rd_assert), so refuse it here.
    auto b = parse_broker(w[3], false);
    if (!b) return bad_broker(w[3]);
    return reply(rd_kafka_mock_coordinator_set(mc_, w[1].c_str(), w[2].c_str(), *b));
  }

  std::string apiversion(const std::vector<std::string>& w) {
    if (w.size() != 4) return "ERR usage: apiversion APIKEY MIN MAX";
    auto key = parse_api_key(w[1]);
    auto lo = parse_int<std::int16_t>(w[2]);
    auto hi = parse_int<std::int16_t>(w[3]);
    if (!key || !lo || !hi) return "ERR bad api key or version";
    return reply(rd_kafka_mock_set_apiversion(mc_, *key, *lo, *hi));
  }

  rd_kafka_mock_cluster_t* mc_;
  int brokers_;
};

std::optional<host_options> parse_args(int argc, char** argv) {
  host_options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    if (a == "--brokers") {
      auto v = next();
      auto n = v ? parse_int<int>(*v) : std::nullopt;
      if (!n || *n < 1 || *n > max_brokers) return std::nullopt;
      o.brokers = *n;
    } else if (a == "--topic") {
      auto v = next();
      if (!v) return std::nullopt;
      const auto colon = v->rfind(':');
      if (colon == std::string_view::npos || colon == 0) return std::nullopt;
      auto parts = parse_int<int>(v->substr(colon + 1));
      if (!parts || *parts < 1 || *parts > max_partitions) return std::nullopt;
      o.topics.emplace_back(std::string(v->substr(0, colon)), *parts);
    } else if (a == "--spread-leaders") {
      o.spread_leaders = true;
    } else if (a == "--no-spread-leaders") {
      o.spread_leaders = false;
    } else {
      return std::nullopt;
    }
  }
  return o;
}

void usage() {
  std::fprintf(stderr,
               "usage: kprod_mock_cluster [--brokers N] [--topic NAME:PARTITIONS]... "
               "[--spread-leaders|--no-spread-leaders]\n");
}

// Reads stdin line by line with poll() so that a stop signal is noticed even
// while no command arrives. Returns false on EOF or stop.
class line_reader {
 public:
  bool next(std::string* line) {
    for (;;) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        *line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (!line->empty() && line->back() == '\r') line->pop_back();
        return true;
      }
      if (eof_) {
        if (buf_.empty()) return false;
        *line = std::move(buf_);
        buf_.clear();
        return true;
      }
      if (g_stop_signal != 0) return false;
      pollfd pfd{STDIN_FILENO, POLLIN, 0};
      int pr = ::poll(&pfd, 1, 200);
      if (pr < 0 && errno != EINTR) return false;
      if (pr <= 0) continue;
      char chunk[4096];
      ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return false;
      }
      if (n == 0) {
        eof_ = true;
        continue;
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  std::string buf_;
  bool eof_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  auto opts = parse_args(argc, argv);
  if (!opts) {
    usage();
    return 2;
  }

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  // A vanished parent must give a write error here, not kill us mid-reply.
  std::signal(SIGPIPE, SIG_IGN);

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The hosting handle never talks to anyone; keep it quiet.
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "client.id", "kprod_mock_cluster_host", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    std::fprintf(stderr, "kprod_mock_cluster: rd_kafka_new failed: %s\n", errstr);
    return 3;
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, opts->brokers);
  if (mc == nullptr) {
    std::fprintf(stderr, "kprod_mock_cluster: rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return 3;
  }

  int status = 0;
  for (const auto& [topic, parts] : opts->topics) {
    const int rf = opts->brokers < 3 ? opts->brokers : 3;
    auto err = rd_kafka_mock_topic_create(mc, topic.c_str(), parts, rf);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "kprod_mock_cluster: topic_create %s: %s\n", topic.c_str(),
                   rd_kafka_err2str(err));
      status = 3;
      break;
    }
    for (int p = 0; opts->spread_leaders && p < parts; ++p) {
      err = rd_kafka_mock_partition_set_leader(mc, topic.c_str(), p, (p % opts->brokers) + 1);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::fprintf(stderr, "kprod_mock_cluster: set_leader %s/%d: %s\n", topic.c_str(), p,
                     rd_kafka_err2str(err));
        status = 3;
        break;
      }
    }
    if (status != 0) break;
  }

  if (status == 0 &&
      write_all(STDOUT_FILENO,
                std::string("BOOTSTRAP ") + rd_kafka_mock_cluster_bootstraps(mc) + "\n")) {
    host h(mc, opts->brokers);
    line_reader in;
    bool quit = false;
    for (std::string line; !quit && in.next(&line);) {
      if (!write_all(STDOUT_FILENO, h.execute(line, &quit) + "\n")) break;
    }
  }

  // The mock cluster must go before the handle that hosts it.
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return status;
}
