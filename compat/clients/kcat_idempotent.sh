#!/usr/bin/env bash
# kcat idempotent producer against a Vltava broker (used by compat/run). The topic must exist with one partition
# (compat/run creates it first). One kcat -P run with enable.idempotence=true, acks=all, max.in.flight=5 and small
# batches (batch.num.messages=10, linger.ms=5) produces --count records to partition 0, so librdkafka sends them in
# several Produce requests that may overlap. Checks:
#  - the producer obtained a producer id: kcat has no statistics callback, so the id is read from librdkafka's own
#    debug log (-d eos,protocol on stderr): "Acquired PID{Id:N,Epoch:E}" with N >= 0, the state change "WaitPID ->
#    Assigned", and at least count/10 "Sent ProduceRequest" lines;
#  - every delivery succeeded: kcat exits 0 and reports no "Delivery failed";
#  - kcat -C -p 0 -o beginning -e reads each record exactly once, in produce order, at consecutive offsets: record i
#    at offset i, and nothing after the last one (-e stops at the end of the partition).
# Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr
# and exits 1.
#
#   compat/clients/kcat_idempotent.sh --bootstrap HOST:PORT --topic T --count N [--timeout-seconds S]
#
# Record i (as in the round trips, with "idempotent" in place of the codec): key "key-idempotent-i", value
# "value-idempotent-i-" followed by "0123456789abcdef" eight times.
set -euo pipefail

bootstrap=""
topic=""
count=""
timeout_seconds=60

usage() {
  echo "usage: $0 --bootstrap HOST:PORT --topic T --count N [--timeout-seconds S]" >&2
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

script_name=kcat_idempotent
# shellcheck source=compat/clients/kcat_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/kcat_common.sh"

filler=$(printf '0123456789abcdef%.0s' 1 2 3 4 5 6 7 8)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- produce ----
for ((i = 0; i < count; i++)); do
  printf 'key-idempotent-%d\tvalue-idempotent-%d-%s\n' "$i" "$i" "$filler"
done >"$work/in"
status=0
timeout --kill-after=5 "$(seconds_left)" kcat -P -b "$bootstrap" -t "$topic" -p 0 -K '\t' \
  -X enable.idempotence=true -X acks=all -X max.in.flight=5 -X linger.ms=5 -X batch.num.messages=10 \
  -X broker.address.family=v4 -X message.timeout.ms=$((timeout_seconds * 1000)) -m 30 -d eos,protocol \
  -l "$work/in" >"$work/produce.out" 2>"$work/produce.err" || status=$?
errors() { grep -v '^%7|' "$work/produce.err" | head -n 5 || true; }
((status == 0)) || fail "kcat -P to $topic exited with $status (124: deadline): $(errors)"
if grep -q 'Delivery failed' "$work/produce.err"; then
  fail "kcat -P to $topic reported: $(grep 'Delivery failed' "$work/produce.err" | head -n 3)"
fi

# librdkafka's eos debug lines: "...|GETPID|...: Acquired PID{Id:5,Epoch:0}" and "...|IDEMPSTATE|...: Idempotent
# producer state change WaitPID -> Assigned".
pid_line=$(grep -oE 'Acquired PID\{Id:-?[0-9]+,Epoch:-?[0-9]+\}' "$work/produce.err" | tail -n 1 || true)
[[ -n $pid_line ]] ||
  fail "librdkafka's debug log shows no acquired producer id; its eos lines: $(grep -E 'IDEMP|PID' "$work/produce.err" |
    head -n 8)"
producer_id=$(sed -E 's/.*Id:(-?[0-9]+),.*/\1/' <<<"$pid_line")
producer_epoch=$(sed -E 's/.*Epoch:(-?[0-9]+)\}/\1/' <<<"$pid_line")
((producer_id >= 0)) || fail "librdkafka acquired producer id $producer_id (from '$pid_line'), expected >= 0"
grep -q 'Idempotent producer state change WaitPID -> Assigned' "$work/produce.err" ||
  fail "librdkafka's idempotent producer never reached state Assigned:" \
    "$(grep IDEMPSTATE "$work/produce.err" | head -n 8)"
produce_requests=$(grep -c 'Sent ProduceRequest' "$work/produce.err" || true)
# batch.num.messages=10: the records cannot have gone in fewer requests than this.
((produce_requests >= (count + 9) / 10)) ||
  fail "librdkafka sent $produce_requests Produce requests for $count records in batches of at most 10"

# ---- consume: partition 0 from the beginning, no group, exit at the end of the partition ----
status=0
timeout --kill-after=5 "$(seconds_left)" kcat -C -b "$bootstrap" -t "$topic" -p 0 -o beginning -e \
  -X broker.address.family=v4 -m 30 -f '%o\t%k\t%s\n' >"$work/out" 2>"$work/consume.err" || status=$?
((status == 0)) || fail "kcat -C from $topic exited with $status (124: deadline): $(cat "$work/consume.err")"
i=0
while IFS=$'\t' read -r offset key value; do
  ((i < count)) || fail "$topic: offset $offset holds key '$key' beyond the last record produced ($count records)"
  [[ $offset == "$i" && $key == "key-idempotent-$i" ]] ||
    fail "$topic record $i: offset $offset key '$key', expected offset $i key 'key-idempotent-$i'"
  [[ $value == "value-idempotent-$i-$filler" ]] || fail "$topic record $i: value '$value', expected" \
    "'value-idempotent-$i-$filler'"
  i=$((i + 1))
done <"$work/out"
((i == count)) || fail "$topic: consumed $i records, expected $count; stderr: $(cat "$work/consume.err")"

printf '{"client": "kcat", "version": "%s", "mode": "idempotent-producer", "topic": "%s", "count": %d, ' \
  "$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*/\1/p')" "$topic" "$count"
printf '"producer_id": %d, "producer_epoch": %d, "producer_id_from": "librdkafka debug log (-d eos)", ' \
  "$producer_id" "$producer_epoch"
printf '"produce_requests": %d, "elapsed_ms": %d}\n' "$produce_requests" $(($(now_ms) - started_ms))
