#!/bin/bash
# The project's test command (what .ci/run runs and the README names):
#
#   scripts/test.sh        (as root; `sudo scripts/test.sh` from another account)
#
# 0. scripts/packages.sh test: the Debian packages the build and the tests need, if missing.
# 1. cargo build --release --features test-hooks: the binary the guest test and the integration
#    tests use (test-hooks: the recovery tests' crash points, which the shipped binary lacks).
# 2. cargo test --release --features test-hooks: unit tests and the integration tests in tests/
#    (root: they use real namespaces, cgroups and mounts on this host). The same features as in 1,
#    so nothing is built twice.
# 3. tests/guest/agent-v2.sh: the release agent in a qemu guest whose only hierarchy is cgroup v2
#    (about 20-40 s under TCG, one vCPU).
# 4. tests/guest/xfs.sh: disk/xfs in the same guest with an XFS disk (this host's kernel has no XFS
#    quota support; Debian's has). About 20 s.
# Every stage runs even if an earlier test stage failed; the exit status is non-zero if any failed.
# SKIP_GUEST=1 skips stages 3 and 4 (for quick local loops; CI never sets it).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
target=${CARGO_TARGET_DIR:-$root/target}
[ "$(id -u)" = 0 ] || echo "test: warning: not root; tests that need namespaces and cgroups will fail" >&2

failed=()
stage() { echo; echo "==== $* ===="; }

stage "packages (scripts/packages.sh test)"
"$root/scripts/packages.sh" test || exit 1

stage "cargo build --release --features test-hooks"
if ! cargo build --release --all-targets --features test-hooks; then
  echo "test: the release build failed" >&2
  exit 1
fi

stage "cargo test --release --features test-hooks"
cargo test --release --features test-hooks --no-fail-fast || failed+=("cargo test")

if [ "${SKIP_GUEST:-}" = 1 ]; then
  stage "qemu guests: skipped (SKIP_GUEST=1)"
else
  # A guest that hangs (exit 124: timed out; 125: no exit code) is booted once more. With two
  # vCPUs about one boot in ten under qemu's software emulation wedged both in the guest kernel
  # ("soft lockup") before the checks ran, a known TCG `-cpu max -smp 2` hang; guests now boot
  # with one vCPU (12 of 12 boots clean), and the retry stays as a net. A check that fails (any
  # other code) is not retried.
  guest() { # NAME SCRIPT
    local rc
    for attempt in 1 2; do
      GUEST_TIMEOUT=${GUEST_TIMEOUT:-180} "$2" "$target/release/mesolite"
      rc=$?
      case $rc in
        0) return 0 ;;
        124|125) echo "test: the $1 guest hung (exit $rc, attempt $attempt)" ;;
        *) return "$rc" ;;
      esac
    done
    return "$rc"
  }
  stage "cgroup v2 guest (qemu)"
  guest "cgroup v2" "$root/tests/guest/agent-v2.sh" || failed+=("cgroup v2 guest")
  stage "disk/xfs guest (qemu)"
  guest "disk/xfs" "$root/tests/guest/xfs.sh" || failed+=("disk/xfs guest")
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "test: FAILED: ${failed[*]}"
  exit 1
fi
echo "test: all passed"
