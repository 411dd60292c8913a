#!/bin/bash
# Installs the Debian packages mesolite needs that are missing (apt-get, as root; quiet):
#
#   scripts/packages.sh build    to build: a static libcurl with OpenSSL for mesolite-fetch
#   scripts/packages.sh test     to build and run every test (scripts/test.sh calls this)
#
# Prints what it installs; does nothing when all are present. On a machine without apt-get it
# only lists what is missing and exits 0 (the build or the tests then say what fails).
set -euo pipefail
die() { echo "packages: $*" >&2; exit 1; }

# gcc, libssl-dev, pkg-config: mesolite-fetch links a static libcurl built with OpenSSL.
build=(gcc libssl-dev pkg-config)
# qemu-system-x86 linux-image-amd64 busybox-static cpio kmod: the qemu guests (cgroup v2, XFS)
# and busybox rootfses of the image tests; xfsprogs: mkfs.xfs for the XFS guest; runc bubblewrap:
# the benchmark's peers; procps: ps/pgrep in tests; systemd: systemd-analyze for the unit check;
# libcurl4-openssl-dev: curl's headers; python3-pyftpdlib: the fetcher tests' FTP server; curl:
# the fetch benchmark; iputils-ping, keyutils: the capability and seccomp tests; docker-registry:
# a registry on loopback for the image tests; docker.io: the image tests build images with
# docker import / docker build on a private dockerd they start; iproute2: ip and tc set up the
# namespaces, veths and qdiscs of the netlink tests and the bridge of the Docker network test;
# prometheus: the Prometheus server (and promtool) that tests/prometheus.rs starts to scrape the
# agent's /metrics; containernetworking-plugins iptables: the network/cni tests (bridge,
# host-local, portmap, bandwidth; iptables to check what they leave); e2fsprogs, mount: the blkio
# test's loop disk (mkfs.ext4, losetup); python3: the stalling servers of the Docker fetch/pull
# tests; etcd-server: the 3-member etcd cluster tests/etcd.rs starts on loopback.
test=("${build[@]}" qemu-system-x86 linux-image-amd64 busybox-static cpio kmod xfsprogs runc
  bubblewrap procps systemd libcurl4-openssl-dev python3-pyftpdlib curl iputils-ping keyutils
  docker-registry docker.io iproute2 prometheus containernetworking-plugins iptables e2fsprogs
  mount python3 etcd-server)

case "${1:-}" in
  build) want=("${build[@]}") ;;
  test) want=("${test[@]}") ;;
  *) die "usage: $0 build|test" ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "packages: all present ($1)"; exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "packages: missing (no apt-get here to install them): ${missing[*]}" >&2
  exit 0
fi
[ "$(id -u)" = 0 ] || die "missing ${missing[*]}: run as root to install them"
echo "packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/mesolite-apt.XXXXXX)
apt-get update -qq >"$log" 2>&1 || { tail -20 "$log"; die "apt-get update failed"; }
apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
  || { tail -30 "$log"; die "apt-get install failed (log: $log)"; }
rm -f "$log"
