#!/usr/bin/env bash
# Installs everything Vltava needs to build and test on Debian 12, from Debian's archive only.
# Idempotent: packages already present are skipped by apt-get; safe to run on every CI start.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache python3 git pkg-config
  clang libclang-rt-14-dev clang-format
  # libraries the broker links
  libboost1.81-dev libspdlog-dev libfmt-dev libcli11-dev
  zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev libssl-dev
  # test and benchmark frameworks
  libgtest-dev libgmock-dev libbenchmark-dev
  # real clients, used only by tests (never linked into the broker)
  librdkafka-dev kcat python3-kafka python3-confluent-kafka nodejs
  golang-go golang-github-shopify-sarama-dev
)
# npm for KafkaJS (scripts/install-compat.sh). Only when no npm runs: NodeSource's nodejs bundles npm and conflicts
# with Debian's npm package, which dpkg-query would report missing.
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash "$(dirname "$0")/install-compat.sh"
