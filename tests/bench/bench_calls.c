/* The calls the Python binding's benchmark times, made from C against a
 * running daemon, so that the two stand side by side in one run:
 *
 *   bench_calls SOCKET ITERATIONS
 *
 * prints one line per operation: name, median ns, p99 ns. Pool "default"
 * has the library's block cache on (a release and the next alloc stay in
 * the process), pool "nocache" has it off (each is a message). */
#include <mempool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BLOCK_SIZE (64u << 10)

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, long long *ns, int n)
{
    qsort(ns, (size_t)n, sizeof *ns, by_value);
    printf("%s %lld %lld\n", name, ns[n / 2], ns[n * 99 / 100]);
}

static int alloc_release(mempool_client *c, const char *pool, long long *ns, int n)
{
    for (int i = 0; i < n; i++) {
        mempool_block b;
        long long t0 = now_ns();
        if (mempool_alloc(c, pool, BLOCK_SIZE, MEMPOOL_ALLOC_DIRTY, &b) != 0 ||
            mempool_release(c, &b) != 0)
            return -1;
        ns[i] = now_ns() - t0;
    }
    return 0;
}

static int attach_release(mempool_client *c, const mempool_handle *h, long long *ns, int n)
{
    for (int i = 0; i < n; i++) {
        mempool_block b;
        long long t0 = now_ns();
        if (mempool_attach(c, h, &b) != 0 || mempool_release(c, &b) != 0)
            return -1;
        ns[i] = now_ns() - t0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc == 3 ? atoi(argv[2]) : 0;
    long long *ns = n > 0 ? calloc((size_t)n, sizeof *ns) : NULL;
    mempool_client *owner, *c;
    mempool_block shared;
    mempool_handle h;
    if (ns == NULL) {
        fprintf(stderr, "usage: bench_calls SOCKET ITERATIONS\n");
        return 2;
    }
    if (mempool_connect(argv[1], &owner) != 0 || mempool_connect(argv[1], &c) != 0 ||
        mempool_alloc(owner, "default", BLOCK_SIZE, 0, &shared) != 0 ||
        mempool_share(owner, &shared, MEMPOOL_READ | MEMPOOL_WRITE, &h) != 0) {
        fprintf(stderr, "bench_calls: cannot set up on %s\n", argv[1]);
        return 1;
    }
    if (alloc_release(c, "default", ns, n) != 0)
        return 1;
    report("alloc_release_cached", ns, n);
    if (alloc_release(c, "nocache", ns, n) != 0)
        return 1;
    report("alloc_release", ns, n);
    if (attach_release(c, &h, ns, n) != 0)
        return 1;
    report("attach_release", ns, n);
    mempool_disconnect(c);
    mempool_disconnect(owner);
    free(ns);
    return 0;
}
