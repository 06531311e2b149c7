#!/usr/bin/env bash
# Sets everything up on a Debian 12 machine and runs every test: unit and round-trip tests (GoogleTest via CTest),
# the formatting check, each libFuzzer target for a bounded time under AddressSanitizer + UBSan, and the
# compatibility suite (compat/run) with every installed client.
#
#   scripts/test.sh                      everything
#   VLTAVA_FUZZ_SECONDS=10 scripts/test.sh   shorter fuzzing
#   VLTAVA_SKIP_FUZZ=1 scripts/test.sh       no fuzzing (quick local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh

jobs=$(nproc)
fuzz_seconds=${VLTAVA_FUZZ_SECONDS:-60}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/vltava-ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Hash paths relative to the checkout, so a fresh clone elsewhere still hits the cache.
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=true

echo "== formatting (clang-format) =="
mapfile -t sources < <(git ls-files '*.cc' '*.h' 2>/dev/null || find src include tests bench -name '*.cc' -o -name '*.h')
if ((${#sources[@]})); then
  clang-format --dry-run --Werror "${sources[@]}"
fi

echo "== build (gcc, warnings as errors) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVLTAVA_WERROR=ON >/dev/null
cmake --build build -j "$jobs"

if [ -z "${VLTAVA_SKIP_FUZZ:-}" ]; then
  echo "== fuzz (clang, ASan + UBSan, ${fuzz_seconds}s per target) =="
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DVLTAVA_FUZZ=ON -DVLTAVA_BUILD_TESTS=OFF -DVLTAVA_BUILD_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j "$jobs"
  for target in build-fuzz/tests/fuzz/fuzz_*; do
    [ -x "$target" ] || continue
    name=$(basename "$target")
    corpus=$(mktemp -d)
    # Seeds: the golden frames captured from real clients (requests and responses), whatever the target.
    find "$root/tests/protocol/golden" -name '*.bin' -exec cp {} "$corpus/" \; 2>/dev/null || true
    echo "-- $name"
    "$target" -max_total_time="$fuzz_seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$root/build-fuzz/$name-" "$corpus" 2>&1 | grep -E '^(stat::number_of_executed_units|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)' || true
    status=${PIPESTATUS[0]}
    rm -rf "$corpus"
    if [ "$status" -ne 0 ]; then
      echo "fuzz target $name found a problem (exit $status); artifacts in build-fuzz/"
      exit 1
    fi
  done
fi

echo "== tests (ctest) =="
(cd build && ctest --output-on-failure -j "$jobs" --timeout 300)

echo "== compatibility suite (compat/run: every client x scenario against a fresh broker) =="
/usr/bin/python3 compat/run --broker build/bin/vltava --out build/compat
