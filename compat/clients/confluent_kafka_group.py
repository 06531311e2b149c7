#!/usr/bin/python3
"""confluent-kafka-python consumer-group scenarios against a Vltava broker.

The topic must exist with --partitions partitions (tests/broker/client_group_test.cc creates it). Three phases, one
group, consumers subscribed with librdkafka's balanced consumer (eager "range,roundrobin" assignors), explicit
synchronous commits (enable.auto.commit=false):

 1. Two Consumers (A and B, polled in turn from this thread) subscribe. Once their latest on_assign assignments are
    disjoint and cover every partition, --count records are produced; together A and B must consume every one exactly
    once (counted by key), each only from its own partitions. Both commit.
 2. A closes (LeaveGroup). B must be assigned every partition (on_assign); --count more records are produced and B
    must consume exactly those (it resumes A's partitions from A's committed offsets). B commits and closes.
 3. --resume-count records are produced; a new Consumer C in the same group must resume from the committed offsets:
    it receives exactly those records, nothing earlier (a partition is read in offset order, so an earlier record
    would come first). C commits and closes.

Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr
and exits 1.

    /usr/bin/python3 compat/clients/confluent_kafka_group.py --bootstrap HOST:PORT --topic T --group G \
        [--partitions 4] [--count N] [--resume-count M] [--session-timeout-ms MS] [--timeout-seconds S]

Record i of phase p has key "p<p>-<i>", value "value-p<p>-<i>" and is produced to partition i % partitions, so every
phase reaches every partition. Run it with Debian's /usr/bin/python3 (python3-confluent-kafka).
"""

import argparse
import collections
import json
import sys
import time

try:
    import confluent_kafka
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
except ImportError as error:  # pragma: no cover - reported to the test, which skips
    print(f"confluent_kafka_group: cannot import confluent_kafka ({error}); "
          "install it: sudo apt-get install python3-confluent-kafka", file=sys.stderr)
    sys.exit(3)


class Failure(Exception):
    pass


class Deadline:
    def __init__(self, seconds):
        self.at = time.monotonic() + seconds

    def left(self, what):
        left = self.at - time.monotonic()
        if left <= 0:
            raise Failure(f"deadline: {what()}")
        return left


class Member:
    """One Consumer, with its assignment history (from on_assign/on_revoke) and the records it consumed."""

    def __init__(self, name, args, errors):
        self.name = name
        self.assignment = set()  # the latest assignment (empty after a revocation)
        self.assignments = []  # every assignment, in order
        self.records = []  # (phase, index, partition, offset)
        self.consumer = Consumer({
            "bootstrap.servers": args.bootstrap,
            "broker.address.family": "v4",
            "client.id": f"vltava-compat-confluent-group-{name}",
            "group.id": args.group,
            "session.timeout.ms": args.session_timeout_ms,
            "heartbeat.interval.ms": 500,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "error_cb": lambda error: errors.append(f"{name}: {error}"),
        })
        self.consumer.subscribe([args.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer, partitions):
        self.assignment = {p.partition for p in partitions}
        self.assignments.append(sorted(self.assignment))

    def _on_revoke(self, consumer, partitions):
        self.assignment = set()

    def poll(self, timeout):
        message = self.consumer.poll(timeout)
        if message is None:
            return
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                return
            raise Failure(f"consumer {self.name}: {message.error()}")
        key = message.key().decode()
        phase, index = key[1:].split("-")
        if message.partition() not in self.assignment:
            raise Failure(f"consumer {self.name} got {key} from partition {message.partition()}, assigned "
                          f"{sorted(self.assignment)}")
        self.records.append((int(phase), int(index), message.partition(), message.offset()))

    def count(self, phase):
        return sum(1 for r in self.records if r[0] == phase)

    def commit(self):
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._NO_OFFSET:  # nothing consumed since the last commit
                raise Failure(f"consumer {self.name}: commit failed: {error}") from error

    def close(self):
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None


def poll_until(members, condition, what, deadline):
    """Polls every member in turn until condition() holds."""
    while not condition():
        deadline.left(what)
        for member in members:
            member.poll(0.05)


def settled(members, partitions):
    union = set()
    for member in members:
        if not member.assignment or union & member.assignment:
            return False
        union |= member.assignment
    return union == set(range(partitions))


def produce(args, phase, total, deadline, errors):
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "broker.address.family": "v4",
        "client.id": "vltava-compat-confluent-group-producer",
        "acks": "all",
        "linger.ms": 5,
        "error_cb": lambda error: errors.append(f"producer: {error}"),
    })
    failures = []

    def delivered(error, message):
        if error is not None:
            failures.append(error)

    for i in range(total):
        producer.produce(args.topic, key=f"p{phase}-{i}".encode(), value=f"value-p{phase}-{i}".encode(),
                         partition=i % args.partitions, on_delivery=delivered)
    left = producer.flush(deadline.left(lambda: f"producing phase {phase}"))
    if left or failures:
        raise Failure(f"phase {phase}: {left} records undelivered, failures: {failures[:3]}")


def check_exactly_once(members, phase, total):
    keys = collections.Counter(r[1] for m in members for r in m.records if r[0] == phase)
    duplicates = sorted(k for k, n in keys.items() if n > 1)
    if duplicates:
        raise Failure(f"phase {phase}: consumed more than once: {[f'p{phase}-{k}' for k in duplicates[:5]]}")
    if set(keys) != set(range(total)):
        missing = sorted(set(range(total)) - set(keys))
        raise Failure(f"phase {phase}: consumed {len(keys)} records, expected {total}; missing {missing[:5]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--resume-count", type=int, default=20)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--timeout-seconds", type=float, default=60.0)
    args = parser.parse_args()
    if min(args.partitions, args.count, args.resume_count) <= 0:
        parser.error("--partitions, --count and --resume-count must be positive")

    started = time.monotonic()
    deadline = Deadline(args.timeout_seconds)
    errors = []
    members = []
    summary = {"client": "confluent-kafka", "version": confluent_kafka.version()[0],
               "librdkafka": confluent_kafka.libversion()[0], "group": args.group, "topic": args.topic,
               "partitions": args.partitions, "count": args.count, "resume_count": args.resume_count}
    try:
        # ---- phase 1: two members split the partitions ----
        a = Member("a", args, errors)
        members.append(a)
        b = Member("b", args, errors)
        members.append(b)
        poll_until([a, b], lambda: settled([a, b], args.partitions),
                   lambda: f"no settled assignment: a {a.assignments}, b {b.assignments}", deadline)
        assigned_a, assigned_b = set(a.assignment), set(b.assignment)
        produce(args, 1, args.count, deadline, errors)
        poll_until([a, b], lambda: a.count(1) + b.count(1) >= args.count,
                   lambda: f"phase 1: a and b consumed {a.count(1) + b.count(1)} of {args.count}", deadline)
        if a.assignment != assigned_a or b.assignment != assigned_b:
            raise Failure(f"phase 1: a rebalance happened while consuming: a {a.assignments}, b {b.assignments}")
        check_exactly_once([a, b], 1, args.count)
        a.commit()
        b.commit()
        summary["phase1"] = {"a": {"assigned": sorted(assigned_a), "records": a.count(1)},
                             "b": {"assigned": sorted(assigned_b), "records": b.count(1)}}

        # ---- phase 2: A leaves, B takes over every partition ----
        a.close()
        poll_until([b], lambda: settled([b], args.partitions),
                   lambda: f"b was not assigned every partition after a left: {b.assignments}", deadline)
        produce(args, 2, args.count, deadline, errors)
        poll_until([b], lambda: b.count(2) >= args.count,
                   lambda: f"phase 2: b consumed {b.count(2)} of {args.count}", deadline)
        check_exactly_once([b], 2, args.count)
        if b.count(1) != summary["phase1"]["b"]["records"]:
            raise Failure("phase 2: b consumed phase-1 records again after the rebalance")
        b.commit()
        b.close()
        summary["phase2"] = {"b_assigned": sorted(b.assignments[-1]), "records": b.count(2)}

        # ---- phase 3: a new member resumes from the committed offsets ----
        produce(args, 3, args.resume_count, deadline, errors)
        c = Member("c", args, errors)
        members.append(c)
        poll_until([c], lambda: len(c.records) >= args.resume_count,
                   lambda: f"phase 3: c consumed {len(c.records)} of {args.resume_count}", deadline)
        earlier = [f"p{r[0]}-{r[1]}" for r in c.records if r[0] != 3]
        if earlier:
            raise Failure(f"phase 3: c did not resume from the committed offsets, it received {earlier[:5]}")
        check_exactly_once([c], 3, args.resume_count)
        c.commit()
        summary["phase3"] = {"c_assigned": sorted(c.assignment), "records": c.count(3)}
        c.close()
        if sorted(summary["phase3"]["c_assigned"]) != list(range(args.partitions)):
            raise Failure(f"phase 3: c was assigned {c.assignments}")
    except (Failure, KafkaException) as failure:
        print(f"confluent_kafka_group: FAIL: {failure}", file=sys.stderr)
        if errors:
            print(f"confluent_kafka_group: client errors: {errors}", file=sys.stderr)
        return 1
    finally:
        for member in members:
            member.close()
    summary["client_errors"] = errors
    summary["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
