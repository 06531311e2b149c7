#!/usr/bin/env python3
"""Compares Wireshark's dissection of the cross-check frames with the values emit_frames put in them.

    compare.py MANIFEST.tsv DISSECTION.pdml [--report FILE] [--pairs]

MANIFEST.tsv is written by emit_frames; DISSECTION.pdml by `tshark -r x.pcap -d tcp.port==9092,kafka -T pdml`.

Every frame is looked up by correlation id and direction. For each one:
  - every value the dissector shows is matched to the value we encoded (integers of 16 bits and more, strings and
    bytes are unique within a frame, so a match names the field it came from); a shown value that matches nothing
    we encoded means the dissector parsed the bytes differently from us;
  - the dissector's label for a matched value must be one LABELS allows for our field's name (catches swapped
    fields of the same type);
  - matched values must appear in the order we encoded them;
  - bool/int8 values (not unique) are paired with the dissector's fields of the expected label, in order;
  - values inside tagged fields the dissector does not know must appear in a raw tagged field of the right tag;
  - the dissection must reach the end of the frame (the dissector's own check) without exceptions or other expert
    warnings;
  - the first version past the dissector's table must be refused by it (so "the dissector cannot check this" is
    established, not assumed).
A frame whose findings carry the signature of a dissector bug listed in KNOWN (README.md gives the evidence for
each) is reported as showing that bug and does not fail the run. Exit status: 0 when every finding is explained.
"""

from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field

# Header and framing fields, and record-batch fields that are derived (lengths, CRCs, attribute bits, counts).
IGNORED = {
    "kafka.len", "kafka.api_key", "kafka.api_version", "kafka.request_key", "kafka.response_key",
    "kafka.request.version", "kafka.response.version", "kafka.correlation_id",
    "kafka.request_frame", "kafka.response_frame", "kafka.string_len", "kafka.bytes_len",
    "kafka.message_size", "kafka.message_crc", "kafka.message_magic", "kafka.message_codec",
    "kafka.message_timestamp_type", "kafka.batch_crc", "kafka.batch_codec", "kafka.batch_timestamp_type",
    "kafka.batch_transactional", "kafka.batch_control_batch", "kafka.batch_last_offset_delta", "kafka.batch_size",
    "kafka.record_attributes", "kafka.tagged_field_tag", "kafka.tagged_field_data",
}

# Our field name (the last path component without indices) -> the dissector's labels ("kafka." left off) that fit
# it. A key "Api.name" or "Api.parent.name" applies to one API only and wins over the plain name. Built from the
# pairings that `--pairs` prints, each reviewed by hand: a label not listed here is reported as a finding.
_LABELS = {
    "acks": "required_acks",
    "allow_auto_topic_creation": "allow_auto_topic_creation",
    "api_key": "api_versions.api_key",
    "assignment": "member_assignment",
    "auth_bytes": "sasl_authentication",
    "authorized_operations": "group_authorized_ops",
    "base_offset": "offset",
    "base_sequence": "batch_base_sequence",
    "batch_index": "batch_index",
    "batch_index_error_message": "batch_index_error_message",
    "broker_ids": "node_id replica_id",
    "client_host": "client_host",
    "client_id": "client_id",
    "client_software_name": "client_software_name",
    "client_software_version": "client_software_version",
    "cluster_authorized_operations": "cluster_authorized_ops",
    "cluster_id": "cluster_id",
    "commit_timestamp": "commit_timestamp",
    "committed": "transaction_result",
    "committed_leader_epoch": "leader_epoch",
    "committed_metadata": "metadata",
    "committed_offset": "offset",
    "config_operation": "config_operation",
    "config_source": "config_source",
    "configuration_keys": "config_key",
    "controller_id": "node_id",
    "coordinator_epoch": "coordinator_epoch",
    "count": "partition_count",
    "current_leader_epoch": "current_leader_epoch leader_epoch",
    "election_type": "election_type",
    "end_offset": "offset",
    "error_code": "error",
    "error_message": "error_message",
    "fetch_offset": "offset",
    "first_offset": "first_offset",
    "first_timestamp": "batch_first_timestamp",
    "generation_id": "generation_id",
    "generation_id_or_member_epoch": "generation_id",
    "group_id": "consumer_group",
    "group_instance_id": "consumer_group_instance",
    "group_state": "group_state",
    "groups": "consumer_group",
    "groups_names": "consumer_group",
    "high_watermark": "offset",
    "host": "host acl_host",
    "host_filter": "acl_host",
    "include_authorized_operations": "include_group_authorized_ops",
    "include_cluster_authorized_operations": "include_cluster_authorized_ops",
    "include_synonyms": "config_include_synonyms",
    "include_topic_authorized_operations": "include_topic_authorized_ops",
    "index": "partition_id",
    "is_default": "config_default",
    "is_future_key": "future",
    "is_internal": "is_internal",
    "is_sensitive": "config_sensitive",
    "isolation_level": "isolation_level",
    "isr_nodes": "isr_id",
    "key": "coordinator_key header_key message_key",
    "FindCoordinator.key": "coordinator_key consumer_group",
    "key_type": "coordinator_type",
    "last_stable_offset": "last_stable_offset",
    "leader": "group_leader_id",
    "leader_epoch": "leader_epoch",
    "leader_id": "leader_id",
    "log_append_time_ms": "offset_time",
    "log_dir": "log_dir",
    "log_start_offset": "log_start_offset",
    "low_watermark": "offset",
    "max_bytes": "max_bytes",
    "max_num_offsets": "max_offsets",
    "max_timestamp": "batch_last_timestamp",
    "max_version": "api_versions.max_version",
    "max_wait_ms": "max_wait_time",
    "mechanism": "sasl_mechanism",
    "mechanisms": "sasl_mechanism",
    "member_assignment": "member_assignment",
    "member_id": "member_id",
    "member_metadata": "member_metadata",
    "metadata": "metadata",
    "JoinGroup.protocols.metadata": "protocol_metadata",
    "JoinGroup.members.metadata": "member_metadata",
    "min_bytes": "min_bytes",
    "min_version": "api_versions.min_version",
    "name": "topic_name",
    "configs.name": "config_key",
    "synonyms.name": "config_key",
    "JoinGroup.protocols.name": "protocol_name",
    "node_id": "node_id",
    "num_partitions": "num_partitions",
    "offline_replicas": "offline_id",
    "offset": "offset",
    "offset_lag": "offset_lag",
    "old_style_offsets": "offset",
    "operation": "acl_operation",
    "partition": "partition_id",
    "partition_index": "partition_id",
    "partition_indexes": "partition_id",
    "partition_id": "partition_id",
    "partition_error_code": "error",
    "partition_leader_epoch": "leader_epoch",
    "partition_max_bytes": "max_bytes",
    "partition_size": "segment_size",
    "partitions": "partition_id",
    "forgotten_topics_data.partitions": "forgotten_topic_partition",
    "path": "log_dir",
    "pattern_type": "acl_resource_pattern_type",
    "pattern_type_filter": "acl_resource_pattern_type",
    "permission_type": "acl_permission_type",
    "port": "port",
    "preferred_read_replica": "replica_id",
    "principal": "acl_principal",
    "principal_filter": "acl_principal",
    "producer_epoch": "producer_epoch",
    "producer_id": "producer_id",
    "protocol_data": "protocol_name",
    "protocol_name": "protocol_name",
    "protocol_type": "protocol_type",
    "rack": "rack",
    "rack_id": "rack",
    "read_only": "config_readonly",
    "rebalance_timeout_ms": "rebalance_timeout",
    "replica_id": "replica_id",
    "replica_nodes": "replica_id",
    "replication_factor": "replication_factor",
    "require_stable": "require_stable_offset",
    "resource_name": "acl_resource_name config_resource_name",
    "resource_name_filter": "acl_resource_name",
    "resource_pattern_type": "acl_resource_pattern_type",
    "resource_type": "acl_resource_type config_resource_type",
    "resource_type_filter": "acl_resource_type",
    "retention_time_ms": "retention_time",
    "session_epoch": "fetch_session_epoch",
    "session_id": "fetch_session_id",
    "session_lifetime_ms": "session_lifetime_ms",
    "session_timeout_ms": "session_timeout",
    "source": "config_source",
    "throttle_time_ms": "throttle_time",
    "timeout_ms": "timeout",
    "timestamp": "offset_time",
    "topic": "topic_name",
    "forgotten_topics_data.topic": "forgotten_topic_name",
    "topic_authorized_operations": "topic_authorized_ops",
    "topic_name": "topic_name",
    "topic_names": "topic_name",
    "transaction_result": "transaction_result",
    "transaction_timeout_ms": "transaction_timeout",
    "transactional_id": "transactional_id",
    "v3_and_below_producer_epoch": "producer_epoch",
    "v3_and_below_producer_id": "producer_id",
    "v3_and_below_transactional_id": "transactional_id",
    "validate_only": "validate_only",
    "value": "config_value header_value message_value",
    # fields the Wireshark 4.4 dissector also shows
    "message.timestamp": "message_timestamp",
    "last_fetched_epoch": "last_fetched_epoch",
    "topic_id": "topic_id",
    "forgotten_topics_data.topic_id": "forgotten_topic_id",
    "OffsetFetch.groups.group_id": "group_id",
    "member_epoch": "member_epoch",
    "coordinator_keys": "coordinator_key",
    "JoinGroup.reason": "join_reason",
    "LeaveGroup.members.reason": "leave_reason",
    "skip_assignment": "skip_assignment",
    "documentation": "config_documentation",
    "config_type": "config_data_type",
    "include_documentation": "config_include_documentation",
}
LABELS: dict[str, set[str]] = {k: {"kafka." + x for x in v.split()} for k, v in _LABELS.items()}


def labels_for(api: str, path: str) -> set[str]:
    parts = [re.sub(r"<tag \d+>|\[\d+\]", "", p) for p in path.split(".")]
    leaf = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    for key in (f"{api}.{parent}.{leaf}", f"{api}.{leaf}", f"{parent}.{leaf}", leaf):
        if key in LABELS:
            return LABELS[key]
    return set()

# Dissector bugs found by this check (README.md gives the evidence for each). A frame whose findings include the
# signature of a bug listed for its API, versions and direction is reported as showing that bug: the dissection
# after the bug is garbage, so the frame's other findings are attributed to it (those frames are covered by the
# golden frames from real clients instead, or by a variant frame that avoids the bug). A bug of kind "label"
# only excuses the findings that match its signature.
BUGS = {
    "WS-LEGACY": "magic 0/1 message sets: attributes byte read twice, key/value lengths read as int16",
    "WS-BYTES16": "non-flexible BYTES read with an int16 length instead of int32",
    "WS-CT-PARTITION": "CreateTopics request: offset not advanced past partition_index of an assignment",
    "WS-CP-FLAT": "CreatePartitions request: assignments read as one flat array of broker ids",
    "WS-EL-TOPIC": "ElectLeaders request: topic name of topic_partitions not read",
    "WS-PR-COMPACT": "Alter/ListPartitionReassignments (flexible from v0): non-compact arrays/strings read",
    "WS-DT-THROTTLE": "DeleteTopics response: throttle_time_ms read only from v3 (it exists from v1)",
    "WS-WTM-THROTTLE": "WriteTxnMarkers response: reads a throttle_time_ms the message does not have",
    "WS-DA-COMPACT": "DeleteAcls response: filter results read as a compact array in every version",
    "WS-ARLD-LABEL": "AlterReplicaLogDirs response: topic name labelled 'Log Dir' (label only)",
    "WS-NOREQ": "response not decoded because the dissector failed on its request (another bug)",
    "WS-NULL-RECORDS": "null records (int32 length -1) in non-flexible versions read as a 4 GiB message set",
    "WS44-MD12-NULLNAME": "Metadata v12 response: a null topic name (topics looked up by id) ends the dissection",
    "WS44-FC0": "FindCoordinator v0 request: reads past the key (4.4 only; 4.0 reads it right)",
    "WS44-DT6-TAGS": "DeleteTopics v6 request: the tagged-field section ending each topic is not read",
    "WS44-DC4-SYN": "DescribeConfigs v4 response: synonyms read with non-compact strings",
}
# (bug, APIs, first version, last version, direction or None, signature regex, kind: frame | label)
KNOWN = [
    ("WS-LEGACY", {"Produce"}, 0, 2, "req", r"kafka\.message_key shows ''", "frame"),
    ("WS-LEGACY", {"Fetch"}, 0, 3, "resp", r"kafka\.message_key shows ''", "frame"),
    ("WS-BYTES16", {"JoinGroup"}, 0, 5, None, r"kafka\.(protocol|member)_metadata shows ''", "frame"),
    ("WS-BYTES16", {"SyncGroup"}, 0, 3, None, r"kafka\.member_assignment shows ''", "frame"),
    ("WS-BYTES16", {"DescribeGroups"}, 0, 4, "resp", r"kafka\.member_metadata shows ''", "frame"),
    ("WS-BYTES16", {"SaslAuthenticate"}, 0, 1, None, r"kafka\.sasl_authentication shows ''", "frame"),
    ("WS-CT-PARTITION", {"CreateTopics"}, 0, 7, "req",
     r"partition_index \(\w+\) is shown as kafka\.replica_id|kafka\.partition_id shows", "frame"),
    ("WS-CP-FLAT", {"CreatePartitions"}, 0, 2, "req", r"kafka\.node_id shows", "frame"),
    ("WS-EL-TOPIC", {"ElectLeaders"}, 0, 2, "req", r"kafka\.partition_id shows|Invalid array length", "frame"),
    ("WS-PR-COMPACT", {"AlterPartitionReassignments", "ListPartitionReassignments"}, 0, 0, None,
     r"Malformed|does not end at the pdu", "frame"),
    ("WS-DT-THROTTLE", {"DeleteTopics"}, 1, 2, "resp", r"kafka\.topic_name shows ''|Invalid array length", "frame"),
    ("WS-WTM-THROTTLE", {"WriteTxnMarkers"}, 0, 0, "resp", r"kafka\.throttle_time shows", "frame"),
    ("WS-DA-COMPACT", {"DeleteAcls"}, 0, 1, "resp", r"does not end at the pdu", "frame"),
    ("WS-NULL-RECORDS", {"Produce"}, 0, 8, "req", r"Message set size does not match content", "frame"),
    ("WS-NULL-RECORDS", {"Fetch"}, 0, 11, "resp", r"Message set size does not match content", "frame"),
    ("WS44-MD12-NULLNAME", {"Metadata"}, 12, 12, "resp", r"Malformed", "frame"),
    ("WS44-FC0", {"FindCoordinator"}, 0, 0, "req", r"Malformed", "frame"),
    ("WS44-DT6-TAGS", {"DeleteTopics"}, 6, 6, "req", r"Invalid array length|kafka\.(timeout|topic_id) shows",
     "frame"),
    ("WS44-DC4-SYN", {"DescribeConfigs"}, 4, 4, "resp", r"Malformed", "frame"),
    ("WS-ARLD-LABEL", {"AlterReplicaLogDirs"}, 0, 1, "resp", r"topic_name \(\w+\) is shown as kafka\.log_dir",
     "label"),
]


@dataclass
class Entry:
    path: str
    type: str
    hex: str
    tagged: bool
    leaf: str = ""
    tag: int | None = None  # the innermost tag on the path
    matched: bool = False


@dataclass
class Frame:
    corr: int
    direction: str
    api: str
    key: int
    version: int
    status: str  # checked | beyond
    variant: str = ""  # what this frame leaves out to get past a dissector bug (emit_frames.cc, variants)
    entries: list[Entry] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seen: bool = False
    unsupported: bool = False
    verified: int = 0
    nulls_seen: int = 0  # nulls we wrote that the dissector shows as null
    raw_tagged: int = 0  # values found inside tagged fields the dissector shows only as raw bytes
    not_shown: list[str] = field(default_factory=list)
    pairs: set = field(default_factory=set)


LEAF_RE = re.compile(r"(?:<tag \d+>)?(?:\[\d+\])?$")


def leaf_name(path: str) -> str:
    last = path.split(".")[-1]
    return re.sub(r"<tag \d+>|\[\d+\]", "", last)


def innermost_tag(path: str) -> int | None:
    tags = re.findall(r"<tag (\d+)>", path)
    return int(tags[-1]) if tags else None


def read_manifest(path: str) -> dict[tuple[int, str], Frame]:
    frames: dict[tuple[int, str], Frame] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "F":
                _, corr, d, api, key, version, status, variant = parts
                frames[(int(corr), d)] = Frame(int(corr), d, api, int(key), int(version), status, variant)
            elif parts[0] == "E":
                _, corr, d, p, t, h, tagged = parts
                e = Entry(p, t, h, tagged == "1")
                e.leaf = leaf_name(p)
                e.tag = innermost_tag(p)
                frames[(int(corr), d)].entries.append(e)
    return frames


@dataclass
class Shown:
    name: str
    show: str
    value: str
    pos: int
    size: int
    tag: int | None = None  # for raw tagged field data: the tag


def walk_kafka(proto: ET.Element) -> tuple[list[Shown], list[str]]:
    """The values one Kafka PDU's dissection shows, in document order, and its expert messages."""
    shown: list[Shown] = []
    experts: list[str] = []

    def visit(el: ET.Element, current_tag: list[int | None]) -> None:
        for child in el:
            if child.tag != "field":
                continue
            name = child.get("name", "")
            pos, size = int(child.get("pos", "0")), int(child.get("size", "0"))
            if name == "_ws.expert" or name.startswith("_ws.malformed"):
                experts.append(child.get("showname") or child.get("show") or name)
                continue
            if name.startswith("kafka.") and child.get("hide") != "yes":
                if name == "kafka.tagged_field_tag":
                    current_tag[0] = int(child.get("show", "-1"), 0)
                elif name == "kafka.tagged_field_data":
                    shown.append(Shown(name, child.get("show", ""), child.get("value", ""), pos, size, current_tag[0]))
                elif child.get("value") is not None:
                    shown.append(Shown(name, child.get("show", ""), child.get("value", ""), pos, size))
                if len(child):
                    visit(child, current_tag)
            else:
                # a subtree; "Field" is one raw tagged field (tag, then data)
                visit(child, [None] if child.get("show") == "Field" else current_tag)

    visit(proto, [None])
    return shown, experts


HEADER_CLIENT_ID = "xc-client"  # emit_frames.cc
# How the dissector's raw value of a null looks: int16 -1 (string), int32 -1 (bytes, array), varint 0 (compact).
NULL_VALUES = {"ffff", "ffffffff", "00"}

# Where the dissector names an API differently.
WIRESHARK_NAMES = {"ListOffsets": "Offsets"}

INT_TYPES = {"int16", "int32", "int64", "uint16", "uint32", "float64", "uuid"}
SMALL_TYPES = {"bool", "int8"}


def value_matches(e: Entry, s: Shown) -> bool:
    if e.type in INT_TYPES:
        return s.value == e.hex
    if e.type in ("string", "bytes"):
        if not e.hex:
            return False
        if s.value == e.hex:
            return True
        # the dissector's field may include the length prefix (int16/int32 or unsigned varint)
        return s.value.endswith(e.hex) and len(s.value) - len(e.hex) <= 10
    if e.type == "shown":
        return s.show == e.hex
    return False


def check_frame(f: Frame, shown: list[Shown], experts: list[str]) -> None:
    refused = f"Unsupported {WIRESHARK_NAMES.get(f.api, f.api)} version"
    for x in experts:
        if refused in x:
            f.unsupported = True
        else:
            f.findings.append(f"expert: {x}")

    entries = [e for e in f.entries if e.type not in ("records", "null")]
    big = [e for e in entries if e.type not in SMALL_TYPES]
    small = [e for e in entries if e.type in SMALL_TYPES]
    nulls = [e for e in f.entries if e.type == "null"]
    consumed: set[int] = set()  # shown fields already accounted for
    positions: list[tuple[int, int, str]] = []  # (our encoding order, byte the dissector shows it at, path)
    for s in shown:
        if s.name in IGNORED and s.name != "kafka.tagged_field_data":
            continue
        if s.name == "kafka.client_id" and s.show == HEADER_CLIENT_ID:
            continue  # the request header's
        if s.name == "kafka.tagged_field_data":
            # raw data of a tagged field the dissector does not know: our tagged values of that tag must be in it
            found = [e for e in big + small if e.tagged and e.tag == s.tag and not e.matched and
                     (e.hex in s.value if e.type != "bool" else True)]
            if not found:
                f.findings.append(f"unknown tagged field {s.tag} with data {s.value} matches nothing we encoded")
            for e in found:
                e.matched = True
                f.raw_tagged += 1
                f.notes.append(f"{e.path}: present in raw tagged field {s.tag} (the dissector does not decode it)")
            continue
        if s.value in NULL_VALUES or s.show == "[ Null ]":
            # a null string, bytes or array: the next null we wrote that fits the label
            cands = [e for e in nulls if not e.matched and s.name in labels_for(f.api, e.path)]
            if cands:
                cands[0].matched = True
                f.nulls_seen += 1
                consumed.add(id(s))
                continue
            if s.size > 1 or s.show == "[ Null ]":
                f.findings.append(f"{s.name} shows null ({s.value}) where we wrote no null")
                continue
        if s.name in ("kafka.offset", "kafka.message_timestamp") and s.size != 8:
            # a record's offset and timestamp deltas (varints): the dissector shows the sums
            if s.name == "kafka.offset":
                cands = [e for e in big if not e.matched and e.type == "shown" and e.hex == s.show]
                if cands:
                    cands[0].matched = True
                    f.verified += 1
                else:
                    f.findings.append(f"a record shows offset {s.show}, which is no offset we encoded")
            continue
        if s.size == 1:
            continue  # bool / int8: paired below
        cands = [e for e in big if not e.matched and value_matches(e, s)]
        if not cands:
            f.findings.append(f"{s.name} shows {s.show!r} ({s.value}), which is no value we encoded")
            continue
        e = cands[0]
        e.matched = True
        f.verified += 1
        f.pairs.add((re.sub(r"\[\d+\]|<tag \d+>", "", e.path), s.name))
        if s.name not in labels_for(f.api, e.path):
            f.findings.append(f"{e.path} ({e.hex}) is shown as {s.name}")
        if not e.tagged and e.type != "shown":
            positions.append((entries.index(e), s.pos, e.path))
    # values we encoded one after the other must lie one after the other in the frame
    last_pos, last_path = -1, ""
    for _, pos, path in sorted(positions):
        if pos < last_pos:
            f.findings.append(f"{path} shown at byte {pos}, before {last_path} (byte {last_pos}) which we wrote first")
        last_pos, last_path = pos, path
    # bool / int8: pair by label, in order
    by_label: dict[str, list[Shown]] = defaultdict(list)
    for s in shown:
        if (s.size == 1 and s.name not in IGNORED and s.name not in ("kafka.offset", "kafka.message_timestamp")
                and id(s) not in consumed):
            by_label[s.name].append(s)
    for e in small:
        if e.matched:
            continue
        for label in sorted(labels_for(f.api, e.path)):
            if by_label.get(label):
                s = by_label[label].pop(0)
                e.matched = True
                f.pairs.add((re.sub(r"\[\d+\]|<tag \d+>", "", e.path), s.name))
                if s.value != e.hex:
                    f.findings.append(f"{e.path} = {e.hex} but {s.name} shows {s.value}")
                else:
                    f.verified += 1
                break
    for label, rest in by_label.items():
        if label in IGNORED:
            continue
        for s in rest:
            f.pairs.add(("?", s.name))
            f.findings.append(f"{s.name} shows {s.value} where we encoded no bool/int8 of that label")
    f.not_shown = [e.path for e in entries if not e.matched]


def read_pdml(path: str, frames: dict[tuple[int, str], Frame]) -> None:
    for _, packet in ET.iterparse(path, events=("end",)):
        if packet.tag != "packet":
            continue
        srcport = None
        for proto in packet.iter("proto"):
            if proto.get("name") == "tcp":
                for fld in proto.iter("field"):
                    if fld.get("name") == "tcp.srcport":
                        srcport = int(fld.get("show"))
                        break
        for proto in packet.iter("proto"):
            if proto.get("name") != "kafka":
                continue
            corr = None
            for fld in proto.iter("field"):
                if fld.get("name") == "kafka.correlation_id":
                    corr = int(fld.get("show"))
                    break
            d = "resp" if srcport == 9092 else "req"
            f = frames.get((corr, d))
            if f is None:
                print(f"warning: a Kafka PDU with correlation id {corr} ({d}) matches no frame", file=sys.stderr)
                continue
            f.seen = True
            shown, experts = walk_kafka(proto)
            # Expert infos of the packet that sit outside the kafka tree (malformed packet)
            for el in packet:
                if el.tag == "proto" and el.get("name") == "_ws.malformed":
                    experts.append(el.get("showname") or "Malformed Packet")
            check_frame(f, shown, experts)
        packet.clear()


def classify(f: Frame, request_bugs: dict[int, set[str]]) -> tuple[set[str], list[tuple[str, str | None]]]:
    """The known bugs a frame shows, and each finding with the bug that explains it (None: unexplained)."""
    frame_bugs: set[str] = set()
    for bug, apis, lo, hi, d, pattern, kind in KNOWN:
        if f.api in apis and lo <= f.version <= hi and d in (None, f.direction) and kind == "frame":
            if any(re.search(pattern, x) for x in f.findings):
                frame_bugs.add(bug)
    if f.direction == "resp" and request_bugs.get(f.corr) and any("Request missing" in x for x in f.findings):
        frame_bugs.add("WS-NOREQ")
    out = []
    for x in f.findings:
        why = None
        for bug, apis, lo, hi, d, pattern, kind in KNOWN:
            if (kind == "label" and f.api in apis and lo <= f.version <= hi and d in (None, f.direction)
                    and re.search(pattern, x)):
                why = bug
        if why is None and frame_bugs:
            why = ",".join(sorted(frame_bugs))
        out.append((x, why))
    return frame_bugs, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("pdml")
    ap.add_argument("--report", help="write the full per-frame report here (default: standard output)")
    ap.add_argument("--pairs", action="store_true", help="print (our field, dissector label) pairs seen")
    args = ap.parse_args()
    frames = read_manifest(args.manifest)
    read_pdml(args.pdml, frames)

    if args.pairs:
        pairs = defaultdict(set)
        for f in frames.values():
            for ours, theirs in f.pairs:
                pairs[(f.api, f.direction, ours, theirs)].add(f.version)
        for (api, d, ours, theirs) in sorted(pairs):
            vs = sorted(pairs[(api, d, ours, theirs)])
            print(f"{api} {d} {ours} -> {theirs}  v{','.join(map(str, vs))}")
        return 0

    unexplained = 0
    bugs_seen: dict[str, set[str]] = defaultdict(set)
    request_bugs: dict[int, set[str]] = {}
    # (api, version, variant) -> {direction: short state}
    cells: dict[tuple[str, int, str], dict[str, str]] = {}
    order: list[str] = []
    lines = []
    for f in sorted(frames.values(), key=lambda x: (x.corr, x.direction != "req")):
        if f.api not in order:
            order.append(f.api)
        head = f"{f.api} v{f.version} {f.direction}" + (f" [variant: {f.variant}]" if f.variant else "")
        total = len([e for e in f.entries if e.type not in ("records", "null")])
        cell = cells.setdefault((f.api, f.version, f.variant), {})
        if f.status == "beyond":
            if f.direction == "req":
                state = "refused by the dissector, as expected" if f.unsupported else "ACCEPTED beyond the table?"
                if not f.unsupported:
                    unexplained += 1
                cell["req"] = "refused" if f.unsupported else "ACCEPTED?"
                lines.append(f"== {head}: {state}")
            continue
        if not f.seen:
            f.findings.append("the dissector shows no Kafka PDU for this frame")
        if f.unsupported:
            f.findings.insert(0, "the dissector does not support this version")
        frame_bugs, judged = classify(f, request_bugs)
        if f.direction == "req":
            request_bugs[f.corr] = frame_bugs
        new = [x for x, why in judged if why is None]
        unexplained += len(new)
        for _, why in judged:
            if why:
                for b in why.split(","):
                    bugs_seen[b].add(f"{f.api} v{f.version} {f.direction}")
        if not judged:
            state, short = "ok", "ok"
        elif new:
            state, short = "MISMATCH", "MISMATCH"
        else:
            named = sorted({b for _, why in judged for b in why.split(",")})
            state, short = "dissector bug " + ", ".join(named), "bug"
        cell[f.direction] = short
        lines.append(f"== {head}: {state}; {f.verified} of {total} values verified"
                     + (f", {f.raw_tagged} found in raw tagged fields" if f.raw_tagged else "")
                     + (f", {f.nulls_seen} of {len([e for e in f.entries if e.type == 'null'])} nulls shown as null"
                        if f.variant.startswith("nullable") else "")
                     + (f", {len(f.not_shown)} not shown" if f.not_shown else ""))
        for x, why in judged:
            lines.append(f"   {'NEW  ' if why is None else why}: {x}")
        for n in f.notes:
            lines.append(f"   note: {n}")
        if f.not_shown:
            lines.append("   not shown by the dissector: " + ", ".join(f.not_shown))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    else:
        print("\n".join(lines))

    print("Per version, request/response: ok = every value shown matches what we encoded; bug = a known dissector")
    print("bug (below) spoils the dissection; refused = first version beyond the dissector, refused as expected;")
    print("(nulls a/b) = the same version with every nullable field but records null; (null records a/b) = records")
    print("null; (variant a/b) = arrays that trigger a dissector bug left empty, so that the rest can be checked.")
    for api in order:
        row = []
        for (a, v, variant), c in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][2])):
            if a != api:
                continue
            if "resp" not in c and c.get("req") in ("refused", "ACCEPTED?"):
                row.append(f"v{v}:{c['req']}")
            elif variant:
                tag = {"nullable fields null": "nulls", "nullable records null": "null records"}.get(variant, "variant")
                row[-1] += f"({tag} {c.get('req', '-')}/{c.get('resp', '-')})"
            else:
                row.append(f"v{v}:{c.get('req', '-')}/{c.get('resp', '-')}")
        print(f"  {api:28} " + " ".join(row))
    if bugs_seen:
        print("\nKnown dissector bugs seen:")
        for bug in sorted(bugs_seen):
            where = sorted(bugs_seen[bug])
            print(f"  {bug}: {BUGS[bug]} ({len(where)} frames)")
    print(f"\n{unexplained} unexplained finding(s)" + (f"; details in {args.report}" if args.report else ""))
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
