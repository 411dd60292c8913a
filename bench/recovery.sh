#!/bin/bash
# Recovery and OOM figures: sudo bench/recovery.sh [--containers N]
# Uses target/release/mesolite (or $MESOLITE_BINARY); cleans its cgroups on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
tmp=$(mktemp -d /tmp/mesolite-bench-recovery.XXXXXX)
cleanup() {
  pkill -KILL -f "$tmp/work" 2>/dev/null || true
  for f in $(find /sys/fs/cgroup -path '*/mesolite_bench_recovery/*/cgroup.procs' 2>/dev/null); do
    xargs -r kill -KILL < "$f" 2>/dev/null || true
  done
  sleep 0.3
  find /sys/fs/cgroup -depth -type d -path '*mesolite_bench_recovery*' -exec rmdir {} + 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
python3 "$root/bench/recovery.py" --binary "$(readlink -f "$bin")" --dir "$tmp" "$@"
