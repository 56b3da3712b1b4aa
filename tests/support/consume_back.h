// consume_back: read a topic back with consumers that share no code with
// kprod (kcat on librdkafka; python3-kafka) and compare with what was sent.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kprod/result.h"

namespace kprod::test {

using header_list = std::vector<std::pair<std::string, std::optional<std::string>>>;

struct consumed_record {
  std::int32_t partition = -1;
  std::int64_t offset = -1;  // in an *expected* record: -1 = not compared
  std::optional<std::string> key;    // nullopt = null key
  std::optional<std::string> value;  // nullopt = null value (tombstone)
  header_list headers;
  std::int64_t timestamp_ms = -1;    // in an *expected* record: -1 = not compared

  friend bool operator==(const consumed_record&, const consumed_record&) = default;
};

// Both read every partition of `topic` from the beginning to its end, sorted
// by (partition, offset). The topic is auto-created by the mock if missing.
//
// kcat limits (kcat 1.7.1 prints headers as unframed "n=v,n=v" text):
//  - a null header value and the 4-byte value "NULL" both read back as null;
//  - names or values containing ',' or '=' split wrongly; values are
//    truncated at the first NUL byte (printed with "%.*s");
//  - a message with no headers and one with an empty header list look alike.
// Compare kcat output with compare_options::headers_via_kcat, which applies
// the same loss to the expected headers (see kcat_header_view). Keys and
// values are length-prefixed and exact, including null vs empty.
result<std::vector<consumed_record>> consume_with_kcat(const std::string& bootstrap,
                                                       const std::string& topic,
                                                       std::chrono::milliseconds timeout);
// Exact for every field, headers included (null header values too).
result<std::vector<consumed_record>> consume_with_python(const std::string& bootstrap,
                                                         const std::string& topic,
                                                         std::chrono::milliseconds timeout);

// Parsers of the two consumers' outputs (exposed for tests of the harness).
// The kcat format is kcat_format().
std::string kcat_format();
result<std::vector<consumed_record>> parse_kcat_output(std::string_view out);
result<std::vector<consumed_record>> parse_python_output(std::string_view out);

// What kcat can show of these headers: rendered the way kcat prints them,
// then parsed back the way parse_kcat_output does.
header_list kcat_header_view(const header_list& headers);

struct compare_options {
  // Compare headers through kcat's lossy text form (for consume_with_kcat).
  bool headers_via_kcat = false;
};

// Records are grouped by partition; within a partition `expected` must match
// `actual` one to one and in order (expected's order is send order). Offsets
// and timestamps are compared where the expected value is not -1. The
// failure message names the first difference with partition, index, offset.
::testing::AssertionResult same_records(const std::vector<consumed_record>& expected,
                                        const std::vector<consumed_record>& actual,
                                        compare_options opts = {});

// One line, binary bytes escaped, long fields shortened.
std::string describe(const consumed_record& r);
std::string printable(const std::optional<std::string>& bytes);

}  // namespace kprod::test
