#!/bin/bash
# The agent itself in a Docker container, as the seed's deployment walkthrough runs the Mesos
# agent (MESOS_CONTAINERIZERS=docker,mesos, dockerd's socket and the cgroup filesystem mounted in).
#
#   scripts/agent-in-docker.sh build [IMAGE]              (default IMAGE: mesolite-agent:latest)
#   scripts/agent-in-docker.sh run IMAGE DIR [NAME] [AGENT FLAGS...]   (default NAME: mesolite-agent)
#
# build: `docker import` of a minimal rootfs: the release binaries (BINARY_DIR, default
# target/release: mesolite, mesolite-fetch) with the shared libraries ldd names, and busybox
# (static) as /bin/sh for shell tasks of the Mesos containerizer. No Dockerfile, no base image.
#
# run: the `docker run` line. DIR (a host directory) is bind-mounted at the same path, so the
# sandbox paths the agent hands dockerd are host paths: DIR/work is the work_dir, DIR/run the
# runtime_dir, DIR/agent.sock the API socket (reachable from the host). --pid=host: the agent
# sees the host's pids (Docker containers' cgroups are read through /proc/<pid>), and the inits
# of Mesos containers are not in a pid namespace that dies with the agent container. Docker
# containers are dockerd's: they outlive the agent container and the next one re-adopts them
# from DIR/work's checkpoints. --docker_mesos_image tells the agent it runs in a container (its
# own container is never taken for an orphan). DOCKER_SOCKET (default /var/run/docker.sock) is
# the host's dockerd socket; DOCKER (default docker) the client command; AGENT_PRIVILEGE
# (default --privileged) the container's privileges, e.g. "--cap-add=ALL --cap-drop=SYS_RESOURCE
# --security-opt=seccomp=unconfined --security-opt=apparmor=unconfined" where the caller's own
# capability bounding set lacks one (then --privileged fails with "unable to apply caps").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "agent-in-docker: $*" >&2; exit 1; }
docker=${DOCKER:-docker}

build() {
  local image=${1:-mesolite-agent:latest}
  local bin=${BINARY_DIR:-$root/target/release}
  local busybox=${BUSYBOX:-/bin/busybox}
  [ -x "$bin/mesolite" ] || die "no $bin/mesolite (cargo build --release)"
  [ -x "$busybox" ] || die "no static busybox at $busybox (apt-get install busybox-static)"
  local rootfs
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' RETURN
  mkdir -p "$rootfs"/{usr/local/bin,bin,etc,tmp,proc,sys,dev,run,var/run}
  cp "$bin/mesolite" "$bin/mesolite-fetch" "$rootfs/usr/local/bin/"
  # The libraries the binaries load, at their paths (the loader included).
  for lib in $(for b in mesolite mesolite-fetch; do ldd "$bin/$b" | grep -o '/[^ ]*'; done | sort -u); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  cp "$busybox" "$rootfs/bin/busybox"
  for applet in sh true echo cat sleep ls; do ln -sf busybox "$rootfs/bin/$applet"; done
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" -c . | "$docker" import \
    --change 'ENTRYPOINT ["/usr/local/bin/mesolite"]' \
    --change 'ENV PATH=/usr/local/bin:/bin' - "$image" >/dev/null
  echo "$image"
}

run() {
  [ $# -ge 2 ] || die "usage: $0 run IMAGE DIR [NAME] [AGENT FLAGS...]"
  local image=$1 dir=$2 name=${3:-mesolite-agent}
  shift $(($# >= 3 ? 3 : 2))
  mkdir -p "$dir/work" "$dir/run"
  # shellcheck disable=SC2086 # AGENT_PRIVILEGE is a list of docker run options.
  "$docker" run -d --name "$name" ${AGENT_PRIVILEGE:---privileged} --pid=host --network=none \
    -e MESOS_CONTAINERIZERS=docker,mesos \
    -e MESOS_DOCKER_MESOS_IMAGE="$image" \
    -v "${DOCKER_SOCKET:-/var/run/docker.sock}:/var/run/docker.sock" \
    -v /sys/fs/cgroup:/sys/fs/cgroup \
    -v "$dir:$dir" \
    "$image" agent --work_dir="$dir/work" --runtime_dir="$dir/run" \
    --socket="$dir/agent.sock" "$@"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  run) shift; run "$@" ;;
  *) die "usage: $0 build [IMAGE] | run IMAGE DIR [NAME] [AGENT FLAGS...]" ;;
esac
