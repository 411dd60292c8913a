#!/bin/bash
# The fetcher's figures, side by side with the standard tools, in one run:
#
#   bench/fetch.sh [SIZE_MIB]        (default 256)
#
# 1. Download of a SIZE MiB file over loopback HTTP (python3 -m http.server): `curl -o` against
#    mesolite-fetch with BYPASS_CACHE into a sandbox. Best of 3 each; throughput and ratio.
# 2. A cache hit of the same file into a fresh sandbox (RETRIEVE_FROM_CACHE) against
#    `cp --reflink=auto`, on the work filesystem, and on an XFS loop filesystem with reflink when
#    mkfs.xfs is available (there a hit is a reflink: O(1)).
# Needs: curl, python3, the release build (built here unless MESOLITE_FETCH is given).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-256}
fetch=${MESOLITE_FETCH:-}
if [ -z "$fetch" ]; then
  (cd "$root" && cargo build --release --quiet --bin mesolite-fetch)
  fetch=${CARGO_TARGET_DIR:-$root/target}/release/mesolite-fetch
fi
tmp=$(mktemp -d /tmp/mesolite-bench-fetch.XXXXXX)
srv=
loop=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null || true
  [ -n "$loop" ] && umount "$loop" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/www" "$tmp/cache/root"
head -c $((size * 1024 * 1024)) /dev/urandom > "$tmp/www/blob"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$port" >/dev/null 2>&1 &
srv=$!
for _ in $(seq 100); do curl -sf -o /dev/null -I "http://127.0.0.1:$port/blob" && break; sleep 0.05; done
url="http://127.0.0.1:$port/blob"

now() { date +%s.%N; }
best() { sort -n | head -1; }
# fetch_json MODE SANDBOX CACHE ACTION
request() {
  printf '{"mode":"fetch","sandbox_directory":"%s","cache_directory":"%s","stall_timeout_secs":60,"items":[{"uri":{"value":"%s","extract":false},"action":"%s","cache_filename":"c1-blob"}]}' "$1" "$2" "$url" "$3"
}
# prepare SANDBOX CACHE ACTION: an empty sandbox and the request file, outside the timing.
prepare() {
  rm -rf "$1"; mkdir -p "$1"
  request "$1" "$2" "$3" > "$1.req"
}
# timed SANDBOX: seconds of one fetcher run (process start included), nothing else.
timed() {
  local t0 t1
  t0=$(now); "$fetch" < "$1.req" >/dev/null 2>&1; t1=$(now)
  echo "$t1 - $t0" | bc -l
}
run_fetch() { prepare "$@"; "$fetch" < "$1.req" >/dev/null 2>&1; }

curl_t=$(for i in 1 2 3; do t0=$(now); curl -s -o "$tmp/curl.out" "$url"; t1=$(now); rm -f "$tmp/curl.out"; echo "$t1 - $t0" | bc -l; done | best)
fetch_t=$(for i in 1 2 3; do prepare "$tmp/sb" "$tmp/cache/root" BYPASS_CACHE; timed "$tmp/sb"; done | best)
[ "$(stat -c %s "$tmp/sb/blob")" = $((size * 1024 * 1024)) ] || { echo "bench: the fetch is incomplete" >&2; exit 1; }

hit() { # CACHE_DIR SANDBOX_PARENT -> best seconds of a RETRIEVE_FROM_CACHE, and of cp --reflink=auto
  run_fetch "$2/sb0" "$1" DOWNLOAD_AND_CACHE
  h=$(for i in 1 2 3; do prepare "$2/sb$i" "$1" RETRIEVE_FROM_CACHE; timed "$2/sb$i"; done | best)
  c=$(for i in 1 2 3; do rm -f "$2/cp$i"; t0=$(now); cp --reflink=auto "$1/c1-blob" "$2/cp$i"; t1=$(now); echo "$t1 - $t0" | bc -l; done | best)
  echo "$h $c"
}
read -r hit_t cp_t < <(hit "$tmp/cache/root" "$tmp")
fs=$(stat -f -c %T "$tmp")

xfs_row=""
if command -v mkfs.xfs >/dev/null; then
  truncate -s $((size * 4 + 512))M "$tmp/xfs.img"
  if mkfs.xfs -q -m reflink=1 "$tmp/xfs.img" && mkdir -p "$tmp/xfs" && mount -o loop "$tmp/xfs.img" "$tmp/xfs"; then
    loop="$tmp/xfs"
    mkdir -p "$tmp/xfs/cache"
    read -r xh xc < <(hit "$tmp/xfs/cache" "$tmp/xfs")
    xfs_row=$(printf '| cache hit into a sandbox (xfs, reflink) | %.4f | %.4f (`cp --reflink=auto`) | %.2f× |' "$xh" "$xc" "$(echo "$xh / $xc" | bc -l)")
  fi
fi

mib=$size
printf '### Fetcher (%d MiB over loopback HTTP; best of 3)\n\n' "$size"
printf '| what | mesolite-fetch s | peer s | ratio (mesolite/peer) |\n|---|---:|---:|---:|\n'
printf '| download into a sandbox | %.3f (%.0f MiB/s) | %.3f (%.0f MiB/s, `curl -o`) | throughput %.2f× of curl |\n' \
  "$fetch_t" "$(echo "$mib / $fetch_t" | bc -l)" "$curl_t" "$(echo "$mib / $curl_t" | bc -l)" "$(echo "$curl_t / $fetch_t" | bc -l)"
printf '| cache hit into a sandbox (%s) | %.3f | %.3f (`cp --reflink=auto`) | %.2f× |\n' "$fs" "$hit_t" "$cp_t" "$(echo "$hit_t / $cp_t" | bc -l)"
[ -n "$xfs_row" ] && echo "$xfs_row"
echo
echo "Goals: download throughput >= 0.9x curl's; a hit costs no more than the copy (O(1) with reflink)."
