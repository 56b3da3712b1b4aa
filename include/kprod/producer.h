// kprod/producer.h - the Kafka producer.
//
//   auto p = kprod::producer::create(cfg);            // result<std::unique_ptr<producer>>
//   (*p)->async_send(rec, [](kprod::delivery_report r) { ... });     // callback
//   auto f = (*p)->async_send(rec, asio::use_future);                // std::future<delivery_report>
//   auto r = co_await (*p)->async_send(rec, asio::use_awaitable);    // coroutine
//   (*p)->send(rec);                                                  // fire and forget
//
// Every record gets exactly one completion (a delivery_report), never an
// exception. Completions run on the producer's I/O thread unless the handler
// has an associated executor (use_awaitable, bind_executor), in which case
// they are dispatched to it. Keep plain callbacks short.
//
// Thread-safe: one producer may be shared by any number of threads; records
// sent by one thread to one partition keep their order.
#pragma once

#include <chrono>
#include <initializer_list>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/system_executor.hpp>

#include "kprod/config.h"
#include "kprod/detail/completion.h"
#include "kprod/error.h"
#include "kprod/metrics.h"
#include "kprod/record.h"
#include "kprod/result.h"
#include "kprod/transaction.h"

namespace kprod {

namespace producer_detail {
class producer_impl;
}

struct partition_info {
  std::string topic;
  std::int32_t partition = -1;
  std::int32_t leader = -1;  // broker id, -1 when the partition has no leader
  std::vector<std::int32_t> replicas;
  std::vector<std::int32_t> isr;
};

struct broker_info {
  std::int32_t id = -1;
  std::string host;
  std::int32_t port = 0;
};

struct topic_info {
  std::string name;
  std::error_code error;  // the topic's error in metadata, if any
  std::vector<partition_info> partitions;
};

// What a full Metadata request says about the cluster.
struct cluster_info {
  std::vector<broker_info> brokers;  // by id
  std::vector<topic_info> topics;    // every topic the broker lists, by name
};

class producer {
 public:
  // Validates the config (every problem reported at once) and starts the I/O
  // thread. Connecting to brokers happens in the background.
  static result<std::unique_ptr<producer>> create(const producer_config& config);
  static result<std::unique_ptr<producer>> create(const std::map<std::string, std::string>& properties);
  // create({{"bootstrap.servers", "..."}, {"linger.ms", "5"}}): a braced list
  // of properties (without this overload it would be ambiguous with the
  // producer_config aggregate).
  static result<std::unique_ptr<producer>> create(
      std::initializer_list<std::pair<const std::string, std::string>> properties) {
    return create(std::map<std::string, std::string>(properties));
  }

  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;
  // Closes like close() with no timeout: waits until every record has
  // completed (bounded by delivery.timeout.ms).
  ~producer();

  // Sends a record; the completion token decides how the delivery_report is
  // delivered (callback, asio::use_future, asio::use_awaitable, ...). Blocks
  // at most max.block.ms when buffer.memory is exhausted, then completes with
  // client_errc::queue_full. Never blocks waiting for metadata.
  template <typename CompletionToken>
  auto async_send(const record& r, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(delivery_report)>(
        [this](auto handler, const record& rec) { (void)enqueue(rec, wrap(std::move(handler)), true); }, token,
        std::cref(r));
  }

  // Fire and forget. The result reports only errors found before the record
  // was queued (invalid record, buffer full after max.block.ms, closed).
  result<void> send(const record& r);

  // Never blocks: fails at once with client_errc::queue_full when the buffer is
  // full. On success `callback(delivery_report)` runs later, exactly once; on
  // failure it is not called.
  template <typename Callback>
  result<void> try_send(const record& r, Callback&& callback) {
    return enqueue(r, wrap(std::forward<Callback>(callback)), false, /*report_enqueue_errors=*/false);
  }
  result<void> try_send(const record& r) { return enqueue(r, {}, false, false); }

  // Sends everything buffered at once (ignoring linger.ms) and waits until all
  // records sent before the call have completed. client_errc::would_deadlock
  // when called from a completion handler.
  result<void> flush(std::chrono::milliseconds timeout);

  // Stops accepting records, sends what is buffered until `timeout`, then
  // fails what is left with client_errc::producer_closed. No completion runs
  // after close() returns. Idempotent.
  result<void> close(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

  // The partitions of a topic, waiting up to max.block.ms for its metadata.
  result<std::vector<partition_info>> partitions_for(std::string_view topic);

  // Brokers and every topic of the cluster (a Metadata request for all
  // topics), waiting up to max.block.ms.
  result<cluster_info> cluster_metadata();

  // ---- transactions (transactional.id set; see kprod/transaction.h) ----------
  // Java's KafkaProducer semantics. A call in the wrong state fails with
  // client_errc::illegal_state naming the state; after a fatal error (fenced:
  // client_errc::fenced) every call returns that error. A blocking call that
  // times out (client_errc::timed_out) keeps its outcome pending: call it
  // again to keep waiting. Blocking calls from a completion handler fail with
  // would_deadlock. Without transactional.id they fail with illegal_state.
  //
  // Finds the transaction coordinator, gets the producer id and epoch (fencing
  // any earlier producer with the same transactional.id). Once per producer.
  result<void> init_transactions(std::chrono::milliseconds timeout);
  // Starts a transaction: records may be sent until commit or abort. Records
  // sent outside a transaction fail (illegal_state) without being queued.
  result<void> begin_transaction();
  // Commits consumed offsets as part of the transaction (consume-transform-
  // produce): they count only if the transaction commits.
  result<void> send_offsets_to_transaction(const std::vector<topic_partition_offset>& offsets,
                                           const consumer_group_metadata& group, std::chrono::milliseconds timeout);
  // Sends what is buffered, waits until every record of the transaction is
  // acknowledged, then commits. If any record failed the commit fails and
  // only abort_transaction() is allowed.
  result<void> commit_transaction(std::chrono::milliseconds timeout);
  // Fails records not yet sent, waits for those in flight, then aborts.
  result<void> abort_transaction(std::chrono::milliseconds timeout);

  const producer_config& config() const noexcept;

  producer_metrics metrics() const;

 private:
  explicit producer(std::unique_ptr<producer_detail::producer_impl> impl);

  template <typename Handler>
  static detail::completion wrap(Handler&& h) {
    using handler_t = std::decay_t<Handler>;
    if constexpr (std::is_same_v<asio::associated_executor_t<handler_t>, asio::system_executor>) {
      return detail::completion::from(std::forward<Handler>(h));
    } else {
      // Keep the handler's executor alive (io_context::run() must not return
      // while a send is pending) and complete on it.
      auto work = asio::make_work_guard(asio::get_associated_executor(h));
      return detail::completion::from(
          [h = std::forward<Handler>(h), work = std::move(work)](delivery_report&& rep) mutable {
            auto ex = asio::get_associated_executor(h);
            asio::dispatch(ex, [h = std::move(h), rep = std::move(rep)]() mutable { std::move(h)(std::move(rep)); });
            work.reset();
          });
    }
  }

  // report_enqueue_errors: true completes the handler with enqueue errors (and
  // returns ok); false returns them without calling the handler.
  // `done` by reference: moving a completion is an indirect call, and a send
  // used to move it twice on the way down.
  result<void> enqueue(const record& r, detail::completion&& done, bool may_block, bool report_enqueue_errors = true);

  std::unique_ptr<producer_detail::producer_impl> impl_;
};

}  // namespace kprod
