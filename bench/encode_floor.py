#!/usr/bin/env python3
"""The encode floor: kprod's per-record cost of encoding alone, from the
microbenchmarks in bench/producer_bench.cc, to put beside the whole client's
CPU/record from bench/compare.

  floor(size, codec) = append(size)                       one record into an open batch
                     + seal(codec, size) / records         compression + CRC of a ~64 KiB batch
                     + produce_encode(size) / records      Produce v7 framing of 6 such batches

The partitioner (murmur2 over 1000 keys) is shown beside it, not added. The
rest of kprod's CPU/record is everything else: send() bookkeeping, buffer
accounting, the I/O thread, syscalls, delivery callbacks, the perf tool.

  bench/encode_floor.py --bench build/bench/kprod_microbench [--json out.json]
"""
import argparse
import json
import subprocess
import sys

CODECS = {0: "none", 3: "lz4", 4: "zstd"}
# (size, codec) -> the bench/compare workload measuring the whole client.
WORKLOAD_OF = {(10, "none"): "10B", (100, "none"): "100B", (1000, "none"): "1KB", (100000, "none"): "100KB",
               (1000, "lz4"): "1KB-lz4", (1000, "zstd"): "1KB-zstd", (100, "zstd"): "100B-zstd"}
FILTER = "BM_Floor|BM_Partition|BM_Crc32cHardware|BM_Varlong"
ESTIMATE_S = 40  # the filtered microbenchmarks at 0.1 s minimum time each


def ns_per_item(b):
    ips = b.get("items_per_second")
    return 1e9 / ips if ips else None


def run(bench, min_time="0.1"):
    cmd = [bench, f"--benchmark_filter={FILTER}", "--benchmark_format=json", f"--benchmark_min_time={min_time}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        print(f"encode_floor: {' '.join(cmd)} failed: {out.stderr[-2000:]}", file=sys.stderr)
        return None
    data = json.loads(out.stdout)
    append, seal, encode, other = {}, {}, {}, {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            continue
        parts = b["name"].split("/")
        ns = ns_per_item(b)
        if parts[0] == "BM_FloorAppend":
            append[int(parts[1])] = ns
        elif parts[0] == "BM_FloorSeal":
            seal[(int(parts[2]), CODECS.get(int(parts[1]), parts[1]))] = dict(ns=ns, ratio=b.get("ratio"))
        elif parts[0] == "BM_FloorProduceEncode":
            encode[int(parts[1])] = ns
        else:
            other[b["name"]] = dict(real_ns=b["real_time"] if b.get("time_unit") == "ns" else None, ns_per_item=ns,
                                    bytes_per_second=b.get("bytes_per_second"))
    floors = []
    for (size, codec), s in sorted(seal.items()):
        if size in append and size in encode:
            floors.append(dict(size=size, codec=codec, append_ns=append[size], seal_ns=s["ns"],
                               encode_ns=encode[size], floor_ns=append[size] + s["ns"] + encode[size],
                               ratio=s["ratio"], workload=WORKLOAD_OF.get((size, codec))))
    keyed = other.get("BM_PartitionKeyed", {}).get("ns_per_item")
    sticky = other.get("BM_PartitionStickyUnkeyed", {}).get("ns_per_item")
    return dict(context=data.get("context", {}), floors=floors, partition_keyed_ns=keyed,
                partition_sticky_ns=sticky, other=other)


def markdown(floor, compare_by_name=None):
    """compare_by_name: workload name -> compare.py metric summary, for kprod's CPU/record beside it."""
    if not floor:
        return "Encode floor: the microbenchmark run failed (see stderr)."
    L = ["Encode floor per record (kprod_microbench, ~64 KiB batches, Produce v7 of 6 batches); partitioner "
         f"alone: murmur2 keyed {fmt(floor['partition_keyed_ns'])} ns, sticky unkeyed "
         f"{fmt(floor['partition_sticky_ns'])} ns.", "",
         "| value size | codec | append ns | seal ns/rec | request ns/rec | floor ns/rec | compression ratio "
         "| kprod whole client µs/rec | floor share |", "|---|---|---|---|---|---|---|---|---|"]
    for f in floor["floors"]:
        whole, share = "", ""
        m = (compare_by_name or {}).get(f["workload"])
        if m and m["cpu_us_per_record"]["kprod"]:
            us = m["cpu_us_per_record"]["kprod"]["median"]
            whole = f"{us:.3f} ({f['workload']})"
            share = f"{f['floor_ns'] / (us * 1000):.0%}" if us else ""
        L.append(f"| {f['size']:,} B | {f['codec']} | {fmt(f['append_ns'])} | {fmt(f['seal_ns'])} | "
                 f"{fmt(f['encode_ns'])} | {fmt(f['floor_ns'])} | {f['ratio']:.2f} | {whole} | {share} |")
    return "\n".join(L)


def fmt(ns):
    if ns is None:
        return "n/a"
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bench/kprod_microbench")
    ap.add_argument("--min-time", default="0.1", help="--benchmark_min_time (seconds)")
    ap.add_argument("--json", metavar="FILE", help="write the numbers as JSON")
    args = ap.parse_args()
    floor = run(args.bench, args.min_time)
    print(markdown(floor))
    if args.json and floor:
        with open(args.json, "w") as f:
            json.dump(floor, f, indent=1)
    return 0 if floor else 1


if __name__ == "__main__":
    sys.exit(main())
