#!/usr/bin/python3
"""confluent-kafka-python round trip against a Vltava broker.

For every codec, produce --count records with keys, values, headers and timestamps to partition 0 of
"<topic>-<codec>" (acks=all), then consume them back with a Consumer that is *assigned* the partition (no
subscription, no commits) and check every offset, key, value, header and timestamp. Prints one JSON summary line on
stdout and exits 0; on a mismatch, an error or a timeout it prints the reason on stderr and exits 1.

    /usr/bin/python3 compat/clients/confluent_kafka_roundtrip.py --bootstrap HOST:PORT --topic T --count N \
        [--codecs none,gzip,snappy,lz4,zstd] [--timestamp-base MS] [--timeout-seconds S]

Run it with Debian's /usr/bin/python3: python3-confluent-kafka is installed for that interpreter only.

This scenario reads by assigning partitions, without a consumer group (confluent_kafka_group.py covers groups).
librdkafka insists on a group.id for a Consumer; with assign(), an explicit OFFSET_BEGINNING and
enable.auto.commit=false it commits nothing. The summary reports any error the client raised ("client_errors").

Record i of codec C (shared with tests/broker/client_roundtrip_test.cc, which checks the same records on the broker
side): key "key-C-i", value "value-C-i-" + "0123456789abcdef" * 8, headers index=i, codec=C,
client=confluent-kafka, dup=1, dup=2 (a repeated name, order kept), timestamp (CreateTime) base + i.
"""

import argparse
import json
import sys
import time

try:
    import confluent_kafka
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
except ImportError as error:  # pragma: no cover - reported to the test, which skips
    print(f"confluent_kafka_roundtrip: cannot import confluent_kafka ({error}); "
          "install it: sudo apt-get install python3-confluent-kafka", file=sys.stderr)
    sys.exit(3)

CLIENT = "confluent-kafka"
FILLER = "0123456789abcdef" * 8
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


class Failure(Exception):
    pass


def expected_record(codec, i, timestamp_base):
    headers = [("index", str(i)), ("codec", codec), ("client", CLIENT), ("dup", "1"), ("dup", "2")]
    return {
        "key": f"key-{codec}-{i}".encode(),
        "value": f"value-{codec}-{i}-{FILLER}".encode(),
        "headers": [(name, value.encode()) for name, value in headers],
        "timestamp": timestamp_base + i,
    }


def seconds_left(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise Failure("the deadline passed")
    return left


def produce(bootstrap, topic, codec, count, timestamp_base, deadline, client_errors):
    deliveries = []
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "client.id": "vltava-compat-confluent-kafka",
        "acks": "all",
        "compression.codec": codec,
        "linger.ms": 5,
        "message.timeout.ms": int(seconds_left(deadline) * 1000),
        "error_cb": lambda error: client_errors.append(f"producer: {error}"),
    })
    for i in range(count):
        record = expected_record(codec, i, timestamp_base)
        while True:
            try:
                producer.produce(topic, key=record["key"], value=record["value"], headers=record["headers"],
                                 partition=0, timestamp=record["timestamp"],
                                 on_delivery=lambda error, message: deliveries.append((error, message)))
                break
            except BufferError:  # local queue full: serve delivery reports, then try again
                producer.poll(min(0.1, seconds_left(deadline)))
        producer.poll(0)
    left = producer.flush(seconds_left(deadline))
    if left:
        raise Failure(f"{topic}: {left} records still undelivered at the deadline")
    failed = [(error, message.offset()) for error, message in deliveries if error is not None]
    if failed:
        raise Failure(f"{topic}: {len(failed)} deliveries failed, first: {failed[0][0]}")
    offsets = sorted(message.offset() for _, message in deliveries)
    if offsets != list(range(count)):
        raise Failure(f"{topic}: delivery reports gave offsets {offsets[:5]}..., expected 0..{count - 1}")


def consume(bootstrap, topic, codec, count, timestamp_base, deadline, client_errors):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "client.id": "vltava-compat-confluent-kafka",
        # Required by the library; never used: the partition is assigned and nothing is committed.
        "group.id": "vltava-compat-unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "error_cb": lambda error: client_errors.append(f"consumer: {error}"),
    })
    try:
        consumer.assign([TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
        received = []
        while len(received) < count:
            message = consumer.poll(min(1.0, seconds_left(deadline)))
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    continue  # the end of the partition for now; the loop ends on the count or the deadline
                raise Failure(f"{topic}: consumer error {message.error()}")
            received.append(message)
    finally:
        consumer.close()
    for i, message in enumerate(received):
        want = expected_record(codec, i, timestamp_base)
        where = f"{topic} record {i}"
        if message.offset() != i:
            raise Failure(f"{where}: offset {message.offset()}, expected {i}")
        if message.key() != want["key"]:
            raise Failure(f"{where}: key {message.key()!r}, expected {want['key']!r}")
        if message.value() != want["value"]:
            raise Failure(f"{where}: value {message.value()!r}, expected {want['value']!r}")
        headers = message.headers() or []
        if headers != want["headers"]:
            raise Failure(f"{where}: headers {headers!r}, expected {want['headers']!r}")
        timestamp_type, timestamp = message.timestamp()
        if timestamp_type != confluent_kafka.TIMESTAMP_CREATE_TIME or timestamp != want["timestamp"]:
            raise Failure(f"{where}: timestamp {timestamp} (type {timestamp_type}), expected CreateTime "
                          f"{want['timestamp']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--codecs", default=",".join(CODECS))
    parser.add_argument("--timestamp-base", type=int, default=None, help="CreateTime of record 0, ms since epoch")
    parser.add_argument("--timeout-seconds", type=float, default=60.0)
    args = parser.parse_args()
    codecs = [c for c in args.codecs.split(",") if c]
    unknown = [c for c in codecs if c not in CODECS]
    if unknown or args.count <= 0:
        parser.error(f"unknown codecs {unknown}" if unknown else "--count must be positive")
    timestamp_base = args.timestamp_base if args.timestamp_base is not None else int(time.time() * 1000)

    started = time.monotonic()
    deadline = started + args.timeout_seconds
    client_errors = []
    topics = []
    try:
        for codec in codecs:
            topic = f"{args.topic}-{codec}"
            produce(args.bootstrap, topic, codec, args.count, timestamp_base, deadline, client_errors)
            consume(args.bootstrap, topic, codec, args.count, timestamp_base, deadline, client_errors)
            topics.append(topic)
    except Failure as failure:
        print(f"confluent_kafka_roundtrip: FAIL: {failure}", file=sys.stderr)
        for error in client_errors:
            print(f"confluent_kafka_roundtrip: client error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({
        "client": CLIENT,
        "version": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "count": args.count,
        "codecs": codecs,
        "topics": topics,
        "client_errors": client_errors,
        "elapsed_ms": int((time.monotonic() - started) * 1000),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
