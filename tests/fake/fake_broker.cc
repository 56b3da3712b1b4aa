// fake_broker.cc - the fake cluster's listeners, connections and public API.
#include "fake/fake_broker.h"

#include <algorithm>

#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "fake/fake_broker_impl.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"

namespace kprod::test {

namespace pr = kprod::protocol;
using steady = std::chrono::steady_clock;

// One accepted connection. Requests are read, handled and answered one at a
// time: the next request is read only once the previous one is answered.
class fake_session : public std::enable_shared_from_this<fake_session> {
 public:
  fake_session(fake_cluster::impl& f, std::int32_t node_id, asio::ip::tcp::socket s, std::uint64_t id)
      : f_(f), node_id_(node_id), socket_(std::move(s)), timer_(f.io), id_(id) {}

  void start() { read_size(); }
  std::int32_t node_id() const noexcept { return node_id_; }

  // Closed by the fake (a scripted drop), not by the client.
  void close() {
    if (closed_) return;
    closed_ = true;
    std::error_code ignored;
    timer_.cancel();
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  void read_size() {
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(size_buf_), [self](const std::error_code& ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->client_gone();
      kprod::codec::byte_reader r(self->size_buf_, 4);
      const std::int32_t n = r.read_i32();
      if (n < 8 || n > (64 << 20)) return self->close();
      self->buf_.resize(static_cast<std::size_t>(n));
      asio::async_read(self->socket_, asio::buffer(self->buf_), [self](const std::error_code& e, std::size_t) {
        if (self->closed_) return;
        if (e) return self->client_gone();
        self->handle();
      });
    });
  }

  void client_gone() {
    if (closed_) return;
    closed_ = true;
    {
      std::lock_guard lk(f_.mu);
      ++f_.client_closed;
    }
    std::error_code ignored;
    socket_.close(ignored);
  }

  void handle() {
    kprod::codec::byte_reader peek(buf_.data(), buf_.size());
    const std::int16_t key = peek.read_i16();
    const std::int16_t version = peek.read_i16();
    const std::int16_t hv = pr::request_header_version(key, version);
    if (hv < 0) return close();
    pr::request_header hdr;
    kprod::codec::byte_reader r(buf_.data(), buf_.size());
    if (!pr::decode(r, hdr, hv).ok()) return close();

    std::size_t seen_index;
    {
      std::lock_guard lk(f_.mu);
      seen_index = f_.seen_list.size();
      f_.seen_list.push_back({node_id_, id_, key, version, hdr.correlation_id, steady::now(), {}, {}});
    }
    request_view rv;
    rv.node_id = node_id_;
    rv.connection_id = id_;
    rv.api_key = key;
    rv.api_version = version;
    rv.correlation_id = hdr.correlation_id;
    rv.client_id = hdr.client_id.value_or("");
    rv.body = std::span<const std::uint8_t>(r.position(), r.remaining());

    // Versions the broker does not advertise: ApiVersions answers
    // UNSUPPORTED_VERSION (handled in its handler), anything else is cut off.
    if (key != pr::api_versions_api::key) {
      std::lock_guard lk(f_.mu);
      auto adv = f_.advertised.find(key);
      if (adv == f_.advertised.end() || version < adv->second.first || version > adv->second.second) return close();
    }
    pr::produce_request produce;
    if (key == pr::produce_api::key) {
      kprod::codec::byte_reader pr_reader(rv.body);
      if (!pr::decode(pr_reader, produce, version).ok()) return close();
      rv.produce = &produce;
    }

    action a = f_.run_controls(rv);
    if (a.what == action::kind::pass) a = action::respond();

    handler_reply reply{false, {}, {}};
    const bool needs_handler = a.apply || !a.raw_body;
    if (needs_handler) {
      switch (key) {
        case pr::api_versions_api::key: reply = f_.handle_api_versions(rv, a); break;
        case pr::metadata_api::key: reply = f_.handle_metadata(rv, a); break;
        case pr::init_producer_id_api::key: reply = f_.handle_init_producer_id(rv, a); break;
        case pr::produce_api::key: reply = f_.handle_produce(rv, a); break;
        case pr::find_coordinator_api::key: reply = f_.handle_find_coordinator(rv, a); break;
        case pr::add_partitions_to_txn_api::key: reply = f_.handle_add_partitions_to_txn(rv, a); break;
        case pr::add_offsets_to_txn_api::key: reply = f_.handle_add_offsets_to_txn(rv, a); break;
        case pr::txn_offset_commit_api::key: reply = f_.handle_txn_offset_commit(rv, a); break;
        case pr::end_txn_api::key: reply = f_.handle_end_txn(rv, a); break;
        default: return close();  // advertised but not implemented by the fake
      }
    }
    if ((a.apply || a.what == action::kind::respond) && !reply.produce_errors.empty()) {
      std::lock_guard lk(f_.mu);
      f_.seen_list[seen_index].produce_errors = reply.produce_errors;
    }
    if (a.raw_body) reply = {true, *a.raw_body, {}};
    if (key == pr::produce_api::key && produce.acks == 0) reply.respond = false;
    if (reply.respond && a.edit_body) a.edit_body(reply.body);

    std::vector<std::uint8_t> out;
    if (a.what == action::kind::respond && reply.respond) {
      kprod::codec::byte_writer w(out);
      w.write_i32(0);
      pr::response_header rh;
      rh.correlation_id = a.correlation_id.value_or(hdr.correlation_id);
      const std::int16_t rhv = pr::response_header_version(key, version);
      if (rhv >= 1) rh.unknown_tagged_fields.push_back({78, {0x01}});
      (void)pr::encode(w, rh, rhv);
      w.write_raw(reply.body.data(), reply.body.size());
      w.patch_i32(0, static_cast<std::int32_t>(out.size() - 4));
    }
    const bool drop = a.what == action::kind::drop;
    auto self = shared_from_this();
    auto finish = [self, out = std::move(out), drop, seen_index]() mutable {
      if (self->closed_) return;
      if (drop) return self->close();
      if (out.empty()) return self->read_size();
      self->out_ = std::move(out);
      {
        // Before the write: the client may read the answer (and act on it)
        // before the write's completion handler runs here.
        std::lock_guard lk(self->f_.mu);
        self->f_.seen_list[seen_index].answered = steady::now();
      }
      asio::async_write(self->socket_, asio::buffer(self->out_), [self](const std::error_code& ec, std::size_t) {
        if (self->closed_) return;
        if (ec) return self->client_gone();
        self->read_size();
      });
    };
    if (a.delay.count() > 0) {
      timer_.expires_after(a.delay);
      timer_.async_wait([finish = std::move(finish)](const std::error_code& ec) mutable {
        if (!ec) finish();
      });
    } else {
      finish();
    }
  }

  fake_cluster::impl& f_;
  const std::int32_t node_id_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  const std::uint64_t id_;
  bool closed_ = false;
  std::uint8_t size_buf_[4] = {};
  std::vector<std::uint8_t> buf_;
  std::vector<std::uint8_t> out_;
};

fake_cluster::impl::impl(fake_cluster_options o) : opts(o) {
  for (const auto& r : pr::client_api_versions) advertised[r.key] = {r.min_version, r.max_version};
}

void fake_cluster::impl::accept(broker& b) {
  b.acceptor->async_accept([this, &b](const std::error_code& ec, asio::ip::tcp::socket s) {
    if (ec) return;  // the acceptor was closed
    std::uint64_t id;
    {
      std::lock_guard lk(mu);
      id = next_connection_id++;
      ++accepted;
    }
    std::error_code ignored;
    s.set_option(asio::ip::tcp::no_delay(true), ignored);
    auto session = std::make_shared<fake_session>(*this, b.node_id, std::move(s), id);
    {
      std::lock_guard lk(mu);
      sessions[id] = session;
    }
    session->start();
    accept(b);
  });
}

void fake_cluster::impl::create_topic_locked(const std::string& topic, int partitions,
                                             std::vector<std::int32_t> leaders) {
  fake_topic t;
  t.id[0] = 0x42;
  t.id[15] = next_topic_id++;
  const int n = static_cast<int>(brokers.size());
  for (int p = 0; p < partitions; ++p) {
    fake_partition fp;
    fp.leader = static_cast<std::size_t>(p) < leaders.size() ? leaders[static_cast<std::size_t>(p)] : p % n + 1;
    t.partitions.push_back(std::move(fp));
  }
  topics[topic] = std::move(t);
}

action fake_cluster::impl::run_controls(const request_view& rv) {
  std::lock_guard lk(mu);
  for (std::size_t i = 0; i < controls.size(); ++i) {
    if (controls[i].api_key != -1 && controls[i].api_key != rv.api_key) continue;
    auto fn = controls[i].fn;  // the interceptor may register others meanwhile
    action a = fn(rv);
    if (a.what == action::kind::pass) continue;
    if (!controls[i].keep) controls.erase(controls.begin() + static_cast<std::ptrdiff_t>(i));
    return a;
  }
  return action::pass();
}

fake_cluster::fake_cluster(fake_cluster_options opts) : impl_(std::make_unique<impl>(opts)) {
  const int n = std::max(1, opts.brokers);
  impl_->brokers.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& b = impl_->brokers[static_cast<std::size_t>(i)];
    b.node_id = i + 1;
    b.acceptor = std::make_unique<asio::ip::tcp::acceptor>(
        impl_->io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    b.port = b.acceptor->local_endpoint().port();
  }
  for (auto& b : impl_->brokers) impl_->accept(b);
  impl_->work.emplace(impl_->io.get_executor());
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

fake_cluster::~fake_cluster() {
  asio::post(impl_->io, [this] {
    for (auto& b : impl_->brokers) {
      std::error_code ignored;
      b.acceptor->close(ignored);
    }
    std::map<std::uint64_t, std::weak_ptr<fake_session>> sessions;
    {
      std::lock_guard lk(impl_->mu);
      sessions = impl_->sessions;
    }
    for (auto& [id, w] : sessions) {
      if (auto s = w.lock()) s->close();
    }
    impl_->work.reset();
    impl_->io.stop();
  });
  impl_->thread.join();
}

std::string fake_cluster::bootstrap() const {
  std::string s;
  for (const auto& b : impl_->brokers) {
    if (!s.empty()) s += ",";
    s += "127.0.0.1:" + std::to_string(b.port);
  }
  return s;
}

std::uint16_t fake_cluster::port(std::int32_t node_id) const {
  for (const auto& b : impl_->brokers) {
    if (b.node_id == node_id) return b.port;
  }
  return 0;
}

int fake_cluster::broker_count() const { return static_cast<int>(impl_->brokers.size()); }

void fake_cluster::set_api_versions(std::int16_t api_key, std::int16_t min_version, std::int16_t max_version) {
  std::lock_guard lk(impl_->mu);
  impl_->advertised[api_key] = {min_version, max_version};
}

void fake_cluster::remove_api(std::int16_t api_key) {
  std::lock_guard lk(impl_->mu);
  impl_->advertised.erase(api_key);
}

void fake_cluster::create_topic(const std::string& topic, int partitions, std::vector<std::int32_t> leaders) {
  std::lock_guard lk(impl_->mu);
  impl_->create_topic_locked(topic, partitions, std::move(leaders));
}

void fake_cluster::set_leader(const std::string& topic, std::int32_t partition, std::int32_t node_id) {
  std::lock_guard lk(impl_->mu);
  auto& p = impl_->topics.at(topic).partitions.at(static_cast<std::size_t>(partition));
  p.leader = node_id;
  ++p.leader_epoch;
}

std::int32_t fake_cluster::leader(const std::string& topic, std::int32_t partition) const {
  std::lock_guard lk(impl_->mu);
  return impl_->topics.at(topic).partitions.at(static_cast<std::size_t>(partition)).leader;
}

int fake_cluster::partition_count(const std::string& topic) const {
  std::lock_guard lk(impl_->mu);
  auto t = impl_->topics.find(topic);
  return t == impl_->topics.end() ? 0 : static_cast<int>(t->second.partitions.size());
}

void fake_cluster::control(std::int16_t api_key, control_fn fn, bool keep) {
  std::lock_guard lk(impl_->mu);
  impl_->controls.push_back({api_key, std::move(fn), keep});
}

void fake_cluster::clear_controls() {
  std::lock_guard lk(impl_->mu);
  impl_->controls.clear();
}

std::size_t fake_cluster::controls_pending() const {
  std::lock_guard lk(impl_->mu);
  return impl_->controls.size();
}

std::size_t fake_cluster::requests(std::int16_t api_key) const {
  std::lock_guard lk(impl_->mu);
  return static_cast<std::size_t>(std::count_if(impl_->seen_list.begin(), impl_->seen_list.end(),
                                                [&](const seen_request& s) { return s.api_key == api_key; }));
}

std::size_t fake_cluster::requests(std::int16_t api_key, std::int16_t version) const {
  std::lock_guard lk(impl_->mu);
  return static_cast<std::size_t>(
      std::count_if(impl_->seen_list.begin(), impl_->seen_list.end(),
                    [&](const seen_request& s) { return s.api_key == api_key && s.api_version == version; }));
}

std::vector<std::int16_t> fake_cluster::versions_seen(std::int16_t api_key) const {
  std::lock_guard lk(impl_->mu);
  std::set<std::int16_t> vs;
  for (const auto& s : impl_->seen_list) {
    if (s.api_key == api_key) vs.insert(s.api_version);
  }
  return {vs.begin(), vs.end()};
}

std::vector<seen_request> fake_cluster::seen(std::int16_t api_key) const {
  std::lock_guard lk(impl_->mu);
  std::vector<seen_request> out;
  for (const auto& s : impl_->seen_list) {
    if (api_key == -1 || s.api_key == api_key) out.push_back(s);
  }
  return out;
}

std::size_t fake_cluster::connections_accepted() const {
  std::lock_guard lk(impl_->mu);
  return impl_->accepted;
}

std::size_t fake_cluster::connections_closed_by_client() const {
  std::lock_guard lk(impl_->mu);
  return impl_->client_closed;
}

std::vector<stored_record> fake_cluster::records(const std::string& topic, std::int32_t partition) const {
  std::lock_guard lk(impl_->mu);
  auto t = impl_->topics.find(topic);
  if (t == impl_->topics.end() || partition < 0 || static_cast<std::size_t>(partition) >= t->second.partitions.size()) {
    return {};
  }
  return t->second.partitions[static_cast<std::size_t>(partition)].log;
}

std::vector<stored_record> fake_cluster::records(const std::string& topic) const {
  std::lock_guard lk(impl_->mu);
  std::vector<stored_record> out;
  auto t = impl_->topics.find(topic);
  if (t == impl_->topics.end()) return out;
  for (const auto& p : t->second.partitions) out.insert(out.end(), p.log.begin(), p.log.end());
  return out;
}

std::size_t fake_cluster::record_count(const std::string& topic) const { return records(topic).size(); }

void fake_cluster::drop_connections(std::int32_t node_id) {
  asio::post(impl_->io, [this, node_id] {
    std::lock_guard lk(impl_->mu);
    for (auto& [id, w] : impl_->sessions) {
      auto s = w.lock();
      if (s && (node_id == -1 || s->node_id() == node_id)) s->close();
    }
  });
}

}  // namespace kprod::test
