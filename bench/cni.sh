#!/bin/bash
# Container networking (issue 14's benchmark), one command:
#
#   sudo bench/cni.sh            (RUNS=100 launches of each kind; SLEEPERS=100; DOCKER_RUNS=20)
#
# A private agent (work_dir, runtime_dir and socket under /var/tmp, --cgroups_root of its own) with
# --isolation=...,network/cni and one bridge + host-local network on a bridge and subnet of its
# own; bench/cni.py then measures, side by side: launch-to-exit of /bin/true on that network and
# on the host network (same agent), the bare plugins' ADD and DEL exec'd by hand against an
# `ip netns add` namespace, `docker run --rm --network bridge` on a private dockerd (its own
# bridge, no iptables; the row is left out, with the reason, if dockerd cannot start), and
# GET /monitor/statistics with SLEEPERS containers on the network against as many on the host
# network. Prints markdown tables with the issue's goals. Everything it makes (containers,
# cgroups, the netns, both bridges, iptables rules naming them, mounts) is removed on exit, on
# failure too.
# Env: MESOLITE_BINARY=PATH uses a prebuilt binary; RUNS, SLEEPERS, STATS_REQUESTS (100),
# DOCKER_RUNS; AGENT_FLAGS adds agent flags; BENCH_JSON writes the summaries.
# Needs: root, python3, iproute2, containernetworking-plugins, busybox-static; docker.io optional.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
plugins=/usr/lib/cni
for t in python3 ip busybox; do
  command -v "$t" >/dev/null || die "$t missing (apt-get install python3 iproute2 busybox-static)"
done
[ -x "$plugins/bridge" ] && [ -x "$plugins/host-local" ] \
  || die "no bridge/host-local in $plugins (apt-get install containernetworking-plugins)"

bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  echo "bench: cargo build --release" >&2
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
[ -x "$bin" ] || die "no executable $bin"

# Names of this run only (interface names at most 15 bytes), so that parallel runs and tests
# never share a bridge, subnet, namespace or cgroup.
n=$(( $$ % 200 + 20 ))
bridge=mlbcni$$
docker_bridge=mlbdk$$
netns=mlbench-cni-$$
subnet=10.97.$n.0/24
docker_subnet=10.98.$n.1/24
cgroups_root=mesolite_bench_cni_$$
# Not /tmp: see bench/run.sh (a file created under /tmp costs about 1 ms on these VMs).
tmp=$(mktemp -d /var/tmp/mesolite-bench-cni.XXXXXX)

alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
stop_pid() {
  local pid=$1
  [ -n "$pid" ] && alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  rc=$?
  # Best effort from here: a grep that matches nothing must not end the cleanup.
  set +e +o pipefail
  # The python part stops what it started; this is for an interrupted or failed run.
  stop_pid "$(cat "$tmp/agent.pid" 2>/dev/null || true)"
  stop_pid "$(cat "$tmp/docker/dockerd.pid" 2>/dev/null || true)"
  leftovers=$(find /sys/fs/cgroup -path "*/$cgroups_root/*/cgroup.procs" 2>/dev/null || true)
  if [ -n "$leftovers" ]; then
    echo "bench: removing containers left in the $cgroups_root cgroups" >&2
    for f in $leftovers; do xargs -r kill -KILL < "$f" 2>/dev/null || true; done
    sleep 0.5
  fi
  find /sys/fs/cgroup -depth -type d -path "*/$cgroups_root*" -exec rmdir {} + 2>/dev/null || true
  ip netns del "$netns" 2>/dev/null || true
  for b in "$bridge" "$docker_bridge"; do
    # The veths of containers whose DEL never ran go with their bridge's ports.
    for port in $(ls "/sys/class/net/$b/brif" 2>/dev/null); do ip link del "$port" 2>/dev/null || true; done
    ip link del "$b" 2>/dev/null || true
  done
  if command -v iptables-save >/dev/null; then
    for table in filter nat; do
      iptables-save -t "$table" 2>/dev/null | grep -e "$bridge" -e "$docker_bridge" -e "${subnet%/*}" \
        | grep '^-A' | sed 's/^-A/-D/' | while read -r rule; do
          # shellcheck disable=SC2086 # a saved rule is a list of arguments
          iptables -t "$table" $rule 2>/dev/null || true
        done
    done
  fi
  if [ "$rc" != 0 ] && [ -s "$tmp/agent.log" ]; then
    echo "---- agent log (last 30 lines) ----" >&2
    tail -30 "$tmp/agent.log" >&2
  fi
  awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$netns"
# dockerd's --bridge names an existing bridge; its address is the containers' gateway.
ip link add "$docker_bridge" type bridge
ip addr add "$docker_subnet" dev "$docker_bridge"
ip link set "$docker_bridge" up

python3 "$root/bench/cni.py" --binary="$(readlink -f "$bin")" --tmp="$tmp" --bridge="$bridge" \
  --subnet="$subnet" --netns="$netns" --cgroups-root="$cgroups_root" \
  --docker-bridge="$docker_bridge" --plugins="$plugins" --agent-flags="${AGENT_FLAGS:-}" \
  --runs="${RUNS:-100}" --sleepers="${SLEEPERS:-100}" --stats-requests="${STATS_REQUESTS:-100}" \
  --docker-runs="${DOCKER_RUNS:-20}" --json="${BENCH_JSON:-}"
echo
echo "Machine: $(nproc) CPUs, $(uname -r), $(dpkg-query -W -f='containernetworking-plugins ${Version}' containernetworking-plugins 2>/dev/null || echo 'CNI plugins of unknown version')."
