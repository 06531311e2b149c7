#!/usr/bin/python3
"""Split tcpdump captures of Kafka traffic into golden request/response frames.

Usage:
  extract_frames.py --out tests/protocol/golden CLIENT=PCAP[:PORT] [CLIENT=PCAP[:PORT] ...]

For every capture (classic libpcap format, as written by `tcpdump -w`):
  * parse the link layer (Ethernet, Linux cooked v1/v2, BSD loopback, raw IP),
    IPv4/IPv6 and TCP;
  * reassemble each direction of each TCP connection by sequence number,
    dropping retransmitted/duplicate bytes and failing on holes;
  * split the byte streams into Kafka frames (int32 size prefix);
  * keep, per client, the first request of each (api_key, api_version) plus every
    Produce request, in capture order;
  * write each kept request WITHOUT its size prefix (starting at the request
    header) to OUT/<client>/<NNN>_<ApiName>_v<version>.bin and the broker's
    response to the same correlation id to OUT/<client>/responses/<same name>;
  * decode each kept request with the small hand-written decoder below and
    store the values a codec must find in OUT/manifest.json ("expect").

PORT is the broker's TCP port; when omitted it is taken from the SYN packets.
Entries for clients not named on the command line are kept in manifest.json.

Only the standard library is needed, except for decoding zstd-compressed
record batches: those use the `zstandard` module (Debian: python3-zstandard)
when present, else the `zstd` command line tool.  Snappy (raw and xerial
framing) and LZ4 (frame format) are decoded by pure-Python code here.
"""
import argparse
import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from collections import OrderedDict

# --------------------------------------------------------------------------
# pcap parsing and TCP reassembly
# --------------------------------------------------------------------------

LINKTYPE_NULL = 0
LINKTYPE_EN10MB = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_ALT = 12
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276


def read_pcap(path):
    """Yield (timestamp_seconds_float, linktype, packet_bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f"{path}: too short for a pcap file")
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, nano = "<", False
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, nano = ">", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, nano = "<", True
    elif magic == b"\xa1\xb2\x3c\x4d":
        endian, nano = ">", True
    elif magic == b"\x0a\x0d\x0d\x0a":
        raise ValueError(f"{path}: pcapng is not supported; capture with `tcpdump -w` (classic pcap)")
    else:
        raise ValueError(f"{path}: unknown pcap magic {magic.hex()}")
    _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    linktype &= 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pos += 16
        pkt = data[pos:pos + incl]
        pos += incl
        if incl != orig:
            raise ValueError(f"{path}: truncated packet (snaplen too small): {incl} < {orig}")
        ts = sec + frac / (1e9 if nano else 1e6)
        yield ts, linktype, pkt


def link_payload(linktype, pkt):
    """Return (ethertype-ish 'ip4'/'ip6'/None, network-layer bytes)."""
    if linktype == LINKTYPE_EN10MB:
        off = 12
        etype = struct.unpack(">H", pkt[off:off + 2])[0]
        off += 2
        while etype in (0x8100, 0x88A8):  # VLAN tags
            etype = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            off += 4
        return {0x0800: "ip4", 0x86DD: "ip6"}.get(etype), pkt[off:]
    if linktype == LINKTYPE_LINUX_SLL:
        etype = struct.unpack(">H", pkt[14:16])[0]
        return {0x0800: "ip4", 0x86DD: "ip6"}.get(etype), pkt[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        etype = struct.unpack(">H", pkt[0:2])[0]
        return {0x0800: "ip4", 0x86DD: "ip6"}.get(etype), pkt[20:]
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        fam_le = struct.unpack("<I", pkt[:4])[0]
        fam_be = struct.unpack(">I", pkt[:4])[0]
        fam = fam_le if fam_le < 256 else fam_be
        if fam == 2:
            return "ip4", pkt[4:]
        if fam in (10, 24, 28, 30):
            return "ip6", pkt[4:]
        return None, b""
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_ALT, LINKTYPE_IPV4, LINKTYPE_IPV6):
        ver = pkt[0] >> 4
        return {4: "ip4", 6: "ip6"}.get(ver), pkt
    raise ValueError(f"unsupported pcap link type {linktype}")


def tcp_segment(kind, ip):
    """Return (src, dst, sport, dport, seq, flags, payload) or None."""
    if kind == "ip4":
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        frag = struct.unpack(">H", ip[6:8])[0]
        if frag & 0x3FFF:
            raise ValueError("IPv4 fragments are not supported")
        if ip[9] != 6:
            return None
        src, dst = ip[12:16], ip[16:20]
        tcp = ip[ihl:total]
        src = ".".join(str(b) for b in src)
        dst = ".".join(str(b) for b in dst)
    elif kind == "ip6":
        nxt = ip[6]
        plen = struct.unpack(">H", ip[4:6])[0]
        src, dst = ip[8:24].hex(), ip[24:40].hex()
        body = ip[40:40 + plen]
        # skip extension headers we know about
        while nxt in (0, 43, 60):
            nxt, hlen = body[0], (body[1] + 1) * 8
            body = body[hlen:]
        if nxt != 6:
            return None
        tcp = body
    else:
        return None
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    doff = (tcp[12] >> 4) * 4
    flags = tcp[13]
    return src, dst, sport, dport, seq, flags, bytes(tcp[doff:])


TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10


class Direction:
    """One direction of one TCP connection."""

    def __init__(self, key):
        self.key = key
        self.isn = None  # sequence number of the first payload byte
        self.segments = []  # (rel_seq, timestamp, payload)

    def add(self, ts, seq, flags, payload):
        if flags & TCP_SYN:
            self.isn = (seq + 1) & 0xFFFFFFFF
        if payload:
            self.segments.append((seq, ts, payload))

    def assemble(self):
        """Return (bytes, [(stream_offset, timestamp)] segment starts)."""
        if not self.segments:
            return b"", []
        base = self.isn
        if base is None:
            base = min(s for s, _, _ in self.segments)
            print(f"warning: no SYN seen for {self.key}; starting at lowest sequence", file=sys.stderr)
        segs = []
        for seq, ts, payload in self.segments:
            rel = (seq - base) & 0xFFFFFFFF
            if rel >= 0x80000000:  # before the start (should not happen)
                continue
            segs.append((rel, ts, payload))
        segs.sort(key=lambda s: (s[0], s[1]))
        out = bytearray()
        starts = []
        for rel, ts, payload in segs:
            end = rel + len(payload)
            if end <= len(out):
                # retransmission / duplicate (e.g. a packet seen twice on lo):
                # the bytes must agree with what we already have
                if bytes(out[rel:end]) != payload:
                    raise ValueError(f"{self.key}: retransmitted bytes differ at offset {rel}")
                continue
            if rel > len(out):
                raise ValueError(f"{self.key}: hole in TCP stream at offset {len(out)} (next segment at {rel})")
            overlap = len(out) - rel
            if overlap and bytes(out[rel:]) != payload[:overlap]:
                raise ValueError(f"{self.key}: overlapping bytes differ at offset {rel}")
            starts.append((len(out), ts))
            out += payload[overlap:]
        return bytes(out), starts


def load_connections(pcap_path, port):
    """Return (port, list of connections).

    Each connection: dict(id, client_stream, client_starts, server_stream,
    server_starts, first_ts).
    """
    dirs = OrderedDict()
    syn_ports = []
    packets = []
    for ts, linktype, pkt in read_pcap(pcap_path):
        kind, ip = link_payload(linktype, pkt)
        if kind is None:
            continue
        seg = tcp_segment(kind, ip)
        if seg is None:
            continue
        packets.append((ts, seg))
        src, dst, sport, dport, seq, flags, payload = seg
        if flags & TCP_SYN and not flags & TCP_ACK:
            syn_ports.append(dport)
    if port is None:
        if not syn_ports:
            raise ValueError(f"{pcap_path}: no SYN seen; pass the broker port explicitly")
        port = syn_ports[0]
    for ts, (src, dst, sport, dport, seq, flags, payload) in packets:
        if port not in (sport, dport):
            continue
        key = (src, sport, dst, dport)
        d = dirs.get(key)
        if d is None:
            d = dirs[key] = Direction(key)
        d.add(ts, seq, flags, payload)
    conns = []
    seen = set()
    for key, d in dirs.items():
        src, sport, dst, dport = key
        if dport != port:
            continue
        ck = (src, sport, dst, dport)
        if ck in seen:
            continue
        seen.add(ck)
        rev = dirs.get((dst, dport, src, sport))
        cstream, cstarts = d.assemble()
        sstream, sstarts = rev.assemble() if rev else (b"", [])
        conns.append({
            "id": f"{src}:{sport}",
            "client_stream": cstream,
            "client_starts": cstarts,
            "server_stream": sstream,
            "server_starts": sstarts,
        })
    return port, conns


def ts_at(starts, offset):
    """Timestamp of the segment that carried stream byte `offset`."""
    best = None
    for off, ts in starts:
        if off <= offset:
            best = ts
        else:
            break
    return best


def split_frames(stream, what):
    frames = []
    pos = 0
    while pos < len(stream):
        if pos + 4 > len(stream):
            raise ValueError(f"{what}: truncated size prefix at {pos}")
        size = struct.unpack(">i", stream[pos:pos + 4])[0]
        if size < 0 or pos + 4 + size > len(stream):
            raise ValueError(f"{what}: truncated frame at {pos} (size {size}, have {len(stream) - pos - 4})")
        frames.append((pos, stream[pos + 4:pos + 4 + size]))
        pos += 4 + size
    return frames


# --------------------------------------------------------------------------
# Compression codecs (decode only)
# --------------------------------------------------------------------------

def _uvarint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def snappy_raw_decompress(buf):
    length, pos = _uvarint(buf, 0)
    out = bytearray()
    while pos < len(buf):
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            n = tag >> 2
            if n >= 60:
                nb = n - 59
                n = int.from_bytes(buf[pos:pos + nb], "little")
                pos += nb
            n += 1
            out += buf[pos:pos + n]
            pos += n
            continue
        if kind == 1:
            n = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | buf[pos]
            pos += 1
        elif kind == 2:
            n = (tag >> 2) + 1
            off = int.from_bytes(buf[pos:pos + 2], "little")
            pos += 2
        else:
            n = (tag >> 2) + 1
            off = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        if off == 0 or off > len(out):
            raise ValueError("snappy: bad copy offset")
        for _ in range(n):
            out.append(out[-off])
    if len(out) != length:
        raise ValueError(f"snappy: expected {length} bytes, got {len(out)}")
    return bytes(out)


XERIAL_MAGIC = b"\x82SNAPPY\x00"


def snappy_decompress(buf):
    """Returns (bytes, framing) where framing is 'raw' or 'xerial'."""
    if buf[:8] == XERIAL_MAGIC:
        pos = 16  # magic, int32 version, int32 compatible version
        out = bytearray()
        while pos < len(buf):
            n = struct.unpack(">i", buf[pos:pos + 4])[0]
            pos += 4
            out += snappy_raw_decompress(buf[pos:pos + n])
            pos += n
        return bytes(out), "xerial"
    return snappy_raw_decompress(buf), "raw"


def lz4_block_decompress(buf, out):
    """Decode one LZ4 block, appending to `out` (which holds the history)."""
    pos = 0
    while pos < len(buf):
        token = buf[pos]
        pos += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = buf[pos]
                pos += 1
                lit += b
                if b != 255:
                    break
        out += buf[pos:pos + lit]
        pos += lit
        if pos >= len(buf):
            break  # last sequence has literals only
        off = buf[pos] | (buf[pos + 1] << 8)
        pos += 2
        mlen = token & 15
        if mlen == 15:
            while True:
                b = buf[pos]
                pos += 1
                mlen += b
                if b != 255:
                    break
        mlen += 4
        if off == 0 or off > len(out):
            raise ValueError("lz4: bad match offset")
        for _ in range(mlen):
            out.append(out[-off])


def lz4_frame_decompress(buf):
    if struct.unpack("<I", buf[:4])[0] != 0x184D2204:
        raise ValueError("lz4: not an LZ4 frame")
    flg = buf[4]
    pos = 6  # FLG, BD
    if flg & 0x08:
        pos += 8  # content size
    if flg & 0x01:
        pos += 4  # dictionary id
    pos += 1  # header checksum
    block_checksum = bool(flg & 0x10)
    content_checksum = bool(flg & 0x04)
    out = bytearray()
    while True:
        size = struct.unpack("<I", buf[pos:pos + 4])[0]
        pos += 4
        if size == 0:
            break
        raw = bool(size & 0x80000000)
        size &= 0x7FFFFFFF
        block = buf[pos:pos + size]
        pos += size
        if block_checksum:
            pos += 4
        if raw:
            out += block
        else:
            lz4_block_decompress(block, out)
    if content_checksum:
        pos += 4
    return bytes(out)


def zstd_decompress(buf):
    try:
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(buf)
    except ImportError:
        pass
    if shutil.which("zstd"):
        return subprocess.run(["zstd", "-d", "-c", "-q"], input=buf, stdout=subprocess.PIPE, check=True).stdout
    raise RuntimeError("zstd-compressed batch: install python3-zstandard or the zstd tool")


CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def decompress(codec, buf):
    """Returns (bytes, details dict)."""
    if codec == 0:
        return buf, {}
    if codec == 1:
        return gzip.decompress(buf), {}
    if codec == 2:
        data, framing = snappy_decompress(buf)
        return data, {"snappy_framing": framing}
    if codec == 3:
        return lz4_frame_decompress(buf), {}
    if codec == 4:
        return zstd_decompress(buf), {}
    raise ValueError(f"unknown codec {codec}")


# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), for record batch validation
# --------------------------------------------------------------------------

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# --------------------------------------------------------------------------
# Kafka primitive reader
# --------------------------------------------------------------------------

class Reader:
    def __init__(self, buf, pos=0):
        self.buf = buf
        self.pos = pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError(f"read past end: want {n} at {self.pos}, have {len(self.buf)}")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def int8(self):
        return struct.unpack(">b", self.take(1))[0]

    def int16(self):
        return struct.unpack(">h", self.take(2))[0]

    def int32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uint32(self):
        return struct.unpack(">I", self.take(4))[0]

    def int64(self):
        return struct.unpack(">q", self.take(8))[0]

    def boolean(self):
        v = self.take(1)[0]
        if v not in (0, 1):
            raise ValueError(f"bad boolean {v}")
        return bool(v)

    def uvarint(self):
        v, self.pos = _uvarint(self.buf, self.pos)
        return v

    def varint(self):  # zigzag
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def done(self):
        return self.pos == len(self.buf)


def text(b):
    """Bytes -> str for the manifest (all golden payloads are ASCII)."""
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": b.hex()}


# --------------------------------------------------------------------------
# Request schemas
#
# A field is (name, type, min_version, max_version_or_None).  Types:
#   int8 int16 int32 int64 bool string nstring bytes nbytes records
#   ("array", fields) ("narray", fields)  -- array of structs (n = nullable)
#   ("array", "int32") ...                -- array of a primitive
# In flexible versions strings/bytes/arrays are "compact" (uvarint length+1)
# and every struct ends with tagged fields.
# Names follow Kafka's message definitions in snake_case, except that a topic
# name is always "name" and a partition index always "index".
# --------------------------------------------------------------------------

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 17: "SaslHandshake", 18: "ApiVersions",
    22: "InitProducerId", 36: "SaslAuthenticate",
}

# first flexible version of each request
FLEXIBLE_FROM = {
    0: 9, 1: 12, 2: 6, 3: 9, 8: 8, 9: 6, 10: 3, 11: 6, 12: 4, 13: 4, 14: 4,
    17: 99, 18: 3, 22: 2, 36: 2,
}

F = lambda name, typ, lo=0, hi=None: (name, typ, lo, hi)  # noqa: E731

SCHEMAS = {
    0: [  # Produce
        F("transactional_id", "nstring", 3),
        F("acks", "int16"),
        F("timeout_ms", "int32"),
        F("topics", ("array", [
            F("name", "string"),
            F("partitions", ("array", [
                F("index", "int32"),
                F("records", "records"),
            ])),
        ])),
    ],
    1: [  # Fetch
        F("replica_id", "int32"),
        F("max_wait_ms", "int32"),
        F("min_bytes", "int32"),
        F("max_bytes", "int32", 3),
        F("isolation_level", "int8", 4),
        F("session_id", "int32", 7),
        F("session_epoch", "int32", 7),
        F("topics", ("array", [
            F("name", "string"),
            F("partitions", ("array", [
                F("index", "int32"),
                F("current_leader_epoch", "int32", 9),
                F("fetch_offset", "int64"),
                F("last_fetched_epoch", "int32", 12),
                F("log_start_offset", "int64", 5),
                F("partition_max_bytes", "int32"),
            ])),
        ])),
        F("forgotten_topics", ("array", [
            F("name", "string"),
            F("partitions", ("array", "int32")),
        ]), 7),
        F("rack_id", "string", 11),
    ],
    2: [  # ListOffsets
        F("replica_id", "int32"),
        F("isolation_level", "int8", 2),
        F("topics", ("array", [
            F("name", "string"),
            F("partitions", ("array", [
                F("index", "int32"),
                F("current_leader_epoch", "int32", 4),
                F("timestamp", "int64"),
                F("max_num_offsets", "int32", 0, 0),
            ])),
        ])),
    ],
    3: [  # Metadata (v0 topics is a non-nullable array; empty = all topics)
        F("topics", ("array", [F("name", "string")]), 0, 0),
        F("topics", ("narray", [F("name", "string")]), 1, 9),
        F("topics", ("narray", [F("topic_id", "uuid"), F("name", "nstring")]), 10),
        F("allow_auto_topic_creation", "bool", 4),
        F("include_cluster_authorized_operations", "bool", 8, 10),
        F("include_topic_authorized_operations", "bool", 8),
    ],
    8: [  # OffsetCommit
        F("group_id", "string"),
        F("generation_id", "int32", 1),
        F("member_id", "string", 1),
        F("group_instance_id", "nstring", 7),
        F("retention_time_ms", "int64", 2, 4),
        F("topics", ("array", [
            F("name", "string"),
            F("partitions", ("array", [
                F("index", "int32"),
                F("committed_offset", "int64"),
                F("committed_leader_epoch", "int32", 6),
                F("commit_timestamp", "int64", 1, 1),
                F("committed_metadata", "nstring"),
            ])),
        ])),
    ],
    9: [  # OffsetFetch (v0..v7 layout)
        F("group_id", "string"),
        F("topics", ("array", [
            F("name", "string"),
            F("partition_indexes", ("array", "int32")),
        ]), 0, 1),
        F("topics", ("narray", [
            F("name", "string"),
            F("partition_indexes", ("array", "int32")),
        ]), 2, 7),
        F("require_stable", "bool", 7, 7),
    ],
    10: [  # FindCoordinator
        F("key", "string", 0, 3),
        F("key_type", "int8", 1),
        F("coordinator_keys", ("array", "string"), 4),
    ],
    11: [  # JoinGroup
        F("group_id", "string"),
        F("session_timeout_ms", "int32"),
        F("rebalance_timeout_ms", "int32", 1),
        F("member_id", "string"),
        F("group_instance_id", "nstring", 5),
        F("protocol_type", "string"),
        F("protocols", ("array", [
            F("name", "string"),
            F("metadata", "bytes"),
        ])),
        F("reason", "nstring", 8),
    ],
    12: [  # Heartbeat
        F("group_id", "string"),
        F("generation_id", "int32"),
        F("member_id", "string"),
        F("group_instance_id", "nstring", 3),
    ],
    13: [  # LeaveGroup
        F("group_id", "string"),
        F("member_id", "string", 0, 2),
        F("members", ("array", [
            F("member_id", "string"),
            F("group_instance_id", "nstring"),
            F("reason", "nstring", 5),
        ]), 3),
    ],
    14: [  # SyncGroup
        F("group_id", "string"),
        F("generation_id", "int32"),
        F("member_id", "string"),
        F("group_instance_id", "nstring", 3),
        F("protocol_type", "nstring", 5),
        F("protocol_name", "nstring", 5),
        F("assignments", ("array", [
            F("member_id", "string"),
            F("assignment", "bytes"),
        ])),
    ],
    17: [F("mechanism", "string")],
    18: [  # ApiVersions
        F("client_software_name", "string", 3),
        F("client_software_version", "string", 3),
    ],
    22: [  # InitProducerId
        F("transactional_id", "nstring"),
        F("transaction_timeout_ms", "int32"),
        F("producer_id", "int64", 3),
        F("producer_epoch", "int16", 3),
    ],
}


def read_tagged_fields(r):
    n = r.uvarint()
    tags = []
    for _ in range(n):
        tag = r.uvarint()
        size = r.uvarint()
        tags.append({"tag": tag, "data_hex": r.take(size).hex()})
    return tags


def read_len(r, flexible, nullable, what):
    if flexible:
        n = r.uvarint() - 1
    else:
        n = r.int16() if what == "string" else r.int32()
    if n < 0:
        if not nullable:
            raise ValueError(f"null {what} in non-nullable field")
        return None
    return n


def decode_value(r, typ, version, flexible):
    if isinstance(typ, tuple):
        kind, elem = typ
        n = read_len(r, flexible, kind == "narray", "array")
        if n is None:
            return None
        out = []
        for _ in range(n):
            if isinstance(elem, list):
                out.append(decode_struct(r, elem, version, flexible))
            else:
                out.append(decode_value(r, elem, version, flexible))
        return out
    if typ == "int8":
        return r.int8()
    if typ == "int16":
        return r.int16()
    if typ == "int32":
        return r.int32()
    if typ == "int64":
        return r.int64()
    if typ == "bool":
        return r.boolean()
    if typ == "uuid":
        return r.take(16).hex()
    if typ in ("string", "nstring"):
        n = read_len(r, flexible, typ == "nstring", "string")
        return None if n is None else r.take(n).decode("utf-8")
    if typ in ("bytes", "nbytes", "records"):
        n = read_len(r, flexible, typ != "bytes", "bytes")
        return None if n is None else r.take(n)
    raise ValueError(f"unknown type {typ}")


def decode_struct(r, fields, version, flexible):
    out = OrderedDict()
    for name, typ, lo, hi in fields:
        if version < lo or (hi is not None and version > hi):
            continue
        out[name] = decode_value(r, typ, version, flexible)
    if flexible:
        tags = read_tagged_fields(r)
        if tags:
            out["_tagged_fields"] = tags
    return out


# --------------------------------------------------------------------------
# Record batches and consumer-protocol payloads
# --------------------------------------------------------------------------

def decode_record_batches(buf):
    batches = []
    r = Reader(buf)
    while not r.done():
        start = r.pos
        base_offset = r.int64()
        batch_length = r.int32()
        end = r.pos + batch_length
        leader_epoch = r.int32()
        magic = r.int8()
        if magic != 2:
            raise ValueError(f"message set magic {magic} is not decoded here")
        crc = r.uint32()
        crc_start = r.pos
        attributes = r.int16()
        last_offset_delta = r.int32()
        base_ts = r.int64()
        max_ts = r.int64()
        producer_id = r.int64()
        producer_epoch = r.int16()
        base_sequence = r.int32()
        count = r.int32()
        if crc32c(buf[crc_start:end]) != crc:
            raise ValueError("record batch CRC-32C mismatch")
        codec = attributes & 7
        payload, details = decompress(codec, buf[r.pos:end])
        rr = Reader(payload)
        records = []
        for _ in range(count):
            length = rr.varint()
            rec_end = rr.pos + length
            rec_attr = rr.int8()
            ts_delta = rr.varint()
            off_delta = rr.varint()
            klen = rr.varint()
            key = None if klen < 0 else rr.take(klen)
            vlen = rr.varint()
            value = None if vlen < 0 else rr.take(vlen)
            hcount = rr.varint()
            headers = []
            for _ in range(hcount):
                hk = rr.take(rr.varint())
                hvlen = rr.varint()
                hv = None if hvlen < 0 else rr.take(hvlen)
                headers.append([text(hk), text(hv)])
            if rr.pos != rec_end:
                raise ValueError("record length mismatch")
            records.append(OrderedDict([
                ("offset_delta", off_delta),
                ("timestamp_delta", ts_delta),
                ("timestamp", base_ts + ts_delta),
                ("attributes", rec_attr),
                ("key", text(key)),
                ("value", text(value)),
                ("headers", headers),
            ]))
        if not rr.done():
            raise ValueError("trailing bytes after records")
        r.pos = end
        b = OrderedDict([
            ("offset_in_records", start),
            ("base_offset", base_offset),
            ("batch_length", batch_length),
            ("partition_leader_epoch", leader_epoch),
            ("magic", magic),
            ("crc", crc),
            ("attributes", attributes),
            ("codec", CODECS.get(codec, codec)),
            ("timestamp_type", "log_append_time" if attributes & 8 else "create_time"),
            ("is_transactional", bool(attributes & 16)),
            ("is_control", bool(attributes & 32)),
            ("last_offset_delta", last_offset_delta),
            ("base_timestamp", base_ts),
            ("max_timestamp", max_ts),
            ("producer_id", producer_id),
            ("producer_epoch", producer_epoch),
            ("base_sequence", base_sequence),
            ("record_count", count),
            ("compressed_size", end - (crc_start + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4)),
            ("uncompressed_records_size", len(payload)),
        ])
        b.update(details)
        b["records"] = records
        batches.append(b)
    return batches


def decode_consumer_subscription(buf):
    r = Reader(buf)
    out = OrderedDict()
    out["version"] = r.int16()
    out["topics"] = [r.take(r.int16()).decode() for _ in range(r.int32())]
    if r.done():
        return out
    n = r.int32()
    out["user_data_hex"] = None if n < 0 else r.take(n).hex()
    if out["version"] >= 1 and not r.done():
        parts = []
        for _ in range(r.int32()):
            name = r.take(r.int16()).decode()
            parts.append({"name": name, "partitions": [r.int32() for _ in range(r.int32())]})
        out["owned_partitions"] = parts
    if out["version"] >= 2 and not r.done():
        out["generation_id"] = r.int32()
    if out["version"] >= 3 and not r.done():
        n = r.int16()
        out["rack_id"] = None if n < 0 else r.take(n).decode()
    if not r.done():
        out["trailing_hex"] = buf[r.pos:].hex()
    return out


def decode_consumer_assignment(buf):
    if not buf:
        return None
    r = Reader(buf)
    out = OrderedDict()
    out["version"] = r.int16()
    parts = []
    for _ in range(r.int32()):
        name = r.take(r.int16()).decode()
        parts.append({"name": name, "partitions": [r.int32() for _ in range(r.int32())]})
    out["assigned_partitions"] = parts
    if not r.done():
        n = r.int32()
        out["user_data_hex"] = None if n < 0 else r.take(n).hex()
    if not r.done():
        out["trailing_hex"] = buf[r.pos:].hex()
    return out


# --------------------------------------------------------------------------
# Request decoding -> manifest "expect"
# --------------------------------------------------------------------------

def request_header(frame):
    r = Reader(frame)
    api_key = r.int16()
    api_version = r.int16()
    correlation_id = r.int32()
    n = r.int16()
    client_id = None if n < 0 else r.take(n).decode("utf-8")
    flexible = api_version >= FLEXIBLE_FROM.get(api_key, 99)
    tags = read_tagged_fields(r) if flexible else []
    return api_key, api_version, correlation_id, client_id, flexible, tags, r


def decode_request(frame):
    api_key, version, corr, client_id, flexible, tags, r = request_header(frame)
    schema = SCHEMAS.get(api_key)
    if schema is None:
        raise ValueError(f"no schema for api key {api_key}")
    body_offset = r.pos
    body = decode_struct(r, schema, version, flexible)
    if not r.done():
        raise ValueError(f"{API_NAMES.get(api_key)} v{version}: {len(frame) - r.pos} trailing bytes")
    # post-process nested payloads into manifest shape
    if api_key == 0:
        for t in body["topics"]:
            for p in t["partitions"]:
                raw = p.pop("records")
                p["records_size"] = None if raw is None else len(raw)
                batches = decode_record_batches(raw) if raw is not None else []
                p["codec"] = batches[0]["codec"] if batches else None
                p["records"] = [
                    OrderedDict((k, rec[k]) for k in ("key", "value", "timestamp", "headers"))
                    for b in batches for rec in b["records"]
                ]
                p["batches"] = batches
    if api_key == 11:
        for proto in body["protocols"]:
            raw = proto.pop("metadata")
            proto["metadata_size"] = len(raw)
            if body["protocol_type"] == "consumer":
                proto["subscription"] = decode_consumer_subscription(raw)
            else:
                proto["metadata_hex"] = raw.hex()
    if api_key == 14:
        for a in body["assignments"]:
            raw = a.pop("assignment")
            a["assignment_size"] = len(raw)
            a["assignment"] = decode_consumer_assignment(raw)
    if api_key == 3 and body.get("topics") is not None:
        names = [t["name"] for t in body["topics"]]
        body["topics"] = names
    header = OrderedDict([
        ("api_key", api_key), ("api_version", version), ("correlation_id", corr),
        ("client_id", client_id), ("header_version", 2 if flexible else 1),
        ("flexible", flexible), ("body_offset", body_offset),
    ])
    if tags:
        header["header_tagged_fields"] = tags
    return header, body


def response_correlation(frame):
    return struct.unpack(">i", frame[:4])[0]


def describe(client, header, body):
    api = API_NAMES.get(header["api_key"], str(header["api_key"]))
    v = header["api_version"]
    k = header["api_key"]
    if k == 0:
        parts = []
        for t in body["topics"]:
            for p in t["partitions"]:
                parts.append(f"{t['name']}[{p['index']}] {len(p['records'])} records codec={p['codec']}")
        extra = ""
        b = body["topics"][0]["partitions"][0]["batches"]
        if b and b[0]["producer_id"] >= 0:
            extra = f", idempotent (producer_id={b[0]['producer_id']}, epoch={b[0]['producer_epoch']}, base_sequence={b[0]['base_sequence']})"
        return f"{client} Produce v{v} acks={body['acks']}: " + "; ".join(parts) + extra
    if k == 18:
        if v >= 3:
            return f"{client} ApiVersions v{v} (flexible, header v2) announcing {body['client_software_name']} {body['client_software_version']}"
        return f"{client} ApiVersions v{v} (empty body)"
    if k == 3:
        t = body.get("topics")
        what = "all topics" if t is None or (v == 0 and t == []) else ", ".join(t)
        return f"{client} Metadata v{v} for {what}"
    if k == 1:
        parts = [f"{t['name']}[{p['index']}]@{p['fetch_offset']}" for t in body["topics"] for p in t["partitions"]]
        return f"{client} Fetch v{v} " + (", ".join(parts) or "(no partitions)")
    if k == 2:
        parts = [f"{t['name']}[{p['index']}] ts={p['timestamp']}" for t in body["topics"] for p in t["partitions"]]
        return f"{client} ListOffsets v{v} " + ", ".join(parts)
    if k == 10:
        return f"{client} FindCoordinator v{v} key={body.get('key')}"
    if k == 11:
        return f"{client} JoinGroup v{v} group={body['group_id']} protocols={[p['name'] for p in body['protocols']]}"
    if k == 14:
        return f"{client} SyncGroup v{v} group={body['group_id']} generation={body['generation_id']} ({len(body['assignments'])} assignments)"
    if k == 12:
        return f"{client} Heartbeat v{v} group={body['group_id']} generation={body['generation_id']}"
    if k == 8:
        parts = [f"{t['name']}[{p['index']}]={p['committed_offset']}" for t in body["topics"] for p in t["partitions"]]
        return f"{client} OffsetCommit v{v} group={body['group_id']} " + ", ".join(parts)
    if k == 9:
        return f"{client} OffsetFetch v{v} group={body['group_id']}"
    if k == 13:
        return f"{client} LeaveGroup v{v} group={body['group_id']}"
    if k == 22:
        return f"{client} InitProducerId v{v} (flexible) transactional_id={body['transactional_id']}"
    return f"{client} {api} v{v}"


def to_json_safe(obj):
    if isinstance(obj, bytes):
        return {"hex": obj.hex()}
    if isinstance(obj, dict):
        return OrderedDict((k, to_json_safe(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [to_json_safe(v) for v in obj]
    return obj


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def process_client(client, pcap, port, out_dir):
    port, conns = load_connections(pcap, port)
    requests = []  # (ts, conn_index, offset, frame, response_frame)
    for ci, c in enumerate(conns):
        responses = {}
        for off, frame in split_frames(c["server_stream"], f"{client} {c['id']} broker->client"):
            responses.setdefault(response_correlation(frame), frame)
        for off, frame in split_frames(c["client_stream"], f"{client} {c['id']} client->broker"):
            corr = struct.unpack(">i", frame[4:8])[0]
            requests.append((ts_at(c["client_starts"], off), ci, off, frame, responses.get(corr), c["id"]))
    requests.sort(key=lambda x: (x[0], x[1], x[2]))

    cdir = os.path.join(out_dir, client)
    rdir = os.path.join(cdir, "responses")
    if os.path.isdir(cdir):
        shutil.rmtree(cdir)
    os.makedirs(rdir)

    entries = []
    seen = set()
    seq = 0
    counts = {}
    for index, (ts, ci, off, frame, resp, conn_id) in enumerate(requests):
        api_key, version = struct.unpack(">hh", frame[:4])
        counts[(api_key, version)] = counts.get((api_key, version), 0) + 1
        if api_key != 0 and (api_key, version) in seen:
            continue
        seen.add((api_key, version))
        header, body = decode_request(frame)
        seq += 1
        api = API_NAMES.get(api_key, f"Api{api_key}")
        name = f"{seq:03d}_{api}_v{version}.bin"
        with open(os.path.join(cdir, name), "wb") as f:
            f.write(frame)
        resp_name = None
        if resp is not None:
            resp_name = f"{client}/responses/{name}"
            with open(os.path.join(rdir, name), "wb") as f:
                f.write(resp)
        e = OrderedDict()
        e["file"] = f"{client}/{name}"
        e["client"] = client
        e["api_key"] = api_key
        e["api_name"] = api
        e["api_version"] = version
        e["correlation_id"] = header["correlation_id"]
        e["client_id"] = header["client_id"]
        e["header_version"] = header["header_version"]
        e["flexible"] = header["flexible"]
        e["body_offset"] = header["body_offset"]
        e["size"] = len(frame)
        e["sha256"] = hashlib.sha256(frame).hexdigest()
        e["capture_index"] = index
        e["connection"] = conn_id
        e["broker_port"] = port
        e["description"] = describe(client, header, body)
        e["response_file"] = resp_name
        e["response_size"] = None if resp is None else len(resp)
        if "header_tagged_fields" in header:
            e["header_tagged_fields"] = header["header_tagged_fields"]
        e["expect"] = to_json_safe(body)
        entries.append(e)
    for e in entries:
        if e["api_key"] != 0:
            continue
        for t in e["expect"]["topics"]:
            for p in t["partitions"]:
                if t["name"].startswith("golden-") and len(p["records"]) != 3:
                    WARNINGS.append(f"{e['file']}: {len(p['records'])} records for {t['name']} "
                                    "(the scenario sends 3 in one batch; recapture)")
    summary = {f"{API_NAMES.get(k, k)} v{v}": n for (k, v), n in sorted(counts.items())}
    print(f"{client}: {len(requests)} requests on {len(conns)} connections (broker port {port}); kept {len(entries)}")
    print(f"  all requests seen: {summary}")
    return entries


WARNINGS = []

CLIENT_ORDER = ["librdkafka", "kcat", "kafka_python", "kafkajs"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="tests/protocol/golden directory")
    ap.add_argument("captures", nargs="+", help="CLIENT=PCAP[:PORT]")
    args = ap.parse_args()

    manifest_path = os.path.join(args.out, "manifest.json")
    old = []
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            old = json.load(f)
    new_entries = []
    done_clients = set()
    for spec in args.captures:
        client, _, rest = spec.partition("=")
        path, port = rest, None
        if ":" in rest:
            path, p = rest.rsplit(":", 1)
            port = int(p)
        new_entries.extend(process_client(client, path, port, args.out))
        done_clients.add(client)
    entries = [e for e in old if e["client"] not in done_clients] + new_entries
    order = {c: i for i, c in enumerate(CLIENT_ORDER)}
    entries.sort(key=lambda e: (order.get(e["client"], 99), e["client"], e["file"]))
    with open(manifest_path, "w") as f:
        json.dump(entries, f, indent=2)
        f.write("\n")
    print(f"wrote {manifest_path} ({len(entries)} entries)")
    for w in WARNINGS:
        print(f"WARNING: {w}", file=sys.stderr)
    if WARNINGS:
        sys.exit(3)


if __name__ == "__main__":
    main()
