#!/usr/bin/env bash
# Recapture every golden frame end to end.
#
#   sudo tests/protocol/golden/capture/capture_all.sh [--install] [client ...]
#
# clients: librdkafka kcat kafka_python kafkajs (default: all of them)
# --install  apt-get/npm install the clients and tools first (Debian + npm only).
#
# Needs root (tcpdump on lo).  For each client it starts a fresh librdkafka mock
# cluster (mock_broker.c), records loopback traffic to that broker with tcpdump,
# runs the client's scenario and stops both.  The captures are stored as
# tests/protocol/golden/pcap/<client>.pcap, and extract_frames.py then rewrites
# tests/protocol/golden/<client>/ and manifest.json from them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GOLDEN="$(dirname "$HERE")"
PY=/usr/bin/python3   # Debian's python: python3-kafka / python3-confluent-kafka live there
KAFKAJS_VERSION=2.2.4
# KafkaJS codec plugins for snappy, lz4 and zstd (pure JS / bundled WebAssembly,
# no native builds); scenario_kafkajs.js checks these exact versions.
KAFKAJS_CODECS=(kafkajs-snappy@1.1.0 snappyjs@0.6.1 lz4js@0.2.0 @bokuweb/zstd-wasm@0.0.27)
KJS_DIR="${KJS_DIR:-/tmp/vltava-golden-kafkajs}"
WORK="$(mktemp -d /tmp/vltava-golden.XXXXXX)"
CLIENTS=()
INSTALL=0
for a in "$@"; do
  case "$a" in
    --install) INSTALL=1 ;;
    librdkafka|kcat|kafka_python|kafkajs) CLIENTS+=("$a") ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
[ ${#CLIENTS[@]} -eq 0 ] && CLIENTS=(librdkafka kcat kafka_python kafkajs)

if [ "$INSTALL" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq build-essential pkg-config librdkafka-dev kcat tcpdump tshark zstd \
    python3-kafka python3-confluent-kafka python3-snappy python3-lz4 python3-zstandard
  command -v node >/dev/null && command -v npm >/dev/null || apt-get install -y -qq nodejs npm
fi
if [[ " ${CLIENTS[*]} " == *" kafkajs "* ]]; then
  for pkg in "kafkajs@$KAFKAJS_VERSION" "${KAFKAJS_CODECS[@]}"; do
    name="${pkg%@*}" want="${pkg##*@}"
    have="$(node -p "require('$KJS_DIR/node_modules/$name/package.json').version" 2>/dev/null || true)"
    if [ "$have" != "$want" ]; then
      mkdir -p "$KJS_DIR"
      [ -f "$KJS_DIR/package.json" ] || (cd "$KJS_DIR" && npm init -y >/dev/null)
      (cd "$KJS_DIR" && npm install --no-audit --no-fund --save-exact "kafkajs@$KAFKAJS_VERSION" "${KAFKAJS_CODECS[@]}")
      break
    fi
  done
fi

MB_PID=""; TD_PID=""
cleanup() {
  [ -n "$TD_PID" ] && kill "$TD_PID" 2>/dev/null || true
  [ -n "$MB_PID" ] && kill "$MB_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cc -O2 -Wall -Wextra "$HERE/mock_broker.c" -o "$WORK/mock_broker" $(pkg-config --cflags --libs rdkafka)

run_scenario() {
  local client="$1" bs="$2"
  case "$client" in
    librdkafka) "$PY" "$HERE/scenario_librdkafka.py" "$bs" ;;
    kafka_python) "$PY" "$HERE/scenario_kafka_python.py" "$bs" ;;
    kafkajs) KAFKAJS_NO_PARTITIONER_WARNING=1 NODE_PATH="$KJS_DIR/node_modules" node "$HERE/scenario_kafkajs.js" "$bs" ;;
    kcat)
      # One produce (header h=v on every record: kcat -H applies to all) ...
      printf 'key-0:value-0\nkey-1:value-1\nkey-2:value-2\n' |
        kcat -P -b "$bs" -t golden-none -p 0 -K: -H h=v -X client.id=golden-kcat \
             -X acks=all -X linger.ms=200
      # ... and one simple (group-less) consume of those records.
      kcat -C -b "$bs" -t golden-none -p 0 -o beginning -c 3 -e -X client.id=golden-kcat \
           -f 'consumed %k=%s\n'
      ;;
  esac
}

# Record the exact client/tool versions next to the frames.
{
  echo "# written by capture/capture_all.sh"
  echo "librdkafka $(pkg-config --modversion rdkafka) (dpkg librdkafka1 $(dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null || echo '?'))"
  "$PY" -c 'import confluent_kafka as c; print("confluent-kafka-python", c.version()[0], "linked librdkafka", c.libversion()[0])'
  echo "kcat $(kcat -V 2>&1 | grep -o 'Version [0-9.]*' | cut -d' ' -f2) (dpkg $(dpkg-query -W -f='${Version}' kcat 2>/dev/null || echo '?'), $(kcat -V 2>&1 | grep -o 'librdkafka [0-9.]*' || true))"
  "$PY" -c 'import kafka; print("kafka-python", kafka.__version__)'
  "$PY" -c 'import snappy, lz4, zstandard; print("python3-snappy", getattr(snappy, "__version__", "?"), "| lz4", lz4.__version__, "| zstandard", zstandard.__version__)' 2>/dev/null || true
  echo "kafkajs $(node -p "require('$KJS_DIR/node_modules/kafkajs/package.json').version" 2>/dev/null || echo '?') on node $(node --version 2>/dev/null || echo '?')"
  echo "kafkajs codecs: $(for p in "${KAFKAJS_CODECS[@]}"; do n="${p%@*}"; printf '%s %s | ' "$n" "$(node -p "require('$KJS_DIR/node_modules/$n/package.json').version" 2>/dev/null || echo '?')"; done | sed 's/ | $//')"
  echo "tcpdump $(tcpdump --version 2>&1 | head -n1 | awk '{print $3}')"
  command -v tshark >/dev/null && tshark --version 2>/dev/null | head -n1 || true
} > "$GOLDEN/versions.txt"
cat "$GOLDEN/versions.txt"

ARGS=()
for client in "${CLIENTS[@]}"; do
  echo "=== $client"
  "$WORK/mock_broker" > "$WORK/$client.bootstrap" 2> "$WORK/$client.mock.log" &
  MB_PID=$!
  for _ in $(seq 50); do [ -s "$WORK/$client.bootstrap" ] && break; sleep 0.1; done
  bs="$(head -n1 "$WORK/$client.bootstrap")"
  port="${bs##*:}"
  [ -n "$port" ] || { echo "mock broker did not start" >&2; exit 1; }
  tcpdump -Z root -i lo -U -s 0 -w "$WORK/$client.pcap" "tcp port $port" 2> "$WORK/$client.tcpdump.log" &
  TD_PID=$!
  sleep 1.5
  run_scenario "$client" "$bs"
  sleep 1
  kill "$TD_PID"; wait "$TD_PID" || true; TD_PID=""
  kill "$MB_PID"; wait "$MB_PID" || true; MB_PID=""
  cat "$WORK/$client.tcpdump.log"
  mkdir -p "$GOLDEN/pcap"
  cp "$WORK/$client.pcap" "$GOLDEN/pcap/$client.pcap"
  ARGS+=("$client=$GOLDEN/pcap/$client.pcap:$port")
done

"$PY" "$HERE/extract_frames.py" --out "$GOLDEN" "${ARGS[@]}"

# Independent check of the manifest with Wireshark's Kafka dissector.
if command -v tshark >/dev/null; then
  "$PY" "$HERE/verify_with_tshark.py" "$GOLDEN"
else
  echo "tshark not installed: skipping verify_with_tshark.py"
fi
