// End-to-end: kprod produces to librdkafka's mock cluster (out of process);
// independent consumers (kcat with check.crcs, python3-kafka) read it back.
#include <gtest/gtest.h>

#include <asio/use_future.hpp>
#include <future>
#include <map>
#include <mutex>

#include "kprod/producer.h"
#include "support/consume_back.h"
#include "support/mock_cluster.h"

namespace kprod {
namespace {

using namespace std::chrono_literals;
using test::consumed_record;

std::map<std::string, std::string> base_props(const std::string& bootstrap) {
  return {{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}};
}

TEST(ProducerE2E, ProducesKeyedRecordsWithHeadersAndConsumesThemBack) {
  auto mc = test::mock_cluster::start(3, {{"t1", 6}});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  auto props = base_props((*mc)->bootstrap());
  auto p = producer::create(props);
  ASSERT_TRUE(p.ok()) << p.error().message();

  std::vector<consumed_record> expected;
  std::vector<std::future<delivery_report>> futures;
  for (int i = 0; i < 200; ++i) {
    std::string key = "key-" + std::to_string(i % 17);
    std::string value = "value-" + std::to_string(i);
    std::vector<header> hs = {{"h1", bytes_view("a")}, {"h2", std::nullopt}};
    record r{"t1", std::nullopt, bytes_view(key), bytes_view(value), hs, 1700000000000 + i};
    futures.push_back((*p)->async_send(r, asio::use_future));
    consumed_record c;
    c.key = key;
    c.value = value;
    c.headers = {{"h1", "a"}, {"h2", std::nullopt}};
    c.timestamp_ms = 1700000000000 + i;
    expected.push_back(c);
  }
  std::map<int, std::int64_t> last_offset;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    auto rep = futures[i].get();
    ASSERT_TRUE(rep.ok()) << rep.error.message();
    EXPECT_EQ(rep.status, persistence::persisted);
    EXPECT_EQ(rep.metadata.topic, "t1");
    EXPECT_GE(rep.metadata.offset, 0);
    auto [it, fresh] = last_offset.emplace(rep.metadata.partition, rep.metadata.offset);
    if (!fresh) {
      EXPECT_GT(rep.metadata.offset, it->second) << "offsets must grow in send order per partition";
      it->second = rep.metadata.offset;
    }
    expected[i].partition = rep.metadata.partition;
    expected[i].offset = rep.metadata.offset;
  }
  ASSERT_TRUE((*p)->close(10s).ok());

  auto py = test::consume_with_python((*mc)->bootstrap(), "t1", 30s);
  ASSERT_TRUE(py.ok()) << py.error().message();
  EXPECT_TRUE(test::same_records(expected, *py));
  auto kc = test::consume_with_kcat((*mc)->bootstrap(), "t1", 30s);
  ASSERT_TRUE(kc.ok()) << kc.error().message();
  test::compare_options kopts;
  kopts.headers_via_kcat = true;
  EXPECT_TRUE(test::same_records(expected, *kc, kopts));
  EXPECT_TRUE(test::exited_cleanly((*mc)->stop()));
}

}  // namespace
}  // namespace kprod
