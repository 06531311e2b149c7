#!/usr/bin/env bash
# Shows what the Kafka dissector makes of real client traffic: the captures behind our golden frames
# (tests/protocol/golden/pcap: librdkafka, kcat, kafka-python, KafkaJS against librdkafka's mock broker).
# Frames the dissector calls malformed there are dissector bugs, whatever our codec does.
#
#   tools/crosscheck/real_clients.sh [TSHARK]      (default: the system's tshark)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tshark="${1:-$(command -v tshark)}"
"$tshark" --version 2>/dev/null | head -1
for pcap in "$here"/../../tests/protocol/golden/pcap/*.pcap; do
  # the broker port: destination of the first SYN
  port="$("$tshark" -r "$pcap" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.dstport 2>/dev/null |
          head -1)"
  echo "== $(basename "$pcap") (broker port $port)"
  # expert group 0x07000000: malformed; exceptions add _ws.malformed
  "$tshark" -r "$pcap" -d "tcp.port==$port,kafka" -Y 'kafka && (_ws.malformed || _ws.expert.group == 0x07000000)' \
    -T fields -e frame.number -e _ws.col.Info -e _ws.expert.message 2>/dev/null | sed 's/^/   /' || true
done
