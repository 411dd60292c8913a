#!/bin/bash
# Issue 15's statistics benchmark (root):
#
#   bench/observability.sh [N]     (default 100 sleeping containers)
#
# GET /monitor/statistics of N sleeping containers and the agent's CPU time per second while
# they sleep, for: the core cgroups isolators (cgroups/mem with its memory pressure listeners),
# the same plus cgroups/blkio and cgroups/perf_event without --perf_events, and with perf sampling
# (task-clock,context-switches,page-faults every PERF_INTERVAL for PERF_DURATION, default
# 10secs/5secs). BASELINE_BINARY=PATH adds a row for another build (main's: no pressure listeners).
# Env: MESOLITE_BINARY (prebuilt), WINDOW (30 s), REQUESTS (50), BENCH_JSON
# (/tmp/mesolite-observability.json). About 4 x (WINDOW + 10) seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
exec python3 "$root/bench/observability.py" "$bin" "${1:-100}"
