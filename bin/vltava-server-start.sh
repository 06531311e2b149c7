#!/usr/bin/env bash
# Starts a Vltava broker, with the contract of Kafka's kafka-server-start.sh:
#
#   bin/vltava-server-start.sh [-daemon] server.properties [--override property=value]* [--ready-file PATH]
#
# Builds the broker on first use (and after source changes) into build-release/ with CMake, then runs
# build-release/bin/vltava with the same arguments. -daemon runs it in the background, logging to
# logs/vltava.out (LOG_DIR overrides the folder), as Kafka's script does.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VLTAVA_BUILD_DIR:-$root/build-release}

daemon=0
if [[ ${1:-} == "-daemon" ]]; then
  daemon=1
  shift
fi
if [[ $# -lt 1 ]]; then
  echo "USAGE: $0 [-daemon] server.properties [--override property=value]* [--ready-file PATH]" >&2
  exit 1
fi

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVLTAVA_BUILD_TESTS=OFF -DVLTAVA_BUILD_BENCH=OFF \
    >/dev/null
fi
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/vltava-ccache} CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true
cmake --build "$build" --target vltava >/dev/null

if ((daemon)); then
  log_dir=${LOG_DIR:-$root/logs}
  mkdir -p "$log_dir"
  nohup "$build/bin/vltava" "$@" >"$log_dir/vltava.out" 2>&1 </dev/null &
  echo "vltava started in the background (pid $!); output in $log_dir/vltava.out"
else
  exec "$build/bin/vltava" "$@"
fi
