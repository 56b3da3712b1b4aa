#!/usr/bin/python3
"""Checks kprod's record batches with an independent reader: python3-kafka.

Runs the C++ writer (tests/interop/write_batches.cc), then parses every batch
it wrote with kafka.record (MemoryRecords / DefaultRecordBatch), validates the
CRC with python-kafka's own CRC-32C and compares header fields and records
against the writer's manifest.

Exit codes: 0 all verified, 1 a mismatch, 77 skipped (python3-kafka or one of
its codec libraries is missing; what could be checked still was).
"""
import json
import os
import subprocess
import sys

SKIP = 77
CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
# python3-kafka needs these Debian packages to decode the codecs.
CODEC_PACKAGES = {2: "python3-snappy", 3: "python3-lz4", 4: "python3-zstandard"}


def codec_available(codec):
    import kafka.codec as kc
    return {0: True, 1: kc.has_gzip(), 2: kc.has_snappy(), 3: kc.has_lz4(), 4: kc.has_zstd()}[codec]


def hex_or_none(b):
    return None if b is None else bytes(b).hex()


def check_batch(batch, want, failures):
    name = want["name"]

    def expect(what, got, exp):
        if got != exp:
            failures.append("%s: %s is %r, expected %r" % (name, what, got, exp))

    # Header fields through python-kafka's own struct layout.
    header = batch.HEADER_STRUCT.unpack_from(batch._buffer)
    (base_offset, length, _leader_epoch, magic, crc, _attrs, last_offset_delta,
     first_ts, max_ts, producer_id, producer_epoch, base_sequence, count) = header
    expect("size", length + 12, want["size"])
    expect("magic", magic, 2)
    expect("base offset", base_offset, 0)
    expect("crc", crc, want["crc"])
    expect("compression", batch.compression_type, want["codec"])
    expect("transactional", batch.is_transactional, want["transactional"])
    expect("control", batch.is_control_batch, False)
    expect("timestamp type", batch.timestamp_type, 0)
    expect("first timestamp", first_ts, want["base_timestamp"])
    expect("max timestamp", max_ts, want["max_timestamp"])
    expect("producer id", producer_id, want["producer_id"])
    expect("producer epoch", producer_epoch, want["producer_epoch"])
    expect("base sequence", base_sequence, want["base_sequence"])
    expect("record count", count, len(want["records"]))
    expect("last offset delta", last_offset_delta, len(want["records"]) - 1)
    if not batch.validate_crc():
        failures.append("%s: python-kafka's CRC-32C does not match the stored CRC" % name)

    got = list(batch)  # decompresses and parses every record
    expect("records read", len(got), len(want["records"]))
    for i, (rec, exp) in enumerate(zip(got, want["records"])):
        where = "record %d" % i
        expect(where + " offset", rec.offset, exp["offset"])
        expect(where + " timestamp", rec.timestamp, exp["timestamp"])
        expect(where + " key", hex_or_none(rec.key), exp["key"])
        expect(where + " value", hex_or_none(rec.value), exp["value"])
        expect(where + " headers", [[k, hex_or_none(v)] for k, v in rec.headers], exp["headers"])


def main():
    if len(sys.argv) != 3:
        print("usage: check_batches.py <writer-binary> <work-dir>")
        return 2
    writer, workdir = sys.argv[1], sys.argv[2]
    try:
        from kafka.record.default_records import DefaultRecordBatch
        from kafka.record.memory_records import MemoryRecords
    except ImportError as e:
        print("SKIPPED: python3-kafka is not installed (%s)" % e)
        return SKIP

    subprocess.run([writer, workdir], check=True)
    with open(os.path.join(workdir, "manifest.json")) as f:
        manifest = json.load(f)["batches"]
    with open(os.path.join(workdir, "batches.bin"), "rb") as f:
        data = f.read()

    records = MemoryRecords(data)
    failures, verified, skipped = [], [], []
    for want in manifest:
        batch = records.next_batch()
        if batch is None:
            failures.append("%s: python-kafka found no batch here" % want["name"])
            break
        if not isinstance(batch, DefaultRecordBatch):
            failures.append("%s: not read as a v2 batch" % want["name"])
            continue
        if not codec_available(want["codec"]):
            skipped.append(want["name"])
            continue
        before = len(failures)
        try:
            check_batch(batch, want, failures)
        except Exception as e:  # a parse error inside python-kafka is a failure too
            failures.append("%s: python-kafka raised %r" % (want["name"], e))
        if len(failures) == before:
            verified.append(want["name"])
    if records.has_next():
        failures.append("python-kafka found more batches than the manifest lists")

    for f in failures:
        print("FAIL " + f)
    print("verified by python-kafka: " + ", ".join(verified))
    if skipped:
        missing = sorted({CODEC_PACKAGES.get(w["codec"], "?") for w in manifest if w["name"] in skipped})
        print("NOT verified (codec library missing: %s): %s" % (", ".join(missing), ", ".join(skipped)))
    print("%d passed, %d failed" % (len(verified), len(manifest) - len(verified) - len(skipped)))
    if failures:
        return 1
    return SKIP if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
