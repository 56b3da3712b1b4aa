// fake_txn_handlers.cc - the fake broker as a transaction and group
// coordinator: FindCoordinator, InitProducerId with a transactional id
// (a new producer of the same id bumps the epoch and so fences the old one;
// KIP-360 bumps with the current id/epoch), AddPartitionsToTxn,
// AddOffsetsToTxn, TxnOffsetCommit and EndTxn. EndTxn marks the records of
// the transaction committed or aborted (stored_record::outcome) instead of
// writing control batches. Every step is logged (txn_events()) so tests can
// check the order the producer used. Called on the fake's I/O thread.
#include <algorithm>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "fake/fake_broker_impl.h"
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

namespace kprod::test {
namespace {

namespace pr = kprod::protocol;

constexpr std::int16_t err_not_coordinator = 16;
constexpr std::int16_t err_invalid_producer_epoch = 47;
constexpr std::int16_t err_invalid_txn_state = 48;
constexpr std::int16_t err_invalid_producer_id_mapping = 49;
constexpr std::int16_t err_unknown_topic_or_partition = 3;

// What a coordinator checks first for a transactional request: that it is
// the coordinator, that it knows this producer id for the transactional id,
// and that the epoch is current. 0 when all hold.
std::int16_t txn_identity_error(bool is_coordinator, const fake_txn* st, std::int64_t producer_id,
                                std::int16_t producer_epoch) {
  if (!is_coordinator) return err_not_coordinator;
  if (!st || st->producer_id != producer_id) return err_invalid_producer_id_mapping;
  if (producer_epoch != st->producer_epoch) return err_invalid_producer_epoch;
  return 0;
}

template <typename T>
std::vector<std::uint8_t> encode_body(const T& msg, std::int16_t version) {
  std::vector<std::uint8_t> out;
  kprod::codec::byte_writer w(out);
  auto r = pr::encode(w, msg, version);
  if (!r.ok()) throw std::logic_error("fake broker cannot encode its answer: " + r.error().message());
  return out;
}

template <typename T>
bool decode_body(const request_view& rv, T& req) {
  kprod::codec::byte_reader r(rv.body);
  return pr::decode(r, req, rv.api_version).ok();
}

}  // namespace

std::int32_t fake_cluster::impl::coordinator_for(std::int8_t key_type, const std::string& key) const {
  auto it = coordinators.find({key_type, key});
  return it == coordinators.end() ? 1 : it->second;
}

void fake_cluster::impl::end_transaction_locked(const std::string& txn_id, fake_txn& t, bool commit) {
  (void)txn_id;
  for (const auto& [topic, partition] : t.partitions) {
    auto tt = topics.find(topic);
    if (tt == topics.end() || static_cast<std::size_t>(partition) >= tt->second.partitions.size()) continue;
    for (auto& r : tt->second.partitions[static_cast<std::size_t>(partition)].log) {
      if (r.producer_id == t.producer_id && r.outcome == stored_record::txn_outcome::open) {
        r.outcome = commit ? stored_record::txn_outcome::committed : stored_record::txn_outcome::aborted;
      }
    }
  }
  if (commit) {
    for (const auto& [k, offset] : t.pending_offsets) group_offsets[k] = offset;
  }
  t.pending_offsets.clear();
  t.partitions.clear();
  t.groups.clear();
  t.ongoing = false;
}

std::int16_t fake_cluster::impl::check_txn_produce(const std::optional<std::string>& txn_id, std::int64_t pid,
                                                   std::int16_t epoch, const std::string& topic,
                                                   std::int32_t partition, std::int32_t node_id) {
  txn_event ev;
  ev.what = txn_event::kind::produce;
  ev.transactional_id = txn_id.value_or("");
  ev.topic = topic;
  ev.partition = partition;
  ev.producer_id = pid;
  ev.producer_epoch = epoch;
  ev.node_id = node_id;
  auto it = txn_id ? txns.find(*txn_id) : txns.end();
  if (it == txns.end() || it->second.producer_id != pid) {
    ev.error_code = err_invalid_producer_id_mapping;
  } else if (epoch < it->second.producer_epoch) {
    ev.error_code = err_invalid_producer_epoch;  // fenced by a newer producer of the same id
  } else {
    ev.partition_in_txn = it->second.partitions.count({topic, partition}) > 0;
  }
  txn_log.push_back(ev);
  return ev.error_code;
}

handler_reply fake_cluster::impl::handle_find_coordinator(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  pr::find_coordinator_request req;
  if (!decode_body(rv, req)) return {false, {}, {}};
  std::lock_guard lk(mu);
  auto describe = [&](const std::string& key, std::int32_t& node, std::string& host, std::int32_t& port) {
    node = coordinator_for(req.key_type, key);
    for (const auto& b : brokers) {
      if (b.node_id == node) {
        host = "127.0.0.1";
        port = b.port;
      }
    }
  };
  pr::find_coordinator_response resp;
  if (v >= 4) {
    for (const auto& key : req.coordinator_keys) {
      pr::find_coordinator_response::coordinator c;
      c.key = key;
      describe(key, c.node_id, c.host, c.port);
      if (a.error_code) c.error_code = *a.error_code;
      resp.coordinators.push_back(std::move(c));
    }
  } else {
    describe(req.key, resp.node_id, resp.host, resp.port);
    if (a.error_code) resp.error_code = *a.error_code;
  }
  if (v >= 1) resp.error_message = std::nullopt;
  return {true, encode_body(resp, v), {}};
}

handler_reply fake_cluster::impl::handle_txn_init_producer_id(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  pr::init_producer_id_request req;
  if (!decode_body(rv, req)) return {false, {}, {}};
  std::lock_guard lk(mu);
  const std::string id = *req.transactional_id;
  pr::init_producer_id_response resp;
  std::int16_t code = 0;
  if (coordinator_for(1, id) != rv.node_id) {
    code = err_not_coordinator;
  } else if (a.apply) {
    auto [it, fresh] = txns.try_emplace(id);
    fake_txn& t = it->second;
    if (fresh) {
      t.producer_id = next_producer_id++;
      t.producer_epoch = 0;
    } else if (req.producer_id >= 0 &&
               (req.producer_id != t.producer_id || req.producer_epoch != t.producer_epoch)) {
      code = err_invalid_producer_epoch;  // a KIP-360 bump from a fenced producer
    } else {
      // A new producer instance (or a bump): whatever was open is aborted and
      // the new epoch fences the previous one everywhere.
      if (t.ongoing) end_transaction_locked(id, t, false);
      ++t.producer_epoch;
    }
    if (code == 0) {
      resp.producer_id = t.producer_id;
      resp.producer_epoch = t.producer_epoch;
    }
  }
  resp.error_code = a.error_code.value_or(code);
  if (resp.error_code != 0) {
    resp.producer_id = -1;
    resp.producer_epoch = -1;
  }
  txn_event ev;
  ev.what = txn_event::kind::init_producer_id;
  ev.transactional_id = id;
  ev.producer_id = resp.producer_id;
  ev.producer_epoch = resp.producer_epoch;
  ev.error_code = resp.error_code;
  ev.node_id = rv.node_id;
  txn_log.push_back(ev);
  return {true, encode_body(resp, v), {}};
}

handler_reply fake_cluster::impl::handle_add_partitions_to_txn(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  pr::add_partitions_to_txn_request req;
  if (!decode_body(rv, req)) return {false, {}, {}};
  if (v >= 4) return {false, {}, {}};  // the broker-to-broker form: not for clients
  std::lock_guard lk(mu);
  const std::string& id = req.v3_and_below_transactional_id;
  std::int16_t code = 0;
  auto it = txns.find(id);
  code = txn_identity_error(coordinator_for(1, id) == rv.node_id, it == txns.end() ? nullptr : &it->second,
                            req.v3_and_below_producer_id, req.v3_and_below_producer_epoch);
  pr::add_partitions_to_txn_response resp;
  for (const auto& t : req.v3_and_below_topics) {
    pr::add_partitions_to_txn_response::add_partitions_to_txn_topic_result tr;
    tr.name = t.name;
    for (std::int32_t p : t.partitions) {
      std::int16_t pc = code;
      if (pc == 0) {
        auto topic = topics.find(t.name);
        if (topic == topics.end() || p < 0 || static_cast<std::size_t>(p) >= topic->second.partitions.size()) {
          pc = err_unknown_topic_or_partition;
        }
      }
      if (a.error_code) pc = *a.error_code;
      if (pc == 0 && a.apply) {
        it->second.partitions.insert({t.name, p});
        it->second.ongoing = true;
      }
      tr.results_by_partition.push_back({p, pc, {}});
      txn_event ev;
      ev.what = txn_event::kind::add_partitions;
      ev.transactional_id = id;
      ev.topic = t.name;
      ev.partition = p;
      ev.producer_id = req.v3_and_below_producer_id;
      ev.producer_epoch = req.v3_and_below_producer_epoch;
      ev.error_code = pc;
      ev.node_id = rv.node_id;
      txn_log.push_back(ev);
    }
    resp.results_by_topic_v3_and_below.push_back(std::move(tr));
  }
  return {true, encode_body(resp, v), {}};
}

handler_reply fake_cluster::impl::handle_add_offsets_to_txn(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  pr::add_offsets_to_txn_request req;
  if (!decode_body(rv, req)) return {false, {}, {}};
  std::lock_guard lk(mu);
  std::int16_t code = 0;
  auto it = txns.find(req.transactional_id);
  code = txn_identity_error(coordinator_for(1, req.transactional_id) == rv.node_id, it == txns.end() ? nullptr : &it->second,
                            req.producer_id, req.producer_epoch);
  if (a.error_code) code = *a.error_code;
  if (code == 0 && a.apply) {
    it->second.groups.insert(req.group_id);
    it->second.ongoing = true;
  }
  txn_event ev;
  ev.what = txn_event::kind::add_offsets;
  ev.transactional_id = req.transactional_id;
  ev.topic = req.group_id;
  ev.producer_id = req.producer_id;
  ev.producer_epoch = req.producer_epoch;
  ev.error_code = code;
  ev.node_id = rv.node_id;
  txn_log.push_back(ev);
  pr::add_offsets_to_txn_response resp;
  resp.error_code = code;
  return {true, encode_body(resp, v), {}};
}

handler_reply fake_cluster::impl::handle_txn_offset_commit(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  pr::txn_offset_commit_request req;
  if (!decode_body(rv, req)) return {false, {}, {}};
  std::lock_guard lk(mu);
  std::int16_t code = 0;
  auto it = txns.find(req.transactional_id);
  code = txn_identity_error(coordinator_for(0, req.group_id) == rv.node_id, it == txns.end() ? nullptr : &it->second,
                            req.producer_id, req.producer_epoch);
  if (code == 0 && !it->second.groups.count(req.group_id)) {
    code = err_invalid_txn_state;  // AddOffsetsToTxn must come first
  }
  if (a.error_code) code = *a.error_code;
  pr::txn_offset_commit_response resp;
  for (const auto& t : req.topics) {
    pr::txn_offset_commit_response::txn_offset_commit_response_topic tr;
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      if (code == 0 && a.apply) it->second.pending_offsets[{req.group_id, t.name, p.partition_index}] = p.committed_offset;
      tr.partitions.push_back({p.partition_index, code, {}});
      txn_event ev;
      ev.what = txn_event::kind::offset_commit;
      ev.transactional_id = req.transactional_id;
      ev.topic = t.name;
      ev.partition = p.partition_index;
      ev.producer_id = req.producer_id;
      ev.producer_epoch = req.producer_epoch;
      ev.error_code = code;
      ev.node_id = rv.node_id;
      txn_log.push_back(ev);
    }
    resp.topics.push_back(std::move(tr));
  }
  return {true, encode_body(resp, v), {}};
}

handler_reply fake_cluster::impl::handle_end_txn(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  pr::end_txn_request req;
  if (!decode_body(rv, req)) return {false, {}, {}};
  std::lock_guard lk(mu);
  std::int16_t code = 0;
  auto it = txns.find(req.transactional_id);
  code = txn_identity_error(coordinator_for(1, req.transactional_id) == rv.node_id, it == txns.end() ? nullptr : &it->second,
                            req.producer_id, req.producer_epoch);
  if (code == 0 && !it->second.ongoing) {
    code = err_invalid_txn_state;
  }
  if (a.error_code) code = *a.error_code;
  if (code == 0 && a.apply) end_transaction_locked(req.transactional_id, it->second, req.committed);
  txn_event ev;
  ev.what = txn_event::kind::end_txn;
  ev.transactional_id = req.transactional_id;
  ev.producer_id = req.producer_id;
  ev.producer_epoch = req.producer_epoch;
  ev.commit = req.committed;
  ev.error_code = code;
  ev.node_id = rv.node_id;
  txn_log.push_back(ev);
  pr::end_txn_response resp;
  resp.error_code = code;
  return {true, encode_body(resp, v), {}};
}

// ---- public API ----------------------------------------------------------------------

void fake_cluster::set_coordinator(std::int8_t key_type, const std::string& key, std::int32_t node_id) {
  std::lock_guard lk(impl_->mu);
  impl_->coordinators[{key_type, key}] = node_id;
}

std::vector<txn_event> fake_cluster::txn_events() const {
  std::lock_guard lk(impl_->mu);
  return impl_->txn_log;
}

std::map<std::pair<std::string, std::int32_t>, std::int64_t> fake_cluster::committed_offsets(
    const std::string& group) const {
  std::lock_guard lk(impl_->mu);
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> out;
  for (const auto& [k, offset] : impl_->group_offsets) {
    if (std::get<0>(k) == group) out[{std::get<1>(k), std::get<2>(k)}] = offset;
  }
  return out;
}

}  // namespace kprod::test
