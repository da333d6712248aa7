/* Linux: what a pool's page must be for huge pages to mean anything. */
#include "policy_internal.h"
#include "policy_units.h"

/* Transparent huge pages of shared memory are PMD-sized: 2 MiB on x86-64
   and on arm64 with 4 KiB base pages. A pool whose blocks are smaller can
   never be backed by one, so asking for huge pages there is a mistake. */
#define HUGE_PAGE_SIZE (2 * POLICY_MIB)

const char *policy_os_huge_pages_problem(uint64_t page, char *buf, size_t len)
{
    if (page >= HUGE_PAGE_SIZE)
        return NULL;
    char have[32];
    policy_format_size(page, have, sizeof have);
    snprintf(buf, len, "true needs a page of 2MiB or more on Linux, and page is %s", have);
    return buf;
}
