/* Named blocks across two processes (issue 14), next to the plain way: a
 * handle from mempool_share written to a pipe.
 *
 * Table 1, one block from a producer to a consumer, the producer's clock
 * around the whole exchange (the consumer acknowledges over a pipe once it
 * has attached and released):
 *   - pipe:  share, write the handle; the consumer reads it and attaches;
 *   - name:  publish (replacing), write a byte; the consumer looks up and
 *            attaches (two calls), or attach_name (one call).
 * Table 2, wake-up latency: the consumer is already waiting, in read() on
 * the pipe or in mempool_attach_name(..., -1) in the daemon; the time from
 * the producer's share (or publish) to the consumer holding the mapped
 * block, both sides reading CLOCK_MONOTONIC.
 *
 * Usage: bench_names [N]   exchanges per row (default 2000; the wake-up
 * rows take N/4, each after a pause that lets the consumer settle). Runs
 * with the daemon, producer and consumer on one CPU, then the daemon on
 * one and both clients on the other. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "bench_util.h"
#include "mempool.h"

#define BLOCK_SIZE (64u * 1024u)
#define SETTLE_NS 2000000L /* the wake-up rows' pause before publishing */

static const char policy_rest[] =
    "pools:\n"
    "  - { name: bench, reserve: 4GiB, limit: 1GiB, quota: 1GiB }\n";

static bench_daemon mempoold;

typedef enum mode { BY_PIPE, BY_LOOKUP, BY_ATTACH_NAME } mode;

/* The pipes between producer and consumer. */
typedef struct pipes {
    int to_consumer[2], to_producer[2];
} pipes;

static void put(int fd, const void *buf, size_t len)
{
    if (write(fd, buf, len) != (ssize_t)len)
        bench_die("write to the pipe", 0);
}

static int get(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* ---- the consumer: a forked process of its own --------------------------- */

static void consumer_take(mempool_client *c, mode m, const mempool_handle *h, int timeout_ms)
{
    mempool_block b;
    mempool_handle found;
    int rc;
    if (m == BY_PIPE)
        rc = mempool_attach(c, h, &b);
    else if (m == BY_LOOKUP)
        rc = (rc = mempool_lookup(c, "bench", "frame", timeout_ms, &found)) != 0
                 ? rc
                 : mempool_attach(c, &found, &b);
    else
        rc = mempool_attach_name(c, "bench", "frame", timeout_ms, &b);
    if (rc != 0)
        bench_die("consumer: attach", rc);
    if (((volatile char *)b.addr)[0] != 'p')
        bench_die("consumer: the block does not hold the producer's byte", -1);
    mempool_release(c, &b);
}

/* Per exchange: (the handle | a byte), take it, acknowledge. When
 * `waiting`, it waits for the producer's go (the last name is gone), says
 * it is ready, then waits for the block (read() or a waiting lookup) and
 * answers with the time it held it. */
static _Noreturn void consumer(pipes *l, mode m, int n, bool waiting, int cpu)
{
    close(l->to_consumer[1]);
    close(l->to_producer[0]);
    bench_pin(0, cpu);
    mempool_client *c;
    int rc = mempool_connect(mempoold.socket, &c);
    if (rc != 0)
        bench_die("consumer: connect", rc);
    for (int i = 0; i < n; i++) {
        mempool_handle h;
        char go;
        if (waiting && get(l->to_consumer[0], &go, 1) != 0)
            bench_die("consumer: the producer went away", 0);
        if (waiting)
            put(l->to_producer[1], "r", 1);
        if ((m == BY_PIPE || !waiting) &&
            get(l->to_consumer[0], m == BY_PIPE ? (void *)&h : (void *)h.bytes,
                m == BY_PIPE ? sizeof h : 1) != 0)
            bench_die("consumer: the producer went away", 0);
        consumer_take(c, m, &h, waiting ? -1 : 0);
        uint64_t held = bench_now_ns();
        put(l->to_producer[1], &held, sizeof held);
    }
    mempool_disconnect(c);
    _exit(0);
}

/* ---- the producer: this process ------------------------------------------- */

static void producer_give(mempool_client *c, mode m, const mempool_block *b, int fd)
{
    int rc;
    if (m == BY_PIPE) {
        mempool_handle h;
        if ((rc = mempool_share(c, b, MEMPOOL_READ, &h)) != 0)
            bench_die("share", rc);
        put(fd, &h, sizeof h);
        return;
    }
    rc = mempool_publish(c, b, "frame", MEMPOOL_READ | MEMPOOL_PUBLISH_REPLACE);
    if (rc != 0)
        bench_die("publish", rc);
}

/* One row: n exchanges; ns[i] is the round (waiting: the wake-up). */
static void exchange(mode m, int n, bool waiting, int client_cpu, uint64_t *ns)
{
    pipes l;
    if (pipe(l.to_consumer) != 0 || pipe(l.to_producer) != 0)
        bench_die("pipe", 0);
    mempool_client *c;
    mempool_block b;
    int rc = mempool_connect(mempoold.socket, &c);
    if (rc != 0 || (rc = mempool_alloc(c, "bench", BLOCK_SIZE, 0, &b)) != 0)
        bench_die("producer: connect and alloc", rc);
    ((char *)b.addr)[0] = 'p';
    pid_t pid = fork();
    if (pid == 0)
        consumer(&l, m, n, waiting, client_cpu);
    close(l.to_consumer[0]);
    close(l.to_producer[1]);
    for (int i = 0; i < n; i++) {
        char ready;
        uint64_t held;
        if (waiting) {
            put(l.to_consumer[1], "g", 1);
            if (get(l.to_producer[0], &ready, 1) != 0)
                bench_die("the consumer went away", 0);
            nanosleep(&(struct timespec){ 0, SETTLE_NS }, NULL);
        }
        uint64_t t0 = bench_now_ns();
        producer_give(c, m, &b, l.to_consumer[1]);
        if (m != BY_PIPE && !waiting)
            put(l.to_consumer[1], "g", 1);
        if (get(l.to_producer[0], &held, sizeof held) != 0)
            bench_die("the consumer went away", 0);
        ns[i] = waiting ? held - t0 : bench_now_ns() - t0;
        /* The next waiting lookup must find the name gone. */
        if (waiting && m != BY_PIPE && (rc = mempool_unpublish(c, "bench", "frame")) != 0)
            bench_die("unpublish", rc);
    }
    waitpid(pid, NULL, 0);
    close(l.to_consumer[1]);
    close(l.to_producer[0]);
    mempool_disconnect(c);
}

static void run(bench_placement where, int n, uint64_t *ns)
{
    int daemon_cpu, client_cpu;
    bench_placement_cpus(where, &daemon_cpu, &client_cpu);
    bench_pin(0, client_cpu);
    bench_daemon_start_on(&mempoold, policy_rest, daemon_cpu);
    char title[160];
    snprintf(title, sizeof title,
             "one 64KiB block, producer -> consumer process (round trip), %s",
             bench_placement_name(where));
    bench_table t = { .title = title, .ratio_label = "x pipe (med)" };
    exchange(BY_PIPE, n, false, client_cpu, ns);
    int ref = bench_table_add(&t, "pipe: share + handle over a pipe + attach",
                              bench_summarize_us(ns, n), -1);
    exchange(BY_LOOKUP, n, false, client_cpu, ns);
    bench_table_add(&t, "name: publish + lookup + attach", bench_summarize_us(ns, n), ref);
    exchange(BY_ATTACH_NAME, n, false, client_cpu, ns);
    bench_table_add(&t, "name: publish + attach_name", bench_summarize_us(ns, n), ref);
    bench_table_print(&t);

    int w = n / 4 > 50 ? n / 4 : 50;
    snprintf(title, sizeof title, "wake-up: give -> the waiting consumer holds the block, %s",
             bench_placement_name(where));
    bench_table wake = { .title = title, .ratio_label = "x pipe (med)" };
    exchange(BY_PIPE, w, true, client_cpu, ns);
    ref = bench_table_add(&wake, "pipe: blocked in read(), share + write -> attach",
                          bench_summarize_us(ns, w), -1);
    exchange(BY_ATTACH_NAME, w, true, client_cpu, ns);
    bench_table_add(&wake, "name: waiting in attach_name(-1), publish", bench_summarize_us(ns, w),
                    ref);
    bench_table_print(&wake);
    bench_daemon_stop(&mempoold);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (n < 100)
        n = 100;
    uint64_t *ns = calloc((size_t)n, sizeof *ns);
    int a, b;
    signal(SIGPIPE, SIG_IGN);
    bench_print_load();
    run(BENCH_ONE_CPU, n, ns);
    if (bench_cpus(2, &a, &b))
        run(BENCH_TWO_CPUS, n, ns);
    else
        printf("%s: skipped: only one CPU allowed\n", bench_placement_name(BENCH_TWO_CPUS));
    free(ns);
    return 0;
}
