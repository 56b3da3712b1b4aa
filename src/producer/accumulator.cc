#include "producer/accumulator.h"
#include "producer/idempotence.h"

#include <algorithm>
#include <cstring>

namespace kprod::producer_detail {
namespace {

constexpr std::int64_t batch_overhead_bytes = 61 + 64;  // v2 header + per-batch bookkeeping
constexpr std::int64_t slot_bytes = static_cast<std::int64_t>(sizeof(record_slot));

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::uint8_t* u8(std::string_view s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

bool valid_topic_name(std::string_view t) {
  if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

}  // namespace

accumulator::accumulator(const producer_config& cfg, buffer_pool& pool, wakeup_fn wake)
    : cfg_(cfg), pool_(pool), wake_(std::move(wake)), transactional_(cfg.transactional_id.has_value()) {
  if (cfg_.compression != compression_type::none) {
    int level = cfg_.compression == compression_type::gzip  ? cfg_.gzip_level
                : cfg_.compression == compression_type::lz4 ? cfg_.lz4_level
                : cfg_.compression == compression_type::zstd ? cfg_.zstd_level
                                                             : codec::default_level;
    auto c = codec::compressor::create(cfg_.compression, level);
    if (c.ok()) compressor_ = std::move(c.value());
  }
}

accumulator::~accumulator() = default;

std::int64_t accumulator::reservation_for(std::size_t wire_bytes, bool has_handler) {
  return static_cast<std::int64_t>(wire_bytes) + (has_handler ? slot_bytes : 0);
}

topic_state* accumulator::find_topic(std::string_view name) {
  std::shared_lock lk(topics_mu_);
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second.get();
}

topic_state& accumulator::topic_for(std::string_view name) {
  if (topic_state* t = find_topic(name)) return *t;
  std::unique_lock lk(topics_mu_);
  auto& slot = topics_[std::string(name)];
  if (!slot) {
    slot = std::make_unique<topic_state>(std::string(name));
    slot->partitioner = std::make_unique<topic_partitioner>(std::string(name), partitioner_settings::from(cfg_));
  }
  return *slot;
}

result<void> accumulator::append(const record& r, detail::completion& done, bool has_handler, bool may_block) {
  if (r.partition && *r.partition < 0) {
    return error(client_errc::invalid_argument, "partition " + std::to_string(*r.partition) + " is negative");
  }
  // Headers as views for the batch builder (on the stack for the common case).
  constexpr std::size_t inline_headers = 16;
  protocol::record_header_view hbuf[inline_headers];
  std::vector<protocol::record_header_view> hvec;
  protocol::record_header_view* hv = hbuf;
  if (r.headers.size() > inline_headers) {
    hvec.resize(r.headers.size());
    hv = hvec.data();
  }
  for (std::size_t i = 0; i < r.headers.size(); ++i) {
    const header& h = r.headers[i];
    hv[i] = {h.key, h.value ? u8(*h.value) : nullptr, h.value ? static_cast<std::int32_t>(h.value->size()) : -1};
  }
  std::span<const protocol::record_header_view> headers(hv, r.headers.size());

  const std::int32_t key_len = r.key ? static_cast<std::int32_t>(r.key->size()) : -1;
  const std::int32_t value_len = r.value ? static_cast<std::int32_t>(r.value->size()) : -1;
  const std::size_t wire = protocol::record_batch_builder::record_size_upper_bound(key_len, value_len, headers);
  const std::size_t max_one = static_cast<std::size_t>(cfg_.max_request_size);
  if (wire + batch_overhead_bytes > max_one) {
    return error(client_errc::record_too_large, "record of " + std::to_string(wire) +
                                                    " bytes exceeds max.request.size=" + std::to_string(max_one));
  }
  const std::int64_t reserved = reservation_for(wire, has_handler);
  if (reserved + batch_overhead_bytes > cfg_.buffer_memory) {
    return error(client_errc::record_too_large, "record of " + std::to_string(wire) +
                                                    " bytes exceeds buffer.memory=" +
                                                    std::to_string(cfg_.buffer_memory));
  }
  if (closing_) return error(client_errc::producer_closed, "producer is closing");
  bool got = may_block ? pool_.reserve(reserved + batch_overhead_bytes, cfg_.max_block)
                       : pool_.try_reserve(reserved + batch_overhead_bytes);
  if (!got) {
    if (closing_) return error(client_errc::producer_closed, "producer is closing");
    return error(client_errc::queue_full, may_block ? "buffer.memory exhausted for max.block.ms" : "buffer.memory exhausted");
  }
  // The batch overhead was reserved pessimistically so that a new batch can
  // always be opened; append_to_partition gives it back when the record joined
  // an existing batch.
  topic_state* tp = find_topic(r.topic);
  if (!tp) {
    if (!valid_topic_name(r.topic)) {
      pool_.release(reserved + batch_overhead_bytes);
      return error(client_errc::invalid_argument,
                   "topic name '" + std::string(r.topic) + "' is invalid (1-249 of [a-zA-Z0-9._-])");
    }
    tp = &topic_for(r.topic);
  }
  topic_state& t = *tp;
  const std::int64_t ts = r.timestamp_ms ? *r.timestamp_ms : now_ms();
  {
    std::shared_lock tl(t.mu);
    if (t.known && !t.has_pending.load(std::memory_order_acquire)) {
      std::int32_t p;
      partition_choice choice;
      if (r.partition) {
        p = *r.partition;
        if (p >= static_cast<std::int32_t>(t.partitions.size())) {
          tl.unlock();
          pool_.release(reserved + batch_overhead_bytes);
          return error(client_errc::invalid_argument, "partition " + std::to_string(p) + " of topic '" + t.name +
                                                          "' does not exist (" + std::to_string(t.partitions.size()) +
                                                          " partitions)");
        }
      } else {
        auto chosen = t.partitioner->partition(r.key ? u8(*r.key) : nullptr, key_len, r.value ? u8(*r.value) : nullptr,
                                               value_len, -1, t.view());
        if (!chosen.ok()) {
          tl.unlock();
          pool_.release(reserved + batch_overhead_bytes);
          return chosen.error();
        }
        p = chosen->partition;
        choice = *chosen;
      }
      append_to_partition(t, p, ts, r.key ? u8(*r.key) : nullptr, key_len, r.value ? u8(*r.value) : nullptr,
                          value_len, headers, done, has_handler, reserved + batch_overhead_bytes, {}, nullptr);
      t.partitioner->on_append(choice, wire);
      return {};
    }
  }
  // Metadata not known yet: keep an owned copy until it is.
  pending_record pr;
  pr.partition = r.partition;
  if (r.key) pr.key.emplace(*r.key);
  if (r.value) pr.value.emplace(*r.value);
  pr.headers.reserve(r.headers.size());
  for (const header& h : r.headers) {
    pr.headers.emplace_back(std::string(h.key), h.value ? std::optional<std::string>(std::string(*h.value)) : std::nullopt);
  }
  pr.timestamp_ms = ts;
  pr.done = std::move(done);
  pr.has_handler = has_handler;
  pr.reserved_bytes = reserved + batch_overhead_bytes;
  pr.deadline = clock::now() + *cfg_.delivery_timeout;
  pr.flush_epoch = flushes_.add();
  {
    std::unique_lock tl(t.mu);
    t.pending.push_back(std::move(pr));
    t.has_pending.store(true, std::memory_order_release);
  }
  queued_records_.fetch_add(1);
  wake_();
  return {};
}

void accumulator::append_to_partition(topic_state& t, std::int32_t partition, std::int64_t ts,
                                      const std::uint8_t* key, std::int32_t key_len, const std::uint8_t* value,
                                      std::int32_t value_len, std::span<const protocol::record_header_view> headers,
                                      detail::completion& done, bool has_handler, std::int64_t reserved,
                                      clock::time_point now, const std::uint64_t* pending_epoch) {
  partition_queue& q = *t.partitions[static_cast<std::size_t>(partition)];
  const std::size_t upper = protocol::record_batch_builder::record_size_upper_bound(key_len, value_len, headers);
  const std::size_t limit = static_cast<std::size_t>(std::max<std::int32_t>(cfg_.batch_size, 1));
  bool wake = false;
  std::int64_t give_back = 0;
  {
    std::lock_guard lk(q.mu);
    producer_batch* b = q.batches.empty() ? nullptr : q.batches.back().get();
    bool fits = b && !b->full && !b->is_sealed() && !b->in_flight && b->attempts == 0 &&
                b->builder.size_bytes() + upper <= limit &&
                b->record_count + 1 < static_cast<std::int32_t>(batch_id_step);
    if (fits) {
      give_back = batch_overhead_bytes;  // no new batch was needed
      reserved -= batch_overhead_bytes;
    } else {
      if (b && !b->full) {
        b->full = true;  // the open batch will take no more: it is ready
        wake = true;
      }
      auto nb = std::make_unique<producer_batch>();
      if (now == clock::time_point{}) now = clock::now();  // only a new batch needs the time
      nb->topic = t.name;
      nb->partition = partition;
      nb->id = (q.next_batch_id++) * batch_id_step;
      nb->created = now;
      nb->slots.reserve(has_handler ? std::min<std::size_t>(limit / std::max<std::size_t>(upper, 16) + 1, 4096) : 0);
      nb->deadline = now + *cfg_.delivery_timeout;
      nb->flush_epoch = flushes_.add();
      nb->builder.start(ts);
      b = nb.get();
      q.batches.push_back(std::move(nb));
      wake = true;  // a new batch starts a linger timer the I/O thread must know
    }
    b->builder.append(ts, key, key_len, value, value_len, headers);
    if (pending_epoch) b->flush_epoch = flushes_.merge(*pending_epoch, b->flush_epoch);
    if (has_handler) {
      b->slots.push_back(record_slot{std::move(done), ts, b->record_count, key_len, value_len});
    }
    ++b->record_count;
    b->reserved_bytes += reserved;
    b->queue_bytes += static_cast<std::int64_t>(upper);
    if (b->builder.size_bytes() >= limit) {
      b->full = true;
      wake = true;
    }
  }
  q.queued_bytes.fetch_add(static_cast<std::int64_t>(upper), std::memory_order_relaxed);
  queued_records_.fetch_add(1, std::memory_order_relaxed);
  if (give_back) pool_.release(give_back);
  if (wake) wake_();
}

// ---- I/O thread ----------------------------------------------------------------

std::vector<std::string> accumulator::topics_without_metadata() {
  std::vector<std::string> out;
  std::shared_lock lk(topics_mu_);
  for (auto& [name, t] : topics_) {
    if (!t->known || t->has_pending.load()) out.push_back(name);
  }
  return out;
}

void accumulator::set_topic_metadata(const std::string& topic,
                                     const std::vector<std::pair<std::int32_t, std::int32_t>>& partitions,
                                     clock::time_point now) {
  if (partitions.empty()) return;
  topic_state* t = &topic_for(topic);  // metadata may arrive before the first record
  {
    std::unique_lock tl(t->mu);
    std::int32_t count = 0;
    for (auto& [id, leader] : partitions) count = std::max(count, id + 1);
    // Partitions only grow (Kafka cannot shrink a topic).
    while (static_cast<std::int32_t>(t->partitions.size()) < count) {
      t->partitions.push_back(std::make_unique<partition_queue>());
    }
    t->available.clear();
    for (auto& [id, leader] : partitions) {
      partition_queue& q = *t->partitions[static_cast<std::size_t>(id)];
      if (leader >= 0) {
        t->available.push_back(id);
        q.leader_lost_at = {};
      } else if (q.leader >= 0 || q.leader_lost_at == clock::time_point{}) {
        q.leader_lost_at = now;
      }
      q.leader = leader;
    }
    std::sort(t->available.begin(), t->available.end());
    t->queue_sizes.clear();  // parallel to `available`: recomputed by the next drain
    t->leader_stalled_ms.clear();
    t->known = true;
    t->last_used = now;
    t->last_error = {};
  }
  drain_pending(*t, now);
}

std::vector<std::string> accumulator::forget_idle_topics(clock::time_point now, std::chrono::milliseconds idle) {
  std::vector<std::string> out;
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    topic_state& t = *tp;
    std::unique_lock tl(t.mu);
    if (!t.known || t.has_pending.load() || now - t.last_used < idle) continue;
    bool busy = false;
    for (auto& q : t.partitions) {
      std::lock_guard ql(q->mu);
      busy |= !q->batches.empty() || q->in_flight > 0;
    }
    if (busy) continue;
    t.known = false;  // the next record waits for fresh metadata
    out.push_back(name);
  }
  return out;
}

void accumulator::drain_pending_known(clock::time_point now) {
  std::vector<topic_state*> todo;
  {
    std::shared_lock lk(topics_mu_);
    for (auto& [name, t] : topics_) {
      if (t->has_pending.load(std::memory_order_acquire)) todo.push_back(t.get());
    }
  }
  for (topic_state* t : todo) {
    bool known;
    {
      std::shared_lock tl(t->mu);
      known = t->known;
    }
    if (known) drain_pending(*t, now);
  }
}

void accumulator::set_topic_error(const std::string& topic, const kprod::error& err) {
  topic_state* t = find_topic(topic);
  if (!t) return;
  std::unique_lock tl(t->mu);
  t->last_error = err;
}

void accumulator::drain_pending(topic_state& t, clock::time_point now) {
  std::deque<pending_record> todo;
  {
    std::unique_lock tl(t.mu);
    if (t.pending.empty()) return;
    todo.swap(t.pending);
  }
  // Appended with the topic lock shared, like an application thread would;
  // has_pending stays set until the list is drained so that newer records
  // queue behind these.
  for (auto& pr : todo) {
    std::vector<protocol::record_header_view> hv;
    hv.reserve(pr.headers.size());
    for (auto& [k, v] : pr.headers) {
      hv.push_back({k, v ? u8(*v) : nullptr, v ? static_cast<std::int32_t>(v->size()) : -1});
    }
    const std::int32_t key_len = pr.key ? static_cast<std::int32_t>(pr.key->size()) : -1;
    const std::int32_t value_len = pr.value ? static_cast<std::int32_t>(pr.value->size()) : -1;
    std::shared_lock tl(t.mu);
    const auto count = static_cast<std::int32_t>(t.partitions.size());
    std::int32_t p = -1;
    partition_choice choice;
    kprod::error err;
    if (pr.partition) {
      p = *pr.partition;
      if (p >= count) {
        err = error(client_errc::invalid_argument, "partition " + std::to_string(p) + " of topic '" + t.name +
                                                       "' does not exist (" + std::to_string(count) + " partitions)");
      }
    } else {
      auto chosen = t.partitioner->partition(pr.key ? u8(*pr.key) : nullptr, key_len,
                                             pr.value ? u8(*pr.value) : nullptr, value_len, -1, t.view());
      if (chosen.ok()) {
        p = chosen->partition;
        choice = *chosen;
      } else {
        err = chosen.error();
      }
    }
    queued_records_.fetch_sub(1);
    if (err) {
      tl.unlock();
      pool_.release(pr.reserved_bytes);
      flushes_.remove(pr.flush_epoch);
      delivery_report rep;
      rep.error = err;
      rep.metadata.topic = t.name;
      pr.done(std::move(rep));
      continue;
    }
    append_to_partition(t, p, pr.timestamp_ms, pr.key ? u8(*pr.key) : nullptr, key_len,
                        pr.value ? u8(*pr.value) : nullptr, value_len, hv, pr.done, pr.has_handler,
                        pr.reserved_bytes, now, &pr.flush_epoch);
    t.partitioner->on_append(choice, protocol::record_batch_builder::record_size_upper_bound(key_len, value_len, hv));
  }
  std::unique_lock tl(t.mu);
  if (t.pending.empty()) {
    t.has_pending.store(false, std::memory_order_release);
  } else {
    tl.unlock();
    drain_pending(t, now);  // more arrived meanwhile
  }
}

bool accumulator::batch_ready(const producer_batch& b, clock::time_point now, clock::time_point& next_check) const {
  if (b.attempts > 0) {
    if (b.retry_at <= now) return true;
    next_check = std::min(next_check, b.retry_at);
    return false;
  }
  if (b.full || flushing() || closing_) return true;
  auto linger_end = b.created + cfg_.linger;
  if (linger_end <= now) return true;
  next_check = std::min(next_check, linger_end);
  return false;
}

result<void> accumulator::seal(producer_batch& b) {
  protocol::batch_producer_fields f;  // producer fields are stamped when first sent
  auto bytes = b.builder.seal(f, compressor_.get());
  if (!bytes.ok()) return bytes.error();
  b.sealed = std::move(bytes.value());
  b.builder = protocol::record_batch_builder{};  // free the uncompressed buffer
  return {};
}

void accumulator::update_load_stats(topic_state& t, clock::time_point now) {
  // KIP-794 adaptive partitioning: queue length (in batches) per available
  // partition, read by the sticky partitioner when it picks a new partition.
  // Like Java, no stats until every available partition has had a batch.
  std::vector<std::int32_t> sizes;
  std::vector<std::int64_t> stalled;
  {
    std::shared_lock tl(t.mu);
    sizes.reserve(t.available.size());
    stalled.reserve(t.available.size());
    for (std::int32_t id : t.available) {
      partition_queue& q = *t.partitions[static_cast<std::size_t>(id)];
      std::lock_guard ql(q.mu);
      sizes.push_back(static_cast<std::int32_t>(q.batches.size()) + q.in_flight);
      // How long the leader has had data ready without a drain (Java's
      // readyTimeMs - drainTimeMs), for partitioner.availability.timeout.ms.
      auto nt = node_times_.find(q.leader);
      std::int64_t ms = 0;
      if (nt != node_times_.end() && nt->second.ready > nt->second.drained) {
        ms = std::chrono::duration_cast<std::chrono::milliseconds>(nt->second.ready - nt->second.drained).count();
      }
      stalled.push_back(ms);
    }
  }
  std::unique_lock tl(t.mu);
  t.stats_at = now;
  if (sizes.size() == t.available.size()) {
    t.queue_sizes = std::move(sizes);
    t.leader_stalled_ms = std::move(stalled);
  }
}

accumulator::drained accumulator::drain(clock::time_point now, const std::function<bool(std::int32_t)>& node_ready,
                                        bool idempotent, std::int64_t producer_id, std::int16_t producer_epoch,
                                        const partition_gate_fn* partition_gate) {
  drained out;
  std::map<std::int32_t, std::int64_t> request_bytes;
  const int per_partition_limit = idempotent ? std::min(cfg_.max_in_flight, 5) : cfg_.max_in_flight;
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    topic_state& t = *tp;
    if (cfg_.partitioner_adaptive && now - t.stats_at >= std::chrono::milliseconds(5)) update_load_stats(t, now);
    std::shared_lock tl(t.mu);
    for (std::size_t pi = 0; pi < t.partitions.size(); ++pi) {
      partition_queue& q = *t.partitions[pi];
      std::lock_guard ql(q.mu);
      if (!q.batches.empty()) {
        producer_batch& b = *q.batches.front();
        if (!batch_ready(b, now, out.next_ready_check)) continue;
        if (q.leader < 0) {
          out.unknown_leader = true;
          continue;
        }
        auto& times = node_times_[q.leader];
        times.ready = now;
        if (times.drained == clock::time_point{}) times.drained = now;
        if (q.in_flight >= per_partition_limit || !node_ready(q.leader)) continue;
        if (partition_gate && !(*partition_gate)(t.name, static_cast<std::int32_t>(pi))) continue;
        if (idempotent && !sequence_identity_ready(q, b, producer_id, producer_epoch)) continue;
        if (!b.is_sealed()) {
          auto sealed = seal(b);
          if (!sealed.ok()) continue;  // cannot happen short of a codec failure; retried next round
        }
        auto& used = request_bytes[q.leader];
        const auto size = static_cast<std::int64_t>(b.sealed.size());
        if (used > 0 && used + size > cfg_.max_request_size) {
          out.more = true;  // the next request takes it
          continue;
        }
        used += size;
        // Stamp on first send, and again after the partition moved to a new
        // producer id or epoch; a retry under the same ones resends the
        // same bytes.
        if (idempotent && (b.base_sequence < 0 || b.producer_id != q.seq_producer_id ||
                           b.producer_epoch != q.seq_producer_epoch)) {
          b.producer_id = q.seq_producer_id;
          b.producer_epoch = q.seq_producer_epoch;
          b.base_sequence = q.next_sequence;
          q.next_sequence = static_cast<std::int32_t>(
              (static_cast<std::int64_t>(q.next_sequence) + b.record_count) & 0x7fffffff);
          protocol::restamp_batch(b.sealed, {b.producer_id, b.producer_epoch, b.base_sequence, transactional_});
        }
        b.in_flight = true;
        t.last_used = now;
        times.drained = now;
        ++q.in_flight;
        q.queued_bytes.fetch_sub(b.queue_bytes, std::memory_order_relaxed);
        b.queue_bytes = 0;
        out.by_node[q.leader].push_back(std::move(q.batches.front()));
        q.batches.pop_front();
        // One batch per partition per request: brokers accept exactly one v2
        // batch per partition entry, and answer per partition.
        break;
      }
    }
  }
  return out;
}

void accumulator::reenqueue(std::unique_ptr<producer_batch> b) {
  partition_queue* q = queue(std::string(b->topic), b->partition);
  if (!q) return;
  std::lock_guard ql(q->mu);
  --q->in_flight;
  b->in_flight = false;
  // Back in creation order: before every newer batch (queued or retried).
  auto it = q->batches.begin();
  while (it != q->batches.end() && (*it)->id < b->id) ++it;
  q->batches.insert(it, std::move(b));
}

void accumulator::batch_done(const producer_batch& b) {
  partition_queue* q = queue(std::string(b.topic), b.partition);
  if (q) {
    std::lock_guard ql(q->mu);
    if (b.in_flight) --q->in_flight;
  }
  pool_.release(b.reserved_bytes);
  queued_records_.fetch_sub(b.record_count);
  flushes_.remove(b.flush_epoch);
  if (q && b.queue_bytes) q->queued_bytes.fetch_sub(b.queue_bytes, std::memory_order_relaxed);
}

partition_queue* accumulator::queue(const std::string& topic, std::int32_t partition) {
  topic_state* t = find_topic(topic);
  if (!t) return nullptr;
  std::shared_lock tl(t->mu);
  if (partition < 0 || partition >= static_cast<std::int32_t>(t->partitions.size())) return nullptr;
  return t->partitions[static_cast<std::size_t>(partition)].get();
}

void accumulator::for_each_queue(const std::function<void(topic_state&, std::int32_t, partition_queue&)>& fn) {
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    std::shared_lock tl(tp->mu);
    for (std::size_t i = 0; i < tp->partitions.size(); ++i) fn(*tp, static_cast<std::int32_t>(i), *tp->partitions[i]);
  }
}

std::vector<std::unique_ptr<producer_batch>> accumulator::take_expired_batches(clock::time_point now, bool all) {
  std::vector<std::unique_ptr<producer_batch>> out;
  for_each_queue([&](topic_state&, std::int32_t, partition_queue& q) {
    std::lock_guard ql(q.mu);
    // Expire from the front only, so that what stays keeps its order.
    while (!q.batches.empty() && (all || q.batches.front()->deadline <= now)) {
      out.push_back(std::move(q.batches.front()));
      q.batches.pop_front();
    }
  });
  return out;
}

std::vector<accumulator::expired_pending> accumulator::take_expired_pending(clock::time_point now, bool all) {
  std::vector<expired_pending> out;
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    std::unique_lock tl(tp->mu);
    expired_pending e;
    e.topic = tp->name;
    while (!tp->pending.empty() && (all || tp->pending.front().deadline <= now)) {
      e.records.push_back(std::move(tp->pending.front()));
      tp->pending.pop_front();
    }
    if (tp->pending.empty()) tp->has_pending.store(false);
    if (!e.records.empty()) {
      queued_records_.fetch_sub(static_cast<std::int64_t>(e.records.size()));
      out.push_back(std::move(e));
    }
  }
  return out;
}

clock::time_point accumulator::next_expiry() const {
  clock::time_point next = clock::time_point::max();
  std::shared_lock lk(topics_mu_);
  for (auto& [name, tp] : topics_) {
    std::shared_lock tl(tp->mu);
    if (!tp->pending.empty()) next = std::min(next, tp->pending.front().deadline);
    for (auto& q : tp->partitions) {
      std::lock_guard ql(q->mu);
      if (!q->batches.empty()) next = std::min(next, q->batches.front()->deadline);
    }
  }
  return next;
}

}  // namespace kprod::producer_detail
