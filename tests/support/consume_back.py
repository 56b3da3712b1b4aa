#!/usr/bin/python3
"""Reads every partition of a topic from the beginning to its end offsets
(as of the start) with python3-kafka, an implementation independent of kprod
and librdkafka, and prints one JSON object per record on stdout:

  {"partition": P, "offset": O, "timestamp": MS, "timestamp_type": 0|1,
   "key": base64|null, "value": base64|null,
   "headers": [[name, base64|null], ...]}

Exit status 0 on success; 2 on bad usage; 3 when the end is not reached in
time; 4 on a Kafka error (message on stderr).

Settings that work with librdkafka 2.0.2's mock cluster: api_version (0, 11)
makes kafka-python use Metadata v1, ListOffsets v1 and Fetch v4 (the first
version carrying v2 record batches, so headers survive); no group (no
coordinator needed); check_crcs on.
"""

import argparse
import base64
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError


def b64(data):
    if data is None:
        return None
    return base64.b64encode(bytes(data)).decode("ascii")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--timeout-ms", type=int, default=30000)
    args = ap.parse_args()

    deadline = time.monotonic() + args.timeout_ms / 1000.0
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        check_crcs=True,
        api_version=(0, 11, 0),
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,  # the mock holds empty fetches this long
        request_timeout_ms=max(10000, min(args.timeout_ms, 60000)),
        # Headers and null/empty distinctions must come through untouched.
        key_deserializer=None,
        value_deserializer=None,
    )
    try:
        partitions = None
        while partitions is None:
            partitions = consumer.partitions_for_topic(args.topic)
            if partitions is None:
                if time.monotonic() > deadline:
                    print("no metadata for topic %s" % args.topic, file=sys.stderr)
                    return 3
                time.sleep(0.05)  # metadata for a fresh topic is not there yet
        tps = [TopicPartition(args.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        pending = {tp for tp in tps if consumer.position(tp) < end[tp]}

        records = {tp.partition: [] for tp in tps}
        while pending:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                detail = ", ".join(
                    "%d at %d of %d" % (tp.partition, consumer.position(tp), end[tp])
                    for tp in sorted(pending, key=lambda t: t.partition))
                print("timed out before the end offsets: " + detail, file=sys.stderr)
                return 3
            batch = consumer.poll(timeout_ms=min(left_ms, 500))
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset >= end[tp]:
                        continue  # written after we looked at the end offsets
                    records[tp.partition].append(m)
            pending = {tp for tp in pending if consumer.position(tp) < end[tp]}

        out = sys.stdout
        for p in sorted(records):
            for m in records[p]:
                out.write(json.dumps({
                    "partition": m.partition,
                    "offset": m.offset,
                    "timestamp": m.timestamp,
                    "timestamp_type": m.timestamp_type,
                    "key": b64(m.key),
                    "value": b64(m.value),
                    "headers": [[k, b64(v)] for (k, v) in (m.headers or [])],
                }, separators=(",", ":")))
                out.write("\n")
        out.flush()
        return 0
    except KafkaError as e:
        print("kafka error: %r" % (e,), file=sys.stderr)
        return 4
    finally:
        consumer.close(autocommit=False)


if __name__ == "__main__":
    sys.exit(main())
