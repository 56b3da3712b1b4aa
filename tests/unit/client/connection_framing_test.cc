// The connection reads whatever the socket holds and cuts it into frames
// itself: many responses in one segment, a frame split over many segments
// (down to single bytes), and a frame far larger than its read buffer must
// all reach their callbacks whole, in order. A bad frame length still closes.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <thread>
#include <vector>

#include "client/connection.h"
#include "codec/byte_writer.h"
#include "protocol/generated/api_traits.h"
#include "protocol/generated/api_versions_response.h"

namespace kprod::client {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using bytes = std::vector<std::uint8_t>;

struct request_head {
  std::int16_t api_key;
  std::int16_t version;
  std::int32_t correlation_id;
};

request_head read_request(tcp::socket& s) {
  std::uint8_t size[4];
  asio::read(s, asio::buffer(size));
  const std::uint32_t n = (std::uint32_t{size[0]} << 24) | (std::uint32_t{size[1]} << 16) |
                          (std::uint32_t{size[2]} << 8) | size[3];
  bytes body(n);
  asio::read(s, asio::buffer(body));
  auto be16 = [&](std::size_t at) { return static_cast<std::int16_t>((body[at] << 8) | body[at + 1]); };
  const auto corr = static_cast<std::int32_t>((std::uint32_t{body[4]} << 24) | (std::uint32_t{body[5]} << 16) |
                                              (std::uint32_t{body[6]} << 8) | body[7]);
  return {be16(0), be16(2), corr};
}

// A response frame: size, correlation id (header v0), body.
bytes frame(std::int32_t corr, const bytes& body) {
  bytes out;
  codec::byte_writer w(out);
  w.write_i32(static_cast<std::int32_t>(4 + body.size()));
  w.write_i32(corr);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

bytes api_versions_body(std::int16_t version) {
  protocol::api_versions_response resp;
  for (const auto& api : protocol::client_api_versions) resp.api_keys.push_back({api.key, api.min_version, api.max_version, {}});
  bytes out;
  codec::byte_writer w(out);
  EXPECT_TRUE(protocol::encode(w, resp, version).ok());
  return out;
}

bytes body_for(int i) {
  // Mostly small bodies, one far larger than the connection's read buffer.
  const std::size_t n = i == 7 ? 300 * 1024 : static_cast<std::size_t>(1 + (i * 37) % 200);
  bytes b(n);
  for (std::size_t k = 0; k < n; ++k) b[k] = static_cast<std::uint8_t>(i * 31 + k);
  return b;
}

class ConnectionFraming : public ::testing::Test {
 protected:
  // Runs `serve` on the accepted socket in a thread of its own, and a
  // connection to it on `io_`; returns once the connection is ready.
  void start(std::function<void(tcp::socket&)> serve) {
    acceptor_.emplace(server_io_, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
    server_ = std::thread([this, serve = std::move(serve)] {
      tcp::socket s(server_io_);
      acceptor_->accept(s);
      const auto hello = read_request(s);
      asio::write(s, asio::buffer(frame(hello.correlation_id, api_versions_body(hello.version))));
      try {
        serve(s);
      } catch (const std::exception&) {  // the client closed: the test checks what it saw
      }
    });
    conn_ = std::make_shared<connection>(io_, 1, "127.0.0.1", acceptor_->local_endpoint().port(), connection_options{},
                                         [this](connection&, const kprod::error& e) { closed_with_ = e; });
    bool ready = false;
    conn_->start([&](const kprod::error& e) {
      ASSERT_FALSE(e) << e.message();
      ready = true;
    });
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (!ready && std::chrono::steady_clock::now() < end) io_.run_one_for(50ms);
    ASSERT_TRUE(ready);
  }
  void TearDown() override {
    if (conn_) conn_->close(kprod::error(client_errc::producer_closed, "test over"));
    if (server_.joinable()) server_.join();
  }

  asio::io_context io_;
  asio::io_context server_io_;
  std::optional<tcp::acceptor> acceptor_;
  std::thread server_;
  std::shared_ptr<connection> conn_;
  kprod::error closed_with_;
};

TEST_F(ConnectionFraming, ResponsesBatchedSplitAndOversizedArriveWholeAndInOrder) {
  constexpr int n = 40;
  start([](tcp::socket& s) {
    bytes all;
    for (int i = 0; i < n; ++i) {
      const auto head = read_request(s);
      const auto f = frame(head.correlation_id, body_for(i));
      all.insert(all.end(), f.begin(), f.end());
    }
    // The first dozen responses in one write, then byte by byte for a while
    // (frames and size prefixes cut anywhere), then the rest in big pieces.
    std::size_t at = 0;
    auto send = [&](std::size_t len) {
      len = std::min(len, all.size() - at);
      asio::write(s, asio::buffer(all.data() + at, len));
      at += len;
    };
    send(12 * 60);
    for (int k = 0; k < 300; ++k) {
      send(1);
      std::this_thread::sleep_for(100us);
    }
    while (at < all.size()) send(70000);
    std::uint8_t sink[1];
    asio::read(s, asio::buffer(sink));  // until the client closes
  });
  std::vector<bytes> got;
  for (int i = 0; i < n; ++i) {
    conn_->send(protocol::metadata_api::key, 0, {}, nullptr, true,
                [&got](const kprod::error& e, std::span<const std::uint8_t> body) {
                  ASSERT_FALSE(e) << e.message();
                  got.emplace_back(body.begin(), body.end());
                });
  }
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (got.size() < static_cast<std::size_t>(n) && std::chrono::steady_clock::now() < end) io_.run_one_for(50ms);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], body_for(i)) << "response " << i;
  EXPECT_FALSE(closed_with_) << closed_with_.message();
}

TEST_F(ConnectionFraming, NegativeFrameLengthAfterGoodFramesClosesTheConnection) {
  start([](tcp::socket& s) {
    const auto head = read_request(s);
    auto out = frame(head.correlation_id, body_for(1));
    const std::uint8_t bad[] = {0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0};
    out.insert(out.end(), std::begin(bad), std::end(bad));
    asio::write(s, asio::buffer(out));  // one segment: a good frame, then garbage
    (void)read_request(s);
    std::uint8_t sink[1];
    asio::read(s, asio::buffer(sink));
  });
  int ok = 0, failed = 0;
  auto cb = [&](const kprod::error& e, std::span<const std::uint8_t>) { (e ? failed : ok)++; };
  conn_->send(protocol::metadata_api::key, 0, {}, nullptr, true, cb);
  conn_->send(protocol::metadata_api::key, 0, {}, nullptr, true, cb);
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (ok + failed < 2 && std::chrono::steady_clock::now() < end) io_.run_one_for(50ms);
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(failed, 1);
  ASSERT_TRUE(conn_->closed());
  EXPECT_EQ(closed_with_.code(), make_error_code(client_errc::malformed_response)) << closed_with_.message();
}

}  // namespace
}  // namespace kprod::client
