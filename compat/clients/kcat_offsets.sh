#!/usr/bin/env bash
# kcat offsets-by-timestamp against a Vltava broker (used by compat/run), the checks of kafka_python_admin.py's
# offsets-by-timestamp mode with kcat making every lookup. kcat cannot set a record's timestamp when it produces, so
# `kafka_python_admin.py produce-timestamped` creates the topic (one partition) and produces --count records, record i
# with key "key-i", value "value-i" and CreateTime base + 10*i (base: an hour ago). Then, all with kcat:
#  - kcat -C -o beginning -e reads record i at offset i with key, value and timestamp (%T) base + 10*i;
#  - kcat -Q (ListOffsets by timestamp, librdkafka's offsets_for_times) finds offset i for base + 10*i, offset i+1
#    for base + 10*i + 5 (the first record at or after it; the end, -1, after the last record) and -1 for a
#    timestamp after the last record; kcat -Q with the special timestamps -2 (earliest) and -1 (latest) gives 0 and N;
#  - kcat -C -o s@TS (start at a timestamp) with TS = base + 10*i + 5 starts at record i+1, for a few i.
# Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr
# and exits 1 (3 when kafka-python, needed to produce the records, is not installed).
#
#   compat/clients/kcat_offsets.sh --bootstrap HOST:PORT --topic T [--count N] [--timeout-seconds S]
set -euo pipefail

bootstrap=""
topic=""
count=20
timeout_seconds=60
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  echo "usage: $0 --bootstrap HOST:PORT --topic T [--count N] [--timeout-seconds S]" >&2
  exit 2
}

while (($#)); do
  case "$1" in
    --bootstrap) bootstrap=${2:-}; shift 2 || usage ;;
    --topic) topic=${2:-}; shift 2 || usage ;;
    --count) count=${2:-}; shift 2 || usage ;;
    --timeout-seconds) timeout_seconds=${2:-}; shift 2 || usage ;;
    *) usage ;;
  esac
done
[[ -n $bootstrap && -n $topic && $count =~ ^[0-9]+$ && $count -gt 0 && $timeout_seconds =~ ^[0-9]+$ ]] || usage

script_name=kcat_offsets
# shellcheck source=compat/clients/kcat_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/kcat_common.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- the records, produced by kafka-python ----
base=$(($(now_ms) - 3600000))
status=0
timeout --kill-after=5 "$(seconds_left)" /usr/bin/python3 "$here/kafka_python_admin.py" produce-timestamped \
  --bootstrap "$bootstrap" --topic "$topic" --count "$count" --timestamp-base "$base" \
  --timeout-seconds "$(seconds_left)" >"$work/produce.out" 2>"$work/produce.err" || status=$?
if ((status == 3)); then
  echo "kcat_offsets: producing the timestamped records needs kafka-python: $(cat "$work/produce.err")" >&2
  exit 3
fi
((status == 0)) || fail "producing the records with kafka-python exited with $status (124: deadline):" \
  "$(grep -v '^$' "$work/produce.err" | tail -n 3)"

# ---- read back with kcat: offsets, keys, values, timestamps ----
status=0
timeout --kill-after=5 "$(seconds_left)" kcat -C -b "$bootstrap" -t "$topic" -p 0 -o beginning -e \
  -X broker.address.family=v4 -m 30 -f '%o\t%k\t%s\t%T\n' >"$work/out" 2>"$work/consume.err" || status=$?
((status == 0)) || fail "kcat -C from $topic exited with $status (124: deadline): $(cat "$work/consume.err")"
i=0
while IFS=$'\t' read -r offset key value timestamp; do
  [[ "$offset $key $value $timestamp" == "$i key-$i value-$i $((base + 10 * i))" ]] ||
    fail "$topic record $i: offset $offset key '$key' value '$value' timestamp $timestamp, expected $i key-$i" \
      "value-$i $((base + 10 * i))"
  i=$((i + 1))
done <"$work/out"
((i == count)) || fail "$topic: kcat -C read $i records, expected $count"

# ---- kcat -Q: one lookup per call (kcat allows a partition only once per query) ----
# Prints the offset kcat -Q finds in partition 0 for timestamp $1 (output: "<topic> [0] offset <n>").
query() {
  local status=0 line
  timeout --kill-after=5 "$(seconds_left)" kcat -Q -b "$bootstrap" -t "$topic:0:$1" -X broker.address.family=v4 \
    -m 30 >"$work/query.out" 2>"$work/query.err" || status=$?
  ((status == 0)) || fail "kcat -Q -t $topic:0:$1 exited with $status (124: deadline): $(cat "$work/query.err")"
  line=$(cat "$work/query.out")
  [[ $line =~ ^"$topic [0] offset "(-?[0-9]+)$ ]] || fail "kcat -Q -t $topic:0:$1 printed '$line'"
  echo "${BASH_REMATCH[1]}"
}
expect_query() { # $1: timestamp, $2: the offset expected, $3: what the timestamp is
  local got
  got=$(query "$1") || exit 1
  [[ $got == "$2" ]] || fail "kcat -Q for $3 (timestamp $1) gave offset $got, expected $2"
}
for ((i = 0; i < count; i++)); do
  expect_query $((base + 10 * i)) "$i" "base + $((10 * i))"
  expect_query $((base + 10 * i + 5)) "$((i + 1 < count ? i + 1 : -1))" "base + $((10 * i + 5))"
done
expect_query $((base + 10 * count + 1000)) -1 "a time after the last record"
expect_query -2 0 "the earliest offset (-2)"
expect_query -1 "$count" "the latest offset (-1)"
lookups=$((2 * count + 3))

# ---- kcat -C -o s@TS: start at the first record at or after TS ----
probes=0
for i in 0 $((count / 2)) $((count - 2)); do
  ((i >= 0 && i + 1 < count)) || continue
  status=0
  timeout --kill-after=5 "$(seconds_left)" kcat -C -b "$bootstrap" -t "$topic" -p 0 -o "s@$((base + 10 * i + 5))" \
    -c 1 -e -X broker.address.family=v4 -m 30 -f '%o\t%k\t%T\n' >"$work/start.out" 2>"$work/start.err" || status=$?
  ((status == 0)) || fail "kcat -C -o s@$((base + 10 * i + 5)) exited with $status: $(cat "$work/start.err")"
  [[ $(cat "$work/start.out") == "$((i + 1))"$'\t'"key-$((i + 1))"$'\t'"$((base + 10 * i + 10))" ]] ||
    fail "kcat -C -o s@(base + $((10 * i + 5))) started with '$(tr '\t' ' ' <"$work/start.out")'," \
      "expected offset $((i + 1)) key-$((i + 1)) timestamp $((base + 10 * i + 10))"
  probes=$((probes + 1))
done

printf '{"client": "kcat", "version": "%s", "mode": "offsets-by-timestamp", "topic": "%s", "count": %d, ' \
  "$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*/\1/p')" "$topic" "$count"
printf '"timestamp_base": %d, "lookups": %d, "start_at_timestamp_probes": %d, "produced_by": "kafka-python", ' \
  "$base" "$lookups" "$probes"
printf '"elapsed_ms": %d}\n' $(($(now_ms) - started_ms))
