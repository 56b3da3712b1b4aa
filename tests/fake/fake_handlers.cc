// fake_handlers.cc - the fake broker's answers to ApiVersions, Metadata,
// InitProducerId and Produce. Called on the fake's I/O thread.
#include <algorithm>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "fake/fake_broker_impl.h"
#include "protocol/generated/api_traits.h"
#include "protocol/record_batch_reader.h"

namespace kprod::test {
namespace {

namespace pr = kprod::protocol;

constexpr std::int16_t err_corrupt_message = 2;
constexpr std::int16_t err_unknown_topic_or_partition = 3;
constexpr std::int16_t err_not_leader_or_follower = 6;
constexpr std::int16_t err_unsupported_version = 35;
constexpr std::int16_t err_out_of_order_sequence = 45;
constexpr std::int16_t err_duplicate_sequence = 46;
constexpr std::int16_t err_invalid_producer_epoch = 47;
constexpr std::int16_t err_invalid_record = 87;

// Flexible responses carry a tag no client knows, so that skipping unknown
// tagged fields is exercised on every flexible answer.
const pr::tagged_field unknown_tag{77, {0xde, 0xad, 0xbe}};

template <typename T>
std::vector<std::uint8_t> encode_body(const T& msg, std::int16_t version) {
  std::vector<std::uint8_t> out;
  kprod::codec::byte_writer w(out);
  auto r = pr::encode(w, msg, version);
  if (!r.ok()) throw std::logic_error("fake broker cannot encode its answer: " + r.error().message());
  return out;
}

std::optional<std::string> text(const std::optional<std::vector<std::uint8_t>>& v) {
  if (!v) return std::nullopt;
  return std::string(v->begin(), v->end());
}

bool next_in_sequence(std::int32_t last, std::int32_t first) {
  return first == (last == INT32_MAX ? 0 : last + 1);
}

}  // namespace

handler_reply fake_cluster::impl::handle_api_versions(const request_view& rv, const action& a) {
  std::lock_guard lk(mu);
  pr::api_versions_response resp;
  auto own = advertised.find(pr::api_versions_api::key);
  const bool unsupported = own == advertised.end() || rv.api_version > own->second.second;
  std::int16_t version = rv.api_version;
  if (unsupported) {
    // KIP-511: v0 layout, listing the ApiVersions range the broker does speak.
    resp.error_code = err_unsupported_version;
    if (own != advertised.end()) resp.api_keys.push_back({pr::api_versions_api::key, own->second.first, own->second.second, {}});
    version = 0;
  } else {
    for (const auto& [key, range] : advertised) resp.api_keys.push_back({key, range.first, range.second, {}});
    if (version >= 3) resp.unknown_tagged_fields.push_back(unknown_tag);
  }
  if (a.error_code) resp.error_code = *a.error_code;
  if (a.throttle_ms && version >= 1) resp.throttle_time_ms = *a.throttle_ms;
  return {true, encode_body(resp, version), {}};
}

handler_reply fake_cluster::impl::handle_metadata(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  pr::metadata_request req;
  kprod::codec::byte_reader r(rv.body);
  if (!pr::decode(r, req, v).ok()) return {false, {}, {}};

  std::lock_guard lk(mu);
  pr::metadata_response resp;
  for (const auto& b : brokers) {
    pr::metadata_response::metadata_response_broker mb;
    mb.node_id = b.node_id;
    mb.host = "127.0.0.1";
    mb.port = b.port;
    resp.brokers.push_back(std::move(mb));
  }
  if (v >= 2) resp.cluster_id = "fake-cluster";
  if (v >= 1) resp.controller_id = 1;

  std::vector<std::string> names;
  const bool all = !req.topics || (v == 0 && req.topics->empty());
  if (all) {
    for (const auto& [name, t] : topics) names.push_back(name);
  } else {
    for (const auto& t : *req.topics) names.push_back(t.name.value_or(""));
  }
  const bool may_create = opts.auto_create_topics && (v < 4 || req.allow_auto_topic_creation);
  for (const auto& name : names) {
    pr::metadata_response::metadata_response_topic mt;
    mt.name = name;
    auto it = topics.find(name);
    if (it == topics.end() && may_create && a.apply && !name.empty()) {
      create_topic_locked(name, opts.default_partitions, {});
      it = topics.find(name);
    }
    if (it == topics.end()) {
      mt.error_code = err_unknown_topic_or_partition;
    } else {
      if (v >= 10) mt.topic_id = it->second.id;
      for (std::size_t p = 0; p < it->second.partitions.size(); ++p) {
        const auto& fp = it->second.partitions[p];
        pr::metadata_response::metadata_response_partition mp;
        mp.partition_index = static_cast<std::int32_t>(p);
        mp.leader_id = fp.leader;
        if (v >= 7) mp.leader_epoch = fp.leader_epoch;
        mp.replica_nodes = {fp.leader};
        mp.isr_nodes = {fp.leader};
        if (v >= 9) mp.unknown_tagged_fields.push_back(unknown_tag);
        mt.partitions.push_back(std::move(mp));
      }
    }
    if (a.error_code) mt.error_code = *a.error_code;
    resp.topics.push_back(std::move(mt));
  }
  if (a.throttle_ms && v >= 3) resp.throttle_time_ms = *a.throttle_ms;
  if (v >= 9) resp.unknown_tagged_fields.push_back(unknown_tag);
  return {true, encode_body(resp, v), {}};
}

handler_reply fake_cluster::impl::handle_init_producer_id(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  pr::init_producer_id_request req;
  kprod::codec::byte_reader r(rv.body);
  if (!pr::decode(r, req, v).ok()) return {false, {}, {}};
  if (req.transactional_id && !req.transactional_id->empty()) return handle_txn_init_producer_id(rv, a);
  std::lock_guard lk(mu);
  pr::init_producer_id_response resp;
  if (a.apply) {
    if (req.producer_id >= 0 && req.producer_epoch >= 0) {  // KIP-360 epoch bump
      resp.producer_id = req.producer_id;
      resp.producer_epoch = static_cast<std::int16_t>(req.producer_epoch + 1);
    } else {
      resp.producer_id = next_producer_id++;
      resp.producer_epoch = 0;
    }
  }
  if (a.error_code) resp.error_code = *a.error_code;
  if (a.throttle_ms) resp.throttle_time_ms = *a.throttle_ms;
  if (v >= 2) resp.unknown_tagged_fields.push_back(unknown_tag);
  return {true, encode_body(resp, v), {}};
}

handler_reply fake_cluster::impl::handle_produce(const request_view& rv, const action& a) {
  const std::int16_t v = rv.api_version;
  const pr::produce_request& req = *rv.produce;
  std::lock_guard lk(mu);
  pr::produce_response resp;
  std::vector<std::int16_t> errors;
  std::set<std::int32_t> leaders_named;  // v10+: node endpoints for NOT_LEADER answers
  for (const auto& td : req.topic_data) {
    pr::produce_response::topic_produce_response tr;
    tr.name = td.name;
    for (const auto& pd : td.partition_data) {
      pr::produce_response::partition_produce_response prr;
      prr.index = pd.index;
      prr.base_offset = -1;
      auto set_error = [&](std::int16_t code) { prr.error_code = code; };
      auto t = topics.find(td.name);
      const bool hit = !a.error_filter || a.error_filter(td.name, pd.index);
      if (!a.apply && hit) {
        // State untouched: the answer is the override code alone.
      } else if (t == topics.end() || pd.index < 0 ||
                 static_cast<std::size_t>(pd.index) >= t->second.partitions.size()) {
        set_error(err_unknown_topic_or_partition);
      } else if (fake_partition& part = t->second.partitions[static_cast<std::size_t>(pd.index)];
                 part.leader != rv.node_id) {
        set_error(err_not_leader_or_follower);
        if (v >= 10) {
          prr.current_leader.leader_id = part.leader;
          prr.current_leader.leader_epoch = part.leader_epoch;
          leaders_named.insert(part.leader);
        }
      } else if (!pd.records) {
        set_error(err_corrupt_message);
      } else {
        auto batches = pr::parse_batches(*pd.records);
        if (!batches.ok()) {
          set_error(err_corrupt_message);
        } else {
          for (const auto& bv : *batches) {
            const auto& h = bv.header;
            auto recs = pr::read_records(bv);
            if (!recs.ok()) {
              set_error(err_invalid_record);
              break;
            }
            std::int64_t base_offset = part.next_offset;
            const bool txn_batch = (h.attributes & pr::batch_v2::transactional_bit) != 0;
            if (txn_batch) {
              if (std::int16_t code = check_txn_produce(req.transactional_id, h.producer_id, h.producer_epoch,
                                                        td.name, pd.index, rv.node_id)) {
                set_error(code);
                break;
              }
            }
            if (h.producer_id >= 0) {
              auto& ps = producers[{h.producer_id, td.name, pd.index}];
              const std::int32_t last_seq =
                  static_cast<std::int32_t>((static_cast<std::int64_t>(h.base_sequence) + h.records_count - 1) & 0x7fffffff);
              std::int16_t code = 0;
              const producer_state::batch* dup = nullptr;
              if (ps.epoch >= 0 && h.producer_epoch < ps.epoch) {
                code = err_invalid_producer_epoch;
              } else if (ps.epoch < 0 || h.producer_epoch > ps.epoch) {
                // A new producer (or epoch) starts at sequence 0. Stricter than
                // a broker, which accepts any first sequence of an unknown
                // producer: a gap at the start is then visible to tests.
                if (h.base_sequence != opts.first_sequence) code = err_out_of_order_sequence;
              } else {
                for (const auto& lb : ps.last_batches) {
                  if (lb.first_seq == h.base_sequence && lb.last_seq == last_seq) dup = &lb;
                }
                if (!dup && !next_in_sequence(ps.last_batches.empty() ? -1 : ps.last_batches.back().last_seq,
                                              h.base_sequence)) {
                  code = err_out_of_order_sequence;
                }
              }
              if (dup) {
                if (opts.duplicate_as_error) {
                  set_error(err_duplicate_sequence);
                } else {
                  prr.base_offset = dup->base_offset;
                }
                continue;
              }
              if (code != 0) {
                set_error(code);
                break;
              }
              if (h.producer_epoch != ps.epoch) ps.last_batches.clear();
              ps.epoch = h.producer_epoch;
              ps.last_batches.push_back({h.base_sequence, last_seq, base_offset});
              if (ps.last_batches.size() > 5) ps.last_batches.pop_front();
            }
            for (std::size_t i = 0; i < recs->size(); ++i) {
              const auto& orec = (*recs)[i];
              stored_record sr;
              sr.partition = pd.index;
              sr.offset = part.next_offset++;
              sr.timestamp = orec.timestamp;
              sr.key = text(orec.key);
              sr.value = text(orec.value);
              for (const auto& [hk, hv] : orec.headers) sr.headers.emplace_back(hk, text(hv));
              sr.producer_id = h.producer_id;
              sr.producer_epoch = h.producer_epoch;
              sr.sequence = h.base_sequence < 0 ? -1
                                                : static_cast<std::int32_t>((static_cast<std::int64_t>(h.base_sequence) +
                                                                             static_cast<std::int64_t>(i)) &
                                                                            0x7fffffff);
              sr.produce_version = v;
              sr.transactional = txn_batch;
              if (txn_batch) sr.outcome = stored_record::txn_outcome::open;
              part.log.push_back(std::move(sr));
            }
            if (prr.base_offset < 0) prr.base_offset = base_offset;
          }
          if (prr.error_code == 0) prr.log_start_offset = 0;
        }
      }
      if (a.error_code && hit) {
        prr.error_code = *a.error_code;
        if (*a.error_code != 0) prr.base_offset = -1;
      }
      if (v >= 9) prr.unknown_tagged_fields.push_back(unknown_tag);
      errors.push_back(prr.error_code);
      tr.partition_responses.push_back(std::move(prr));
    }
    resp.responses.push_back(std::move(tr));
  }
  if (req.acks == 0) return {false, {}, std::move(errors)};
  for (std::int32_t id : leaders_named) {
    for (const auto& b : brokers) {
      if (b.node_id == id) resp.node_endpoints.push_back({id, "127.0.0.1", b.port, std::nullopt, {}});
    }
  }
  if (a.throttle_ms) resp.throttle_time_ms = *a.throttle_ms;
  if (v >= 9) resp.unknown_tagged_fields.push_back(unknown_tag);
  return {true, encode_body(resp, v), std::move(errors)};
}

}  // namespace kprod::test
