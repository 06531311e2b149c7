#!/usr/bin/python3
"""Cross-check manifest.json against Wireshark's Kafka dissector.

Usage: verify_with_tshark.py [GOLDEN_DIR]     (default: the parent of this script)

For every manifest entry the request is looked up in pcap/<client>.pcap
(decoded by `tshark -d tcp.port==PORT,kafka`) by client TCP port, api key and
correlation id, and the values tshark finds are compared with the manifest's
header fields and `expect`.  It also checks that each .bin file's size and
sha256 match the manifest.  Exit status 1 on any mismatch.

tshark (Debian 12: 4.0.x) misparses a few request fields in these captures;
those are listed in FIRST_ONLY and only partly compared (reported).
"""
import calendar
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.dirname(HERE)

# (api_key, tshark field) pairs of which only the first value is compared:
# tshark 4.0 misreads JoinGroup protocol metadata (the bytes field after each
# protocol name), loses sync after the first protocol and flags
# pdu_length_mismatch; our decoder consumes every byte of these frames.
FIRST_ONLY = {(11, "kafka.protocol_name")}


def flatten(obj, acc):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.startswith("kafka."):
                for x in (v if isinstance(v, list) else [v]):
                    if isinstance(x, (dict, list)):
                        flatten(x, acc)
                    else:
                        acc.append((k, x))
            else:
                flatten(v, acc)
    elif isinstance(obj, list):
        for x in obj:
            flatten(x, acc)


def tshark_requests(pcap, port):
    out = subprocess.run(
        ["tshark", "-r", pcap, "-d", f"tcp.port=={port},kafka", "-T", "json", "--no-duplicate-keys", "-Y", "kafka"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    reqs = {}
    for pkt in json.loads(out):
        layers = pkt["_source"]["layers"]
        k = layers["kafka"]
        sport = int(layers["tcp"]["tcp.srcport"])
        for pdu in (k if isinstance(k, list) else [k]):
            acc = []
            flatten(pdu, acc)
            fields = defaultdict(list)
            for name, val in acc:
                fields[name].append(val)
            if "kafka.request_key" not in fields:
                continue
            key = (sport, int(fields["kafka.api_key"][0]), int(fields["kafka.correlation_id"][0]))
            reqs.setdefault(key, fields)
    return reqs


MONTHS = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


def tshark_time_ms(s):
    m = re.match(r"(\w{3})\s+(\d+), (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{9}) UTC", s)
    if not m:
        return s
    mon, day, year, hh, mm, ss, frac = m.groups()
    secs = calendar.timegm((int(year), MONTHS[mon], int(day), int(hh), int(mm), int(ss)))
    return secs * 1000 + int(frac) // 1_000_000


def hexcolon(text):
    if text is None:
        return None
    b = text.encode() if isinstance(text, str) else bytes.fromhex(text["hex"])
    return ":".join(f"{x:02x}" for x in b)


def nullable(v):
    return "[ Null ]" if v is None else str(v)


def expected_fields(e):
    """Return {tshark field: [expected string values in order]}."""
    x = e["expect"]
    k, v = e["api_key"], e["api_version"]
    exp = {
        "kafka.len": [str(e["size"])],
        "kafka.api_version": [str(v)],
        "kafka.correlation_id": [str(e["correlation_id"])],
        "kafka.client_id": [e["client_id"]],
    }
    tp = lambda: [(t, p) for t in x["topics"] for p in t["partitions"]]  # noqa: E731
    if k == 0:
        exp["kafka.transactional_id"] = [nullable(x["transactional_id"])]
        exp["kafka.required_acks"] = [str(x["acks"])]
        exp["kafka.timeout"] = [str(x["timeout_ms"])]
        exp["kafka.topic_name"] = [t["name"] for t in x["topics"]]
        exp["kafka.partition_id"] = [str(p["index"]) for _, p in tp()]
        batches = [b for _, p in tp() for b in p["batches"]]
        exp["kafka.batch_codec"] = [str({"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[b["codec"]]) for b in batches]
        exp["kafka.batch_crc"] = [f"0x{b['crc']:08x}" for b in batches]
        exp["kafka.producer_id"] = [str(b["producer_id"]) for b in batches]
        exp["kafka.producer_epoch"] = [str(b["producer_epoch"]) for b in batches]
        exp["kafka.batch_base_sequence"] = [str(b["base_sequence"]) for b in batches]
        exp["kafka.batch_last_offset_delta"] = [str(b["last_offset_delta"]) for b in batches]
        exp["kafka.batch_size"] = [str(b["record_count"]) for b in batches]
        recs = [r for _, p in tp() for r in p["records"]]
        exp["kafka.message_key"] = [hexcolon(r["key"]) for r in recs]
        exp["kafka.message_value"] = [hexcolon(r["value"]) for r in recs]
        exp["kafka.message_timestamp"] = [r["timestamp"] for r in recs]
        exp["kafka.header_key"] = [h[0] for r in recs for h in r["headers"]]
        exp["kafka.header_value"] = [hexcolon(h[1]) for r in recs for h in r["headers"]]
    elif k == 1:
        exp["kafka.replica_id"] = [str(x["replica_id"])]
        exp["kafka.max_wait_time"] = [str(x["max_wait_ms"])]
        exp["kafka.min_bytes"] = [str(x["min_bytes"])]
        mb = [str(x["max_bytes"])] if "max_bytes" in x else []
        exp["kafka.max_bytes"] = mb + [str(p["partition_max_bytes"]) for _, p in tp()]
        if "isolation_level" in x:
            exp["kafka.isolation_level"] = [str(x["isolation_level"])]
        if "session_id" in x:
            exp["kafka.fetch_session_id"] = [str(x["session_id"])]
            exp["kafka.fetch_session_epoch"] = [str(x["session_epoch"])]
        exp["kafka.topic_name"] = [t["name"] for t in x["topics"]]
        exp["kafka.partition_id"] = [str(p["index"]) for _, p in tp()]
        exp["kafka.offset"] = [str(p["fetch_offset"]) for _, p in tp()]
        if v >= 5:
            exp["kafka.log_start_offset"] = [str(p["log_start_offset"]) for _, p in tp()]
        if v >= 11:
            exp["kafka.rack"] = [x["rack_id"]]
    elif k == 2:
        exp["kafka.replica_id"] = [str(x["replica_id"])]
        if "isolation_level" in x:
            exp["kafka.isolation_level"] = [str(x["isolation_level"])]
        exp["kafka.topic_name"] = [t["name"] for t in x["topics"]]
        exp["kafka.partition_id"] = [str(p["index"]) for _, p in tp()]
        exp["kafka.offset_time"] = [str(p["timestamp"]) for _, p in tp()]
    elif k == 3:
        exp["kafka.topic_name"] = list(x["topics"] or [])
        if "allow_auto_topic_creation" in x:
            exp["kafka.allow_auto_topic_creation"] = [str(int(x["allow_auto_topic_creation"]))]
    elif k == 8:
        exp["kafka.consumer_group"] = [x["group_id"]]
        if v >= 1:
            exp["kafka.generation_id"] = [str(x["generation_id"])]
            exp["kafka.member_id"] = [x["member_id"]]
        if "retention_time_ms" in x:
            exp["kafka.retention_time"] = [str(x["retention_time_ms"])]
        exp["kafka.topic_name"] = [t["name"] for t in x["topics"]]
        exp["kafka.partition_id"] = [str(p["index"]) for _, p in tp()]
        exp["kafka.offset"] = [str(p["committed_offset"]) for _, p in tp()]
        exp["kafka.metadata"] = [nullable(p["committed_metadata"]) for _, p in tp()]
    elif k == 9:
        exp["kafka.consumer_group"] = [x["group_id"]]
        exp["kafka.topic_name"] = [t["name"] for t in (x["topics"] or [])]
        exp["kafka.partition_id"] = [str(i) for t in (x["topics"] or []) for i in t["partition_indexes"]]
    elif k == 10:
        exp["kafka.coordinator_key" if v >= 1 else "kafka.consumer_group"] = [x["key"]]
        if "key_type" in x:
            exp["kafka.coordinator_type"] = [str(x["key_type"])]
    elif k == 11:
        exp["kafka.consumer_group"] = [x["group_id"]]
        exp["kafka.session_timeout"] = [str(x["session_timeout_ms"])]
        if "rebalance_timeout_ms" in x:
            exp["kafka.rebalance_timeout"] = [str(x["rebalance_timeout_ms"])]
        exp["kafka.member_id"] = [x["member_id"]]
        exp["kafka.protocol_type"] = [x["protocol_type"]]
        exp["kafka.protocol_name"] = [p["name"] for p in x["protocols"]]
    elif k == 12:
        exp["kafka.consumer_group"] = [x["group_id"]]
        exp["kafka.generation_id"] = [str(x["generation_id"])]
        exp["kafka.member_id"] = [x["member_id"]]
    elif k == 13:
        exp["kafka.consumer_group"] = [x["group_id"]]
        if "member_id" in x:
            exp["kafka.member_id"] = [x["member_id"]]
    elif k == 14:
        exp["kafka.consumer_group"] = [x["group_id"]]
        exp["kafka.generation_id"] = [str(x["generation_id"])]
        exp["kafka.member_id"] = [x["member_id"]] + [a["member_id"] for a in x["assignments"]]
    elif k == 18 and v >= 3:
        exp["kafka.client_software_name"] = [x["client_software_name"]]
        exp["kafka.client_software_version"] = [x["client_software_version"]]
    elif k == 22:
        exp["kafka.transactional_id"] = [nullable(x["transactional_id"])]
        exp["kafka.transaction_timeout"] = [str(x["transaction_timeout_ms"])]
        if "producer_id" in x:
            exp["kafka.producer_id"] = [str(x["producer_id"])]
            exp["kafka.producer_epoch"] = [str(x["producer_epoch"])]
    return exp


def main():
    with open(os.path.join(GOLDEN, "manifest.json")) as f:
        manifest = json.load(f)
    by_client = defaultdict(list)
    for e in manifest:
        by_client[e["client"]].append(e)
    failures = 0
    compared = 0
    skipped = []
    for client, entries in by_client.items():
        pcap = os.path.join(GOLDEN, "pcap", f"{client}.pcap")
        port = entries[0]["broker_port"]
        reqs = tshark_requests(pcap, port)
        for e in entries:
            with open(os.path.join(GOLDEN, e["file"]), "rb") as f:
                data = f.read()
            if len(data) != e["size"] or hashlib.sha256(data).hexdigest() != e["sha256"]:
                print(f"FAIL {e['file']}: file size/sha256 differ from manifest")
                failures += 1
            sport = int(e["connection"].rsplit(":", 1)[1])
            got = reqs.get((sport, e["api_key"], e["correlation_id"]))
            if got is None:
                print(f"FAIL {e['file']}: tshark did not decode this request")
                failures += 1
                continue
            for field, want in expected_fields(e).items():
                have = got.get(field, [])
                if (e["api_key"], field) in FIRST_ONLY and len(want) > 1:
                    skipped.append(f"{e['file']} {field}: compared {want[:1]} only, not {want[1:]}")
                    want, have = want[:1], have[:1]
                if field == "kafka.message_timestamp":
                    have = [tshark_time_ms(s) for s in have]
                if have != want:
                    print(f"FAIL {e['file']} {field}: manifest {want} tshark {have}")
                    failures += 1
                else:
                    compared += 1
    for s in skipped:
        print(f"partial {s} (known tshark gap)")
    print(f"{compared} field lists agree, {failures} mismatches, {len(skipped)} partly compared, {len(manifest)} frames")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
