#include "support/mock_cluster.h"

#include <cstdio>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#ifndef KP_MOCK_CLUSTER_HOST
#error "KP_MOCK_CLUSTER_HOST must name the kprod_mock_cluster binary"
#endif

namespace kprod::test {
namespace {

using clock = std::chrono::steady_clock;

std::string host_exit_text(child_process& c) {
  auto st = c.wait_for(std::chrono::milliseconds(500));
  return st ? "mock host " + st->describe() : std::string("mock host stopped answering");
}

}  // namespace

mock_cluster::mock_cluster(child_process child, int brokers, mock_cluster_options opts)
    : child_(std::move(child)), brokers_(brokers), opts_(std::move(opts)) {}

mock_cluster::~mock_cluster() { stop(); }

result<std::unique_ptr<mock_cluster>> mock_cluster::start(mock_cluster_options opts) {
  if (opts.host_path.empty()) opts.host_path = KP_MOCK_CLUSTER_HOST;
  std::vector<std::string> argv{opts.host_path, "--brokers", std::to_string(opts.brokers)};
  for (const auto& [name, parts] : opts.topics) {
    argv.push_back("--topic");
    argv.push_back(name + ":" + std::to_string(parts));
  }
  argv.push_back(opts.spread_leaders ? "--spread-leaders" : "--no-spread-leaders");

  // librdkafka's mock very rarely never finishes starting on a loaded
  // machine (seen twice in hundreds of CI starts, never in isolation): give a
  // start that produced no BOOTSTRAP line two more chances with a new process.
  const int brokers = opts.brokers;
  const auto start_timeout = opts.start_timeout;
  std::unique_ptr<mock_cluster> mc;
  result<std::string> line = kprod::error(client_errc::timed_out, "mock host not started");
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto child = child_process::spawn(argv, {.pipe_stdin = true, .pipe_stdout = true, .pipe_stderr = false});
    if (!child) return child.error();
    mc.reset(new mock_cluster(std::move(*child), brokers, opts));
    line = mc->read_line(start_timeout);
    if (line || line.error().code() != client_errc::timed_out) break;
    std::fprintf(stderr, "mock_cluster: host gave no BOOTSTRAP line within %lld ms; restarting it\n",
                 static_cast<long long>(start_timeout.count()));
    mc->stop(std::chrono::milliseconds(1000));
  }
  if (!line) return line.error();
  constexpr std::string_view prefix = "BOOTSTRAP ";
  if (line->rfind(prefix, 0) != 0 || line->size() == prefix.size()) {
    return kprod::error(client_errc::malformed_response, "mock host said: " + *line);
  }
  mc->bootstrap_ = line->substr(prefix.size());
  return mc;
}

result<std::unique_ptr<mock_cluster>> mock_cluster::start(int brokers,
                                                          std::vector<std::pair<std::string, int>> topics) {
  mock_cluster_options opts;
  opts.brokers = brokers;
  opts.topics = std::move(topics);
  return start(std::move(opts));
}

result<std::string> mock_cluster::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    const auto nl = read_buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = read_buf_.substr(0, nl);
      read_buf_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) {
      broken_ = true;
      return kprod::error(client_errc::timed_out,
                          "no reply from the mock host within " + std::to_string(timeout.count()) + " ms");
    }
    pollfd pfd{child_.stdout_fd(), POLLIN, 0};
    int pr = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno != EINTR) {
      broken_ = true;
      return kprod::error(client_errc::fatal, std::string("poll: ") + std::strerror(errno));
    }
    if (pr <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(child_.stdout_fd(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      broken_ = true;
      return kprod::error(client_errc::connection_lost, host_exit_text(child_));
    }
    read_buf_.append(buf, static_cast<size_t>(n));
  }
}

result<std::string> mock_cluster::command(std::string_view line) {
  return command_with_timeout(line, opts_.command_timeout);
}

result<std::string> mock_cluster::command_with_timeout(std::string_view line,
                                                       std::chrono::milliseconds timeout) {
  std::lock_guard lock(mu_);
  if (broken_ || child_.status()) {
    return kprod::error(client_errc::connection_lost, "mock host unusable: " + host_exit_text(child_));
  }
  if (line.find('\n') != std::string_view::npos) {
    return kprod::error(client_errc::invalid_argument, "command contains a newline");
  }
  std::string framed(line);
  framed += '\n';
  if (auto w = child_.write_stdin(framed); !w) {
    broken_ = true;
    return kprod::error(client_errc::connection_lost, host_exit_text(child_));
  }
  auto reply = read_line(timeout);
  if (!reply) return reply.error();
  if (*reply == "OK") return std::string();
  if (reply->rfind("OK ", 0) == 0) return reply->substr(3);
  if (reply->rfind("ERR", 0) == 0) {
    return kprod::error(client_errc::invalid_argument,
                        std::string(line) + ": " + (reply->size() > 4 ? reply->substr(4) : *reply));
  }
  broken_ = true;
  return kprod::error(client_errc::malformed_response, "unexpected reply: " + *reply);
}

bool mock_cluster::command(std::string_view line, std::string* reply) {
  auto r = command(line);
  if (reply != nullptr) {
    if (r) {
      *reply = r->empty() ? "OK" : "OK " + *r;
    } else {
      *reply = "ERR " + r.error().message();
    }
  }
  return r.ok();
}

result<void> mock_cluster::command_void(const std::string& line) {
  auto r = command(line);
  if (!r) return r.error();
  return {};
}

result<void> mock_cluster::ping() {
  auto r = command("ping");
  if (!r) return r.error();
  if (*r != "pong") return kprod::error(client_errc::malformed_response, "ping got: " + *r);
  return {};
}

result<void> mock_cluster::create_topic(std::string_view topic, int partitions, int replication_factor) {
  std::string line = "topic_create " + std::string(topic) + " " + std::to_string(partitions);
  if (replication_factor >= 1) line += " " + std::to_string(replication_factor);
  return command_void(line);
}

result<void> mock_cluster::set_leader(std::string_view topic, std::int32_t partition, std::int32_t broker) {
  return command_void("leader " + std::string(topic) + " " + std::to_string(partition) + " " +
                      std::to_string(broker));
}

result<void> mock_cluster::broker_down(std::int32_t broker) {
  return command_void("down " + std::to_string(broker));
}

result<void> mock_cluster::broker_up(std::int32_t broker) {
  return command_void("up " + std::to_string(broker));
}

result<void> mock_cluster::set_rtt(std::int32_t broker, int rtt_ms) {
  return command_void("rtt " + std::to_string(broker) + " " + std::to_string(rtt_ms));
}

result<void> mock_cluster::push_errors(std::int16_t api, const std::vector<int>& codes) {
  if (codes.empty()) return kprod::error(client_errc::invalid_argument, "no error codes");
  std::string line = "err " + std::to_string(api);
  for (int c : codes) line += " " + std::to_string(c);
  return command_void(line);
}

result<void> mock_cluster::push_broker_errors(std::int32_t broker, std::int16_t api,
                                              const std::vector<std::pair<int, int>>& code_rtt_ms) {
  if (code_rtt_ms.empty()) return kprod::error(client_errc::invalid_argument, "no error codes");
  std::string line = "broker_err " + std::to_string(broker) + " " + std::to_string(api);
  for (const auto& [code, rtt] : code_rtt_ms) line += " " + std::to_string(code) + ":" + std::to_string(rtt);
  return command_void(line);
}

result<void> mock_cluster::clear_errors(std::int16_t api) {
  return command_void("clear_errors " + std::to_string(api));
}

result<std::size_t> mock_cluster::error_stack_count(std::int32_t broker, std::int16_t api) {
  auto r = command("error_stack_cnt " + std::to_string(broker) + " " + std::to_string(api));
  if (!r) return r.error();
  std::size_t n = 0;
  auto [ptr, ec] = std::from_chars(r->data(), r->data() + r->size(), n);
  if (ec != std::errc() || ptr != r->data() + r->size()) {
    return kprod::error(client_errc::malformed_response, "error_stack_cnt got: " + *r);
  }
  return n;
}

result<void> mock_cluster::wait_errors_consumed(std::int32_t broker, std::int16_t api,
                                                std::chrono::milliseconds timeout) {
  // The host answers at its own deadline; give it room beyond that.
  auto r = command_with_timeout("wait_errors_consumed " + std::to_string(broker) + " " + std::to_string(api) +
                                    " " + std::to_string(timeout.count()),
                                std::max(opts_.command_timeout, timeout + std::chrono::seconds(5)));
  if (!r) return r.error();
  return {};
}

result<void> mock_cluster::set_topic_error(std::string_view topic, int code) {
  return command_void("topic_err " + std::string(topic) + " " + std::to_string(code));
}

result<void> mock_cluster::set_coordinator(std::string_view key_type, std::string_view key,
                                           std::int32_t broker) {
  return command_void("coordinator " + std::string(key_type) + " " + std::string(key) + " " +
                      std::to_string(broker));
}

result<void> mock_cluster::set_api_version(std::int16_t api, std::int16_t min_version,
                                           std::int16_t max_version) {
  return command_void("apiversion " + std::to_string(api) + " " + std::to_string(min_version) + " " +
                      std::to_string(max_version));
}

bool mock_cluster::alive() {
  std::lock_guard lock(mu_);
  return !child_.try_wait().has_value();
}

const exit_status& mock_cluster::stop(std::chrono::milliseconds timeout) {
  std::lock_guard lock(mu_);
  if (!child_.try_wait()) {
    // "quit" and EOF both make the host exit; close stdin after quit so a
    // host stuck mid-protocol still sees EOF.
    (void)child_.write_stdin("quit\n");
    child_.close_stdin();
    if (!child_.wait_for(timeout)) child_.kill_and_reap(SIGTERM, std::chrono::seconds(5));
  }
  broken_ = true;
  return *child_.status();
}

::testing::AssertionResult exited_cleanly(const exit_status& st) {
  if (st.success()) return ::testing::AssertionSuccess() << "mock host " << st.describe();
  return ::testing::AssertionFailure() << "mock host " << st.describe();
}

}  // namespace kprod::test
