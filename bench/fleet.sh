#!/bin/bash
# Issue 17's benchmark (the fleet), one command:
#
#   bench/fleet.sh        (RUNS=3 TTLS="10 3" INSTANCES=100 by default; see below)
#
# Starts a 3-member etcd cluster on loopback (Debian's etcd-server, /usr/bin/etcd; free ports,
# data dirs under /var/tmp) and, for each run and lease TTL, 3 agents node-a/b/c (their own
# work_dir, runtime_dir, socket, cgroups_root mlbench-fleet-<node>, TCP port and ports range,
# --etcd_prefix unique to the run), then bench/fleet.py measures:
#   - placement: POST /v2/apps of INSTANCES instances (MESOS containers, `sleep 1000`, cpus 0.01,
#     mem 8, one host port each) to node A's socket, to INSTANCES TASK_RUNNING in GET /v2/tasks
#     of any node; the tasks per node; etcd requests per instance (the sum over the 3 agents of
#     fleet/etcd_requests in GET /metrics/snapshot, after minus before, raw and net of the idle
#     rate), against the bound: the same app POSTed to a lone agent (no etcd) to all running;
#   - node death: SIGKILL of node B's agent and of every process in its containers' cgroups,
#     50 ms after B renewed its lease (its fleet/etcd_requests moved while idle: the keep-alive,
#     every TTL/3), so that the lease runs a whole TTL (the worst case), to INSTANCES
#     TASK_RUNNING on A and C; from the renewal, against the lease TTL (ratio, and the
#     difference: etcd's expiry beyond the TTL + the watch + placement + relaunch).
# Runs interleave: lone, then one fleet per TTL, RUNS times. The results block (markdown rows)
# comes last; raw figures as JSON lines in $BENCH_JSON (default /tmp/mesolite-bench-fleet.json).
# Agents, containers, cgroups, etcd and directories are removed at exit, on failure too.
# About 40 s per fleet run and 15 s per lone run on 2 cores.
#
# Env: MESOLITE_BINARY=PATH uses a prebuilt binary; RUNS, TTLS (lease TTLs in seconds, each a
# fleet run), INSTANCES, AGENT_FLAGS (added to every agent's flags), KEEP_LOGS=DIR (copies the
# agents' and etcd's logs there before the cleanup).
# Needs: root, python3, curl, /usr/bin/etcd (apt-get install etcd-server).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
command -v python3 >/dev/null || die "python3 missing (apt-get install python3)"
command -v curl >/dev/null || die "curl missing (apt-get install curl)"
etcd_bin=${ETCD:-/usr/bin/etcd}
[ -x "$etcd_bin" ] || die "no $etcd_bin (apt-get install etcd-server)"

bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  echo "bench: cargo build --release" >&2
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
[ -x "$bin" ] || die "no executable $bin"

runs=${RUNS:-3}
ttls=${TTLS:-10 3}
instances=${INSTANCES:-100}
out=${BENCH_JSON:-/tmp/mesolite-bench-fleet.json}
cg_prefix=mlbench-fleet-
isolation=cgroups/cpu,cgroups/mem,namespaces/pid
nodes=(node-a node-b node-c)
# Each node's ports range holds every instance (node death puts them on two nodes).
port_ranges=("[31000-31199]" "[31200-31399]" "[31400-31599]")
lone_ports="[31600-31799]"
resources_of() { echo "cpus:8;mem:8192;disk:4096;ports:$1"; }

# Not /tmp: on these VMs a file or directory created under /tmp costs about 1 ms (see run.sh).
tmp=$(mktemp -d /var/tmp/mesolite-bench-fleet.XXXXXX)
etcd_pids=()
agent_pids=()

alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }

# Loopback ports nobody listens on now (the kernel's choice; etcd and the agents bind them next).
free_ports() {
  python3 -c 'import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}

# Every process in the bench's cgroups (containers outlive their agents by design) is killed,
# then the cgroups go, deepest first.
kill_containers() {
  local procs left
  for _ in $(seq 100); do
    procs=$(find /sys/fs/cgroup -path "*/$cg_prefix*" -name cgroup.procs 2>/dev/null || true)
    left=$(for f in $procs; do cat "$f" 2>/dev/null; done | sort -u)
    [ -z "$left" ] && break
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL $left 2>/dev/null || true
    sleep 0.05
  done
  [ -z "$left" ] || echo "bench: processes left in the $cg_prefix* cgroups: $left" >&2
  for _ in $(seq 50); do
    find /sys/fs/cgroup -depth -type d -path "*/$cg_prefix*" -exec rmdir {} + 2>/dev/null || true
    [ -z "$(find /sys/fs/cgroup -type d -path "*/$cg_prefix*" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  echo "bench: cgroups left: $(find /sys/fs/cgroup -type d -path "*/$cg_prefix*" | head -5)" >&2
}

stop_agents() {
  local p
  for p in "${agent_pids[@]}"; do
    if alive "$p"; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  for p in "${agent_pids[@]}"; do
    for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then echo "bench: agent $p ignored SIGTERM for 10 s; SIGKILL" >&2; kill -KILL "$p" 2>/dev/null || true; fi
    wait "$p" 2>/dev/null || true
  done
  agent_pids=()
  kill_containers
}

stop_etcd() {
  local p
  for p in "${etcd_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  etcd_pids=()
}

cleanup() {
  rc=$?
  trap - EXIT
  # Output into a closed pipe (`bench/fleet.sh | head`) must not end the cleanup half-way.
  trap '' PIPE
  stop_agents
  stop_etcd
  if [ "$rc" != 0 ]; then
    for log in "$tmp"/*/*.log; do
      [ -s "$log" ] || continue
      echo "---- $log (last 20 lines) ----" >&2
      tail -20 "$log" >&2
    done
  fi
  if [ -n "${KEEP_LOGS:-}" ]; then
    mkdir -p "$KEEP_LOGS"
    (cd "$tmp" && find . -name '*.log' -exec cp --parents {} "$KEEP_LOGS"/ \;) || true
  fi
  awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- etcd: three members on loopback ----
read -r -a eports <<<"$(free_ports 6)"
initial=
for i in 0 1 2; do initial+="${initial:+,}m$i=http://127.0.0.1:${eports[$((2 * i + 1))]}"; done
endpoints=
mkdir -p "$tmp/etcd"
for i in 0 1 2; do
  c=127.0.0.1:${eports[$((2 * i))]} p=127.0.0.1:${eports[$((2 * i + 1))]}
  endpoints+="${endpoints:+,}http://$c"
  "$etcd_bin" --name="m$i" --data-dir="$tmp/etcd/m$i" \
    --listen-client-urls="http://$c" --advertise-client-urls="http://$c" \
    --listen-peer-urls="http://$p" --initial-advertise-peer-urls="http://$p" \
    --initial-cluster="$initial" --initial-cluster-token="$tmp" --initial-cluster-state=new \
    </dev/null >"$tmp/etcd/m$i.log" 2>&1 &
  etcd_pids+=($!)
done
for i in 0 1 2; do
  ok=
  for _ in $(seq 300); do
    alive "${etcd_pids[$i]}" || die "etcd member m$i exited at start"
    if curl -sf --max-time 2 "http://127.0.0.1:${eports[$((2 * i))]}/health" | grep -q '"health":"true"'; then ok=1; break; fi
    sleep 0.2
  done
  [ -n "$ok" ] || die "etcd member m$i not healthy within 60 s"
done
echo "bench: etcd $("$etcd_bin" --version | head -1 | awk '{print $NF}') members at $endpoints" >&2

# start_agent DIR NAME RESOURCES CGROUPS_ROOT [FLAGS...]: its pid in agent_pids, answering /health.
start_agent() {
  local dir=$1 name=$2 res=$3 cgr=$4; shift 4
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # AGENT_FLAGS is a list of flags
  "$bin" agent --work_dir="$dir/work" --runtime_dir="$dir/run" --socket="$dir/agent.sock" \
    --isolation="$isolation" --cgroups_root="$cgr" --hostname="$name" --resources="$res" \
    "$@" ${AGENT_FLAGS:-} </dev/null >"$dir/../$name.log" 2>&1 &
  local pid=$!
  agent_pids+=("$pid")
  for _ in $(seq 300); do
    alive "$pid" || die "agent $name exited during start-up (log: $dir/../$name.log)"
    if [ -S "$dir/agent.sock" ] && curl -sf --max-time 2 --unix-socket "$dir/agent.sock" http://localhost/health >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  die "agent $name does not answer GET /health after 30 s"
}

rm -f "$out"
py() { python3 "$root/bench/fleet.py" "$@"; }

for run in $(seq "$runs"); do
  # ---- the bound: one agent, no etcd ----
  d=$tmp/lone-$run
  start_agent "$d/lone" lone "$(resources_of "$lone_ports")" "${cg_prefix}lone"
  echo "bench: run $run: lone agent, $instances instances" >&2
  py lone --out="$out" --run="$run" --instances="$instances" --socket="$d/lone/agent.sock"
  stop_agents

  for ttl in $ttls; do
    d=$tmp/fleet-$ttl-$run
    read -r -a aports <<<"$(free_ports 3)"
    socks=
    prefix=/mlbench-fleet/$$-$ttl-$run
    for i in 0 1 2; do
      n=${nodes[$i]}
      start_agent "$d/$n" "$n" "$(resources_of "${port_ranges[$i]}")" "$cg_prefix$n" \
        --ip=127.0.0.1 --advertise_ip=127.0.0.1 --port="${aports[$i]}" \
        --etcd_endpoints="$endpoints" --etcd_lease_ttl="${ttl}secs" \
        --etcd_prefix="$prefix"
      socks+="${socks:+,}$d/$n/agent.sock"
    done
    hosts=$(IFS=,; echo "${nodes[*]}")
    echo "bench: run $run, lease TTL ${ttl}s: fleet of $hosts, $instances instances" >&2
    py place --out="$out" --run="$run" --instances="$instances" --ttl="$ttl" \
      --sockets="$socks" --hosts="$hosts"
    echo "bench: run $run, lease TTL ${ttl}s: SIGKILL of node-b (pid ${agent_pids[1]}) and its containers after its lease's renewal" >&2
    py death --out="$out" --run="$run" --instances="$instances" --ttl="$ttl" \
      --sockets="$socks" --hosts="$hosts" --victim=node-b \
      --victim-pid="${agent_pids[1]}" --victim-cgroups-root="${cg_prefix}node-b" \
      --etcd="${endpoints%%,*}" --prefix="$prefix"
    grep -h "Fleet:.*\(gone\|schedules\|scheduler\|fenced\|lease\|failed\|refused\)" "$d"/*.log \
      | sed 's/^/  /' | tail -20 >&2 || true
    stop_agents
  done
done

echo
py report --out="$out"
echo "Machine: $(nproc) CPUs, $(uname -r), $(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/cgroup v1 (hybrid)/; s/cgroup2fs/cgroup v2/'), load $(cut -d' ' -f1-3 /proc/loadavg); agent flags: --isolation=$isolation --resources=$(resources_of "[...]") ${AGENT_FLAGS:-}; etcd $endpoints"
