// kprod produce: one record per input line, like `kcat -P`.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "commands.h"
#include "send_gate.h"

namespace kprod::cli {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t max_failures_printed = 10;

struct input_source {
  std::string name;
  int fd = -1;
};

struct produce_state {
  completion_gate gate;
  std::mutex mu;
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;
  std::uint64_t bytes = 0;
  std::string first_error;
  std::size_t failures_printed = 0;
  std::vector<std::string> source_names;

  void fail(std::uint32_t source, std::uint64_t line, const kprod::error& e) {
    std::lock_guard<std::mutex> lock(mu);
    ++failed;
    const std::string what = source_names[source] + ":" + std::to_string(line) + ": " + e.message();
    if (first_error.empty()) first_error = what;
    if (failures_printed < max_failures_printed) {
      std::fprintf(stderr, "kprod produce: record failed: %s\n", what.c_str());
      if (++failures_printed == max_failures_printed) {
        std::fprintf(stderr, "kprod produce: (further failures are only counted)\n");
      }
    }
  }
};

struct on_delivery {
  produce_state* state;
  std::uint64_t line;
  std::uint32_t source;
  std::uint32_t bytes;
  void operator()(const delivery_report& rep) const {
    if (rep.ok()) {
      std::lock_guard<std::mutex> lock(state->mu);
      ++state->delivered;
      state->bytes += bytes;
    } else {
      state->fail(source, line, rep.error);
    }
    state->gate.on_completion();
  }
};

struct parsed_header {
  std::string name;
  std::string value;
};

}  // namespace

int run_produce(const produce_options& o) {
  // Everything that can be checked locally is checked before connecting.
  std::optional<std::string> delim;
  if (o.key_delimiter) {
    auto d = unescape(*o.key_delimiter);
    if (!d) {
      std::fprintf(stderr, "kprod produce: bad key delimiter -K '%s': %s\n", o.key_delimiter->c_str(),
                   d.error().detail().c_str());
      return exit_usage;
    }
    if (d->empty() || d->find('\n') != std::string::npos) {
      std::fprintf(stderr, "kprod produce: bad key delimiter -K '%s': %s\n", o.key_delimiter->c_str(),
                   d->empty() ? "empty" : "must not contain a newline (records are lines)");
      return exit_usage;
    }
    delim = std::move(*d);
  }
  std::vector<parsed_header> parsed_headers;
  for (const auto& h : o.headers) {
    const auto eq = h.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "kprod produce: bad header -H '%s': expected NAME=VALUE\n", h.c_str());
      return exit_usage;
    }
    parsed_headers.push_back({h.substr(0, eq), h.substr(eq + 1)});
  }
  std::vector<header> headers;
  for (const auto& h : parsed_headers) headers.push_back({h.name, bytes_view(h.value)});

  std::vector<input_source> sources;
  auto close_sources = [&] {
    for (auto& s : sources) {
      if (s.fd > STDIN_FILENO) ::close(s.fd);
    }
  };
  if (o.files.empty()) sources.push_back({"stdin", STDIN_FILENO});
  for (const auto& f : o.files) {
    if (f == "-") {
      sources.push_back({"stdin", STDIN_FILENO});
      continue;
    }
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::fprintf(stderr, "kprod produce: cannot read '%s': %s\n", f.c_str(), std::strerror(errno));
      close_sources();
      return exit_usage;
    }
    sources.push_back({f, fd});
  }

  connection_options conn = o.conn;
  if (!o.compression.empty()) conn.properties.push_back("compression.type=" + o.compression);
  install_interrupt_handler();
  auto s = open_session("produce", conn, {o.topic});
  if (!s) {
    close_sources();
    return exit_usage;
  }
  // Elapsed counts producing, not starting an embedded mock cluster.
  const auto t0 = std::chrono::steady_clock::now();
  producer& p = *s->prod;
  const auto max_block = p.config().max_block;

  produce_state state;
  for (const auto& src : sources) state.source_names.push_back(src.name);
  std::uint64_t sent = 0;
  bool input_error = false;
  std::string line;
  for (std::uint32_t si = 0; si < sources.size() && !interrupted() && !input_error; ++si) {
    line_reader reader(sources[si].fd);
    for (std::uint64_t n = 1;; ++n) {
      const auto st = reader.next(&line);
      if (st == line_reader::status::eof || st == line_reader::status::interrupted) break;
      if (st == line_reader::status::error) {
        std::fprintf(stderr, "kprod produce: error reading '%s': %s\n", sources[si].name.c_str(),
                     reader.error_text().c_str());
        input_error = true;
        break;
      }
      record r;
      r.topic = o.topic;
      if (o.partition && *o.partition >= 0) r.partition = *o.partition;
      r.headers = headers;
      std::string_view text(line);
      std::size_t pos = delim ? text.find(*delim) : std::string_view::npos;
      if (pos != std::string_view::npos) {
        r.key = text.substr(0, pos);
        r.value = text.substr(pos + delim->size());
      } else {
        r.value = text;  // no delimiter in the line: null key, like kcat
      }
      const auto bytes = static_cast<std::uint32_t>(std::min<std::size_t>(
          (r.key ? r.key->size() : 0) + r.value->size(), UINT32_MAX));
      on_delivery cb{&state, n, si, bytes};
      ++sent;
      auto res = send_with_backpressure(p, r, cb, state.gate, max_block);
      if (!res) state.fail(si, n, res.error());
    }
  }
  close_sources();

  // Never hang: the library completes every record within delivery.timeout.ms;
  // the extra margin only guards against a bug there. Ctrl-C: at most 5 s more.
  const auto delivery_timeout = p.config().delivery_timeout.value_or(120000ms);
  auto fl = flush_interruptible(p, delivery_timeout + 5000ms, 5000ms);
  if (!fl && !interrupted()) {
    std::fprintf(stderr, "kprod produce: flush: %s\n", fl.error().message().c_str());
  }
  (void)p.close(0ms);  // whatever is still pending fails with producer_closed
  const double elapsed = seconds_since(t0);

  std::lock_guard<std::mutex> lock(state.mu);
  const std::uint64_t lost = sent - state.delivered;
  std::fprintf(stderr, "kprod produce: %llu records delivered, %llu failed, %llu bytes, %s s%s\n",
               static_cast<unsigned long long>(state.delivered), static_cast<unsigned long long>(lost),
               static_cast<unsigned long long>(state.bytes), format_double(elapsed, 3).c_str(),
               interrupted() ? " (interrupted)" : "");
  if (!state.first_error.empty()) {
    std::fprintf(stderr, "kprod produce: first error: %s\n", state.first_error.c_str());
  } else if (lost > 0) {
    std::fprintf(stderr, "kprod produce: %llu records had no delivery report\n",
                 static_cast<unsigned long long>(lost));
  }
  return (lost == 0 && !input_error) ? exit_ok : exit_failed;
}

}  // namespace kprod::cli
