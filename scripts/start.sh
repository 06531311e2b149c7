#!/usr/bin/env bash
# Sets everything up on a Debian 12 machine and starts a single-node broker on localhost:9092, data in
# /tmp/vltava-logs (config/server.properties). Extra arguments go to the broker, e.g. --override num.partitions=3.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec bin/vltava-server-start.sh config/server.properties "$@"
