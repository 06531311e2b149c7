#!/usr/bin/python3
"""confluent-kafka-python admin and offset-lookup scenarios against a Vltava broker (used by compat/run).

    /usr/bin/python3 compat/clients/confluent_kafka_admin.py MODE --bootstrap HOST:PORT --topic T
        [--partitions P] [--count N] [--timeout-seconds S]

MODE is one of:
  topic-create-delete   AdminClient.create_topics T with P partitions; list_topics must then show T with P
                        partitions; creating it again must fail with TOPIC_ALREADY_EXISTS; delete_topics, and T must
                        disappear from list_topics; deleting it again must fail with UNKNOWN_TOPIC_OR_PART.
  offsets-by-timestamp  Create T with one partition, produce N records with CreateTime base + 10*i (acks=all), then
                        Consumer.offsets_for_times must find offset i for base + 10*i, offset i+1 for base + 10*i + 5,
                        and the end (-1, OFFSET_END) after the last record; get_watermark_offsets must be 0 and N.

Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr and
exits 1 (3 when confluent_kafka is not installed). Run it with Debian's /usr/bin/python3 (python3-confluent-kafka).
"""

import argparse
import concurrent.futures
import json
import sys
import time

try:
    import confluent_kafka
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as error:  # pragma: no cover
    print(f"confluent_kafka_admin: cannot import confluent_kafka ({error}); "
          "install it: sudo apt-get install python3-confluent-kafka", file=sys.stderr)
    sys.exit(3)


class Failure(Exception):
    pass


def remaining(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise Failure("deadline reached")
    return left


def wait_until(deadline, what, predicate, interval=0.2):
    last = None
    while True:
        try:
            if predicate():
                return
        except KafkaException as error:
            last = error
        if time.monotonic() > deadline:
            raise Failure(f"deadline: {what}" + (f" (last error: {last})" if last else ""))
        time.sleep(interval)


def listed_partitions(admin, topic, deadline):
    metadata = admin.list_topics(timeout=min(10, remaining(deadline)))
    entry = metadata.topics.get(topic)
    if entry is None or entry.error is not None:
        return None
    return len(entry.partitions)


def error_code(future, deadline):
    """The KafkaError code a create/delete future ends with, or None when it succeeded."""
    try:
        future.result(timeout=min(15, remaining(deadline)))
        return None
    except KafkaException as error:
        return error.args[0].code()
    except concurrent.futures.TimeoutError:
        raise Failure("deadline: no answer to the admin request (is the broker reachable?)") from None


def create(admin, topic, partitions, deadline):
    code = error_code(admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                          operation_timeout=10)[topic], deadline)
    if code is not None:
        raise Failure(f"create_topics {topic}: {KafkaError(code).name()}")
    wait_until(deadline, f"{topic} listed with {partitions} partitions",
               lambda: listed_partitions(admin, topic, deadline) == partitions)


def mode_topic_create_delete(args, deadline, summary, errors):
    admin = AdminClient({"bootstrap.servers": args.bootstrap, "error_cb": errors.append})
    create(admin, args.topic, args.partitions, deadline)
    code = error_code(admin.create_topics([NewTopic(args.topic, num_partitions=1, replication_factor=1)])[args.topic],
                      deadline)
    if code != KafkaError.TOPIC_ALREADY_EXISTS:
        raise Failure(f"creating {args.topic} again gave {KafkaError(code).name() if code else 'success'}, "
                      "expected TOPIC_ALREADY_EXISTS")
    code = error_code(admin.delete_topics([args.topic], operation_timeout=10)[args.topic], deadline)
    if code is not None:
        raise Failure(f"delete_topics {args.topic}: {KafkaError(code).name()}")
    wait_until(deadline, f"{args.topic} gone from list_topics after delete_topics",
               lambda: listed_partitions(admin, args.topic, deadline) is None)
    code = error_code(admin.delete_topics([args.topic])[args.topic], deadline)
    if code != KafkaError.UNKNOWN_TOPIC_OR_PART:
        raise Failure(f"deleting {args.topic} again gave {KafkaError(code).name() if code else 'success'}, "
                      "expected UNKNOWN_TOPIC_OR_PART")
    summary["partitions"] = args.partitions


def mode_offsets_by_timestamp(args, deadline, summary, errors):
    admin = AdminClient({"bootstrap.servers": args.bootstrap, "error_cb": errors.append})
    create(admin, args.topic, 1, deadline)
    base = int(time.time() * 1000) - 3_600_000
    delivered = []
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "linger.ms": 5,
                         "error_cb": errors.append})
    for i in range(args.count):
        producer.produce(args.topic, key=f"key-{i}", value=f"value-{i}", partition=0, timestamp=base + 10 * i,
                         on_delivery=lambda err, msg: delivered.append((err, msg.offset() if msg else None)))
    left = producer.flush(remaining(deadline))
    if left or any(err for err, _ in delivered):
        raise Failure(f"produce: {left} undelivered, errors {[str(e) for e, _ in delivered if e][:3]}")
    offsets = sorted(offset for _, offset in delivered)
    if offsets != list(range(args.count)):
        raise Failure(f"produced at offsets {offsets[:10]}..., expected 0..{args.count - 1}")

    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"{args.topic}-unused",
                         "enable.auto.commit": False, "error_cb": errors.append})
    try:
        def lookup(timestamp):
            found = consumer.offsets_for_times([TopicPartition(args.topic, 0, timestamp)],
                                               timeout=min(10, remaining(deadline)))[0]
            if found.error is not None:
                raise Failure(f"offsets_for_times({timestamp}): {found.error}")
            return found.offset

        checked = 0
        for i in range(args.count):
            if (got := lookup(base + 10 * i)) != i:
                raise Failure(f"offsets_for_times(base + {10 * i}) gave offset {got}, expected {i}")
            expected = i + 1 if i + 1 < args.count else -1
            if (got := lookup(base + 10 * i + 5)) != expected:
                raise Failure(f"offsets_for_times(base + {10 * i + 5}) gave offset {got}, expected {expected}")
            checked += 2
        if (got := lookup(base + 10 * args.count + 1_000)) != -1:
            raise Failure(f"offsets_for_times(after the last record) gave offset {got}, expected -1 (end)")
        low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, 0), timeout=min(10, remaining(deadline)))
        if (low, high) != (0, args.count):
            raise Failure(f"watermarks are {low}/{high}, expected 0/{args.count}")
        summary["lookups"] = checked + 1
    finally:
        consumer.close()
    summary["count"] = args.count


MODES = {"topic-create-delete": mode_topic_create_delete, "offsets-by-timestamp": mode_offsets_by_timestamp}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--timeout-seconds", type=float, default=60)
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.timeout_seconds
    errors = []
    summary = {"client": "confluent-kafka", "version": confluent_kafka.version()[0],
               "librdkafka": confluent_kafka.libversion()[0], "mode": args.mode, "topic": args.topic}
    try:
        MODES[args.mode](args, deadline, summary, errors)
    except (Failure, KafkaException) as failure:
        print(f"confluent_kafka_admin {args.mode}: FAIL: {failure}", file=sys.stderr)
        if errors:
            print(f"confluent_kafka_admin {args.mode}: client errors: {[str(e) for e in errors[:5]]}",
                  file=sys.stderr)
        return 1
    summary["client_errors"] = [str(e) for e in errors]
    summary["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
