#!/usr/bin/env bash
# kcat round trip against a Vltava broker: for every codec, produce --count records with keys, values and headers to
# partition 0 of "<topic>-<codec>" (acks=all), consume them back with the simple consumer (-C -p 0 -o beginning -e,
# no consumer group) and check every offset, key, value, header and timestamp. Prints one JSON summary line on stdout
# and exits 0; on a mismatch, a timeout or a kcat failure it prints the reason on stderr and exits 1.
#
#   compat/clients/kcat_roundtrip.sh --bootstrap HOST:PORT --topic T --count N [--codecs none,gzip,...]
#                                    [--timeout-seconds S]
#
# Record i of codec C (shared with tests/broker/client_roundtrip_test.cc, which checks the same records on the
# broker side): key "key-C-i", value "value-C-i-" followed by "0123456789abcdef" eight times (compressible, so
# librdkafka really compresses). kcat's -H applies to every record of a run, so the headers are the same for all:
# codec=C, client=kcat, dup=1, dup=2 (a repeated name, order kept). kcat cannot set a record's timestamp: librdkafka
# stamps CreateTime when the record is produced, so each must lie between the start and the end of the produce run.
set -euo pipefail

bootstrap=""
topic=""
count=""
codecs="none,gzip,snappy,lz4,zstd"
timeout_seconds=60

usage() {
  echo "usage: $0 --bootstrap HOST:PORT --topic T --count N [--codecs LIST] [--timeout-seconds S]" >&2
  exit 2
}

while (($#)); do
  case "$1" in
    --bootstrap) bootstrap=${2:-}; shift 2 || usage ;;
    --topic) topic=${2:-}; shift 2 || usage ;;
    --count) count=${2:-}; shift 2 || usage ;;
    --codecs) codecs=${2:-}; shift 2 || usage ;;
    --timeout-seconds) timeout_seconds=${2:-}; shift 2 || usage ;;
    # Accepted for a common command line with the other clients; kcat cannot set timestamps.
    --timestamp-base) shift 2 || usage ;;
    *) usage ;;
  esac
done
[[ -n $bootstrap && -n $topic && $count =~ ^[0-9]+$ && $count -gt 0 && $timeout_seconds =~ ^[0-9]+$ ]] || usage

script_name=kcat_roundtrip
# shellcheck source=compat/clients/kcat_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/kcat_common.sh"

filler=$(printf '0123456789abcdef%.0s' 1 2 3 4 5 6 7 8)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

IFS=',' read -r -a codec_list <<<"$codecs"
topics_json=""
for codec in "${codec_list[@]}"; do
  case "$codec" in none | gzip | snappy | lz4 | zstd) ;; *) fail "unknown codec '$codec'" ;; esac
  t="$topic-$codec"

  # ---- produce: one "key<TAB>value" line per record ----
  : >"$work/in"
  for ((i = 0; i < count; i++)); do
    printf 'key-%s-%d\tvalue-%s-%d-%s\n' "$codec" "$i" "$codec" "$i" "$filler" >>"$work/in"
  done
  produce_start_ms=$(now_ms)
  # -m bounds the metadata wait; message.timeout.ms bounds each delivery, so kcat cannot hang past the deadline.
  status=0
  timeout --kill-after=5 "$(seconds_left)" kcat -P -b "$bootstrap" -t "$t" -p 0 -K '\t' \
    -H "codec=$codec" -H client=kcat -H dup=1 -H dup=2 \
    -X acks=all -X compression.codec="$codec" -X linger.ms=5 -X broker.address.family=v4 \
    -X message.timeout.ms=$((timeout_seconds * 1000)) -m 30 \
    -l "$work/in" >"$work/produce.out" 2>"$work/produce.err" || status=$?
  ((status == 0)) || fail "kcat -P to $t (codec $codec) exited with $status (124: deadline): $(cat "$work/produce.err")"
  # kcat reports failed deliveries on stderr; the records read back below are the real check.
  if grep -q 'Delivery failed' "$work/produce.err"; then
    fail "kcat -P to $t (codec $codec) reported: $(cat "$work/produce.err")"
  fi
  produce_end_ms=$(now_ms)

  # ---- consume: partition 0 from the beginning, no group, exit at the end of the partition ----
  status=0
  timeout --kill-after=5 "$(seconds_left)" kcat -C -b "$bootstrap" -t "$t" -p 0 -o beginning -e -c "$((count + 1))" \
    -X broker.address.family=v4 -m 30 -f '%o\t%k\t%s\t%h\t%T\n' >"$work/out" 2>"$work/consume.err" || status=$?
  ((status == 0)) || fail "kcat -C from $t (codec $codec) exited with $status (124: deadline): $(cat "$work/consume.err")"
  got=$(wc -l <"$work/out")
  ((got == count)) || fail "$t (codec $codec): consumed $got records, expected $count; stderr: $(cat "$work/consume.err")"

  i=0
  while IFS=$'\t' read -r offset key value headers timestamp; do
    [[ $offset == "$i" ]] || fail "$t record $i: offset $offset, expected $i"
    [[ $key == "key-$codec-$i" ]] || fail "$t record $i: key '$key', expected 'key-$codec-$i'"
    [[ $value == "value-$codec-$i-$filler" ]] || fail "$t record $i: value '$value', expected 'value-$codec-$i-$filler'"
    expected_headers="codec=$codec,client=kcat,dup=1,dup=2"
    [[ $headers == "$expected_headers" ]] || fail "$t record $i: headers '$headers', expected '$expected_headers'"
    ((timestamp >= produce_start_ms - 1000 && timestamp <= produce_end_ms + 1000)) ||
      fail "$t record $i: timestamp $timestamp outside the produce run [$produce_start_ms, $produce_end_ms]"
    i=$((i + 1))
  done <"$work/out"

  topics_json+="${topics_json:+, }\"$t\""
done

codecs_json=$(printf '"%s", ' "${codec_list[@]}")
printf '{"client": "kcat", "version": "%s", "count": %d, "codecs": [%s], "topics": [%s], "elapsed_ms": %d}\n' \
  "$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*/\1/p')" "$count" "${codecs_json%, }" "$topics_json" \
  $(($(now_ms) - started_ms))
