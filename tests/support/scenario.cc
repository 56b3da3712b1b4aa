#include "support/scenario.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <iostream>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace kprod::test {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

scenario_step scenario_step::mock(std::size_t at_record, std::string command) {
  scenario_step s;
  s.at_record = at_record;
  s.label = "mock: " + command;
  s.action = [command](scenario_env& env) {
    auto r = env.mock.command(command);
    EXPECT_TRUE(r.ok()) << "mock command '" << command << "': " << (r.ok() ? "" : r.error().message());
  };
  return s;
}

scenario_step scenario_step::rule(std::size_t at_record, fault_rule r) {
  scenario_step s;
  s.at_record = at_record;
  s.label = "proxy rule";
  s.action = [r](scenario_env& env) { env.rule_ids.push_back(env.proxy.add_rule(r)); };
  return s;
}

scenario_step scenario_step::flush(std::size_t at_record, std::chrono::milliseconds timeout) {
  scenario_step s;
  s.at_record = at_record;
  s.label = "flush";
  s.action = [timeout](scenario_env& env) {
    auto r = env.prod.flush(timeout);
    EXPECT_TRUE(r.ok()) << "flush: " << (r.ok() ? "" : r.error().message());
  };
  return s;
}

scenario_step scenario_step::call(std::size_t at_record, std::string label, std::function<void(scenario_env&)> fn) {
  scenario_step s;
  s.at_record = at_record;
  s.label = std::move(label);
  s.action = std::move(fn);
  return s;
}

std::string scenario_value(std::size_t i, std::size_t value_bytes) {
  std::string v = "v" + std::to_string(i) + "-";
  if (v.size() < value_bytes) v.append(value_bytes - v.size(), static_cast<char>('a' + i % 26));
  return v;
}

std::string scenario_result::summary() const {
  std::ostringstream os;
  os << records.size() << " records: " << succeeded << " ok, " << failed << " failed";
  for (const auto& [what, n] : errors) os << " [" << n << " x " << what << "]";
  os << "; persisted " << (by_status.count(persistence::persisted) ? by_status.at(persistence::persisted) : 0)
     << ", possibly " << (by_status.count(persistence::possibly_persisted) ? by_status.at(persistence::possibly_persisted) : 0)
     << ", not " << (by_status.count(persistence::not_persisted) ? by_status.at(persistence::not_persisted) : 0)
     << "; mock duplicates " << mock_duplicates << ", mock gap appends " << mock_gap_appends << "; auditor: " << audit.requests << " requests, " << audit.batches
     << " batches, " << audit.resends << " resends, max unacked " << audit.max_unacked << "; rule hits";
  for (auto h : rule_hits) os << " " << h;
  os << "; retries " << metrics.retries << "; " << elapsed.count() << " ms";
  return os.str();
}

namespace {

const char* status_name(persistence p) {
  switch (p) {
    case persistence::not_persisted: return "not_persisted";
    case persistence::possibly_persisted: return "possibly_persisted";
    case persistence::persisted: return "persisted";
  }
  return "?";
}

// Collects examples of one kind of failure; reports a count and the first few.
class problems {
 public:
  explicit problems(std::string what) : what_(std::move(what)) {}
  template <typename F>
  void add(F&& describe) {
    if (count_++ < 8) {
      std::ostringstream os;
      describe(os);
      examples_ += "\n  " + os.str();
    }
  }
  void report(const std::string& where) const {
    if (count_ > 0) ADD_FAILURE() << where << ": " << count_ << " x " << what_ << examples_;
  }

 private:
  std::string what_;
  std::size_t count_ = 0;
  std::string examples_;
};

// "(pid/epoch/seq ...)": the identities a record was sent under.
std::string identities_text(const fault_proxy& proxy, const std::string& value) {
  std::string t = "(sent as";
  for (const auto& id : proxy.record_identities().identities_of(value)) {
    t += " pid " + std::to_string(std::get<0>(id)) + "/epoch " + std::to_string(std::get<1>(id)) + "/seq " +
         std::to_string(std::get<4>(id));
  }
  return t + ")";
}

// True if `later` (appended after `earlier` although sent before it) has a
// lower sequence than `earlier` in one (pid, epoch, partition) stream: a
// broker appends a stream in sequence order and answers
// OUT_OF_ORDER_SEQUENCE_NUMBER to a batch past a gap, so `earlier` was
// appended only because the mock does not check sequences (the client then
// never saw the error a broker would have sent).
bool gap_appended_by_mock(const fault_proxy& proxy, const std::string& later, const std::string& earlier) {
  const auto a = proxy.record_identities().identities_of(later);
  const auto b = proxy.record_identities().identities_of(earlier);
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (std::get<0>(x) == std::get<0>(y) && std::get<1>(x) == std::get<1>(y) && std::get<2>(x) == std::get<2>(y) &&
          std::get<3>(x) == std::get<3>(y) && std::get<4>(x) < std::get<4>(y))
        return true;
    }
  }
  return false;
}

struct sent_record {
  record_spec spec;
  clock_type::time_point enqueued;  // when async_send was called
};

// Timer thread for the steps that run at a time.
class step_timer {
 public:
  explicit step_timer(scenario_env& env) : env_(env), thread_([this] { loop(); }) {}
  ~step_timer() { finish(); }
  void add(clock_type::time_point at, const scenario_step* s) {
    std::lock_guard lk(mu_);
    due_.emplace_back(at, s);
    cv_.notify_all();
  }
  // Runs what is left (at its time), then stops.
  void finish() {
    {
      std::lock_guard lk(mu_);
      draining_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (true) {
      if (due_.empty()) {
        if (draining_) return;
        cv_.wait(lk);
        continue;
      }
      auto it = std::min_element(due_.begin(), due_.end(), [](auto& a, auto& b) { return a.first < b.first; });
      if (it->first > clock_type::now()) {
        cv_.wait_until(lk, it->first);
        continue;
      }
      const scenario_step* s = it->second;
      due_.erase(it);
      lk.unlock();
      SCOPED_TRACE("step " + s->label);
      s->action(env_);
      lk.lock();
    }
  }

  scenario_env& env_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<clock_type::time_point, const scenario_step*>> due_;
  bool draining_ = false;
  std::thread thread_;
};

void check_log(const std::string& consumer, const std::vector<consumed_record>& log,
               const std::vector<sent_record>& sent, const std::vector<record_outcome>& out,
               const std::unordered_map<std::string, std::size_t>& by_value, const fault_proxy& proxy,
               std::vector<int>* found, std::size_t* mock_duplicates, std::size_t* mock_gap_appends) {
  problems unknown("records in the log that were never sent");
  problems twice("records in the log twice, not as resends of one (pid, epoch, sequence)");
  problems missing("acknowledged records missing from the log");
  problems misplaced("acknowledged records at another partition/offset than reported");
  problems phantom("records reported not_persisted but in the log");
  problems disorder("acknowledged records out of send order within their partition");
  problems wrong_key("records with another key than sent");
  std::vector<int> copies(sent.size(), 0);
  std::vector<std::vector<std::pair<std::int32_t, std::int64_t>>> where(sent.size());
  std::map<std::int32_t, std::size_t> last_acked;  // partition -> last acknowledged index in log order
  for (const auto& c : log) {
    auto it = c.value ? by_value.find(*c.value) : by_value.end();
    if (it == by_value.end()) {
      unknown.add([&](auto& os) { os << describe(c); });
      continue;
    }
    const std::size_t i = it->second;
    if (c.key != sent[i].spec.key) wrong_key.add([&](auto& os) { os << "record " << i << ": " << describe(c); });
    where[i].emplace_back(c.partition, c.offset);
    if (copies[i]++ > 0) continue;
    if (!out[i].ok) continue;
    auto [p, fresh] = last_acked.try_emplace(c.partition, i);
    if (!fresh) {
      if (i < p->second && gap_appended_by_mock(proxy, sent[i].spec.value, sent[p->second].spec.value)) {
        ++*mock_gap_appends;
      } else if (i < p->second)
        disorder.add([&](auto& os) {
          os << "partition " << c.partition << " offset " << c.offset << ": record " << i << " "
             << identities_text(proxy, sent[i].spec.value) << " after record " << p->second << " "
             << identities_text(proxy, sent[p->second].spec.value);
        });
      p->second = std::max(p->second, i);
    }
  }
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (copies[i] > 1) {
      const std::size_t ids = proxy.record_identities().identities(sent[i].spec.value);
      if (ids != 1) {  // several identities, or not idempotent: a real duplicate
        twice.add([&](auto& os) { os << "record " << i << ": " << copies[i] << " copies, " << ids << " identities"; });
      } else {
        *mock_duplicates += static_cast<std::size_t>(copies[i] - 1);
      }
    }
    const record_outcome& o = out[i];
    if (o.ok && o.status == persistence::persisted) {
      if (copies[i] == 0) {
        missing.add([&](auto& os) { os << "record " << i << " (partition " << o.partition << " offset " << o.offset << ")"; });
      } else {
        const bool at = std::any_of(where[i].begin(), where[i].end(), [&](auto& w) {
          return w.first == o.partition && (o.offset < 0 || w.second == o.offset);
        });
        if (!at)
          misplaced.add([&](auto& os) {
            os << "record " << i << " reported " << o.partition << "@" << o.offset << ", log " << where[i][0].first
               << "@" << where[i][0].second;
          });
      }
    }
    if (o.completions == 1 && o.status == persistence::not_persisted && copies[i] > 0)
      phantom.add([&](auto& os) { os << "record " << i << ": " << o.message; });
  }
  for (const auto* p : {&unknown, &twice, &missing, &misplaced, &phantom, &disorder, &wrong_key}) p->report(consumer);
  if (found != nullptr) *found = std::move(copies);
}

void run_impl(const scenario_options& opts, scenario_result& res) {
  const auto started = clock_type::now();
  auto mc = mock_cluster::start(opts.brokers,
                                opts.create_topic ? std::vector<std::pair<std::string, int>>{{opts.topic, opts.partitions}}
                                                  : std::vector<std::pair<std::string, int>>{});
  ASSERT_TRUE(mc.ok()) << mc.error().message();
  mock_cluster& mock = **mc;
  for (const auto& cmd : opts.setup_commands) {
    auto r = mock.command(cmd);
    ASSERT_TRUE(r.ok()) << "setup '" << cmd << "': " << r.error().message();
  }
  fault_proxy_options popts;
  popts.seed = opts.proxy_seed;
  popts.track_record_identities = true;
  auto px = fault_proxy::start(mock.bootstrap(), popts);
  ASSERT_TRUE(px.ok()) << px.error().message();
  fault_proxy& proxy = **px;

  std::map<std::string, std::string> props = {{"linger.ms", "2"},
                                              {"batch.size", "4096"},
                                              {"request.timeout.ms", "2000"},
                                              {"delivery.timeout.ms", "20000"},
                                              {"retry.backoff.ms", "20"},
                                              {"retry.backoff.max.ms", "200"},
                                              {"reconnect.backoff.ms", "20"},
                                              {"reconnect.backoff.max.ms", "200"},
                                              {"max.block.ms", "10000"}};
  for (const auto& [k, v] : opts.config) props[k] = v;
  std::erase_if(props, [](const auto& kv) { return kv.second.empty(); });
  props["bootstrap.servers"] = proxy.bootstrap();
  props["kprod.broker.address.override"] = proxy.override_config();
  auto created = producer::create(props);
  ASSERT_TRUE(created.ok()) << created.error().message();
  std::unique_ptr<producer> prod = std::move(*created);
  const auto delivery_timeout = prod->config().delivery_timeout.value_or(120000ms);
  const auto max_block = prod->config().max_block;
  const bool acks0 = prod->config().acks == acks::none;

  std::vector<fault_proxy::rule_id> rule_ids;
  for (const auto& r : opts.rules) rule_ids.push_back(proxy.add_rule(r));
  scenario_env env{mock, proxy, *prod, opts.topic, rule_ids};

  const std::size_t n = opts.records;
  std::vector<sent_record> sent(n);
  std::unordered_map<std::string, std::size_t> by_value;
  by_value.reserve(n);
  std::mutex mu;
  std::condition_variable cv;
  std::size_t completed = 0;
  res.records.assign(n, record_outcome{});
  std::vector<clock_type::time_point> done_at(n);

  step_timer timer(env);
  const auto t0 = clock_type::now();
  for (const auto& s : opts.steps) {
    if (!s.at_record) timer.add(t0 + s.at_time.value_or(0ms) + s.delay, &s);
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& s : opts.steps) {
      if (s.at_record != i) continue;
      if (s.delay > 0ms) {
        timer.add(clock_type::now() + s.delay, &s);
      } else {
        SCOPED_TRACE("step " + s.label);
        s.action(env);
      }
    }
    record_spec& spec = sent[i].spec;
    spec.topic = opts.topic;
    spec.key = "k" + std::to_string(static_cast<int>(i % static_cast<std::size_t>(opts.keys)));
    spec.value = scenario_value(i, opts.value_bytes);
    if (opts.shape) opts.shape(i, spec);
    by_value.emplace(spec.value, i);
    record r;
    r.topic = spec.topic;
    r.partition = spec.partition;
    if (spec.key) r.key = bytes_view(*spec.key);
    r.value = bytes_view(spec.value);
    sent[i].enqueued = clock_type::now();  // the call may block up to max.block.ms
    prod->async_send(r, [&, i](delivery_report rep) {
      std::lock_guard lk(mu);
      record_outcome& o = res.records[i];
      ++o.completions;
      o.ok = rep.ok();
      o.code = rep.error.code();
      o.message = rep.error.message();
      o.status = rep.status;
      o.partition = rep.metadata.partition;
      o.offset = rep.metadata.offset;
      done_at[i] = clock_type::now();
      if (++completed == n) cv.notify_all();
    });
    if (opts.pace_every > 0 && (i + 1) % opts.pace_every == 0) std::this_thread::sleep_for(opts.pace_sleep);
  }
  const auto last_sent = clock_type::now();

  auto wait_all = [&](clock_type::time_point deadline) {
    std::unique_lock lk(mu);
    return cv.wait_until(lk, deadline, [&] { return completed == n; });
  };
  const auto bound = delivery_timeout + max_block + opts.completion_slack;
  if (opts.finish == finish_mode::close) {
    auto c = prod->close(opts.finish_timeout);
    EXPECT_TRUE(c.ok()) << "close: " << (c.ok() ? "" : c.error().message());
    std::lock_guard lk(mu);
    EXPECT_EQ(completed, n) << "records without a completion when close() returned";
  } else {
    if (opts.finish == finish_mode::flush) {
      auto f = prod->flush(opts.finish_timeout);
      if (opts.outcome == expect::all_succeed) {
        EXPECT_TRUE(f.ok()) << "flush: " << (f.ok() ? "" : f.error().message());
      }
      if (f.ok()) {
        std::lock_guard lk(mu);
        EXPECT_EQ(completed, n) << "flush() returned ok with records still pending";
      }
    }
    EXPECT_TRUE(wait_all(last_sent + bound)) << "not every record completed within delivery.timeout.ms + slack";
  }
  timer.finish();
  if (opts.finish != finish_mode::close) {
    auto c = prod->close(10s);
    EXPECT_TRUE(c.ok()) << "close: " << (c.ok() ? "" : c.error().message());
  }
  std::vector<int> completions_at_close(n);
  {
    std::lock_guard lk(mu);
    for (std::size_t i = 0; i < n; ++i) completions_at_close[i] = res.records[i].completions;
  }

  // Per record: one completion, in time, with a truthful status.
  problems not_once("records without exactly one completion");
  problems late("records completed later than delivery.timeout.ms + max.block.ms + slack after their send");
  problems lying("records whose persistence status contradicts their outcome");
  problems failed("records that failed although the scenario expects all to succeed");
  {
    std::lock_guard lk(mu);
    for (std::size_t i = 0; i < n; ++i) {
      record_outcome& o = res.records[i];
      if (o.completions != 1) {
        not_once.add([&](auto& os) { os << "record " << i << ": " << o.completions; });
        continue;
      }
      o.latency = std::chrono::duration_cast<std::chrono::milliseconds>(done_at[i] - sent[i].enqueued);
      if (o.latency > bound) late.add([&](auto& os) { os << "record " << i << ": " << o.latency.count() << " ms"; });
      const bool truthful = o.ok ? (o.status == persistence::persisted ||
                                    (acks0 && o.status == persistence::possibly_persisted))
                                 : o.status != persistence::persisted;
      if (!truthful) lying.add([&](auto& os) { os << "record " << i << ": ok=" << o.ok << " " << status_name(o.status); });
      if (!o.ok && opts.outcome == expect::all_succeed)
        failed.add([&](auto& os) { os << "record " << i << ": " << o.message; });
      (o.ok ? res.succeeded : res.failed)++;
      ++res.by_status[o.status];
      if (!o.ok) ++res.errors[o.code.message()];
    }
  }
  for (const auto* p : {&not_once, &late, &lying, &failed}) p->report("completions");

  // Read back from the mock itself (not through the proxy).
  std::vector<std::string> cleanup = {"up -1", "rtt -1 0"};
  cleanup.insert(cleanup.end(), opts.cleanup_commands.begin(), opts.cleanup_commands.end());
  for (const auto& cmd : cleanup) {
    auto r = mock.command(cmd);
    EXPECT_TRUE(r.ok()) << "cleanup '" << cmd << "': " << (r.ok() ? "" : r.error().message());
  }
  std::vector<int> found;
  std::optional<std::vector<consumed_record>> kcat_log;
  if (opts.consume_kcat) {
    auto kc = consume_with_kcat(mock.bootstrap(), opts.topic, 60s);
    EXPECT_TRUE(kc.ok()) << "kcat: " << (kc.ok() ? "" : kc.error().message());
    if (kc.ok()) {
      check_log("kcat", *kc, sent, res.records, by_value, proxy, &found, &res.mock_duplicates, &res.mock_gap_appends);
      kcat_log = std::move(*kc);
    }
  }
  if (opts.consume_python) {
    auto py = consume_with_python(mock.bootstrap(), opts.topic, 90s);
    EXPECT_TRUE(py.ok()) << "python3-kafka: " << (py.ok() ? "" : py.error().message());
    if (py.ok()) {
      std::size_t dups = 0, gaps = 0;
      check_log("python3-kafka", *py, sent, res.records, by_value, proxy, kcat_log ? nullptr : &found,
                kcat_log ? &dups : &res.mock_duplicates, kcat_log ? &gaps : &res.mock_gap_appends);
      if (kcat_log) {
        EXPECT_TRUE(same_records(*kcat_log, *py)) << "kcat and python3-kafka read different logs";
      }
    }
  }
  for (std::size_t i = 0; i < found.size(); ++i) res.records[i].found_in_log = found[i];

  {
    std::lock_guard lk(mu);
    std::size_t changed = 0;
    for (std::size_t i = 0; i < n; ++i) changed += res.records[i].completions != completions_at_close[i];
    EXPECT_EQ(changed, 0u) << "records completed after close() returned";
  }
  for (auto id : rule_ids) res.rule_hits.push_back(proxy.rule_hits(id));
  res.audit = proxy.auditor().stats();
  res.proxy = proxy.stats();
  res.metrics = prod->metrics();
  prod.reset();
  if (opts.check_auditor) {
    EXPECT_TRUE(proxy.auditor().no_violations());
  }
  proxy.stop();
  EXPECT_TRUE(exited_cleanly(mock.stop()));
  res.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started);
  res.ran = true;
}

}  // namespace

scenario_result run_scenario(const scenario_options& opts) {
  scenario_result res;
  run_impl(opts, res);
  if (res.ran) std::cout << "[ scenario ] " << res.summary() << std::endl;
  return res;
}

}  // namespace kprod::test
