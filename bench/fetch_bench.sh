#!/usr/bin/env bash
# Consumer throughput over loopback, Fetch record data sent with sendfile(2) (zero-copy, the default) against the
# same broker copying it through user space (VLTAVA_FILE_SENDS=copy: read into the encoded response, as before the
# zero-copy path existed), in one run on the same data: produce a topic of about 1 GiB with kcat, then consume it
# from the beginning to the end with `kcat -C -e`, alternating the modes, each round with a freshly started broker
# on the same log directory (page cache warm for both). Prints wall time, MiB/s and the broker's CPU time per round.
#
#   bench/fetch_bench.sh                    BUILD_DIR=build, 1 GiB, 3 rounds per mode
#   BUILD_DIR=build-x SIZE_MIB=256 ROUNDS=2 bench/fetch_bench.sh
#   VLTAVA_BIN=path/to/vltava bench/fetch_bench.sh   that binary, nothing built
#
# Needs kcat and python3. Disk use about 2.4 x SIZE_MIB (the data file and the log); deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-$root/build}
size_mib=${SIZE_MIB:-1024}
rounds=${ROUNDS:-3}
partitions=${PARTITIONS:-4}

if [[ -z ${VLTAVA_BIN:-} ]]; then cmake --build "$build" --target vltava >/dev/null; fi
broker_bin=${VLTAVA_BIN:-$build/bin/vltava}

work=$(mktemp -d "${TMPDIR:-/tmp}/vltava-fetch-bench.XXXXXX")
broker_pid=""
cleanup() {
  if [[ -n $broker_pid ]]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/server.properties" <<EOF
log.dirs=$work/data
listeners=PLAINTEXT://127.0.0.1:0
num.partitions=$partitions
auto.create.topics.enable=true
EOF

start_broker() {  # $1: VLTAVA_FILE_SENDS value
  rm -f "$work/ready"
  VLTAVA_FILE_SENDS=$1 "$broker_bin" "$work/server.properties" --ready-file "$work/ready" >>"$work/broker.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 600); do
    [[ -s $work/ready ]] && break
    kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.log"; exit 1; }
    sleep 0.1
  done
  bootstrap=$(head -1 "$work/ready")
}
stop_broker() {
  kill -TERM "$broker_pid"
  wait "$broker_pid" || true
  broker_pid=""
}
cpu_seconds() {  # user + system time of the broker so far
  python3 -c "import os,sys; f=open('/proc/$1/stat').read().rsplit(')',1)[1].split(); \
print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"
}

echo "generating ${size_mib} MiB of 10,000-byte messages" >&2
head -c $((size_mib * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 9999 >"$work/messages"
bytes=$(stat -c %s "$work/messages")

start_broker sendfile
echo "producing to $bootstrap" >&2
kcat -P -b "$bootstrap" -t bench -l -z none -X linger.ms=20 -X batch.size=1000000 \
  -X queue.buffering.max.kbytes=1048576 "$work/messages"
stop_broker
rm -f "$work/messages"

printf '%-9s %-6s %9s %10s %14s\n' mode round seconds MiB/s "broker cpu s"
results=()
for round in $(seq "$rounds"); do
  for mode in sendfile copy; do
    start_broker "$mode"
    cpu_before=$(cpu_seconds "$broker_pid")
    start=$(date +%s.%N)
    kcat -C -b "$bootstrap" -t bench -o beginning -e -q -f '%o\n' \
      -X fetch.max.bytes=52428800 -X max.partition.fetch.bytes=10485760 >/dev/null
    end=$(date +%s.%N)
    cpu_after=$(cpu_seconds "$broker_pid")
    stop_broker
    line=$(python3 -c "s=$end-$start; print(f'{s:.2f} {$bytes/s/1048576:.0f} {$cpu_after-$cpu_before:.2f}')")
    read -r seconds rate cpu <<<"$line"
    printf '%-9s %-6s %9s %10s %14s\n' "$mode" "$round" "$seconds" "$rate" "$cpu"
    results+=("$mode $seconds $cpu")
  done
done
printf '%s\n' "${results[@]}" | python3 -c "
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
def med(mode, i): return statistics.median(float(r[i]) for r in rows if r[0] == mode)
b = $bytes / 1048576
s, c = med('sendfile', 1), med('copy', 1)
print(f'median: sendfile {b/s:.0f} MiB/s, copy {b/c:.0f} MiB/s, sendfile/copy throughput {c/s:.2f}x; '
      f'broker CPU {med(\"sendfile\", 2):.2f} s vs {med(\"copy\", 2):.2f} s')
"
grep "file bytes sent since start" "$work/broker.log" | tail -2 >&2 || true
