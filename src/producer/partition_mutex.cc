#include "producer/partition_mutex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

namespace kprod::producer_detail {
namespace {

void futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t val) noexcept {
  // A private futex: the word is never shared with another process.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op | FUTEX_PRIVATE_FLAG, val, nullptr, nullptr, 0);
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

void partition_mutex::lock_contended() noexcept {
  // Spin while it is held without waiters: likely released within the spin.
  for (int i = 0; i < 100; ++i) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if (s == 0) {
      if (state_.compare_exchange_weak(s, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    } else if (s == 2) {
      break;  // others sleep already: queue behind them
    }
    cpu_relax();
  }
  // From here on this thread may sleep, so the lock is marked as waited for
  // (state 2) whenever this thread takes it: its unlock then wakes the next.
  std::uint32_t s = state_.exchange(2, std::memory_order_acquire);
  while (s != 0) {
    futex(state_, FUTEX_WAIT, 2);  // returns at once unless the state is still 2
    s = state_.exchange(2, std::memory_order_acquire);
  }
}

void partition_mutex::wake_one() noexcept { futex(state_, FUTEX_WAKE, 1); }

void futex_wait_for(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                    std::chrono::nanoseconds timeout) noexcept {
  if (timeout <= std::chrono::nanoseconds::zero()) return;
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timespec ts{static_cast<time_t>(s.count()), static_cast<long>((timeout - s).count())};
  // A relative timeout (FUTEX_WAIT); returns at once unless `word` is still `expected`.
  syscall(SYS_futex, const_cast<std::uint32_t*>(reinterpret_cast<const std::uint32_t*>(&word)),
          FUTEX_WAIT | FUTEX_PRIVATE_FLAG, expected, &ts, nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  futex(word, FUTEX_WAKE, INT_MAX);
}

}  // namespace kprod::producer_detail
