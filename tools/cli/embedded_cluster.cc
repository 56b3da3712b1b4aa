#include "embedded_cluster.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <type_traits>

namespace kprod::cli {

namespace {

constexpr int max_brokers = 64;
constexpr int max_partitions = 10000;

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// librdkafka is loaded in the child only (dlopen), never in kprod's own
// process: linked, it and the libraries it needs (libcrypto, libssl,
// libsasl2) were ~2.5 MB of every kprod command's resident memory, counted
// in `kprod perf`'s peak RSS, for a feature most runs do not use. Only the
// header's types and enums are used at compile time.
struct rdkafka_api {
  decltype(&rd_kafka_conf_new) conf_new;
  decltype(&rd_kafka_conf_set) conf_set;
  decltype(&rd_kafka_new) kafka_new;
  decltype(&rd_kafka_destroy) kafka_destroy;
  decltype(&rd_kafka_err2str) err2str;
  decltype(&rd_kafka_mock_cluster_new) mock_cluster_new;
  decltype(&rd_kafka_mock_cluster_destroy) mock_cluster_destroy;
  decltype(&rd_kafka_mock_cluster_bootstraps) mock_cluster_bootstraps;
  decltype(&rd_kafka_mock_topic_create) mock_topic_create;
  decltype(&rd_kafka_mock_partition_set_leader) mock_partition_set_leader;
};

// Empty string on success, else what failed.
std::string load_rdkafka(rdkafka_api& api) {
  void* lib = ::dlopen(KP_RDKAFKA_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    return std::string("--mock-cluster needs librdkafka (" KP_RDKAFKA_SONAME "): ") + (why ? why : "not found");
  }
  std::string missing;
  auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
    if (fn == nullptr) missing += std::string(missing.empty() ? "" : ", ") + name;
  };
  bind(api.conf_new, "rd_kafka_conf_new");
  bind(api.conf_set, "rd_kafka_conf_set");
  bind(api.kafka_new, "rd_kafka_new");
  bind(api.kafka_destroy, "rd_kafka_destroy");
  bind(api.err2str, "rd_kafka_err2str");
  bind(api.mock_cluster_new, "rd_kafka_mock_cluster_new");
  bind(api.mock_cluster_destroy, "rd_kafka_mock_cluster_destroy");
  bind(api.mock_cluster_bootstraps, "rd_kafka_mock_cluster_bootstraps");
  bind(api.mock_topic_create, "rd_kafka_mock_topic_create");
  bind(api.mock_partition_set_leader, "rd_kafka_mock_partition_set_leader");
  if (!missing.empty()) return "--mock-cluster: " KP_RDKAFKA_SONAME " lacks " + missing;
  return {};
}

// Runs in the child; never returns.
[[noreturn]] void run_child(int brokers, const std::vector<std::pair<std::string, int>>& topics,
                            int report_fd, int control_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::signal(SIGINT, SIG_IGN);
  // kprod's handler (inherited) would write to kprod's self-pipe.
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGPIPE, SIG_IGN);

  rdkafka_api rk_api{};
  if (auto why = load_rdkafka(rk_api); !why.empty()) {
    write_all(report_fd, "ERR " + why + "\n");
    ::_exit(3);
  }
  const rdkafka_api& api = rk_api;
  char errstr[512];
  rd_kafka_conf_t* conf = api.conf_new();
  api.conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  api.conf_set(conf, "client.id", "kprod_embedded_mock", errstr, sizeof errstr);
  rd_kafka_t* rk = api.kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    write_all(report_fd, std::string("ERR rd_kafka_new: ") + errstr + "\n");
    ::_exit(3);
  }
  rd_kafka_mock_cluster_t* mc = api.mock_cluster_new(rk, brokers);
  if (mc == nullptr) {
    write_all(report_fd, "ERR rd_kafka_mock_cluster_new failed\n");
    ::_exit(3);
  }
  for (const auto& [topic, parts] : topics) {
    const int rf = brokers < 3 ? brokers : 3;
    auto err = api.mock_topic_create(mc, topic.c_str(), parts, rf);
    // Leaders round robin, as a real cluster spreads them. Each set_leader
    // is a round trip to the mock's thread (seconds for hundreds): for many
    // partitions the mock's own spread is kept (it is even enough).
    for (int p = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && parts <= 50 && p < parts; ++p) {
      err = api.mock_partition_set_leader(mc, topic.c_str(), p, (p % brokers) + 1);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      write_all(report_fd, "ERR creating topic '" + topic + "': " + api.err2str(err) + "\n");
      ::_exit(3);
    }
  }
  write_all(report_fd, std::string("BOOTSTRAP ") + api.mock_cluster_bootstraps(mc) + "\n");
  ::close(report_fd);

  // Serve until kprod closes the control pipe (or dies).
  for (char b;;) {
    const ssize_t n = ::read(control_fd, &b, 1);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  api.mock_cluster_destroy(mc);
  api.kafka_destroy(rk);
  ::_exit(0);
}

}  // namespace

result<std::unique_ptr<embedded_cluster>> embedded_cluster::start(
    int brokers, const std::vector<std::pair<std::string, int>>& topics) {
  if (brokers < 1 || brokers > max_brokers) {
    return error(client_errc::invalid_argument,
                 "--mock-cluster: broker count must be 1.." + std::to_string(max_brokers));
  }
  for (const auto& t : topics) {
    if (t.second < 1 || t.second > max_partitions) {
      return error(client_errc::invalid_argument,
                   "--partitions: must be 1.." + std::to_string(max_partitions));
    }
  }
  int report[2];
  int control[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return error(std::error_code(errno, std::generic_category()), "pipe");
  if (::pipe2(control, O_CLOEXEC) != 0) {
    ::close(report[0]);
    ::close(report[1]);
    return error(std::error_code(errno, std::generic_category()), "pipe");
  }
  const pid_t pid = ::fork();
  if (pid < 0) return error(std::error_code(errno, std::generic_category()), "fork");
  if (pid == 0) {
    ::close(report[0]);
    ::close(control[1]);
    run_child(brokers, topics, report[1], control[0]);
  }
  ::close(report[1]);
  ::close(control[0]);

  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (line.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{report[0], POLLIN, 0};
    const int pr = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    char buf[1024];
    const ssize_t n = ::read(report[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  ::close(report[0]);
  line = line.substr(0, line.find('\n'));
  if (line.rfind("BOOTSTRAP ", 0) != 0) {
    ::close(control[1]);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return error(client_errc::illegal_state,
                 "embedded mock cluster did not start" + (line.empty() ? std::string() : ": " + line));
  }
  return std::unique_ptr<embedded_cluster>(
      new embedded_cluster(pid, control[1], line.substr(10), brokers, topics));
}

embedded_cluster::~embedded_cluster() {
  ::close(control_fd_);
  // The child exits as soon as it sees EOF; bound the wait anyway.
  for (int i = 0; i < 500; ++i) {
    const pid_t r = ::waitpid(pid_, nullptr, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) return;
    ::usleep(10000);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace kprod::cli
