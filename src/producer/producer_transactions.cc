// producer_transactions.cc - kprod::producer's transactional calls, thin
// wrappers over the transaction manager (src/producer/transaction_manager.h).
#include "kprod/producer.h"
#include "producer/producer_impl.h"
#include "producer/sender.h"
#include "producer/transaction_manager.h"

namespace kprod {
namespace {

// The transaction manager, or why the call cannot be made at all.
result<producer_detail::transaction_manager*> manager_for(producer_detail::producer_impl& impl, std::string_view call,
                                                          bool blocking) {
  auto* txn = impl.transactions();
  if (!txn) return error(client_errc::illegal_state, std::string(call) + " needs transactional.id to be set");
  if (blocking && (impl.on_io_thread_now() || producer_detail::in_completion_handler())) {
    return error(client_errc::would_deadlock, std::string(call) + " called from a completion handler");
  }
  return txn;
}

}  // namespace

result<void> producer::init_transactions(std::chrono::milliseconds timeout) {
  auto txn = manager_for(*impl_, "init_transactions()", true);
  if (!txn) return txn.error();
  return (*txn)->init_transactions(timeout);
}

result<void> producer::begin_transaction() {
  auto txn = manager_for(*impl_, "begin_transaction()", false);
  if (!txn) return txn.error();
  return (*txn)->begin_transaction();
}

result<void> producer::send_offsets_to_transaction(const std::vector<topic_partition_offset>& offsets,
                                                   const consumer_group_metadata& group,
                                                   std::chrono::milliseconds timeout) {
  auto txn = manager_for(*impl_, "send_offsets_to_transaction()", true);
  if (!txn) return txn.error();
  return (*txn)->send_offsets(offsets, group, timeout);
}

result<void> producer::commit_transaction(std::chrono::milliseconds timeout) {
  auto txn = manager_for(*impl_, "commit_transaction()", true);
  if (!txn) return txn.error();
  return (*txn)->commit(timeout);
}

result<void> producer::abort_transaction(std::chrono::milliseconds timeout) {
  auto txn = manager_for(*impl_, "abort_transaction()", true);
  if (!txn) return txn.error();
  return (*txn)->abort(timeout);
}

}  // namespace kprod
