// cli_common.h - pieces shared by the kprod subcommands: producer properties
// from -b/-X/-F, kcat-style escapes, the Ctrl-C self-pipe, a poll()-based line
// reader that notices Ctrl-C, and small formatting helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kprod/result.h"

namespace kprod::cli {

inline constexpr std::string_view version = "0.1.0";

// Exit statuses.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;     // records failed / command failed
inline constexpr int exit_usage = 2;      // bad command line or input

// How the command reaches a cluster, plus the producer properties.
struct connection_options {
  std::string brokers;                  // -b
  int mock_brokers = 0;                 // --mock-cluster N (0 = not used)
  int mock_partitions = 6;              // --partitions P
  std::vector<std::string> properties;  // -X PROP=VALUE, in order
  std::string properties_file;          // -F FILE
};

// "key=value" / "key: value" lines, '#' and '!' comments, blank lines ignored.
result<std::map<std::string, std::string>> read_properties_file(const std::string& path);

// -F first, then -X in order (later wins), then bootstrap.servers.
result<std::map<std::string, std::string>> build_properties(const connection_options& o,
                                                            const std::string& bootstrap);

// kcat's delimiter escapes: \t \n \r \\ \0 \xNN; anything else after '\' is an error.
result<std::string> unescape(std::string_view text);

// ---- Ctrl-C -------------------------------------------------------------------
// SIGINT/SIGTERM set a flag and write one byte to a self-pipe; nothing else
// happens in the handler. The first signal asks for a graceful stop; a second
// one restores the default action so a stuck command can still be killed.
void install_interrupt_handler();
bool interrupted() noexcept;
int interrupt_fd() noexcept;  // readable once interrupted
// Waits up to `timeout` (or until interrupted); true if interrupted.
bool wait_interruptible(std::chrono::nanoseconds timeout);

// ---- input -----------------------------------------------------------------------
class line_reader {
 public:
  enum class status { line, eof, interrupted, error };
  explicit line_reader(int fd) : fd_(fd) {}
  // Next line without its '\n'; a last line without '\n' counts as a line.
  status next(std::string* line);
  const std::string& error_text() const noexcept { return error_; }

 private:
  int fd_;
  std::string buf_;
  std::size_t start_ = 0;
  bool eof_ = false;
  std::string error_;
};

// ---- output helpers ----------------------------------------------------------------
std::string format_double(double v, int decimals);
double seconds_since(std::chrono::steady_clock::time_point t0);
bool stderr_is_terminal();

struct cpu_usage {
  double cpu_s = 0;       // user + system, whole process
  double peak_rss_mb = 0; // ru_maxrss
};
cpu_usage process_usage();

}  // namespace kprod::cli
