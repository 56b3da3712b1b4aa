// transaction_requests.cc - the transaction manager's coordinator requests:
// FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
// TxnOffsetCommit, EndTxn. I/O thread only; one request at a time.
//
// Error policy (Java's TransactionManager handlers):
//   COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
//   lost connection, request timeout       -> find the coordinator again, retry
//   CONCURRENT_TRANSACTIONS, other retriable -> retry after a backoff
//   PRODUCER_FENCED, INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED
//                                          -> fatal (client_errc::fenced)
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED, INVALID_TXN_STATE,
//   UNSUPPORTED_VERSION, anything unexpected -> fatal
//   topic / group authorization, a stale group member (TxnOffsetCommit)
//                                          -> abortable
#include <algorithm>
#include <map>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "producer/transaction_manager.h"
#include "protocol/generated/add_offsets_to_txn_request.h"
#include "protocol/generated/add_offsets_to_txn_response.h"
#include "protocol/generated/add_partitions_to_txn_request.h"
#include "protocol/generated/add_partitions_to_txn_response.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/end_txn_request.h"
#include "protocol/generated/end_txn_response.h"
#include "protocol/generated/find_coordinator_request.h"
#include "protocol/generated/find_coordinator_response.h"
#include "protocol/generated/init_producer_id_request.h"
#include "protocol/generated/init_producer_id_response.h"
#include "protocol/generated/txn_offset_commit_request.h"
#include "protocol/generated/txn_offset_commit_response.h"

namespace kprod::producer_detail {
namespace {

namespace pr = kprod::protocol;

// AddPartitionsToTxn v4+ is the broker-to-broker batched form (KIP-890).
constexpr std::int16_t add_partitions_client_max_version = 3;

enum class reaction { ok, rediscover, retry, fenced, fatal, abortable };

reaction classify(const kprod::error& e) {
  if (!e) return reaction::ok;
  if (e.code().category() != kafka_category()) {
    // Lost connection, request timeout, undecodable bytes: the coordinator
    // may have gone; ask again.
    return reaction::rediscover;
  }
  switch (static_cast<kafka_errc>(e.code().value())) {
    case kafka_errc::coordinator_not_available:
    case kafka_errc::not_coordinator:
    case kafka_errc::coordinator_load_in_progress:
      return reaction::rediscover;
    case kafka_errc::concurrent_transactions:
    case kafka_errc::unknown_topic_or_partition:
    case kafka_errc::operation_not_attempted:
      return reaction::retry;
    case kafka_errc::producer_fenced:
    case kafka_errc::invalid_producer_epoch:
    case kafka_errc::transaction_coordinator_fenced:
      return reaction::fenced;
    case kafka_errc::topic_authorization_failed:
    case kafka_errc::group_authorization_failed:
    case kafka_errc::unknown_member_id:
    case kafka_errc::illegal_generation:
    case kafka_errc::fenced_instance_id:
    case kafka_errc::rebalance_in_progress:
      return reaction::abortable;
    case kafka_errc::transactional_id_authorization_failed:
    case kafka_errc::invalid_txn_state:
    case kafka_errc::unsupported_version:
    case kafka_errc::cluster_authorization_failed:
      return reaction::fatal;
    default:
      return e.is_retriable() ? reaction::retry : reaction::fatal;
  }
}

std::string coordinator_key(std::int8_t kind, const std::string& key) {
  return (kind == 1 ? "t:" : "g:") + key;
}

}  // namespace

std::chrono::milliseconds transaction_manager::backoff() {
  // retry.backoff.ms doubling up to retry.backoff.max.ms; CONCURRENT_TRANSACTIONS
  // clears within milliseconds on a real coordinator, so start there.
  auto ms = cfg_.retry_backoff;
  for (int i = 1; i < attempts_ && ms < cfg_.retry_backoff_max; ++i) ms *= 2;
  return std::min(ms, std::max(cfg_.retry_backoff_max, cfg_.retry_backoff));
}

template <typename Request>
bool transaction_manager::send_request(
    client::connection& c, std::int16_t api_key, std::string_view api_name, std::int16_t max_version, const Request& req,
    std::function<void(const kprod::error&, std::span<const std::uint8_t>, std::int16_t)> on_response) {
  const std::int16_t broker_max = c.version_for(api_key);
  if (broker_max < 0) {
    on_fatal(error(client_errc::unsupported_version,
                   "the broker does not support " + std::string(api_name) + ", needed for transactions"));
    return false;
  }
  const std::int16_t version = std::min(broker_max, max_version);
  auto buf = std::make_shared<std::vector<std::uint8_t>>();
  codec::byte_writer w(*buf);
  if (auto enc = pr::encode(w, req, version); !enc.ok()) {
    on_fatal(enc.error());
    return false;
  }
  request_in_flight_ = true;
  c.send(api_key, version, {asio::buffer(*buf)}, buf, true,
         [this, version, cb = std::move(on_response)](const kprod::error& e, std::span<const std::uint8_t> body) {
           request_in_flight_ = false;
           cb(e, body, version);
           hooks_.wake();
         });
  return true;
}

// Decodes `body` into `resp` unless the transport failed; the error to act on.
template <typename Response>
static kprod::error decode_response(const kprod::error& e, std::span<const std::uint8_t> body, Response& resp,
                                    std::int16_t version) {
  if (e) return e;
  codec::byte_reader r(body);
  if (auto dec = pr::decode(r, resp, version); !dec.ok()) return dec.error();
  return {};
}

void transaction_manager::retry_later(const kprod::error& e, bool rediscover, coordinator_kind kind,
                                      const std::string& key) {
  (void)e;
  if (rediscover) coordinators_.erase(coordinator_key(static_cast<std::int8_t>(kind), key));
  ++attempts_;
  next_attempt_ = clock::now() + backoff();
}

// Reacts to a coordinator error the common way; true when handled (retry,
// fatal, abortable), false for success.
bool transaction_manager::handle_error(const kprod::error& e, std::string_view api, coordinator_kind kind,
                                       const std::string& key) {
  switch (classify(e)) {
    case reaction::ok:
      attempts_ = 0;
      return false;
    case reaction::rediscover:
      retry_later(e, true, kind, key);
      return true;
    case reaction::retry:
      retry_later(e, false, kind, key);
      return true;
    case reaction::fenced:
      on_fatal(kprod::error(client_errc::fenced, std::string(api) + ": " + e.message() +
                                                     " (another producer with transactional.id '" + transactional_id_ +
                                                     "' took over)"));
      return true;
    case reaction::abortable: {
      std::lock_guard lk(mu_);
      abortable_locked(kprod::error(e.code(), std::string(api) + ": " + e.detail()), false);
      return true;
    }
    case reaction::fatal:
      on_fatal(kprod::error(e.code(), std::string(api) + ": " + e.detail()));
      return true;
  }
  return true;
}

std::shared_ptr<client::connection> transaction_manager::coordinator_connection(coordinator_kind kind,
                                                                                const std::string& key,
                                                                                clock::time_point now) {
  const auto ck = coordinator_key(static_cast<std::int8_t>(kind), key);
  auto it = coordinators_.find(ck);
  if (it == coordinators_.end()) {
    if (auto c = cluster_.any_ready_connection(now)) find_coordinator(kind, key, c);
    else wake_at_ = now + cfg_.retry_backoff;
    return nullptr;
  }
  auto c = cluster_.ready_connection(it->second, now);
  if (c) {
    coordinator_wait_since_ = {};
    return c;
  }
  if (!cluster_.snapshot()->brokers.count(it->second)) cluster_.request_update();
  // A coordinator we cannot reach for a whole connection setup timeout may
  // have moved: ask again.
  if (coordinator_wait_since_ == clock::time_point{}) coordinator_wait_since_ = now;
  if (now - coordinator_wait_since_ > cfg_.socket_connection_setup_timeout) {
    coordinators_.erase(it);
    coordinator_wait_since_ = {};
  }
  wake_at_ = now + cfg_.retry_backoff;
  return nullptr;
}

void transaction_manager::find_coordinator(coordinator_kind kind, const std::string& key,
                                           const std::shared_ptr<client::connection>& c) {
  pr::find_coordinator_request req;
  // v4+ (KIP-699) asks for a list of keys instead of one.
  if (c->version_for(pr::find_coordinator_api::key) >= 4) {
    req.coordinator_keys = {key};
  } else {
    req.key = key;
  }
  req.key_type = static_cast<std::int8_t>(kind);
  send_request(*c, pr::find_coordinator_api::key, pr::find_coordinator_api::name, pr::find_coordinator_api::max_version, req,
               [this, kind, key](const kprod::error& e, std::span<const std::uint8_t> body, std::int16_t v) {
                 pr::find_coordinator_response resp;
                 kprod::error err = decode_response(e, body, resp, v);
                 std::int32_t node = resp.node_id;
                 if (!err) {
                   std::int16_t code = resp.error_code;
                   std::string msg = resp.error_message.value_or("");
                   if (v >= 4) {
                     if (resp.coordinators.empty()) {
                       code = static_cast<std::int16_t>(kafka_errc::coordinator_not_available);
                     } else {
                       code = resp.coordinators[0].error_code;
                       msg = resp.coordinators[0].error_message.value_or("");
                       node = resp.coordinators[0].node_id;
                     }
                   }
                   if (code != 0) err = kprod::error(static_cast<kafka_errc>(code), msg);
                 }
                 if (handle_error(err, "FindCoordinator", kind, key)) return;
                 coordinators_[coordinator_key(static_cast<std::int8_t>(kind), key)] = node;
                 if (!cluster_.snapshot()->brokers.count(node)) cluster_.request_update();
               });
}

void transaction_manager::send_init_producer_id(client::connection& c) {
  bool bump;
  {
    std::lock_guard lk(mu_);
    bump = epoch_bump_needed_;
  }
  pr::init_producer_id_request req;
  req.transactional_id = transactional_id_;
  req.transaction_timeout_ms = static_cast<std::int32_t>(cfg_.transaction_timeout.count());
  if (bump) {
    // KIP-360: keep the producer id, bump its epoch (v3+); the coordinator
    // fences the old epoch and resets the sequence state.
    if (c.version_for(pr::init_producer_id_api::key) < 3) {
      on_fatal(error(client_errc::unsupported_version,
                     "the transaction failed in a way that needs a producer epoch bump (KIP-360), and the "
                     "coordinator does not support InitProducerId v3"));
      return;
    }
    req.producer_id = producer_id_;
    req.producer_epoch = producer_epoch_;
  }
  send_request(c, pr::init_producer_id_api::key, pr::init_producer_id_api::name, pr::init_producer_id_api::max_version, req,
               [this](const kprod::error& e, std::span<const std::uint8_t> body, std::int16_t v) {
                 pr::init_producer_id_response resp;
                 kprod::error err = decode_response(e, body, resp, v);
                 if (!err && resp.error_code != 0) err = kprod::error(static_cast<kafka_errc>(resp.error_code));
                 if (handle_error(err, "InitProducerId", coordinator_kind::transaction, transactional_id_)) return;
                 producer_id_ = resp.producer_id;
                 producer_epoch_ = resp.producer_epoch;
                 // Partitions move to the new epoch (sequences from 0) at their
                 // next drain (idempotence.h: sequence_identity_ready).
                 std::lock_guard lk(mu_);
                 if (state_ != txn_state::initializing) return;
                 epoch_bump_needed_ = false;
                 move_to(txn_state::ready);
                 complete_op({});
               });
}

void transaction_manager::send_add_partitions(client::connection& c) {
  adding_.swap(to_add_);
  to_add_.clear();
  pr::add_partitions_to_txn_request req;
  req.v3_and_below_transactional_id = transactional_id_;
  req.v3_and_below_producer_id = producer_id_;
  req.v3_and_below_producer_epoch = producer_epoch_;
  for (const auto& [topic, partition] : adding_) {
    if (req.v3_and_below_topics.empty() || req.v3_and_below_topics.back().name != topic) {
      req.v3_and_below_topics.emplace_back().name = topic;
    }
    req.v3_and_below_topics.back().partitions.push_back(partition);
  }
  const bool sent = send_request(
      c, pr::add_partitions_to_txn_api::key, pr::add_partitions_to_txn_api::name, add_partitions_client_max_version, req,
      [this](const kprod::error& e, std::span<const std::uint8_t> body, std::int16_t v) {
        pr::add_partitions_to_txn_response resp;
        kprod::error err = decode_response(e, body, resp, v);
        if (!err && resp.error_code != 0) err = kprod::error(static_cast<kafka_errc>(resp.error_code));
        // Per partition: the added ones stay added, the others are retried.
        kprod::error worst;
        if (!err) {
          for (const auto& t : resp.results_by_topic_v3_and_below) {
            for (const auto& p : t.results_by_partition) {
              std::pair<std::string, std::int32_t> tp{t.name, p.partition_index};
              if (!adding_.count(tp)) continue;
              if (p.partition_error_code == 0) {
                added_.insert(tp);
                adding_.erase(tp);
                continue;
              }
              const auto code = static_cast<kafka_errc>(p.partition_error_code);
              // OPERATION_NOT_ATTEMPTED only says another partition failed.
              if (!worst || code != kafka_errc::operation_not_attempted) {
                if (!worst || worst.code() == make_error_code(kafka_errc::operation_not_attempted)) {
                  worst = kprod::error(code, t.name + "/" + std::to_string(p.partition_index));
                }
              }
            }
          }
          if (!worst && !adding_.empty()) {
            worst = error(client_errc::malformed_response, "AddPartitionsToTxn response left out partitions");
          }
          err = worst;
        }
        to_add_.insert(adding_.begin(), adding_.end());
        adding_.clear();
        handle_error(err, "AddPartitionsToTxn", coordinator_kind::transaction, transactional_id_);
      });
  if (!sent) {
    to_add_.insert(adding_.begin(), adding_.end());
    adding_.clear();
  }
}

void transaction_manager::send_add_offsets(client::connection& c) {
  pr::add_offsets_to_txn_request req;
  {
    std::lock_guard lk(mu_);
    if (!offsets_) return;
    req.group_id = offsets_->group.group_id;
  }
  req.transactional_id = transactional_id_;
  req.producer_id = producer_id_;
  req.producer_epoch = producer_epoch_;
  send_request(c, pr::add_offsets_to_txn_api::key, pr::add_offsets_to_txn_api::name, pr::add_offsets_to_txn_api::max_version, req,
               [this](const kprod::error& e, std::span<const std::uint8_t> body, std::int16_t v) {
                 pr::add_offsets_to_txn_response resp;
                 kprod::error err = decode_response(e, body, resp, v);
                 if (!err && resp.error_code != 0) err = kprod::error(static_cast<kafka_errc>(resp.error_code));
                 if (handle_error(err, "AddOffsetsToTxn", coordinator_kind::transaction, transactional_id_)) return;
                 offsets_added_ = true;
               });
}

void transaction_manager::send_txn_offset_commit(client::connection& c) {
  pr::txn_offset_commit_request req;
  {
    std::lock_guard lk(mu_);
    if (!offsets_) return;
    req.group_id = offsets_->group.group_id;
    req.generation_id = offsets_->group.generation_id;
    req.member_id = offsets_->group.member_id;
    req.group_instance_id = offsets_->group.group_instance_id;
    for (const auto& o : offsets_->offsets) {
      auto t = std::find_if(req.topics.begin(), req.topics.end(), [&](const auto& x) { return x.name == o.topic; });
      if (t == req.topics.end()) {
        t = req.topics.emplace(req.topics.end());
        t->name = o.topic;
      }
      pr::txn_offset_commit_request::txn_offset_commit_request_partition part;
      part.partition_index = o.partition;
      part.committed_offset = o.offset;
      part.committed_leader_epoch = o.leader_epoch.value_or(-1);
      part.committed_metadata = o.metadata;
      t->partitions.push_back(std::move(part));
    }
  }
  req.transactional_id = transactional_id_;
  req.producer_id = producer_id_;
  req.producer_epoch = producer_epoch_;
  const std::string group = req.group_id;
  send_request(c, pr::txn_offset_commit_api::key, pr::txn_offset_commit_api::name, pr::txn_offset_commit_api::max_version, req,
               [this, group](const kprod::error& e, std::span<const std::uint8_t> body, std::int16_t v) {
                 pr::txn_offset_commit_response resp;
                 kprod::error err = decode_response(e, body, resp, v);
                 if (!err) {
                   std::lock_guard lk(mu_);
                   if (!offsets_) return;
                   for (const auto& t : resp.topics) {
                     for (const auto& p : t.partitions) {
                       if (p.error_code == 0) {
                         std::erase_if(offsets_->offsets, [&](const topic_partition_offset& o) {
                           return o.topic == t.name && o.partition == p.partition_index;
                         });
                       } else if (!err) {
                         err = kprod::error(static_cast<kafka_errc>(p.error_code),
                                            t.name + "/" + std::to_string(p.partition_index));
                       }
                     }
                   }
                   if (!err && !offsets_->offsets.empty()) {
                     err = error(client_errc::malformed_response, "TxnOffsetCommit response left out partitions");
                   }
                 }
                 if (handle_error(err, "TxnOffsetCommit", coordinator_kind::group, group)) return;
                 std::lock_guard lk(mu_);
                 offsets_.reset();
                 if (pending_call_ == txn_call::send_offsets) complete_op({});
               });
}

void transaction_manager::send_end_txn(client::connection& c, bool commit) {
  pr::end_txn_request req;
  req.transactional_id = transactional_id_;
  req.producer_id = producer_id_;
  req.producer_epoch = producer_epoch_;
  req.committed = commit;
  send_request(c, pr::end_txn_api::key, pr::end_txn_api::name, pr::end_txn_api::max_version, req,
               [this](const kprod::error& e, std::span<const std::uint8_t> body, std::int16_t v) {
                 pr::end_txn_response resp;
                 kprod::error err = decode_response(e, body, resp, v);
                 if (!err && resp.error_code != 0) err = kprod::error(static_cast<kafka_errc>(resp.error_code));
                 if (handle_error(err, "EndTxn", coordinator_kind::transaction, transactional_id_)) return;
                 finish_transaction();
                 std::lock_guard lk(mu_);
                 if (state_ == txn_state::aborting && epoch_bump_needed_) {
                   move_to(txn_state::initializing);  // the abort completes once the epoch is bumped
                 } else if (state_ == txn_state::committing || state_ == txn_state::aborting) {
                   move_to(txn_state::ready);
                   complete_op({});
                 }
               });
}

}  // namespace kprod::producer_detail
