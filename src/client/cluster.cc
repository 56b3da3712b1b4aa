#include "client/cluster.h"

#include <algorithm>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/metadata_request.h"
#include "protocol/generated/metadata_response.h"

namespace kprod::client {
namespace {

template <typename T>
std::string text_of(const T& s) {
  if constexpr (std::is_same_v<T, std::string>) {
    return s;
  } else {
    return s ? *s : std::string();
  }
}

std::string key_of(const broker_address& a) { return a.host + ":" + std::to_string(a.port); }

}  // namespace

cluster::cluster(asio::io_context& io, const producer_config& cfg, std::function<void()> on_event)
    : io_(io), cfg_(cfg), on_event_(std::move(on_event)) {
  conn_opts_.client_id = cfg_.client_id;
  conn_opts_.setup_timeout = cfg_.socket_connection_setup_timeout;
  conn_opts_.request_timeout = cfg_.request_timeout;
  conn_opts_.send_buffer_bytes = cfg_.send_buffer_bytes;
  conn_opts_.receive_buffer_bytes = cfg_.receive_buffer_bytes;
  std::int32_t id = -1;
  for (const auto& s : cfg_.bootstrap_servers) {
    auto hp = parse_host_port(s);
    if (!hp.ok()) continue;  // validate() already rejected bad entries
    nodes_.emplace(id, node{id, {hp->host, hp->port}, nullptr, 0, {}});
    --id;
  }
}

cluster::~cluster() { close_all(); }

void cluster::close_all() {
  closed_ = true;
  for (auto& [id, n] : nodes_) {
    if (n.conn) {
      auto c = std::move(n.conn);
      c->close_gracefully(error(client_errc::producer_closed, "producer closed"), std::chrono::milliseconds(500));
    }
  }
}

void cluster::disconnect(std::int32_t node_id, const kprod::error& why) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end() || !it->second.conn) return;
  auto c = it->second.conn;
  c->close(why);  // on_closed does the bookkeeping
}

broker_address cluster::resolve_override(const broker_address& a) const {
  auto it = cfg_.broker_address_overrides.find(key_of(a));
  if (it == cfg_.broker_address_overrides.end()) return a;
  auto hp = parse_host_port(it->second);
  if (!hp.ok()) return a;
  return {hp->host, hp->port};
}

std::chrono::milliseconds cluster::backoff(int failures) {
  // Exponential with +-20% jitter, as Java's reconnect backoff.
  double ms = static_cast<double>(cfg_.reconnect_backoff.count());
  for (int i = 1; i < failures && ms < static_cast<double>(cfg_.reconnect_backoff_max.count()); ++i) ms *= 2;
  ms = std::min(ms, static_cast<double>(cfg_.reconnect_backoff_max.count()));
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms * jitter(rng_)));
}

std::chrono::milliseconds cluster::setup_timeout(int failures) {
  const double max_ms = static_cast<double>(std::max(cfg_.socket_connection_setup_timeout_max,
                                                     cfg_.socket_connection_setup_timeout).count());
  double ms = static_cast<double>(cfg_.socket_connection_setup_timeout.count());
  for (int i = 0; i < failures && ms < max_ms; ++i) ms *= 2;
  ms = std::min(ms, max_ms);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(ms * jitter(rng_))));
}

void cluster::connect(node& n, clock::time_point now) {
  if (closed_ || n.conn || now < n.next_attempt) return;
  broker_address target = resolve_override(n.address);
  const std::int32_t id = n.id;
  // socket.connection.setup.timeout.ms doubles with each failed attempt up to
  // socket.connection.setup.timeout.max.ms, +-20% (Java's ClusterConnectionStates).
  connection_options opts = conn_opts_;
  opts.setup_timeout = setup_timeout(n.failures);
  n.conn = std::make_shared<connection>(io_, id, target.host, target.port, opts,
                                        [this, id](connection& c, const kprod::error& why) {
                                          auto it = nodes_.find(id);
                                          if (it != nodes_.end() && it->second.conn.get() == &c) on_closed(id, why);
                                        });
  std::weak_ptr<connection> weak = n.conn;
  n.conn->start([this, id, weak](const kprod::error& e) {
    if (e || closed_) return;  // failures arrive through on_closed
    auto it = nodes_.find(id);
    if (it != nodes_.end() && it->second.conn == weak.lock()) {
      it->second.failures = 0;
      last_error_ = {};
    }
    on_event_();
  });
}

void cluster::on_closed(std::int32_t node_id, const kprod::error& why) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return;
  node& n = it->second;
  auto keep = std::move(n.conn);  // the connection object outlives this call
  ++n.failures;
  n.next_attempt = clock::now() + backoff(n.failures);
  last_error_ = why;
  if (!closed_) {
    // A lost connection may mean a moved leader: refresh metadata.
    update_requested_ = true;
    asio::post(io_, [keep] {});  // release the connection after its handlers return
    on_event_();
  }
}

std::shared_ptr<connection> cluster::ready_connection(std::int32_t node_id, clock::time_point now) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) {
    auto b = snapshot_->brokers.find(node_id);
    if (b == snapshot_->brokers.end()) return nullptr;
    it = nodes_.emplace(node_id, node{node_id, b->second, nullptr, 0, {}}).first;
  }
  node& n = it->second;
  if (n.conn && n.conn->ready()) return n.conn;
  if (!n.conn) {
    if (now < n.next_attempt) {
      reconnect_wakeup_ = std::min(reconnect_wakeup_, n.next_attempt);  // the sender must come back then
    } else {
      connect(n, now);
    }
  }
  return nullptr;
}

std::shared_ptr<connection> cluster::any_ready_connection(clock::time_point now) {
  // Prefer a ready broker connection with the fewest requests outstanding.
  std::shared_ptr<connection> best;
  for (auto& [id, n] : nodes_) {
    if (n.conn && n.conn->ready() && (!best || n.conn->in_flight() < best->in_flight())) best = n.conn;
  }
  if (best) return best;
  bool connecting = false;
  for (auto& [id, n] : nodes_) connecting |= n.conn && !n.conn->closed();
  if (connecting) return nullptr;
  // Nothing open: try the known brokers, else the bootstrap servers, in order.
  std::vector<node*> candidates;
  for (auto& [id, n] : nodes_) {
    if (has_metadata() ? id >= 0 : id < 0) candidates.push_back(&n);
  }
  if (candidates.empty()) {
    for (auto& [id, n] : nodes_) candidates.push_back(&n);
  }
  if (!has_metadata()) {
    std::sort(candidates.begin(), candidates.end(), [](node* a, node* b) { return a->id > b->id; });
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    node* n = candidates[(next_bootstrap_ + i) % candidates.size()];
    if (now >= n->next_attempt) {
      next_bootstrap_ = (next_bootstrap_ + i + 1) % candidates.size();
      connect(*n, now);
      return nullptr;
    }
  }
  return nullptr;
}

void cluster::want_topics(const std::vector<std::string>& topics) {
  for (const auto& t : topics) {
    if (wanted_topics_.insert(t).second) update_requested_ = true;
    auto it = snapshot_->topics.find(t);
    if (it == snapshot_->topics.end() || it->second.error != 0 || it->second.partitions.empty()) {
      update_requested_ = true;
    }
  }
}

void cluster::forget_topics(const std::vector<std::string>& topics) {
  if (topics.empty()) return;
  auto next = std::make_shared<cluster_snapshot>(*snapshot_);
  for (const auto& t : topics) {
    wanted_topics_.erase(t);
    next->topics.erase(t);
  }
  snapshot_ = std::move(next);
}

clock::time_point cluster::close_idle_connections(clock::time_point now) {
  // connections.max.idle.ms: a connection with nothing outstanding that has
  // been quiet that long is closed (it reopens on demand).
  clock::time_point next = clock::time_point::max();
  for (auto& [id, n] : nodes_) {
    if (!n.conn || !n.conn->ready() || n.conn->in_flight() > 0) continue;
    const auto idle_at = n.conn->last_activity() + cfg_.connections_max_idle;
    if (idle_at <= now) {
      auto c = std::move(n.conn);
      c->close_gracefully(error(client_errc::connection_lost, "idle for connections.max.idle.ms"),
                          std::chrono::milliseconds(100));
    } else {
      next = std::min(next, idle_at);
    }
  }
  return next;
}

clock::time_point cluster::poll(clock::time_point now) {
  if (closed_) return clock::time_point::max();
  const clock::time_point idle_check = close_idle_connections(now);
  const bool stale = has_metadata() && now - snapshot_->fetched_at >= cfg_.metadata_max_age;
  const bool due = update_requested_ || stale || !has_metadata();
  if (!due) return std::min(idle_check, snapshot_->fetched_at + cfg_.metadata_max_age);
  if (metadata_in_flight_) return idle_check;
  const auto earliest = last_metadata_attempt_ + cfg_.retry_backoff;
  if (last_metadata_attempt_ != clock::time_point{} && now < earliest) return std::min(idle_check, earliest);
  auto c = any_ready_connection(now);
  if (!c) {
    // Wake up when the next connection attempt may start.
    auto next = clock::time_point::max();
    for (auto& [id, n] : nodes_) {
      if (!n.conn) next = std::min(next, std::max(n.next_attempt, now + std::chrono::milliseconds(1)));
    }
    return std::min(idle_check, next);
  }
  send_metadata(*c, now);
  return idle_check;
}

void cluster::send_metadata(connection& c, clock::time_point now) {
  const std::int16_t version = std::min<std::int16_t>(c.version_for(protocol::metadata_api::key),
                                                      protocol::metadata_api::max_version);
  if (version < 0) {
    c.close(error(client_errc::unsupported_version, "broker does not support Metadata"));
    return;
  }
  protocol::metadata_request req;
  std::vector<protocol::metadata_request::metadata_request_topic> topics;
  for (const auto& t : wanted_topics_) {
    protocol::metadata_request::metadata_request_topic mt;
    mt.name = t;
    topics.push_back(std::move(mt));
  }
  const bool full = full_requested_;
  if (full) {
    // Every topic: a null array from v1, an empty one in v0.
    if (version >= 1) {
      req.topics = std::nullopt;
    } else {
      req.topics = decltype(req.topics){};
    }
  } else {
    req.topics = std::move(topics);
  }
  req.allow_auto_topic_creation = true;
  auto buf = std::make_shared<std::vector<std::uint8_t>>();
  codec::byte_writer w(*buf);
  auto enc = protocol::encode(w, req, version);
  if (!enc.ok()) {
    last_error_ = enc.error();
    return;
  }
  metadata_in_flight_ = true;
  update_requested_ = false;
  full_requested_ = false;
  last_metadata_attempt_ = now;
  c.send(protocol::metadata_api::key, version, {asio::buffer(*buf)}, buf, true,
         [this, version, full, node_id = c.node_id()](const kprod::error& e, std::span<const std::uint8_t> body) {
           on_metadata(node_id, version, full, e, body);
         });
}

void cluster::on_metadata(std::int32_t node_id, std::int16_t version, bool full, const kprod::error& e,
                          std::span<const std::uint8_t> body) {
  metadata_in_flight_ = false;
  if (closed_) return;
  if (e) {
    update_requested_ = true;
    full_requested_ |= full;  // ask again
    last_error_ = e;
    on_event_();
    return;
  }
  protocol::metadata_response resp;
  codec::byte_reader r(body);
  auto dec = protocol::decode(r, resp, version);
  if (!dec.ok()) {
    update_requested_ = true;
    full_requested_ |= full;
    last_error_ = dec.error();
    disconnect(node_id, error(client_errc::malformed_response, "undecodable Metadata response: " + dec.error().message()));
    on_event_();
    return;
  }
  auto next = std::make_shared<cluster_snapshot>(*snapshot_);
  next->fetched_at = clock::now();
  if (!resp.brokers.empty()) next->brokers.clear();
  for (const auto& b : resp.brokers) {
    next->brokers[b.node_id] = broker_address{b.host, static_cast<std::uint16_t>(b.port)};
    auto it = nodes_.find(b.node_id);
    if (it != nodes_.end()) it->second.address = {b.host, static_cast<std::uint16_t>(b.port)};
  }
  std::vector<std::string> updated;
  for (const auto& t : resp.topics) {
    topic_snapshot ts;
    ts.name = text_of(t.name);
    ts.error = t.error_code;
    for (const auto& p : t.partitions) {
      partition_snapshot ps;
      ps.id = p.partition_index;
      ps.leader = p.leader_id;
      ps.leader_epoch = p.leader_epoch;
      ps.error = p.error_code;
      ps.replicas = p.replica_nodes;
      ps.isr = p.isr_nodes;
      ts.partitions.push_back(std::move(ps));
    }
    std::sort(ts.partitions.begin(), ts.partitions.end(), [](auto& a, auto& b) { return a.id < b.id; });
    // Retriable topic errors (LEADER_NOT_AVAILABLE while a topic is created,
    // UNKNOWN_TOPIC_OR_PARTITION) mean: ask again soon.
    if (ts.error != 0 || ts.partitions.empty()) update_requested_ = true;
    for (const auto& p : ts.partitions) {
      if (p.leader < 0) update_requested_ = true;
    }
    // A full listing is for cluster_metadata(): only topics in use go to
    // the producer.
    if (!full || wanted_topics_.count(ts.name)) updated.push_back(ts.name);
    next->topics[ts.name] = std::move(ts);
  }
  snapshot_ = std::move(next);
  last_error_ = {};
  if (full) full_generation_.fetch_add(1);
  if (listener_) listener_(*snapshot_, updated);
  on_event_();
}

}  // namespace kprod::client
