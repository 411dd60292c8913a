#!/bin/sh
# Runs INSIDE the guest (busybox sh), started by xfs.sh, with an XFS disk on /dev/vda:
#
#   inside-xfs.sh /path/to/mesolite [/path/to/xfs_quota]
#
# Mounts it with project quotas on the agent's work_dir and checks disk/xfs: a write past the
# quota fails inside the container (ENOSPC: XFS's errno for project quotas), statistics come from the quota with no `du`
# (there is none: it is removed from the guest), project IDs survive an agent restart without
# being reused, the project is released at cleanup, and --xfs_kill_containers destroys a
# container at its quota with REASON_CONTAINER_LIMITATION_DISK. Exit 1 at the first mismatch.
set -u
M=${1:?usage: inside-xfs.sh /path/to/mesolite [xfs_quota]}
XQ=${2:-}
SOCK=/run/m/agent.sock
WORK=/mnt/w
LOG=/tmp/agent.log
agent_pid=

fail() {
  echo "FAIL: $*"
  echo "---- agent log (last 40 lines) ----"
  tail -40 "$LOG" 2>/dev/null
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
  exit 1
}
ok() { echo "ok: $*"; }
cli() { verb=$1; shift; "$M" "$verb" --socket="$SOCK" "$@"; }
squash() { tr -d ' \n\t'; }
wait_json() {
  out=$(timeout 60 "$M" wait --socket="$SOCK" "$1" --json 2>&1)
  echo "$out" | grep -q '"state"' || fail "wait $1: $out"
  echo "$out" | squash
}
field() { echo "$2" | grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2- | tr -d '"'; }
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
start_agent() {
  rm -f "$SOCK"
  "$M" agent --work_dir="$WORK" --runtime_dir=/run/m --socket="$SOCK" \
    --isolation=cgroups/mem,namespaces/pid,disk/xfs "$@" >>"$LOG" 2>&1 &
  agent_pid=$!
  i=0
  while ! cli ps >/dev/null 2>&1; do
    alive "$agent_pid" || fail "the agent exited before answering on $SOCK"
    i=$((i + 1)); [ $i -le 300 ] || fail "no answer on $SOCK after 30 s"
    sleep 0.1
  done
}
stop_agent() { kill "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=; }
# wait_for FILE TEXT: until FILE contains TEXT (20 s).
wait_for() {
  i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 200 ] || fail "no '$2' in $1 after 20 s: $(cat "$1" 2>/dev/null)"
    sleep 0.1
  done
}
report() { [ -n "$XQ" ] && "$XQ" -x -c "report -p -n -b" "$WORK" 2>/dev/null; }

i=0
while [ ! -b /dev/vda ]; do
  i=$((i + 1)); [ $i -le 100 ] || fail "no /dev/vda"
  sleep 0.1
done
mkdir -p "$WORK"
# Without prjquota the agent must refuse to start.
mount -t xfs /dev/vda "$WORK" || fail "mount /dev/vda"
"$M" agent --work_dir="$WORK" --runtime_dir=/run/m --socket="$SOCK" --isolation=disk/xfs >/tmp/noquota.log 2>&1 &
p=$!
i=0
while alive "$p"; do i=$((i + 1)); [ $i -le 100 ] || fail "the agent started without project quotas"; sleep 0.1; done
grep -q "project quotas are not enabled" /tmp/noquota.log || fail "no quota: want a clear error, got: $(cat /tmp/noquota.log)"
ok "refused without prjquota: $(tail -1 /tmp/noquota.log)"
umount "$WORK"
mount -t xfs -o prjquota /dev/vda "$WORK" || fail "mount -o prjquota /dev/vda"
# No du anywhere: usage can only come from the quota.
rm -f /bin/du /usr/bin/du
# (busybox sh knows its applets without a file: look at PATH's directories, as execvp does.)
for d in $(echo "$PATH" | tr : ' '); do [ -e "$d/du" ] && fail "$d/du is still there"; done

# 1. EDQUOT inside the container; statistics from the quota.
start_agent
ok "agent up with disk/xfs (pid $agent_pid)"
# The sandbox's stdout and stderr are in the project too: once dd has filled it, the task's own
# output would fail with EDQUOT. So dd's message is kept in a variable, the file removed, and then
# everything printed; a second, smaller file leaves a known usage (512 KB) for the statistics.
out=$(cli launch --id=q1 --disk=1 -- 'out=$(dd if=/dev/zero of=f bs=1M count=4 2>&1); rc=$?; rm f; echo "$out"; echo rc=$rc; dd if=/dev/zero of=g bs=1k count=512 2>/dev/null; echo written; sleep 1000' 2>&1) || fail "launch q1: $out"
wait_for "$WORK/containers/q1/stdout" "written"
grep -q "rc=0" "$WORK/containers/q1/stdout" && fail "dd past the quota succeeded: $(cat $WORK/containers/q1/stdout)"
# XFS fails a write past a *project* quota with ENOSPC, not EDQUOT (xfs_trans_dqresv: a project
# quota is a directory tree's size, reported like a full disk); accept either, and check that the
# disk itself is far from full, so the quota is what stopped dd, after exactly its 1 MB.
grep -qE "Disk quota exceeded|No space left on device" "$WORK/containers/q1/stdout" \
  || fail "q1: want dd's EDQUOT/ENOSPC error, got: $(cat $WORK/containers/q1/stdout)"
grep -q "^1+0 records out" "$WORK/containers/q1/stdout" || fail "q1: want dd stopped after 1 MB: $(cat $WORK/containers/q1/stdout)"
free_kb=$(df -k "$WORK" | tail -1 | awk '{print $4}')
[ "$free_kb" -gt 51200 ] || fail "the disk itself is nearly full ($free_kb KB free): the test proves nothing"
ok "dd past 1MB in the container: $(grep rc= $WORK/containers/q1/stdout), $(grep -E 'error writing' $WORK/containers/q1/stdout), with $free_kb KB free on the disk"
s=$(cli stats q1 --json 2>&1 | squash)
[ "$(field disk_limit_bytes "$s")" = 1048576 ] || fail "q1 stats: want disk_limit_bytes 1048576, got $s"
used=$(field disk_used_bytes "$s")
case $used in ''|*[!0-9]*) fail "q1 stats: want disk_used_bytes, got '$used': $s" ;; esac
[ "$used" -ge 524288 ] || fail "q1 used $used bytes, want >= 524288 (its 512 KB file)"
[ "$used" -le 1048576 ] || fail "q1 used $used bytes, more than its quota"
ok "stats without du: disk_limit_bytes 1048576, disk_used_bytes $used"
report | grep -v '^$' | sed 's/^/  xfs_quota: /'

# 2. Restart: q1 keeps its project, a new container gets another one (else its limit would
# overwrite q1's).
kill -9 "$agent_pid"; wait "$agent_pid" 2>/dev/null
start_agent
out=$(cli launch --id=q2 --disk=2 -- 'sleep 1000' 2>&1) || fail "launch q2: $out"
s1=$(cli stats q1 --json 2>&1 | squash)
s2=$(cli stats q2 --json 2>&1 | squash)
[ "$(field disk_limit_bytes "$s1")" = 1048576 ] || fail "after restart, q1's limit changed: $s1 (project ID reused?)"
[ "$(field disk_limit_bytes "$s2")" = 2097152 ] || fail "q2: want disk_limit_bytes 2097152, got $s2"
[ "$(field disk_used_bytes "$s1")" = "$used" ] || fail "after restart, q1's usage changed: $s1"
ok "after a restart q1 keeps its project (limit 1048576, used $used); q2 gets another (limit 2097152)"

# 3. Cleanup releases the project: the next container gets q1's ID back with its own limit and
# none of q1's usage.
cli kill q1 >/dev/null 2>&1 || fail "kill q1"
wait_json q1 >/dev/null
# The sandbox's files leave the project in a child of the agent; the ID is free once it is done.
wait_for "$LOG" "project [0-9]* of $WORK/containers/q1 released"
out=$(cli launch --id=q3 --disk=3 -- 'sleep 1000' 2>&1) || fail "launch q3: $out"
s3=$(cli stats q3 --json 2>&1 | squash)
[ "$(field disk_limit_bytes "$s3")" = 3145728 ] || fail "q3: want disk_limit_bytes 3145728, got $s3"
u3=$(field disk_used_bytes "$s3")
[ "$u3" -lt "$used" ] || fail "q3 (a reused project) is charged q1's files: used $u3"
ok "cleanup released q1's project: q3 starts at $u3 bytes"
for c in q2 q3; do cli kill $c >/dev/null 2>&1; wait_json $c >/dev/null; done
report | grep -v '^$' | sed 's/^/  xfs_quota after cleanup: /'
stop_agent

# 4. --xfs_kill_containers: a container at its quota is destroyed.
start_agent --xfs_kill_containers --container_disk_watch_interval=500ms
out=$(cli launch --id=k1 --disk=1 -- 'dd if=/dev/zero of=f bs=1M count=4; sleep 1000' 2>&1) || fail "launch k1: $out"
j=$(wait_json k1)
echo "$j" | grep -q REASON_CONTAINER_LIMITATION_DISK || fail "k1: want REASON_CONTAINER_LIMITATION_DISK, got $j"
echo "$j" | grep -q "Diskusage(1MB)exceedsquota(1MB)" || fail "k1: want 'Disk usage (X) exceeds quota (Y)', got $j"
ok "xfs_kill_containers: $(field message "$j")"
grep -q "disk/du" "$LOG" && fail "the agent log mentions disk/du: $(grep disk/du $LOG)"
stop_agent
echo "ALL XFS GUEST CHECKS PASSED"
