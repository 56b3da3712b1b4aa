// connection - one TCP connection to one broker.
//
// Owned and driven by the I/O thread only (no locks). It connects (trying
// every resolved address, within socket.connection.setup.timeout.ms),
// negotiates API versions (ApiVersions with the KIP-511 fallback), then
// pipelines requests: each gets a correlation id, responses are matched
// FIFO. Any failure - socket error, request timeout, malformed or
// unexpected bytes - takes one path, close(), which fails every pending
// request with that error; the caller reconnects with backoff.
//
// acks=0 Produce requests expect no response (a real broker sends none), but
// librdkafka's mock answers them anyway: such responses are recognised by
// their correlation id and dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "kprod/error.h"
#include "kprod/result.h"

namespace kprod::client {

struct connection_options {
  std::string client_id = "kprod";
  std::chrono::milliseconds setup_timeout{10000};
  std::chrono::milliseconds request_timeout{30000};
  std::int32_t send_buffer_bytes = -1;
  std::int32_t receive_buffer_bytes = -1;
  std::size_t max_response_bytes = 100 * 1024 * 1024;
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  using response_fn = std::function<void(const kprod::error&, std::span<const std::uint8_t> body)>;
  using closed_fn = std::function<void(connection&, const kprod::error&)>;

  connection(asio::io_context& io, std::int32_t node_id, std::string host, std::uint16_t port,
             connection_options opts, closed_fn on_closed);
  ~connection();

  // Connects and negotiates versions; `on_ready` runs once with the outcome.
  void start(std::function<void(const kprod::error&)> on_ready);

  // Sends a request whose body (after the request header) is `body`. The
  // buffers must stay valid until `cb` runs (or, without a response, until the
  // connection has written them: keep them in `keep_alive`). `cb` runs exactly
  // once: with the response body (after the response header), or an error.
  void send(std::int16_t api_key, std::int16_t version, std::vector<asio::const_buffer> body,
            std::shared_ptr<void> keep_alive, bool expect_response, response_fn cb);

  void close(const kprod::error& why);
  // For a producer that is closing: sends FIN after what was written, reads
  // (and discards) until the broker closes too or `max_wait` passes, then
  // close(why). Closing with unread bytes would make the kernel reset the
  // connection and drop what it had not sent yet - acks=0 records included.
  void close_gracefully(const kprod::error& why, std::chrono::milliseconds max_wait);

  std::int32_t node_id() const noexcept { return node_id_; }
  const std::string& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }
  bool ready() const noexcept { return state_ == state::ready; }
  bool closed() const noexcept { return state_ == state::closed; }
  std::size_t in_flight() const noexcept { return pending_.size(); }
  // When a request was last sent or a response last read (connections.max.idle.ms).
  std::chrono::steady_clock::time_point last_activity() const noexcept { return last_activity_; }
  // Highest common version for an API, -1 if the broker lacks it.
  std::int16_t version_for(std::int16_t api_key) const noexcept;

 private:
  enum class state { idle, connecting, negotiating, ready, closed };
  struct pending_request {
    std::int32_t correlation_id;
    std::int16_t api_key;
    std::int16_t version;
    std::chrono::steady_clock::time_point deadline;
    response_fn cb;
    std::shared_ptr<void> keep_alive;
  };
  struct outgoing {
    std::vector<std::uint8_t> head;  // size + request header
    std::vector<asio::const_buffer> body;
    std::shared_ptr<void> keep_alive;
    response_fn on_written;  // acks=0 requests complete once written
  };

  void on_resolved(const std::error_code& ec, asio::ip::tcp::resolver::results_type results);
  void on_connected(const std::error_code& ec);
  void negotiate(std::int16_t version);
  void write_more();
  void read_more();
  void handle_frames();
  void handle_frame(std::span<const std::uint8_t> frame);
  void ack_now();
  void arm_timer();
  void finish_start(const kprod::error& e);

  asio::io_context& io_;
  const std::int32_t node_id_;
  const std::string host_;
  const std::uint16_t port_;
  const connection_options opts_;
  closed_fn on_closed_;
  std::function<void(const kprod::error&)> on_ready_;

  asio::ip::tcp::resolver resolver_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  state state_ = state::idle;
  std::chrono::steady_clock::time_point setup_deadline_{};

  std::int32_t next_correlation_id_ = 1;
  std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();
  std::deque<pending_request> pending_;
  std::unordered_set<std::int32_t> unanswered_acks0_;  // acks=0 requests a mock may still answer
  std::deque<outgoing> write_queue_;
  std::vector<outgoing> writing_;
  bool write_in_progress_ = false;

  // Received bytes [read_begin_, read_end_) of read_buf_: one recv takes as
  // many responses as the socket holds (small Produce responses arrive in
  // bursts), and a frame larger than the buffer grows it.
  std::vector<std::uint8_t> read_buf_;
  std::size_t read_begin_ = 0;
  std::size_t read_end_ = 0;

  std::vector<std::int16_t> versions_;  // by api key; -1 = not supported
};

}  // namespace kprod::client
