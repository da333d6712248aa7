/* iceoryx's loan + release of a chunk, measured in the same run as
 * mempoold for comparison: Debian's iceoryx (iox-roudi) and
 * libiceoryx-binding-c-dev, installed by `make bench`. The benchmark starts
 * RouDi itself and stops it afterwards. Built from bench_iceoryx.c when
 * CMake finds the C binding, from bench_iceoryx_none.c otherwise. */
#ifndef MEMPOOL_BENCH_ICEORYX_H
#define MEMPOOL_BENCH_ICEORYX_H

#include <stddef.h>
#include <stdint.h>

/* n loans of `size` bytes, each written (one byte) and released, timed one
 * by one into ns[0..n) on CPU `cpu`. 0, or -1 with the reason in why
 * ("iceoryx not installed", RouDi did not start, ...). */
int bench_iceoryx_loan_release(size_t size, int n, int cpu, uint64_t *ns, char *why,
                               size_t whylen);

#endif
