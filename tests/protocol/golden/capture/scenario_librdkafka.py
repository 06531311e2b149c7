#!/usr/bin/python3
"""librdkafka scenario (via confluent-kafka-python, Debian's librdkafka).

Usage: /usr/bin/python3 scenario_librdkafka.py BOOTSTRAP

Produces the golden records with every compression codec, runs an idempotent
producer (InitProducerId) and a consumer-group session with one synchronous
commit on golden-none.
"""
import sys
import time

import confluent_kafka
from confluent_kafka import Consumer, Producer, TopicPartition

BOOTSTRAP = sys.argv[1]
CLIENT_ID = "golden-librdkafka"
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
BASE_TS = 1700000000000


def value(codec, i):
    # Clients send a batch uncompressed when compression does not make it
    # smaller, so compressed topics get a compressible tail on each value.
    v = f"value-{i}"
    if codec != "none":
        v += ":" + "golden" * 16
    return v.encode()


def records(codec):
    for i in range(3):
        headers = [("h", b"v")] if i == 0 else None
        yield f"key-{i}".encode(), value(codec, i), BASE_TS + i, headers


def produce(topic, codec, extra_conf):
    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "client.id": CLIENT_ID,
        "acks": "all",
        # Let all three records land in one batch: wait up to 1 s for them,
        # and send as soon as the third is queued.
        "linger.ms": 1000,
        "batch.num.messages": 3,
    }
    conf.update(extra_conf)
    p = Producer(conf)
    # Learn the partition leader first, so no record is sent on its own.
    p.list_topics(topic, timeout=10)
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)

    for key, val, ts, headers in records(codec):
        kwargs = dict(key=key, value=val, partition=0, timestamp=ts, on_delivery=on_delivery)
        if headers:
            kwargs["headers"] = headers
        p.produce(topic, **kwargs)
    left = p.flush(15)
    if left or errors:
        raise SystemExit(f"produce to {topic} failed: left={left} errors={errors}")
    print(f"produced 3 records to {topic} with {extra_conf}", flush=True)


def consume():
    c = Consumer({
        "bootstrap.servers": BOOTSTRAP,
        "client.id": CLIENT_ID,
        "group.id": "golden-group",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    c.subscribe(["golden-none"])
    got = []
    deadline = time.time() + 30
    while len(got) < 3 and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            print("consumer error:", m.error(), flush=True)
            continue
        got.append(m)
    if len(got) < 3:
        raise SystemExit(f"consumed only {len(got)} records")
    # Stay in the group long enough for at least one Heartbeat.
    t_end = time.time() + 1.5
    while time.time() < t_end:
        c.poll(0.1)
    c.commit(offsets=[TopicPartition("golden-none", 0, got[-1].offset() + 1)], asynchronous=False)
    c.close()  # LeaveGroup
    print(f"consumed {len(got)} records and committed offset {got[-1].offset() + 1}", flush=True)


def main():
    print("confluent-kafka", confluent_kafka.version(), "librdkafka", confluent_kafka.libversion(), flush=True)
    for codec in CODECS:
        produce(f"golden-{codec}", codec, {"compression.type": codec})
    produce("golden-idempotent", "none", {"enable.idempotence": True})
    consume()


if __name__ == "__main__":
    main()
