/* What the daemon's figures cost it as blocks pile up (issue 16, item 5):
 * the daemon's own CPU time per admin `stats`, `pools`, `pool NAME` and
 * `metrics`, and per client mempool_pool_info, with 1, 1,000 and 5,000
 * blocks held in a block-isolation pool (a memfd each). The CPU is the
 * daemon's scheduler runtime (/proc/PID/task/TID/schedstat) around many
 * calls, divided by the calls; the reply's round trip as the caller sees it
 * is next to it. Target: at most 1 ms of daemon CPU per `stats` at 5,000
 * blocks.
 *
 * Usage: bench_admin [CALLS]   calls per row (default 200). Runs once with
 * the daemon and this client on one CPU, then on two. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "bench_util.h"
#include "mempool.h"

#define BLOCK_SIZE (16u * 1024u)
#define MAX_HELD 5000

static const char policy_rest[] =
    "scavenger: { idle: 1h, retain: 1GiB }\n"
    "pools:\n"
    "  - { name: held, reserve: 4GiB, limit: 1GiB, quota: 1GiB, isolation: block }\n";

static bench_daemon mempoold;

typedef struct cost {
    double cpu_us;  /* the daemon's CPU per call */
    double p99_us;  /* the caller's round trip */
} cost;

static cost admin_cost(int fd, const char *command, int calls)
{
    static char reply[1 << 20];
    uint64_t *ns = calloc((size_t)calls, sizeof *ns);
    uint64_t cpu0 = bench_daemon_cpu_ns(&mempoold);
    for (int i = 0; i < calls; i++) {
        uint64_t t0 = bench_now_ns();
        bench_admin_ask(fd, command, reply, sizeof reply);
        ns[i] = bench_now_ns() - t0;
        if (strncmp(reply, "{\"ok\":true", 10) != 0)
            bench_die(command, -1);
    }
    uint64_t cpu = bench_daemon_cpu_ns(&mempoold) - cpu0;
    bench_figure f = bench_summarize_us(ns, calls);
    free(ns);
    return (cost){ cpu / 1000.0 / calls, f.p99 };
}

static cost info_cost(mempool_client *c, int calls)
{
    uint64_t *ns = calloc((size_t)calls, sizeof *ns);
    uint64_t cpu0 = bench_daemon_cpu_ns(&mempoold);
    for (int i = 0; i < calls; i++) {
        mempool_info info;
        uint64_t t0 = bench_now_ns();
        int rc = mempool_pool_info(c, "held", &info);
        ns[i] = bench_now_ns() - t0;
        if (rc != 0)
            bench_die("mempool_pool_info", rc);
    }
    uint64_t cpu = bench_daemon_cpu_ns(&mempoold) - cpu0;
    bench_figure f = bench_summarize_us(ns, calls);
    free(ns);
    return (cost){ cpu / 1000.0 / calls, f.p99 };
}

static void hold_until(mempool_client *c, mempool_block *held, int *nheld, int want)
{
    for (; *nheld < want; (*nheld)++) {
        int rc = mempool_alloc(c, "held", BLOCK_SIZE, 0, &held[*nheld]);
        if (rc != 0)
            bench_die("mempool_alloc", rc);
        ((volatile char *)held[*nheld].addr)[0] = 1;
    }
}

static const char *const commands[] = { "stats", "pools", "pool held", "metrics" };
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void add_cost(bench_table *t, const char *name, cost k, int calls, int *ref)
{
    int row = bench_table_add(t, name, (bench_figure){ k.cpu_us, k.p99_us, calls }, *ref);
    if (*ref < 0)
        *ref = row;
}

static void run(bench_placement where, int calls)
{
    int daemon_cpu, client_cpu;
    bench_placement_cpus(where, &daemon_cpu, &client_cpu);
    bench_pin(0, client_cpu);
    bench_daemon_start_on(&mempoold, policy_rest, daemon_cpu);
    mempool_client *c;
    int rc = mempool_connect(mempoold.socket, &c);
    if (rc != 0)
        bench_die("mempool_connect", rc);
    int fd = bench_admin_connect(&mempoold);
    static mempool_block held[MAX_HELD];
    int nheld = 0, ref[NCOMMANDS + 1];
    for (size_t k = 0; k <= NCOMMANDS; k++)
        ref[k] = -1;
    static const int counts[] = { 1, 1000, MAX_HELD };
    bench_table t = { .title = NULL, .col1 = "CPU us/call", .col2 = "reply p99 us",
                      .ratio_label = "x 1 block" };
    char title[128];
    snprintf(title, sizeof title, "the daemon's cost of its figures, %s", bench_placement_name(where));
    t.title = title;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        hold_until(c, held, &nheld, counts[i]);
        char name[72];
        for (size_t k = 0; k < NCOMMANDS; k++) {
            snprintf(name, sizeof name, "admin %s, %d held blocks", commands[k], counts[i]);
            add_cost(&t, name, admin_cost(fd, commands[k], calls), calls, &ref[k]);
        }
        snprintf(name, sizeof name, "mempool_pool_info, %d held blocks", counts[i]);
        add_cost(&t, name, info_cost(c, calls), calls, &ref[NCOMMANDS]);
    }
    bench_table_print(&t);
    close(fd);
    for (int i = 0; i < nheld; i++)
        mempool_release(c, &held[i]);
    mempool_disconnect(c);
    bench_daemon_stop(&mempoold);
}

int main(int argc, char **argv)
{
    int calls = argc > 1 ? atoi(argv[1]) : 200;
    if (calls < 10)
        calls = 10;
    bench_print_load();
    int a, b;
    run(BENCH_ONE_CPU, calls);
    if (bench_cpus(2, &a, &b))
        run(BENCH_TWO_CPUS, calls);
    else
        printf("%s: skipped: only one CPU allowed\n", bench_placement_name(BENCH_TWO_CPUS));
    return 0;
}
