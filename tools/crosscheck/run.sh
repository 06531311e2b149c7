#!/usr/bin/env bash
# Cross-checks our Kafka codecs against Wireshark's Kafka dissector. See tools/crosscheck/README.md.
#
#   tools/crosscheck/run.sh [BUILD_DIR] [WORK_DIR]
#
# BUILD_DIR (default /tmp/xc-build): a CMake build of this repository; configured, and the vltava_protocol library
# built, if needed. WORK_DIR (default /tmp/xc-work): frames, pcaps, dissections and reports, one folder per
# Wireshark version. Checks with the system's tshark (Debian 12: Wireshark 4.0), and also with Wireshark 4.4 when
# fetch_wireshark44.sh has unpacked it (XC_WS44, default /tmp/xc-trixie). Exit status 0 when every finding is
# explained (compare.py).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-/tmp/xc-build}"
work="${2:-/tmp/xc-work}"
ws44="${XC_WS44:-/tmp/xc-trixie}"
mkdir -p "$work"

command -v tshark >/dev/null || { echo "tshark is missing: apt-get install -y tshark" >&2; exit 2; }

if [[ ! -f "$build/build.ninja" && ! -f "$build/Makefile" ]]; then
  cmake -S "$root" -B "$build" -G Ninja
fi
cmake --build "$build" --target vltava_protocol

python3 "$here/gen_fill.py" "$work/fill_distinct.h" "$root"/src/protocol/messages/*.msg
lib="$build/src/protocol/libvltava_protocol.a"
if [[ ! -x "$work/emit_frames" || -n "$(find "$here" "$work/fill_distinct.h" "$lib" -newer "$work/emit_frames" \
      -print -quit)" ]]; then
  echo "== building emit_frames"
  ${CXX:-g++} -std=c++20 -O1 -Wall -Wextra -I "$root/include" -I "$build/generated" -I "$work" -I "$here" \
    "$here/emit_frames.cc" "$lib" -lz -lsnappy -llz4 -lzstd \
    -o "$work/emit_frames"
fi

# check TSHARK LIBWIRESHARK: one full pass with one Wireshark
check() {
  local tshark="$1" lib="$2"
  local version
  version="$("$tshark" --version 2>/dev/null | head -1 | sed -E 's/.*\(Wireshark\) ([0-9]+(\.[0-9]+)*).*/\1/')"
  local out="$work/ws-$version"
  mkdir -p "$out"
  echo
  echo "== Wireshark $version ($tshark)"
  python3 "$here/dissector_table.py" "$lib" > "$out/dissector_versions.txt"
  "$work/emit_frames" "$out" "$out/dissector_versions.txt"
  python3 "$here/make_pcap.py" "$out/frames.bin" "$out/crosscheck.pcap"
  "$tshark" -r "$out/crosscheck.pcap" -d tcp.port==9092,kafka -T pdml > "$out/crosscheck.pdml" 2>/dev/null
  python3 "$here/compare.py" "$out/manifest.tsv" "$out/crosscheck.pdml" --report "$out/report.txt"
}

status=0
system_lib="$(ldd "$(command -v tshark)" | awk '/libwireshark/ {print $3}')"
check "$(command -v tshark)" "$system_lib" || status=1
if [[ -x "$ws44/tshark" ]]; then
  check "$ws44/tshark" "$ws44/libwireshark.so" || status=1
else
  echo
  echo "== Wireshark 4.4 not unpacked; tools/crosscheck/fetch_wireshark44.sh unpacks it, to check the flexible"
  echo "   versions of Produce, Fetch and ListOffsets too"
fi
exit $status
