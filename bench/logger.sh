#!/bin/bash
# Throughput of a task writing to stdout through the logrotate container logger versus straight
# into the sandbox file (issue 15's goal: within 1.2x), and what the logger costs in CPU:
#
#   bench/logger.sh [MiB per run, default 1024] [runs, default 3]
#
# 1. Through an agent (a private one per logger, work_dir under /var/tmp): a task runs
#    `yes <36 bytes> | head -c <MiB>M`; the time is from LAUNCH until the last byte is in the
#    sandbox (WAIT answered and, with logrotate, the logger process gone). The agent's own CPU
#    time (utime+stime of its process) is printed for both: the logger is its own process, so
#    the agent's loop does no copying either way.
# 2. The logger alone, outside any agent: the same writer piped into `mesolite logrotate-logger`
#    against the writer redirected into a file; the logger's CPU seconds per GiB are what a
#    drain in the agent's loop would put on the loop's one thread instead (the same read and
#    write calls), which is why the logger is a process (README "Task logs").
#
# Env: MESOLITE_BINARY (default target/release/mesolite), LOGGER_FLAGS (default
# "--logrotate_max_stdout_size=10MB --logrotate_rotate=9", Mesos's size), MEM (the task's mem
# in MB, default 2048: with the sandbox logger the file's page cache is charged to the task's
# memory cgroup, and a small limit throttles its writes; the logger's is charged to the
# agent's cgroup), WRITER (default "yes <36 bytes>"; e.g. "cat /dev/zero" for big blocks).
# LINE_WRITER=1: the task writes 100-byte lines, one write(2) each (python3), instead of the stream.
# TASK: the task's whole command instead, one process writing {MIB} MiB, e.g.
#   TASK='head -c {MIB}M /dev/zero'  TASK='dd if=/dev/zero bs=1M count={MIB} status=none'
#   TASK='cat {BIG}'  ({BIG}: a file of {MIB} MiB of lines, written and cached before the runs)
# The default stays `yes | head`: the issue's figure, and what a shell pipeline task does; but it
# is two busy processes, so with the logger three share the 2 cores, where a single-process
# writer (TASK) and its logger are two.
# Needs root.
set -euo pipefail

MIB=${1:-1024}
RUNS=${2:-3}
BIN=$(readlink -f "${MESOLITE_BINARY:-target/release/mesolite}")
LINE=0123456789abcdefghijklmnopqrstuvwxy
LOGGER_FLAGS=${LOGGER_FLAGS:---logrotate_max_stdout_size=10MB --logrotate_rotate=9}
MEM=${MEM:-2048}
WRITER=${WRITER:-yes $LINE}
# The task's command. Default: a bulk stream (yes through head: big blocks, memcpy-bound). LINE_WRITER=1:
# a task writing 100-byte lines, one write(2) each, as a program logging does (python3).
BASE=$(mktemp -d /var/tmp/mlbench-logger.XXXXXX)
if [ -n "${TASK:-}" ]; then
    TASK=${TASK//\{BIG\}/$BASE/big}
    TASK=${TASK//\{MIB\}/$MIB}
elif [ "${LINE_WRITER:-}" = 1 ]; then
    TASK="python3 -c 'import os
l = b\"x\" * 99 + b\"\\n\"
for _ in range($MIB * 10486): os.write(1, l)'"
else
    TASK="$WRITER | head -c ${MIB}M"
fi
AGENT_PID=

cleanup() {
    if [ -n "$AGENT_PID" ]; then kill "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; fi
    rm -rf "$BASE"
    # The agents' cgroups_root, empty once their containers are removed.
    for d in /sys/fs/cgroup/*/"mlbench_logger_$$" /sys/fs/cgroup/"mlbench_logger_$$"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
}
trap cleanup EXIT
# `yes` ends on SIGPIPE.
if [[ $TASK == *"$BASE/big"* ]]; then (yes "$LINE" || true) | head -c "${MIB}M" >"$BASE/big"; fi

now() { date +%s.%N; }
# utime+stime of a process, in seconds.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
mibps() { awk -v m="$MIB" -v t="$1" 'BEGIN{printf "%.0f", m/t}'; }

# Starts an agent with the given logger flags in $BASE/$1; sets AGENT_PID, SOCK, WORK.
start_agent() {
    local dir=$BASE/$1; shift
    mkdir -p "$dir"
    SOCK=$dir/agent.sock
    WORK=$dir/work
    "$BIN" agent --work_dir="$WORK" --runtime_dir="$dir/run" --socket="$SOCK" \
        --cgroups_root="mlbench_logger_$$" --logging_level=WARNING "$@" >"$dir/agent.log" 2>&1 &
    AGENT_PID=$!
    for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
    echo "agent did not start: $(cat "$dir/agent.log")" >&2
    exit 1
}

stop_agent() { kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=; }

# One task writing $MIB MiB; prints "seconds agent_cpu_seconds".
through_agent() {
    local id=w$1 t0 t1 c0 c1
    c0=$(cpu_of "$AGENT_PID")
    t0=$(now)
    "$BIN" launch --socket="$SOCK" --id="$id" --cpus=1 --mem="$MEM" -- \
        "$TASK" >/dev/null
    "$BIN" wait --socket="$SOCK" "$id" >/dev/null
    while pgrep -f "logrotate-logger --log_filename=$WORK/containers/$id/" >/dev/null; do
        sleep 0.01
    done
    t1=$(now)
    c1=$(cpu_of "$AGENT_PID")
    "$BIN" rm --socket="$SOCK" "$id" >/dev/null
    awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" 'BEGIN{printf "%.3f %.2f\n", b-a, d-c}'
}

median() { sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }

echo "# Task logs: ${MIB} MiB per run, median of $RUNS runs ($(nproc) CPUs); task: $TASK"
echo
declare -A SECS CPU
for logger in sandbox logrotate; do
    # shellcheck disable=SC2086
    if [ "$logger" = logrotate ]; then
        start_agent "$logger" --container_logger=logrotate $LOGGER_FLAGS
    else
        start_agent "$logger"
    fi
    : >"$BASE/$logger.runs"
    for r in $(seq "$RUNS"); do through_agent "$r" >>"$BASE/$logger.runs"; done
    stop_agent
    SECS[$logger]=$(cut -d' ' -f1 "$BASE/$logger.runs" | median)
    CPU[$logger]=$(cut -d' ' -f2 "$BASE/$logger.runs" | median)
done
echo "| through the agent | seconds | MiB/s | agent CPU s |"
echo "|---|---|---|---|"
for logger in sandbox logrotate; do
    echo "| $logger | ${SECS[$logger]} | $(mibps "${SECS[$logger]}") | ${CPU[$logger]} |"
done
awk -v a="${SECS[sandbox]}" -v b="${SECS[logrotate]}" \
    'BEGIN{printf "\nlogrotate / sandbox time: %.2fx (goal: at most 1.2x)\n\n", b/a}'

# 2. The logger alone (`yes` ends on SIGPIPE: not a failure here).
set +o pipefail
out=$BASE/alone
mkdir -p "$out"
: >"$out/direct.runs"
: >"$out/logger.runs"
for _ in $(seq "$RUNS"); do
    rm -f "$out"/file*
    t0=$(now)
    sh -c "$TASK" >"$out/file"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", b-a}' >>"$out/direct.runs"
    rm -f "$out"/file*
    t0=$(now)
    sh -c "$TASK" | /usr/bin/time -f "%U %S" -o "$out/time" \
        "$BIN" logrotate-logger --log_filename="$out/file" --max_size=$((10 << 20)) --rotate=9
    t1=$(now)
    awk -v a="$t0" -v b="$t1" '{printf "%.3f %.2f\n", b-a, $1+$2}' "$out/time" >>"$out/logger.runs"
done
d=$(median <"$out/direct.runs")
l=$(cut -d' ' -f1 "$out/logger.runs" | median)
c=$(cut -d' ' -f2 "$out/logger.runs" | median)
echo "| the logger alone | seconds | MiB/s | logger CPU s | CPU s per GiB |"
echo "|---|---|---|---|---|"
echo "| writer > file | $d | $(mibps "$d") | - | - |"
echo "| writer \| logrotate-logger | $l | $(mibps "$l") | $c | $(awk -v c="$c" -v m="$MIB" 'BEGIN{printf "%.2f", c*1024/m}') |"
awk -v a="$d" -v b="$l" 'BEGIN{printf "\nlogger / file time: %.2fx\n", b/a}'
