# Shared by the kcat_*.sh scripts, sourced once their arguments are parsed: script_name and timeout_seconds must be
# set. Defines fail (the reason on stderr as "<script_name>: FAIL: ...", exit 1), checks that kcat and timeout are
# there, and starts the overall deadline: seconds_left gives what remains of it.
# shellcheck shell=bash disable=SC2154
: "${script_name:?set by the sourcing script}" "${timeout_seconds:?set by the sourcing script}"

fail() {
  echo "$script_name: FAIL: $*" >&2
  exit 1
}

command -v kcat >/dev/null || fail "kcat is not on PATH (install it: sudo apt-get install kcat)"
command -v timeout >/dev/null || fail "timeout (coreutils) is not on PATH"

now_ms() { date +%s%3N; }
started_ms=$(now_ms)
deadline_ms=$((started_ms + timeout_seconds * 1000))
# Seconds left before the overall deadline (at least 1, so that a late step still fails through its own timeout).
seconds_left() {
  local left=$(((deadline_ms - $(now_ms)) / 1000))
  ((left > 0)) && echo "$left" || echo 1
}
