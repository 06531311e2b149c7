#!/usr/bin/python3
"""confluent-kafka-python admin, offset-lookup and idempotent-producer scenarios against a Vltava broker (compat/run).

    /usr/bin/python3 compat/clients/confluent_kafka_admin.py MODE --bootstrap HOST:PORT --topic T
        [--partitions P] [--count N] [--timeout-seconds S]

MODE is one of:
  topic-create-delete   AdminClient.create_topics T with P partitions; list_topics must then show T with P
                        partitions; creating it again must fail with TOPIC_ALREADY_EXISTS; delete_topics, and T must
                        disappear from list_topics; deleting it again must fail with UNKNOWN_TOPIC_OR_PART.
  offsets-by-timestamp  Create T with one partition, produce N records with CreateTime base + 10*i (acks=all), then
                        Consumer.offsets_for_times must find offset i for base + 10*i, offset i+1 for base + 10*i + 5,
                        and the end (-1, OFFSET_END) after the last record; get_watermark_offsets must be 0 and N.
  idempotent-producer   Create T with one partition; a Producer with enable.idempotence=true, acks=all,
                        max.in.flight 5 and small batches (batch.num.messages 10, linger.ms 5) produces N records in
                        several rounds without waiting in between. librdkafka's statistics (stats_cb) must show
                        eos.idemp_state "Assigned" with eos.producer_id >= 0; every delivery must succeed, record i at
                        offset i; a Consumer assigned partition 0 from the beginning must then read each record exactly
                        once, in produce order, at consecutive offsets, and reach the end (watermarks 0 and N).

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


# The idempotent-producer records, as in the round trips with "idempotent" in place of the codec.
FILLER = "0123456789abcdef" * 8


def idempotent_record(i):
    return f"key-idempotent-{i}".encode(), f"value-idempotent-{i}-{FILLER}".encode()


def mode_idempotent_producer(args, deadline, summary, errors):
    admin = AdminClient({"bootstrap.servers": args.bootstrap, "error_cb": errors.append})
    create(admin, args.topic, 1, deadline)
    eos = []  # the "eos" object of every statistics report, with "produce_requests" (sent so far) added
    delivered = {}  # record index -> (error, offset)

    def on_stats(text):
        stats = json.loads(text)
        requests = sum(broker.get("req", {}).get("Produce", 0) for broker in stats.get("brokers", {}).values())
        eos.append(dict(stats.get("eos", {}), produce_requests=requests))

    producer = Producer({"bootstrap.servers": args.bootstrap, "broker.address.family": "v4",
                         "enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5,
                         "linger.ms": 5, "batch.num.messages": 10, "statistics.interval.ms": 100,
                         "message.timeout.ms": int(remaining(deadline) * 1000), "stats_cb": on_stats,
                         "error_cb": errors.append})
    rounds = 4
    for r in range(rounds):  # several rounds of records, each queued without waiting for the previous one
        for i in range(r * args.count // rounds, (r + 1) * args.count // rounds):
            key, value = idempotent_record(i)
            producer.produce(args.topic, key=key, value=value, partition=0,
                             on_delivery=lambda err, msg, i=i: delivered.__setitem__(i, (err, msg.offset())))
        producer.poll(0)
    left = producer.flush(remaining(deadline))
    # The statistics arrive every 100 ms through poll(); wait for a report taken after the flush.
    reports_before = len(eos)
    while len(eos) == reports_before and time.monotonic() < deadline:
        producer.poll(0.1)
    if left:
        raise Failure(f"produce: {left} records still undelivered at the deadline")
    failed = sorted((i, str(err)) for i, (err, _) in delivered.items() if err is not None)
    if failed or len(delivered) != args.count:
        raise Failure(f"produce: {len(delivered)} delivery reports for {args.count} records, failed {failed[:3]}")
    wrong = [(i, offset) for i, (_, offset) in sorted(delivered.items()) if offset != i]
    if wrong:
        raise Failure(f"produce: records delivered at the wrong offsets (index, offset): {wrong[:5]}")
    if len(eos) == reports_before:
        raise Failure(f"no statistics report after the flush ({len(eos)} reports in all)")
    last = eos[-1]
    if last.get("idemp_state") != "Assigned":
        raise Failure(f"statistics after the flush show eos.idemp_state {last.get('idemp_state')!r}, expected "
                      f"'Assigned' (states seen: {sorted({str(e.get('idemp_state')) for e in eos})})")
    if not (isinstance(last.get("producer_id"), int) and last["producer_id"] >= 0):
        raise Failure(f"statistics show no producer id with idemp_state Assigned: {last}")
    # batch.num.messages 10: the records cannot have gone in fewer requests than this.
    if last["produce_requests"] < -(-args.count // 10):
        raise Failure(f"statistics count {last['produce_requests']} Produce requests for {args.count} records in "
                      "batches of at most 10")
    summary.update(producer_id=last["producer_id"], producer_epoch=last.get("producer_epoch"),
                   idemp_state=last["idemp_state"], produce_requests=last["produce_requests"], stats_reports=len(eos))

    consumer = Consumer({"bootstrap.servers": args.bootstrap, "broker.address.family": "v4",
                         "group.id": f"{args.topic}-unused", "enable.auto.commit": False,
                         "enable.auto.offset.store": False, "enable.partition.eof": True, "error_cb": errors.append})
    try:
        consumer.assign([TopicPartition(args.topic, 0, confluent_kafka.OFFSET_BEGINNING)])
        received, at_end = [], False
        # Read until the end of the partition after the last expected record: a duplicate would come before it.
        while not (at_end and len(received) >= args.count):
            if time.monotonic() > deadline:
                raise Failure(f"consume: deadline with {len(received)} of {args.count} records read")
            message = consumer.poll(min(1.0, max(0.0, deadline - time.monotonic())))
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end = True
                    continue
                raise Failure(f"consume: {message.error()}")
            at_end = False
            received.append(message)
        for i, message in enumerate(received[:args.count]):
            key, value = idempotent_record(i)
            if (message.offset(), message.key(), message.value()) != (i, key, value):
                raise Failure(f"consume: record {i} is offset {message.offset()} key {message.key()!r}, expected "
                              f"offset {i} key {key!r} (value {'matches' if message.value() == value else 'differs'})")
        if len(received) != args.count:
            extra = received[args.count]
            raise Failure(f"consume: read {len(received)} records, expected {args.count}; offset {extra.offset()} "
                          f"holds key {extra.key()!r} beyond the last record produced")
        low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, 0), timeout=min(10, remaining(deadline)))
        if (low, high) != (0, args.count):
            raise Failure(f"watermarks are {low}/{high}, expected 0/{args.count}")
    finally:
        consumer.close()
    summary["count"] = args.count


MODES = {"topic-create-delete": mode_topic_create_delete, "offsets-by-timestamp": mode_offsets_by_timestamp,
         "idempotent-producer": mode_idempotent_producer}


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
