#!/bin/bash
# The benchmark, one command:
#
#   bench/run.sh [driver options, e.g. --iterations 500]
#
# Builds the release binary, starts a private agent (temporary work_dir, runtime_dir and socket, its
# own cgroups_root) with pid/ipc/uts namespaces and cpu/mem/pids cgroups, runs bench/driver.py
# (mesolite, runc and bwrap side by side, then the agent's footprint and latency), prints a markdown
# report, and stops the agent. Then bench/isolators.py: launch-to-exit with the core isolators
# against the full set of issue 5, on two agents of its own (work_dirs under /var/tmp).
# Raw numbers: $BENCH_JSON (default /tmp/mesolite-bench.json).
#
# Env: MESOLITE_BINARY=PATH uses a prebuilt binary; ISOLATOR_RUNS (default 200) sizes the isolator
# comparison; AGENT_FLAGS adds or overrides agent flags (default "--cgroups_root=mesolite_bench",
# keeping the bench's cgroups apart from an installed agent's). Needs: root, python3, runc, bubblewrap, busybox-static.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
for t in python3 runc bwrap busybox; do
  command -v "$t" >/dev/null || die "$t missing (apt-get install python3 runc bubblewrap busybox-static)"
done

bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  echo "bench: cargo build --release" >&2
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
[ -x "$bin" ] || die "no executable $bin"

cgroups_root=mesolite_bench
agent_flags=${AGENT_FLAGS---cgroups_root=$cgroups_root}
case $agent_flags in *--cgroups_root=*) cgroups_root=$(sed 's/.*--cgroups_root=\([^ ]*\).*/\1/' <<< "$agent_flags") ;; esac
isolation=cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,namespaces/ipc,namespaces/uts

tmp=$(mktemp -d /tmp/mesolite-bench.XXXXXX)
sock=$tmp/agent.sock
log=$tmp/agent.log
agent_pid=

alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
cleanup() {
  rc=$?
  if [ -n "$agent_pid" ] && alive "$agent_pid"; then
    kill -TERM "$agent_pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$agent_pid" || break; sleep 0.1; done
    alive "$agent_pid" && { echo "bench: the agent ignored SIGTERM for 10 s; SIGKILL" >&2; kill -KILL "$agent_pid"; }
  fi
  # Containers outlive the agent by design: if the driver could not remove its containers (an agent
  # crash, an interrupted run), kill what is left in the bench's own cgroups and remove those.
  leftovers=$(find /sys/fs/cgroup -path "*/$cgroups_root/*/cgroup.procs" 2>/dev/null || true)
  if [ -n "$leftovers" ]; then
    echo "bench: removing containers left in the $cgroups_root cgroups" >&2
    for f in $leftovers; do xargs -r kill -KILL < "$f" 2>/dev/null || true; done
    sleep 0.5
    find /sys/fs/cgroup -depth -type d -path "*/$cgroups_root*" -exec rmdir {} + 2>/dev/null || true
  fi
  if [ "$rc" != 0 ] && [ -s "$log" ]; then
    echo "---- agent log (last 30 lines) ----" >&2
    tail -30 "$log" >&2
  fi
  grep -qs " $tmp/" /proc/mounts && awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086 # agent_flags is a list of flags
"$bin" agent --work_dir="$tmp/work" --runtime_dir="$tmp/run" --socket="$sock" \
  --isolation="$isolation" $agent_flags </dev/null >"$log" 2>&1 &
agent_pid=$!
echo "bench: agent pid $agent_pid, socket $sock, isolation $isolation $agent_flags" >&2

ready=
for _ in $(seq 300); do
  alive "$agent_pid" || die "the agent exited during start-up (flags: --isolation=$isolation $agent_flags)"
  if [ -S "$sock" ] && python3 - "$sock" <<'EOF' 2>/dev/null; then ready=1; break; fi
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
EOF
  sleep 0.1
done
[ -n "$ready" ] || die "the agent does not answer GET /health on $sock after 30 s"

python3 "$root/bench/driver.py" --socket="$sock" --agent-pid="$agent_pid" --binary="$bin" \
  --json="${BENCH_JSON:-/tmp/mesolite-bench.json}" "$@"
echo
echo "Machine: $(nproc) CPUs, $(uname -r), $(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/cgroup v1 (hybrid)/; s/cgroup2fs/cgroup v2/'); agent flags: --isolation=$isolation $agent_flags"
echo
python3 "$root/bench/isolators.py" --binary="$bin" --runs="${ISOLATOR_RUNS:-200}"
