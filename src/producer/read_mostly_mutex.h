// read_mostly_mutex - a reader/writer lock whose shared side writes no shared
// memory: for data that every send reads and only metadata changes write
// (a topic's partition table).
//
// Why not std::shared_mutex: its shared lock and unlock are two atomic
// read-modify-writes on one counter that every sending thread shares. With
// one thread that is ~12 ns per record; with several threads on several
// cores the counter's cache line moves between the cores on every send.
//
// How: each thread owns a small slot (its own cache line) naming the locks it
// holds shared. A reader stores the lock's address in its slot and then
// checks that no writer is active; a writer marks itself active and then
// waits until no slot names its lock. The two sides need a store-load
// barrier between their store and their load (Dekker); the reader's barrier
// is made free by having the writer pay for it on every core at once with
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) - an "asymmetric fence", as in
// userspace RCU. Where membarrier is unavailable (old kernels, seccomp),
// both sides use a full fence instead: the reader still touches only its
// own cache line. Writers are rare (metadata) and serialised by a mutex,
// which is also what a reader that finds a writer active blocks on.
//
// Meets SharedMutex: std::shared_lock / std::unique_lock work. A thread may
// hold at most `max_held` of these shared at once (nesting depth);
// recursive shared locking of one lock is allowed; upgrading is not (a
// writer that holds its own lock shared waits forever, as with
// std::shared_mutex).
#pragma once

#include <atomic>
#include <mutex>

namespace kprod::producer_detail {

namespace read_mostly_detail {

inline constexpr int max_held = 8;

// One per thread, on its own cache line: the locks the thread holds shared.
struct alignas(64) reader_slot {
  std::atomic<const void*> held[max_held]{};
  int depth = 0;  // entries in use (owner thread only)
};

// The calling thread's slot once it has one (read_mostly_mutex.cc).
extern thread_local reader_slot* my_slot;
reader_slot& register_this_thread();
// True once membarrier was found usable (set during static initialisation;
// before that, readers take the full fence, which is correct either way).
extern bool readers_fence_free;
[[noreturn]] void nested_too_deep() noexcept;

}  // namespace read_mostly_detail

class read_mostly_mutex {
 public:
  // Nesting depth per thread: a send holds two (sends in progress, then its
  // topic); a send from a partitioner or handler called inside one adds two
  // more each time.
  static constexpr int max_held = read_mostly_detail::max_held;

  read_mostly_mutex() = default;
  read_mostly_mutex(const read_mostly_mutex&) = delete;
  read_mostly_mutex& operator=(const read_mostly_mutex&) = delete;

  // Inline: a send takes two of these (about 4% of a 100-byte record's CPU
  // as out-of-line calls).
  void lock_shared() {
    if (!enter_shared()) lock_shared_contended();
  }
  void unlock_shared() noexcept {
    read_mostly_detail::reader_slot& s = *read_mostly_detail::my_slot;
    for (int i = s.depth; i-- > 0;) {
      if (s.held[i].load(std::memory_order_relaxed) == this) {
        // Release: the section's reads happen before a writer that sees it.
        s.held[i].store(nullptr, std::memory_order_release);
        break;
      }
    }
    while (s.depth > 0 && s.held[s.depth - 1].load(std::memory_order_relaxed) == nullptr) --s.depth;
  }
  bool try_lock_shared() { return enter_shared(); }

  void lock();
  void unlock() noexcept;

  // Whether readers run without any fence (membarrier available); tests.
  static bool asymmetric() noexcept;

 private:
  // false: a writer is active (slot cleared again).
  bool enter_shared() noexcept {
    using namespace read_mostly_detail;
    reader_slot* sp = my_slot;
    reader_slot& s = sp != nullptr ? *sp : register_this_thread();
    const int d = s.depth;
    if (d >= max_held) nested_too_deep();  // a programming error in kprod, not an input
    // Held already by this thread: a writer, if any, is waiting for us, so
    // checking for it would deadlock. Just count the hold again.
    bool again = false;
    for (int i = 0; i < d; ++i) again |= s.held[i].load(std::memory_order_relaxed) == this;
    s.held[d].store(this, std::memory_order_relaxed);
    s.depth = d + 1;
    if (again) return true;
    if (readers_fence_free) {
      std::atomic_signal_fence(std::memory_order_seq_cst);  // the writer's membarrier does the rest
    } else {
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    if (!writer_.load(std::memory_order_acquire)) return true;
    s.held[d].store(nullptr, std::memory_order_release);
    s.depth = d;
    return false;
  }
  void lock_shared_contended();

  std::atomic<bool> writer_{false};
  std::mutex writer_mu_;  // held by the active writer for its whole section
};

}  // namespace kprod::producer_detail
