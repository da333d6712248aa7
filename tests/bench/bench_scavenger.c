/* The scavenger's costs, in one run on one machine (issue 5):
 *
 *   release rate   GiB/s given back to the OS: the scavenger (the real
 *                  driver on a libuv loop, forced, in its 1 ms slices) next
 *                  to raw fallocate(PUNCH_HOLE) on the same kind of memory
 *                  (1 GiB of memfd pages, written first);
 *   latency        a client's allocate + touch + release of 64 KiB, median
 *                  and p99, against a real mempoold: with nothing else going
 *                  on, with another client churning 64 MiB blocks while the
 *                  scavenger is off for them, while it gives them back at
 *                  1% and at 100% of a core, and during a forced scavenge of
 *                  2 GiB (the admin `scavenge`);
 *   CPU share      the scavenger's CPU time (scavenger_cpu_ns) over a run of
 *                  steady churn, against its `cpu` setting.
 *
 * Usage: bench_scavenger [SECONDS]   the CPU-share run (default 60).
 * Starts its own mempoold (MEMPOOLD_PATH) on a temporary socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "bench_daemon.h"
#include "mempool.h"
#include "policy.h"
#include "pool.h"
#include "scavenger.h"

#define KiB (1024ULL)
#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_scavenger: %s: %s\n", what,
            rc < 0 ? mempool_strerror(rc) : strerror(errno));
    exit(1);
}

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
    "  - { name: small, reserve: 4GiB, limit: 1GiB, scavenger: { idle: 1h } }\n"
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

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct latency {
    double median_us, p99_us;
    int samples;
} latency;

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

static latency measure(mempool_client *c, int n, stop_fn *until, void *arg)
{
    uint64_t *ns = malloc((size_t)n * sizeof *ns);
    int i = 0;
    while (i < n && (until == NULL || !until(arg)))
        ns[i++] = one_cycle(c);
    qsort(ns, (size_t)i, sizeof *ns, compare_u64);
    latency l = { ns[i / 2] / 1000.0, ns[(i * 99) / 100] / 1000.0, i };
    free(ns);
    return l;
}

static void print_latency(const char *what, latency l)
{
    printf("  %-58s %8.1f %8.1f %7d\n", what, l.median_us, l.p99_us, l.samples);
}

static latency latency_with_churn(mempool_client *c, const char *pool, int n)
{
    pid_t churn = start_churn(pool);
    usleep(300000);
    latency l = measure(c, n, NULL, NULL);
    stop_churn(churn);
    return l;
}

static int admin_connect(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(mempoold.admin_socket) >= sizeof sa.sun_path)
        die("admin socket path too long", -1);
    memcpy(sa.sun_path, mempoold.admin_socket, strlen(mempoold.admin_socket) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("admin socket", 0);
    return fd;
}

static bool admin_answered(void *arg)
{
    char buf[4096];
    ssize_t n = recv(*(int *)arg, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* 2 GiB written and freed in a pool that keeps it, then the admin asks for
 * all of it back: cycles run until the answer comes. */
static latency latency_during_forced_scavenge(mempool_client *c)
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
    int fd = admin_connect();
    static const char cmd[] = "scavenge hoard\n";
    if (write(fd, cmd, sizeof cmd - 1) != (ssize_t)(sizeof cmd - 1))
        die("admin write", 0);
    latency l = measure(c, 1000000, admin_answered, &fd);
    close(fd);
    return l;
}

static void latencies(int n)
{
    mempool_client *c = connect_daemon();
    measure(c, 200, NULL, NULL); /* warm up: the pool's block, the backings */
    printf("client alloc + touch + release of 64 KiB            median us   p99 us samples\n");
    print_latency("nothing else running", measure(c, n, NULL, NULL));
    print_latency("another client churning, scavenger off for it",
                  latency_with_churn(c, "off", n));
    print_latency("another client churning, scavenger at cpu 1%",
                  latency_with_churn(c, "paced", n));
    print_latency("another client churning, scavenger at cpu 100%",
                  latency_with_churn(c, "busy", n));
    print_latency("during a forced scavenge of 2 GiB (admin scavenge)",
                  latency_during_forced_scavenge(c));
    printf("\n");
    mempool_disconnect(c);
}

/* ---- CPU share -------------------------------------------------------------------- */

static void cpu_share(int seconds)
{
    mempool_client *c = connect_daemon();
    mempool_info before, after;
    pid_t churn = start_churn("paced");
    sleep(1);
    if (mempool_pool_info(c, "paced", &before) != 0)
        die("pool info", 0);
    uint64_t t0 = now_ns();
    sleep((unsigned)seconds);
    if (mempool_pool_info(c, "paced", &after) != 0)
        die("pool info", 0);
    uint64_t wall = now_ns() - t0;
    stop_churn(churn);
    double share = 100.0 * (double)(after.scavenger_cpu_ns - before.scavenger_cpu_ns) / wall;
    uint64_t released = after.released - before.released;
    printf("scavenger under steady churn (64 MiB every ~50 ms), %d s\n", seconds);
    printf("  %-58s %7.2f %%\n", "cpu setting", 1.0);
    printf("  %-58s %7.3f %%\n", "CPU used (scavenger_cpu_ns / wall time)", share);
    printf("  %-58s %7.2f GiB (%.0f MiB/s)\n", "released", (double)released / GiB,
           (double)released / MiB / (wall / 1e9));
    printf("  %-58s %7llu\n", "slices", (unsigned long long)(after.scavenger_runs - before.scavenger_runs));
    mempool_disconnect(c);
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 60;
    if (seconds <= 0) {
        fprintf(stderr, "usage: bench_scavenger [SECONDS]\n");
        return 64;
    }
    release_rates();
    bench_daemon_start(&mempoold, policy_rest);
    latencies(2000);
    cpu_share(seconds);
    bench_daemon_stop(&mempoold);
    return 0;
}
