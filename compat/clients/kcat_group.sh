#!/usr/bin/env bash
# kcat -G (librdkafka's balanced consumer) consumer-group scenarios against a Vltava broker. The topic must exist with
# --partitions partitions (tests/broker/client_group_test.cc creates it). Three phases, one group:
#
#  1. Two kcat -G consumers (A and B, background processes) subscribe. Once their assignments (kcat's "Group ...
#     rebalanced ... assigned:" lines on stderr) are disjoint and together cover every partition, --count records
#     are produced; together A and B must consume every one exactly once (counted by key), each only from partitions
#     assigned to it, and the partitions A and B saw must be disjoint.
#  2. A is stopped with SIGTERM: kcat closes its consumer, which commits A's offsets (auto commit) and leaves the
#     group. B must be reassigned every partition; --count more records are produced and B must consume exactly those
#     (B's own offsets were committed by auto commit, at the latest when its partitions were revoked).
#  3. B is stopped the same way. --resume-count records are produced, and a new kcat -G consumer C (-c count) in the
#     same group must resume from the committed offsets: it receives exactly those records, nothing earlier (a
#     partition is read in offset order, so an earlier record would come before the new ones). C commits on exit.
#
# Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr
# and exits 1.
#
#   compat/clients/kcat_group.sh --bootstrap HOST:PORT --topic T --group G [--partitions 4] [--count N]
#                                [--resume-count M] [--session-timeout-ms MS] [--timeout-seconds S]
#
# Record i of phase p (1, 2, 3) has key "p<p>-<i>" and value "value-p<p>-<i>" and goes to partition i % partitions
# (one kcat -P per partition), so every phase reaches every partition. The C++ test checks on the broker side that the
# group's committed offsets are the end offsets.
set -euo pipefail

bootstrap=""
topic=""
group=""
partitions=4
count=40
resume_count=20
session_timeout_ms=6000
timeout_seconds=60

usage() {
  echo "usage: $0 --bootstrap HOST:PORT --topic T --group G [--partitions P] [--count N] [--resume-count M]" \
    "[--session-timeout-ms MS] [--timeout-seconds S]" >&2
  exit 2
}

while (($#)); do
  case "$1" in
    --bootstrap) bootstrap=${2:-}; shift 2 || usage ;;
    --topic) topic=${2:-}; shift 2 || usage ;;
    --group) group=${2:-}; shift 2 || usage ;;
    --partitions) partitions=${2:-}; shift 2 || usage ;;
    --count) count=${2:-}; shift 2 || usage ;;
    --resume-count) resume_count=${2:-}; shift 2 || usage ;;
    --session-timeout-ms) session_timeout_ms=${2:-}; shift 2 || usage ;;
    --timeout-seconds) timeout_seconds=${2:-}; shift 2 || usage ;;
    *) usage ;;
  esac
done
for number in "$partitions" "$count" "$resume_count" "$session_timeout_ms" "$timeout_seconds"; do
  [[ $number =~ ^[0-9]+$ && $number -gt 0 ]] || usage
done
[[ -n $bootstrap && -n $topic && -n $group ]] || usage

script_name=kcat_group
# shellcheck source=compat/clients/kcat_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/kcat_common.sh"

work=$(mktemp -d)
consumer_pids=()
declare -A pid_of # consumer name -> pid
cleanup() {
  local pid
  for pid in "${consumer_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Prints the reason with every consumer's stderr tail (their rebalance log), then exits 1.
fail() {
  echo "kcat_group: FAIL: $*" >&2
  local name
  for name in a b c; do
    if [[ -f $work/$name.err ]]; then
      echo "---- consumer $name stderr (tail) ----" >&2
      tail -n 30 "$work/$name.err" >&2
    fi
  done
  exit 1
}

# Polls `$@` (a command) every 100 ms until it succeeds; fails with $what at the deadline.
wait_until() {
  local what=$1
  shift
  until "$@"; do
    (($(now_ms) < deadline_ms)) || fail "deadline: $what; $(progress)"
    sleep 0.1
  done
}

# Each consumer's latest assignment and how many records it has consumed (for a failure message).
progress() {
  local name
  for name in a b c; do
    [[ -f $work/$name.out ]] || continue
    printf 'consumer %s: assigned [%s], %d records; ' "$name" "$(current_assignment "$name")" "$(wc -l <"$work/$name.out")"
  done
}

all_partitions=$(seq 0 $((partitions - 1)) | paste -sd' ')

# The partitions of consumer $1's latest assignment, ascending, space separated ("" when revoked or not yet
# assigned). kcat logs every assignment and (with -v) every revocation on stderr:
#   % Group G rebalanced (memberid M): assigned: T [0], T [2]
#   % Group G rebalanced (memberid M): revoked: T [0], T [2]
current_assignment() {
  local line
  line=$(grep -E 'rebalanced .*(assigned|revoked):' "$work/$1.err" 2>/dev/null | tail -n 1 || true)
  [[ $line == *assigned:* ]] || return 0
  grep -oE '\[[0-9]+\]' <<<"${line#*assigned:}" | tr -d '[]' | sort -n | paste -sd' ' || true
}

# The assignment counts as settled when every named consumer holds a non-empty assignment, none overlap, and
# together they cover every partition.
assignment_settled() {
  local name union="" set
  for name in "$@"; do
    set=$(current_assignment "$name")
    [[ -n $set ]] || return 1
    union+="$set "
  done
  [[ $(tr ' ' '\n' <<<"$union" | grep -v '^$' | sort -n | paste -sd' ') == "$all_partitions" ]]
}

start_consumer() {
  local name=$1
  shift
  # -u: unbuffered output, so the lines are in the file as soon as kcat has the records. -v: also log revocations.
  # auto.offset.reset=earliest: partitions without a committed offset start at the beginning (no -o: with -G, kcat
  # would apply it to every assignment and ignore the committed offsets).
  kcat -b "$bootstrap" -G "$group" -u -v -f '%p %o %k\n' \
    -X broker.address.family=v4 -X auto.offset.reset=earliest \
    -X session.timeout.ms="$session_timeout_ms" -X heartbeat.interval.ms=500 \
    -X enable.auto.commit=true -X auto.commit.interval.ms=200 \
    "$@" "$topic" >"$work/$name.out" 2>"$work/$name.err" &
  consumer_pids+=($!)
  pid_of[$name]=$!
}

# SIGTERM lets kcat close its consumer: final commit, LeaveGroup. Waits for the exit within the deadline.
stop_consumer() {
  local name=$1 pid=${pid_of[$1]}
  kill -TERM "$pid" 2>/dev/null || fail "consumer $name (pid $pid) exited before it was stopped"
  local status=0
  wait_until "consumer $name did not exit after SIGTERM" process_gone "$pid"
  wait "$pid" || status=$?
  # kcat exits 0 after a signal-initiated shutdown; 143 would mean the signal killed it before its handler ran.
  ((status == 0)) || fail "consumer $name exited with $status after SIGTERM"
}
process_gone() { ! kill -0 "$1" 2>/dev/null; }

# Produces records first..last-1 of phase $1 ("p<phase>-<i>"), record i to partition i % partitions.
produce_phase() {
  local phase=$1 total=$2 p i status
  for ((p = 0; p < partitions; p++)); do
    : >"$work/in"
    for ((i = p; i < total; i += partitions)); do printf 'p%d-%d\tvalue-p%d-%d\n' "$phase" "$i" "$phase" "$i" >>"$work/in"; done
    [[ -s $work/in ]] || continue
    status=0
    timeout --kill-after=5 "$(seconds_left)" kcat -P -b "$bootstrap" -t "$topic" -p "$p" -K '\t' \
      -X acks=all -X broker.address.family=v4 -X message.timeout.ms=$((timeout_seconds * 1000)) -m 30 \
      -l "$work/in" >"$work/produce.out" 2>"$work/produce.err" || status=$?
    ((status == 0)) || fail "kcat -P of phase $phase to partition $p exited with $status: $(cat "$work/produce.err")"
    if grep -q 'Delivery failed' "$work/produce.err"; then fail "kcat -P reported: $(cat "$work/produce.err")"; fi
  done
}

# Lines "<partition> <offset> <key>" of consumer $1 whose key belongs to phase $2.
phase_lines() { grep -E "^[0-9]+ [0-9]+ p$2-[0-9]+\$" "$work/$1.out" || true; }
count_phase() { phase_lines "$1" "$2" | wc -l; }
# True once consumers ${@:3} together have consumed $2 records of phase $1.
consumed_at_least() {
  local phase=$1 want=$2 total=0 name
  shift 2
  for name in "$@"; do total=$((total + $(count_phase "$name" "$phase"))); done
  ((total >= want))
}
# The distinct partitions of consumer $1's records of phase $2.
partitions_seen() { phase_lines "$1" "$2" | cut -d' ' -f1 | sort -n | uniq | paste -sd' '; }
json_list() { local items=${1// /, }; echo "[$items]"; }
# Fails when the keys of phase $1 consumed by consumers ${@:3} are not exactly p<phase>-0..$2-1, each once.
check_exactly_once() {
  local phase=$1 total=$2 name
  shift 2
  for name in "$@"; do phase_lines "$name" "$phase"; done | cut -d' ' -f3 | sort >"$work/got"
  for ((i = 0; i < total; i++)); do echo "p$phase-$i"; done | sort >"$work/want"
  local duplicates
  duplicates=$(uniq -d "$work/got" | head -n 5 | paste -sd' ')
  [[ -z $duplicates ]] || fail "phase $phase: consumed more than once: $duplicates"
  cmp -s "$work/got" "$work/want" ||
    fail "phase $phase: consumed $(wc -l <"$work/got") records, expected $total; missing: $(comm -13 "$work/got" \
      "$work/want" | head -n 5 | paste -sd' ') unexpected: $(comm -23 "$work/got" "$work/want" | head -n 5 | paste -sd' ')"
}
# Fails when consumer $1 has consumed a record of phase $2 from a partition outside "$3".
check_owned() {
  local name=$1 phase=$2 owned=" $3 " p
  for p in $(partitions_seen "$name" "$phase"); do
    [[ $owned == *" $p "* ]] || fail "consumer $name consumed phase-$phase records of partition $p, assigned: $3"
  done
}

# ---- phase 1: two members split the partitions ----
start_consumer a
start_consumer b
wait_until "consumers a and b never held disjoint assignments covering partitions $all_partitions" assignment_settled a b
assigned_a=$(current_assignment a)
assigned_b=$(current_assignment b)
produce_phase 1 "$count"
wait_until "phase 1: a and b did not consume $count records" consumed_at_least 1 "$count" a b
# The assignment must not have moved while the records were consumed (that would allow duplicates).
[[ $(current_assignment a) == "$assigned_a" && $(current_assignment b) == "$assigned_b" ]] ||
  fail "phase 1: a rebalance happened while consuming (a: '$assigned_a' -> '$(current_assignment a)', b: '$assigned_b' -> '$(current_assignment b)')"
check_exactly_once 1 "$count" a b
check_owned a 1 "$assigned_a"
check_owned b 1 "$assigned_b"
seen_a=$(partitions_seen a 1)
seen_b=$(partitions_seen b 1)
[[ -z $(comm -12 <(tr ' ' '\n' <<<"$seen_a") <(tr ' ' '\n' <<<"$seen_b")) ]] ||
  fail "phase 1: a and b both consumed from partitions: a saw '$seen_a', b saw '$seen_b'"
phase1_a=$(count_phase a 1)
phase1_b=$(count_phase b 1)

# ---- phase 2: A leaves, B takes over every partition ----
stop_consumer a
wait_until "consumer b was not reassigned every partition after a left" assignment_settled b
assigned_b2=$(current_assignment b)
produce_phase 2 "$count"
wait_until "phase 2: b did not consume $count records" consumed_at_least 2 "$count" b
check_exactly_once 2 "$count" b
((phase1_b == $(count_phase b 1))) || fail "phase 2: b consumed phase-1 records again after the rebalance"
[[ $(count_phase a 2) == 0 ]] || fail "phase 2: a consumed phase-2 records after it was stopped"
# B's close commits what it consumed (auto commit), then leaves the group.
stop_consumer b

# ---- phase 3: a new member resumes from the committed offsets ----
produce_phase 3 "$resume_count"
status=0
# -c: exit after resume_count records (kcat then closes the consumer, which commits them).
start_consumer c -c "$resume_count"
wait_until "phase 3: c did not consume $resume_count records and exit" process_gone "${pid_of[c]}"
wait "${pid_of[c]}" || status=$?
((status == 0)) || fail "consumer c exited with $status"
earlier=$(grep -vE "^[0-9]+ [0-9]+ p3-[0-9]+\$" "$work/c.out" | head -n 5 | paste -sd' ' || true)
[[ -z $earlier ]] || fail "phase 3: c did not resume from the committed offsets, it received: $earlier"
check_exactly_once 3 "$resume_count" c
# C has revoked its partitions on close; its last assignment must have been every partition.
assigned_c=$(grep -E 'rebalanced .*assigned:' "$work/c.err" | tail -n 1 | sed 's/.*assigned://' | grep -oE '\[[0-9]+\]' |
  tr -d '[]' | sort -n | paste -sd' ' || true)
[[ $assigned_c == "$all_partitions" ]] || fail "phase 3: c was assigned '$assigned_c', expected '$all_partitions'"

printf '{"client": "kcat", "version": "%s", "group": "%s", "topic": "%s", "partitions": %d, "count": %d, ' \
  "$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*/\1/p')" "$group" "$topic" "$partitions" "$count"
printf '"resume_count": %d, "phase1": {"a": {"assigned": %s, "records": %d}, "b": {"assigned": %s, "records": %d}}, ' \
  "$resume_count" "$(json_list "$assigned_a")" "$phase1_a" "$(json_list "$assigned_b")" "$phase1_b"
printf '"phase2": {"b_assigned": %s, "records": %d}, "phase3": {"c_assigned": %s, "records": %d}, "elapsed_ms": %d}\n' \
  "$(json_list "$assigned_b2")" "$(count_phase b 2)" "$(json_list "$assigned_c")" "$(count_phase c 3)" \
  $(($(now_ms) - started_ms))
