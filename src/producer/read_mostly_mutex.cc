#include "producer/read_mostly_mutex.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace kprod::producer_detail {

namespace read_mostly_detail {
thread_local reader_slot* my_slot = nullptr;
bool readers_fence_free = false;
void nested_too_deep() noexcept {
  std::fputs("kprod: read_mostly_mutex nested deeper than max_held\n", stderr);
  std::abort();
}
}  // namespace read_mostly_detail

namespace {

using read_mostly_detail::my_slot;
using read_mostly_detail::reader_slot;

// The locks one thread holds shared: written by that thread only, read by
// writers. Its own cache line, so readers never share one.
// Every live thread's slot. Leaked on purpose: threads may exit (and
// unregister) after static destructors ran.
struct slot_registry {
  std::mutex mu;
  std::vector<reader_slot*> slots;
  static slot_registry& get() {
    static slot_registry* r = new slot_registry;
    return *r;
  }
};

struct slot_owner {
  reader_slot slot;
  slot_owner() {
    auto& r = slot_registry::get();
    std::lock_guard lk(r.mu);
    r.slots.push_back(&slot);
  }
  ~slot_owner();
};

// Trivially initialised, so the common path is one TLS load; the owner
// (which unregisters at thread exit) is created on first use.

}  // namespace

read_mostly_detail::reader_slot& read_mostly_detail::register_this_thread() {
  static thread_local slot_owner owner;
  my_slot = &owner.slot;
  return owner.slot;
}

namespace {

slot_owner::~slot_owner() {
  auto& r = slot_registry::get();
  std::lock_guard lk(r.mu);
  std::erase(r.slots, &slot);
  my_slot = nullptr;
}


bool detect_membarrier() {
  // Diagnostics and tests: force the full-fence fallback.
  if (const char* v = std::getenv("KPROD_READ_MOSTLY_FENCE"); v != nullptr && *v == '1') return false;
  const long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0) return false;
  // A sandbox may allow registering and still refuse the barrier itself:
  // try it once, so that a writer never finds it missing (the registration
  // is inherited by fork()ed children).
  return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

// Decided once per process, before any lock is used: both sides must agree.
bool use_membarrier() noexcept {
  static const bool v = detect_membarrier();
  return v;
}

// Registering is cheap while the process has one thread and takes an RCU
// grace period (milliseconds) once it has several: that delayed a
// producer's first send by ~13 ms. So register during static
// initialisation, before main() starts any thread (producer_impl also asks
// before it starts its I/O thread, for programs that load us later).
// It also turns the readers' inline fence (read_mostly_mutex.h) into a
// compiler barrier: until this runs they take the full fence, which is
// correct either way.
const bool registered_at_startup = read_mostly_detail::readers_fence_free = use_membarrier();

// The reader's half of the store-load barrier.
inline void light_fence() noexcept {
  if (use_membarrier()) {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the writer's membarrier does the rest
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

// The writer's half: with membarrier, a full barrier on every core running
// one of our threads, which orders each reader's slot store before its load
// of writer_ as if the reader had fenced.
void heavy_fence() noexcept {
  if (use_membarrier()) {
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
    // Registered at detection, so this cannot fail; if it ever did, readers
    // would be unprotected - stop rather than corrupt.
    std::fputs("kprod: membarrier(PRIVATE_EXPEDITED) failed after registration\n", stderr);
    std::abort();
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

bool slot_holds(const reader_slot& s, const void* lock) noexcept {
  for (const auto& h : s.held) {
    if (h.load(std::memory_order_acquire) == lock) return true;
  }
  return false;
}

}  // namespace

bool read_mostly_mutex::asymmetric() noexcept {
  // What the inline readers really do, not only what was detected.
  return read_mostly_detail::readers_fence_free && use_membarrier();
}

void read_mostly_mutex::lock_shared_contended() {
  do {
    std::lock_guard lk(writer_mu_);  // blocks until the active writer is done
  } while (!enter_shared());
}

void read_mostly_mutex::lock() {
  writer_mu_.lock();
  writer_.store(true, std::memory_order_relaxed);
  heavy_fence();
  // Readers that entered before they could see writer_ leave soon (sections
  // are short; the longest compresses one batch): yield, then sleep a little.
  for (int round = 0;; ++round) {
    bool busy = false;
    {
      auto& r = slot_registry::get();
      std::lock_guard lk(r.mu);
      for (const reader_slot* s : r.slots) {
        if (slot_holds(*s, this)) {
          busy = true;
          break;
        }
      }
    }
    if (!busy) return;
    if (round < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

void read_mostly_mutex::unlock() noexcept {
  writer_.store(false, std::memory_order_release);
  writer_mu_.unlock();
}

}  // namespace kprod::producer_detail
