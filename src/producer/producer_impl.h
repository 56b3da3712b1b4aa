// producer_impl - the pimpl behind kprod::producer: owns the I/O thread and
// wires the accumulator (application side) to the sender and cluster (I/O
// side).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "client/cluster.h"
#include "producer/read_mostly_mutex.h"
#include "kprod/producer.h"
#include "producer/accumulator.h"
#include "producer/buffer_pool.h"
#include "producer/sender.h"

namespace kprod::producer_detail {

class transaction_manager;

class producer_impl {
 public:
  explicit producer_impl(const producer_config& validated);
  ~producer_impl();

  result<void> enqueue(const record& r, detail::completion&& done, bool may_block, bool report_enqueue_errors);
  result<void> flush(std::chrono::milliseconds timeout);
  result<void> close(std::chrono::milliseconds timeout);
  result<std::vector<partition_info>> partitions_for(std::string_view topic);
  result<cluster_info> cluster_metadata();
  const producer_config& config() const noexcept { return cfg_; }
  producer_metrics metrics() const;
  // Null unless transactional.id is set.
  transaction_manager* transactions() noexcept { return sender_->transactions(); }
  bool on_io_thread_now() const noexcept { return on_io_thread(); }

 private:
  bool on_io_thread() const noexcept { return std::this_thread::get_id() == io_thread_id_; }
  void complete_now(detail::completion& done, kprod::error e, std::string_view topic);
  void on_metadata(const client::cluster_snapshot& snap, const std::vector<std::string>& updated);

  const producer_config cfg_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  producer_detail::buffer_pool pool_;
  std::unique_ptr<producer_detail::sender> sender_;  // constructed after the accumulator it wakes
  producer_detail::accumulator acc_;
  client::cluster cluster_;
  std::thread io_thread_;
  std::thread::id io_thread_id_;

  std::mutex close_mu_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> closing_{false};
  // enqueue() holds it shared; close() takes it exclusively once closing_
  // is set, which waits for the sends in progress (every later one sees
  // closing_). Shared side: no atomic read-modify-write, and each thread
  // writes only its own cache line (read_mostly_mutex.h).
  producer_detail::read_mostly_mutex sends_gate_;

  // partitions_for() waits for metadata here.
  std::mutex meta_mu_;
  std::condition_variable meta_cv_;
  std::shared_ptr<const client::cluster_snapshot> last_snapshot_;
};

}  // namespace kprod::producer_detail
