#include "support/fault_proxy.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "support/fault_proxy_frames.h"

namespace kprod::test {

using asio::awaitable;
using asio::ip::tcp;
using std::chrono::steady_clock;

namespace {

struct upstream_address {
  std::string text;  // as given, "host:port"
  std::string host;
  std::uint16_t port = 0;
};

result<std::vector<upstream_address>> parse_upstreams(const std::string& list) {
  std::vector<upstream_address> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    const std::size_t colon = item.rfind(':');
    int port = 0;
    try {
      port = colon == std::string::npos ? 0 : std::stoi(item.substr(colon + 1));
    } catch (...) {
      port = 0;
    }
    if (port <= 0 || port > 65535)
      return kprod::error(client_errc::invalid_argument, "bad upstream address '" + item + "'");
    out.push_back({item, item.substr(0, colon), static_cast<std::uint16_t>(port)});
  }
  if (out.empty()) return kprod::error(client_errc::invalid_argument, "no upstream broker");
  return out;
}

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost"; }

std::array<std::uint8_t, 4> be32(std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  return {static_cast<std::uint8_t>(u >> 24), static_cast<std::uint8_t>(u >> 16), static_cast<std::uint8_t>(u >> 8),
          static_cast<std::uint8_t>(u)};
}

}  // namespace

struct pending_request {
  std::int32_t correlation_id;
  std::int16_t api_key;
  std::int16_t api_version;
  bool acks_zero;
};

struct proxy_connection {
  proxy_connection(asio::io_context& io, std::uint64_t id_, std::size_t broker_, tcp::socket c)
      : id(id_),
        broker(broker_),
        client(std::move(c)),
        upstream(io),
        chaos_timer(io),
        request_timer(io),
        response_timer(io) {}
  std::uint64_t id;
  std::size_t broker;
  tcp::socket client;
  tcp::socket upstream;
  asio::steady_timer chaos_timer;
  asio::steady_timer request_timer;  // delays of each direction
  asio::steady_timer response_timer;
  std::deque<pending_request> pending;  // requests forwarded, response not yet seen
  bool closed = false;
  bool silent = false;
};

struct fault_proxy::impl {
  explicit impl(fault_proxy_options o) : opts(o), work(io.get_executor()), rng(o.seed) {}

  asio::io_context io;
  fault_proxy_options opts;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  std::vector<upstream_address> upstreams;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::uint16_t> ports;
  sequence_auditor audit;
  record_identity_log identities;
  bool stopped = false;

  // Shared with the test thread.
  struct rule_slot {
    rule_id id;
    fault_rule rule;
    int matches = 0;
  };
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::vector<rule_slot> rules;
  std::map<rule_id, std::uint64_t> hits;
  rule_id next_rule = 1;
  std::map<std::int16_t, api_counters> counters;
  proxy_stats stats;
  std::mt19937_64 rng;
  std::optional<chaos_options> chaos;
  std::vector<steady_clock::time_point> refuse_until;

  // Proxy thread only.
  std::map<std::uint64_t, std::shared_ptr<proxy_connection>> conns;
  std::uint64_t next_conn = 1;

  void spawn(awaitable<void> a) {
    asio::co_spawn(io, std::move(a), [](std::exception_ptr) {});  // a dying coroutine closes its connection
  }

  void close(proxy_connection& c, bool by_fault) {
    if (c.closed) return;
    c.closed = true;
    std::error_code ignored;
    c.client.shutdown(tcp::socket::shutdown_both, ignored);
    c.client.close(ignored);
    c.upstream.shutdown(tcp::socket::shutdown_both, ignored);
    c.upstream.close(ignored);
    c.chaos_timer.cancel();
    c.request_timer.cancel();
    c.response_timer.cancel();
    if (opts.audit) audit.on_connection_closed(c.id);
    {
      std::lock_guard lock(mu);
      if (by_fault) ++stats.closed_by_fault;
      --stats.live_connections;
    }
    conns.erase(c.id);
  }

  void arm_chaos(const std::shared_ptr<proxy_connection>& c) {
    std::chrono::milliseconds life{0};
    {
      std::lock_guard lock(mu);
      if (!chaos || chaos->max_lifetime.count() <= 0) return;
      std::uniform_int_distribution<std::int64_t> d(chaos->min_lifetime.count(),
                                                    std::max(chaos->min_lifetime, chaos->max_lifetime).count());
      life = std::chrono::milliseconds(d(rng));
    }
    c->chaos_timer.expires_after(life);
    c->chaos_timer.async_wait([this, c](const std::error_code& ec) {
      if (!ec) close(*c, true);
    });
  }

  // The first rule matching the frame, consumed; nullopt if none.
  std::optional<fault_action> pick_rule(const frame_view& f) {
    std::lock_guard lock(mu);
    for (auto it = rules.begin(); it != rules.end(); ++it) {
      fault_rule& r = it->rule;
      if (r.direction != f.direction) continue;
      if (r.api_key != -1 && r.api_key != f.api_key) continue;
      if (r.broker && *r.broker != f.broker) continue;
      if (r.predicate && !r.predicate(f)) continue;
      ++it->matches;
      if (r.nth > 0 && it->matches < r.nth) continue;
      if (r.probability < 1.0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng) >= r.probability) continue;
      fault_action a = r.action;
      ++hits[it->id];
      if (f.api_key >= 0) ++counters[f.api_key].faults;
      if (r.times > 0 && --r.times == 0) rules.erase(it);
      cv.notify_all();
      return a;
    }
    return std::nullopt;
  }

  std::optional<std::size_t> chaos_cut(std::size_t frame_bytes) {
    std::lock_guard lock(mu);
    if (!chaos || chaos->cut_request_probability <= 0.0 || frame_bytes < 2) return std::nullopt;
    if (std::uniform_real_distribution<double>(0.0, 1.0)(rng) >= chaos->cut_request_probability) return std::nullopt;
    return std::uniform_int_distribution<std::size_t>(1, frame_bytes - 1)(rng);
  }

  awaitable<bool> write(proxy_connection& c, tcp::socket& to, std::span<const std::uint8_t> bytes) {
    std::error_code ec;
    co_await asio::async_write(to, asio::buffer(bytes.data(), bytes.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) close(c, false);
    co_return !ec && !c.closed;
  }

  awaitable<bool> write_frame(proxy_connection& c, tcp::socket& to, std::int32_t prefix,
                              std::span<const std::uint8_t> payload) {
    std::vector<std::uint8_t> out;
    out.reserve(4 + payload.size());
    const auto p = be32(prefix);
    out.insert(out.end(), p.begin(), p.end());
    out.insert(out.end(), payload.begin(), payload.end());
    co_return co_await write(c, to, out);
  }

  // Carries out `a` (or plain forwarding) for one frame.
  awaitable<void> deliver(std::shared_ptr<proxy_connection> c, tcp::socket& to, asio::steady_timer& timer,
                          std::vector<std::uint8_t>& payload, std::optional<fault_action> a) {
    const auto size = static_cast<std::int32_t>(payload.size());
    if (!a) {
      co_await write_frame(*c, to, size, payload);
      co_return;
    }
    switch (a->kind) {
      case fault_kind::delay: {
        timer.expires_after(a->delay);
        std::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!c->closed) co_await write_frame(*c, to, size, payload);
        break;
      }
      case fault_kind::drop_before_forward:
      case fault_kind::drop_and_close:
        close(*c, true);
        break;
      case fault_kind::close_after_forward:
        if (co_await write_frame(*c, to, size, payload)) close(*c, true);
        break;
      case fault_kind::truncate: {
        const std::size_t keep = std::min(a->bytes, payload.size());
        const auto prefix = a->consistent_length ? static_cast<std::int32_t>(keep) : size;
        const bool ok = co_await write_frame(*c, to, prefix, std::span(payload).first(keep));
        if (ok && !a->consistent_length) close(*c, true);
        break;
      }
      case fault_kind::flip_byte:
        if (a->offset < payload.size()) payload[a->offset] ^= a->mask;
        co_await write_frame(*c, to, size, payload);
        break;
      case fault_kind::rewrite_produce:  // already applied by the response pump
        co_await write_frame(*c, to, size, payload);
        break;
      case fault_kind::bogus_length:
        if (co_await write_frame(*c, to, a->length, payload)) c->silent = true;
        break;
      case fault_kind::go_silent:
        c->silent = true;
        break;
      case fault_kind::byte_at_a_time: {
        std::vector<std::uint8_t> all;
        const auto p = be32(size);
        all.insert(all.end(), p.begin(), p.end());
        all.insert(all.end(), payload.begin(), payload.end());
        for (std::size_t i = 0; i < all.size() && !c->closed; ++i) {
          if (!co_await write(*c, to, std::span(all).subspan(i, 1))) break;
          if (a->delay.count() > 0) {
            timer.expires_after(a->delay);
            std::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          }
        }
        break;
      }
      case fault_kind::duplicate:
        if (co_await write_frame(*c, to, size, payload)) co_await write_frame(*c, to, size, payload);
        break;
    }
  }

  // Reads one whole frame; false when the connection is over.
  awaitable<bool> read_frame(proxy_connection& c, tcp::socket& from, std::vector<std::uint8_t>& payload) {
    std::array<std::uint8_t, 4> prefix{};
    std::error_code ec;
    co_await asio::async_read(from, asio::buffer(prefix), asio::redirect_error(asio::use_awaitable, ec));
    if (ec || c.closed) co_return false;
    const std::int32_t size = static_cast<std::int32_t>((std::uint32_t{prefix[0]} << 24) |
                                                        (std::uint32_t{prefix[1]} << 16) |
                                                        (std::uint32_t{prefix[2]} << 8) | prefix[3]);
    if (size < 0 || static_cast<std::size_t>(size) > opts.max_frame_bytes) co_return false;
    payload.resize(static_cast<std::size_t>(size));
    co_await asio::async_read(from, asio::buffer(payload), asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec && !c.closed;
  }

  awaitable<void> pump_requests(std::shared_ptr<proxy_connection> c) {
    std::vector<std::uint8_t> payload;
    while (co_await read_frame(*c, c->client, payload)) {
      if (c->silent) continue;
      const frames::parsed_request req = frames::parse_request(payload);
      {
        std::lock_guard lock(mu);
        ++counters[req.api_key].requests;
      }
      // The auditor judges the client, so it sees the request as sent.
      if (opts.audit && req.api_key == 0 && req.body_offset <= payload.size()) {
        audit.on_produce_request(c->id, req.correlation_id, req.api_version,
                                 std::span(payload).subspan(req.body_offset));
      }
      if (opts.track_record_identities && req.api_key == 0 && req.body_offset <= payload.size()) {
        identities.on_produce_request(req.api_version, std::span(payload).subspan(req.body_offset));
      }
      const frame_view view{frame_direction::request, req.api_key, req.api_version, req.correlation_id,
                            c->broker, c->id, payload, req.body_offset};
      std::optional<fault_action> a = pick_rule(view);
      if (!a) {
        if (auto cut = chaos_cut(payload.size())) {
          a = fault::truncate(*cut);
          std::lock_guard lock(mu);
          ++counters[req.api_key].faults;
        }
      }
      if (req.header_ok) {
        c->pending.push_back({req.correlation_id, req.api_key, req.api_version, req.acks_zero});
        if (a && a->kind == fault_kind::duplicate) c->pending.push_back(c->pending.back());
      }
      co_await deliver(c, c->upstream, c->request_timer, payload, a);
      if (c->closed) break;
    }
    close(*c, false);
  }

  std::optional<std::pair<std::string, std::int32_t>> map_address(const std::string& host, std::int32_t port) const {
    for (std::size_t i = 0; i < upstreams.size(); ++i) {
      const auto& u = upstreams[i];
      if (u.port == port && (u.host == host || (is_loopback(u.host) && is_loopback(host))))
        return std::make_pair(std::string("127.0.0.1"), static_cast<std::int32_t>(ports[i]));
    }
    return std::nullopt;
  }

  awaitable<void> pump_responses(std::shared_ptr<proxy_connection> c) {
    std::vector<std::uint8_t> payload;
    while (co_await read_frame(*c, c->upstream, payload)) {
      if (c->silent) continue;
      std::int32_t corr = -1;
      if (payload.size() >= 4)
        corr = static_cast<std::int32_t>((std::uint32_t{payload[0]} << 24) | (std::uint32_t{payload[1]} << 16) |
                                         (std::uint32_t{payload[2]} << 8) | payload[3]);
      // Match by correlation id; acks=0 Produce requests skipped on the way
      // were never going to be answered by a real broker.
      std::optional<pending_request> req;
      for (auto it = c->pending.begin(); it != c->pending.end(); ++it) {
        if (it->correlation_id != corr) continue;
        req = *it;
        c->pending.erase(it);
        break;
      }
      if (req) {
        while (!c->pending.empty() && c->pending.front().acks_zero &&
               c->pending.front().correlation_id != corr)
          c->pending.pop_front();
      }
      const std::int16_t key = req ? req->api_key : -1;
      const std::int16_t version = req ? req->api_version : -1;
      const std::size_t body = frames::response_body_offset(payload, key, version);
      {
        std::lock_guard lock(mu);
        if (req) ++counters[key].responses;
        else ++stats.unmatched_responses;
      }
      if (opts.rewrite_metadata && (key == 3 || key == 10)) {
        if (frames::rewrite_addresses(payload, body, key, version,
                                      [this](const std::string& h, std::int32_t p) { return map_address(h, p); })) {
          std::lock_guard lock(mu);
          ++stats.rewritten_metadata;
        }
      }
      const frame_view view{frame_direction::response, key, version, corr, c->broker, c->id, payload, body};
      std::optional<fault_action> a = pick_rule(view);
      if (a && a->kind == fault_kind::rewrite_produce && key == 0)
        frames::rewrite_produce_response(payload, body, version, *a);
      const bool delivered = !a || (a->kind != fault_kind::drop_and_close && a->kind != fault_kind::go_silent &&
                                    a->kind != fault_kind::drop_before_forward &&
                                    !(a->kind == fault_kind::truncate && !a->consistent_length));
      // Acknowledge before writing: once written, the client may answer
      // with a new request before this coroutine runs again.
      if (opts.audit && key == 0 && delivered) {
        if (a && a->kind == fault_kind::flip_byte && a->offset < payload.size()) {
          std::vector<std::uint8_t> seen = payload;
          seen[a->offset] ^= a->mask;
          audit.on_produce_response(c->id, corr, version, std::span(seen).subspan(body));
        } else {
          audit.on_produce_response(c->id, corr, version, std::span(payload).subspan(body));
        }
      }
      co_await deliver(c, c->client, c->response_timer, payload, a);
      if (c->closed) break;
    }
    close(*c, false);
  }

  awaitable<void> run_connection(std::shared_ptr<proxy_connection> c) {
    const auto& u = upstreams[c->broker];
    std::error_code ec;
    tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(u.host, std::to_string(u.port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      for (const auto& e : endpoints) {
        c->upstream.close(ec);
        co_await c->upstream.async_connect(e.endpoint(), asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) break;
      }
    }
    if (ec || c->closed) {
      {
        std::lock_guard lock(mu);
        ++stats.upstream_failures;
      }
      close(*c, false);
      co_return;
    }
    std::error_code ignored;
    c->upstream.set_option(tcp::no_delay(true), ignored);
    c->client.set_option(tcp::no_delay(true), ignored);
    spawn(pump_requests(c));
    spawn(pump_responses(c));
  }

  awaitable<void> accept_loop(std::size_t broker) {
    tcp::acceptor& acceptor = *acceptors[broker];
    for (;;) {
      std::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        continue;
      }
      bool refuse = false;
      {
        std::lock_guard lock(mu);
        refuse = steady_clock::now() < refuse_until[broker];
        if (refuse) ++stats.refused;
        else {
          ++stats.accepted;
          ++stats.live_connections;
        }
      }
      if (refuse) {
        s.close(ec);
        continue;
      }
      auto c = std::make_shared<proxy_connection>(io, next_conn++, broker, std::move(s));
      conns[c->id] = c;
      arm_chaos(c);
      spawn(run_connection(c));
    }
  }

  void close_everything() {
    for (auto& a : acceptors) {
      std::error_code ignored;
      a->close(ignored);
    }
    auto live = conns;
    for (auto& [id, c] : live) close(*c, false);
  }
};

fault_proxy::fault_proxy(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

fault_proxy::~fault_proxy() { stop(); }

result<std::unique_ptr<fault_proxy>> fault_proxy::start(const std::string& upstream, fault_proxy_options opts) {
  auto ups = parse_upstreams(upstream);
  if (!ups.ok()) return ups.error();
  auto p = std::make_unique<impl>(opts);
  p->upstreams = std::move(*ups);
  p->refuse_until.assign(p->upstreams.size(), steady_clock::time_point{});
  for (std::size_t i = 0; i < p->upstreams.size(); ++i) {
    std::error_code ec;
    auto a = std::make_unique<tcp::acceptor>(p->io);
    const tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), 0);
    a->open(ep.protocol(), ec);
    if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a->bind(ep, ec);
    if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return kprod::error(client_errc::connection_lost, "proxy listener: " + ec.message());
    p->ports.push_back(a->local_endpoint().port());
    p->acceptors.push_back(std::move(a));
  }
  for (std::size_t i = 0; i < p->upstreams.size(); ++i) p->spawn(p->accept_loop(i));
  impl* raw = p.get();
  p->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<fault_proxy>(new fault_proxy(std::move(p)));
}

void fault_proxy::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  asio::post(impl_->io, [this] {
    impl_->close_everything();
    impl_->work.reset();
  });
  // Coroutines end once their sockets are closed; do not wait forever.
  std::thread waiter([this, done] {
    impl_->thread.join();
    done->set_value();
  });
  if (finished.wait_for(std::chrono::seconds(5)) != std::future_status::ready) impl_->io.stop();
  waiter.join();
}

std::string fault_proxy::bootstrap() const {
  std::string s;
  for (std::uint16_t p : impl_->ports) s += (s.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(p);
  return s;
}

std::string fault_proxy::override_config() const {
  std::string s;
  for (std::size_t i = 0; i < impl_->ports.size(); ++i) {
    s += (s.empty() ? "" : ",") + impl_->upstreams[i].text + "=127.0.0.1:" + std::to_string(impl_->ports[i]);
  }
  return s;
}

std::size_t fault_proxy::broker_count() const { return impl_->ports.size(); }
std::uint16_t fault_proxy::listener_port(std::size_t broker) const { return impl_->ports.at(broker); }
const std::string& fault_proxy::upstream(std::size_t broker) const { return impl_->upstreams.at(broker).text; }

fault_proxy::rule_id fault_proxy::add_rule(fault_rule rule) {
  std::lock_guard lock(impl_->mu);
  const rule_id id = impl_->next_rule++;
  impl_->hits[id] = 0;
  impl_->rules.push_back({id, std::move(rule), 0});
  return id;
}

bool fault_proxy::remove_rule(rule_id id) {
  std::lock_guard lock(impl_->mu);
  auto it = std::find_if(impl_->rules.begin(), impl_->rules.end(), [id](const auto& s) { return s.id == id; });
  if (it == impl_->rules.end()) return false;
  impl_->rules.erase(it);
  return true;
}

void fault_proxy::clear_rules() {
  std::lock_guard lock(impl_->mu);
  impl_->rules.clear();
}

std::uint64_t fault_proxy::rule_hits(rule_id id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->hits.find(id);
  return it == impl_->hits.end() ? 0 : it->second;
}

bool fault_proxy::wait_rule_hits(rule_id id, std::uint64_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] {
    auto it = impl_->hits.find(id);
    return it != impl_->hits.end() && it->second >= n;
  });
}

void fault_proxy::refuse_connections(std::chrono::milliseconds duration, std::optional<std::size_t> broker) {
  std::lock_guard lock(impl_->mu);
  const auto until = steady_clock::now() + duration;
  for (std::size_t i = 0; i < impl_->refuse_until.size(); ++i) {
    if (!broker || *broker == i) impl_->refuse_until[i] = until;
  }
}

void fault_proxy::close_all_connections() {
  if (impl_->stopped) return;
  std::promise<void> done;
  asio::post(impl_->io, [this, &done] {
    auto live = impl_->conns;
    for (auto& [id, c] : live) impl_->close(*c, true);
    done.set_value();
  });
  done.get_future().wait();
}

void fault_proxy::set_chaos(std::optional<chaos_options> chaos) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->chaos = chaos;
  }
  asio::post(impl_->io, [this] {
    for (auto& [id, c] : impl_->conns) {
      c->chaos_timer.cancel();
      impl_->arm_chaos(c);
    }
  });
}

api_counters fault_proxy::counters(std::int16_t api_key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->counters.find(api_key);
  return it == impl_->counters.end() ? api_counters{} : it->second;
}

proxy_stats fault_proxy::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

sequence_auditor& fault_proxy::auditor() noexcept { return impl_->audit; }
const record_identity_log& fault_proxy::record_identities() const noexcept { return impl_->identities; }

std::vector<std::string> fault_proxy::violations() const { return impl_->audit.violations(); }

}  // namespace kprod::test
