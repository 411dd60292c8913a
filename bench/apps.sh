#!/bin/bash
# Issue 16's benchmark (apps), one command:
#
#   bench/apps.sh [--instances N] [--rounds R] [--kills K] [--backoff SECONDS]
#                 (python3 bench/apps.py --help lists them; defaults 20, 3, 5, 1.0)
#
# Starts a private agent (work_dir, runtime_dir and socket under /var/tmp, its own cgroups_root,
# cgroups/cpu,cgroups/mem,namespaces/pid) and runs bench/apps.py:
#   - POST /v2/apps with `instances: N` (MESOS containers, `sleep 3600`, cpus 0.01, mem 16) to all
#     N tasks TASK_RUNNING (GET /v2/apps/<id>/tasks), against N LAUNCH_CONTAINERs back to back on
#     the same agent (/api/v1, the same command) to N RUNNING: goal, the first bounded by the
#     second (ratio about 1);
#   - SIGKILL of one instance's process (its container's executor_pid in GET_CONTAINERS) to a
#     replacement TASK_RUNNING, against backoffSeconds + one launch: goal, ratio about 1.
# Fails with "no app API" on an agent whose /v2/apps answers 404. Raw numbers: $BENCH_JSON
# (default /tmp/mesolite-bench-apps.json). Every container and cgroup it makes is removed, on
# failure too. About a minute on 2 cores.
#
# Env: MESOLITE_BINARY=PATH uses a prebuilt binary; AGENT_FLAGS adds or overrides agent flags.
# Needs: root, python3, curl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
command -v python3 >/dev/null || die "python3 missing (apt-get install python3)"

bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  echo "bench: cargo build --release" >&2
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
[ -x "$bin" ] || die "no executable $bin"

cgroups_root=mesolite_bench_apps
isolation=cgroups/cpu,cgroups/mem,namespaces/pid
# Declared resources (accounting only) that fit the launches and the app's instances.
agent_flags="--cgroups_root=$cgroups_root --resources=cpus:100;mem:65536 ${AGENT_FLAGS:-}"

# Not /tmp: on these VMs a file or directory created under /tmp costs about 1 ms (see run.sh).
tmp=$(mktemp -d /var/tmp/mesolite-bench-apps.XXXXXX)
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
  # Containers (and an app's instances) outlive the agent by design: whatever apps.py could not
  # delete is killed in the bench's own cgroups, which then go.
  leftovers=$(find /sys/fs/cgroup -path "*/$cgroups_root/*/cgroup.procs" 2>/dev/null || true)
  if [ -n "$leftovers" ]; then
    echo "bench: removing containers left in the $cgroups_root cgroups" >&2
    for f in $leftovers; do xargs -r kill -KILL < "$f" 2>/dev/null || true; done
    sleep 0.5
  fi
  find /sys/fs/cgroup -depth -type d -path "*/$cgroups_root*" -exec rmdir {} + 2>/dev/null || true
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
  if [ -S "$sock" ] && curl -sf --max-time 2 --unix-socket "$sock" http://localhost/health >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.1
done
[ -n "$ready" ] || die "the agent does not answer GET /health on $sock after 30 s"

python3 "$root/bench/apps.py" --socket="$sock" --json="${BENCH_JSON:-/tmp/mesolite-bench-apps.json}" "$@"
echo
echo "Machine: $(nproc) CPUs, $(uname -r), $(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/cgroup v1 (hybrid)/; s/cgroup2fs/cgroup v2/'); agent flags: --isolation=$isolation $agent_flags"
