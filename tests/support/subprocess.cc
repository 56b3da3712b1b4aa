#include "support/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

extern char** environ;

namespace kprod::test {
namespace {

using clock = std::chrono::steady_clock;

kprod::error sys_error(const char* what, int err) {
  return kprod::error(client_errc::fatal, std::string(what) + ": " + std::strerror(err));
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

struct pipe_pair {
  int read = -1;
  int write = -1;
  ~pipe_pair() {
    close_fd(read);
    close_fd(write);
  }
  bool open() { return ::pipe2(&read, O_CLOEXEC) == 0; }
};

int remaining_ms(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  if (left.count() <= 0) return 0;
  return left.count() > 1000000 ? 1000000 : static_cast<int>(left.count());
}

}  // namespace

std::string exit_status::describe() const {
  std::string s;
  if (exited) {
    s = "exited with status " + std::to_string(code);
  } else if (signal != 0) {
    s = std::string("killed by signal ") + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
  } else {
    s = "unknown exit";
  }
  if (killed_by_us) s += " after the harness had to kill it";
  return s;
}

exit_status decode_wait_status(int wait_status) {
  exit_status st;
  if (WIFEXITED(wait_status)) {
    st.exited = true;
    st.code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    st.signal = WTERMSIG(wait_status);
  }
  return st;
}

result<child_process> child_process::spawn(const std::vector<std::string>& argv,
                                           spawn_options opts) {
  if (argv.empty()) return kprod::error(client_errc::invalid_argument, "empty argv");
  pipe_pair in, out, err;
  if (opts.pipe_stdin && !in.open()) return sys_error("pipe2", errno);
  if (opts.pipe_stdout && !out.open()) return sys_error("pipe2", errno);
  if (opts.pipe_stderr && !err.open()) return sys_error("pipe2", errno);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (opts.pipe_stdin) {
    posix_spawn_file_actions_adddup2(&fa, in.read, STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  if (opts.pipe_stdout) posix_spawn_file_actions_adddup2(&fa, out.write, STDOUT_FILENO);
  if (opts.pipe_stderr) posix_spawn_file_actions_adddup2(&fa, err.write, STDERR_FILENO);

  // The child must not inherit a blocked or ignored SIGPIPE/SIGTERM from the
  // test process (gtest or a test may have changed them).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sys_error(("posix_spawnp " + argv[0]).c_str(), rc);

  child_process c;
  c.pid_ = pid;
  std::swap(c.in_fd_, in.write);
  std::swap(c.out_fd_, out.read);
  std::swap(c.err_fd_, err.read);
  return c;
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      in_fd_(std::exchange(other.in_fd_, -1)),
      out_fd_(std::exchange(other.out_fd_, -1)),
      err_fd_(std::exchange(other.err_fd_, -1)),
      killed_by_us_(other.killed_by_us_),
      status_(std::move(other.status_)) {}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !status_) kill_and_reap(SIGKILL, std::chrono::seconds(5));
    close_fds();
    pid_ = std::exchange(other.pid_, -1);
    in_fd_ = std::exchange(other.in_fd_, -1);
    out_fd_ = std::exchange(other.out_fd_, -1);
    err_fd_ = std::exchange(other.err_fd_, -1);
    killed_by_us_ = other.killed_by_us_;
    status_ = std::move(other.status_);
  }
  return *this;
}

child_process::~child_process() {
  if (pid_ > 0 && !status_) kill_and_reap(SIGKILL, std::chrono::seconds(5));
  close_fds();
}

void child_process::close_fds() noexcept {
  close_fd(in_fd_);
  close_fd(out_fd_);
  close_fd(err_fd_);
}

void child_process::close_stdin() { close_fd(in_fd_); }

result<void> child_process::write_stdin(std::string_view data) {
  if (in_fd_ < 0) return kprod::error(client_errc::connection_lost, "child stdin is closed");
  // Block SIGPIPE for this thread while writing; a pending one caused by our
  // write is consumed before unblocking so it never reaches the process.
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  const bool was_pending = [&] {
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGPIPE) == 1;
  }();
  int write_errno = 0;
  while (!data.empty()) {
    ssize_t n = ::write(in_fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      write_errno = errno;
      break;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (write_errno == EPIPE && !was_pending) {
    timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  if (write_errno != 0) {
    return kprod::error(client_errc::connection_lost,
                        std::string("write to child: ") + std::strerror(write_errno));
  }
  return {};
}

std::optional<exit_status> child_process::try_wait() {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  int ws = 0;
  pid_t r = ::waitpid(pid_, &ws, WNOHANG);
  if (r == pid_) {
    exit_status st = decode_wait_status(ws);
    st.killed_by_us = killed_by_us_;
    status_ = st;
  }
  return status_;
}

std::optional<exit_status> child_process::wait_for(std::chrono::milliseconds timeout) {
  if (auto st = try_wait()) return st;
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = clock::now() + timeout;
  // A pidfd becomes readable when the child exits: no polling loop needed.
  // (glibc 2.36's <sys/pidfd.h> lacks C++ linkage, hence the raw syscall.)
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  for (;;) {
    if (auto st = try_wait()) {
      close_fd(pidfd);
      return st;
    }
    const int left = remaining_ms(deadline);
    if (left == 0) break;
    if (pidfd >= 0) {
      pollfd pfd{pidfd, POLLIN, 0};
      ::poll(&pfd, 1, left);
    } else {
      // Fallback where pidfd_open is unavailable (old kernel, seccomp).
      std::this_thread::sleep_for(std::chrono::milliseconds(left < 5 ? left : 5));
    }
  }
  close_fd(pidfd);
  return try_wait();
}

exit_status child_process::kill_and_reap(int sig, std::chrono::milliseconds timeout) {
  if (auto st = try_wait()) return *st;
  killed_by_us_ = true;
  ::kill(pid_, sig);
  if (auto st = wait_for(timeout)) return *st;
  ::kill(pid_, SIGKILL);
  int ws = 0;
  while (::waitpid(pid_, &ws, 0) < 0 && errno == EINTR) {
  }
  exit_status st = decode_wait_status(ws);
  st.killed_by_us = true;
  status_ = st;
  return st;
}

result<process_output> run_process(const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout) {
  auto child = child_process::spawn(argv, {.pipe_stdin = false, .pipe_stdout = true, .pipe_stderr = true});
  if (!child) return child.error();
  const auto deadline = clock::now() + timeout;
  process_output out;
  int fds[2] = {child->stdout_fd(), child->stderr_fd()};
  std::string* sinks[2] = {&out.out, &out.err};
  bool open[2] = {true, true};
  while ((open[0] || open[1])) {
    const int left = remaining_ms(deadline);
    if (left == 0) break;
    pollfd pfds[2];
    nfds_t n = 0;
    int index[2];
    for (int i = 0; i < 2; ++i) {
      if (!open[i]) continue;
      pfds[n] = pollfd{fds[i], POLLIN, 0};
      index[n++] = i;
    }
    int pr = ::poll(pfds, n, left);
    if (pr < 0 && errno != EINTR) return sys_error("poll", errno);
    for (nfds_t k = 0; pr > 0 && k < n; ++k) {
      if ((pfds[k].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[65536];
      ssize_t r = ::read(pfds[k].fd, buf, sizeof buf);
      if (r > 0) {
        sinks[index[k]]->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        open[index[k]] = false;
      }
    }
  }
  if (open[0] || open[1]) {
    auto st = child->kill_and_reap(SIGKILL, std::chrono::seconds(5));
    return kprod::error(client_errc::timed_out,
                        argv[0] + " did not finish within " + std::to_string(timeout.count()) +
                            " ms (" + st.describe() + "); stderr: " + out.err);
  }
  auto st = child->wait_for(std::chrono::milliseconds(remaining_ms(deadline) + 1000));
  if (!st) st = child->kill_and_reap(SIGKILL, std::chrono::seconds(5));
  out.status = *st;
  return out;
}

}  // namespace kprod::test
