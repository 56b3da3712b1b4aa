#include "producer/accumulator.h"
#include "producer/idempotence.h"
#include "producer/wall_clock.h"

#include <malloc.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace kprod::producer_detail {
namespace {

// A record's worst case: a batch of its own (v2 header + bookkeeping).
constexpr std::int64_t batch_overhead_bytes =
    static_cast<std::int64_t>(protocol::batch_v2::header_size) + batch_bookkeeping_bytes;

// Record CreateTime: system_clock truncated to ms, from a per-thread TSC
// cache (wall_clock.h says why it is exact); ~8% of the CPU per 100-byte
// record went to system_clock::now() before.
std::int64_t now_ms() { return wall_clock_ms(); }

void give_back_freed_heap() noexcept {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

const std::uint8_t* u8(std::string_view s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

bool valid_topic_name(std::string_view t) {
  if (t.empty() || t.size() > 249 || t == "." || t == "..") return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

std::atomic<std::uint64_t> next_accumulator_id{1};

int compression_level(const producer_config& c) {
  return c.compression == compression_type::gzip  ? c.gzip_level
         : c.compression == compression_type::lz4 ? c.lz4_level
         : c.compression == compression_type::zstd ? c.zstd_level
                                                    : codec::default_level;
}

// The topic an application thread sent to last, per thread: most threads send
// to one topic, and a name compare is cheaper than a hash, a map lookup and
// the shared lock. Topic states live as long as their accumulator, which the
// id identifies (an address could be reused by a later producer).
// Topic names are short; libc's memcmp (a call through the PLT, then a
// vector routine's setup) was ~4% of the CPU per 100-byte record here.
inline bool same_name(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  const char *x = a.data(), *y = b.data();
  auto load8 = [](const char* p) { std::uint64_t v; std::memcpy(&v, p, 8); return v; };
  auto load4 = [](const char* p) { std::uint32_t v; std::memcpy(&v, p, 4); return v; };
  // Whole words, then the last word again (overlapping): a byte loop over a
  // 5-byte name's tail was ~35 instructions per send.
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      if (load8(x + i) != load8(y + i)) return false;
    }
    return load8(x + n - 8) == load8(y + n - 8);
  }
  if (n >= 4) return load4(x) == load4(y) && load4(x + n - 4) == load4(y + n - 4);
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return false;
  }
  return true;
}

struct last_topic_cache {
  std::uint64_t accumulator_id = 0;
  topic_state* topic = nullptr;
};
thread_local last_topic_cache last_topic;

}  // namespace

accumulator::accumulator(const producer_config& cfg, buffer_pool& pool, wakeup_fn wake)
    : cfg_(cfg),
      pool_(pool),
      wake_(std::move(wake)),
      id_(next_accumulator_id.fetch_add(1)),
      transactional_(cfg.transactional_id.has_value()),
      sealers_(cfg.compression, compression_level(cfg), cfg.compression_threads, wake_) {}

accumulator::~accumulator() = default;

std::int64_t accumulator::reservation_for(std::size_t wire_bytes, std::size_t slot_bytes) {
  return static_cast<std::int64_t>(wire_bytes + slot_bytes);
}


topic_state* accumulator::find_topic(std::string_view name) {
  if (last_topic.accumulator_id == id_ && same_name(last_topic.topic->name, name)) [[likely]] return last_topic.topic;
  return find_topic_in_map(name);
}

// Out of line: the shared lock and the map lookup made find_topic's hit
// path save and restore registers it never used.
topic_state* accumulator::find_topic_in_map(std::string_view name) {
  std::shared_lock lk(topics_mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) return nullptr;
  last_topic = {id_, it->second.get()};
  return it->second.get();
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
  // Headers as views for the batch builder: on the stack for the common
  // case, and only as many set as the record has (a plain array of
  // 16 was initialised on every send: ~3% of a 10-byte record's CPU).
  constexpr std::size_t inline_headers = 16;
  union inline_header_views {
    inline_header_views() {}  // leaves the views unconstructed
    protocol::record_header_view v[inline_headers];
  } hbuf;
  std::vector<protocol::record_header_view> hvec;
  protocol::record_header_view* hv = hbuf.v;
  if (r.headers.size() > inline_headers) {
    hvec.resize(r.headers.size());
    hv = hvec.data();
  }
  for (std::size_t i = 0; i < r.headers.size(); ++i) {
    const header& h = r.headers[i];
    const protocol::record_header_view view{h.key, h.value ? u8(*h.value) : nullptr,
                                            h.value ? static_cast<std::int32_t>(h.value->size()) : -1};
    // Assigning through the union member starts the array's lifetime
    // (implicit object creation); nothing past the record's headers is read.
    if (hvec.empty()) {
      hbuf.v[i] = view;
    } else {
      hvec[i] = view;
    }
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
  const std::size_t slot_bytes = has_handler ? slot_list::entry_bytes(done) : 0;
  const std::int64_t reserved = reservation_for(wire, slot_bytes);
  if (reserved + batch_overhead_bytes > cfg_.buffer_memory) {
    return error(client_errc::record_too_large, "record of " + std::to_string(wire) +
                                                    " bytes exceeds buffer.memory=" +
                                                    std::to_string(cfg_.buffer_memory));
  }
  if (closing_) return error(client_errc::producer_closed, "producer is closing");
  topic_state* tp = find_topic(r.topic);
  if (!tp) {
    if (!valid_topic_name(r.topic)) {
      return error(client_errc::invalid_argument,
                   "topic name '" + std::string(r.topic) + "' is invalid (1-249 of [a-zA-Z0-9._-])");
    }
    tp = &topic_for(r.topic);
  }
  topic_state& t = *tp;
  const std::int64_t ts = r.timestamp_ms ? *r.timestamp_ms : now_ms();
  // What this call reserved for the record to wait for metadata (below), and
  // when max.block.ms ends (read the clock only if memory is needed).
  std::int64_t reserved_to_wait = 0;
  clock::time_point deadline{};
  for (;;) {
    std::shared_lock tl(t.mu);
    if (t.known && !t.has_pending.load(std::memory_order_acquire)) {
      std::int32_t p;
      partition_choice choice;
      if (r.partition) {
        p = *r.partition;
        if (p >= static_cast<std::int32_t>(t.partitions.size())) {
          if (reserved_to_wait) pool_.release(reserved_to_wait);
          return error(client_errc::invalid_argument, "partition " + std::to_string(p) + " of topic '" + t.name +
                                                          "' does not exist (" + std::to_string(t.partitions.size()) +
                                                          " partitions)");
        }
      } else if (const std::int32_t keyed = t.partitioner->keyed_partition(
                     r.key ? u8(*r.key) : nullptr, key_len, static_cast<std::int32_t>(t.partitions.size()));
                 keyed >= 0) {
        p = keyed;  // not sticky: on_append() ignores the default choice
      } else if (const std::int32_t sticky = t.partitioner->sticky_partition(key_len, t.view()); sticky >= 0) {
        p = sticky;  // null key, built-in partitioner: as partition() without its result
        choice = {sticky, true};
      } else {
        auto chosen = t.partitioner->partition(r.key ? u8(*r.key) : nullptr, key_len, r.value ? u8(*r.value) : nullptr,
                                               value_len, -1, t.view());
        if (!chosen.ok()) {
          if (reserved_to_wait) pool_.release(reserved_to_wait);
          return chosen.error();
        }
        p = chosen->partition;
        choice = *chosen;
      }
      const record_args args{ts,        r.key ? u8(*r.key) : nullptr, key_len, r.value ? u8(*r.value) : nullptr,
                             value_len, headers, wire, slot_bytes, choice.sticky};
      // Only a new batch or a buffer that must grow takes bytes from the pool;
      // a record that fits the open batch's buffer touches no shared counter.
      // Waiting for memory happens with no lock held (the I/O thread frees it).
      std::int64_t held = reserved_to_wait;
      memory_gate gate;  // only a send that may block waits behind another
      for (;;) {
        const std::int64_t need = append_to_partition(t, p, args, done, held, {}, nullptr, may_block ? &gate : nullptr);
        if (need == 0) break;
        tl.unlock();
        if (deadline == clock::time_point{}) deadline = clock::now() + cfg_.max_block;
        if (need == follow_memory_waiter) {
          // Another thread waits for memory for this partition: wait for it,
          // holding nothing (it may need what this one holds), then retry.
          if (held) pool_.release(held);
          held = 0;
          const auto now = clock::now();
          if (closing_ || now >= deadline) {
            leave_memory_followers(gate);
            if (closing_) return error(client_errc::producer_closed, "producer is closing");
            return error(client_errc::queue_full, "buffer.memory exhausted for max.block.ms");
          }
          futex_wait_for(gate.queue->memory_turn, gate.turn, deadline - now);
          tl.lock();
          continue;
        }
        const std::int64_t more = need - held;
        // Rounded up: the wait never ends before max.block.ms.
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
        const bool got = reserve(more, may_block, std::max(left, std::chrono::milliseconds(0)));
        if (!got) {
          leave_memory_gate(gate);  // before the error is built: followers retry meanwhile
          if (held) pool_.release(held);
          if (closing_) return error(client_errc::producer_closed, "producer is closing");
          return error(client_errc::queue_full,
                       may_block ? "buffer.memory exhausted for max.block.ms" : "buffer.memory exhausted");
        }
        held = need;
        tl.lock();  // partitions never shrink: p is still valid
      }
      tl.unlock();
      if (held) pool_.release(held);
      return {};
    }
    tl.unlock();
    if (reserved_to_wait) break;
    // Metadata not known yet, or records still wait for it: keep an owned
    // copy until it is; it holds its worst case (a batch of its own) from
    // buffer.memory meanwhile.
    if (closing_) return error(client_errc::producer_closed, "producer is closing");
    deadline = clock::now() + cfg_.max_block;
    bool got = reserve(reserved + batch_overhead_bytes, may_block, cfg_.max_block);
    if (!got) {
      if (closing_) return error(client_errc::producer_closed, "producer is closing");
      return error(client_errc::queue_full,
                   may_block ? "buffer.memory exhausted for max.block.ms" : "buffer.memory exhausted");
    }
    reserved_to_wait = reserved + batch_overhead_bytes;
    // Looked again: the waiting records may have been appended while this
    // one waited for memory. Queued behind nothing, it would make every
    // later send wait behind it (has_pending) until the next drain; with
    // several threads blocked here on a full buffer that chain never broke,
    // and a saturated producer sent most of its records through this slow
    // path (a copy each, appended by the I/O thread). Records of this thread
    // sent earlier are appended already then, so the order holds.
  }
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
  pr.reserved_bytes = reserved_to_wait;
  pr.deadline = clock::now() + *cfg_.delivery_timeout;
  pr.flush_epoch = flushes_.add();
  {
    // Shared, not exclusive: until metadata arrives every record comes this
    // way, and an exclusive lock costs a membarrier (read_mostly_mutex).
    // drain_pending() takes the exclusive lock, so a record is pushed either
    // before it swaps the list or after, setting has_pending again.
    std::shared_lock tl(t.mu);
    std::lock_guard pl(t.pending_mu);
    t.pending.push_back(std::move(pr));
    t.has_pending.store(true, std::memory_order_release);
  }
  queued_units_.fetch_add(1);
  wake_();
  return {};
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
      if (q.hold_hint && q.leader != leader) {
        // Held while it had another leader (or none: a drain must see it to
        // ask for metadata): the hint is the truth again (the batch is past
        // its linger), so the next drain looks at it.
        q.hold_hint = false;
        std::lock_guard ql(q.mu);
        refresh_ready_hint(q);
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
    auto idle_now = [&] {
      if (!t.known || t.has_pending.load() || now - t.last_used < idle) return false;
      for (auto& q : t.partitions) {
        std::lock_guard ql(q->mu);
        if (!q->batches.empty() || q->in_flight > 0) return false;
      }
      return true;
    };
    {
      // Most topics are in use: decided under the shared lock (the
      // exclusive one makes every sending thread wait, and costs a
      // membarrier).
      std::shared_lock tl(t.mu);
      if (!idle_now()) continue;
    }
    std::unique_lock tl(t.mu);
    if (!idle_now()) continue;  // a send came in between
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
  // Records that waited for metadata go first: while has_pending is set,
  // sends queue behind them. The whole list is appended under the topic's
  // exclusive lock, which holds new sends back for that moment and then
  // clears has_pending: draining it piecemeal under the shared lock let busy
  // sending threads refill the list as fast as it drained, keeping the
  // producer on this slow path (an exclusive lock per record) for good.
  // Failures are completed after unlocking (a handler may send). Each
  // record's owned copy is freed as soon as it is in its batch: a sender
  // that starts before metadata arrives can fill buffer.memory with waiting
  // records, and holding them all until the last is appended doubled the
  // peak (copies plus batches).
  std::deque<pending_record> todo;
  std::vector<std::pair<pending_record, kprod::error>> failed;
  std::size_t copied_bytes = 0;
  {
    std::unique_lock tl(t.mu);
    {
      std::lock_guard pl(t.pending_mu);
      todo.swap(t.pending);
    }
    for (; !todo.empty(); todo.pop_front()) {
      const pending_record& pr = todo.front();
      copied_bytes += (pr.key ? pr.key->size() : 0) + (pr.value ? pr.value->size() : 0);
      if (auto err = append_pending_locked(t, todo.front(), now)) failed.emplace_back(std::move(todo.front()), std::move(err));
      // The copies are malloc'd heap memory, which glibc keeps resident once
      // freed: without this, peak RSS held every copy and every batch made
      // from them at once (100 KB records, buffer filled before metadata
      // came: 71 MB at a 32 MiB buffer.memory). Rare (a burst that waited
      // for metadata), so the cost of a trim per 4 MiB does not matter.
      if (copied_bytes >= (std::size_t{4} << 20)) {
        copied_bytes = 0;
        give_back_freed_heap();
      }
    }
    t.has_pending.store(false, std::memory_order_release);
  }
  if (copied_bytes >= (std::size_t{1} << 20)) give_back_freed_heap();
  for (auto& [pr, err] : failed) {
    delivery_report rep;
    rep.error = err;
    rep.metadata.topic = t.name;
    pr.done(std::move(rep));
  }
}

kprod::error accumulator::append_pending_locked(topic_state& t, pending_record& pr, clock::time_point now) {
  std::vector<protocol::record_header_view> hv;
  hv.reserve(pr.headers.size());
  for (auto& [k, v] : pr.headers) {
    hv.push_back({k, v ? u8(*v) : nullptr, v ? static_cast<std::int32_t>(v->size()) : -1});
  }
  const std::int32_t key_len = pr.key ? static_cast<std::int32_t>(pr.key->size()) : -1;
  const std::int32_t value_len = pr.value ? static_cast<std::int32_t>(pr.value->size()) : -1;
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
    auto chosen = t.partitioner->partition(pr.key ? u8(*pr.key) : nullptr, key_len, pr.value ? u8(*pr.value) : nullptr,
                                           value_len, -1, t.view());
    if (chosen.ok()) {
      p = chosen->partition;
      choice = *chosen;
    } else {
      err = chosen.error();
    }
  }
  queued_units_.fetch_sub(1);  // the record leaves the waiting list (its batch counts from here)
  if (err) {
    pool_.release(pr.reserved_bytes);
    flushes_.remove(pr.flush_epoch);
    return err;
  }
  const std::size_t upper = protocol::record_batch_builder::record_size_upper_bound(key_len, value_len, hv);
  const record_args args{pr.timestamp_ms, pr.key ? u8(*pr.key) : nullptr, key_len,
                         pr.value ? u8(*pr.value) : nullptr, value_len, hv, upper,
                         pr.has_handler ? slot_list::entry_bytes(pr.done) : 0, choice.sticky};
  // The I/O thread must neither wait nor fail here: the record's own
  // reservation covers a batch of its own; anything more is taken anyway
  // (later sends wait until it is released).
  std::int64_t held = pr.reserved_bytes;
  for (;;) {
    const std::int64_t need = append_to_partition(t, p, args, pr.done, held, now, &pr.flush_epoch);
    if (need == 0) break;
    pool_.force_reserve(need - held);
    held = need;
  }
  if (held) pool_.release(held);
  return {};
}

}  // namespace kprod::producer_detail
