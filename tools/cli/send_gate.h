// send_gate.h - back-pressure for the CLI's send loops.
//
// kprod produce uses producer::try_send() (never blocks) and, when the
// buffer is full, waits for a completion instead of blocking inside the
// library, so that Ctrl-C is noticed within 100 ms even while buffer.memory
// is exhausted; the user's max.block.ms still bounds the total wait, as it
// would in send(). kprod perf measures the library's own blocking send()
// instead (what applications use, and with several sending threads cheaper
// than this gate, which wakes every waiting thread), with close_on_interrupt
// for Ctrl-C.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>

#include "cli_common.h"
#include "kprod/producer.h"

namespace kprod::cli {

// Completions arrive in bursts (every record of an acknowledged batch, one
// after the other), while a waiter needs only the first of them. So a waiter
// arms the gate before it sleeps and only the completion that disarms it
// takes the lock and notifies; the rest of the burst costs two plain loads
// and a plain store each. No locked instruction per completion: the delivery
// callbacks all run on the producer's I/O thread (one writer), and an atomic
// increment per record was ~3% of kprod perf's CPU at 100 B when perf still
// used this gate, a cost the librdkafka load generator (which polls) does
// not pay.
//
// Without a store-load fence on the completion side, a completion can miss a
// waiter that armed the gate at that very moment; the waiter then wakes at
// the next completion (the rest of the burst re-checks the flag) or at its
// timeout (wait_slice at most). Never lost: it only wakes later.
class completion_gate {
 public:
  static constexpr std::chrono::milliseconds wait_slice{10};

  // Called by every delivery callback (producer I/O thread).
  void on_completion() noexcept {
    completions_.store(completions_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    if (armed_.load(std::memory_order_relaxed) && armed_.exchange(false)) {
      std::lock_guard<std::mutex> lock(mu_);  // the waiter is inside wait, or has not checked yet
      cv_.notify_all();
    }
  }
  std::uint64_t completions() const noexcept { return completions_.load(std::memory_order_acquire); }

  // Until a completion after `seen` happened, or `timeout`.
  void wait_after(std::uint64_t seen, std::chrono::nanoseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      // Re-armed on every round: a notification for another waiter (several
      // sender threads) or a spurious wake-up may have disarmed it.
      armed_.store(true);
      if (completions_.load() > seen) return;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return;
    }
  }

 private:
  alignas(64) std::atomic<std::uint64_t> completions_{0};
  std::atomic<bool> armed_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

// try_send(r, callback), waiting for buffer space up to max_block. The
// callback runs only when the result is ok.
template <typename Callback>
result<void> send_with_backpressure(producer& p, const record& r, const Callback& callback,
                                    completion_gate& gate, std::chrono::milliseconds max_block) {
  using clock = std::chrono::steady_clock;
  // The deadline is taken at the first full buffer, not before every send:
  // the clock is read only when a wait may follow.
  std::optional<clock::time_point> deadline;
  // A completion does not mean free memory (a batch's memory comes back
  // once, its records complete one by one): after each retry that still
  // finds the buffer full, wait for twice as many completions, or this loop
  // spins through a batch's reports (about 40% of a profile's samples).
  std::uint64_t completions_to_wait = 1;
  for (;;) {
    auto res = p.try_send(r, callback);
    if (res.ok() || res.error().code() != make_error_code(client_errc::queue_full)) return res;
    // Read the completion count only once the buffer is full (it is written
    // by the I/O thread on every completion: reading it per record moves its
    // cache line every time), then try again: a completion between the
    // failed try and this read freed memory the second try sees.
    const auto seen = gate.completions();
    res = p.try_send(r, callback);
    if (res.ok() || res.error().code() != make_error_code(client_errc::queue_full)) return res;
    if (interrupted()) return error(client_errc::queue_full, "interrupted while waiting for buffer space");
    const auto now = clock::now();
    if (!deadline) deadline = now + max_block;
    if (now >= *deadline) {
      return error(client_errc::queue_full, "no buffer space within max.block.ms");
    }
    gate.wait_after(seen + completions_to_wait - 1, std::min<clock::duration>(*deadline - now, gate.wait_slice));
    completions_to_wait = std::min<std::uint64_t>(completions_to_wait * 2, 4096);
  }
}

// For send loops that use the library's blocking send (kprod perf): a
// thread blocked on a full buffer waits up to max.block.ms, so after Ctrl-C
// and `grace` this closes the producer, which fails the blocked sends at
// once and whatever is still buffered (Java's close() frees senders blocked
// in BufferPool the same way). Covers the sending phase only: destroyed
// when it ends, it closes nothing.
class close_on_interrupt {
 public:
  close_on_interrupt(producer& p, std::chrono::milliseconds grace) : p_(p), grace_(grace) {
    thread_ = std::thread([this] { run(); });
  }
  close_on_interrupt(const close_on_interrupt&) = delete;
  close_on_interrupt& operator=(const close_on_interrupt&) = delete;
  ~close_on_interrupt() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    // interrupted() is a flag set by the signal handler: polled.
    while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return done_ || interrupted(); })) {
    }
    if (done_ || cv_.wait_for(lock, grace_, [this] { return done_; })) return;
    lock.unlock();
    (void)p_.close(std::chrono::milliseconds(0));
  }

  producer& p_;
  const std::chrono::milliseconds grace_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// flush() in short slices so that Ctrl-C is noticed while waiting: after an
// interrupt at most `after_interrupt` more is spent, whatever `timeout` was.
inline result<void> flush_interruptible(producer& p, std::chrono::milliseconds timeout,
                                        std::chrono::milliseconds after_interrupt) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + timeout;
  bool saw_interrupt = false;
  for (;;) {
    const auto now = clock::now();
    if (interrupted() && !saw_interrupt) {
      saw_interrupt = true;
      deadline = std::min(deadline, now + after_interrupt);
    }
    if (now >= deadline) return error(client_errc::timed_out, "flush did not complete in time");
    const auto slice = std::min<clock::duration>(deadline - now, std::chrono::milliseconds(100));
    auto r = p.flush(std::chrono::ceil<std::chrono::milliseconds>(slice));
    if (r.ok() || r.error().code() != make_error_code(client_errc::timed_out)) return r;
  }
}

}  // namespace kprod::cli
