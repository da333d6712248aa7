#include "bench_util.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mempool.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_die(const char *what, int rc)
{
    fprintf(stderr, "bench: %s: %s\n", what, rc < 0 ? mempool_strerror(rc) : strerror(errno));
    exit(1);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

bench_figure bench_summarize_us(uint64_t *ns, int n)
{
    if (n <= 0)
        return (bench_figure){ 0 };
    qsort(ns, (size_t)n, sizeof *ns, compare_u64);
    return (bench_figure){ ns[n / 2] / 1000.0, ns[(n * 99) / 100] / 1000.0, n };
}

static bench_row *next_row(bench_table *t, const char *name)
{
    if (t->n == BENCH_ROWS_MAX)
        bench_die("too many rows", -1);
    bench_row *r = &t->rows[t->n];
    *r = (bench_row){ .ref = -1 };
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

int bench_table_add(bench_table *t, const char *name, bench_figure f, int ref)
{
    bench_row *r = next_row(t, name);
    r->f = f;
    r->ref = ref;
    return t->n++;
}

int bench_table_note(bench_table *t, const char *name, const char *note)
{
    next_row(t, name)->note = note;
    return t->n++;
}

void bench_table_print(const bench_table *t)
{
    printf("%s\n  %-56s %11s %11s %8s %12s\n", t->title, "", t->col1 ? t->col1 : "median us",
           t->col2 ? t->col2 : "p99 us", "samples", t->ratio_label);
    for (int i = 0; i < t->n; i++) {
        const bench_row *r = &t->rows[i];
        if (r->note != NULL) {
            printf("  %-56s %s\n", r->name, r->note);
            continue;
        }
        printf("  %-56s %11.3f %11.3f %8d", r->name, r->f.median, r->f.p99, r->f.samples);
        const bench_row *ref = r->ref >= 0 ? &t->rows[r->ref] : NULL;
        double mine = t->ratio_of_p99 ? r->f.p99 : r->f.median;
        double theirs = ref != NULL ? (t->ratio_of_p99 ? ref->f.p99 : ref->f.median) : 0;
        if (ref != NULL && ref->note == NULL && theirs > 0)
            printf(" %12.3f\n", mine / theirs);
        else
            printf(" %12s\n", "-");
    }
    printf("\n");
    fflush(stdout);
}

const char *bench_placement_name(bench_placement p)
{
    return p == BENCH_ONE_CPU ? "daemon and client pinned to one CPU"
                              : "daemon and client on two CPUs";
}

/* The CPUs allowed when the benchmark started, before it pinned itself. */
static const cpu_set_t *allowed_cpus(void)
{
    static cpu_set_t set;
    static bool known;
    if (!known && sched_getaffinity(0, sizeof set, &set) != 0)
        bench_die("sched_getaffinity", 0);
    known = true;
    return &set;
}

bool bench_cpus(int need, int *first, int *second)
{
    cpu_set_t set = *allowed_cpus();
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < need; cpu++) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        if (found == 0)
            *first = cpu;
        else
            *second = cpu;
        found++;
    }
    if (found == 1)
        *second = *first;
    return found >= need;
}

void bench_pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    allowed_cpus();
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0)
        bench_die("sched_setaffinity", 0);
}

void bench_placement_cpus(bench_placement p, int *daemon_cpu, int *client_cpu)
{
    int first = 0, second = 0;
    bench_cpus(p == BENCH_ONE_CPU ? 1 : 2, &first, &second);
    *daemon_cpu = first;
    *client_cpu = p == BENCH_ONE_CPU ? first : second;
}

void bench_print_load(void)
{
    double load[3] = { 0 };
    FILE *f = fopen("/proc/loadavg", "re");
    if (f != NULL) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = load[1] = load[2] = -1;
        fclose(f);
    }
    printf("load average: %.2f %.2f %.2f\n\n", load[0], load[1], load[2]);
}
