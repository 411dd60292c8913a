#!/bin/bash
# Container images, side by side with the standard tools, in one run:
#
#   bench/images.sh [--size MIB] [--runs N]        (defaults: 100 MiB, 5 runs)
#
# 1. Warm provisioning of a SIZE MiB image (a busybox rootfs layer + a layer of SIZE 1 MiB random
#    files; a single-layer variant for bind; a busybox-only image to show size independence), with
#    each backend: LAUNCH of /bin/true in the image -> WAIT answered. Peers: `cp -a` of the same
#    tree, and `docker create` / `docker run --rm` of the same image when a dockerd can run here.
# 2. Cold pull of the same image from Debian's docker-registry on loopback: LAUNCH -> exit with the
#    agent's store emptied before each run. Peers: `docker pull` after `docker rmi` (same
#    registry), and `curl` of the same blobs (the floor of any pull).
# Each case runs a private agent (temporary work_dir, runtime_dir and socket); dockerd, when
# installed, runs privately too (own data root and socket, --iptables=false --bridge=none).
# Env: MESOLITE_BINARY=PATH uses a prebuilt binary. Needs: root, python3, curl, busybox-static,
# docker-registry; docker.io optional.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
for t in python3 curl busybox; do
  command -v "$t" >/dev/null || die "$t missing (apt-get install python3 curl busybox-static)"
done
command -v docker-registry >/dev/null || command -v registry >/dev/null \
  || die "docker-registry missing (apt-get install docker-registry)"

bin=${MESOLITE_BINARY:-}
if [ -z "$bin" ]; then
  echo "bench: cargo build --release" >&2
  (cd "$root" && cargo build --release --quiet)
  bin=${CARGO_TARGET_DIR:-$root/target}/release/mesolite
fi
[ -x "$bin" ] || die "no executable $bin"

tmp=$(mktemp -d /tmp/mesolite-bench-images.XXXXXX)
cleanup() {
  rc=$?
  # Whatever an interrupted run left mounted under the bench's directory goes first.
  awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$root/bench/images.py" --binary="$bin" --tmp="$tmp" "$@"
echo
echo "Machine: $(nproc) CPUs, $(uname -r), store on $(stat -fc %T /tmp)."
