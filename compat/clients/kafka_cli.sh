#!/usr/bin/env bash
# The stock Apache Kafka command-line tools from $KAFKA_HOME against a Vltava broker (used by compat/run).
#
#   compat/clients/kafka_cli.sh MODE --bootstrap HOST:PORT --topic T [--timeout-seconds S]
#
#   topic-create-delete  kafka-topics.sh --create T (3 partitions), --list must show it, --describe must show 3
#                        partitions, --delete, and --list must no longer show it.
#   produce-consume      kafka-topics.sh --create T (1 partition); kafka-console-producer.sh sends 20 keyed records
#                        (parse.key); kafka-console-consumer.sh --from-beginning --max-messages 20 must print exactly
#                        those keys and values, in order.
#
# Prints one JSON summary line on stdout and exits 0; on a failure it prints the reason on stderr and exits 1; exits
# 3 when KAFKA_HOME is not set or has no bin/kafka-topics.sh. (Not exercised where no Kafka installation exists.)
set -euo pipefail

mode=${1:-}; shift || true
bootstrap=""; topic=""; timeout_seconds=60
while (($#)); do
  case "$1" in
    --bootstrap) bootstrap=$2; shift 2 ;;
    --topic) topic=$2; shift 2 ;;
    --timeout-seconds) timeout_seconds=$2; shift 2 ;;
    *) echo "kafka_cli: bad argument $1" >&2; exit 2 ;;
  esac
done
[[ -n $bootstrap && -n $topic ]] || { echo "usage: $0 MODE --bootstrap HOST:PORT --topic T" >&2; exit 2; }
if [[ -z ${KAFKA_HOME:-} || ! -x $KAFKA_HOME/bin/kafka-topics.sh ]]; then
  echo "kafka_cli: KAFKA_HOME not set (or has no bin/kafka-topics.sh)" >&2
  exit 3
fi
bin=$KAFKA_HOME/bin
fail() { echo "kafka_cli $mode: FAIL: $*" >&2; exit 1; }
step() { timeout "$timeout_seconds" "$@" 2>"$work/err" || fail "$(basename "$1") ${*:2:3}... exited $?: $(tail -3 "$work/err")"; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
started=$(date +%s%3N)

case "$mode" in
  topic-create-delete)
    step "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --topic "$topic" --partitions 3 \
      --replication-factor 1 >/dev/null
    step "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --list >"$work/list"
    grep -qx "$topic" "$work/list" || fail "--list does not show $topic after --create"
    step "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --describe --topic "$topic" >"$work/describe"
    partitions=$(grep -c "Partition: " "$work/describe" || true)
    ((partitions == 3)) || fail "--describe shows $partitions partitions, expected 3: $(cat "$work/describe")"
    step "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --delete --topic "$topic" >/dev/null
    for _ in $(seq 50); do
      step "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --list >"$work/list"
      grep -qx "$topic" "$work/list" || break
      sleep 0.2
    done
    ! grep -qx "$topic" "$work/list" || fail "--list still shows $topic after --delete"
    ;;
  produce-consume)
    step "$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --topic "$topic" --partitions 1 \
      --replication-factor 1 >/dev/null
    for i in $(seq 0 19); do echo "key-$i:value-$i"; done >"$work/sent"
    step "$bin/kafka-console-producer.sh" --bootstrap-server "$bootstrap" --topic "$topic" --producer-property acks=all \
      --property parse.key=true --property key.separator=: <"$work/sent"
    step "$bin/kafka-console-consumer.sh" --bootstrap-server "$bootstrap" --topic "$topic" --from-beginning \
      --max-messages 20 --timeout-ms $((timeout_seconds * 1000)) --property print.key=true \
      --property key.separator=: >"$work/got"
    cmp -s "$work/sent" "$work/got" || fail "consumed records differ: $(diff "$work/sent" "$work/got" | head -5)"
    ;;
  *) echo "kafka_cli: unknown mode $mode" >&2; exit 2 ;;
esac
printf '{"client": "kafka-cli", "mode": "%s", "topic": "%s", "elapsed_ms": %d}\n' "$mode" "$topic" \
  $(($(date +%s%3N) - started))
