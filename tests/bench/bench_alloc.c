/* Allocation latency through mempoold, side by side with doing it yourself,
 * with the floor and with iceoryx, in one run on one machine, first with
 * the daemon and this client pinned to one CPU, then on two CPUs. Every
 * row writes every page of its block (one byte a page):
 *
 *   floor      a one-byte request/reply over a SOCK_SEQPACKET socket whose
 *              reply also carries a memfd (SCM_RIGHTS), then mmap + write
 *              every page + munmap + close: the least any daemon that
 *              hands out memfds must pay;
 *   diy        memfd_create + ftruncate + mmap + write + munmap + close;
 *   mempoold   alloc + write + release, one block at a time (the steady
 *              state of a program that reuses buffers), in pools with
 *              `client_cache: 0B` (kept mappings on: every alloc is a
 *              round trip, the warm block comes back mapped), with
 *              everything off (`kept_mappings: 0` too), warm reuse dirty
 *              and zeroed, and cross-uid (the warm blocks are another
 *              uid's, so a fresh backing: as cold);
 *   cache hit  alloc + release served by the client cache, no message
 *              (averaged over runs of 100, the clock costs more than one);
 *   uid        `isolation: uid`, cold and warm, batches held at once;
 *   iceoryx    loan + touch + release of a 64 KiB chunk (when installed).
 *
 * The last column is the median over the row's reference: the floor for
 * 64 KiB (for a fresh backing, cold or cross-uid, the floor with a new
 * memfd each time), doing it yourself for 4 MiB, iceoryx for the cache
 * hits.
 *
 * Usage: bench_alloc [ITERATIONS]   (default 2000). Starts its own
 * mempoold (MEMPOOLD_PATH) on a temporary socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pwd.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "bench_iceoryx.h"
#include "bench_util.h"
#include "mempool.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static uint64_t now_ns(void) { return bench_now_ns(); }

static void die(const char *what, int rc) { bench_die(what, rc); }

static bench_daemon mempoold;

/* ---- the contenders --------------------------------------------------------- */

/* Writes one byte in every page: what a program filling a buffer pays in
 * page faults, without the cost of filling it. */
static void touch_pages(void *addr, size_t size)
{
    for (size_t off = 0; off < size; off += 4096)
        ((volatile char *)addr)[off] = 1;
}

/* One block at a time: alloc + write every page + release, after a few
 * rounds to warm up (the first takes a fresh backing). */
static void mempoold_loop(mempool_client *c, const char *pool, size_t size, unsigned flags,
                          int n, uint64_t *ns)
{
    mempool_block b;
    for (int i = -8; i < n; i++) {
        uint64_t t0 = now_ns();
        int rc = mempool_alloc(c, pool, size, flags, &b);
        if (rc != 0)
            die("mempool_alloc", rc);
        touch_pages(b.addr, b.size);
        if ((rc = mempool_release(c, &b)) != 0)
            die("mempool_release", rc);
        if (i >= 0)
            ns[i] = now_ns() - t0;
    }
}

/* Cache hits: alloc + release with nothing between, timed over runs of
 * 100 and divided: one clock read costs about as much as a hit. */
#define HITS_PER_SAMPLE 100
static void cache_hits(mempool_client *c, const char *pool, size_t size, unsigned flags, int n,
                       uint64_t *ns)
{
    mempool_block b;
    for (int i = -1; i < n; i++) {
        uint64_t t0 = now_ns();
        for (int k = 0; k < HITS_PER_SAMPLE; k++) {
            int rc = mempool_alloc(c, pool, size, flags, &b);
            if (rc != 0 || (rc = mempool_release(c, &b)) != 0)
                die("cache hit", rc);
        }
        if (i >= 0)
            ns[i] = (now_ns() - t0) / HITS_PER_SAMPLE;
    }
}

/* A batch of n allocations held at once, then released: the first batch
 * finds nothing warm (cold), the next reuses the warm blocks (warm). */
static void mempoold_batch(mempool_client *c, const char *pool, size_t size, unsigned flags,
                           int n, uint64_t *ns)
{
    mempool_block *b = calloc((size_t)n, sizeof *b);
    for (int i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        int rc = mempool_alloc(c, pool, size, flags, &b[i]);
        if (rc != 0)
            die("mempool_alloc", rc);
        touch_pages(b[i].addr, b[i].size);
        ns[i] = now_ns() - t0;
    }
    for (int i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        int rc = mempool_release(c, &b[i]);
        if (rc != 0)
            die("mempool_release", rc);
        ns[i] += now_ns() - t0;
    }
    free(b);
}

static void diy(size_t size, int n, uint64_t *ns)
{
    for (int i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        int fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
            die("memfd", 0);
        char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            die("mmap", 0);
        touch_pages(p, size);
        munmap(p, size);
        close(fd);
        ns[i] = now_ns() - t0;
    }
}

static void send_with_fd(int sock, int fd)
{
    char byte = 1;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { &byte, 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(sock, &msg, 0) != 1)
        die("sendmsg", 0);
}

static int recv_fd(int sock)
{
    char byte;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { &byte, 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof ctl.buf };
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
        die("recvmsg", 0);
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof fd);
    return fd;
}

static int floor_memfd(size_t size)
{
    int memfd = memfd_create("floor", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, (off_t)size) != 0)
        _exit(1);
    return memfd;
}

/* The floor: a server process answering each one-byte request with a
 * one-byte reply that carries a memfd: the same one every time, whose
 * pages stay in the page cache (what any reuse can reach), or with
 * `fresh`, a new one each time, whose pages the client's writes must
 * allocate (what a fresh backing, cold or after another uid, must pay). */
static void floor_rtt(int n, int server_cpu, size_t size, bool fresh, uint64_t *ns)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        die("socketpair", 0);
    pid_t pid = fork();
    if (pid == 0) {
        bench_pin(0, server_cpu);
        close(sv[0]);
        int memfd = fresh ? -1 : floor_memfd(size);
        char byte;
        while (recv(sv[1], &byte, 1, 0) == 1) {
            int fd = fresh ? floor_memfd(size) : memfd;
            send_with_fd(sv[1], fd);
            if (fresh)
                close(fd);
        }
        _exit(0);
    }
    close(sv[1]);
    for (int i = 0; i < n; i++) {
        char byte = 1;
        uint64_t t0 = now_ns();
        if (send(sv[0], &byte, 1, 0) != 1)
            die("send", 0);
        int fd = recv_fd(sv[0]);
        char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            die("mmap", 0);
        touch_pages(p, size);
        munmap(p, size);
        close(fd);
        ns[i] = now_ns() - t0;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
}


/* iceoryx's loan + release of a 64 KiB chunk, or why not. */
static void iceoryx_row(bench_table *t, int n, int cpu, uint64_t *ns)
{
    char why[160];
    static const char name[] = "iceoryx 2 loan + touch + release 64KiB";
    if (bench_iceoryx_loan_release(64 * KiB, n, cpu, ns, why, sizeof why) == 0)
        bench_table_add(t, name, bench_summarize_us(ns, n), -1);
    else
        bench_table_note(t, name, why);
}

static const char policy_rest[] =
    "scavenger: { idle: 1h, retain: 2GiB }\n"
    "pools:\n"
    "  - name: kept\n    reserve: 64GiB\n    limit: 8GiB\n"
    "    library: { client_cache: 0B }\n"
    "  - name: off\n    reserve: 64GiB\n    limit: 8GiB\n"
    "    library: { client_cache: 0B, kept_mappings: 0 }\n"
    "  - name: cross\n    reserve: 64GiB\n    limit: 8GiB\n"
    "    library: { client_cache: 0B }\n"
    "  - name: cached\n    reserve: 64GiB\n    limit: 8GiB\n"
    "  - name: bench_uid\n    reserve: 64GiB\n    limit: 8GiB\n"
    "    isolation: uid\n";

/* cold, warm zeroed, warm dirty, in uid isolation: batches held at once. */
static void uid_rows(bench_table *t, mempool_client *c, size_t size, int batch, int ref,
                     const char *const names[3], uint64_t *ns)
{
    static const unsigned flags[3] = { MEMPOOL_ALLOC_DIRTY, 0, MEMPOOL_ALLOC_DIRTY };
    for (int k = 0; k < 3; k++) {
        mempoold_batch(c, "bench_uid", size, flags[k], batch, ns);
        bench_table_add(t, names[k], bench_summarize_us(ns, batch), ref);
    }
}

/* Warm blocks of `size` that uid nobody held: `count` of them, allocated
 * and released by a child that became nobody. false when this is not root. */
static bool warm_as_nobody(const char *pool, size_t size, int count)
{
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL || geteuid() != 0)
        return false;
    chmod(mempoold.dir, 0755);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(1);
        mempool_client *c;
        if (mempool_connect(mempoold.socket, &c) != 0)
            _exit(2);
        mempool_block *b = calloc((size_t)count, sizeof *b);
        for (int i = 0; i < count; i++)
            if (mempool_alloc(c, pool, size, 0, &b[i]) != 0)
                _exit(3);
        for (int i = 0; i < count; i++)
            touch_pages(b[i].addr, b[i].size);
        for (int i = 0; i < count; i++)
            mempool_release(c, &b[i]);
        mempool_disconnect(c);
        _exit(0);
    }
    int status;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void cross_uid_row(bench_table *t, mempool_client *c, const char *name, size_t size,
                          int batch, int ref, uint64_t *ns)
{
    /* A pool of its own: this process must have no warm block there. */
    if (!warm_as_nobody("cross", size, batch)) {
        bench_table_note(t, name, "skipped: needs root (to be nobody)");
        return;
    }
    mempoold_batch(c, "cross", size, 0, batch, ns);
    mempool_trim(c);
    bench_table_add(t, name, bench_summarize_us(ns, batch), ref);
}

/* One size: the floor, doing it yourself, then mempoold; returns the
 * row the size's ratios are taken against. */
static int size_rows(bench_table *t, mempool_client *c, size_t size, int n, int daemon_cpu,
                      uint64_t *ns)
{
    char name[72], label[16];
    int batch = size >= MiB ? 64 : n; /* every page written: 256 MiB at most */
    int loops = size >= MiB ? n / 4 : n;
    snprintf(label, sizeof label, size >= MiB ? "%zuMiB" : "%zuKiB",
             size >= MiB ? size / MiB : size / KiB);
    /* The floor's server runs where the daemon does. */
    floor_rtt(n, daemon_cpu, size, false, ns);
    snprintf(name, sizeof name, "floor %s: RPC + memfd, map + write + unmap", label);
    int floor = bench_table_add(t, name, bench_summarize_us(ns, n), -1);
    floor_rtt(n, daemon_cpu, size, true, ns);
    snprintf(name, sizeof name, "floor %s, a new memfd each time", label);
    int fresh_floor = bench_table_add(t, name, bench_summarize_us(ns, n), floor);
    diy(size, n, ns);
    snprintf(name, sizeof name, "diy memfd %s", label);
    int diy_row = bench_table_add(t, name, bench_summarize_us(ns, n), floor);
    int ref = size >= MiB ? diy_row : floor, fresh_ref = size >= MiB ? diy_row : fresh_floor;
    mempoold_batch(c, "kept", size, MEMPOOL_ALLOC_DIRTY, batch, ns);
    snprintf(name, sizeof name, "mempoold %s cold (fresh backing)", label);
    bench_table_add(t, name, bench_summarize_us(ns, batch), fresh_ref);
    static const struct { const char *pool, *what; unsigned flags; } warm[] = {
        { "kept", "client_cache 0B, warm dirty", MEMPOOL_ALLOC_DIRTY },
        { "kept", "client_cache 0B, warm zeroed", 0 },
        { "off", "everything off, warm dirty", MEMPOOL_ALLOC_DIRTY },
        { "off", "everything off, warm zeroed", 0 },
    };
    for (size_t i = 0; i < sizeof warm / sizeof warm[0]; i++) {
        mempoold_loop(c, warm[i].pool, size, warm[i].flags, loops, ns);
        snprintf(name, sizeof name, "mempoold %s %s", label, warm[i].what);
        bench_table_add(t, name, bench_summarize_us(ns, loops), ref);
    }
    snprintf(name, sizeof name, "mempoold %s cross-uid (zeroed, fresh backing)", label);
    cross_uid_row(t, c, name, size, size >= MiB ? 64 : batch, fresh_ref, ns);
    return ref;
}

static void run(bench_placement where, int n, uint64_t *ns)
{
    int daemon_cpu, client_cpu;
    bench_placement_cpus(where, &daemon_cpu, &client_cpu);
    bench_pin(0, client_cpu);
    char title[160];
    snprintf(title, sizeof title, "allocation: alloc + write every page + release, %s",
             bench_placement_name(where));
    bench_table t = { .title = title, .ratio_label = "x ref (med)" };
    bench_daemon_start_on(&mempoold, policy_rest, daemon_cpu);
    mempool_client *c;
    int rc = mempool_connect(mempoold.socket, &c);
    if (rc != 0)
        die("mempool_connect", rc);
    int ref64 = size_rows(&t, c, 64 * KiB, n, daemon_cpu, ns);
    int ref4 = size_rows(&t, c, 4 * MiB, n, daemon_cpu, ns);
    static const char *const uid_names[][3] = {
        { "mempoold uid 64KiB cold", "mempoold uid 64KiB warm (zeroed)",
          "mempoold uid 64KiB warm (dirty)" },
        { "mempoold uid 4MiB cold", "mempoold uid 4MiB warm (zeroed)",
          "mempoold uid 4MiB warm (dirty)" },
    };
    uid_rows(&t, c, 64 * KiB, n, ref64, uid_names[0], ns);
    uid_rows(&t, c, 4 * MiB, 64, ref4, uid_names[1], ns);
    int ice = t.n;
    iceoryx_row(&t, n, client_cpu, ns);
    if (t.rows[ice].note != NULL)
        ice = -1;
    cache_hits(c, "cached", 64 * KiB, MEMPOOL_ALLOC_DIRTY, n, ns);
    bench_table_add(&t, "cache hit 64KiB alloc + release (dirty)", bench_summarize_us(ns, n), ice);
    cache_hits(c, "cached", 64 * KiB, 0, n, ns);
    bench_table_add(&t, "cache hit 64KiB alloc + release (zeroed)", bench_summarize_us(ns, n),
                    ice);
    mempool_disconnect(c);
    bench_daemon_stop(&mempoold);
    bench_table_print(&t);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (n < 100)
        n = 100;
    uint64_t *ns = calloc((size_t)n, sizeof *ns);
    int a, b;
    bench_print_load();
    run(BENCH_ONE_CPU, n, ns);
    if (bench_cpus(2, &a, &b))
        run(BENCH_TWO_CPUS, n, ns);
    else
        printf("%s: skipped: only one CPU allowed\n", bench_placement_name(BENCH_TWO_CPUS));
    free(ns);
    return 0;
}
