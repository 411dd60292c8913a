#!/bin/bash
# Checks the guest harness itself, without the agent: inside-v2.sh against a busybox mock of the
# agent and CLI (tests/guest/mock/), then against a mock with a deliberate bug, which must fail.
# Needs a C compiler for the mock's socket listener.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mock=$(mktemp -d /var/tmp/mesolite-mock.XXXXXX)
trap 'rm -rf "$mock"' EXIT
mkdir -p "$mock/good" "$mock/bad"
cc -static -O -o "$mock/good/listen-unix" "$here/mock/listen-unix.c"
cp "$mock/good/listen-unix" "$mock/bad/"
cp "$here/mock/mesolite" "$mock/good/mesolite"
sed 's/mem \* 1048576/mem * 1000000/' "$here/mock/mesolite" > "$mock/bad/mesolite"
chmod +x "$mock/good/mesolite" "$mock/bad/mesolite"
run() { "$here/run-in-guest.sh" -t 300 -f "$1" -f "$(dirname "$1")/listen-unix" -f "$here/inside-v2.sh" -- "sh $here/inside-v2.sh $1"; }
run "$mock/good/mesolite" || { echo "self-test: inside-v2.sh failed against the good mock" >&2; exit 1; }
if out=$(run "$mock/bad/mesolite" 2>&1); then echo "self-test: inside-v2.sh passed a broken mock" >&2; exit 1; fi
echo "$out" | grep -q 'FAIL: memory.max is 64000000' || { echo "self-test: unexpected failure: $out" >&2; exit 1; }
echo "self-test: harness OK (passes the mock, catches the broken mock)"
