#include "support/consume_back.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/subprocess.h"

#ifndef KP_CONSUME_BACK_PY
#error "KP_CONSUME_BACK_PY must name tests/support/consume_back.py"
#endif
#ifndef KP_PYTHON3
#define KP_PYTHON3 "/usr/bin/python3"
#endif
#ifndef KP_KCAT
#define KP_KCAT "kcat"
#endif

namespace kprod::test {
namespace {

// Record framing for kcat's -f. Keys and values are read by their printed
// lengths, so only the header text depends on the terminator.
constexpr std::string_view kcat_record_start = "\x1e" "KCREC ";
constexpr std::string_view kcat_record_end = "\n\x1f" "KCEND\n";

kprod::error parse_error(std::string what) {
  return kprod::error(client_errc::malformed_response, std::move(what));
}

template <typename T>
bool parse_number(std::string_view s, T* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

header_list parse_kcat_headers(std::string_view text) {
  header_list out;
  if (text.empty()) return out;
  size_t pos = 0;
  for (;;) {
    const size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    const size_t eq = item.find('=');
    std::string name(item.substr(0, eq));
    std::optional<std::string> value;
    if (eq != std::string_view::npos) {
      std::string_view v = item.substr(eq + 1);
      if (v != "NULL") value = std::string(v);
    }
    out.emplace_back(std::move(name), std::move(value));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::optional<std::string> base64_decode(const nlohmann::json& j, bool* ok) {
  if (j.is_null()) return std::nullopt;
  if (!j.is_string()) {
    *ok = false;
    return std::nullopt;
  }
  const std::string& in = j.get_ref<const std::string&>();
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) {
    *ok = false;
    return std::nullopt;
  }
  std::string out;
  out.reserve(in.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '=') {
      if (i + 2 < in.size()) *ok = false;
      break;
    }
    const int v = value_of(in[i]);
    if (v < 0) {
      *ok = false;
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

void sort_by_partition_offset(std::vector<consumed_record>& v) {
  std::stable_sort(v.begin(), v.end(), [](const consumed_record& a, const consumed_record& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  });
}

std::string printable_headers(const header_list& h) {
  std::string s = "[";
  for (size_t i = 0; i < h.size(); ++i) {
    if (i > 0) s += ", ";
    s += printable(h[i].first) + "=" + printable(h[i].second);
  }
  return s + "]";
}

}  // namespace

std::string printable(const std::optional<std::string>& bytes) {
  if (!bytes) return "null";
  constexpr size_t max_shown = 48;
  std::string s = "\"";
  const char* hex = "0123456789abcdef";
  for (size_t i = 0; i < bytes->size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>((*bytes)[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      s += static_cast<char>(c);
    } else {
      s += "\\x";
      s += hex[c >> 4];
      s += hex[c & 0xF];
    }
  }
  s += "\"";
  if (bytes->size() > max_shown) s += "...(" + std::to_string(bytes->size()) + " bytes)";
  return s;
}

std::string describe(const consumed_record& r) {
  return "{partition " + std::to_string(r.partition) + ", offset " + std::to_string(r.offset) +
         ", ts " + std::to_string(r.timestamp_ms) + ", key " + printable(r.key) + ", value " +
         printable(r.value) + ", headers " + printable_headers(r.headers) + "}";
}

std::string kcat_format() {
  return std::string(kcat_record_start) + "%p %o %T %K %S\n%k%s\n%h" + std::string(kcat_record_end);
}

result<std::vector<consumed_record>> parse_kcat_output(std::string_view out) {
  std::vector<consumed_record> records;
  size_t pos = 0;
  while (pos < out.size()) {
    const std::string where = "kcat output record " + std::to_string(records.size()) + ": ";
    if (out.substr(pos, kcat_record_start.size()) != kcat_record_start) {
      return parse_error(where + "missing record start");
    }
    pos += kcat_record_start.size();
    const size_t nl = out.find('\n', pos);
    if (nl == std::string_view::npos) return parse_error(where + "truncated meta line");
    std::istringstream meta{std::string(out.substr(pos, nl - pos))};
    consumed_record r;
    long long key_len = 0, value_len = 0;
    if (!(meta >> r.partition >> r.offset >> r.timestamp_ms >> key_len >> value_len) ||
        key_len < -1 || value_len < -1) {
      return parse_error(where + "bad meta line");
    }
    pos = nl + 1;
    const size_t need = static_cast<size_t>(std::max(key_len, 0LL)) +
                        static_cast<size_t>(std::max(value_len, 0LL)) + 1;
    if (out.size() - pos < need) return parse_error(where + "truncated key/value");
    if (key_len >= 0) r.key = std::string(out.substr(pos, static_cast<size_t>(key_len)));
    pos += static_cast<size_t>(std::max(key_len, 0LL));
    if (value_len >= 0) r.value = std::string(out.substr(pos, static_cast<size_t>(value_len)));
    pos += static_cast<size_t>(std::max(value_len, 0LL));
    if (out[pos] != '\n') return parse_error(where + "no newline after value");
    ++pos;
    const size_t end = out.find(kcat_record_end, pos);
    if (end == std::string_view::npos) return parse_error(where + "missing record end");
    r.headers = parse_kcat_headers(out.substr(pos, end - pos));
    pos = end + kcat_record_end.size();
    records.push_back(std::move(r));
  }
  sort_by_partition_offset(records);
  return records;
}

result<std::vector<consumed_record>> parse_python_output(std::string_view out) {
  std::vector<consumed_record> records;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string_view::npos) nl = out.size();
    std::string_view line = out.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    const std::string where = "python output record " + std::to_string(records.size()) + ": ";
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return parse_error(where + "not a JSON object");
    try {
      consumed_record r;
      bool ok = true;
      r.partition = j.at("partition").get<std::int32_t>();
      r.offset = j.at("offset").get<std::int64_t>();
      r.timestamp_ms = j.at("timestamp").get<std::int64_t>();
      r.key = base64_decode(j.at("key"), &ok);
      r.value = base64_decode(j.at("value"), &ok);
      for (const auto& h : j.at("headers")) {
        if (!h.is_array() || h.size() != 2 || !h[0].is_string()) return parse_error(where + "bad header");
        r.headers.emplace_back(h[0].get<std::string>(), base64_decode(h[1], &ok));
      }
      if (!ok) return parse_error(where + "bad base64");
      records.push_back(std::move(r));
    } catch (const nlohmann::json::exception& e) {
      return parse_error(where + e.what());
    }
  }
  sort_by_partition_offset(records);
  return records;
}

header_list kcat_header_view(const header_list& headers) {
  // Rendered exactly as kcat 1.7.1's print_headers does.
  std::string text;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0) text += ',';
    text += headers[i].first + "=";
    const auto& v = headers[i].second;
    if (!v) {
      text += "NULL";
    } else {
      text += v->substr(0, v->find('\0'));
    }
  }
  return parse_kcat_headers(text);
}

result<std::vector<consumed_record>> consume_with_kcat(const std::string& bootstrap,
                                                       const std::string& topic,
                                                       std::chrono::milliseconds timeout) {
  auto run = run_process({KP_KCAT, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                          "-X", "check.crcs=true",
                          // The mock holds an empty fetch for fetch.wait.max.ms; -e waits for that.
                          "-X", "fetch.wait.max.ms=10", "-f", kcat_format()},
                         timeout);
  if (!run) return run.error();
  if (!run->status.success()) {
    return kprod::error(client_errc::fatal, "kcat " + run->status.describe() + ": " + run->err);
  }
  return parse_kcat_output(run->out);
}

result<std::vector<consumed_record>> consume_with_python(const std::string& bootstrap,
                                                         const std::string& topic,
                                                         std::chrono::milliseconds timeout) {
  // The script has its own deadline (so it can say how far it got); ours is
  // a little later and kills it if it hangs anyway.
  auto run = run_process({KP_PYTHON3, KP_CONSUME_BACK_PY, "--bootstrap", bootstrap, "--topic", topic,
                          "--timeout-ms", std::to_string(timeout.count())},
                         timeout + std::chrono::seconds(5));
  if (!run) return run.error();
  if (!run->status.success()) {
    return kprod::error(client_errc::fatal, "consume_back.py " + run->status.describe() + ": " + run->err);
  }
  return parse_python_output(run->out);
}

::testing::AssertionResult same_records(const std::vector<consumed_record>& expected,
                                        const std::vector<consumed_record>& actual,
                                        compare_options opts) {
  std::map<std::int32_t, std::vector<const consumed_record*>> exp_by_p, act_by_p;
  for (const auto& r : expected) exp_by_p[r.partition].push_back(&r);
  for (const auto& r : actual) act_by_p[r.partition].push_back(&r);
  for (const auto& [p, v] : act_by_p) exp_by_p.try_emplace(p);

  for (const auto& [p, exp] : exp_by_p) {
    const auto& act = act_by_p[p];
    const std::string at_p = "partition " + std::to_string(p);
    for (size_t i = 1; i < act.size(); ++i) {
      if (act[i]->offset <= act[i - 1]->offset) {
        return ::testing::AssertionFailure() << at_p << ": consumed offsets not increasing at index " << i
                                             << ": " << describe(*act[i]);
      }
    }
    const size_t common = std::min(exp.size(), act.size());
    for (size_t i = 0; i < common; ++i) {
      const consumed_record& e = *exp[i];
      const consumed_record& a = *act[i];
      std::string field;
      if (e.offset >= 0 && e.offset != a.offset) {
        field = "offset";
      } else if (e.key != a.key) {
        field = "key";
      } else if (e.value != a.value) {
        field = "value";
      } else if (e.timestamp_ms != -1 && e.timestamp_ms != a.timestamp_ms) {
        field = "timestamp";
      } else if ((opts.headers_via_kcat ? kcat_header_view(e.headers) : e.headers) != a.headers) {
        field = opts.headers_via_kcat ? "headers (as kcat shows them)" : "headers";
      }
      if (!field.empty()) {
        return ::testing::AssertionFailure()
               << at_p << " index " << i << " (consumed offset " << a.offset << "): " << field
               << " differs\n  expected: " << describe(e) << "\n  actual:   " << describe(a);
      }
    }
    if (exp.size() != act.size()) {
      auto f = ::testing::AssertionFailure();
      f << at_p << ": expected " << exp.size() << " records, consumed " << act.size();
      if (exp.size() > act.size()) {
        f << "; first missing: " << describe(*exp[common]);
      } else {
        f << "; first unexpected: " << describe(*act[common]);
      }
      return f;
    }
  }
  return ::testing::AssertionSuccess() << expected.size() << " records match";
}

}  // namespace kprod::test
