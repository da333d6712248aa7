/* Descriptors and mappings divided between clients, block backings and the
 * daemon (budget.h). Each client is a socket; each block of a
 * block-isolation pool, live or warm, a memfd and a mapping; each uid of a
 * uid-isolation pool a memfd. The sum never passes RLIMIT_NOFILE, so that
 * accepting a client never leaves an existing one unable to allocate and
 * the admin socket always has a descriptor to answer with. */
#include "budget.h"

#include <errno.h>
#include <stdio.h>

/* At most half the kernel's mappings: a block can split its pool's
 * reservation in two, and the daemon maps other things too. */
static uint64_t backings_by_maps(int64_t max_maps)
{
    if (max_maps <= 0)
        return 0;
    return max_maps > 4096 ? (uint64_t)max_maps / 2 - 1024 : 1024;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

int budget_plan(const policy *pol, uint64_t nofile, int64_t max_maps, budget *out, char *why,
                size_t len)
{
    uint64_t maps = backings_by_maps(max_maps);
    if (nofile == UINT64_MAX) {
        *out = (budget){ .max_clients = pol->max_clients, .backings = maps };
        return 0;
    }
    uint64_t fixed = BUDGET_RESERVED_FDS + BUDGET_MIN_BACKINGS;
    uint64_t room = nofile > fixed ? nofile - fixed : 0;
    int rc = 0;
    uint64_t clients = pol->max_clients;
    if (clients > room) {
        snprintf(why, len,
                 "limits.max_clients: %u needs %llu descriptors (%u clients, %u for the daemon "
                 "and its admin socket, %u for block backings); RLIMIT_NOFILE allows %llu, "
                 "so at most %llu clients",
                 (unsigned)pol->max_clients, (unsigned long long)(pol->max_clients + fixed),
                 (unsigned)pol->max_clients, BUDGET_RESERVED_FDS, BUDGET_MIN_BACKINGS,
                 (unsigned long long)nofile, (unsigned long long)room);
        clients = room > 0 ? room : 1;
        rc = -ERANGE;
    }
    uint64_t backings = nofile > clients + BUDGET_RESERVED_FDS
                            ? nofile - clients - BUDGET_RESERVED_FDS
                            : 1;
    *out = (budget){ .max_clients = (uint32_t)clients,
                     .backings = maps > 0 ? min_u64(backings, maps) : backings };
    return rc;
}
