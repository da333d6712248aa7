/* The scavenger: gives pools' idle warm memory back to the OS on the loop
 * thread, paced by each pool's policy (docs/design.md §7, after Go's
 * runtime/mgcscavenge.go; docs/scavenger.md).
 *
 * What to release and when is decided by scavenge_policy.c (pure, clock
 * passed in); this module is the driver: it keeps one scavenge_pacer per
 * pool, does the work the pacer plans in slices of at most about a
 * millisecond, measures what each slice took, and watches OS memory
 * pressure (pressure.h), under which every pool drops its warm memory.
 *
 * Everything here runs on the loop thread. */
#ifndef MEMPOOL_SCAVENGER_H
#define MEMPOOL_SCAVENGER_H

#include <stdint.h>

#include "daemon.h"
#include "pool.h"
#include "scavenge_policy.h"

typedef struct scavenger scavenger;

/* The service module (daemon.c's table): start builds d->scav and arms
 * its timer, 0 or -errno; stop answers pending forced requests with what
 * they released so far and closes the handles; release frees d->scav
 * after the loop ended. */
int scavenger_start(daemon_state *d);
void scavenger_stop(daemon_state *d);
void scavenger_release(daemon_state *d);

/* The reload path calls this after pool_set_apply: each pool's pacer takes
 * its new interval, idle, retain and cpu (pacing state and statistics are
 * kept) and plans again at once. */
void scavenger_policy_changed(daemon_state *d);

/* Called once a forced scavenge is done, with the bytes it released. */
typedef void scavenger_done_fn(uint64_t released, void *arg);

/* The admin `scavenge [POOL] [BYTES]`: releases up to `bytes` (0: all) of
 * warm memory now, young or not, beyond `retain` or not, unpaced, still in
 * slices of at most a millisecond. p NULL: every pool, one after the other,
 * up to `bytes` in total. `done` (may be NULL) is called on the loop
 * thread, never before scavenger_force returns, exactly once: when the
 * work is done, or at scavenger_stop with what was released until then.
 * 0; -EINVAL for a pool of another set or after stop, -ENOMEM (then done is
 * never called). */
int scavenger_force(daemon_state *d, pool *p, uint64_t bytes,
                    scavenger_done_fn *done, void *arg);
/* Forgets every pending request made with `arg` (an admin session that
 * closed): its done is not called; its work goes on. */
void scavenger_force_cancel(daemon_state *d, void *arg);

/* The figures of a pool's pacer (slices, pieces, work, released): 0, or
 * -EINVAL when the pool is not the scavenger's. */
int scavenger_pool_stats(const daemon_state *d, const pool *p, scavenge_stats *out);

/* OS memory pressure: every pool drops all its warm memory. Called by the
 * pressure watch; public so that tests and an admin command can simulate
 * it. */
void scavenger_pressure(daemon_state *d);

#endif
