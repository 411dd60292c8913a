#!/bin/bash
# The benchmark, one command:
#
#   bench/run.sh [driver options, e.g. --iterations 500; python3 bench/driver.py --help lists them]
#
# Builds the release binary and the C floors (bench/floor/*.c, gcc -O2), starts a private agent
# (temporary work_dir, runtime_dir and socket, its own cgroups_root) with pid/ipc/uts namespaces and
# cpu/mem/pids cgroups, runs bench/driver.py, prints a markdown report, and stops the agent:
#   - launch-to-exit of /bin/true: mesolite (LAUNCH sent to WAIT answered), the C floor doing the
#     same kernel work (in-process, and one process per launch), runc, bwrap, fork+exec; every
#     figure also as a ratio against the floor; REMOVE latency against the floor's removal;
#   - the agent's RSS; launches per second with 8 parallel clients (LAUNCH, WAIT, REMOVE; a new
#     connection per request as curl does, then keep-alive), failed requests counted;
#   - GET /monitor/statistics of 100 sleeping containers against the C floor of the same reads and
#     JSON (bench/floor/stats_floor.c); the mixed load (launching clients and a statistics poller in
#     parallel) with /health p99 and the agent's longest loop iteration (its own measure,
#     agent/loop_max_iteration_ms); statistics of 1,000 containers, with /health p99 meanwhile;
#   - issue 12's acceptance targets beside the figures.
# Then bench/isolators.py: launch-to-exit with the core isolators against the full set of issue 5,
# on two agents of its own (work_dirs under /var/tmp). Raw numbers: $BENCH_JSON (default
# /tmp/mesolite-bench.json). Every container and cgroup it makes is removed, on failure too.
# About 3-5 minutes on 2 cores.
#
# Env: AGENT_NICE (default -5, the systemd unit's Nice=) is the agent's CPU priority;
# MESOLITE_BINARY=PATH uses a prebuilt binary (one that predates the loop metric shows "n/a"
# for it); ISOLATOR_RUNS (default 200) sizes the isolator comparison (0 skips it); RUNS (200) the
# launch series; CLIENTS (8) and ROUNDS (25 cycles per client) the launches per second; SLEEPERS
# (100) and STATS_LARGE (1000) the statistics; AGENT_FLAGS adds or overrides agent flags (default
# "--cgroups_root=mesolite_bench", keeping the bench's cgroups apart from an installed agent's; the
# floor uses <cgroups_root>_floor; unless they name --resources, the agent declares
# cpus:1000;mem:1048576 so that STATS_LARGE sleepers fit). Needs: root, python3, gcc, runc, bubblewrap, busybox-static.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
for t in python3 gcc runc bwrap busybox; do
  command -v "$t" >/dev/null || die "$t missing (apt-get install python3 gcc runc bubblewrap busybox-static)"
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
# Declared node resources large enough for STATS_LARGE sleepers (1,000 x 0.01 cpus x 32 MiB); each
# container's limits are still the ones it asks for.
case $agent_flags in *--resources=*) ;; *) agent_flags="$agent_flags --resources=cpus:1000;mem:1048576" ;; esac

# Not /tmp: on these VMs a file or directory created anywhere under /tmp costs about 1 ms (0.03 ms
# elsewhere on the same ext4), which would put 8 ms of the filesystem into every launch figure.
tmp=$(mktemp -d /var/tmp/mesolite-bench.XXXXXX)
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
  # crash, an interrupted run), kill what is left in the bench's own cgroups (the agent's and the
  # floor's) and remove those.
  leftovers=$(find /sys/fs/cgroup \( -path "*/$cgroups_root/*/cgroup.procs" -o -path "*/${cgroups_root}_floor/*/cgroup.procs" \) 2>/dev/null || true)
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

# At the systemd unit's CPU priority (Nice=-5; its containers get nice 0 back), so that the
# load's own client processes preempt the agent no more than a deployed agent's containers do.
# AGENT_NICE=0 runs it at the default priority.
# shellcheck disable=SC2086 # agent_flags is a list of flags
nice -n "${AGENT_NICE:--5}" "$bin" agent --work_dir="$tmp/work" --runtime_dir="$tmp/run" --socket="$sock" \
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

mkdir -p "$tmp/floor"
for f in launch_floor stats_floor; do
  gcc -O2 -Wall -Wno-format-truncation -o "$tmp/floor/$f" "$root/bench/floor/$f.c" || die "gcc $f.c failed"
done

driver_counts=()
[ -n "${RUNS:-}" ] && driver_counts+=(--iterations="$RUNS")
[ -n "${CLIENTS:-}" ] && driver_counts+=(--clients="$CLIENTS")
[ -n "${ROUNDS:-}" ] && driver_counts+=(--rounds="$ROUNDS")
[ -n "${SLEEPERS:-}" ] && driver_counts+=(--sleepers="$SLEEPERS")
[ -n "${STATS_LARGE:-}" ] && driver_counts+=(--stats-large="$STATS_LARGE")
python3 "$root/bench/driver.py" --socket="$sock" --agent-pid="$agent_pid" --binary="$bin" \
  --floor-dir="$tmp/floor" --cgroups-root="$cgroups_root" \
  --json="${BENCH_JSON:-/tmp/mesolite-bench.json}" "${driver_counts[@]}" "$@"
echo
echo "Machine: $(nproc) CPUs, $(uname -r), $(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/cgroup v1 (hybrid)/; s/cgroup2fs/cgroup v2/'); agent nice ${AGENT_NICE:--5}; agent flags: --isolation=$isolation $agent_flags"
echo
if [ "${ISOLATOR_RUNS:-200}" != 0 ]; then
  python3 "$root/bench/isolators.py" --binary="$bin" --runs="${ISOLATOR_RUNS:-200}"
fi
