/* The scavenger's costs, in one run on one machine (issue 16, item 9):
 *
 *   release rate   GiB/s given back to the OS: the scavenger (the real
 *                  driver on a libuv loop, forced, in its slices) next to
 *                  raw fallocate(PUNCH_HOLE) on the same kind of memory
 *                  (1 GiB of memfd pages, written first);
 *   latency        a client's allocate + touch + release of 64 KiB, median
 *                  and p99, against a real mempoold: idle, with another
 *                  client churning 64 MiB blocks while the scavenger is off
 *                  for them, while it gives them back at 1% and at 100% of
 *                  a core, and during a forced scavenge of 2 GiB (the admin
 *                  `scavenge`); the last column is p99 over the idle p99
 *                  (target: at most 2 during any scavenge); and how long
 *                  that forced scavenge took while the client ran;
 *   CPU share      over a run of steady churn in a pool paced at cpu 1%:
 *                  the paced slices' CPU (target: at most the setting),
 *                  forced slices' and the memory-limit path's, from the
 *                  admin `pool NAME`, and the daemon's whole CPU.
 *
 * The daemon parts run with the daemon and this client pinned to one CPU,
 * then on two.
 *
 * Usage: bench_scavenger [SECONDS]   the CPU-share run (default 10).
 * Starts its own mempoold (MEMPOOLD_PATH) on a temporary socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "bench_util.h"
#include "daemon.h"
#include "mempool.h"
#include "policy.h"
#include "pool.h"
#include "scavenger.h"

#define KiB (1024ULL)
#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

static uint64_t now_ns(void) { return bench_now_ns(); }

static void die(const char *what, int rc) { bench_die(what, rc); }

static double gib_per_s(uint64_t bytes, uint64_t ns) { return (double)bytes / GiB / (ns / 1e9); }

/* ---- release rate ------------------------------------------------------------ */

static int written_memfd(uint64_t size, char **map)
{
    int fd = memfd_create("bench", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
        die("memfd", 0);
    *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (*map == MAP_FAILED)
        die("mmap", 0);
    memset(*map, 1, size);
    return fd;
}

/* Punches [0, size) in calls of `step` bytes; the best of three runs. */
static double punch_rate(uint64_t size, uint64_t step)
{
    uint64_t best = UINT64_MAX;
    for (int run = 0; run < 3; run++) {
        char *map;
        int fd = written_memfd(size, &map);
        uint64_t t0 = now_ns();
        for (uint64_t off = 0; off < size; off += step)
            if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                          (off_t)step) != 0)
                die("fallocate", 0);
        uint64_t ns = now_ns() - t0;
        best = ns < best ? ns : best;
        munmap(map, size);
        close(fd);
    }
    return gib_per_s(size, best);
}

static void on_forced(uint64_t released, void *arg) { *(uint64_t *)arg = released + 1; }

/* The real driver on its own loop: `blocks` blocks of `size` written and
 * freed in pool `name`, then a forced scavenge of all of it, timed from the
 * request to its answer (so the loop's turns between slices count). */
static double scavenger_rate(const char *name, int blocks, uint64_t size, uint64_t *slices)
{
    if (blocks > 16)
        die("at most 16 blocks", -1);
    static const char text[] =
        "scavenger: { idle: 1h, retain: 0B }\n"
        "pools:\n"
        "  - { name: pooliso, reserve: 8GiB, limit: 4GiB, isolation: pool }\n"
        "  - { name: blockiso, reserve: 8GiB, limit: 4GiB }\n";
    /* NULL: clang sees die() return, and then a use of an unset set. */
    policy *pol = NULL;
    pool_set *set = NULL;
    char err[256];
    uv_loop_t loop;
    if (policy_load_buffer("bench", text, strlen(text), &pol, NULL) != 0 ||
        pool_set_new(pol, &set, err, sizeof err) != 0 || uv_loop_init(&loop) != 0)
        die("pool set", -1);
    daemon_state d = { .loop = &loop, .pol = pol, .pools = set };
    if (scavenger_start(&d) != 0)
        die("scavenger_start", -1);
    uint32_t gid = 0;
    pool_client *c = pool_client_new(set, 0, &gid, 1, 1000);
    pool_grant g[16];
    for (int i = 0; i < blocks; i++) {
        if (pool_alloc(c, name, size, 0, 1, &g[i]) != 0)
            die("pool_alloc", -1);
        memset(g[i].addr, 1, g[i].size);
    }
    for (int i = 0; i < blocks; i++)
        if (pool_release(c, g[i].block_id, 1) != 0)
            die("pool_release", -1);
    uint64_t answer = 0, t0 = now_ns();
    scavenger_force(&d, pool_set_find(set, name), 0, on_forced, &answer);
    while (answer == 0)
        uv_run(&loop, UV_RUN_ONCE);
    uint64_t ns = now_ns() - t0;
    pool_stats st;
    pool_get_stats(pool_set_find(set, name), &st);
    *slices = st.scavenger_runs;
    if (answer - 1 != (uint64_t)blocks * size || st.backing_resident != 0)
        die("the forced scavenge did not release everything", -1);
    pool_client_free(c, 2);
    scavenger_stop(&d);
    uv_run(&loop, UV_RUN_DEFAULT);
    scavenger_release(&d);
    uv_loop_close(&loop);
    pool_set_free(set);
    policy_free(pol);
    return gib_per_s((uint64_t)blocks * size, ns);
}

static void release_rates(void)
{
    uint64_t slices_pool, slices_block;
    double raw_one = punch_rate(GiB, GiB);
    double raw_2m = punch_rate(GiB, 2 * MiB);
    double raw_64k = punch_rate(GiB, 64 * KiB);
    double pool_iso = scavenger_rate("pooliso", 1, GiB, &slices_pool);
    double block_iso = scavenger_rate("blockiso", 16, 64 * MiB, &slices_block);
    printf("release rate, 1 GiB of written memfd pages (best of 3 for the raw calls)\n");
    printf("  %-58s %7.2f GiB/s\n", "fallocate(PUNCH_HOLE), one call", raw_one);
    printf("  %-58s %7.2f GiB/s\n", "fallocate(PUNCH_HOLE), 2 MiB calls", raw_2m);
    printf("  %-58s %7.2f GiB/s\n", "fallocate(PUNCH_HOLE), 64 KiB calls", raw_64k);
    char label[96];
    snprintf(label, sizeof label, "scavenger, pool isolation, 1 GiB (%llu slices)",
             (unsigned long long)slices_pool);
    printf("  %-58s %7.2f GiB/s\n", label, pool_iso);
    snprintf(label, sizeof label, "scavenger, block isolation, 16 x 64 MiB (%llu slices)",
             (unsigned long long)slices_block);
    printf("  %-58s %7.2f GiB/s\n\n", label, block_iso);
}

/* ---- the daemon -------------------------------------------------------------- */

static bench_daemon mempoold;

static const char policy_rest[] =
    "scavenger: { interval: 10ms, idle: 0s, retain: 0B }\n"
    "pools:\n"
    "  - { name: small, reserve: 4GiB, limit: 1GiB, scavenger: { idle: 1h },\n"
    "      library: { client_cache: 0B } }\n"
    "  - { name: off, reserve: 8GiB, limit: 4GiB, scavenger: { idle: 1h, retain: 4GiB } }\n"
    "  - { name: paced, reserve: 8GiB, limit: 4GiB, scavenger: { cpu: 1% } }\n"
    "  - { name: busy, reserve: 8GiB, limit: 4GiB, scavenger: { cpu: 100% } }\n"
    "  - { name: hoard, reserve: 8GiB, limit: 4GiB, scavenger: { idle: 1h, retain: 4GiB } }\n";

static mempool_client *connect_daemon(void)
{
    mempool_client *c;
    int rc = mempool_connect(mempoold.socket, &c);
    if (rc != 0)
        die("connect", rc);
    return c;
}

/* Another client: 64 MiB blocks written and released, one every ~50 ms,
 * until killed, so the pool always has idle memory to give back. */
static pid_t start_churn(const char *pool)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    mempool_client *c = connect_daemon();
    for (;;) {
        mempool_block b;
        if (mempool_alloc(c, pool, 64 * MiB, 0, &b) != 0)
            _exit(1);
        memset(b.addr, 1, b.size);
        mempool_release(c, &b);
        usleep(50000);
    }
}

static void stop_churn(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- latency ------------------------------------------------------------------ */

static uint64_t one_cycle(mempool_client *c)
{
    mempool_block b;
    uint64_t t0 = now_ns();
    int rc = mempool_alloc(c, "small", 64 * KiB, 0, &b);
    if (rc != 0)
        die("alloc", rc);
    ((volatile char *)b.addr)[0] = 1;
    mempool_release(c, &b);
    return now_ns() - t0;
}

/* Cycles until `until` says stop (or n samples); returns the figures. */
typedef bool stop_fn(void *arg);

static bench_figure measure(mempool_client *c, int n, stop_fn *until, void *arg)
{
    uint64_t *ns = malloc((size_t)n * sizeof *ns);
    int i = 0;
    while (i < n && (until == NULL || !until(arg)))
        ns[i++] = one_cycle(c);
    bench_figure f = bench_summarize_us(ns, i);
    free(ns);
    return f;
}

static bench_figure latency_with_churn(mempool_client *c, const char *pool, int n)
{
    pid_t churn = start_churn(pool);
    usleep(300000);
    bench_figure f = measure(c, n, NULL, NULL);
    stop_churn(churn);
    return f;
}

static bool admin_answered(void *arg)
{
    char buf[4096];
    ssize_t n = recv(*(int *)arg, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* 2 GiB written and freed in a pool that keeps it, then the admin asks for
 * all of it back: cycles run until the answer comes, which takes
 * *seconds. */
static bench_figure latency_during_forced_scavenge(mempool_client *c, double *seconds)
{
    mempool_block b[32];
    for (int i = 0; i < 32; i++) {
        int rc = mempool_alloc(c, "hoard", 64 * MiB, 0, &b[i]);
        if (rc != 0)
            die("alloc hoard", rc);
        memset(b[i].addr, 1, b[i].size);
    }
    for (int i = 0; i < 32; i++)
        mempool_release(c, &b[i]);
    int fd = bench_admin_connect(&mempoold);
    static const char cmd[] = "scavenge hoard\n";
    if (write(fd, cmd, sizeof cmd - 1) != (ssize_t)(sizeof cmd - 1))
        die("admin write", 0);
    uint64_t start = now_ns();
    bench_figure f = measure(c, 1000000, admin_answered, &fd);
    *seconds = (double)(now_ns() - start) / 1e9;
    close(fd);
    return f;
}

static void latencies(bench_placement where, int n)
{
    mempool_client *c = connect_daemon();
    measure(c, 200, NULL, NULL); /* warm up: the pool's block, the backings */
    char title[160];
    snprintf(title, sizeof title, "client alloc + touch + release of 64 KiB, %s",
             bench_placement_name(where));
    bench_table t = { .title = title, .ratio_label = "p99 x idle", .ratio_of_p99 = true };
    int idle = bench_table_add(&t, "nothing else running", measure(c, n, NULL, NULL), -1);
    bench_table_add(&t, "another client churning, scavenger off for it",
                    latency_with_churn(c, "off", n), idle);
    bench_table_add(&t, "another client churning, scavenger paced at cpu 1%",
                    latency_with_churn(c, "paced", n), idle);
    bench_table_add(&t, "another client churning, scavenger paced at cpu 100%",
                    latency_with_churn(c, "busy", n), idle);
    double seconds;
    bench_table_add(&t, "during a forced scavenge of 2 GiB (admin scavenge)",
                    latency_during_forced_scavenge(c, &seconds), idle);
    bench_table_print(&t);
    printf("  the forced scavenge took %.2f s with the client running (%.0f MiB/s)\n\n",
           seconds, 2048.0 / seconds);
    mempool_disconnect(c);
}

/* ---- CPU share -------------------------------------------------------------------- */

/* A figure of `pool NAME`'s scavenger object: "KEY":NUMBER. */
static uint64_t scavenger_figure(const char *reply, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(reply, "\"scavenger\":");
    at = at != NULL ? strstr(at, pattern) : NULL;
    if (at == NULL)
        die(key, -1);
    return strtoull(at + strlen(pattern), NULL, 10);
}

typedef struct cpu_figures {
    uint64_t paced, forced, limit, daemon, released;
} cpu_figures;

static cpu_figures cpu_now(int fd)
{
    static char reply[1 << 16];
    bench_admin_ask(fd, "pool paced", reply, sizeof reply);
    const char *rel = strstr(reply, "\"released\":");
    return (cpu_figures){ .paced = scavenger_figure(reply, "paced_cpu_ns"),
                          .forced = scavenger_figure(reply, "forced_cpu_ns"),
                          .limit = scavenger_figure(reply, "limit_cpu_ns"),
                          .daemon = bench_daemon_cpu_ns(&mempoold),
                          .released = rel != NULL ? strtoull(rel + 11, NULL, 10) : 0 };
}

static void cpu_share(bench_placement where, int seconds)
{
    int fd = bench_admin_connect(&mempoold);
    pid_t churn = start_churn("paced");
    sleep(1);
    cpu_figures before = cpu_now(fd);
    uint64_t t0 = now_ns();
    sleep((unsigned)seconds);
    cpu_figures after = cpu_now(fd);
    double wall = (double)(now_ns() - t0);
    stop_churn(churn);
    close(fd);
    printf("scavenger under steady churn (64 MiB every ~50 ms) at cpu 1%%, %d s, %s\n", seconds,
           bench_placement_name(where));
    printf("  %-58s %8.3f %% of a CPU\n", "paced slices (target: at most 1%)",
           100.0 * (double)(after.paced - before.paced) / wall);
    printf("  %-58s %8.3f %% of a CPU\n", "forced slices (admin scavenge, memory pressure)",
           100.0 * (double)(after.forced - before.forced) / wall);
    printf("  %-58s %8.3f %% of a CPU\n", "memory-limit path (inside allocations)",
           100.0 * (double)(after.limit - before.limit) / wall);
    printf("  %-58s %8.3f %% of a CPU\n", "the whole daemon (serving the churn too)",
           100.0 * (double)(after.daemon - before.daemon) / wall);
    printf("  %-58s %8.2f GiB (%.0f MiB/s)\n\n", "released",
           (double)(after.released - before.released) / GiB,
           (double)(after.released - before.released) / MiB / (wall / 1e9));
}

static void run(bench_placement where, int seconds)
{
    int daemon_cpu, client_cpu;
    bench_placement_cpus(where, &daemon_cpu, &client_cpu);
    bench_pin(0, client_cpu);
    bench_daemon_start_on(&mempoold, policy_rest, daemon_cpu);
    latencies(where, 2000);
    cpu_share(where, seconds);
    bench_daemon_stop(&mempoold);
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 10;
    if (seconds <= 0) {
        fprintf(stderr, "usage: bench_scavenger [SECONDS]\n");
        return 64;
    }
    int a, b;
    bench_print_load();
    release_rates();
    run(BENCH_ONE_CPU, seconds);
    if (bench_cpus(2, &a, &b))
        run(BENCH_TWO_CPUS, seconds);
    else
        printf("%s: skipped: only one CPU allowed\n", bench_placement_name(BENCH_TWO_CPUS));
    return 0;
}
