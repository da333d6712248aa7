/* What the OS lets the daemon hold open, divided between client
 * connections, block backings and the daemon's own descriptors
 * (docs/daemon.md, "Descriptors"). A pure function of the policy and the
 * OS limits, which the caller reads (getrlimit, vm.max_map_count), so
 * tests give any figures. Computed at start and on every reload. */
#ifndef MEMPOOL_BUDGET_H
#define MEMPOOL_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Descriptors kept for the daemon itself: its sockets, the admin socket's
 * connections, the log, the service manager, a handoff in flight. */
#define BUDGET_RESERVED_FDS 128
/* Block backings the daemon keeps room for whatever max_clients says. */
#define BUDGET_MIN_BACKINGS 64

typedef struct budget {
    uint32_t max_clients; /* connections served at once */
    uint64_t backings;    /* block backings (descriptor + mapping) open at once; 0: no limit */
} budget;

/* nofile: RLIMIT_NOFILE (UINT64_MAX: none); max_maps: the kernel's limit
 * on mappings (0: none). Returns 0, or -ERANGE when the policy's
 * max_clients does not fit: then *out holds the figures clamped to what
 * fits and `why` says, with the numbers, what was asked and what the OS
 * allows. */
int budget_plan(const policy *pol, uint64_t nofile, int64_t max_maps, budget *out, char *why,
                size_t len);

#endif
