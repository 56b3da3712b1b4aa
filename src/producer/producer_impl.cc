#include "producer/producer_impl.h"

#include <algorithm>
#include <future>

#include <asio/post.hpp>

#include "producer/transaction_manager.h"

namespace kprod::producer_detail {

using producer_detail::clock;

producer_impl::producer_impl(const producer_config& validated)
    : cfg_(validated),
      work_(asio::make_work_guard(io_)),
      pool_(validated.buffer_memory),
      acc_(cfg_, pool_, [this] { sender_->wake(); }),
      cluster_(io_, cfg_, [this] { sender_->wake(); }) {
  // Settle read_mostly_mutex's mode before any thread of ours exists (see
  // read_mostly_mutex.cc: registering later costs an RCU grace period).
  (void)read_mostly_mutex::asymmetric();
  sender_ = std::make_unique<producer_detail::sender>(io_, cfg_, acc_, cluster_);
  cluster_.set_metadata_listener(
      [this](const client::cluster_snapshot& s, const std::vector<std::string>& updated) { on_metadata(s, updated); });
  std::promise<std::thread::id> started;
  auto id = started.get_future();
  io_thread_ = std::thread([this, &started] {
    started.set_value(std::this_thread::get_id());
    io_.run();
  });
  io_thread_id_ = id.get();
  sender_->wake();  // connect to the bootstrap servers right away
}

producer_impl::~producer_impl() {
  (void)close(std::chrono::milliseconds::max());
}

void producer_impl::on_metadata(const client::cluster_snapshot& snap, const std::vector<std::string>& updated) {
  for (const auto& name : updated) (void)sender_->apply_topic_metadata(snap, name);
  {
    std::lock_guard lk(meta_mu_);
    last_snapshot_ = cluster_.snapshot();
  }
  meta_cv_.notify_all();
}

void producer_impl::complete_now(detail::completion& done, kprod::error e, std::string_view topic) {
  if (!done) return;
  delivery_report rep;
  rep.error = std::move(e);
  rep.status = persistence::not_persisted;
  (void)topic;  // the record's topic view is not ours to keep
  if (closing_.load() || on_io_thread()) {  // closing: the I/O thread may never run it
    done(std::move(rep));
    return;
  }
  // Never inside the initiating call: completions run on the I/O thread.
  asio::post(io_, [d = std::move(done), rep = std::move(rep)]() mutable { d(std::move(rep)); });
}

result<void> producer_impl::enqueue(const record& r, detail::completion&& done, bool may_block,
                                    bool report_enqueue_errors) {
  const bool has_handler = static_cast<bool>(done);
  // close() waits for sends in progress, so that none slips in after its
  // final sweep (every record gets exactly one completion).
  std::shared_lock gate(sends_gate_);
  auto* const txn = transactions();
  if (txn == nullptr && !closing_.load()) [[likely]] {
    // The common path, without the transactional state (an error object
    // and a lock built and destroyed on every send).
    result<void> res = acc_.append(r, done, has_handler, may_block && !on_io_thread());
    gate.unlock();
    if (res.ok()) [[likely]] return {};
    if (report_enqueue_errors && has_handler) {
      complete_now(done, res.error(), r.topic);
      return {};
    }
    return res;
  }
  // Transactional: the state check and the append happen under the send
  // lock, so commit/abort never miss a record appended in the transaction.
  std::shared_lock<std::shared_mutex> txn_lock;
  kprod::error txn_refusal;
  if (txn != nullptr) {
    txn_lock = txn->lock_for_send();
    txn_refusal = txn->check_send();
  }
  result<void> res = closing_.load() ? result<void>(error(client_errc::producer_closed, "producer is closed"))
                     : txn_refusal   ? result<void>(txn_refusal)
                                     : acc_.append(r, done, has_handler, may_block && !on_io_thread());
  if (txn_lock.owns_lock()) txn_lock.unlock();
  gate.unlock();
  if (res.ok()) return res;
  if (report_enqueue_errors && has_handler) {
    complete_now(done, res.error(), r.topic);
    return {};
  }
  return res;
}

result<void> producer_impl::flush(std::chrono::milliseconds timeout) {
  if (on_io_thread() || producer_detail::in_completion_handler()) {
    return error(client_errc::would_deadlock, "flush() called from a completion handler");
  }
  const auto deadline = timeout == std::chrono::milliseconds::max() ? clock::time_point::max() : clock::now() + timeout;
  auto& tracker = acc_.flushes();
  const auto target = tracker.begin();
  acc_.begin_flush();
  sender_->wake();
  const bool done = tracker.wait(target, deadline);
  acc_.end_flush();
  if (!done) return error(client_errc::timed_out, "flush() timed out with records outstanding");
  return {};
}

result<void> producer_impl::close(std::chrono::milliseconds timeout) {
  if (on_io_thread() || producer_detail::in_completion_handler()) {
    return error(client_errc::would_deadlock, "close() called from a completion handler");
  }
  std::lock_guard lk(close_mu_);
  if (closed_.load()) return {};
  const auto deadline = timeout == std::chrono::milliseconds::max() ? clock::time_point::max() : clock::now() + timeout;
  // As Java: a graceful close aborts an open transaction (its records are
  // never committed, and the coordinator need not time it out). close(0)
  // does not wait for that.
  if (auto* txn = transactions(); txn && timeout.count() > 0) {
    const auto st = txn->state();
    if (st == producer_detail::txn_state::in_transaction || st == producer_detail::txn_state::abortable_error) {
      const auto left = deadline == clock::time_point::max()
                            ? timeout
                            : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      if (left.count() > 0) (void)txn->abort(left);
    }
  }
  closing_.store(true);
  acc_.set_closing();
  pool_.close();  // senders blocked on buffer.memory give up now
  auto& tracker = acc_.flushes();
  const auto target = tracker.begin();
  sender_->wake();
  if (timeout.count() > 0) (void)tracker.wait(target, deadline);
  // Sends that started before closing_ was set finish quickly now (the pool
  // is closed); after them nothing can be appended, so the shutdown below
  // sees every record.
  sends_gate_.lock();
  sends_gate_.unlock();
  // Whatever is left fails now, in flight included; then the thread stops.
  asio::post(io_, [this] {
    sender_->shutdown(error(client_errc::producer_closed, "producer closed before delivery"));
    work_.reset();
    io_.stop();
  });
  io_thread_.join();
  closed_.store(true);
  // Handlers posted before the stop (enqueue errors) still run, here.
  io_.restart();
  io_.poll();
  return {};
}

producer_metrics producer_impl::metrics() const {
  producer_metrics m = sender_->counters().snapshot();
  m.buffer_bytes_used = pool_.used();
  return m;
}

result<std::vector<partition_info>> producer_impl::partitions_for(std::string_view topic) {
  if (closed_.load()) return error(client_errc::producer_closed, "producer is closed");
  const std::string name(topic);
  asio::post(io_, [this, name] {
    cluster_.want_topics({name});
    cluster_.request_update();
    sender_->wake();
  });
  const auto deadline = clock::now() + cfg_.max_block;
  std::unique_lock lk(meta_mu_);
  const client::topic_snapshot* found = nullptr;
  meta_cv_.wait_until(lk, deadline, [&] {
    if (!last_snapshot_) return false;
    auto it = last_snapshot_->topics.find(name);
    found = (it != last_snapshot_->topics.end() && !it->second.partitions.empty()) ? &it->second : nullptr;
    return found != nullptr;
  });
  if (!found) return error(client_errc::timed_out, "no metadata for topic '" + name + "' within max.block.ms");
  std::vector<partition_info> out;
  for (const auto& p : found->partitions) out.push_back({name, p.id, p.leader, p.replicas, p.isr});
  return out;
}

}  // namespace kprod::producer_detail

namespace kprod::producer_detail {

result<cluster_info> producer_impl::cluster_metadata() {
  if (closed_.load()) return error(client_errc::producer_closed, "producer is closed");
  const std::uint64_t before = cluster_.full_metadata_generation();
  asio::post(io_, [this] {
    cluster_.request_full_metadata();
    sender_->wake();
  });
  const auto deadline = clock::now() + cfg_.max_block;
  std::unique_lock lk(meta_mu_);
  const bool got = meta_cv_.wait_until(lk, deadline, [&] { return cluster_.full_metadata_generation() > before; });
  if (!got || !last_snapshot_) return error(client_errc::timed_out, "no cluster metadata within max.block.ms");
  cluster_info out;
  for (const auto& [id, b] : last_snapshot_->brokers) out.brokers.push_back({id, b.host, b.port});
  for (const auto& [name, t] : last_snapshot_->topics) {
    topic_info ti;
    ti.name = name;
    if (t.error != 0) ti.error = make_error_code(static_cast<kafka_errc>(t.error));
    for (const auto& p : t.partitions) ti.partitions.push_back({name, p.id, p.leader, p.replicas, p.isr});
    out.topics.push_back(std::move(ti));
  }
  std::sort(out.topics.begin(), out.topics.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace kprod::producer_detail
