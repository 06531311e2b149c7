#!/usr/bin/python3
"""kafka-python consumer-group scenarios against a Vltava broker.

The topic must exist with --partitions partitions (tests/broker/client_group_test.cc creates it). Three phases, one
group, consumers subscribed with kafka-python's group coordinator (range and round-robin assignors), explicit
synchronous commits (enable_auto_commit=False):

 1. Two KafkaConsumers (A and B), each owned by its own thread (kafka-python blocks in poll() while it joins, so two
    members polled from one thread would wait for each other), subscribe. Once their assignments (assignment(), and
    the rebalance listener's history) are disjoint and cover every partition, --count records are produced; together
    A and B must consume every one exactly once (counted by key), each only from its own partitions. Both commit.
 2. A closes (LeaveGroup). B must be assigned every partition; --count more records are produced and B must consume
    exactly those (it resumes A's partitions from A's committed offsets). B commits and closes.
 3. --resume-count records are produced; a new KafkaConsumer C in the same group must resume from the committed
    offsets: it receives exactly those records, nothing earlier (a partition is read in offset order, so an earlier
    record would come first). C commits and closes.

Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr
and exits 1. --debug logs kafka-python's protocol exchanges on stderr.

    /usr/bin/python3 compat/clients/kafka_python_group.py --bootstrap HOST:PORT --topic T --group G \
        [--partitions 4] [--count N] [--resume-count M] [--session-timeout-ms MS] [--timeout-seconds S] [--debug]

Record i of phase p has key "p<p>-<i>", value "value-p<p>-<i>" and is produced to partition i % partitions, so every
phase reaches every partition. Run it with Debian's /usr/bin/python3 (python3-kafka, kafka-python 2.0.2, which
infers the broker's release from ApiVersions and picks its group API versions from that guess; the summary reports
it as "api_version").
"""

import argparse
import collections
import json
import logging
import queue
import sys
import threading
import time

try:
    import kafka
    import kafka.errors
    from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
except ImportError as error:  # pragma: no cover - reported to the test, which skips
    print(f"kafka_python_group: cannot import kafka ({error}); install it: sudo apt-get install python3-kafka",
          file=sys.stderr)
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


class Member(threading.Thread, ConsumerRebalanceListener):
    """A KafkaConsumer owned by its own thread. The main thread reads its state (under the lock) and sends it
    commands ("commit", "close"); the thread polls between commands."""

    def __init__(self, name, args):
        threading.Thread.__init__(self, name=f"member-{name}", daemon=True)
        self.member = name
        self.args = args
        self.lock = threading.Lock()
        self.assignment = set()  # assignment() after the latest poll (empty after a revocation)
        self.assignments = []  # every assignment the rebalance listener saw, in order
        self.records = []  # (phase, index, partition, offset)
        self.error = None
        self.api_version = None
        self.commands = queue.Queue()
        self.start()

    # ConsumerRebalanceListener, called from poll() on this thread.
    def on_partitions_revoked(self, revoked):
        with self.lock:
            self.assignment = set()

    def on_partitions_assigned(self, assigned):
        with self.lock:
            self.assignment = {tp.partition for tp in assigned}
            self.assignments.append(sorted(self.assignment))

    def run(self):
        consumer = None
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.args.bootstrap,
                client_id=f"vltava-compat-kafka-python-group-{self.member}",
                group_id=self.args.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=self.args.session_timeout_ms,
                heartbeat_interval_ms=500,
                api_version_auto_timeout_ms=30000,
            )
            self.api_version = consumer.config["api_version"]
            consumer.subscribe([self.args.topic], listener=self)
            while True:
                try:
                    command, done = self.commands.get_nowait()
                except queue.Empty:
                    command = None
                if command == "commit":
                    consumer.commit()
                    done.set()
                elif command == "close":
                    consumer.close(autocommit=False)
                    consumer = None
                    done.set()
                    return
                batches = consumer.poll(timeout_ms=100)
                assignment = {tp.partition for tp in consumer.assignment()}
                with self.lock:
                    for tp, records in batches.items():
                        if tp.partition not in self.assignment:
                            raise Failure(f"consumer {self.member} got records of partition {tp.partition}, "
                                          f"assigned {sorted(self.assignment)}")
                        for record in records:
                            phase, index = record.key.decode()[1:].split("-")
                            self.records.append((int(phase), int(index), tp.partition, record.offset))
                    if assignment != self.assignment:
                        raise Failure(f"consumer {self.member}: assignment() {sorted(assignment)} differs from "
                                      f"the listener's {sorted(self.assignment)}")
        except Exception as error:  # reported to the main thread
            with self.lock:
                self.error = error
            if consumer is not None:
                consumer.close(autocommit=False)

    def check(self):
        with self.lock:
            if self.error is not None:
                raise Failure(f"consumer {self.member}: {self.error!r}")

    def current(self):
        with self.lock:
            return set(self.assignment)

    def count(self, phase):
        with self.lock:
            return sum(1 for r in self.records if r[0] == phase)

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def command(self, command, deadline):
        done = threading.Event()
        self.commands.put((command, done))
        while not done.wait(0.05):
            self.check()
            deadline.left(lambda: f"consumer {self.member} did not finish '{command}'")
        self.check()


def wait_until(members, condition, what, deadline):
    while not condition():
        for member in members:
            member.check()
        deadline.left(what)
        time.sleep(0.05)


def settled(members, partitions):
    union = set()
    for member in members:
        assignment = member.current()
        if not assignment or union & assignment:
            return False
        union |= assignment
    return union == set(range(partitions))


def produce(args, phase, total, deadline):
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, client_id="vltava-compat-kafka-python-group-producer",
                             acks="all", linger_ms=5, api_version_auto_timeout_ms=30000,
                             max_block_ms=int(deadline.left(lambda: f"producing phase {phase}") * 1000))
    try:
        futures = [producer.send(args.topic, key=f"p{phase}-{i}".encode(), value=f"value-p{phase}-{i}".encode(),
                                 partition=i % args.partitions) for i in range(total)]
        producer.flush(timeout=deadline.left(lambda: f"producing phase {phase}"))
        for i, future in enumerate(futures):
            try:
                future.get(timeout=deadline.left(lambda: f"producing phase {phase}"))
            except kafka.errors.KafkaError as error:
                raise Failure(f"phase {phase}: record {i} was not delivered: {error!r}") from error
    finally:
        producer.close(timeout=5)


def check_exactly_once(members, phase, total):
    keys = collections.Counter(r[1] for m in members for r in m.snapshot() if r[0] == phase)
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
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    if min(args.partitions, args.count, args.resume_count) <= 0:
        parser.error("--partitions, --count and --resume-count must be positive")
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")

    started = time.monotonic()
    deadline = Deadline(args.timeout_seconds)
    summary = {"client": "kafka-python", "version": kafka.__version__, "group": args.group, "topic": args.topic,
               "partitions": args.partitions, "count": args.count, "resume_count": args.resume_count}
    try:
        # ---- phase 1: two members split the partitions ----
        a = Member("a", args)
        b = Member("b", args)
        wait_until([a, b], lambda: settled([a, b], args.partitions),
                   lambda: f"no settled assignment: a {a.assignments}, b {b.assignments}", deadline)
        assigned_a, assigned_b = a.current(), b.current()
        produce(args, 1, args.count, deadline)
        wait_until([a, b], lambda: a.count(1) + b.count(1) >= args.count,
                   lambda: f"phase 1: a and b consumed {a.count(1) + b.count(1)} of {args.count}", deadline)
        if a.current() != assigned_a or b.current() != assigned_b:
            raise Failure(f"phase 1: a rebalance happened while consuming: a {a.assignments}, b {b.assignments}")
        check_exactly_once([a, b], 1, args.count)
        a.command("commit", deadline)
        b.command("commit", deadline)
        summary["api_version"] = list(a.api_version)
        summary["phase1"] = {"a": {"assigned": sorted(assigned_a), "records": a.count(1)},
                             "b": {"assigned": sorted(assigned_b), "records": b.count(1)}}

        # ---- phase 2: A leaves, B takes over every partition ----
        a.command("close", deadline)
        wait_until([b], lambda: settled([b], args.partitions),
                   lambda: f"b was not assigned every partition after a left: {b.assignments}", deadline)
        produce(args, 2, args.count, deadline)
        wait_until([b], lambda: b.count(2) >= args.count,
                   lambda: f"phase 2: b consumed {b.count(2)} of {args.count}", deadline)
        check_exactly_once([b], 2, args.count)
        if b.count(1) != summary["phase1"]["b"]["records"]:
            raise Failure("phase 2: b consumed phase-1 records again after the rebalance")
        b.command("commit", deadline)
        summary["phase2"] = {"b_assigned": sorted(b.current()), "records": b.count(2)}
        b.command("close", deadline)

        # ---- phase 3: a new member resumes from the committed offsets ----
        produce(args, 3, args.resume_count, deadline)
        c = Member("c", args)
        wait_until([c], lambda: len(c.snapshot()) >= args.resume_count,
                   lambda: f"phase 3: c consumed {len(c.snapshot())} of {args.resume_count}", deadline)
        earlier = [f"p{r[0]}-{r[1]}" for r in c.snapshot() if r[0] != 3]
        if earlier:
            raise Failure(f"phase 3: c did not resume from the committed offsets, it received {earlier[:5]}")
        check_exactly_once([c], 3, args.resume_count)
        c.command("commit", deadline)
        summary["phase3"] = {"c_assigned": sorted(c.current()), "records": c.count(3)}
        c.command("close", deadline)
        if summary["phase3"]["c_assigned"] != list(range(args.partitions)):
            raise Failure(f"phase 3: c was assigned {c.assignments}")
    except (Failure, kafka.errors.KafkaError) as failure:
        print(f"kafka_python_group: FAIL: {failure}", file=sys.stderr)
        return 1
    summary["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
