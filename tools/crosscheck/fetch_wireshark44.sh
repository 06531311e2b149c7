#!/usr/bin/env bash
# Unpacks Debian 13's tshark (Wireshark 4.4) with every library it needs, including its own C library, under
# DIR (default /tmp/xc-trixie), without touching the system: a private apt configuration downloads the .deb files
# (about 45 MB) and dpkg-deb unpacks them. DIR/tshark runs that tshark through the unpacked dynamic loader.
# Debian 12 ships Wireshark 4.0, whose Kafka dissector stops before the flexible versions of Produce, Fetch and
# ListOffsets; 4.4's reads Produce up to v11, Fetch v16, ListOffsets v8, Metadata v12.
set -euo pipefail
dir="${1:-/tmp/xc-trixie}"
mkdir -p "$dir"/{lists/partial,cache/archives/partial,etc,state,root}
echo "deb http://deb.debian.org/debian trixie main" > "$dir/etc/sources.list"
: > "$dir/state/status"   # nothing installed: apt resolves tshark's whole dependency closure
cat > "$dir/apt.conf" <<CONF
Dir::Etc::sourcelist "$dir/etc/sources.list";
Dir::Etc::sourceparts "/dev/null";
Dir::State "$dir/state";
Dir::State::Lists "$dir/lists";
Dir::State::status "$dir/state/status";
Dir::Cache "$dir/cache";
APT::Architecture "amd64";
APT::Install-Recommends "false";
CONF
export APT_CONFIG="$dir/apt.conf"
apt-get update -qq
apt-get -y -qq --download-only install tshark
for deb in "$dir"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
lib="$dir/root/usr/lib/x86_64-linux-gnu"
cat > "$dir/tshark" <<SH
#!/bin/sh
WIRESHARK_DATA_DIR="$dir/root/usr/share/wireshark" exec "$lib/ld-linux-x86-64.so.2" \\
  --library-path "$lib:$lib/wireshark" "$dir/root/usr/bin/tshark" "\$@"
SH
chmod +x "$dir/tshark"
ln -sf "$(readlink -f "$lib"/libwireshark.so.*[0-9] | head -1)" "$dir/libwireshark.so"
"$dir/tshark" --version 2>/dev/null | head -1
