#!/usr/bin/env python3
"""Prints the Kafka API versions a libwireshark's Kafka dissector accepts, read from the library itself.

    dissector_table.py LIBWIRESHARK.so    ->  lines "api_key min_version max_version flexible_since"

The dissector keeps a table with one entry per API key, in key order: {int16 api_key; const char *name;
int16 min_version; int16 max_version; int16 flexible_since} (Wireshark 3.x-4.x, x86-64: 24 bytes per entry;
the name pointer is relocated at load time, the integers are stored as they are). We look for the run of
entries with keys 0, 1, 2, ... and plausible versions. The versions decide which frames emit_frames writes;
compare.py then checks that the dissector really refuses the first version past each maximum.
"""

import struct
import sys

ENTRY = 24


def find_table(data: bytes):
    for start in range(0, len(data) - ENTRY * 40, 8):
        rows = []
        key = 0
        while True:
            at = start + key * ENTRY
            if at + ENTRY > len(data):
                break
            (k,) = struct.unpack_from("<h", data, at)
            lo, hi, flex = struct.unpack_from("<hhh", data, at + 16)
            if k != key or data[at + 2:at + 8] != b"\0" * 6 or not (0 <= lo <= hi <= 64) or not -1 <= flex <= 64:
                break
            rows.append((k, lo, hi, flex))
            key += 1
        # Produce, Fetch and Metadata have had several versions in every dissector that knows flexible versions.
        if len(rows) >= 40 and rows[0][2] >= 5 and rows[1][2] >= 5 and rows[3][2] >= 5:
            return rows
    return None


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as fh:
        rows = find_table(fh.read())
    if rows is None:
        print(f"{sys.argv[1]}: no Kafka API table found", file=sys.stderr)
        return 1
    for row in rows:
        print(*row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
