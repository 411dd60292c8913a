/* stats_floor: the floor for mesolite's GET /monitor/statistics, the same reads and JSON.
 *
 *   stats_floor -r ROOT -c SUBSYS=HIERARCHY... [-n PASSES] [-w WARMUP]
 *               [-C CPUS_LIMIT] [-s CPUS_SOFT_LIMIT] [-M MEM_LIMIT_BYTES]
 *
 * Finds the containers as the directories under <pids hierarchy>/ROOT (the agent's running
 * containers, so the files and their contents are the very ones the agent reads), opens for each
 * the six files the agent keeps open (cpuacct.stat, cpu.stat, memory.usage_in_bytes, memory.stat,
 * pids' cgroup.procs and tasks) once, then per pass: one timestamp, one pread of each file (the
 * floor reads each once, where end of file is known from a short read), the same keys parsed and
 * the same JSON entry per container (`/monitor/statistics`'s fields, in its order) written into
 * one buffer. The limits are the agent's from the launch request (-C, -s, -M), not files, as in
 * the agent. Not counted: the HTTP exchange, which the agent's figure also includes.
 *
 * Prints one line per timed pass: "pass_us containers json_bytes".
 * Build: gcc -O2 -o stats_floor stats_floor.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { CPUACCT, CPU, MEM_USAGE, MEM_STAT, PROCS, TASKS, NFILES };

struct container {
    char id[256];
    int fd[NFILES];
};

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* The value of "key N" lines in buf, or 0. */
static uint64_t key(const char *buf, const char *k) {
    size_t n = strlen(k);
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, k, n) == 0 && p[n] == ' ')
            return strtoull(p + n + 1, NULL, 10);
    }
    return 0;
}

static uint64_t lines(const char *buf) {
    uint64_t n = 0;
    for (; *buf; buf++)
        n += *buf == '\n';
    return n;
}

static char file[NFILES][64 * 1024];

static int read_all(struct container *c) {
    for (int i = 0; i < NFILES; i++) {
        ssize_t n = pread(c->fd[i], file[i], sizeof file[i] - 1, 0);
        if (n < 0)
            return -1;
        file[i][n] = 0;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *root = NULL, *hier_cpu = NULL, *hier_cpuacct = NULL, *hier_mem = NULL, *hier_pids = NULL;
    double cpus_limit = 2.0, cpus_soft = 0.01;
    unsigned long long mem_limit = 32ULL << 20;
    int passes = 50, warmup = 3, opt;
    while ((opt = getopt(argc, argv, "r:c:n:w:C:s:M:")) != -1) {
        switch (opt) {
        case 'r': root = optarg; break;
        case 'c': {
            char *eq = strchr(optarg, '=');
            if (!eq)
                goto usage;
            *eq = 0;
            if (!strcmp(optarg, "cpu")) hier_cpu = eq + 1;
            else if (!strcmp(optarg, "cpuacct")) hier_cpuacct = eq + 1;
            else if (!strcmp(optarg, "memory")) hier_mem = eq + 1;
            else if (!strcmp(optarg, "pids")) hier_pids = eq + 1;
            break;
        }
        case 'n': passes = atoi(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 'C': cpus_limit = atof(optarg); break;
        case 's': cpus_soft = atof(optarg); break;
        case 'M': mem_limit = strtoull(optarg, NULL, 10); break;
        default: goto usage;
        }
    }
    if (!root || !hier_cpu || !hier_cpuacct || !hier_mem || !hier_pids)
        goto usage;

    char path[8192];
    snprintf(path, sizeof path, "%s/%s", hier_pids, root);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "stats_floor: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t cap = 64, n = 0;
    struct container *cs = malloc(cap * sizeof *cs);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        if (n == cap)
            cs = realloc(cs, (cap *= 2) * sizeof *cs);
        struct container *c = &cs[n];
        snprintf(c->id, sizeof c->id, "%s", e->d_name);
        const char *where[NFILES][2] = {
            {hier_cpuacct, "cpuacct.stat"}, {hier_cpu, "cpu.stat"},
            {hier_mem, "memory.usage_in_bytes"}, {hier_mem, "memory.stat"},
            {hier_pids, "cgroup.procs"}, {hier_pids, "tasks"},
        };
        int ok = 1;
        for (int i = 0; i < NFILES; i++) {
            snprintf(path, sizeof path, "%s/%s/%s/%s", where[i][0], root, c->id, where[i][1]);
            c->fd[i] = open(path, O_RDONLY | O_CLOEXEC);
            ok &= c->fd[i] >= 0;
        }
        if (ok)
            n++; /* a container that just went is skipped, as the agent would not list it */
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "stats_floor: no containers under %s/%s\n", hier_pids, root);
        return 1;
    }
    long hz = sysconf(_SC_CLK_TCK);
    size_t outcap = n * 2048 + 16;
    char *out = malloc(outcap);
    for (int pass = 0; pass < warmup + passes; pass++) {
        double t0 = now_us();
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        double ts = wall.tv_sec + wall.tv_nsec / 1e9;
        size_t len = 0;
        out[len++] = '[';
        for (size_t i = 0; i < n; i++) {
            struct container *c = &cs[i];
            if (read_all(c) != 0)
                continue;
            const char *ms = file[MEM_STAT], *cpu = file[CPU], *acct = file[CPUACCT];
            uint64_t rss = key(ms, "total_rss"), cache = key(ms, "total_cache");
            len += (size_t)snprintf(out + len, outcap - len,
                "%s{\"container_id\":\"%s\",\"executor_id\":\"%s\",\"executor_name\":\"\","
                "\"framework_id\":\"\",\"source\":\"%s\",\"statistics\":{"
                "\"cpus_limit\":%.1f,\"cpus_nr_periods\":%llu,\"cpus_nr_throttled\":%llu,"
                "\"cpus_soft_limit\":%.2f,\"cpus_system_time_secs\":%.2f,"
                "\"cpus_throttled_time_secs\":%.9f,\"cpus_user_time_secs\":%.2f,"
                "\"mem_anon_bytes\":%llu,\"mem_cache_bytes\":%llu,\"mem_file_bytes\":%llu,"
                "\"mem_limit_bytes\":%llu,\"mem_mapped_file_bytes\":%llu,\"mem_rss_bytes\":%llu,"
                "\"mem_soft_limit_bytes\":%llu,\"mem_swap_bytes\":%llu,\"mem_total_bytes\":%llu,"
                "\"mem_unevictable_bytes\":%llu,\"processes\":%llu,\"threads\":%llu,"
                "\"timestamp\":%.7f}}",
                i ? "," : "", c->id, c->id, c->id, cpus_limit,
                (unsigned long long)key(cpu, "nr_periods"),
                (unsigned long long)key(cpu, "nr_throttled"), cpus_soft,
                (double)key(acct, "system") / hz, key(cpu, "throttled_time") / 1e9,
                (double)key(acct, "user") / hz, (unsigned long long)rss,
                (unsigned long long)cache, (unsigned long long)cache, mem_limit,
                (unsigned long long)key(ms, "total_mapped_file"), (unsigned long long)rss,
                mem_limit, (unsigned long long)key(ms, "total_swap"),
                strtoull(file[MEM_USAGE], NULL, 10),
                (unsigned long long)key(ms, "total_unevictable"),
                (unsigned long long)lines(file[PROCS]), (unsigned long long)lines(file[TASKS]), ts);
        }
        out[len++] = ']';
        double dt = now_us() - t0;
        if (pass >= warmup)
            printf("%.1f %zu %zu\n", dt, n, len);
    }
    return 0;
usage:
    fprintf(stderr, "usage: stats_floor -r ROOT -c SUBSYS=HIERARCHY... [-n PASSES] [-w WARMUP] "
                    "[-C CPUS_LIMIT] [-s CPUS_SOFT_LIMIT] [-M MEM_LIMIT_BYTES]\n");
    return 2;
}
