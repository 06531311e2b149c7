#!/usr/bin/env python3
"""Wraps the frames written by emit_frames into a pcap file that tshark reads as Kafka over TCP.

Input (frames.bin, written by emit_frames): a sequence of records
    uint16 stream   (one TCP connection per stream number)
    uint8  direction (0: client -> broker, a request; 1: broker -> client, a response)
    uint32 length
    length bytes    (one complete Kafka frame, size prefix included)
all big-endian.

Output: a classic pcap (link type Ethernet) in which every stream is one TCP connection from
10.0.0.1:(20000 + stream) to 10.0.0.2:9092, opened with a three-way handshake; every frame travels in one
TCP segment with correct sequence/acknowledgement numbers and IPv4/TCP checksums.

Usage: make_pcap.py frames.bin out.pcap
"""

import struct
import sys

CLIENT_IP = bytes([10, 0, 0, 1])
BROKER_IP = bytes([10, 0, 0, 2])
CLIENT_MAC = bytes.fromhex("020000000001")
BROKER_MAC = bytes.fromhex("020000000002")
BROKER_PORT = 9092

SYN, ACK, PSH = 0x02, 0x10, 0x08


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Conversation:
    def __init__(self, stream: int):
        self.client_port = 20000 + stream
        self.seq = {0: 1000, 1: 5000}  # next sequence number per direction (0: client, 1: broker)

    def segment(self, direction: int, flags: int, payload: bytes = b"") -> bytes:
        if direction == 0:
            src_ip, dst_ip, sport, dport = CLIENT_IP, BROKER_IP, self.client_port, BROKER_PORT
            src_mac, dst_mac = CLIENT_MAC, BROKER_MAC
        else:
            src_ip, dst_ip, sport, dport = BROKER_IP, CLIENT_IP, BROKER_PORT, self.client_port
            src_mac, dst_mac = BROKER_MAC, CLIENT_MAC
        seq = self.seq[direction]
        ack = self.seq[1 - direction] if flags & ACK else 0
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        csum = checksum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
        total = 20 + len(tcp) + len(payload)
        if total > 65535:
            raise SystemExit(f"frame too large for one IPv4 packet: {len(payload)} bytes")
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src_ip, dst_ip)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        self.seq[direction] = (seq + len(payload) + (1 if flags & SYN else 0)) & 0xFFFFFFFF
        return dst_mac + src_mac + b"\x08\x00" + ip + tcp + payload


def read_frames(path: str):
    data = open(path, "rb").read()
    at = 0
    while at < len(data):
        stream, direction, length = struct.unpack_from("!HBI", data, at)
        at += 7
        yield stream, direction, data[at:at + length]
        at += length
    if at != len(data):
        raise SystemExit(f"{path}: truncated record")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    conversations: dict[int, Conversation] = {}
    packets = []
    for stream, direction, frame in read_frames(sys.argv[1]):
        conv = conversations.get(stream)
        if conv is None:
            conv = conversations[stream] = Conversation(stream)
            packets.append(conv.segment(0, SYN))
            packets.append(conv.segment(1, SYN | ACK))
            packets.append(conv.segment(0, ACK))
        packets.append(conv.segment(direction, PSH | ACK, frame))
    with open(sys.argv[2], "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))  # pcap header, Ethernet
        for n, pkt in enumerate(packets):
            out.write(struct.pack("<IIII", 1700000000 + n // 1000, (n % 1000) * 1000, len(pkt), len(pkt)))
            out.write(pkt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
