#include "producer/sender.h"

#include "producer/transaction_manager.h"

#include <algorithm>

#include <asio/post.hpp>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/init_producer_id_request.h"
#include "protocol/generated/init_producer_id_response.h"
#include "protocol/generated/produce_response.h"
#include "protocol/produce_request_writer.h"
#include "producer/batch_split.h"
#include "producer/idempotence.h"

namespace kprod::producer_detail {
namespace {

thread_local int completion_depth = 0;

struct completion_scope {
  completion_scope() { ++completion_depth; }
  ~completion_scope() { --completion_depth; }
};

bool stale_metadata_error(kafka_errc e) {
  switch (e) {
    case kafka_errc::not_leader_or_follower:
    case kafka_errc::leader_not_available:
    case kafka_errc::unknown_topic_or_partition:
    case kafka_errc::fenced_leader_epoch:
    case kafka_errc::unknown_leader_epoch:
    case kafka_errc::kafka_storage_error:
    case kafka_errc::not_enough_replicas:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool in_completion_handler() noexcept { return completion_depth > 0; }

struct sender::request_state {
  std::int32_t node = -1;
  std::int16_t version = 0;
  bool acks0 = false;
  std::vector<std::unique_ptr<producer_batch>> batches;
  protocol::produce_request_writer writer;
};

sender::sender(asio::io_context& io, const producer_config& cfg, accumulator& acc, client::cluster& cl)
    : io_(io), cfg_(cfg), acc_(acc), cluster_(cl), timer_(io), idempotent_(cfg.enable_idempotence.value_or(false)) {
  if (cfg_.transactional_id) txn_setup();
}

sender::~sender() = default;

void sender::wake() {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(io_, [this] { run(); });
}

void sender::run() {
  wake_pending_.store(false, std::memory_order_release);
  schedule(run_once(clock::now()));
}

void sender::schedule(clock::time_point next) {
  if (aborted_) return;
  if (next == clock::time_point::max()) return;  // woken by events
  if (next == timer_at_) return;
  timer_at_ = next;
  timer_.expires_at(next);
  timer_.async_wait([this](const std::error_code& ec) {
    if (ec) return;  // re-armed or cancelled
    timer_at_ = clock::time_point::max();
    run();
  });
}

std::chrono::milliseconds sender::retry_backoff(int attempts) {
  // retry.backoff.ms * 2^(attempts-1), capped at retry.backoff.max.ms, +-20%.
  double ms = static_cast<double>(cfg_.retry_backoff.count());
  for (int i = 1; i < attempts && ms < static_cast<double>(cfg_.retry_backoff_max.count()); ++i) ms *= 2;
  ms = std::min(ms, static_cast<double>(std::max(cfg_.retry_backoff_max, cfg_.retry_backoff).count()));
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms * jitter(rng_)));
}

clock::time_point sender::run_once(clock::time_point now) {
  if (aborted_) return clock::time_point::max();
  clock::time_point next = clock::time_point::max();

  // 1. Metadata for the topics in use.
  auto missing = acc_.topics_without_metadata();
  if (!missing.empty()) {
    // A topic the cluster already knows (partitions_for, another producer
    // path) needs no new request: apply what the snapshot has.
    auto snap = cluster_.snapshot();
    std::erase_if(missing, [&](const std::string& t) { return apply_topic_metadata(*snap, t); });
    if (!missing.empty()) cluster_.want_topics(missing);
  }
  if (now >= next_idle_check_) {
    cluster_.forget_topics(acc_.forget_idle_topics(now, cfg_.metadata_max_idle));
    // Recycled buffers no batch took since the last check: an idle producer
    // gives its memory back (buffer_cache).
    acc_.pool().cache().trim_unused();
    next_idle_check_ = now + std::min<std::chrono::milliseconds>(cfg_.metadata_max_idle, std::chrono::seconds(5));
  }
  next = std::min(next, next_idle_check_);
  // Arena pages no batch used for a while go back (storage_arena.h): at most
  // every arena_trim_interval, when the loop runs anyway (no wake-up of its
  // own: an idle producer still wakes for the idle check above).
  if (now >= next_arena_trim_) {
    acc_.pool().arena().trim_unused();
    acc_.pool().cache().decay_cap();
    next_arena_trim_ = now + arena_trim_interval;
  }
  next = std::min(next, cluster_.poll(now));
  acc_.drain_pending_known(now);

  // 2. A producer id before the first idempotent batch.
  if (fatal_) {
    abort_all(fatal_);
    return clock::time_point::max();
  }
  if (txn_) txn_step(now, next);  // transactional: the transaction manager owns the producer id
  const bool can_send = txn_ ? txn_->can_send() : !idempotent_ || producer_id_ >= 0;
  if (idempotent_ && !txn_) {
    if (producer_id_ >= 0 && bump_requested_) maybe_bump_epoch();
    if (producer_id_ < 0 || new_producer_id_needed_) {
      maybe_init_producer_id(now);
      if (next_pid_attempt_ > now) next = std::min(next, next_pid_attempt_);
    }
  }

  // 3. Ready batches, one Produce request per leader.
  if (can_send) {
    auto node_ready = [&](std::int32_t id) {
      auto t = throttled_until_.find(id);
      if (t != throttled_until_.end()) {
        if (t->second > now) {
          next = std::min(next, t->second);
          return false;
        }
        throttled_until_.erase(t);
      }
      auto c = cluster_.ready_connection(id, now);
      return c && c->in_flight() < static_cast<std::size_t>(cfg_.max_in_flight);
    };
    // One batch per partition per request: drain again while requests go
    // out, up to the in-flight limit of the connections.
    const accumulator::partition_gate_fn txn_gate = [this](std::string_view t, std::int32_t p) {
      return txn_->partition_allowed(t, p);
    };
    const std::function<bool(std::int32_t)> node_busy = [&](std::int32_t id) {
      auto c = cluster_.ready_connection(id, now);
      return c && c->in_flight() > 0;
    };
    for (int round = 0; round <= cfg_.max_in_flight; ++round) {
      auto d = acc_.drain(now, node_ready, idempotent_, producer_id_, producer_epoch_, txn_ ? &txn_gate : nullptr,
                          &node_busy);
      if (d.unknown_leader) cluster_.request_update();
      next = std::min(next, d.next_ready_check);
      if (d.by_node.empty()) break;
      for (auto& [node, batches] : d.by_node) send_produce(node, std::move(batches), now);
      if (!d.more) break;  // every partition is empty behind what went out: no other round needed
    }
  }

  // 4. Delivery timeouts of what is still queued. Scanning every partition
  // is not free (hundreds of partitions, each behind a lock): at the earliest
  // deadline, and otherwise at most every expiry_scan_interval.
  if (now >= next_expiry_scan_) {
    for (auto& b : acc_.take_expired_batches(now, false)) {
      const bool sent = b->ever_sent;
      complete(std::move(b),
               error(client_errc::delivery_timeout, "delivery.timeout.ms elapsed before the record was acknowledged"),
               sent ? persistence::possibly_persisted : persistence::not_persisted, -1, -1);
    }
    for (auto& p : acc_.take_expired_pending(now, false)) {
      kprod::error why = cluster_.last_error()
                             ? error(client_errc::delivery_timeout, "no metadata for topic '" + std::string(p.topic) +
                                                                        "' (" + cluster_.last_error().message() + ")")
                             : error(client_errc::delivery_timeout, "no metadata for topic '" + std::string(p.topic) + "'");
      fail_pending(p, why);
    }
    earliest_deadline_ = acc_.next_expiry();
    // Batches queued after this scan (or retried) are found by the next one.
    next_expiry_scan_ = std::min(earliest_deadline_, now + expiry_scan_interval);
  }
  next = std::min(next, earliest_deadline_);
  next = std::min(next, expire_in_flight(now));
  next = std::min(next, cluster_.take_reconnect_wakeup());
  if (next <= now) next = now + std::chrono::milliseconds(1);
  return next;
}

bool sender::apply_topic_metadata(const client::cluster_snapshot& snap, const std::string& topic) {
  auto it = snap.topics.find(topic);
  if (it == snap.topics.end()) return false;
  const auto& t = it->second;
  if (t.partitions.empty()) {
    if (t.error != 0) acc_.set_topic_error(topic, error(static_cast<kafka_errc>(t.error)));
    return false;
  }
  std::vector<std::pair<std::int32_t, std::int32_t>> parts;
  parts.reserve(t.partitions.size());
  for (const auto& p : t.partitions) parts.emplace_back(p.id, p.leader);
  acc_.set_topic_metadata(topic, parts, clock::now());
  return true;
}

clock::time_point sender::expire_in_flight(clock::time_point now) {
  clock::time_point next = clock::time_point::max();
  for (auto& rs : in_flight_) {
    for (auto& b : rs->batches) {
      if (!b) continue;
      if (b->deadline <= now) {
        // The broker may still append it: possibly persisted. Its response,
        // if one comes, finds no batch and is ignored.
        complete(std::move(b), error(client_errc::delivery_timeout, "delivery.timeout.ms elapsed with the request in flight"),
                 persistence::possibly_persisted, -1, -1);
      } else {
        next = std::min(next, b->deadline);
      }
    }
  }
  return next;
}

void sender::maybe_init_producer_id(clock::time_point now) {
  if (init_pid_in_flight_ || now < next_pid_attempt_) return;
  // No need to wait for in-flight batches: each partition moves to the new
  // id only once its own batches are resolved (idempotence.h).
  auto c = cluster_.any_ready_connection(now);
  if (!c) return;
  const std::int16_t broker_max = c->version_for(protocol::init_producer_id_api::key);
  if (broker_max < 0) {
    fatal_ = error(client_errc::unsupported_version,
                   "enable.idempotence=true but the broker does not support InitProducerId");
    wake();
    return;
  }
  const std::int16_t version = std::min<std::int16_t>(broker_max, protocol::init_producer_id_api::max_version);
  protocol::init_producer_id_request req;
  req.transactional_id = std::nullopt;
  req.transaction_timeout_ms = static_cast<std::int32_t>(cfg_.transaction_timeout.count());
  auto buf = std::make_shared<std::vector<std::uint8_t>>();
  codec::byte_writer w(*buf);
  if (auto enc = protocol::encode(w, req, version); !enc.ok()) {
    fatal_ = enc.error();
    return;
  }
  init_pid_in_flight_ = true;
  c->send(protocol::init_producer_id_api::key, version, {asio::buffer(*buf)}, buf, true,
          [this, version](const kprod::error& e, std::span<const std::uint8_t> body) {
            init_pid_in_flight_ = false;
            if (aborted_) return;
            protocol::init_producer_id_response resp;
            kprod::error err = e;
            if (!err) {
              codec::byte_reader r(body);
              auto dec = protocol::decode(r, resp, version);
              if (!dec.ok()) err = dec.error();
            }
            if (!err && resp.error_code != 0) err = error(static_cast<kafka_errc>(resp.error_code));
            if (err) {
              if (!err.is_retriable() && err.code().category() == kafka_category()) {
                fatal_ = error(err.code(), "InitProducerId failed: " + err.message());
              }
              next_pid_attempt_ = clock::now() + retry_backoff(2);
              wake();
              return;
            }
            producer_id_ = resp.producer_id;
            producer_epoch_ = resp.producer_epoch;
            new_producer_id_needed_ = false;
            wake();
          });
}


void sender::send_produce(std::int32_t node, std::vector<std::unique_ptr<producer_batch>> batches,
                          clock::time_point now) {
  auto conn = cluster_.ready_connection(node, now);
  const std::int16_t broker_max = conn ? conn->version_for(protocol::produce_api::key) : -1;
  if (!conn || broker_max < protocol::produce_request_writer::min_version) {
    kprod::error why = conn ? error(client_errc::unsupported_version, "broker supports no Produce version >= 3")
                            : error(client_errc::connection_lost, "connection lost before sending");
    for (auto& b : batches) retry_or_fail(std::move(b), why, false);
    return;
  }
  auto rs = std::make_shared<request_state>();
  rs->node = node;
  rs->version = std::min(broker_max, protocol::produce_request_writer::max_version);
  rs->acks0 = cfg_.acks == acks::none;
  rs->batches = std::move(batches);
  // Group by topic (batches of a topic arrive together from the drain).
  std::vector<protocol::produce_topic_ref> topics;
  for (auto& b : rs->batches) {
    if (topics.empty() || topics.back().topic != b->topic) topics.push_back({b->topic, {}});
    topics.back().partitions.push_back({b->partition, b->sealed});
    if (b->attempts > 0) counters_.retries.fetch_add(1, std::memory_order_relaxed);
    counters_.batches.fetch_add(1, std::memory_order_relaxed);
    counters_.batch_bytes.fetch_add(b->sealed.size(), std::memory_order_relaxed);
    counters_.batch_records.fetch_add(static_cast<std::uint64_t>(b->record_count), std::memory_order_relaxed);
    b->ever_sent = true;
    ++b->attempts;
    if (idempotent_) {
      if (auto* q = acc_.queue(b->topic, b->partition)) q->unacked_batches.insert(b->id);
    }
  }
  auto body = rs->writer.encode(rs->version, cfg_.transactional_id, static_cast<std::int16_t>(cfg_.acks),
                                static_cast<std::int32_t>(cfg_.request_timeout.count()), topics);
  ++in_flight_requests_;
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  in_flight_.push_back(rs);
  conn->send(protocol::produce_api::key, rs->version, std::move(body), rs, !rs->acks0,
             [this, rs](const kprod::error& e, std::span<const std::uint8_t> resp) { on_produce_response(rs, e, resp); });
}

void sender::on_produce_response(const std::shared_ptr<request_state>& rs, const kprod::error& e,
                                 std::span<const std::uint8_t> body) {
  --in_flight_requests_;
  std::erase(in_flight_, rs);
  if (aborted_) {
    for (auto& b : rs->batches) {
      if (b) complete(std::move(b), error(client_errc::producer_closed, "producer closed with the request in flight"),
                      persistence::possibly_persisted, -1, -1);
    }
    return;
  }
  if (e) {
    // Lost connection or request timeout: the broker may have appended.
    for (auto& b : rs->batches) {
      if (b) retry_or_fail(std::move(b), e, true);
    }
    cluster_.request_update();
    wake();
    return;
  }
  if (rs->acks0) {
    for (auto& b : rs->batches) {
      if (b) complete(std::move(b), {}, persistence::possibly_persisted, -1, -1);
    }
    wake();
    return;
  }
  protocol::produce_response resp;
  codec::byte_reader r(body);
  if (auto dec = protocol::decode(r, resp, rs->version); !dec.ok()) {
    // Bytes we cannot parse: the connection is no longer trustworthy.
    cluster_.disconnect(rs->node, error(client_errc::malformed_response,
                                        "undecodable Produce response: " + dec.error().message()));
    for (auto& b : rs->batches) {
      if (b) retry_or_fail(std::move(b), dec.error(), true);
    }
    wake();
    return;
  }
  if (resp.throttle_time_ms > 0) {
    throttled_until_[rs->node] = clock::now() + std::chrono::milliseconds(resp.throttle_time_ms);
  }
  // Brokers answer partitions in the order they were asked: the batch after
  // the last one matched is tried first, so a response of n partitions is
  // matched in O(n), not O(n^2) (600 partitions: ~200 batches per request).
  std::size_t next = 0;
  for (const auto& t : resp.responses) {
    for (const auto& p : t.partition_responses) {
      auto matches = [&](const auto& b) {
        return b && b->partition == p.index && b->topic == std::string_view(t.name);
      };
      auto it = next < rs->batches.size() && matches(rs->batches[next])
                    ? rs->batches.begin() + static_cast<std::ptrdiff_t>(next)
                    : std::find_if(rs->batches.begin(), rs->batches.end(), matches);
      if (it == rs->batches.end()) continue;  // not ours (or repeated): ignore
      next = static_cast<std::size_t>(it - rs->batches.begin()) + 1;
      std::unique_ptr<producer_batch> b = std::move(*it);
      const auto code = static_cast<kafka_errc>(p.error_code);
      if (code == kafka_errc::none) {
        complete(std::move(b), {}, persistence::persisted, p.base_offset, p.log_append_time_ms);
        continue;
      }
      if (code == kafka_errc::duplicate_sequence_number) {
        complete(std::move(b), {}, persistence::persisted, -1, -1);
        continue;
      }
      std::string msg;
      if constexpr (requires { p.error_message; }) {
        if (p.error_message) msg = *p.error_message;
      }
      kprod::error err(code, msg);
      if (stale_metadata_error(code)) cluster_.request_update();
      if (txn_ && txn_produce_error(b, code, err)) continue;
      if ((code == kafka_errc::message_too_large || code == kafka_errc::record_list_too_large) &&
          b->record_count > 1) {
        split_and_requeue(std::move(b));
        continue;
      }
      if (idempotent_ && handle_sequence_error(*b, code)) {
        retry_or_fail(std::move(b), err, false);
        continue;
      }
      if (err.is_retriable()) {
        retry_or_fail(std::move(b), err, false);
      } else {
        complete(std::move(b), err, persistence::not_persisted, -1, -1);
      }
    }
  }
  // A partition the broker did not answer for: malformed; retry it.
  for (auto& b : rs->batches) {
    if (b) retry_or_fail(std::move(b), error(client_errc::malformed_response, "partition missing from response"), true);
  }
  wake();
}

void sender::retry_or_fail(std::unique_ptr<producer_batch> b, const kprod::error& e, bool maybe_appended) {
  const auto now = clock::now();
  const bool outcome_unknown = maybe_appended || b->ever_sent;
  if (now >= b->deadline) {
    complete(std::move(b), error(client_errc::delivery_timeout, "delivery.timeout.ms elapsed; last error: " + e.message()),
             outcome_unknown ? persistence::possibly_persisted : persistence::not_persisted, -1, -1);
    return;
  }
  if (b->attempts > cfg_.retries) {
    complete(std::move(b), e, outcome_unknown ? persistence::possibly_persisted : persistence::not_persisted, -1, -1);
    return;
  }
  // The batch keeps its place in unacked_batches while it waits to be
  // resent: batches behind it that get OUT_OF_ORDER are then recognised as
  // such (retriable), not as a lost producer state.
  b->retry_at = now + retry_backoff(std::max(b->attempts, 1));
  acc_.reenqueue(std::move(b));
}

void sender::complete(std::unique_ptr<producer_batch> b, const kprod::error& e, persistence status,
                      std::int64_t base_offset, std::int64_t log_append_time) {
  if (idempotent_ && b->base_sequence >= 0) {
    if (auto* q = acc_.queue(b->topic, b->partition)) {
      q->unacked_batches.erase(b->id);
      // A failed batch leaves a hole in the partition's sequences: what
      // follows restarts at 0 under a bumped epoch.
      // (Transactional: the coordinator bumps the epoch after the abort.)
      if (e && b->ever_sent && !aborted_ && !txn_) request_epoch_bump(*q);
    }
  }
  if (txn_ && e) txn_record_failed(*b, e, status);
  acc_.release_buffer(*b);
  {
    completion_scope scope;
    // What every report of the batch shares, copied per record (a report
    // built field by field cost two library calls per record: the error's
    // default category and the assignment of its detail string).
    delivery_report shared;
    shared.error = e;
    shared.status = status;
    shared.metadata.topic = b->topic;
    shared.metadata.partition = b->partition;
    const bool with_offsets = !e && base_offset >= 0;
    b->slots.for_each([&](slot_header& slot) {
      if (!slot.handler_ops) return;
      delivery_report rep(shared);
      rep.metadata.offset = with_offsets ? base_offset + slot.offset_delta : -1;
      rep.metadata.timestamp_ms = log_append_time >= 0 ? log_append_time : slot.timestamp_ms;
      rep.metadata.serialized_key_size = slot.key_size;
      rep.metadata.serialized_value_size = slot.value_size;
      slot_list::invoke(slot, std::move(rep));
    });
    b->slots.forget_invoked();  // every handler ran (a throwing one skips this)
  }
  (e ? counters_.failed : counters_.acknowledged)
      .fetch_add(static_cast<std::uint64_t>(b->record_count), std::memory_order_relaxed);
  b->completed = true;
  acc_.batch_done(*b);
}

void sender::fail_pending(accumulator::expired_pending& p, const kprod::error& e) {
  completion_scope scope;
  for (auto& pr : p.records) {
    acc_.pool().release(pr.reserved_bytes);
    acc_.flushes().remove(pr.flush_epoch);
    delivery_report rep;
    rep.error = e;
    rep.status = persistence::not_persisted;
    rep.metadata.topic = p.topic;  // the accumulator's copy outlives this call only
    rep.metadata.partition = pr.partition.value_or(-1);
    rep.metadata.timestamp_ms = pr.timestamp_ms;
    rep.metadata.serialized_key_size = pr.key ? static_cast<std::int32_t>(pr.key->size()) : -1;
    rep.metadata.serialized_value_size = pr.value ? static_cast<std::int32_t>(pr.value->size()) : -1;
    pr.done(std::move(rep));
    counters_.failed.fetch_add(1, std::memory_order_relaxed);
  }
}

void sender::abort_all(const kprod::error& why) {
  for (auto& b : acc_.take_expired_batches(clock::now(), true)) {
    const bool sent = b->ever_sent;
    complete(std::move(b), why, sent ? persistence::possibly_persisted : persistence::not_persisted, -1, -1);
  }
  for (auto& p : acc_.take_expired_pending(clock::now(), true)) fail_pending(p, why);
}

}  // namespace kprod::producer_detail

namespace kprod::producer_detail {

void sender::shutdown(const kprod::error& why) {
  if (txn_) txn_shutdown(why);
  abort_all(why);
  acc_.stop_sealing();  // every batch left the queues: no seal thread holds one
  aborted_ = true;  // responses from here on complete their batches with `why`
  timer_.cancel();
  cluster_.close_all();  // fails in-flight requests synchronously
  abort_all(why);
}

}  // namespace kprod::producer_detail
