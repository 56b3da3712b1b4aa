// socket.connection.setup.timeout.ms grows exponentially per failed attempt
// up to socket.connection.setup.timeout.max.ms (Java's behaviour): a broker
// that accepts but never answers the handshake is retried with longer and
// longer patience, not hammered at the base timeout.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "kprod/producer.h"

namespace kprod {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// Accepts connections, keeps them open, never writes a byte.
class silent_listener {
 public:
  silent_listener() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~silent_listener() {
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<steady::time_point> accepts() {
    std::lock_guard lk(mu_);
    return accepts_;
  }

 private:
  void accept() {
    acceptor_.async_accept([this](std::error_code ec, asio::ip::tcp::socket s) {
      if (ec) return;
      {
        std::lock_guard lk(mu_);
        accepts_.push_back(steady::now());
      }
      open_.push_back(std::move(s));
      accept();
    });
  }
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::vector<asio::ip::tcp::socket> open_;
  std::mutex mu_;
  std::vector<steady::time_point> accepts_;
  std::thread thread_;
};

TEST(ConnectionSetupTimeout, GrowsExponentiallyUpToTheMaximum) {
  silent_listener broker;
  auto p = producer::create({{"bootstrap.servers", "127.0.0.1:" + std::to_string(broker.port())},
                             {"socket.connection.setup.timeout.ms", "100"},
                             {"socket.connection.setup.timeout.max.ms", "400"},
                             {"reconnect.backoff.ms", "1"},
                             {"reconnect.backoff.max.ms", "1"}});
  ASSERT_TRUE(p.ok()) << p.error().message();
  const std::string v = "x";
  (*p)->async_send(record{"t", std::nullopt, std::nullopt, bytes_view(v), {}, std::nullopt}, [](delivery_report) {});
  const auto end = steady::now() + 10s;
  while (broker.accepts().size() < 6 && steady::now() < end) std::this_thread::sleep_for(10ms);
  (void)(*p)->close(0ms);
  const auto a = broker.accepts();
  ASSERT_GE(a.size(), 6u) << "the producer stopped reconnecting";
  // Attempt k waits about min(100 * 2^k, 400) ms (+-20%) before giving up.
  // Lower bounds only: a loaded machine can make attempts longer, never shorter.
  const double expected_ms[] = {100, 200, 400, 400, 400};
  for (std::size_t k = 0; k + 1 < 6; ++k) {
    const auto gap = std::chrono::duration<double, std::milli>(a[k + 1] - a[k]).count();
    EXPECT_GE(gap, 0.8 * expected_ms[k] - 5) << "attempt " << k;
  }
  // And capped: uncapped, the fifth attempt would wait 1600 ms (-20% = 1280).
  const auto last = std::chrono::duration<double, std::milli>(a[5] - a[4]).count();
  EXPECT_LT(last, 1000) << "the setup timeout did not stop growing at the maximum";
}

}  // namespace
}  // namespace kprod
