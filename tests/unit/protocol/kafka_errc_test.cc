// The generated error table against a few hand-picked rows of errors.tsv, and
// row by row against the file itself when ../shared/kafka-protocol exists.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kprod/error.h"
#include "kprod/kafka_errc.h"

namespace kprod {
namespace {

TEST(KafkaErrc, HandPickedRows) {
  EXPECT_EQ(static_cast<int>(kafka_errc::unknown_server_error), -1);
  EXPECT_EQ(static_cast<int>(kafka_errc::none), 0);
  EXPECT_EQ(static_cast<int>(kafka_errc::offset_out_of_range), 1);
  EXPECT_EQ(static_cast<int>(kafka_errc::not_leader_or_follower), 6);
  EXPECT_EQ(static_cast<int>(kafka_errc::message_too_large), 10);
  EXPECT_EQ(static_cast<int>(kafka_errc::unsupported_version), 35);
  EXPECT_EQ(static_cast<int>(kafka_errc::out_of_order_sequence_number), 45);
  EXPECT_EQ(static_cast<int>(kafka_errc::duplicate_sequence_number), 46);
  EXPECT_EQ(static_cast<int>(kafka_errc::invalid_producer_epoch), 47);

  EXPECT_EQ(error_name(kafka_errc::not_leader_or_follower), "NOT_LEADER_OR_FOLLOWER");
  EXPECT_TRUE(is_retriable(kafka_errc::not_leader_or_follower));
  EXPECT_EQ(error_name(kafka_errc::message_too_large), "MESSAGE_TOO_LARGE");
  EXPECT_FALSE(is_retriable(kafka_errc::message_too_large));
  EXPECT_TRUE(is_retriable(kafka_errc::request_timed_out));
  EXPECT_FALSE(is_retriable(kafka_errc::unknown_server_error));
}

TEST(KafkaErrc, MessagesComeFromTheTable) {
  std::error_code ec = kafka_errc::unknown_server_error;
  EXPECT_STREQ(ec.category().name(), "kafka");
  EXPECT_EQ(ec.message(), "The server experienced an unexpected error when processing the request.");
  EXPECT_EQ(make_error_code(kafka_errc::request_timed_out).message(), "The request timed out.");
  EXPECT_EQ(make_error_code(kafka_errc::none).message(), "NONE");  // no broker text: the name
  std::error_code unknown(12345, kafka_category());
  EXPECT_EQ(unknown.message(), "unknown Kafka error 12345");
  EXPECT_FALSE(is_retriable(static_cast<kafka_errc>(12345)));
  EXPECT_EQ(error_name(static_cast<kafka_errc>(12345)), "");
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string col;
  while (std::getline(ss, col, '\t')) out.push_back(col);
  return out;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(' ');
  auto e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

TEST(KafkaErrc, EveryRowOfErrorsTsv) {
  std::ifstream in(std::string(KP_PROTOCOL_DIR) + "/errors.tsv");
  if (!in) GTEST_SKIP() << "errors.tsv not found next to the project";
  std::string line;
  std::getline(in, line);  // header: code name retriable java_exception message
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto cols = split_tabs(line);
    ASSERT_GE(cols.size(), 3u) << line;
    const auto code = static_cast<kafka_errc>(std::stoi(cols[0]));
    SCOPED_TRACE(cols[1]);
    EXPECT_EQ(error_name(code), cols[1]);
    EXPECT_EQ(is_retriable(code), cols[2] == "yes");
    const std::string text = cols.size() > 4 ? trim(cols[4]) : "";
    EXPECT_EQ(make_error_code(code).message(), text.empty() ? cols[1] : text);
    ++rows;
  }
  EXPECT_GT(rows, 100);
}

}  // namespace
}  // namespace kprod
