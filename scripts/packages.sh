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
# tests; nodejs: the Node.js that the apps tests' hello-world image is built from
# (tests/apps_support/node_image.sh); python3-requests python3-requests-toolbelt python3-pip: the
# `marathon` client library's dependencies and the pip that downloads it (below); etcd-server:
# the 3-member etcd cluster tests/etcd.rs starts on loopback.
test=("${build[@]}" qemu-system-x86 linux-image-amd64 busybox-static cpio kmod xfsprogs runc
  bubblewrap procps systemd libcurl4-openssl-dev python3-pyftpdlib curl iputils-ping keyutils
  docker-registry docker.io iproute2 prometheus containernetworking-plugins iptables e2fsprogs
  mount python3 nodejs python3-requests python3-requests-toolbelt python3-pip etcd-server)

# The PyPI `marathon` 0.13.0 client library (issue 16's acceptance 6, tests/apps_support/
# marathon_client.py), not packaged by Debian. Its wheel is pure Python: unpacked into one
# directory that the client script puts on sys.path, with its dependencies from Debian above. Not
# a venv (pip would fetch requests, urllib3, idna, ... from PyPI again: more downloads, more
# versions to drift) nor `pip install --break-system-packages` (it writes into the system Python
# that apt owns). One 30 KB download, pinned by its sha256; once unpacked no network is needed, and
# MESOLITE_MARATHON_WHEEL=FILE installs from a wheel at hand (a machine without PyPI).
marathon_dir=/usr/local/lib/mesolite-test/marathon-0.13.0
marathon_sha256=6c6321444c3a55252109874ec70dd0db53f4c802527d14f271452213f8d24222
marathon_lib() {
  [ -f "$marathon_dir/marathon/client.py" ] && return 0
  [ "$(id -u)" = 0 ] || die "the marathon client library is missing: run as root to install it"
  local tmp wheel
  tmp=$(mktemp -d /tmp/mesolite-marathon.XXXXXX)
  wheel=${MESOLITE_MARATHON_WHEEL:-}
  if [ -z "$wheel" ]; then
    echo "packages: downloading marathon==0.13.0 (PyPI) into $marathon_dir"
    /usr/bin/python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" \
      marathon==0.13.0 || { rm -rf "$tmp"; die "pip download marathon==0.13.0 failed"; }
    wheel=$tmp/marathon-0.13.0-py2.py3-none-any.whl
  fi
  echo "$marathon_sha256  $wheel" | sha256sum --check --quiet \
    || { rm -rf "$tmp"; die "$wheel: not the marathon 0.13.0 wheel (sha256)"; }
  mkdir -p "$marathon_dir"
  /usr/bin/python3 -m zipfile -e "$wheel" "$marathon_dir" \
    || { rm -rf "$tmp"; die "cannot unpack $wheel"; }
  rm -rf "$tmp"
}

case "${1:-}" in
  build) want=("${build[@]}") ;;
  test) want=("${test[@]}") ;;
  *) die "usage: $0 build|test" ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  if [ "$1" = test ]; then marathon_lib; fi
  echo "packages: all present ($1)"
  exit 0
fi
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
if [ "$1" = test ]; then marathon_lib; fi
