#!/usr/bin/python3
"""kafka-python round trip against a Vltava broker.

For every codec, produce --count records with keys, values, headers and timestamps to partition 0 of
"<topic>-<codec>" (acks=all), then consume them back with a KafkaConsumer without a group (group_id=None, assign,
seek_to_beginning) and check every offset, key, value, header and timestamp. Prints one JSON summary line on stdout
and exits 0; on a mismatch, an error or a timeout it prints the reason on stderr and exits 1.

    /usr/bin/python3 compat/clients/kafka_python_roundtrip.py --bootstrap HOST:PORT --topic T --count N \
        [--codecs none,gzip,snappy,lz4,zstd] [--timestamp-base MS] [--timeout-seconds S]

Run it with Debian's /usr/bin/python3: python3-kafka is installed for that interpreter only. kafka-python compresses
with gzip from the standard library; snappy, lz4 and zstd need optional modules (python-snappy, lz4, zstandard).
A codec whose module is missing is skipped, with the reason in the summary's "skipped_codecs" (the default list asks
for all of them).

kafka-python 2.0.2 learns the broker's release by sending ApiVersions v0, with Metadata v0 pipelined right behind it
on the same connection, and guessing from the advertised ranges. The guess ("api_version" in the summary, for the
producer and the consumer) decides the request versions and the record format: below (0, 11) it would write legacy
message sets, below (2, 1) it would not use Produce v7. The C++ test asserts that it is at least (2, 1).

Record i of codec C (shared with tests/broker/client_roundtrip_test.cc, which checks the same records on the broker
side): key "key-C-i", value "value-C-i-" + "0123456789abcdef" * 8, headers index=i, codec=C, client=kafka-python,
dup=1, dup=2 (a repeated name, order kept), timestamp (CreateTime) base + i.
"""

import argparse
import json
import sys
import time

try:
    import kafka
    import kafka.codec
    import kafka.errors
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
except ImportError as error:  # pragma: no cover - reported to the test, which skips
    print(f"kafka_python_roundtrip: cannot import kafka ({error}); install it: sudo apt-get install python3-kafka",
          file=sys.stderr)
    sys.exit(3)

CLIENT = "kafka-python"
FILLER = "0123456789abcdef" * 8
# codec -> (kafka-python's compression_type, the check that its module is present, the module to install)
CODECS = {
    "none": (None, lambda: True, None),
    "gzip": ("gzip", kafka.codec.has_gzip, None),
    "snappy": ("snappy", kafka.codec.has_snappy, "python-snappy (Debian: python3-snappy)"),
    "lz4": ("lz4", kafka.codec.has_lz4, "lz4 (Debian: python3-lz4)"),
    "zstd": ("zstd", getattr(kafka.codec, "has_zstd", lambda: False), "zstandard (Debian: python3-zstandard)"),
}


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


def produce(bootstrap, topic, codec, count, timestamp_base, deadline):
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="vltava-compat-kafka-python",
        acks="all",
        compression_type=CODECS[codec][0],
        linger_ms=5,
        api_version_auto_timeout_ms=int(min(30.0, seconds_left(deadline)) * 1000),
        max_block_ms=int(seconds_left(deadline) * 1000),
    )
    try:
        futures = []
        for i in range(count):
            record = expected_record(codec, i, timestamp_base)
            futures.append(producer.send(topic, key=record["key"], value=record["value"], headers=record["headers"],
                                         partition=0, timestamp_ms=record["timestamp"]))
        producer.flush(timeout=seconds_left(deadline))
        offsets = []
        for i, future in enumerate(futures):
            try:
                offsets.append(future.get(timeout=seconds_left(deadline)).offset)
            except kafka.errors.KafkaError as error:
                raise Failure(f"{topic}: record {i} was not delivered: {error!r}") from error
        if offsets != list(range(count)):
            raise Failure(f"{topic}: the broker gave offsets {offsets[:5]}..., expected 0..{count - 1}")
        return producer.config["api_version"]
    finally:
        producer.close(timeout=max(1.0, min(10.0, deadline - time.monotonic())))


def consume(bootstrap, topic, codec, count, timestamp_base, deadline):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="vltava-compat-kafka-python",
        group_id=None,  # no group: assign() needs none (kafka_python_group.py covers groups)
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        api_version_auto_timeout_ms=int(min(30.0, seconds_left(deadline)) * 1000),
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        received = []
        while len(received) < count:
            batches = consumer.poll(timeout_ms=int(min(1.0, seconds_left(deadline)) * 1000))
            for records in batches.values():
                received.extend(records)
        api_version = consumer.config["api_version"]
    finally:
        consumer.close(autocommit=False)
    if len(received) != count:
        raise Failure(f"{topic}: consumed {len(received)} records, expected {count}")
    for i, record in enumerate(received):
        want = expected_record(codec, i, timestamp_base)
        where = f"{topic} record {i}"
        if record.offset != i:
            raise Failure(f"{where}: offset {record.offset}, expected {i}")
        if record.key != want["key"]:
            raise Failure(f"{where}: key {record.key!r}, expected {want['key']!r}")
        if record.value != want["value"]:
            raise Failure(f"{where}: value {record.value!r}, expected {want['value']!r}")
        headers = list(record.headers or [])
        if headers != want["headers"]:
            raise Failure(f"{where}: headers {headers!r}, expected {want['headers']!r}")
        if record.timestamp_type != 0 or record.timestamp != want["timestamp"]:
            raise Failure(f"{where}: timestamp {record.timestamp} (type {record.timestamp_type}), expected "
                          f"CreateTime {want['timestamp']}")
    return api_version


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
    topics = []
    skipped = {}
    producer_api_version = consumer_api_version = None
    try:
        for codec in codecs:
            _, available, module = CODECS[codec]
            if not available():
                skipped[codec] = f"the python module {module} is not installed for {sys.executable}"
                print(f"kafka_python_roundtrip: skipping {codec}: {skipped[codec]}", file=sys.stderr)
                continue
            topic = f"{args.topic}-{codec}"
            producer_api_version = produce(args.bootstrap, topic, codec, args.count, timestamp_base, deadline)
            consumer_api_version = consume(args.bootstrap, topic, codec, args.count, timestamp_base, deadline)
            topics.append(topic)
    except (Failure, kafka.errors.KafkaError) as failure:
        print(f"kafka_python_roundtrip: FAIL: {failure!r}", file=sys.stderr)
        return 1
    if not topics:
        print("kafka_python_roundtrip: FAIL: every codec was skipped", file=sys.stderr)
        return 1
    print(json.dumps({
        "client": CLIENT,
        "version": kafka.__version__,
        "count": args.count,
        "codecs": [c for c in codecs if c not in skipped],
        "skipped_codecs": skipped,
        "topics": topics,
        "producer_api_version": list(producer_api_version),
        "consumer_api_version": list(consumer_api_version),
        "elapsed_ms": int((time.monotonic() - started) * 1000),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
