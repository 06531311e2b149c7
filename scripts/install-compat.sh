#!/usr/bin/env bash
# Installs the compatibility-test clients that do not come from Debian's archive (scripts/install-deps.sh installs
# kcat, kafka-python, confluent-kafka and librdkafka with apt-get): KafkaJS, pinned by
# compat/clients/kafkajs/package-lock.json, into compat/clients/kafkajs/node_modules (git-ignored).
# Idempotent and quick when already installed: a stamp in node_modules records the hash of package.json and the lock
# file it was installed from; npm runs only when they changed or node_modules is incomplete.
set -euo pipefail
cd "$(dirname "$0")/.."

kafkajs_dir=compat/clients/kafkajs
stamp=$kafkajs_dir/node_modules/.vltava-install-stamp

for tool in node npm sha256sum; do
  if ! command -v "$tool" >/dev/null; then
    echo "install-compat: $tool is missing; install it with: sudo apt-get install nodejs npm" >&2
    exit 1
  fi
done

lock_files=("$kafkajs_dir/package.json")
[ -f "$kafkajs_dir/package-lock.json" ] && lock_files+=("$kafkajs_dir/package-lock.json")
wanted=$(cat "${lock_files[@]}" | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -f "$kafkajs_dir/node_modules/kafkajs/package.json" ]; then
  exit 0
fi

echo "install-compat: installing KafkaJS into $kafkajs_dir/node_modules"
npm_flags=(--no-audit --no-fund --loglevel=error)
if [ -f "$kafkajs_dir/package-lock.json" ]; then
  (cd "$kafkajs_dir" && npm ci "${npm_flags[@]}")
else
  (cd "$kafkajs_dir" && npm install "${npm_flags[@]}")
fi
node -e 'require(process.argv[1])' "$(pwd)/$kafkajs_dir/node_modules/kafkajs" ||
  { echo "install-compat: kafkajs does not load after npm" >&2; exit 1; }
echo "$wanted" >"$stamp"
