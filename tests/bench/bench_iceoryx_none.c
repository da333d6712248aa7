#include "bench_iceoryx.h"

#include <stdio.h>

int bench_iceoryx_loan_release(size_t size, int n, int cpu, uint64_t *ns, char *why,
                               size_t whylen)
{
    (void)size, (void)n, (void)cpu, (void)ns;
    snprintf(why, whylen, "skipped: iceoryx not installed (iceoryx, libiceoryx-binding-c-dev)");
    return -1;
}
