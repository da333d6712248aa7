/* What every benchmark shares: the clock, samples turned into a median and
 * a p99, a table whose last column is a ratio to a reference row, and where
 * the processes run (one CPU for daemon and client, or one each).
 *
 * Benchmarks print, they never assert: figures depend on the machine. */
#ifndef MEMPOOL_BENCH_UTIL_H
#define MEMPOOL_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

uint64_t bench_now_ns(void);
/* Ends the benchmark with a message; rc < 0 is a MEMPOOL_E* code, else
 * errno is shown. */
_Noreturn void bench_die(const char *what, int rc);

/* ---- samples ---- */

typedef struct bench_figure {
    double median, p99; /* in the unit the samples were taken in */
    int samples;
} bench_figure;

/* Sorts ns[0..n) and takes the median and p99, in microseconds. */
bench_figure bench_summarize_us(uint64_t *ns, int n);

/* ---- tables ---- */

#define BENCH_ROWS_MAX 48

typedef struct bench_row {
    char name[72];
    bench_figure f;
    int ref;          /* the row the ratio is taken against; -1: none */
    const char *note; /* instead of figures, e.g. "skipped: ..." */
} bench_row;

typedef struct bench_table {
    const char *title;
    const char *col1, *col2; /* the figures' headings; NULL: median us, p99 us */
    const char *ratio_label;
    bool ratio_of_p99; /* the last column divides p99s, not medians */
    bench_row rows[BENCH_ROWS_MAX];
    int n;
} bench_table;

/* Adds a row and returns its index, for later rows to refer to. */
int bench_table_add(bench_table *t, const char *name, bench_figure f, int ref);
int bench_table_note(bench_table *t, const char *name, const char *note);
/* Prints the table: name, median, p99, samples, and median / the reference
 * row's median in the last column. */
void bench_table_print(const bench_table *t);

/* ---- placement ---- */

/* Daemon and client on one CPU (every round trip is a context switch on
 * that CPU), or on two (every round trip wakes the other CPU). */
typedef enum bench_placement { BENCH_ONE_CPU, BENCH_TWO_CPUS } bench_placement;

const char *bench_placement_name(bench_placement p);
/* The CPUs this process may run on, lowest first; false when fewer than
 * `need` are allowed (the placement is then skipped). */
bool bench_cpus(int need, int *first, int *second);
/* Pins a process (0: this one) and every thread it starts later. */
void bench_pin(pid_t pid, int cpu);
/* The CPU for the daemon and the one for the client in a placement. */
void bench_placement_cpus(bench_placement p, int *daemon_cpu, int *client_cpu);

/* One line for the top of every run: the machine's load, since the
 * figures depend on it. */
void bench_print_load(void);

#endif
