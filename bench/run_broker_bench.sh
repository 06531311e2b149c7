#!/usr/bin/env bash
# Broker load benchmark (issue 6): the matrix {100 B, 1 KiB records} x {acks=1, acks=all} x {1, 16 partitions}
# against (a) Vltava and (b) librdkafka's in-memory mock cluster (bench/load/mock_broker.cc, its own process), each
# started fresh per run by build/bench/broker_load. Per cell: produce throughput, consume throughput (assign(), from
# the start of the run), and end-to-end latency p50/p99/p99.9 at RATE records/s offered (producer linger.ms=0).
# In the same run it measures the machine's limits: loopback TCP bandwidth (one connection) and sequential disk
# write with fsync (dd conv=fdatasync), and prints each Vltava figure as a ratio to the mock broker and to the
# machine. Also start-up time (exec to the first answered Metadata request) and idle RSS of each broker.
#
#   bench/run_broker_bench.sh                               SECONDS=5 RATE=500 DD_MIB=512, BUILD_DIR=build
#   SECONDS_PER_RUN=2 RATE=500 DD_MIB=256 bench/run_broker_bench.sh
#
# Writes every run's JSON and summary.md / summary.json under OUT_DIR (default: a temporary directory, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-$root/build}
seconds=${SECONDS_PER_RUN:-5}
rate=${RATE:-500}
dd_mib=${DD_MIB:-512}
out=${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/vltava-broker-bench.XXXXXX")}
mkdir -p "$out"
load=$build/bench/broker_load
if [[ -z ${NO_BUILD:-} ]]; then cmake --build "$build" --target broker_load mock_broker vltava >/dev/null; fi

echo "results in $out" >&2
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/machine.txt" >&2

# Machine limits.
"$load" --loopback "$seconds" --json "$out/loopback.json" >/dev/null
disk_file=$(mktemp "${TMPDIR:-/tmp}/vltava-dd.XXXXXX")
dd_line=$(dd if=/dev/zero of="$disk_file" bs=1M count="$dd_mib" conv=fdatasync 2>&1 | tail -1)
rm -f "$disk_file"
echo "$dd_line" >"$out/dd.txt"
echo "dd: $dd_line" >&2

for broker in vltava mock; do
  if [[ $broker == vltava ]]; then start=(--start "$build/bin/vltava"); else start=(--start-mock "$build/bench/mock_broker"); fi
  for size in 100 1024; do
    for acks in 1 all; do
      for partitions in 1 16; do
        cell="$broker-$size-$acks-$partitions"
        echo "$cell" >&2
        "$load" "${start[@]}" --label "$broker" --record-size "$size" --acks "$acks" --partitions "$partitions" \
          --seconds "$seconds" --json "$out/$cell-tput.json" >/dev/null
        "$load" "${start[@]}" --label "$broker" --record-size "$size" --acks "$acks" --partitions "$partitions" \
          --seconds "$seconds" --rate "$rate" --json "$out/$cell-lat.json" >/dev/null
      done
    done
  done
done

python3 - "$out" "$rate" <<'PY'
import json, re, statistics, sys, os
out, rate = sys.argv[1], sys.argv[2]
def load(name):
    with open(os.path.join(out, name)) as f: return json.load(f)
loop = load("loopback.json")["mb_per_s"]
dd = open(os.path.join(out, "dd.txt")).read()
m = re.search(r"([\d.,]+) ([kMG]?B)/s", dd)
scale = {"kB": 1e-3, "MB": 1, "GB": 1e3, "B": 1e-6}
disk = float(m.group(1).replace(",", ".")) * scale[m.group(2)] if m else float("nan")
rows, summary = [], {"loopback_mb_per_s": loop, "disk_fsync_write_mb_per_s": disk, "cells": []}
def f(x, d=0): return f"{x:,.{d}f}"
lines = [f"Machine limits: loopback TCP {f(loop)} MB/s (one connection); sequential write + fdatasync {f(disk)} MB/s (dd).", "",
         "| records | acks | partitions | Vltava produce rec/s (MB/s) | × mock | × loopback | × disk | Vltava consume rec/s (MB/s) | × mock | × loopback | Vltava latency p50 / p99 / p99.9 ms at " + rate + "/s | mock latency p50 / p99 / p99.9 ms |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
for size in (100, 1024):
    for acks in ("1", "all"):
        for parts in (1, 16):
            v = load(f"vltava-{size}-{acks}-{parts}-tput.json"); k = load(f"mock-{size}-{acks}-{parts}-tput.json")
            vl = load(f"vltava-{size}-{acks}-{parts}-lat.json"); kl = load(f"mock-{size}-{acks}-{parts}-lat.json")
            cell = {"record_size": size, "acks": acks, "partitions": parts, "vltava": [v, vl], "mock": [k, kl]}
            summary["cells"].append(cell)
            consume_vs_mock = (f"{v['consume_records_per_s'] / k['consume_records_per_s']:.2f}"
                               if k["consume_records"] >= k["produce_records"] else "n/a")
            lines.append(
                f"| {size} B | {acks} | {parts} | {f(v['produce_records_per_s'])} ({f(v['produce_mb_per_s'],1)}) | "
                f"{v['produce_records_per_s']/k['produce_records_per_s']:.2f} | {v['produce_mb_per_s']/loop:.3f} | {v['produce_mb_per_s']/disk:.2f} | "
                f"{f(v['consume_records_per_s'])} ({f(v['consume_mb_per_s'],1)}) | {consume_vs_mock} | "
                f"{v['consume_mb_per_s']/loop:.3f} | "
                f"{vl['latency_p50_ms']:.2f} / {vl['latency_p99_ms']:.2f} / {vl['latency_p999_ms']:.2f} | "
                f"{kl['latency_p50_ms']:.2f} / {kl['latency_p99_ms']:.2f} / {kl['latency_p999_ms']:.2f} |")
def med(broker, key):
    return statistics.median(c[broker][i][key] for c in summary["cells"] for i in (0, 1))
sv, sk = med("vltava", "startup_first_answer_ms"), med("mock", "startup_first_answer_ms")
rv, rk = med("vltava", "idle_rss_mib"), med("mock", "idle_rss_mib")
pv = max(c["vltava"][0]["peak_rss_mib"] for c in summary["cells"])
summary.update(vltava_startup_ms=sv, mock_startup_ms=sk, vltava_idle_rss_mib=rv, mock_idle_rss_mib=rk, vltava_peak_rss_mib=pv)
lines += ["", f"Start-up, exec to the first answered Metadata request (median of {2*len(summary['cells'])} starts): Vltava {sv:.1f} ms, mock {sk:.1f} ms.",
          "n/a: the mock cluster keeps only the last few MB of each partition, so its consumer read only that tail.",
          f"Idle RSS after start-up: Vltava {rv:.1f} MiB, mock process {rk:.1f} MiB. Vltava peak RSS over the throughput runs: {pv:.1f} MiB."]
text = "\n".join(lines)
print(text)
open(os.path.join(out, "summary.md"), "w").write(text + "\n")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
