"""The C floors (bench/floor/*.c, built by bench/run.sh): the kernel work of a launch and of a
statistics pass, nothing more, run in the same run as the agent so its figures are ratios.

Both find the v1 hierarchies the agent uses from the mount table, as the agent does.
"""

import os
import shutil
import subprocess
import sys
import time

# The agent's hierarchies for cgroups/{cpu,mem,pids}, in its order: the freezer first.
SUBSYSTEMS = ("freezer", "cpu", "cpuacct", "memory", "pids")


def v1_hierarchies(mountinfo="/proc/self/mountinfo"):
    """[(subsystem, mount point)] of the v1 hierarchies the agent uses, one per mount point."""
    found = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) < 3 or rfields[0] != "cgroup":
                continue
            opts = set(rfields[2].split(","))
            for sub in SUBSYSTEMS:
                if sub in opts and sub not in found:
                    found[sub] = fields[4]
    out, seen = [], set()
    for sub in SUBSYSTEMS:
        if sub in found and found[sub] not in seen:
            seen.add(found[sub])
            out.append((sub, found[sub]))
    return out


def cg_args(hierarchies):
    return [a for sub, path in hierarchies for a in ("-c", "%s=%s" % (sub, path))]


def remove_root(hierarchies, root):
    """Removes the floor's own <root> in each hierarchy (its runs remove their own children)."""
    for _, path in hierarchies:
        d = os.path.join(path, root)
        for child in sorted(os.listdir(d), reverse=True) if os.path.isdir(d) else []:
            if os.path.isdir(os.path.join(d, child)):
                try:
                    os.rmdir(os.path.join(d, child))
                except OSError as e:
                    print("floor: rmdir %s/%s: %s" % (d, child, e), file=sys.stderr)
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError as e:
            print("floor: rmdir %s: %s" % (d, e), file=sys.stderr)


def _run(argv, timeout):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (argv[0], r.returncode, r.stderr.decode()[-500:]))
    return r.stdout.decode()


def launches(floor_dir, tmp, root, hierarchies, args):
    """launch_floor's own timings: (launch-to-exit s list, removal s list), and the same launch as
    one launch_floor process per run, timed from here as bwrap and runc are."""
    exe = os.path.join(floor_dir, "launch_floor")
    sandboxes = os.path.join(tmp, "floor-sandboxes")
    os.makedirs(sandboxes, exist_ok=True)
    common = [exe, "-r", root, "-s", sandboxes, "-S", str(int(args.cpus * 1024)),
              "-M", str(args.mem * 1024 * 1024)] + cg_args(hierarchies)
    try:
        out = _run(common + ["-n", str(args.iterations), "-w", str(args.warmup)],
                   timeout=60 + args.iterations)
        rows = [tuple(float(x) / 1e6 for x in line.split()) for line in out.splitlines()]
        launch_s, remove_s = [r[0] for r in rows], [r[1] for r in rows]
        print("  %-8s %d runs, p50 %.2f ms" % ("floor", len(rows), sorted(launch_s)[len(rows) // 2] * 1000),
              file=sys.stderr)
        spawned = []
        for i in range(args.warmup + args.iterations):
            t0 = time.perf_counter()
            _run(common + ["-n", "1", "-w", "0"], timeout=30)
            if i >= args.warmup:
                spawned.append(time.perf_counter() - t0)
        print("  %-8s %d runs, p50 %.2f ms" % ("floor*", len(spawned), sorted(spawned)[len(spawned) // 2] * 1000),
              file=sys.stderr)
        return launch_s, remove_s, spawned
    finally:
        remove_root(hierarchies, root)
        shutil.rmtree(sandboxes, ignore_errors=True)


def statistics(floor_dir, agent_root, hierarchies, passes, cpus_limit, cpus_soft, mem_mb):
    """stats_floor over the agent's own running containers: (pass s list, containers, JSON bytes)."""
    exe = os.path.join(floor_dir, "stats_floor")
    out = _run([exe, "-r", agent_root, "-n", str(passes), "-C", str(cpus_limit), "-s", str(cpus_soft),
                "-M", str(mem_mb * 1024 * 1024)] + cg_args(hierarchies), timeout=120)
    rows = [line.split() for line in out.splitlines()]
    return [float(r[0]) / 1e6 for r in rows], int(rows[0][1]), int(rows[0][2])
