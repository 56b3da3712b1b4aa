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

class read_mostly_mutex {
 public:
  // Nesting depth per thread: a send holds two (sends in progress, then its
  // topic); a send from a partitioner or handler called inside one adds two
  // more each time.
  static constexpr int max_held = 8;

  read_mostly_mutex() = default;
  read_mostly_mutex(const read_mostly_mutex&) = delete;
  read_mostly_mutex& operator=(const read_mostly_mutex&) = delete;

  void lock_shared();
  void unlock_shared() noexcept;
  bool try_lock_shared();

  void lock();
  void unlock() noexcept;

  // Whether readers run without any fence (membarrier available); tests.
  static bool asymmetric() noexcept;

 private:
  bool enter_shared() noexcept;  // false: a writer is active (slot cleared again)

  std::atomic<bool> writer_{false};
  std::mutex writer_mu_;  // held by the active writer for its whole section
};

}  // namespace kprod::producer_detail
