#!/usr/bin/python3
"""kafka-python admin and offset-lookup scenarios against a Vltava broker (used by compat/run).

    /usr/bin/python3 compat/clients/kafka_python_admin.py MODE --bootstrap HOST:PORT --topic T
        [--partitions P] [--count N] [--timestamp-base MS] [--timeout-seconds S]

MODE is one of:
  create                Create T with P partitions (KafkaAdminClient.create_topics) and wait until the metadata shows
                        all P partitions. compat/run uses it to prepare the consumer-group scenarios.
  topic-create-delete   Create T with P partitions; the topic must then be listed (list_topics) with P partitions
                        (describe_topics); creating it again must fail with TopicAlreadyExistsError; delete it
                        (delete_topics) and it must disappear from list_topics; deleting it again must fail with
                        UnknownTopicOrPartitionError.
  offsets-by-timestamp  Create T with one partition, produce N records with CreateTime base + 10*i (acks=all), then
                        KafkaConsumer.offsets_for_times must find record i at offset i for base + 10*i, offset i+1 for
                        base + 10*i + 5 (the first record at or after it), and None after the last record;
                        beginning_offsets/end_offsets must be 0 and N.
  produce-timestamped   Only the first half of offsets-by-timestamp: create T with one partition and produce the N
                        records with CreateTime base + 10*i (base: --timestamp-base, default an hour ago), checking that
                        record i landed at offset i. kcat_offsets.sh uses it: kcat cannot set a record's timestamp.

Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr and
exits 1 (3 when kafka-python is not installed). Run it with Debian's /usr/bin/python3 (python3-kafka).
"""

import argparse
import json
import sys
import time

try:
    import kafka
    import kafka.errors
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
except ImportError as error:  # pragma: no cover
    print(f"kafka_python_admin: cannot import kafka ({error}); install it: sudo apt-get install python3-kafka",
          file=sys.stderr)
    sys.exit(3)


class Failure(Exception):
    pass


def wait_until(deadline, what, predicate, interval=0.2):
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except kafka.errors.KafkaError as error:
            last = error
        if time.monotonic() > deadline:
            raise Failure(f"deadline: {what}" + (f" (last error: {last!r})" if last else ""))
        time.sleep(interval)


def topic_partitions(admin, topic):
    """Partition count of `topic` from describe_topics, or None when unknown."""
    for entry in admin.describe_topics([topic]):
        if entry.get("topic") == topic and entry.get("error_code", 0) == 0:
            return len(entry.get("partitions", []))
    return None


def admin_client(args, deadline):
    # The constructor itself raises NoBrokersAvailable when nothing answers; retry until the deadline.
    return wait_until(deadline, f"connect an admin client to {args.bootstrap}",
                      lambda: KafkaAdminClient(bootstrap_servers=args.bootstrap, client_id="compat-kafka-python-admin",
                                               request_timeout_ms=10000))


def create(admin, topic, partitions, deadline):
    admin.create_topics([NewTopic(name=topic, num_partitions=partitions, replication_factor=1)], timeout_ms=10000)
    wait_until(deadline, f"{topic} listed with {partitions} partitions",
               lambda: topic in admin.list_topics() and topic_partitions(admin, topic) == partitions)


def mode_create(args, deadline, summary):
    admin = admin_client(args, deadline)
    try:
        create(admin, args.topic, args.partitions, deadline)
    finally:
        admin.close()
    summary["partitions"] = args.partitions


def mode_topic_create_delete(args, deadline, summary):
    admin = admin_client(args, deadline)
    try:
        create(admin, args.topic, args.partitions, deadline)
        try:
            admin.create_topics([NewTopic(name=args.topic, num_partitions=1, replication_factor=1)], timeout_ms=10000)
            raise Failure(f"creating {args.topic} a second time succeeded; expected TopicAlreadyExistsError")
        except kafka.errors.TopicAlreadyExistsError:
            summary["second_create"] = "TopicAlreadyExistsError"
        admin.delete_topics([args.topic], timeout_ms=10000)
        wait_until(deadline, f"{args.topic} gone from list_topics after delete_topics",
                   lambda: args.topic not in admin.list_topics())
        try:
            admin.delete_topics([args.topic], timeout_ms=10000)
            raise Failure(f"deleting {args.topic} a second time succeeded; expected UnknownTopicOrPartitionError")
        except kafka.errors.UnknownTopicOrPartitionError:
            summary["second_delete"] = "UnknownTopicOrPartitionError"
    finally:
        admin.close()
    summary["partitions"] = args.partitions


def produce_timestamped(args, deadline):
    """Creates the topic with one partition and produces record i with CreateTime base + 10*i; returns base."""
    admin = admin_client(args, deadline)
    try:
        create(admin, args.topic, 1, deadline)
    finally:
        admin.close()
    # By default an hour ago: well inside retention, clearly before "now".
    base = args.timestamp_base if args.timestamp_base is not None else int(time.time() * 1000) - 3_600_000
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=5)
    try:
        futures = [producer.send(args.topic, key=f"key-{i}".encode(), value=f"value-{i}".encode(), partition=0,
                                 timestamp_ms=base + 10 * i) for i in range(args.count)]
        producer.flush(timeout=max(1.0, deadline - time.monotonic()))
        offsets = [future.get(timeout=1).offset for future in futures]
    finally:
        producer.close(timeout=5)
    if offsets != list(range(args.count)):
        raise Failure(f"produced at offsets {offsets[:10]}..., expected 0..{args.count - 1}")
    return base


def mode_produce_timestamped(args, deadline, summary):
    summary["timestamp_base"] = produce_timestamped(args, deadline)
    summary["count"] = args.count


def mode_offsets_by_timestamp(args, deadline, summary):
    base = produce_timestamped(args, deadline)
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=None, enable_auto_commit=False,
                             request_timeout_ms=15000)
    tp = TopicPartition(args.topic, 0)
    try:
        checked = 0
        for i in range(args.count):
            exact = consumer.offsets_for_times({tp: base + 10 * i})[tp]
            if exact is None or exact.offset != i or exact.timestamp != base + 10 * i:
                raise Failure(f"offsets_for_times(base + {10 * i}) gave {exact}, expected offset {i}, "
                              f"timestamp {base + 10 * i}")
            between = consumer.offsets_for_times({tp: base + 10 * i + 5})[tp]
            expected = i + 1 if i + 1 < args.count else None
            if (between.offset if between else None) != expected:
                raise Failure(f"offsets_for_times(base + {10 * i + 5}) gave {between}, expected offset {expected}")
            checked += 2
        after = consumer.offsets_for_times({tp: base + 10 * args.count + 1_000})[tp]
        if after is not None:
            raise Failure(f"offsets_for_times(after the last record) gave {after}, expected None")
        beginning = consumer.beginning_offsets([tp])[tp]
        end = consumer.end_offsets([tp])[tp]
        if (beginning, end) != (0, args.count):
            raise Failure(f"beginning/end offsets are {beginning}/{end}, expected 0/{args.count}")
        summary["lookups"] = checked + 1
        summary["api_version"] = list(consumer.config["api_version"] or ())
    finally:
        consumer.close()
    summary["count"] = args.count


MODES = {"create": mode_create, "topic-create-delete": mode_topic_create_delete,
         "offsets-by-timestamp": mode_offsets_by_timestamp, "produce-timestamped": mode_produce_timestamped}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--timestamp-base", type=int, default=None, help="CreateTime of record 0, ms since epoch")
    parser.add_argument("--timeout-seconds", type=float, default=60)
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.timeout_seconds
    summary = {"client": "kafka-python", "version": kafka.__version__, "mode": args.mode, "topic": args.topic}
    try:
        MODES[args.mode](args, deadline, summary)
    except (Failure, kafka.errors.KafkaError) as failure:
        print(f"kafka_python_admin {args.mode}: FAIL: {failure!r}" if not isinstance(failure, Failure)
              else f"kafka_python_admin {args.mode}: FAIL: {failure}", file=sys.stderr)
        return 1
    summary["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
