/* Allocation latency through mempoold, side by side with doing it yourself
 * and with the floor, in one run on one machine:
 *
 *   mempoold   mempool_alloc + map + touch one page + mempool_release,
 *              64 KiB and 4 MiB blocks, cold (a fresh memfd each time)
 *              and warm (a warm block reused: zeroed, and dirty);
 *   diy        memfd_create + ftruncate + mmap + touch + munmap + close;
 *   floor      a one-byte request/reply over a SOCK_SEQPACKET socket whose
 *              reply also carries a memfd (SCM_RIGHTS) — the least any
 *              daemon that hands out memfds must pay.
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
#include "mempool.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    const char *name;
    double median_us, p99_us;
} result;

static result summarize(const char *name, uint64_t *ns, int n)
{
    qsort(ns, (size_t)n, sizeof *ns, compare_u64);
    return (result){ name, ns[n / 2] / 1000.0, ns[(n * 99) / 100] / 1000.0 };
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_alloc: %s: %s\n", what, rc < 0 ? mempool_strerror(rc) : strerror(errno));
    exit(1);
}

static bench_daemon mempoold;

/* ---- the three contenders ----------------------------------------------- */

/* A batch of n allocations held at once, then released: the first batch
 * finds nothing warm (cold), the next reuses the warm blocks (warm). */
static void mempoold_batch(mempool_client *c, size_t size, unsigned flags, int n, uint64_t *ns)
{
    mempool_block *b = calloc((size_t)n, sizeof *b);
    for (int i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        int rc = mempool_alloc(c, "bench", size, flags, &b[i]);
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
static void floor_rtt(int n, uint64_t *ns)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        die("socketpair", 0);
    pid_t pid = fork();
    if (pid == 0) {
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

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (n < 100)
        n = 100;
    uint64_t *ns = calloc((size_t)n, sizeof *ns);
    result r[16];
    int nr = 0;
    bench_daemon_start(&mempoold, "scavenger: { idle: 1h, retain: 2GiB }\n"
                                "pools:\n  - name: bench\n    reserve: 64GiB\n    limit: 8GiB\n");
    mempool_client *c;
    int rc = mempool_connect(mempoold.socket, &c);
    if (rc != 0)
        die("mempool_connect", rc);

    floor_rtt(n, ns);
    r[nr++] = summarize("floor: 1-byte RPC + memfd (SCM_RIGHTS)", ns, n);
    static const size_t sizes[] = { 64 * KiB, 4 * MiB };
    static const char *const names[][4] = {
        { "mempoold 64KiB cold", "mempoold 64KiB warm (zeroed)", "mempoold 64KiB warm (dirty)", "diy memfd 64KiB" },
        { "mempoold 4MiB cold", "mempoold 4MiB warm (zeroed)", "mempoold 4MiB warm (dirty)", "diy memfd 4MiB" },
    };
    for (int s = 0; s < 2; s++) {
        int batch = sizes[s] >= MiB ? (n < 1000 ? n : 1000) : n; /* 4 GiB at most */
        mempoold_batch(c, sizes[s], MEMPOOL_ALLOC_DIRTY, batch, ns);
        r[nr++] = summarize(names[s][0], ns, batch);
        mempoold_batch(c, sizes[s], 0, batch, ns);
        r[nr++] = summarize(names[s][1], ns, batch);
        mempoold_batch(c, sizes[s], MEMPOOL_ALLOC_DIRTY, batch, ns);
        r[nr++] = summarize(names[s][2], ns, batch);
        diy(sizes[s], n, ns);
        r[nr++] = summarize(names[s][3], ns, n);
    }
    mempool_disconnect(c);
    bench_daemon_stop(&mempoold);

    printf("%-42s %12s %12s %14s\n", "operation (alloc+map+touch+release)", "median us", "p99 us",
           "x floor (med)");
    for (int i = 0; i < nr; i++)
        printf("%-42s %12.2f %12.2f %14.2f\n", r[i].name, r[i].median_us, r[i].p99_us,
               r[i].median_us / r[0].median_us);
    free(ns);
    return 0;
}
