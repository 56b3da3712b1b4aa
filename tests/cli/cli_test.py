#!/usr/bin/env python3
"""Tests that drive the kprod binary. One CTest test per case:

    cli_test.py --kprod PATH --mock-host PATH --kcat kcat CASE

Consume-back cases start the out-of-process mock (kprod_mock_cluster), produce
with `kprod produce -b`, then read the topic with kcat (check.crcs=true)."""

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

ARGS = None
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def kprod(*argv, stdin=None, timeout=60):
    p = subprocess.run([ARGS.kprod, *argv], input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def expect_error(argv, *needles, stdin=b""):
    rc, out, err = kprod(*argv, stdin=stdin, timeout=30)
    check(rc != 0, f"expected a non-zero exit for {argv}, got 0; stderr: {err}")
    for n in needles:
        check(n in err, f"stderr of {argv} should name {n!r}; got: {err!r}")
    return err


class MockCluster:
    """kprod_mock_cluster in its own process (tests/support/README.md)."""

    def __init__(self, brokers=3, topics=()):
        argv = [ARGS.mock_host, "--brokers", str(brokers)]
        for name, parts in topics:
            argv += ["--topic", f"{name}:{parts}"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        check(ready, "mock cluster did not print BOOTSTRAP within 15 s")
        line = self.proc.stdout.readline().decode().strip()
        check(line.startswith("BOOTSTRAP "), f"unexpected mock output {line!r}")
        self.bootstrap = line.split(" ", 1)[1]

    def command(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().decode().strip()
        check(reply.startswith("OK"), f"mock command {line!r}: {reply!r}")

    def stop(self):
        try:
            self.proc.stdin.write(b"quit\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = self.proc.wait(timeout=10)
        check(rc == 0, f"mock cluster exited with {rc} (crashed?)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.stop()
        else:
            self.proc.kill()
            self.proc.wait()


def kcat_consume(bootstrap, topic, fmt="%k\\t%s\\t%h\\n"):
    """Every record of `topic` as one formatted line each (unordered)."""
    argv = [ARGS.kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
            "-X", "check.crcs=true", "-f", fmt.replace("\\t", "\t").replace("\\n", "\n")]
    p = subprocess.run(argv, capture_output=True, timeout=30)
    check(p.returncode == 0, f"kcat failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    return p.stdout.decode().splitlines()


def summary_counts(err):
    """(delivered, failed) from kprod produce's summary line."""
    for line in err.splitlines():
        if "records delivered" in line:
            words = line.replace(",", "").split()
            i = words.index("delivered")
            return int(words[i - 2]), int(words[words.index("failed") - 1])
    raise Failure(f"no summary line in stderr: {err!r}")


# ---- argument errors (unit: no brokers) ---------------------------------------------

@case
def help_and_version():
    rc, out, _ = kprod("--help")
    check(rc == 0 and all(c in out for c in ("produce", "perf", "metadata")), f"--help: {rc} {out}")
    rc, out, _ = kprod("produce", "--help")
    check(rc == 0 and "-K" in out and "-X" in out and "--mock-cluster" in out, f"produce --help: {out}")
    rc, out, _ = kprod("perf", "--help")
    check(rc == 0 and "--num-records" in out and "--json" in out, f"perf --help: {out}")
    rc, out, _ = kprod("metadata", "--help")
    check(rc == 0 and "--json" in out, f"metadata --help: {out}")
    rc, out, _ = kprod("--version")
    check(rc == 0 and out.strip() == "0.1.0", f"--version: {rc} {out!r}")


@case
def unknown_subcommand():
    expect_error(["bogus"], "bogus")
    expect_error([], "subcommand")


@case
def unknown_flag():
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "--bogus-flag"], "--bogus-flag")
    expect_error(["perf", "-b", "127.0.0.1:1", "-t", "t", "--num-records", "1", "--record-size", "1",
                  "--nope"], "--nope")


@case
def missing_or_conflicting_connection():
    expect_error(["produce", "-t", "t"], "-b", "--mock-cluster")
    expect_error(["produce", "-b", "127.0.0.1:1", "--mock-cluster", "1", "-t", "t"], "exactly one")


@case
def unknown_property():
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-X", "no.such.property=1"], "no.such.property")


@case
def invalid_property_value():
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-X", "linger.ms=abc"], "linger.ms")
    expect_error(["perf", "-b", "127.0.0.1:1", "-t", "t", "--num-records", "1", "--record-size", "1",
                  "-X", "acks=maybe"], "acks")
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-X", "noequals"], "noequals", "PROP=VALUE")


@case
def properties_file():
    with tempfile.NamedTemporaryFile("w", suffix=".properties") as f:
        f.write("# comment\nlinger.ms = 7\n\nbatch.size=oops\n")
        f.flush()
        expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-F", f.name], "batch.size")
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-F", "/nonexistent/p.properties"],
                 "/nonexistent/p.properties")


@case
def unreadable_file():
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "/nonexistent/input.txt"], "/nonexistent/input.txt")


@case
def bad_delimiter():
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-K", "\\q"], "delimiter", "\\q")
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-K", "\\x4"], "delimiter")
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-K", "\\n"], "delimiter", "newline")
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-K", ""], "delimiter")


@case
def bad_header_and_codec():
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-H", "novalue"], "novalue")
    expect_error(["produce", "-b", "127.0.0.1:1", "-t", "t", "-z", "brotli"], "brotli")


@case
def perf_bad_arguments():
    expect_error(["perf", "-b", "127.0.0.1:1", "-t", "t", "--num-records", "10"], "--record-size")
    expect_error(["perf", "-b", "127.0.0.1:1", "-t", "t", "--record-size", "10"], "--num-records")
    expect_error(["perf", "-b", "127.0.0.1:1", "-t", "t", "--num-records", "10", "--payload-file",
                  "/nonexistent/payloads"], "/nonexistent/payloads")


# ---- against brokers (integration) ----------------------------------------------------

@case
def produce_stdin_keys_headers():
    lines = [f"k{i % 7}\tvalue {i}" for i in range(300)] + ["no delimiter here"]
    with MockCluster(3, [("t", 3)]) as mc:
        rc, _, err = kprod("produce", "-b", mc.bootstrap, "-t", "t", "-K", "\\t", "-H", "h1=v1",
                           "-H", "h2=x=y", stdin=("\n".join(lines) + "\n").encode())
        check(rc == 0, f"produce failed: {err}")
        check(summary_counts(err) == (301, 0), f"summary: {err}")
        got = kcat_consume(mc.bootstrap, "t")
    want = [f"k{i % 7}\tvalue {i}\th1=v1,h2=x=y" for i in range(300)] + ["\tno delimiter here\th1=v1,h2=x=y"]
    check(sorted(got) == sorted(want), f"consumed records differ: {sorted(set(got) ^ set(want))[:5]}")


def produce_files_with_codec(codec):
    with MockCluster(3, [("t", 4)]) as mc, tempfile.TemporaryDirectory() as d:
        files = []
        want = []
        for fi in range(2):
            path = os.path.join(d, f"in{fi}.txt")
            rows = [f"key-{fi}-{i % 11}|{codec} payload {fi}/{i} " + "abc" * (i % 50) for i in range(500)]
            with open(path, "w") as f:
                f.write("\n".join(rows))  # the last line has no newline: still a record
            files.append(path)
            want += [r.replace("|", "\t", 1) + "\t" for r in rows]
        rc, _, err = kprod("produce", "-b", mc.bootstrap, "-t", "t", "-K", "\\x7c", "-z", codec,
                           "-X", "linger.ms=20", *files)
        check(rc == 0, f"produce -z {codec} failed: {err}")
        check(summary_counts(err) == (1000, 0), f"summary: {err}")
        got = kcat_consume(mc.bootstrap, "t")
        # Proof the batches were compressed with the codec asked for is left to
        # kcat's decompression with CRC checks; here the records must survive.
    check(sorted(got) == sorted(want), f"-z {codec}: consumed records differ ({len(got)} vs {len(want)})")


for _codec in ("none", "gzip", "snappy", "lz4", "zstd"):
    CASES[f"produce_files_{_codec}"] = (lambda c: lambda: produce_files_with_codec(c))(_codec)


@case
def produce_partition_flag():
    with MockCluster(3, [("t", 3)]) as mc:
        rc, _, err = kprod("produce", "-b", mc.bootstrap, "-t", "t", "-p", "2",
                           stdin=b"".join(b"v%d\n" % i for i in range(50)))
        check(rc == 0, err)
        got = kcat_consume(mc.bootstrap, "t", fmt="%p %s\\n")
    check(sorted(got) == sorted(f"2 v{i}" for i in range(50)), f"records not all in partition 2: {got[:5]}")


@case
def produce_line_too_large():
    with MockCluster(1, [("t", 1)]) as mc:
        data = b"small 1\n" + b"x" * 5000 + b"\nsmall 3\n"
        rc, _, err = kprod("produce", "-b", mc.bootstrap, "-t", "t", "-X", "max.request.size=2048", stdin=data)
        check(rc != 0, f"expected failure for the long line: {err}")
        check("stdin:2:" in err and "too large" in err, f"error should name line 2: {err}")
        check(summary_counts(err) == (2, 1), f"summary: {err}")


@case
def produce_unreachable_brokers():
    t0 = time.monotonic()
    rc, _, err = kprod("produce", "-b", "127.0.0.1:1", "-t", "t", "-X", "request.timeout.ms=1000",
                       "-X", "delivery.timeout.ms=2000", "-X", "linger.ms=0", stdin=b"a\nb\n", timeout=30)
    took = time.monotonic() - t0
    check(rc != 0, f"expected failure: {err}")
    check(summary_counts(err) == (0, 2), f"summary: {err}")
    check("first error" in err, f"no first error: {err}")
    check(took < 15, f"took {took:.1f} s; delivery.timeout.ms was 2 s")


@case
def produce_mock_cluster():
    rc, _, err = kprod("produce", "--mock-cluster", "3", "--partitions", "5", "-t", "x", "-K", ":",
                       stdin=b"".join(b"k%d:v%d\n" % (i, i) for i in range(1000)))
    check(rc == 0, f"produce --mock-cluster failed: {err}")
    check(summary_counts(err) == (1000, 0), f"summary: {err}")


PERF_KEYS = {"records", "errors", "elapsed_s", "records_per_s", "mb_per_s", "batch_bytes_avg", "latency_ms",
             "cpu_s", "cpu_us_per_record", "peak_rss_mb"}


def perf_json(*extra, n=20000):
    rc, out, err = kprod("perf", "--mock-cluster", "3", "-t", "perf", "--num-records", str(n), *extra, "--json")
    check(rc == 0, f"perf failed: {err}")
    lines = [l for l in out.splitlines() if l.strip()]
    check(len(lines) == 1, f"--json must print one line on stdout, got {out!r}")
    j = json.loads(lines[0])
    check(set(j) == PERF_KEYS, f"keys: {sorted(j)}")
    check(set(j["latency_ms"]) == {"avg", "p50", "p95", "p99", "p999", "max"}, f"latency keys {j['latency_ms']}")
    check(j["records"] == n and j["errors"] == 0, f"records/errors: {j}")
    lat = j["latency_ms"]
    check(0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["p999"] <= lat["max"] * 1.0001, f"latency {lat}")
    check(0 < lat["avg"] <= lat["max"], f"latency {lat}")
    check(abs(j["records_per_s"] * j["elapsed_s"] - n) <= n * 0.01, f"records_per_s x elapsed != records: {j}")
    check(j["cpu_s"] > 0 and j["peak_rss_mb"] > 0, f"cpu/rss: {j}")
    check(abs(j["cpu_us_per_record"] - j["cpu_s"] * 1e6 / n) < 1e-6 * max(1, j["cpu_us_per_record"]) + 1e-9,
          f"cpu_us_per_record: {j}")
    return j, err


@case
def perf_json_mock_cluster():
    j, err = perf_json("--record-size", "100")
    check(abs(j["mb_per_s"] * j["elapsed_s"] * 1024 * 1024 - 100 * 20000) < 2000, f"mb_per_s: {j}")
    # 20000 records of 100 bytes: every batch holds at least one record (> 100
    # bytes on the wire) and none can exceed the default batch.size by much.
    check(isinstance(j["batch_bytes_avg"], (int, float)) and 100 < j["batch_bytes_avg"] <= 16384 + 200,
          f"batch_bytes_avg: {j['batch_bytes_avg']}")


@case
def perf_keys_and_payload_file():
    with tempfile.NamedTemporaryFile("w") as f:
        f.write("alpha\nbeta\n\ngamma\n")
        f.flush()
        j, err = perf_json("--payload-file", f.name, "--keys", "10", n=3000)
    # Bytes come from the delivery reports' serialized sizes: values alpha,
    # beta, gamma in turn (14 bytes per 3 records), keys key-0..key-9 (5 each).
    check(abs(j["mb_per_s"] * j["elapsed_s"] * 1024 * 1024 - (14 * 1000 + 5 * 3000)) < 50, f"mb_per_s: {j}")


@case
def perf_throttled():
    # 1500 records at 1000/s: the schedule alone takes 1.5 s.
    j, err = perf_json("--record-size", "50", "--throughput", "1000", n=1500)
    check(j["elapsed_s"] >= 1.45, f"throttled run too fast: {j['elapsed_s']} s")
    check(j["records_per_s"] <= 1100, f"throttled rate too high: {j['records_per_s']}")
    check(err.count("acked") >= 1, f"expected a progress line a second on non-terminal stderr: {err!r}")


@case
def perf_latency_log():
    # One line per acknowledged record, in due order, paced 2000/s: the due
    # times span the schedule and every latency is non-negative.
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "lat.txt")
        j, err = perf_json("--record-size", "20", "--throughput", "2000", "--latency-log", path, n=1000)
        rows = [tuple(map(int, line.split())) for line in open(path)]
    check(len(rows) == 1000 == j["records"], f"{len(rows)} log lines for {j['records']} records")
    due = [r[0] for r in rows]
    check(due == sorted(due), "log not in due order")
    check(400_000 <= due[-1] <= 600_000, f"last record due at {due[-1]} us, expected ~500 ms")
    check(all(r[1] >= 0 for r in rows), "negative latency")
    check(abs(sorted(r[1] for r in rows)[499] / 1000 - j["latency_ms"]["p50"]) < 5, "log disagrees with p50")


@case
def perf_latency_log_unpaced():
    # Unpaced, stamps may be TSC ticks: the log is still microseconds since
    # the start, within the run, and agrees with the JSON's percentiles.
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "lat.txt")
        j, err = perf_json("--record-size", "20", "--latency-log", path, n=20000)
        rows = [tuple(map(int, line.split())) for line in open(path)]
    check(len(rows) == 20000 == j["records"], f"{len(rows)} log lines for {j['records']} records")
    due = [r[0] for r in rows]
    check(due == sorted(due) and due[0] >= 0, "log not in order from the start")
    check(due[-1] <= j["elapsed_s"] * 1e6, f"last send at {due[-1]} us, after the run's end ({j['elapsed_s']} s)")
    lat = sorted(r[1] for r in rows)
    check(lat[0] >= 0, "negative latency")
    p50, p99 = lat[9999] / 1000, lat[19799] / 1000
    check(abs(p50 - j["latency_ms"]["p50"]) <= 0.01 * j["latency_ms"]["p50"] + 0.002, f"log p50 {p50} vs {j}")
    check(abs(p99 - j["latency_ms"]["p99"]) <= 0.01 * j["latency_ms"]["p99"] + 0.002, f"log p99 {p99} vs {j}")
    check(lat[-1] / 1000 <= j["latency_ms"]["max"] + 0.002, f"log max {lat[-1]} vs {j}")


@case
def perf_human_output():
    rc, out, err = kprod("perf", "--mock-cluster", "2", "-t", "p", "--num-records", "5000", "--record-size", "64")
    check(rc == 0, err)
    for needle in ("5000 records sent", "records/sec", "MB/sec", "p99.9", "producer cpu", "peak RSS"):
        check(needle in out, f"{needle!r} missing from {out!r}")


@case
def perf_unreachable_brokers():
    t0 = time.monotonic()
    rc, out, err = kprod("perf", "-b", "127.0.0.1:1", "-t", "t", "--num-records", "100", "--record-size", "10",
                         "-X", "delivery.timeout.ms=2000", "-X", "request.timeout.ms=1000", "--json", timeout=30)
    check(rc != 0, f"expected failure: {err}")
    check(time.monotonic() - t0 < 15, "perf on an unreachable broker must end within delivery.timeout.ms")
    j = json.loads(out)
    check(j["records"] == 0 and j["errors"] == 100, f"records/errors: {j}")
    check("first error" in err and "127.0.0.1:1" in err, f"error should name the broker: {err}")


@case
def metadata_mock_cluster():
    rc, out, err = kprod("metadata", "--mock-cluster", "3", "--partitions", "4", "-t", "m", "--json")
    check(rc == 0, err)
    j = json.loads(out)
    topics = j["topics"]
    check(len(topics) == 1 and topics[0]["topic"] == "m", f"topics: {topics}")
    parts = sorted(topics[0]["partitions"], key=lambda p: p["partition"])
    check([p["partition"] for p in parts] == [0, 1, 2, 3], f"partitions {parts}")
    check([p["leader"] for p in parts] == [1, 2, 3, 1], f"leaders not spread: {parts}")
    check(all(p["leader"] in p["replicas"] and p["isr"] for p in parts), f"replicas/isr: {parts}")
    check([b["id"] for b in j["brokers"]] == [1, 2, 3], f"brokers {j['brokers']}")
    check(all(b["host"] == "127.0.0.1" and 0 < b["port"] < 65536 for b in j["brokers"]), f"brokers {j['brokers']}")


@case
def metadata_text():
    with MockCluster(3, [("a", 2), ("b", 3)]) as mc:
        rc, out, err = kprod("metadata", "-b", mc.bootstrap, "-t", "a", "-t", "b")
        check(rc == 0, err)
        check('topic "a" with 2 partitions' in out and 'topic "b" with 3 partitions' in out, out)
        check("partition 2, leader 3, replicas:" in out, out)
        check(out.count(" broker ") == 3 and " 3 brokers:" in out, out)
        # Without -t: every topic of the cluster.
        rc, out, err = kprod("metadata", "-b", mc.bootstrap)
        check(rc == 0, err)
        check('topic "a" with 2 partitions' in out and 'topic "b" with 3 partitions' in out, out)


@case
def metadata_unreachable():
    t0 = time.monotonic()
    expect_error(["metadata", "-b", "127.0.0.1:1", "-t", "t", "-X", "max.block.ms=1000"], "max.block.ms")
    check(time.monotonic() - t0 < 15, "metadata on an unreachable broker must end within max.block.ms")


def interrupt_after_first_progress(p, expect_in_line, timeout=20):
    """Waits for the first progress line of a running `kprod perf` (checking
    it contains `expect_in_line`), sends SIGINT and returns (seconds to exit,
    stdout, stderr)."""
    line = p.stderr.readline().decode()
    check(expect_in_line in line, f"progress line without {expect_in_line!r}: {line!r}")
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=timeout)
    return time.monotonic() - t0, out.decode(), err.decode()


@case
def perf_sigint():
    p = subprocess.Popen([ARGS.kprod, "perf", "--mock-cluster", "3", "-t", "s", "--num-records", "100000000",
                          "--record-size", "100", "--throughput", "2000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # After the first progress line the run is under way.
    took, out, err = interrupt_after_first_progress(p, "acked")
    check(took < 8, f"exit took {took:.1f} s after SIGINT")
    check("records sent" in out, f"no summary after SIGINT: {out!r} {err!r}")
    check("interrupted" in err, f"stderr should say interrupted: {err!r}")
    check(p.returncode == 0, f"nothing was lost, exit should be 0: {p.returncode} {err}")


@case
def perf_sigint_loses_records():
    # Brokers down: every record waits (delivery.timeout.ms is the default 120 s)
    # until Ctrl-C; kprod must give up within its 5 s bound and exit non-zero.
    with MockCluster(1, [("t", 1)]) as mc:
        mc.command("down -1")
        p = subprocess.Popen([ARGS.kprod, "perf", "-b", mc.bootstrap, "-t", "t", "--num-records", "500",
                              "--record-size", "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        took, out, err = interrupt_after_first_progress(p, "500 in flight")
        check(took < 8, f"exit took {took:.1f} s after SIGINT")
        check(p.returncode != 0, f"records were lost, exit must be non-zero: {out} {err}")
        check("0 records sent" in out and "errors: 500" in out, f"summary: {out!r}")
        check("interrupted" in err and "not acknowledged" in err, f"stderr: {err!r}")
        mc.command("up -1")


@case
def perf_sigint_with_senders_blocked_on_a_full_buffer():
    # Brokers down and a 1 MiB buffer: both sending threads block in send()
    # (max.block.ms is the default 60 s) until Ctrl-C, which must free them.
    with MockCluster(1, [("t", 1)]) as mc:
        mc.command("down -1")
        p = subprocess.Popen([ARGS.kprod, "perf", "-b", mc.bootstrap, "-t", "t", "--num-records", "100000",
                              "--record-size", "1000", "--threads", "2", "-X", "buffer.memory=1048576"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        took, out, err = interrupt_after_first_progress(p, "in flight", timeout=30)
        check(took < 10, f"exit took {took:.1f} s after SIGINT")
        check(p.returncode != 0, f"records were lost, exit must be non-zero: {out} {err}")
        check("0 records sent" in out, f"summary: {out!r}")
        check("interrupted" in err and "not acknowledged" in err, f"stderr: {err!r}")
        mc.command("up -1")


@case
def produce_sigint():
    with MockCluster(3, [("t", 3)]) as mc:
        p = subprocess.Popen([ARGS.kprod, "produce", "-b", mc.bootstrap, "-t", "t"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdin.write(b"".join(b"line %d\n" % i for i in range(100)))
        p.stdin.flush()
        # stdin stays open: kprod waits for more input until Ctrl-C.
        deadline = time.monotonic() + 10
        got = []
        while time.monotonic() < deadline and len(got) < 100:
            got = kcat_consume(mc.bootstrap, "t", fmt="%s\\n")
        check(len(got) == 100, f"records not delivered before SIGINT: {len(got)}")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=15)
        err = err.decode()
        p.stdin.close()
        check(summary_counts(err) == (100, 0), f"summary after SIGINT: {err}")
        check(p.returncode == 0, f"exit {p.returncode}: {err}")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--kprod", required=True)
    ap.add_argument("--mock-host", required=True)
    ap.add_argument("--kcat", default="kcat")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("case", nargs="?")
    ARGS = ap.parse_args()
    if ARGS.list:
        print("\n".join(CASES))
        return 0
    try:
        CASES[ARGS.case]()
    except Failure as e:
        print(f"FAIL {ARGS.case}: {e}", file=sys.stderr)
        return 1
    print(f"ok {ARGS.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
