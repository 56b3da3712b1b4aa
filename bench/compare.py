#!/usr/bin/env python3
"""Side-by-side kprod vs librdkafka on the same mock cluster (A B A B ...).

For each workload: a fresh 3-broker mock cluster (tests/support host, its own
process), then `kprod perf` and `rdkafka_perf` alternately, --pairs times,
with the same records, keys, payload bytes and explicitly equal settings.
Prints medians, min-max and the kprod/librdkafka ratio as a Markdown table.

  bench/compare.py --build build [--pairs 5] [--records 2000000]
"""
import argparse
import json
import statistics
import subprocess
import sys

# (name, record size, keys, kprod -X settings, librdkafka -X settings)
COMMON_KPROD = ["acks=all", "enable.idempotence=true", "linger.ms=5", "batch.size=1000000",
                "buffer.memory=67108864", "max.in.flight.requests.per.connection=5", "max.request.size=10485760"]
COMMON_RDK = ["acks=all", "enable.idempotence=true", "linger.ms=5", "batch.size=1000000",
              "batch.num.messages=1000000", "queue.buffering.max.kbytes=65536", "queue.buffering.max.messages=0",
              "max.in.flight=5", "message.max.bytes=10485760", "message.timeout.ms=300000"]
WORKLOADS = [
    ("100 B keyed", 100, 1000, [], []),
    ("10 B keyed", 10, 1000, [], []),
    ("1 KB keyed", 1000, 1000, [], []),
    ("1 KB lz4", 1000, 1000, ["compression.type=lz4"], ["compression.codec=lz4"]),
]
METRICS = [("records_per_s", "records/s", "{:,.0f}"), ("cpu_us_per_record", "CPU µs/record", "{:.3f}"),
           ("p99", "ack p99 ms", "{:.2f}"), ("peak_rss_mb", "peak RSS MB", "{:.1f}")]


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    j = json.loads(out.stdout.strip().splitlines()[-1])
    j["p99"] = j["latency_ms"]["p99"]
    return j


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--records", type=int, default=2000000)
    args = ap.parse_args()
    host = f"{args.build}/tests/integration/support/kprod_mock_cluster"
    rows = []
    for name, size, keys, kx, rx in WORKLOADS:
        mock = subprocess.Popen([host, "--brokers", "3", "--topic", "bench:6"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        bootstrap = mock.stdout.readline().split()[1]
        base = ["-b", bootstrap, "-t", "bench", "--num-records", str(args.records), "--record-size", str(size),
                "--keys", str(keys), "--json"]
        kcmd = [f"{args.build}/tools/kprod", "perf"] + base + sum((["-X", x] for x in COMMON_KPROD + kx), [])
        rcmd = [f"{args.build}/bench/rdkafka_perf"] + base + sum((["-X", x] for x in COMMON_RDK + rx), [])
        results = {"kprod": [], "librdkafka": []}
        for _ in range(args.pairs):
            results["kprod"].append(run(kcmd))
            results["librdkafka"].append(run(rcmd))
        mock.stdin.write("quit\n")
        mock.stdin.flush()
        mock.wait(timeout=30)
        rows.append((name, results))
    print(f"| workload | metric | kprod median (min-max) | librdkafka median (min-max) | kprod/librdkafka |")
    print("|---|---|---|---|---|")
    for name, results in rows:
        for key, label, fmt in METRICS:
            k = [r[key] for r in results["kprod"]]
            r = [x[key] for x in results["librdkafka"]]
            km, rm = statistics.median(k), statistics.median(r)
            cell = lambda v: f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"
            print(f"| {name} | {label} | {cell(k)} | {cell(r)} | {km / rm:.2f} |")


if __name__ == "__main__":
    main()
