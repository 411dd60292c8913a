#!/bin/bash
# Runs a command inside a throw-away Linux guest whose only cgroup hierarchy is cgroup v2 (all
# controllers enabled at the root), under qemu's software emulation (TCG: no KVM needed).
#
#   run-in-guest.sh [-f FILE]... [-m MODULE]... [-d IMAGE]... [-t SECONDS] -- COMMAND...
#
# -f FILE    copy FILE into the guest at the same path, with the shared libraries `ldd` lists for it
#            (a symlink is copied as its target plus the link). May be repeated.
# -m MODULE  load a kernel module (with its dependencies) before COMMAND, e.g. -m overlay
# -d IMAGE   attach a raw disk image as a virtio disk (/dev/vda, /dev/vdb... in order); the guest
#            needs -m virtio_pci -m virtio_blk to see it. May be repeated.
# -t SECONDS kill the guest after this long (default 300); the script then exits 124
# COMMAND    runs under busybox /bin/sh in the guest as root; its exit code is this script's exit code.
#
# The guest: Debian's newest kernel from /boot, a busybox initramfs as its (writable) root, proc,
# sysfs, devtmpfs, devpts, cgroup2 on /sys/fs/cgroup ("+cpu +cpuset +io +memory +pids" delegated to
# children), tmpfs on /tmp, /run and /dev/shm, /etc/passwd and /etc/group with root and nobody
# (65534), loopback up. Every busybox applet is linked in /bin (sh, true, sleep, ps, ...).
#
# One vCPU unless GUEST_SMP says otherwise: with `-cpu max -smp 2` under TCG about one boot in
# ten hung with both vCPUs in "soft lockup" before COMMAND ran (a known TCG hang).
#
# Exit codes besides COMMAND's: 2 usage or missing host tool, 124 timeout, 125 guest crashed or
# did not report. Needs (Debian): qemu-system-x86 linux-image-amd64 busybox-static cpio kmod.
set -euo pipefail

die() { echo "run-in-guest: $*" >&2; exit 2; }
usage() { echo "usage: $0 [-f FILE]... [-m MODULE]... [-d IMAGE]... [-t SECONDS] -- COMMAND..." >&2; exit 2; }

files=() modules=() drives=() timeout_s=300
while [ $# -gt 0 ]; do
  case $1 in
    -f) [ $# -ge 2 ] || usage; files+=("$2"); shift 2 ;;
    -m) [ $# -ge 2 ] || usage; modules+=("$2"); shift 2 ;;
    -d) [ $# -ge 2 ] || usage; drives+=(-drive "file=$2,format=raw,if=virtio"); [ -f "$2" ] || die "-d $2: no such file"; shift 2 ;;
    -t) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ $# -gt 0 ] || { echo "run-in-guest: no command given" >&2; usage; }
case $timeout_s in ''|*[!0-9]*) die "-t wants whole seconds, got '$timeout_s'" ;; esac

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: apt-get install qemu-system-x86"
command -v cpio >/dev/null || die "cpio missing: apt-get install cpio"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox missing: apt-get install busybox-static"
# A dynamic busybox would need its libraries in the guest too; the static one does not.
if ldd "$busybox" >/dev/null 2>&1; then die "$busybox is dynamic: apt-get install busybox-static"; fi
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)
[ -n "$kernel" ] || die "no kernel in /boot: apt-get install linux-image-amd64"
[ -r "$kernel" ] || die "cannot read $kernel (run as root)"
kver=${kernel#/boot/vmlinuz-}
for f in "${files[@]}"; do [ -f "$f" ] || die "-f $f: no such file"; done
if [ ${#modules[@]} -gt 0 ]; then command -v modprobe >/dev/null || die "modprobe missing: apt-get install kmod"; fi

work=$(mktemp -d /tmp/run-in-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT
ir=$work/ir
mkdir -p "$ir"/{bin,sbin,proc,sys,dev,tmp,run,etc,root,lib/modules}
cp "$busybox" "$ir/bin/busybox"
for applet in $("$ir/bin/busybox" --list); do
  case $applet in busybox|init) ;; *) ln -sf busybox "$ir/bin/$applet" ;; esac
done

copy() { # copy one file and the shared libraries ldd lists for it, keeping their paths
  local f=$1 lib
  mkdir -p "$ir$(dirname "$f")"
  cp -L "$f" "$ir$f"
  { ldd "$f" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
    [ -e "$ir$lib" ] && continue
    mkdir -p "$ir$(dirname "$lib")"
    cp -L "$lib" "$ir$lib"
  done
}
for f in "${files[@]}"; do
  abs=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
  real=$(readlink -f "$f")
  copy "$real"
  if [ "$real" != "$abs" ]; then mkdir -p "$ir$(dirname "$abs")"; ln -sf "$real" "$ir$abs"; fi
done

: > "$work/insmods"
for m in "${modules[@]}"; do
  deps=$(modprobe -S "$kver" --show-depends "$m" 2>/dev/null) || die "module $m not found for kernel $kver"
  while read -r verb ko _; do
    case $verb in
      insmod)
        rel=${ko#/lib/modules/}
        mkdir -p "$ir/lib/modules/$(dirname "$rel")"
        cp "$ko" "$ir/lib/modules/$rel"
        # Modules shared by two -m (virtio_ring...) are loaded once.
        grep -qxF "insmod /lib/modules/$rel" "$work/insmods" || echo "insmod /lib/modules/$rel" >> "$work/insmods" ;;
      builtin) ;;
    esac
  done <<< "$deps"
done

cat > "$ir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > "$ir/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
EOF
echo guest > "$ir/etc/hostname"
printf '%s\n' "$*" > "$ir/command"

# A random marker, so that nothing COMMAND prints can pass for the exit report.
marker=GUEST-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
{
  echo '#!/bin/sh'
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root'
  echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
  echo 'mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs shm /dev/shm'
  # Files copied under /tmp or /run stay visible: move them onto the tmpfs mounted there.
  echo 'for d in tmp run; do mv /$d /.$d; mkdir /$d; done'
  echo 'mount -t tmpfs -o mode=1777 tmp /tmp; mount -t tmpfs -o mode=755 run /run'
  echo 'for d in tmp run; do cp -a /.$d/. /$d/; rm -rf /.$d; done'
  echo 'mkdir -p /sys/fs/cgroup; mount -t cgroup2 cgroup2 /sys/fs/cgroup'
  echo 'echo "+cpu +cpuset +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control'
  cat "$work/insmods"
  echo 'hostname guest; ip link set lo up 2>/dev/null'
  echo "echo $marker-BEGIN; cd /root; sh /command; echo \"$marker-EXIT=\$?\""
  echo 'sync; poweroff -f'
} > "$ir/init"
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.gz")

# The serial console carries COMMAND's output: pass it through as it comes (so a long test shows
# progress), keep a copy, and stop reading (which stops qemu) at the exit report.
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp "${GUEST_SMP:-1}" -m 1024 -nographic -no-reboot -nic none \
  -kernel "$kernel" -initrd "$work/initrd.gz" ${drives[@]+"${drives[@]}"} \
  -append 'console=ttyS0 quiet loglevel=3 panic=-1' 2>"$work/qemu.err" \
  | tr -d '\r' | awk -v m="$marker" -v out="$work/out" '
      { print > out; fflush(out) }
      index($0, m "-EXIT=") { exit }
      on { print; fflush() }
      index($0, m "-BEGIN") { on = 1 }'
status=("${PIPESTATUS[@]}")
set -e
rc=$(grep -o "$marker-EXIT=[0-9]*" "$work/out" | cut -d= -f2 || true)
if [ -z "$rc" ]; then
  if [ "${status[0]}" = 124 ]; then
    echo "run-in-guest: timed out after ${timeout_s}s" >&2
    tail -20 "$work/out" >&2
    exit 124
  fi
  echo "run-in-guest: the guest did not report an exit code (qemu status ${status[0]}); its console:" >&2
  tail -30 "$work/out" >&2
  cat "$work/qemu.err" >&2
  exit 125
fi
exit "$rc"
