#include "client/connection.h"

#include <algorithm>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <poll.h>
#include <sys/socket.h>

#include <asio/connect.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "codec/byte_reader.h"
#include "codec/byte_writer.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/api_versions_request.h"
#include "protocol/generated/api_versions_response.h"

namespace kprod::client {

using std::chrono::steady_clock;

connection::connection(asio::io_context& io, std::int32_t node_id, std::string host, std::uint16_t port,
                       connection_options opts, closed_fn on_closed)
    : io_(io),
      node_id_(node_id),
      host_(std::move(host)),
      port_(port),
      opts_(std::move(opts)),
      on_closed_(std::move(on_closed)),
      resolver_(io),
      socket_(io),
      timer_(io) {}

connection::~connection() = default;

std::int16_t connection::version_for(std::int16_t api_key) const noexcept {
  if (api_key < 0 || static_cast<std::size_t>(api_key) >= versions_.size()) return -1;
  return versions_[static_cast<std::size_t>(api_key)];
}

void connection::start(std::function<void(const kprod::error&)> on_ready) {
  on_ready_ = std::move(on_ready);
  state_ = state::connecting;
  setup_deadline_ = steady_clock::now() + opts_.setup_timeout;
  arm_timer();
  auto self = shared_from_this();
  resolver_.async_resolve(host_, std::to_string(port_),
                          [self](const std::error_code& ec, asio::ip::tcp::resolver::results_type r) {
                            self->on_resolved(ec, std::move(r));
                          });
}

void connection::on_resolved(const std::error_code& ec, asio::ip::tcp::resolver::results_type results) {
  if (state_ == state::closed) return;
  if (ec) {
    close(error(client_errc::connection_lost, "resolving " + host_ + ": " + ec.message()));
    return;
  }
  auto self = shared_from_this();
  // client.dns.lookup=use_all_dns_ips: async_connect tries every address in turn.
  asio::async_connect(socket_, results, [self](const std::error_code& e, const asio::ip::tcp::endpoint&) {
    self->on_connected(e);
  });
}

void connection::on_connected(const std::error_code& ec) {
  if (state_ == state::closed) return;
  if (ec) {
    close(error(client_errc::connection_lost,
                "connecting to " + host_ + ":" + std::to_string(port_) + ": " + ec.message()));
    return;
  }
  std::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  if (opts_.send_buffer_bytes > 0) socket_.set_option(asio::socket_base::send_buffer_size(opts_.send_buffer_bytes), ignored);
  if (opts_.receive_buffer_bytes > 0) {
    socket_.set_option(asio::socket_base::receive_buffer_size(opts_.receive_buffer_bytes), ignored);
  }
  state_ = state::negotiating;
  read_more();
  negotiate(protocol::api_versions_api::max_version);
}

void connection::finish_start(const kprod::error& e) {
  if (e) {
    close(e);
    return;
  }
  state_ = state::ready;
  setup_deadline_ = {};
  arm_timer();
  if (auto cb = std::move(on_ready_)) cb({});
  write_more();
}

void connection::send(std::int16_t api_key, std::int16_t version, std::vector<asio::const_buffer> body,
                      std::shared_ptr<void> keep_alive, bool expect_response, response_fn cb) {
  if (state_ == state::closed) {
    cb(error(client_errc::connection_lost, "connection to broker " + std::to_string(node_id_) + " is closed"), {});
    return;
  }
  const std::int32_t corr = next_correlation_id_;
  next_correlation_id_ = next_correlation_id_ == INT32_MAX ? 1 : next_correlation_id_ + 1;
  last_activity_ = steady_clock::now();

  outgoing out;
  std::size_t body_size = 0;
  for (const auto& b : body) body_size += b.size();
  const std::int16_t hv = protocol::request_header_version(api_key, version);
  const std::size_t header_size = 2 + 2 + 4 + 2 + opts_.client_id.size() + (hv >= 2 ? 1 : 0);
  out.head.reserve(4 + header_size);
  codec::byte_writer w(out.head);
  w.write_i32(static_cast<std::int32_t>(header_size + body_size));
  w.write_i16(api_key);
  w.write_i16(version);
  w.write_i32(corr);
  w.write_i16(static_cast<std::int16_t>(opts_.client_id.size()));  // ClientId is never compact, even in v2
  w.write_raw(opts_.client_id);
  if (hv >= 2) w.write_uvarint(0);  // no tagged fields
  out.body = std::move(body);
  out.keep_alive = keep_alive;

  if (expect_response) {
    pending_.push_back({corr, api_key, version, steady_clock::now() + opts_.request_timeout, std::move(cb),
                        std::move(keep_alive)});
    if (pending_.size() == 1) arm_timer();
  } else {
    unanswered_acks0_.insert(corr);
    out.on_written = std::move(cb);
  }
  write_queue_.push_back(std::move(out));
  write_more();
}

void connection::write_more() {
  if (write_in_progress_ || write_queue_.empty() || state_ == state::closed) return;
  // Gather everything queued into one write: fewer syscalls under load.
  writing_.clear();
  std::vector<asio::const_buffer> bufs;
  while (!write_queue_.empty()) {
    writing_.push_back(std::move(write_queue_.front()));
    write_queue_.pop_front();
  }
  for (auto& o : writing_) {
    bufs.emplace_back(o.head.data(), o.head.size());
    bufs.insert(bufs.end(), o.body.begin(), o.body.end());
  }
  write_in_progress_ = true;
  auto self = shared_from_this();
  asio::async_write(socket_, bufs, [self](const std::error_code& ec, std::size_t) {
    self->write_in_progress_ = false;
    if (self->state_ == state::closed) return;
    if (ec) {
      self->close(error(client_errc::connection_lost, "write to broker " + std::to_string(self->node_id_) + ": " +
                                                          ec.message()));
      return;
    }
    auto done = std::move(self->writing_);
    self->writing_.clear();
    for (auto& o : done) {
      if (o.on_written) o.on_written({}, {});
    }
    self->write_more();
  });
}

namespace {
constexpr std::size_t read_chunk = 64 * 1024;  // one recv; larger frames grow the buffer
constexpr std::size_t read_min_room = 4096;
}  // namespace

void connection::read_more() {
  // Room for at least a size prefix and a small response; compacted first so
  // that the buffer only grows for frames that need it.
  if (read_begin_ == read_end_) read_begin_ = read_end_ = 0;
  if (read_buf_.size() - read_end_ < read_min_room) {
    if (read_begin_ > 0) {
      std::memmove(read_buf_.data(), read_buf_.data() + read_begin_, read_end_ - read_begin_);
      read_end_ -= read_begin_;
      read_begin_ = 0;
    }
    if (read_buf_.size() - read_end_ < read_min_room) read_buf_.resize(std::max(read_chunk, read_end_ + read_min_room));
  }
  auto self = shared_from_this();
  socket_.async_read_some(
      asio::buffer(read_buf_.data() + read_end_, read_buf_.size() - read_end_),
      [self](const std::error_code& ec, std::size_t n) {
        if (self->state_ == state::closed) return;
        if (ec) {
          self->close(error(client_errc::connection_lost, "read from broker " + std::to_string(self->node_id_) +
                                                              ": " + ec.message()));
          return;
        }
        self->read_end_ += n;
        self->handle_frames();
        if (self->state_ == state::closed) return;
        if (!self->pending_.empty()) self->ack_now();
        self->read_more();
      });
}

void connection::handle_frames() {
  while (state_ != state::closed && read_end_ - read_begin_ >= 4) {
    codec::byte_reader r(read_buf_.data() + read_begin_, 4);
    const std::int32_t n = r.read_i32();
    if (n < 4 || static_cast<std::size_t>(n) > opts_.max_response_bytes) {
      close(error(client_errc::malformed_response,
                  "broker " + std::to_string(node_id_) + " sent a frame length of " + std::to_string(n)));
      return;
    }
    const std::size_t frame = 4 + static_cast<std::size_t>(n);
    if (read_end_ - read_begin_ < frame) {
      // Incomplete: make room for the whole frame so the next reads finish it.
      if (read_buf_.size() - read_begin_ < frame) {
        std::memmove(read_buf_.data(), read_buf_.data() + read_begin_, read_end_ - read_begin_);
        read_end_ -= read_begin_;
        read_begin_ = 0;
        if (read_buf_.size() < frame) read_buf_.resize(frame);
      }
      return;
    }
    const std::size_t at = read_begin_;
    read_begin_ += frame;  // before the callback: it may run anything, never this loop again
    handle_frame(std::span<const std::uint8_t>(read_buf_.data() + at + 4, static_cast<std::size_t>(n)));
  }
}

void connection::ack_now() {
  // More responses are due. A peer without TCP_NODELAY (librdkafka's mock,
  // some proxies) holds a small response back until its previous one is
  // acknowledged, and the kernel delays that ACK by up to 40 ms when we have
  // nothing to send: acknowledge at once instead. Linux only, best effort.
#ifdef TCP_QUICKACK
  const int one = 1;
  (void)::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#endif
}

void connection::handle_frame(std::span<const std::uint8_t> frame) {
  last_activity_ = steady_clock::now();
  codec::byte_reader r(frame.data(), frame.size());
  const std::int32_t corr = r.read_i32();
  if (pending_.empty() || pending_.front().correlation_id != corr) {
    if (unanswered_acks0_.erase(corr)) return;  // the mock answers acks=0 requests: drop
    close(error(client_errc::malformed_response, "broker " + std::to_string(node_id_) +
                                                     " answered unexpected correlation id " + std::to_string(corr)));
    return;
  }
  // Responses come in order: earlier acks=0 requests will never be answered.
  std::erase_if(unanswered_acks0_, [corr](std::int32_t c) { return c < corr; });
  pending_request req = std::move(pending_.front());
  pending_.pop_front();
  if (protocol::response_header_version(req.api_key, req.version) >= 1) {
    const std::uint32_t tags = r.read_uvarint();
    for (std::uint32_t i = 0; i < tags && r.ok(); ++i) {
      (void)r.read_uvarint();
      r.skip(r.read_uvarint());
    }
    if (!r.ok()) {
      close(error(client_errc::malformed_response, "bad response header from broker " + std::to_string(node_id_)));
      req.cb(error(client_errc::malformed_response, "bad response header"), {});
      return;
    }
  }
  arm_timer();
  auto body = std::span<const std::uint8_t>(r.position(), r.remaining());
  req.cb({}, body);
}

void connection::arm_timer() {
  if (state_ == state::closed) return;
  auto deadline = steady_clock::time_point::max();
  if (setup_deadline_ != steady_clock::time_point{}) deadline = setup_deadline_;
  if (!pending_.empty()) deadline = std::min(deadline, pending_.front().deadline);
  if (deadline == steady_clock::time_point::max()) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(deadline);
  auto self = shared_from_this();
  timer_.async_wait([self](const std::error_code& ec) {
    if (ec || self->state_ == state::closed) return;
    const auto now = steady_clock::now();
    if (self->setup_deadline_ != steady_clock::time_point{} && now >= self->setup_deadline_) {
      self->close(error(client_errc::timed_out, "connection setup to broker " + std::to_string(self->node_id_) +
                                                    " exceeded socket.connection.setup.timeout.ms"));
    } else if (!self->pending_.empty() && now >= self->pending_.front().deadline) {
      self->close(error(client_errc::timed_out, "request to broker " + std::to_string(self->node_id_) +
                                                    " exceeded request.timeout.ms"));
    } else {
      self->arm_timer();
    }
  });
}

void connection::close_gracefully(const kprod::error& why, std::chrono::milliseconds max_wait) {
  if (state_ == state::closed) return;
  if (state_ == state::ready && pending_.empty() && write_queue_.empty() && !write_in_progress_) {
    std::error_code ec;
    socket_.cancel(ec);  // our pending async read completes with operation_aborted, after close()
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    const int fd = socket_.native_handle();
    const auto deadline = steady_clock::now() + max_wait;
    std::uint8_t sink[4096];
    while (!ec) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{fd, POLLIN, 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (n <= 0) break;
      const ssize_t got = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
      if (got <= 0) break;  // EOF: the broker has everything and closed its side
    }
  }
  close(why);
}

void connection::close(const kprod::error& why) {
  if (state_ == state::closed) return;
  const bool was_starting = state_ != state::ready;
  state_ = state::closed;
  std::error_code ignored;
  resolver_.cancel();
  timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  // One teardown path: everything outstanding fails with the same error.
  auto pending = std::move(pending_);
  pending_.clear();
  auto queued = std::move(write_queue_);
  write_queue_.clear();
  auto writing = std::move(writing_);
  writing_.clear();
  for (auto& p : pending) p.cb(why, {});
  for (auto& o : queued) {
    if (o.on_written) o.on_written(why, {});
  }
  for (auto& o : writing) {
    if (o.on_written) o.on_written(why, {});
  }
  if (was_starting) {
    if (auto cb = std::move(on_ready_)) cb(why);
  }
  if (on_closed_) on_closed_(*this, why);
}

}  // namespace kprod::client
