#!/usr/bin/env bash
# Broker load benchmark (issue 6): the matrix {100 B, 1 KiB records} x {acks=1, acks=all} x {1, 16 partitions}
# against (a) Vltava and (b) librdkafka's in-memory mock cluster (bench/load/mock_broker.cc, its own process), each
# started fresh per run by BUILD_DIR/bench/broker_load. Per cell: produce throughput, consume throughput (assign(),
# from the start of the run), and end-to-end latency p50/p99/p99.9 at RATE records/s offered (producer
# linger.ms=0). In the same session it measures the machine's limits: loopback TCP bandwidth (one connection) and
# sequential disk write with fsync (dd conv=fdatasync), and prints each Vltava figure as a ratio to the mock broker
# and to the machine. Also start-up time (exec to the first answered Metadata request) and idle RSS of each broker,
# and the broker's RSS and open descriptors with MANY_PARTITIONS partitions (broker_load --many-partitions).
#
# Every cell and the machine limits are repeated REPEATS times (repeat 1 of everything, then repeat 2, ...; Vltava
# and the mock alternate within a cell), the many-partitions run MANY_REPEATS times after them, and the tables give
# the median of each figure with its spread as (min–max); ratios are ratios of medians. summary.json keeps every run.
#
#   bench/run_broker_bench.sh        defaults: SECONDS_PER_RUN=3 REPEATS=3 RATE=500 DD_MIB=512 MANY_PARTITIONS=10000
#                                    MANY_REPEATS=1 BUILD_DIR=build. About 10-12 minutes on the 2-vCPU VM of
#                                    docs/benchmarks.md: the 96 load runs take SECONDS_PER_RUN plus about 1.5 s each
#                                    (7-8 minutes), 10,000 partitions 2-4 minutes (creation, produce and shutdown are
#                                    bound by fsync on that disk)
#   SECONDS_PER_RUN=1 REPEATS=2 DD_MIB=64 MANY_PARTITIONS=2000 bench/run_broker_bench.sh     smoke run, ~5 minutes
#
# MANY_PARTITIONS=0 skips the many-partitions runs; a failed many-partitions run (for example "Too many open files")
# is reported in the table with the broker's error, and the rest of the benchmark still runs. NO_BUILD=1 skips the
# build of broker_load, mock_broker and vltava. Writes every run's JSON, summary.md and summary.json under OUT_DIR
# (default: a temporary directory, printed); the tables go to stdout as well.
set -euo pipefail
build=$(realpath -m -- "${BUILD_DIR:-$(dirname "$0")/../build}")
out=$(realpath -m -- "${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/vltava-broker-bench.XXXXXX")}")
cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-3}
repeats=${REPEATS:-3}
rate=${RATE:-500}
dd_mib=${DD_MIB:-512}
many=${MANY_PARTITIONS:-10000}
many_repeats=${MANY_REPEATS:-1}
command_line="SECONDS_PER_RUN=$seconds REPEATS=$repeats RATE=$rate DD_MIB=$dd_mib MANY_PARTITIONS=$many"
command_line+=" MANY_REPEATS=$many_repeats"
command_line+=" BUILD_DIR=$build${NO_BUILD:+ NO_BUILD=$NO_BUILD} bench/run_broker_bench.sh"
mkdir -p "$out"
load=$build/bench/broker_load
if [[ -z ${NO_BUILD:-} ]]; then cmake --build "$build" --target broker_load mock_broker vltava >/dev/null; fi
for binary in "$load" "$build/bench/mock_broker" "$build/bin/vltava"; do
  [[ -x $binary ]] || { echo "run_broker_bench.sh: $binary is missing (build it, or set BUILD_DIR)" >&2; exit 1; }
done

machine="$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
machine+=", $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
machine+=", open-file limit $(ulimit -Sn) soft / $(ulimit -Hn) hard, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
{
  echo "Vltava broker load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "machine: $machine"
  echo "command: $command_line"
  echo "parameters: $seconds s per run, $repeats repeats of every run, latency at $rate records/s offered," \
    "dd $dd_mib MiB, $many partitions for the memory run, run $many_repeats time(s); results in $out"
} >"$out/header.txt"
cat "$out/header.txt" >&2

progress() { echo "[$(printf '%4d' "$SECONDS") s] $*" >&2; }

machine_limits() {  # repeat
  "$load" --loopback "$seconds" --json "$out/loopback-r$1.json" >/dev/null
  local disk_file
  disk_file=$(mktemp "${TMPDIR:-/tmp}/vltava-dd.XXXXXX")
  dd if=/dev/zero of="$disk_file" bs=1M count="$dd_mib" conv=fdatasync 2>&1 | tail -1 >"$out/dd-r$1.txt"
  rm -f "$disk_file"
  progress "repeat $1: loopback and dd: $(cat "$out/dd-r$1.txt")"
}

start_args() {  # broker
  if [[ $1 == vltava ]]; then echo --start "$build/bin/vltava"; else echo --start-mock "$build/bench/mock_broker"; fi
}

load_cell() {  # repeat size acks partitions
  local broker name
  for broker in vltava mock; do
    name="$broker-$2-$3-$4-r$1"
    # shellcheck disable=SC2046 # start_args prints two words, paths without spaces
    "$load" $(start_args "$broker") --label "$broker" --record-size "$2" --acks "$3" --partitions "$4" \
      --seconds "$seconds" --json "$out/$name-tput.json" >/dev/null
    # shellcheck disable=SC2046
    "$load" $(start_args "$broker") --label "$broker" --record-size "$2" --acks "$3" --partitions "$4" \
      --seconds "$seconds" --rate "$rate" --json "$out/$name-lat.json" >/dev/null
  done
}

# A failed many-partitions run does not stop the benchmark: its JSON carries "error" (written by broker_load, or
# here from its stderr when it failed before that).
many_partitions() {  # run
  local broker name status
  for broker in vltava mock; do
    name="many-$broker-r$1"
    status=0
    # shellcheck disable=SC2046
    "$load" $(start_args "$broker") --label "$broker" --many-partitions "$many" --json "$out/$name.json" \
      >"$out/$name.txt" 2>"$out/$name.err" || status=$?
    if ((status != 0)); then
      progress "many-partitions run $1: $broker with $many partitions FAILED (exit $status):"
      sed 's/^/    /' "$out/$name.err" >&2
      if ! grep -q '"error"' "$out/$name.json" 2>/dev/null; then
        python3 -c 'import json, sys; json.dump({"label": sys.argv[1], "kind": "many_partitions", "error": open(sys.argv[2]).read().strip()}, open(sys.argv[3], "w"))' \
          "$broker" "$out/$name.err" "$out/$name.json"
      fi
    else
      progress "many-partitions run $1: $broker with $many partitions:$(grep -E '^ +(create_s|rss_mib|descriptors|shutdown_s) ' "$out/$name.txt" | tr -s ' ' | tr '\n' ';')"
    fi
  done
}

for repeat in $(seq 1 "$repeats"); do
  machine_limits "$repeat"
  for size in 100 1024; do
    for acks in 1 all; do
      for partitions in 1 16; do
        progress "repeat $repeat/$repeats: $size B, acks=$acks, $partitions partitions"
        load_cell "$repeat" "$size" "$acks" "$partitions"
      done
    done
  done
done
if ((many > 0)); then
  for run in $(seq 1 "$many_repeats"); do many_partitions "$run"; done
fi
progress "done"

python3 - "$out" "$rate" "$repeats" "$many" "$many_repeats" "$command_line" <<'PY'
import json, os, re, statistics, sys

out, rate, repeats, many, many_repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
command_line = sys.argv[6]
runs = range(1, repeats + 1)
cells = [(size, acks, parts) for size in (100, 1024) for acks in ("1", "all") for parts in (1, 16)]


def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


def num(x, digits):
    return f"{x:,.{digits}f}"


def rec(x):  # records/s, compact
    return f"{x / 1e3:,.0f}k" if x >= 1e4 else f"{x:,.0f}"


def show(s, fmt):  # median (min–max); a single run as it is
    if len(s["runs"]) == 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def ratio(a, b, digits=2):
    return f"{a / b:.{digits}f}" if b else "n/a"


def disk_mb_per_s(line):
    m = re.search(r"([\d.,]+) ([kMG]?B)/s", line)
    scale = {"kB": 1e-3, "MB": 1, "GB": 1e3, "B": 1e-6}
    return float(m.group(1).replace(",", ".")) * scale[m.group(2)] if m else float("nan")


loop = spread([load(f"loopback-r{r}.json")["mb_per_s"] for r in runs])
disk = spread([disk_mb_per_s(open(os.path.join(out, f"dd-r{r}.txt")).read()) for r in runs])
summary = {"header": open(os.path.join(out, "header.txt")).read().splitlines(), "command": command_line,
           "repeats": repeats, "loopback_mb_per_s": loop, "disk_fsync_write_mb_per_s": disk, "cells": []}
for size, acks, parts in cells:
    cell = {"record_size": size, "acks": acks, "partitions": parts}
    for broker in ("vltava", "mock"):
        cell[broker] = {kind: [load(f"{broker}-{size}-{acks}-{parts}-r{r}-{suffix}.json") for r in runs]
                        for kind, suffix in (("throughput", "tput"), ("latency", "lat"))}
    summary["cells"].append(cell)


def figure(cell, broker, kind, key):
    return spread([run[key] for run in cell[broker][kind]])


lines = [f"Machine limits (median (min–max) of {repeats}): loopback TCP {show(loop, lambda x: num(x, 0))} MB/s "
         f"(one connection); sequential write + fdatasync {show(disk, lambda x: num(x, 0))} MB/s (dd, {repeats} × "
         "the same file size).", "",
         f"Throughput, median (min–max) of {repeats} runs; ratios are ratios of medians.", "",
         "| records | acks | partitions | Vltava produce rec/s | MB/s | mock produce rec/s | × mock | × loopback | × disk "
         "| Vltava consume rec/s | MB/s | × mock | × loopback |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
for cell in summary["cells"]:
    vp, vpm = figure(cell, "vltava", "throughput", "produce_records_per_s"), figure(cell, "vltava", "throughput", "produce_mb_per_s")
    kp = figure(cell, "mock", "throughput", "produce_records_per_s")
    vc, vcm = figure(cell, "vltava", "throughput", "consume_records_per_s"), figure(cell, "vltava", "throughput", "consume_mb_per_s")
    kc = figure(cell, "mock", "throughput", "consume_records_per_s")
    mock_read_all = all(run["consume_records"] >= run["produce_records"] for run in cell["mock"]["throughput"])
    lines.append(
        f"| {cell['record_size']} B | {cell['acks']} | {cell['partitions']} | {show(vp, rec)} | {show(vpm, lambda x: num(x, 1))} | "
        f"{show(kp, rec)} | {ratio(vp['median'], kp['median'])} | {ratio(vpm['median'], loop['median'], 3)} | "
        f"{ratio(vpm['median'], disk['median'])} | {show(vc, rec)} | {show(vcm, lambda x: num(x, 1))} | "
        f"{ratio(vc['median'], kc['median']) if mock_read_all else 'n/a'} | {ratio(vcm['median'], loop['median'], 3)} |")
lines += ["", "n/a: the mock cluster keeps only the last few MB of each partition, so its consumer read only that tail.", "",
          f"End-to-end latency at {rate} records/s offered, ms, median (min–max) of {repeats} runs.", "",
          "| records | acks | partitions | Vltava p50 | Vltava p99 | Vltava p99.9 | mock p50 | mock p99 | mock p99.9 |",
          "|---|---|---|---|---|---|---|---|---|"]
for cell in summary["cells"]:
    row = f"| {cell['record_size']} B | {cell['acks']} | {cell['partitions']} |"
    for broker in ("vltava", "mock"):
        for key in ("latency_p50_ms", "latency_p99_ms", "latency_p999_ms"):
            row += f" {show(figure(cell, broker, 'latency', key), lambda x: num(x, 2))} |"
    lines.append(row)


def every_run(broker, key):
    return spread([run[key] for cell in summary["cells"] for kind in ("throughput", "latency") for run in cell[broker][kind]])


startup = {b: every_run(b, "startup_first_answer_ms") for b in ("vltava", "mock")}
idle = {b: every_run(b, "idle_rss_mib") for b in ("vltava", "mock")}
peak = {b: every_run(b, "peak_rss_mib") for b in ("vltava", "mock")}
summary.update(startup_first_answer_ms=startup, idle_rss_mib=idle, peak_rss_mib=peak)
starts = len(startup["vltava"]["runs"])
lines += ["", f"Start-up and memory, median (min–max) over the {starts} starts of each broker above.", "",
          "| figure | Vltava | mock | Vltava / mock |", "|---|---|---|---|",
          f"| start-up, exec to the first answered Metadata request, ms | {show(startup['vltava'], lambda x: num(x, 1))} | "
          f"{show(startup['mock'], lambda x: num(x, 1))} | {ratio(startup['vltava']['median'], startup['mock']['median'])} |",
          f"| idle RSS 300 ms after start-up, MiB | {show(idle['vltava'], lambda x: num(x, 1))} | "
          f"{show(idle['mock'], lambda x: num(x, 1))} | {ratio(idle['vltava']['median'], idle['mock']['median'])} |",
          f"| peak RSS (VmHWM) of a run, MiB | {show(peak['vltava'], lambda x: num(x, 1))} | "
          f"{show(peak['mock'], lambda x: num(x, 1))} | {ratio(peak['vltava']['median'], peak['mock']['median'])} |"]

failures = []
if many > 0:
    many_runs = {b: [load(f"many-{b}-r{r}.json") for r in range(1, many_repeats + 1)] for b in ("vltava", "mock")}
    summary["many_partitions"] = many_runs
    ok = {b: [run for run in many_runs[b] if "error" not in run] for b in many_runs}
    for b in many_runs:
        for r, run in enumerate(many_runs[b], 1):
            if "error" in run:
                failures.append(f"{b}, run {r}: {run['error']}")

    def many_cell(b, key, fmt, derive=None):
        values = [derive(run) if derive else run[key] for run in ok[b] if derive or key in run]
        if not values:
            return ("FAILED" if not ok[b] else "n/a"), None
        s = spread(values)
        return show(s, fmt), s["median"]

    def many_row(label, key, fmt, derive=None, note_mock=None, compare=True):
        v, vm = many_cell("vltava", key, fmt, derive)
        k, km = many_cell("mock", key, fmt, derive)
        if note_mock and km is None and ok["mock"]:
            k = note_mock
        lines.append(f"| {label} | {v} | {k} | {ratio(vm, km) if compare and vm is not None and km else 'n/a'} |")

    per_partition_kib = lambda run: (run["rss_mib"] - run["idle_rss_mib"]) * 1024 / run["partitions"]
    per_partition_fds = lambda run: (run["descriptors"] - run["idle_descriptors"]) / run["partitions"]
    one = lambda x: num(x, 1)
    lines += ["", f"{many:,} partitions (topics of at most 1,000 partitions, one record produced to each partition)"
              + (f", median (min–max) of {many_repeats} runs." if many_repeats > 1 else ", one run."), "",
              "| figure | Vltava | mock | Vltava / mock |", "|---|---|---|---|",
              f"| runs completed | {len(ok['vltava'])} of {many_repeats} | {len(ok['mock'])} of {many_repeats} | |"]
    many_row("idle RSS before the partitions, MiB", "idle_rss_mib", one)
    many_row("RSS with the partitions (after the produce), MiB", "rss_mib", one)
    many_row("RSS per partition, KiB", None, one, per_partition_kib)
    many_row("open descriptors, idle", "idle_descriptors", lambda x: num(x, 0), compare=False)
    many_row("open descriptors with the partitions", "descriptors", lambda x: num(x, 0), compare=False)
    many_row("descriptors per partition", None, lambda x: num(x, 2), per_partition_fds, compare=False)
    many_row("create, s (Vltava: CreateTopics, one topic per request)", "create_s", lambda x: num(x, 2),
             note_mock="n/a (created in-process at start-up)")
    many_row("start-up with the partitions, ms (mock only)", "startup_with_partitions_ms", one)
    many_row("Metadata check of every partition's leader, s", "metadata_check_s", lambda x: num(x, 2), compare=False)
    many_row("one record to each partition, s", "produce_each_s", lambda x: num(x, 2))
    many_row("shutdown, SIGTERM to exit, s", "shutdown_s", lambda x: num(x, 2), compare=False)
    if failures:
        lines += ["", "Failed many-partitions runs (what failed, the broker's answer, the broker's state and log):"]
        lines += ["- " + f.replace("\n", "\n  ") for f in failures]

header = open(os.path.join(out, "header.txt")).read().rstrip("\n")
text = header + "\n\n" + "\n".join(lines)
print(text)
open(os.path.join(out, "summary.md"), "w").write(text + "\n")
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
PY
