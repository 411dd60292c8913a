#!/bin/bash
# disk/du's cost, side by side with `du -s` itself: sudo bench/disk.sh [FILES]   (default 100000)
#
# A container creates FILES small files in its sandbox, then sleeps. The agent measures it with
# disk/du every second; the CPU time of those `du` passes is read from the agent's reaped-children
# time (/proc/<agent>/stat cutime+cstime) over N passes (the metric containerizer/disk/du_passes),
# and set against `du -k -s -x` run by hand on the same sandbox.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
files=${1:-100000}
bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
tmp=$(mktemp -d /tmp/mesolite-bench-disk.XXXXXX)
sock=$tmp/agent.sock
agent=
cleanup() {
  [ -n "$agent" ] && { "$bin" kill --socket="$sock" files >/dev/null 2>&1 || true; sleep 0.3; kill "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; }
  find /sys/fs/cgroup -depth -type d -path '*mesolite_bench_disk*' -exec rmdir {} + 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"$bin" agent --work_dir="$tmp/work" --runtime_dir="$tmp/run" --socket="$sock" --cgroups_root=mesolite_bench_disk \
  --isolation=cgroups/cpu,cgroups/mem,disk/du --container_disk_watch_interval=1secs --logging_level=WARNING 2>"$tmp/agent.log" &
agent=$!
for _ in $(seq 100); do "$bin" ps --socket="$sock" >/dev/null 2>&1 && break; sleep 0.05; done
"$bin" launch --socket="$sock" --id=files -- "mkdir d && cd d && seq $files | xargs touch && touch ../ready && sleep 100000" >/dev/null
sb=$tmp/work/containers/files
while [ ! -f "$sb/ready" ]; do sleep 0.2; done
ticks=$(getconf CLK_TCK)
metric() { curl -s --unix-socket "$sock" http://localhost/metrics/snapshot | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["containerizer/disk/du_passes"]))'; }
ctime() { awk '{print $16 + $17}' "/proc/$agent/stat"; }
sleep 1.5
p0=$(metric); c0=$(ctime)
sleep 10
p1=$(metric); c1=$(ctime)
passes=$((p1 - p0))
agent_cpu=$(echo "($c1 - $c0) / $ticks / $passes" | bc -l)
by_hand=$( { /usr/bin/time -f "%U %S" du -k -s -x "$sb" >/dev/null; } 2>&1 | awk '{print $1 + $2}')
printf '### disk/du (%d files in the sandbox; %d passes in 10 s)\n\n' "$files" "$passes"
printf '| measurement | CPU seconds per pass |\n|---|---:|\n'
printf '| disk/du pass (agent child) | %.3f |\n' "$agent_cpu"
printf '| `du -k -s -x` by hand | %.3f |\n' "$by_hand"
