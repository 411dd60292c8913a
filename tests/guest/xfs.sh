#!/bin/bash
# disk/xfs against a kernel with XFS quota support (this host's kernel mounts XFS but has none):
# makes an XFS image here, boots the qemu guest (run-in-guest.sh) with it as /dev/vda, and runs
# inside-xfs.sh there. Exit 0 when every check passed.
#
#   tests/guest/xfs.sh [PATH/TO/mesolite]
#
# The default binary is $CARGO_TARGET_DIR/release/mesolite, else target/release/mesolite. Needs
# mkfs.xfs (xfsprogs) and root (to read the kernel in /boot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$root/target}/release/mesolite}
[ -x "$bin" ] || { echo "xfs: no executable $bin (cargo build --release)" >&2; exit 2; }
bin=$(readlink -f "$bin")
command -v mkfs.xfs >/dev/null || { echo "xfs: mkfs.xfs missing: apt-get install xfsprogs" >&2; exit 2; }
timeout_s=${GUEST_TIMEOUT:-420}
img=$(mktemp /var/tmp/mesolite-xfs.XXXXXX)
trap 'rm -f "$img"' EXIT
# 300 MB is the smallest XFS that mkfs.xfs makes; the file is sparse.
truncate -s 300M "$img"
mkfs.xfs -q -f "$img"
extra=()
# xfs_quota, when present, shows the project limits from the filesystem's side.
xq=$(command -v xfs_quota || true)
[ -n "$xq" ] && extra+=(-f "$xq")
echo "xfs: $bin in a guest with an XFS disk (timeout ${timeout_s}s)"
start=$(date +%s)
set +e
"$here/run-in-guest.sh" -t "$timeout_s" -d "$img" -m virtio_pci -m virtio_blk -m xfs \
  -f "$bin" -f "$here/inside-xfs.sh" ${extra[@]+"${extra[@]}"} -- "sh $here/inside-xfs.sh $bin ${xq:-}"
rc=$?
set -e
echo "xfs: exit $rc after $(($(date +%s) - start))s"
exit "$rc"
