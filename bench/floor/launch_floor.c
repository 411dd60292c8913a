/* launch_floor: the kernel's floor for a mesolite launch, the same steps and nothing more.
 *
 *   launch_floor -r ROOT -s SANDBOX_DIR -c SUBSYS=HIERARCHY... [-n RUNS] [-w WARMUP]
 *                [-S CPU_SHARES] [-M MEM_BYTES] [-t TASK]
 *
 * Per run, as the agent does for `LAUNCH_CONTAINER /bin/true` with cgroups/{cpu,mem,pids} and
 * namespaces/{pid,ipc,uts} (bench/run.sh's isolation, read off an strace of the agent):
 *   - a sandbox directory with the task's stdout and stderr files;
 *   - one cgroup per v1 hierarchy given (-c, in order: the agent's freezer, cpu, cpuacct, memory,
 *     pids), cpu.shares, memory.limit_in_bytes and memory.soft_limit_in_bytes written;
 *   - clone(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID); the child (the container's init)
 *     attaches itself through cgroup.procs descriptors opened before the clone, makes / a slave
 *     mount, mounts /proc and /dev/shm, vforks the task (stdin /dev/null, stdout and stderr the
 *     sandbox files), which execs TASK; the init reaps it and exits with its status;
 *   - the parent waits for the init. That is launch-to-exit.
 *   - then removal: the cgroups' rmdir and the sandbox's unlinks and rmdir.
 * Left out, as bookkeeping rather than kernel work the container needs: the agent's checkpoint
 * files, its pidfd and exec-report pipe, the OOM eventfd, /proc/<pid>/stat reads.
 *
 * Prints one line per timed run: "launch_us remove_us". Exits non-zero on the first failure,
 * after removing what it created. Build: gcc -O2 -o launch_floor launch_floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CG 16

static const char *subsys[MAX_CG], *hier[MAX_CG];
static int ncg;
static char dirs[MAX_CG][4096];
static int made[MAX_CG];
static char sandbox[4096];
static int sandbox_made;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int write_file(const char *dir, const char *name, const char *value) {
    char path[sizeof dirs[0] + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "launch_floor: open %s: %s\n", path, strerror(errno));
        return -1;
    }
    ssize_t n = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    if (n < 0) {
        fprintf(stderr, "launch_floor: write %s: %s\n", path, strerror(e));
        return -1;
    }
    return 0;
}

static char stdout_path[4200], stderr_path[4200];

/* Removes what the run made, deepest first; returns -1 if something stayed. */
static int remove_all(void) {
    int rc = 0;
    for (int i = ncg - 1; i >= 0; i--) {
        if (made[i] && rmdir(dirs[i]) != 0) {
            fprintf(stderr, "launch_floor: rmdir %s: %s\n", dirs[i], strerror(errno));
            rc = -1;
        } else {
            made[i] = 0;
        }
    }
    if (sandbox_made) {
        unlink(stdout_path);
        unlink(stderr_path);
        if (rmdir(sandbox) != 0) {
            fprintf(stderr, "launch_floor: rmdir %s: %s\n", sandbox, strerror(errno));
            rc = -1;
        } else {
            sandbox_made = 0;
        }
    }
    return rc;
}

static void die(const char *what) {
    fprintf(stderr, "launch_floor: %s: %s\n", what, strerror(errno));
    remove_all();
    exit(1);
}

/* The container's init: pid 1 of its namespace. Never returns. */
static void init(int *procs, int out, int err, const char *task) {
    for (int i = 0; i < ncg; i++) {
        /* "0": the writer itself (v1 cgroup.procs). */
        if (write(procs[i], "0", 1) != 1)
            _exit(120);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0)
        _exit(121);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        _exit(122);
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)
        _exit(123);
    pid_t pid = vfork();
    if (pid < 0)
        _exit(124);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(125);
        char *argv[] = {(char *)task, NULL};
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        execve(task, argv, envp);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            _exit(126);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static int one(const char *root, const char *sbdir, const char *shares, const char *mem,
               const char *task, int run, double *launch_us, double *remove_us) {
    double t0 = now_us();
    snprintf(sandbox, sizeof sandbox, "%s/floor-%d-%d", sbdir, (int)getpid(), run);
    if (mkdir(sandbox, 0755) != 0)
        die("mkdir sandbox");
    sandbox_made = 1;
    snprintf(stdout_path, sizeof stdout_path, "%s/stdout", sandbox);
    snprintf(stderr_path, sizeof stderr_path, "%s/stderr", sandbox);
    int out = open(stdout_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int err = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0 || err < 0)
        die("open stdout/stderr");
    int procs[MAX_CG];
    for (int i = 0; i < ncg; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/%s/floor-%d-%d", hier[i], root, (int)getpid(), run);
        if (mkdir(dirs[i], 0755) != 0)
            die(dirs[i]);
        made[i] = 1;
    }
    for (int i = 0; i < ncg; i++) {
        if (strcmp(subsys[i], "cpu") == 0 && write_file(dirs[i], "cpu.shares", shares) != 0)
            die("cpu.shares");
        if (strcmp(subsys[i], "memory") == 0 &&
            (write_file(dirs[i], "memory.limit_in_bytes", mem) != 0 ||
             write_file(dirs[i], "memory.soft_limit_in_bytes", mem) != 0))
            die("memory limits");
    }
    for (int i = 0; i < ncg; i++) {
        char path[sizeof dirs[0] + 16];
        snprintf(path, sizeof path, "%s/cgroup.procs", dirs[i]);
        procs[i] = open(path, O_WRONLY | O_CLOEXEC);
        if (procs[i] < 0)
            die(path);
    }
    /* A fork-like clone (no new stack): the child runs on a copy of this one. */
    long pid = syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | SIGCHLD,
                       NULL, NULL, NULL, 0);
    if (pid < 0)
        die("clone");
    if (pid == 0)
        init(procs, out, err, task);
    for (int i = 0; i < ncg; i++)
        close(procs[i]);
    close(out);
    close(err);
    int status;
    while (waitpid((pid_t)pid, &status, 0) < 0) {
        if (errno != EINTR)
            die("waitpid");
    }
    double t1 = now_us();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "launch_floor: run %d: the init ended with status 0x%x\n", run, status);
        remove_all();
        exit(1);
    }
    if (remove_all() != 0)
        exit(1);
    *launch_us = t1 - t0;
    *remove_us = now_us() - t1;
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: launch_floor -r ROOT -s SANDBOX_DIR -c SUBSYS=HIERARCHY... [-n RUNS] "
                    "[-w WARMUP] [-S CPU_SHARES] [-M MEM_BYTES] [-t TASK]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *root = NULL, *sbdir = NULL, *shares = "102", *mem = "33554432", *task = "/bin/true";
    int runs = 200, warmup = 10, opt;
    while ((opt = getopt(argc, argv, "r:s:c:n:w:S:M:t:")) != -1) {
        switch (opt) {
        case 'r': root = optarg; break;
        case 's': sbdir = optarg; break;
        case 'c': {
            char *eq = strchr(optarg, '=');
            if (!eq || ncg == MAX_CG)
                usage();
            *eq = 0;
            subsys[ncg] = optarg;
            hier[ncg++] = eq + 1;
            break;
        }
        case 'n': runs = atoi(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 'S': shares = optarg; break;
        case 'M': mem = optarg; break;
        case 't': task = optarg; break;
        default: usage();
        }
    }
    if (!root || !sbdir || ncg == 0)
        usage();
    /* The parent directories, as the agent's <cgroups_root>; left for the caller to remove. */
    for (int i = 0; i < ncg; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", hier[i], root);
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            die(path);
    }
    for (int i = 0; i < warmup + runs; i++) {
        double l, r;
        one(root, sbdir, shares, mem, task, i, &l, &r);
        if (i >= warmup)
            printf("%.1f %.1f\n", l, r);
    }
    return 0;
}
