#!/usr/bin/env python3
"""kprod vs librdkafka, side by side on librdkafka's mock cluster.

For each workload: a fresh 3-broker mock cluster in its own process
(tests/support/mock_cluster_host.cc), then `kprod perf` and `rdkafka_perf`
alternately (A B A B ...), --pairs times, with the same records (values from
tools/cli/payload_generator.h, keys "key-<i % K>"), the same pacing and
explicitly equal settings on both sides. Reports per workload the median,
min-max and kprod/librdkafka ratio of the medians of: records/s, MB/s, CPU
us/record, ack latency p50/p99/p99.9, peak RSS and wire bytes per batch.
Optionally the "encode floor" from the microbenchmarks (bench/encode_floor.py).
Before every run it records the machine's core-to-core cache-line round trip
(bench/core_latency): on a shared VM it swings several-fold within minutes,
and the cells that move the most lines between cores follow it; and during
every run, the host's steal time (/proc/stat), which paced tails follow.

  bench/compare --build build                       # whole matrix, ~8 min on 2 cores
  bench/compare --build build --quick --pairs 1     # smoke test, ~1 min
  bench/compare --build build --workloads 'lat-.*,100B' --markdown out.md --png out.png --raw out.json
  bench/compare --build build --workloads 'lat-.*' --idle-poll   # paced cells with idle CPUs polling (root)

Latency: delivery report time minus the time the record was due (paced
runs: start + i / rate, open loop; both load generators wait for it at the
least timer slack, tools/cli/timer_slack.h) or, unpaced, minus the time just
before the send call. The mock cluster acknowledges from memory: latencies are the
clients' own queueing, batching and I/O, not a real broker's. Both tools
stamp alike (tools/cli/tick_clock.h: raw TSC ticks where the TSC is invariant
and the kernel's clocksource, else steady_clock; paced runs steady_clock) and
keep per-thread, lock-free stats (tools/cli/perf_stats.h), so the harness's
own per-record cost is small and the same on both sides. At a full buffer
each uses its library's usual back-pressure: kprod perf blocks in send() (as
a Java producer does), rdkafka_perf polls 10 ms on QUEUE_FULL and retries.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encode_floor  # noqa: E402

# ---- settings -------------------------------------------------------------------------
# Every setting that differs between the clients' defaults is set on both.
BASE = dict(acks="all", idempotence=True, linger_ms=5, batch_bytes=1_000_000, buffer_bytes=32 << 20,
            max_in_flight=5, compression="none", partitions=6, keys=1000, size=100, threads=1, rate=None)


def kprod_props(s):
    p = [f"acks={s['acks']}", f"enable.idempotence={str(s['idempotence']).lower()}", f"linger.ms={s['linger_ms']}",
         f"batch.size={s['batch_bytes']}", f"buffer.memory={s['buffer_bytes']}",
         f"max.in.flight.requests.per.connection={s['max_in_flight']}", "max.request.size=10485760",
         "delivery.timeout.ms=120000", f"compression.type={s['compression']}",
         # Socket buffers: the OS's (autotuned) on both; kprod's own defaults
         # are Java's 128 KiB / 32 KiB, librdkafka's are the OS's.
         "send.buffer.bytes=-1", "receive.buffer.bytes=-1"]
    # kprod follows Java: lz4 level 9 (the default) is LZ4's fast mode, which
    # is what librdkafka's compression.level=0 selects; zstd 3 on both.
    if s["compression"] == "lz4":
        p.append("compression.lz4.level=9")
    if s["compression"] == "zstd":
        p.append("compression.zstd.level=3")
    return p


def rdkafka_props(s):
    p = [f"acks={s['acks']}", f"enable.idempotence={str(s['idempotence']).lower()}", f"linger.ms={s['linger_ms']}",
         f"batch.size={s['batch_bytes']}", "batch.num.messages=1000000",
         f"queue.buffering.max.kbytes={s['buffer_bytes'] // 1024}",
         # kprod has no record-count limit; librdkafka's maximum stands for "none".
         "queue.buffering.max.messages=10000000",
         f"max.in.flight={s['max_in_flight']}", "message.max.bytes=10485760", "message.timeout.ms=120000",
         f"compression.codec={s['compression']}", "socket.send.buffer.bytes=0", "socket.receive.buffer.bytes=0"]
    if s["compression"] == "lz4":
        p.append("compression.level=0")
    if s["compression"] == "zstd":
        p.append("compression.level=3")
    if s["keys"] == 0:
        # Null keys: librdkafka sticks to a random partition for this long
        # (its default, 2 x linger); kprod's KIP-794 sticky partitioner
        # switches after batch.size bytes instead. The semantics differ.
        p.append(f"sticky.partitioning.linger.ms={2 * s['linger_ms']}")
    return p


def W(name, group, records, note="", **over):
    s = dict(BASE)
    s.update(over)
    return dict(name=name, group=group, records=records, note=note, settings=s)


# records: the fair-benchmark protocol's run length (at least 10 M small records
# or about 3 s of the slower client, librdkafka, on a 2-core box; paced runs 2 s). Shorter runs (0.2-0.5 s, as before) leave
# start-up costs (first touch of the buffer's pages, connections, the last
# linger) in the per-record CPU and never reach either client's steady-state
# memory: librdkafka's peak RSS at 100 B went from ~22 MB at 2 M records to
# 27-66 MB at 10 M.
WORKLOADS = [
    W("100B", "throughput", 10_000_000, "baseline: 100 B, 1000 keys, acks=all+idempotence, linger 5, none"),
    W("10B", "throughput", 10_000_000, size=10),
    W("1KB", "throughput", 4_000_000, size=1000),
    W("100KB", "throughput", 80_000, size=100_000),
    W("100B-unkeyed", "throughput", 10_000_000, "null keys: sticky partitioning on both", keys=0),
    W("100B-acks1", "throughput", 10_000_000, "acks=1, no idempotence", acks="1", idempotence=False),
    W("100B-linger0", "throughput", 4_500_000, linger_ms=0),
    W("1KB-lz4", "throughput", 3_600_000, size=1000, compression="lz4"),
    W("1KB-zstd", "throughput", 3_600_000, size=1000, compression="zstd"),
    W("100B-zstd", "throughput", 7_000_000, compression="zstd"),
    W("lat-10k-linger0", "latency", 20_000, "paced 10k/s, acks=all, no idempotence", rate=10_000, linger_ms=0,
      idempotence=False),
    W("lat-10k-linger5", "latency", 20_000, rate=10_000, linger_ms=5, idempotence=False),
    W("lat-100k-linger0", "latency", 200_000, rate=100_000, linger_ms=0, idempotence=False),
    W("lat-100k-linger5", "latency", 200_000, rate=100_000, linger_ms=5, idempotence=False),
    W("lat-100k-linger0-idem", "latency", 200_000, "as lat-100k-linger0 with idempotence", rate=100_000,
      linger_ms=0, idempotence=True),
    W("lat-100k-linger5-idem", "latency", 200_000, "as lat-100k-linger5 with idempotence", rate=100_000,
      linger_ms=5, idempotence=True),
    W("100B-600p", "scaling", 5_000_000, "as 100B over 600 partitions (compare CPU/record with 100B)", partitions=600),
    W("100B-8threads", "scaling", 4_000_000, "as 100B with 8 application threads calling send", threads=8),
]

METRICS = [("records_per_s", "records/s", "{:,.0f}"), ("mb_per_s", "MB/s", "{:.1f}"),
           ("cpu_us_per_record", "CPU µs/rec", "{:.3f}"), ("p50", "ack p50 ms", "{:.2f}"),
           ("p99", "ack p99 ms", "{:.2f}"), ("p999", "ack p99.9 ms", "{:.2f}"),
           ("peak_rss_mb", "peak RSS MB", "{:.1f}"), ("batch_bytes_avg", "batch bytes", "{:,.0f}")]
# Seconds per run besides sending: process start, connect, metadata, and
# rdkafka_perf's wait for one last statistics emission.
RUN_OVERHEAD_S = 1.0
MOCK_OVERHEAD_S = 2.0  # start + quit of each workload's mock cluster


def run_seconds_estimate(w, quick):
    s = w["settings"]
    n = records_for(w, quick)
    if s["rate"]:
        return n / s["rate"] + RUN_OVERHEAD_S
    per_s = {10: 3_000_000, 100: 2_500_000, 1000: 1_000_000, 100_000: 13_000}[s["size"]]
    return n / per_s + RUN_OVERHEAD_S


def records_for(w, quick):
    return max(1, w["records"] // 10) if quick else w["records"]


def settings_text(s):
    parts = [f"{s['size']} B", f"{s['keys']} keys" if s["keys"] else "null keys", f"acks={s['acks']}",
             "idempotent" if s["idempotence"] else "not idempotent", f"linger {s['linger_ms']} ms",
             s["compression"], f"{s['partitions']} partitions"]
    if s["rate"]:
        parts.append(f"paced {s['rate']:,}/s")
    if s["threads"] > 1:
        parts.append(f"{s['threads']} threads")
    return ", ".join(parts)


# ---- running ----------------------------------------------------------------------------
class MockCluster:
    def __init__(self, host, partitions):
        # Leaders round-robin over the brokers (one set_leader per partition)
        # for few partitions; for many the mock's own assignment, which
        # already spreads them (600: 210/194/196) - 600 set_leader calls take
        # minutes on a loaded box.
        spread = ["--spread-leaders"] if partitions <= 50 else ["--no-spread-leaders"]
        self.proc = subprocess.Popen([host, "--brokers", "3", "--topic", f"bench:{partitions}"] + spread,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "BOOTSTRAP":
            self.close()
            raise RuntimeError(f"mock cluster did not start: {line}")
        self.bootstrap = line[1]

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def commands(build, w, bootstrap, quick):
    s = w["settings"]
    base = ["-t", "bench", "--num-records", str(records_for(w, quick)), "--record-size", str(s["size"]),
            "--keys", str(s["keys"]), "--threads", str(s["threads"]), "--json"]
    if s["rate"]:
        base += ["--throughput", str(s["rate"])]
    xs = lambda props: [a for p in props for a in ("-X", p)]  # noqa: E731
    kcmd = [f"{build}/tools/kprod", "perf", "-b", bootstrap] + base + xs(kprod_props(s))
    rcmd = [f"{build}/bench/rdkafka_perf", "-b", bootstrap] + base + xs(rdkafka_props(s))
    return kcmd, rcmd


def run_one(cmd):
    t0 = time.monotonic()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return dict(ok=False, error="timed out after 600 s", wall_s=600.0)
    wall = time.monotonic() - t0
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    try:
        j = json.loads(lines[-1])
    except (IndexError, ValueError):
        return dict(ok=False, error=f"exit {out.returncode}, no JSON; stderr: {out.stderr[-2000:]}", wall_s=wall)
    j.update(p50=j["latency_ms"]["p50"], p99=j["latency_ms"]["p99"], p999=j["latency_ms"]["p999"])
    ok = out.returncode == 0 and j.get("errors", 1) == 0
    return dict(ok=ok, result=j, wall_s=wall, error=None if ok else f"exit {out.returncode}: {out.stderr[-2000:]}")


def core_round_trips(build):
    """The machine's core-to-core cache-line round trip (ns) and cross-CPU wake round trip (µs) right now
    (bench/core_latency); None for what could not be measured."""
    try:
        out = subprocess.run([f"{build}/bench/core_latency"], capture_output=True, text=True, timeout=30)
        j = json.loads(out.stdout.strip().splitlines()[-1])
        return j.get("round_trip_ns"), j.get("wake_round_trip_us")
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError, AttributeError):
        return None, None


def host_cpu_ticks():
    """The host's CPU time so far as (steal ticks, all ticks) from /proc/stat, or None off Linux.
    Steal is time the hypervisor ran something else on this VM's vCPUs while they had work: a
    thread that was due to run (a paced sender, an I/O thread woken by a response) waits for
    it, and both clients' latency tails follow it."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already
    # inside user/nice.
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_percent(before, after):
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


class IdlePoll:
    """Holds the kernel's CPU latency request (/dev/cpu_dma_latency) at 0 us while open: idle CPUs
    then poll (cpuidle state POLL) instead of halting, as a low-latency tuned host (tuned's
    latency-performance profile) runs them. On a VM whose guest halts idle vCPUs at once
    (haltpoll.guest_halt_poll_ns=0 here), a halted vCPU is given to another tenant, and every
    wake-up of a paced run (the sending thread's timer, the I/O thread by a response, the broker's
    thread by a request) may wait for the host to run it again; polling keeps the vCPUs. The
    polling is the idle task's time, not charged to either client. Both
    clients run under it alike. Needs write access to the device (root)."""

    def __init__(self):
        self.fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
        os.write(self.fd, (0).to_bytes(4, sys.byteorder, signed=True))

    def close(self):
        os.close(self.fd)  # the request ends with the file


def run_workload(build, w, pairs, quick, raw, max_steal=None):
    """Runs `pairs` A/B pairs. With max_steal, a pair of a paced workload in which either run saw
    more host steal than that (percent) is run again, up to 4 x pairs pairs in all: the host, not
    the client, decides a paced tail while it takes the vCPUs away. Rerun pairs stay in the raw
    output and in runs["all"] (the report compares both); if no pair is clean, all are used."""
    host = f"{build}/tests/integration/support/kprod_mock_cluster"
    t0 = time.monotonic()
    mock = MockCluster(host, w["settings"]["partitions"])
    print(f"  {w['name']:<24} mock cluster up in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    try:
        kcmd, rcmd = commands(build, w, mock.bootstrap, quick)
        runs = {"kprod": [], "librdkafka": [], "core_rtt_ns": [], "wake_rtt_us": [], "steal_pct": [],
                "all": {"kprod": [], "librdkafka": []}, "rerun": [], "max_steal": None}
        screened = max_steal is not None and w["group"] == "latency"
        if screened:
            runs["max_steal"] = max_steal
        attempts = pairs * 4 if screened else pairs
        clean, pending = 0, []

        def keep(done):  # a pair's runs into the summary
            for client, r, rtt, wake, steal in done:
                runs["core_rtt_ns"].append(rtt)
                runs["wake_rtt_us"].append(wake)
                runs["steal_pct"].append(steal)
                if r["ok"]:
                    runs[client].append(r["result"])

        for pair in range(attempts):
            if clean >= pairs:
                break
            done = []
            for client, cmd in (("kprod", kcmd), ("librdkafka", rcmd)):
                # Measured before every run: the scaling cells follow the first,
                # the paced latency cells the second (core_latency.cc).
                rtt, wake = core_round_trips(build)
                ticks0 = host_cpu_ticks()
                r = run_one(cmd)
                steal = steal_percent(ticks0, host_cpu_ticks())
                raw.append(dict(workload=w["name"], client=client, pair=pair, cmd=cmd, core_rtt_ns=rtt,
                                wake_rtt_us=wake, steal_pct=steal, **r))
                status = "ok" if r["ok"] else "FAILED: " + r["error"].strip().splitlines()[-1][:200]
                stolen = f"  steal {steal:4.1f}%" if steal is not None else ""
                print(f"  {w['name']:<24} pair {pair + 1}/{attempts} {client:<10} {r['wall_s']:5.1f} s{stolen}  {status}",
                      file=sys.stderr, flush=True)
                done.append((client, r, rtt, wake, steal))
                if r["ok"]:
                    runs["all"][client].append(r["result"])
            stolen = [s for _, _, _, _, s in done]
            if screened and any(s is None or s > max_steal for s in stolen):
                raw[-1]["rerun"] = raw[-2]["rerun"] = True
                runs["rerun"].append(stolen)
                pending.append(done)
                print(f"  {w['name']:<24} pair {pair + 1} run again: host steal above {max_steal}%",
                      file=sys.stderr, flush=True)
                continue
            clean += 1
            keep(done)
        if screened and clean == 0:
            # No clean pair: the report says so and uses every pair.
            runs["max_steal"] = None
            for done in pending:
                keep(done)
            runs["no_clean_pair"] = True
        runs["clean_pairs"] = clean
        return runs
    finally:
        t0 = time.monotonic()
        mock.close()
        print(f"  {w['name']:<24} mock cluster closed in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)


# ---- reporting ---------------------------------------------------------------------------
def summary(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return dict(median=statistics.median(v), min=min(v), max=max(v), n=len(v))


def summarise(rows):
    out = []
    for w, runs in rows:
        m = {}
        for key, _, _ in METRICS:
            k = summary([r.get(key) for r in runs["kprod"]])
            r = summary([x.get(key) for x in runs["librdkafka"]])
            ratio = k["median"] / r["median"] if k and r and r["median"] else None
            m[key] = dict(kprod=k, librdkafka=r, ratio=ratio)
        m["core_rtt_ns"] = summary(runs.get("core_rtt_ns", []))
        m["wake_rtt_us"] = summary(runs.get("wake_rtt_us", []))
        m["steal_pct"] = summary(runs.get("steal_pct", []))
        if runs.get("max_steal") is not None or runs.get("no_clean_pair"):
            every = {}
            for key in ("p50", "p99", "p999"):
                k = summary([r.get(key) for r in runs["all"]["kprod"]])
                r = summary([x.get(key) for x in runs["all"]["librdkafka"]])
                every[key] = dict(kprod=k, librdkafka=r,
                                  ratio=k["median"] / r["median"] if k and r and r["median"] else None)
            m["screen"] = dict(max_steal=runs.get("max_steal"), rerun=len(runs.get("rerun", [])),
                               pairs=len(runs.get("rerun", [])) + runs.get("clean_pairs", 0),
                               no_clean_pair=bool(runs.get("no_clean_pair")), every=every)
        out.append((w, m))
    return out


def wide_spreads(summ, limit=0.10):
    out = []
    for w, m in summ:
        for key, label in (("records_per_s", "records/s"), ("cpu_us_per_record", "CPU")):
            for client in ("kprod", "librdkafka"):
                x = m[key][client]
                if x and x["median"] and (x["max"] - x["min"]) / x["median"] > limit:
                    out.append(f"{w['name']} {client} {label} {100 * (x['max'] - x['min']) / x['median']:.0f}%")
    return out


def cell(s, fmt):
    if not s:
        return "n/a"
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def markdown(summ, args, elapsed_s, floor):
    L = []
    L.append(f"kprod vs librdkafka {args.librdkafka_version} on a 3-broker mock cluster; {args.pairs} pair(s) per "
             f"workload, alternating A B; {'--quick, ' if args.quick else ''}matrix ran in {elapsed_s / 60:.1f} min.")
    mib = BASE["buffer_bytes"] >> 20
    L.append(f"Both clients: batch.size 1,000,000 B, {mib} MiB buffer (librdkafka queue.buffering.max.kbytes="
             f"{mib * 1024}, max.messages=10M), OS socket buffers, 5 in flight, max request 10 MiB, murmur2 for keys (librdkafka "
             "partitioner=murmur2_random), lz4 fast mode / zstd level 3, the same generated values and keys. "
             "Ratios are kprod/librdkafka of the medians (records/s, MB/s: higher is better for kprod above 1; "
             "CPU, latency, RSS: lower is better for kprod below 1).")
    if getattr(args, "idle_poll", False):
        L.append("Idle CPUs polled during every run (--idle-poll: /dev/cpu_dma_latency held at 0 us, so the vCPUs "
                 "were not halted and given to other tenants between wake-ups); without it the host's default "
                 "idle policy applies.")
    L.append("")
    L.append("| workload | settings | " + " | ".join(label for _, label, _ in METRICS) + " |")
    L.append("|---|---|" + "---|" * len(METRICS))
    for w, m in summ:
        ratios = [f"{m[k]['ratio']:.2f}" if m[k]["ratio"] is not None else "n/a" for k, _, _ in METRICS]
        L.append(f"| {w['name']} | {settings_text(w['settings'])} | " + " | ".join(ratios) + " |")
    L.append("")
    L.append("| workload | metric | kprod median (min-max) | librdkafka median (min-max) | kprod/librdkafka |")
    L.append("|---|---|---|---|---|")
    for w, m in summ:
        for key, label, fmt in METRICS:
            x = m[key]
            ratio = f"{x['ratio']:.2f}" if x["ratio"] is not None else "n/a"
            L.append(f"| {w['name']} | {label} | {cell(x['kprod'], fmt)} | {cell(x['librdkafka'], fmt)} | {ratio} |")
    notes = [f"- {w['name']}: {w['note']}" for w, _ in summ if w["note"]]
    if notes:
        L += ["", "Notes:"] + notes
    by_name = {w["name"]: m for w, m in summ}
    scal = []
    for a, b, what in (("100B", "100B-600p", "partitions 6 -> 600"), ("100B", "100B-8threads", "threads 1 -> 8")):
        if a in by_name and b in by_name:
            ka, kb = by_name[a]["cpu_us_per_record"]["kprod"], by_name[b]["cpu_us_per_record"]["kprod"]
            ra, rb = by_name[a]["cpu_us_per_record"]["librdkafka"], by_name[b]["cpu_us_per_record"]["librdkafka"]
            if ka and kb:
                r = f"{ra['median']:.3f} -> {rb['median']:.3f} µs" if ra and rb else "n/a"
                ca, cb = by_name[a]["core_rtt_ns"], by_name[b]["core_rtt_ns"]
                rtt = f"{ca['median']:.0f} -> {cb['median']:.0f} ns" if ca and cb else "n/a"
                scal.append(f"| {what} | {ka['median']:.3f} -> {kb['median']:.3f} µs (x{kb['median'] / ka['median']:.2f}) "
                            f"| {r} | {rtt} |")
    if scal:
        L += ["", "| scaling (CPU/record) | kprod | librdkafka | core-to-core round trip |", "|---|---|---|---|"] + scal
    rtts = [(w["name"], m["core_rtt_ns"]) for w, m in summ if m.get("core_rtt_ns")]
    if rtts:
        # On a shared VM the host moves the vCPUs apart and together; the
        # workloads that move the most lines between cores (600 partitions,
        # 8 threads) follow this round trip, one thread on 6 partitions not.
        L += ["", "Core-to-core cache-line round trip before each run (bench/core_latency; ns, median (min-max)): " +
              "; ".join(f"{n} {cell(x, '{:.0f}')}" for n, x in rtts) + "."]
    wakes = [(w["name"], m["wake_rtt_us"]) for w, m in summ if m.get("wake_rtt_us") and w["group"] == "latency"]
    if wakes:
        # Every paced record costs wake-ups across the two CPUs (the sender
        # wakes the I/O thread, the broker's response wakes it); where the
        # host makes those slow, both clients' tails follow.
        L += ["", "Cross-CPU wake round trip before each paced run (bench/core_latency; µs, median (min-max)): " +
              "; ".join(f"{n} {cell(x, '{:.1f}')}" for n, x in wakes) + "."]
    steals = [(w["name"], m["steal_pct"]) for w, m in summ if m.get("steal_pct")]
    if steals:
        # A VM whose host is oversubscribed loses its vCPUs for milliseconds
        # at a time: records due then wait, whichever client sends them.
        L += ["", "Host steal time during the runs (/proc/stat; % of this VM's CPU time, median (min-max)): " +
              "; ".join(f"{n} {cell(x, '{:.1f}')}" for n, x in steals) + "."]
    screens = [(w["name"], m["screen"]) for w, m in summ if m.get("screen")]
    if screens:
        # The pairs run again are not hidden: every pair's ratio is given beside.
        parts = []
        for n, sc in screens:
            e = sc["every"]["p99"]
            every = (f"p99 over every pair run: kprod {e['kprod']['median']:.2f} vs librdkafka "
                     f"{e['librdkafka']['median']:.2f} ms, ratio {e['ratio']:.2f}" if e["ratio"] is not None else "")
            if sc["no_clean_pair"]:
                parts.append(f"{n}: no pair without it in {sc['rerun']}, so every pair is used")
            else:
                parts.append(f"{n}: {sc['rerun']} of {sc['pairs']} pairs run again ({every})")
        limit = getattr(args, "max_steal", None)
        L += ["", f"Paced pairs run again because either run saw more than {limit}% host steal (--max-steal; "
                  "the table uses the other pairs): " + "; ".join(parts) + "."]
    wide = wide_spreads(summ)
    if wide:
        # The fair-benchmark protocol reruns a cell whose runs spread more
        # than 10%; the table shows them as measured, and names them here.
        L += ["", "Spread (max-min)/median above 10% (a noisy cell; rerun it with --workloads before relying "
                  "on its ratio): " + "; ".join(wide) + "."]
    if floor:
        L += ["", encode_floor.markdown(floor, {w["name"]: m for w, m in summ})]
    return "\n".join(L) + "\n"


def png(summ, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("compare: matplotlib missing (apt-get install python3-matplotlib); no PNG written", file=sys.stderr)
        return False
    keys = [(k, label) for k, label, _ in METRICS]
    names = [w["name"] for w, _ in summ]
    fig, ax = plt.subplots(figsize=(max(10, 0.9 * len(names) + 3), 6))
    width = 0.8 / len(keys)
    for i, (k, label) in enumerate(keys):
        xs, ys = [], []
        for j, (_, m) in enumerate(summ):
            if m[k]["ratio"]:
                xs.append(j + (i - len(keys) / 2 + 0.5) * width)
                ys.append(m[k]["ratio"])
        ax.bar(xs, ys, width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right")
    ax.set_ylabel("kprod / librdkafka (median ratio, log scale)")
    ax.set_title("kprod vs librdkafka: throughput >1 better, CPU/latency/RSS <1 better")
    ax.legend(ncol=4, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def librdkafka_version():
    try:
        out = subprocess.run(["pkg-config", "--modversion", "rdkafka"], capture_output=True, text=True)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory (kprod, rdkafka_perf, mock host, microbench)")
    ap.add_argument("--pairs", type=int, default=None, help="A/B pairs per workload (default 5; --quick: 1)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the records (smoke test, noisy numbers)")
    ap.add_argument("--workloads", default=None,
                    help="comma-separated regexes; a workload runs if one matches its name (fullmatch)")
    ap.add_argument("--list", action="store_true", help="list the workloads and the time estimate, run nothing")
    ap.add_argument("--markdown", metavar="FILE", help="write the Markdown report here (always printed too)")
    ap.add_argument("--png", metavar="FILE", help="bar chart of the ratios (matplotlib)")
    ap.add_argument("--raw", metavar="FILE", help="every run's command and JSON")
    ap.add_argument("--no-floor", action="store_true", help="skip the microbenchmark encode floor")
    ap.add_argument("--idle-poll", action="store_true",
                    help="hold /dev/cpu_dma_latency at 0 during the runs: idle CPUs poll instead of halting "
                         "(root; see IdlePoll)")
    ap.add_argument("--max-steal", type=float, default=None, metavar="PCT",
                    help="paced workloads: run a pair again while either run saw more host steal than PCT %% "
                         "(up to 4 x pairs; the report gives every pair's ratio too)")
    args = ap.parse_args()
    if args.max_steal is not None and not args.max_steal >= 0:  # also refuses nan
        ap.error(f"--max-steal must be a percentage >= 0, not {args.max_steal}")
    if args.pairs is None:
        args.pairs = 1 if args.quick else 5
    args.librdkafka_version = librdkafka_version()
    selected = WORKLOADS
    if args.workloads:
        pats = [re.compile(p.strip()) for p in args.workloads.split(",") if p.strip()]
        selected = [w for w in WORKLOADS if any(p.fullmatch(w["name"]) for p in pats)]
        if not selected:
            sys.exit(f"compare: no workload matches {args.workloads!r}; see --list")
    est = sum(run_seconds_estimate(w, args.quick) * 2 * args.pairs + MOCK_OVERHEAD_S for w in selected)
    est += 0 if args.no_floor else encode_floor.ESTIMATE_S
    if args.list:
        for w in selected:
            print(f"{w['name']:<24} {records_for(w, args.quick):>9,} records  {settings_text(w['settings'])}")
        print(f"estimated run time: {est / 60:.1f} min")
        return 0
    print(f"compare: {len(selected)} workloads x {args.pairs} pairs, estimated {est / 60:.1f} min", file=sys.stderr)
    idle = None
    if args.idle_poll:
        try:
            idle = IdlePoll()
        except OSError as e:
            sys.exit(f"compare: --idle-poll needs write access to /dev/cpu_dma_latency: {e}")
    t0 = time.monotonic()
    raw, rows = [], []
    try:
        for w in selected:
            rows.append((w, run_workload(args.build, w, args.pairs, args.quick, raw, args.max_steal)))
    finally:
        if idle:
            idle.close()
    floor = None
    if not args.no_floor:
        floor = encode_floor.run(f"{args.build}/bench/kprod_microbench")
    elapsed = time.monotonic() - t0
    summ = summarise(rows)
    md = markdown(summ, args, elapsed, floor)
    print(md)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump(dict(args=vars(args), elapsed_s=elapsed, runs=raw, floor=floor), f, indent=1)
    if args.png and not png(summ, args.png):
        return 1
    failed = sum(1 for r in raw if not r["ok"])
    if failed:
        print(f"compare: {failed} run(s) failed; see --raw", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
