// Child processes for the integration harness: the mock cluster host and the
// independent consumers (kcat, python3-kafka) run as separate programs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kprod/result.h"

namespace kprod::test {

// How a child ended.
struct exit_status {
  bool exited = false;   // ended through exit(); `code` is valid
  int code = -1;
  int signal = 0;        // killed by this signal (0 if it exited)
  bool killed_by_us = false;  // we sent SIGTERM/SIGKILL after a deadline

  bool success() const noexcept { return exited && code == 0 && !killed_by_us; }
  std::string describe() const;
};

exit_status decode_wait_status(int wait_status);

struct spawn_options {
  bool pipe_stdin = false;   // else /dev/null
  bool pipe_stdout = false;  // else inherited
  bool pipe_stderr = false;  // else inherited
};

// A spawned child with optional pipes. Pipe fds are close-on-exec so that
// children spawned concurrently by other threads do not hold them open.
// Destruction kills and reaps a child still running.
class child_process {
 public:
  // argv[0] is looked up in PATH when it contains no '/'.
  static result<child_process> spawn(const std::vector<std::string>& argv, spawn_options opts);

  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  pid_t pid() const noexcept { return pid_; }
  int stdin_fd() const noexcept { return in_fd_; }
  int stdout_fd() const noexcept { return out_fd_; }
  int stderr_fd() const noexcept { return err_fd_; }

  // Writes all of `data` to the child's stdin. A child that has gone away
  // gives an error, never SIGPIPE in this process.
  result<void> write_stdin(std::string_view data);
  void close_stdin();

  // Reaps the child if it has ended; does not block.
  std::optional<exit_status> try_wait();
  // Waits until the child ends or the timeout passes.
  std::optional<exit_status> wait_for(std::chrono::milliseconds timeout);
  // Sends `sig` (if still running), marks the status as killed by us, and
  // reaps it (waiting at most `timeout`, then SIGKILL).
  exit_status kill_and_reap(int sig, std::chrono::milliseconds timeout);

  // Status once reaped.
  const std::optional<exit_status>& status() const noexcept { return status_; }

 private:
  child_process() = default;
  void close_fds() noexcept;

  pid_t pid_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool killed_by_us_ = false;
  std::optional<exit_status> status_;
};

struct process_output {
  exit_status status;
  std::string out;
  std::string err;
};

// Runs a program to completion, collecting stdout and stderr. At the
// deadline the child is killed and a timed_out error returned (its partial
// stderr in the detail).
result<process_output> run_process(const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout);

}  // namespace kprod::test
