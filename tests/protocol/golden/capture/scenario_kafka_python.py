#!/usr/bin/python3
"""kafka-python scenario (Debian's python3-kafka).

Usage: /usr/bin/python3 scenario_kafka_python.py BOOTSTRAP

Produces the golden records with each codec kafka-python can use here and runs
a consumer-group session with one synchronous commit on golden-none.
"""
import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

BOOTSTRAP = sys.argv[1]
CLIENT_ID = "golden-kafka-python"
BASE_TS = 1700000000000


def available_codecs():
    codecs = ["none", "gzip"]
    try:
        import snappy  # noqa: F401
        codecs.append("snappy")
    except ImportError:
        print("python3-snappy missing: skipping snappy", flush=True)
    try:
        import lz4.frame  # noqa: F401
        codecs.append("lz4")
    except ImportError:
        print("python3-lz4 missing: skipping lz4", flush=True)
    try:
        import zstandard  # noqa: F401
        codecs.append("zstd")
    except ImportError:
        print("python3-zstandard missing: skipping zstd", flush=True)
    return codecs


def value(codec, i):
    # Clients send a batch uncompressed when compression does not make it
    # smaller, so compressed topics get a compressible tail on each value.
    v = f"value-{i}"
    if codec != "none":
        v += ":" + "golden" * 16
    return v.encode()


def produce(codec):
    topic = f"golden-{codec}"
    p = KafkaProducer(
        bootstrap_servers=BOOTSTRAP,
        client_id=CLIENT_ID,
        acks="all",
        compression_type=None if codec == "none" else codec,
        linger_ms=1000,  # all three records in one batch (flush() sends it)
    )
    p.partitions_for(topic)  # learn the partition leader before sending
    futures = []
    for i in range(3):
        futures.append(p.send(
            topic,
            key=f"key-{i}".encode(),
            value=value(codec, i),
            headers=[("h", b"v")] if i == 0 else None,
            partition=0,
            timestamp_ms=BASE_TS + i,
        ))
    p.flush(15)
    for f in futures:
        f.get(timeout=15)
    p.close(timeout=5)
    print(f"produced 3 records to {topic} ({codec})", flush=True)


def consume():
    c = KafkaConsumer(
        "golden-none",
        bootstrap_servers=BOOTSTRAP,
        client_id=CLIENT_ID,
        group_id="golden-group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
    )
    got = []
    deadline = time.time() + 30
    while len(got) < 3 and time.time() < deadline:
        for recs in c.poll(timeout_ms=500).values():
            got.extend(recs)
    if len(got) < 3:
        raise SystemExit(f"consumed only {len(got)} records")
    t_end = time.time() + 1.5
    while time.time() < t_end:
        c.poll(timeout_ms=100)
    next_offset = got[-1].offset + 1
    c.commit({TopicPartition("golden-none", 0): OffsetAndMetadata(next_offset, None)})
    c.close()  # LeaveGroup
    print(f"consumed {len(got)} records and committed offset {next_offset}", flush=True)


def main():
    print("kafka-python", kafka.__version__, flush=True)
    for codec in available_codecs():
        produce(codec)
    consume()


if __name__ == "__main__":
    main()
