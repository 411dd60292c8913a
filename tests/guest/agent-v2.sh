#!/bin/bash
# The agent on a pure cgroup v2 host: boots a qemu guest (run-in-guest.sh) with the release binary and
# runs inside-v2.sh there. Exit 0 when every check passed.
#
#   tests/guest/agent-v2.sh [PATH/TO/mesolite]
#
# The default binary is $CARGO_TARGET_DIR/release/mesolite, else target/release/mesolite (build it
# first: cargo build --release). Needs root only to read the kernel in /boot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$root/target}/release/mesolite}
[ -x "$bin" ] || { echo "agent-v2: no executable $bin (cargo build --release)" >&2; exit 2; }
bin=$(readlink -f "$bin")
timeout_s=${GUEST_TIMEOUT:-420}
echo "agent-v2: $bin in a cgroup v2 guest (timeout ${timeout_s}s)"
start=$(date +%s)
set +e
"$here/run-in-guest.sh" -t "$timeout_s" -m zram -f "$bin" -f "$here/inside-v2.sh" -- "sh $here/inside-v2.sh $bin"
rc=$?
set -e
echo "agent-v2: exit $rc after $(($(date +%s) - start))s"
exit "$rc"
