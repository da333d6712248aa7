/* macOS: what a pool's page must be for huge pages to mean anything. */
#include "policy_internal.h"

/* macOS offers no huge pages for shared anonymous memory (mem_huge is a
   no-op there, see docs/design.md §2), so huge_pages is accepted and ignored
   whatever the page: a policy written for Linux still loads. */
const char *policy_os_huge_pages_problem(uint64_t page, char *buf, size_t len)
{
    (void)page;
    (void)buf;
    (void)len;
    return NULL;
}
