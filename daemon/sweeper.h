/* The stray sweeper: a service module that, on a timer, gives back what
 * clients of pool-isolation pools wrote outside their blocks
 * (pool_sweep_strays), a slice per pool per turn. */
#ifndef MEMPOOL_SWEEPER_H
#define MEMPOOL_SWEEPER_H

#include "daemon.h"

int sweeper_start(daemon_state *d);
void sweeper_stop(daemon_state *d);
void sweeper_release(daemon_state *d);

#endif
