#!/usr/bin/env bash
# Installs the compatibility-test clients that do not come from Debian's archive (scripts/install-deps.sh installs
# kcat, kafka-python, confluent-kafka and librdkafka with apt-get): KafkaJS, pinned by
# compat/clients/kafkajs/package-lock.json, into compat/clients/kafkajs/node_modules (git-ignored).
# Idempotent and quick when already installed: a stamp in node_modules records the hash of package.json and the lock
# file it was installed from; npm runs only when they changed or node_modules is incomplete.
# It also builds the Go client, compat/clients/sarama, into build/compat/go/vltava-compat-sarama (git-ignored), offline:
# GOPATH mode against the sources Debian's golang-github-shopify-sarama-dev installs under /usr/share/gocode. It skips
# that, with a message, when golang-go or the Sarama package is missing, and rebuilds only when a source is newer than
# the binary or the Go or Sarama version changed (a stamp next to the binary records them).
set -euo pipefail
cd "$(dirname "$0")/.."

gocode=/usr/share/gocode
go_src=compat/clients/sarama
go_out=build/compat/go/vltava-compat-sarama
if ! command -v go >/dev/null || [ ! -d "$gocode/src/github.com/Shopify/sarama" ]; then
  echo "install-compat: skipping the Go client (needs Debian's golang-go and golang-github-shopify-sarama-dev:" \
    "sudo apt-get install golang-go golang-github-shopify-sarama-dev)" >&2
else
  sarama_version=$(dpkg-query -W -f='${Version}' golang-github-shopify-sarama-dev 2>/dev/null | sed 's/-[^-]*$//')
  go_stamp="$(go version) sarama ${sarama_version:-unknown}"
  if [ ! -x "$go_out" ] || [ "$(cat "$go_out.stamp" 2>/dev/null)" != "$go_stamp" ] ||
    [ -n "$(find "$go_src" -newer "$go_out" -print -quit)" ]; then
    echo "install-compat: building $go_out (Sarama ${sarama_version:-unknown}, $(go env GOVERSION))"
    mkdir -p "$(dirname "$go_out")"
    # GO111MODULE=off: GOPATH mode, no module download. The cgo flags quiet a deprecation warning in Debian's zstd
    # binding (github.com/DataDog/zstd), which Sarama uses for zstd.
    GO111MODULE=off GOPATH=$gocode GOFLAGS='' CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations" \
      go build -trimpath -ldflags "-X main.saramaVersion=${sarama_version:-unknown}" -o "$go_out.tmp" "./$go_src"
    mv "$go_out.tmp" "$go_out"
    echo "$go_stamp" >"$go_out.stamp"
  fi
fi

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
