#!/usr/bin/env bash
# Storage throughput beside raw sequential I/O on the same disk, in one run: dd first (what the disk gives a plain
# writer), then build/bench/storage_bench (partition_log appends and reads, plus in-process write(2)/pread(2)
# baselines), then one table with every figure and its ratio to the matching baseline.
#
#   bench/storage_bench.sh                      files in a temp dir under the build directory (same disk as the repo)
#   bench/storage_bench.sh /mnt/data            files in a temp dir under /mnt/data (the disk to measure)
#   bench/storage_bench.sh /mnt/data -- --benchmark_filter=Append   extra arguments for storage_bench
#   VLTAVA_BENCH_SMALL=1 bench/storage_bench.sh every size / 8, for a quick check
#   BUILD_DIR=out bench/storage_bench.sh        another CMake build directory (default: build)
#
# Needs dd (coreutils) and python3. Disk use peaks at about 512 MiB (dd's file); everything is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-$root/build}

base=""
if [[ $# -gt 0 && $1 != "--" ]]; then
  base=$1
  shift
fi
if [[ $# -gt 0 && $1 == "--" ]]; then shift; fi
bench_args=("$@")

if [[ ! -f $build/build.ninja && ! -f $build/Makefile ]]; then cmake -S "$root" -B "$build" -G Ninja; fi
cmake --build "$build" --target storage_bench

if [[ -z $base ]]; then base=$build; fi
mkdir -p "$base"
work=$(mktemp -d "$base/storage-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

python=python3
if [[ -x /usr/bin/python3 ]]; then python=/usr/bin/python3; fi

scale=1
if [[ -n ${VLTAVA_BENCH_SMALL:-} && ${VLTAVA_BENCH_SMALL} != 0 ]]; then scale=8; fi

# Runs dd and prints "<bytes> <seconds>" from its summary line, e.g.
# "536870912 bytes (537 MB, 512 MiB) copied, 1.35063 s, 397 MB/s".
run_dd() {
  local out
  out=$(LC_ALL=C dd "$@" 2>&1 >/dev/null) || {
    echo "dd $* failed: $out" >&2
    exit 1
  }
  echo "$out" | tail -n 1 | awk '{print $1, $(NF-3)}'
}

echo "== machine" >&2
echo "nproc: $(nproc); kernel: $(uname -sr); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" >&2
df -h "$work" >&2
findmnt -no FSTYPE,OPTIONS -T "$work" >&2 || true

echo "== dd in $work" >&2
count_1m=$((512 / scale))
count_16k=$((2000 / scale))
count_stream=$((16384 / scale))
# (a) 512 MiB in 1 MiB writes, one fdatasync at the end: the disk's sequential write speed.
dd_fdatasync=$(run_dd if=/dev/zero of="$work/dd.bin" bs=1M count=$count_1m conv=fdatasync)
# Reading it back: still in the page cache, as the log is in BM_SequentialRead.
dd_read=$(run_dd if="$work/dd.bin" of=/dev/null bs=1M)
rm -f "$work/dd.bin"
# (b) 16 KiB writes each followed by a sync (O_DSYNC): acks=all without group commit.
dd_dsync=$(run_dd if=/dev/zero of="$work/dd.bin" bs=16k count=$count_16k oflag=dsync)
rm -f "$work/dd.bin"
# 256 MiB in 16 KiB writes with no sync at all: the page cache.
dd_nosync=$(run_dd if=/dev/zero of="$work/dd.bin" bs=16k count=$count_stream)
sync "$work/dd.bin" 2>/dev/null || sync
rm -f "$work/dd.bin"
echo "dd (bytes seconds): fdatasync=$dd_fdatasync read=$dd_read dsync=$dd_dsync nosync=$dd_nosync" >&2

echo "== storage_bench" >&2
json="$work/storage_bench.json"
mkdir -p "$work/bench"
VLTAVA_BENCH_DIR="$work/bench" "$build/bench/storage_bench" --benchmark_format=console \
  --benchmark_out="$json" --benchmark_out_format=json "${bench_args[@]}" >&2

DD_FDATASYNC=$dd_fdatasync DD_READ=$dd_read DD_DSYNC=$dd_dsync DD_NOSYNC=$dd_nosync \
  COUNT_1M=$count_1m COUNT_16K=$count_16k COUNT_STREAM=$count_stream "$python" - "$json" <<'EOF'
import json, os, sys

MIB = 1 << 20

def dd(name):
    nbytes, seconds = os.environ[name].split()
    return int(nbytes) / float(seconds) / MIB

dd_figures = {
    "nosync": (dd("DD_NOSYNC"), f"dd bs=16k count={os.environ['COUNT_STREAM']}"),
    "fdatasync": (dd("DD_FDATASYNC"), f"dd bs=1M count={os.environ['COUNT_1M']} conv=fdatasync"),
    "dsync": (dd("DD_DSYNC"), f"dd bs=16k count={os.environ['COUNT_16K']} oflag=dsync"),
    "read": (dd("DD_READ"), "dd if=dd.bin bs=1M (warm)"),
}

with open(sys.argv[1]) as f:
    results = {b["name"].split("/iterations:")[0]: b for b in json.load(f)["benchmarks"]
               if b.get("run_type", "iteration") == "iteration" and not b.get("error_occurred")}

def mib_s(name):
    b = results.get(name)
    return b["bytes_per_second"] / MIB if b else None

# storage_bench benchmark prefix -> (in-process baseline, dd baseline)
pairs = [
    ("BM_Append_NoFsync", "BM_RawWrite_NoSync", "nosync"),
    ("BM_Append_FsyncAtEnd", "BM_RawWrite_FdatasyncAtEnd", "fdatasync"),
    ("BM_Append_FsyncEach", "BM_RawWrite_FdatasyncEach", "dsync"),
    ("BM_Append_GroupCommit", "BM_RawWrite_FdatasyncEach", "dsync"),
    ("BM_SequentialRead", "BM_RawRead", "read"),
]

def fmt(x, unit=""):
    return "-" if x is None else f"{x:,.1f}{unit}"

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"

rows = []
for prefix, raw, dd_key in pairs:
    for name in sorted(n for n in results if n == prefix or n.startswith(prefix + "/")):
        b = results[name]
        v = mib_s(name)
        r = mib_s(raw)
        d, d_label = dd_figures[dd_key]
        extra = []
        if "items_per_second" in b:
            extra.append(f"{b['items_per_second'] / 1e3:,.0f}k rec/s")
        if "appends" in b:
            extra.append(f"{b['appends']:,.0f} appends/s")
        if "flushes_per_append" in b:
            extra.append(f"{b['flushes_per_append']:.2f} flushes/append")
        short = name.replace("BM_", "").replace("record_size:", "rec=")
        rows.append((short, fmt(v), f"{raw.replace('BM_', '')} {fmt(r)}", ratio(v, r), f"{d_label} {fmt(d)}",
                     ratio(v, d), ", ".join(extra)))

head = ("benchmark", "MiB/s", "in-process baseline (MiB/s)", "vs baseline", "dd (MiB/s)", "vs dd", "notes")
print()
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for row in rows:
    print("| " + " | ".join(row) + " |")
EOF
