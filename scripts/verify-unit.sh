#!/bin/bash
# Checks systemd/mesolite.service with `systemd-analyze verify`, strictly: any message fails.
#
#   scripts/verify-unit.sh [UNIT]
#
# verify refuses a unit whose ExecStart binary does not exist, and CI checks the unit before anything
# is installed: so when /usr/local/bin/mesolite is missing, a temporary copy of the unit (same file
# name) is verified with ExecStart pointing to /bin/true instead. verify also only warns (exit 0) on
# unknown keys and similar mistakes; those are what this check is for, hence "any output fails".
# PID 1 need not be systemd.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
unit=${1:-$root/systemd/mesolite.service}
command -v systemd-analyze >/dev/null || { echo "verify-unit: systemd-analyze missing: apt-get install systemd" >&2; exit 2; }
[ -f "$unit" ] || { echo "verify-unit: no unit $unit" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
target=$unit
if [ ! -x /usr/local/bin/mesolite ]; then
  target=$tmp/$(basename "$unit")
  sed 's#/usr/local/bin/mesolite#/bin/true#g' "$unit" > "$target"
  echo "verify-unit: /usr/local/bin/mesolite not installed; verifying a copy with ExecStart=/bin/true"
fi
out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$target" 2>&1) || { echo "$out" >&2; echo "verify-unit: FAILED" >&2; exit 1; }
if [ -n "$out" ]; then echo "$out" >&2; echo "verify-unit: FAILED (warnings)" >&2; exit 1; fi
echo "verify-unit: $(basename "$unit") OK"
