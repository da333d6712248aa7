/* Allocation latency through mempoold, side by side with doing it yourself,
 * with the floor and with iceoryx, in one run on one machine, first with
 * the daemon and this client pinned to one CPU, then on two CPUs:
 *
 *   mempoold   mempool_alloc + map + touch one page + mempool_release,
 *              64 KiB and 4 MiB blocks, cold (a fresh memfd each time)
 *              and warm (a warm block reused: zeroed, and dirty);
 *   diy        memfd_create + ftruncate + mmap + touch + munmap + close;
 *   floor      a one-byte request/reply over a SOCK_SEQPACKET socket whose
 *              reply also carries a memfd (SCM_RIGHTS) — the least any
 *              daemon that hands out memfds must pay;
 *   iceoryx    loan + touch + release of a 64 KiB chunk (when installed).
 *
 * The last column is the median over the row's reference: the floor for
 * 64 KiB, doing it yourself for 4 MiB.
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
#include <sys/socket.h>
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

/* ---- the three contenders ----------------------------------------------- */

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
        ((volatile char *)b[i].addr)[0] = 1;
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
        ((volatile char *)p)[0] = 1;
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

/* The floor: a server process answering each one-byte request with a
 * one-byte reply that carries a memfd. */
static void floor_rtt(int n, int server_cpu, uint64_t *ns)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        die("socketpair", 0);
    pid_t pid = fork();
    if (pid == 0) {
        bench_pin(0, server_cpu);
        close(sv[0]);
        int memfd = memfd_create("floor", MFD_CLOEXEC);
        char byte;
        while (recv(sv[1], &byte, 1, 0) == 1)
            send_with_fd(sv[1], memfd);
        _exit(0);
    }
    close(sv[1]);
    for (int i = 0; i < n; i++) {
        char byte = 1;
        uint64_t t0 = now_ns();
        if (send(sv[0], &byte, 1, 0) != 1)
            die("send", 0);
        close(recv_fd(sv[0]));
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

static const char policy_rest[] = "scavenger: { idle: 1h, retain: 2GiB }\n"
                                  "pools:\n  - name: bench\n    reserve: 64GiB\n    limit: 8GiB\n"
                                  "  - name: bench_uid\n    reserve: 64GiB\n    limit: 8GiB\n"
                                  "    isolation: uid\n";

/* cold, warm zeroed, warm dirty: in block isolation, then uid isolation. */
static void mempoold_rows(bench_table *t, mempool_client *c, size_t size, int batch, int ref,
                          const char *const names[6], uint64_t *ns)
{
    static const char *const pools[2] = { "bench", "bench_uid" };
    static const unsigned flags[3] = { MEMPOOL_ALLOC_DIRTY, 0, MEMPOOL_ALLOC_DIRTY };
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 3; k++) {
            mempoold_batch(c, pools[p], size, flags[k], batch, ns);
            bench_table_add(t, names[p * 3 + k], bench_summarize_us(ns, batch), ref);
        }
}

static void run(bench_placement where, int n, uint64_t *ns)
{
    int daemon_cpu, client_cpu;
    bench_placement_cpus(where, &daemon_cpu, &client_cpu);
    bench_pin(0, client_cpu);
    char title[160];
    snprintf(title, sizeof title, "allocation: alloc + map + touch + release, %s",
             bench_placement_name(where));
    bench_table t = { .title = title, .ratio_label = "x ref (med)" };
    bench_daemon_start_on(&mempoold, policy_rest, daemon_cpu);
    mempool_client *c;
    int rc = mempool_connect(mempoold.socket, &c);
    if (rc != 0)
        die("mempool_connect", rc);
    /* The floor's server runs where the daemon does. */
    floor_rtt(n, daemon_cpu, ns);
    int floor = bench_table_add(&t, "floor: 1-byte RPC + memfd (SCM_RIGHTS)",
                                bench_summarize_us(ns, n), -1);
    static const size_t sizes[] = { 64 * KiB, 4 * MiB };
    static const char *const names[][7] = {
        { "mempoold 64KiB cold", "mempoold 64KiB warm (zeroed)", "mempoold 64KiB warm (dirty)",
          "mempoold uid 64KiB cold", "mempoold uid 64KiB warm (zeroed)",
          "mempoold uid 64KiB warm (dirty)", "diy memfd 64KiB" },
        { "mempoold 4MiB cold", "mempoold 4MiB warm (zeroed)", "mempoold 4MiB warm (dirty)",
          "mempoold uid 4MiB cold", "mempoold uid 4MiB warm (zeroed)",
          "mempoold uid 4MiB warm (dirty)", "diy memfd 4MiB" },
    };
    for (int s = 0; s < 2; s++) {
        int batch = sizes[s] >= MiB ? (n < 1000 ? n : 1000) : n; /* 4 GiB at most */
        diy(sizes[s], n, ns);
        int diy_row = bench_table_add(&t, names[s][6], bench_summarize_us(ns, n), floor);
        mempoold_rows(&t, c, sizes[s], batch, s == 0 ? floor : diy_row, names[s], ns);
    }
    mempool_disconnect(c);
    bench_daemon_stop(&mempoold);
    iceoryx_row(&t, n, client_cpu, ns);
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
