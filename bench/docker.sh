#!/bin/bash
# The Docker containerizer against the Docker CLI, in one run:
#
#   bench/docker.sh [--runs N]        (default 20)
#
# Launch-to-exit of /bin/true in a busybox image (docker import of busybox-static): LAUNCH of a
# DOCKER container through a private agent (--containerizers=docker) -> WAIT answered, against
# `docker run --rm --network=none` of the same image, interleaved, on one private dockerd (own data
# root and socket, --iptables=false --bridge=none). Prints p50/p99 of each, their ratio, and the
# agent's own share (its CPU time per launch). Env: MESOLITE_BINARY=PATH uses a prebuilt binary.
# Needs: root, python3, busybox-static, docker.io.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
for t in python3 busybox dockerd docker; do
  command -v "$t" >/dev/null || die "$t missing (apt-get install python3 busybox-static docker.io)"
done

bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  echo "bench: cargo build --release" >&2
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
[ -x "$bin" ] || die "no executable $bin"

tmp=$(mktemp -d /tmp/mesolite-bench-docker.XXXXXX)
cleanup() {
  rc=$?
  awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$root/bench/docker.py" --binary="$bin" --tmp="$tmp" "$@"
echo
echo "Machine: $(nproc) CPUs, $(uname -r), $(dockerd --version)."
