#include "cli_common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "peak_rss.h"

namespace kprod::cli {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

volatile std::sig_atomic_t g_interrupted = 0;
int g_pipe[2] = {-1, -1};

extern "C" void on_interrupt(int sig) {
  const int saved = errno;
  if (g_interrupted != 0) {
    // Second Ctrl-C: give up on the graceful stop.
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
  g_interrupted = 1;
  const char b = 1;
  [[maybe_unused]] auto n = ::write(g_pipe[1], &b, 1);
  errno = saved;
}

}  // namespace

result<std::map<std::string, std::string>> read_properties_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return error(client_errc::invalid_argument,
                 "cannot read properties file '" + path + "': " + std::strerror(errno));
  }
  std::map<std::string, std::string> props;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    auto t = trim(line);
    if (t.empty() || t.front() == '#' || t.front() == '!') continue;
    const auto sep = t.find_first_of("=:");
    if (sep == std::string_view::npos || trim(t.substr(0, sep)).empty()) {
      return error(client_errc::invalid_argument, "properties file '" + path + "' line " + std::to_string(n) +
                                                      ": expected key=value, got '" + std::string(t) + "'");
    }
    props[std::string(trim(t.substr(0, sep)))] = std::string(trim(t.substr(sep + 1)));
  }
  if (in.bad()) return error(client_errc::invalid_argument, "error reading properties file '" + path + "'");
  return props;
}

result<std::map<std::string, std::string>> build_properties(const connection_options& o,
                                                            const std::string& bootstrap) {
  std::map<std::string, std::string> props;
  if (!o.properties_file.empty()) {
    auto f = read_properties_file(o.properties_file);
    if (!f) return f.error();
    props = std::move(*f);
  }
  for (const auto& kv : o.properties) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return error(client_errc::invalid_argument, "-X '" + kv + "': expected PROP=VALUE");
    }
    props[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!bootstrap.empty()) props["bootstrap.servers"] = bootstrap;
  return props;
}

result<std::string> unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 >= text.size()) return error(client_errc::invalid_argument, "trailing '\\'");
    const char c = text[++i];
    switch (c) {
      case 't': out.push_back('\t'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case '0': out.push_back('\0'); break;
      case '\\': out.push_back('\\'); break;
      case 'x': {
        const int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
        const int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
        if (hi < 0 || lo < 0) return error(client_errc::invalid_argument, "'\\x' needs two hex digits");
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        return error(client_errc::invalid_argument, std::string("unknown escape '\\") + c + "'");
    }
  }
  return out;
}

void install_interrupt_handler() {
  if (g_pipe[0] < 0) {
    if (::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      std::perror("kprod: pipe");
      return;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() noexcept { return g_interrupted != 0; }
int interrupt_fd() noexcept { return g_pipe[0]; }

bool wait_interruptible(std::chrono::nanoseconds timeout) {
  if (interrupted()) return true;
  if (timeout <= std::chrono::nanoseconds::zero()) return false;
  pollfd pfd{interrupt_fd(), POLLIN, 0};
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  ::ppoll(pfd.fd >= 0 ? &pfd : nullptr, pfd.fd >= 0 ? 1 : 0, &ts, nullptr);
  return interrupted();
}

line_reader::status line_reader::next(std::string* line) {
  for (;;) {
    const auto nl = buf_.find('\n', start_);
    if (nl != std::string::npos) {
      line->assign(buf_, start_, nl - start_);
      start_ = nl + 1;
      return status::line;
    }
    if (eof_) {
      if (start_ >= buf_.size()) return status::eof;
      line->assign(buf_, start_, std::string::npos);
      start_ = buf_.size();
      return status::line;
    }
    if (interrupted()) return status::interrupted;
    if (start_ > 0) {
      buf_.erase(0, start_);
      start_ = 0;
    }
    pollfd pfds[2] = {{fd_, POLLIN, 0}, {interrupt_fd(), POLLIN, 0}};
    const int pr = ::poll(pfds, interrupt_fd() >= 0 ? 2 : 1, -1);
    if (pr < 0) {
      if (errno == EINTR) continue;
      error_ = std::strerror(errno);
      return status::error;
    }
    if (interrupted()) return status::interrupted;
    char chunk[65536];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      error_ = std::strerror(errno);
      return status::error;
    }
    if (n == 0) {
      eof_ = true;
      continue;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::string format_double(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

cpu_usage process_usage() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  cpu_usage u;
  u.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  u.peak_rss_mb = peak_rss_mb();
  return u;
}

}  // namespace kprod::cli
