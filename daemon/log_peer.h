/* Log lines about a peer (a client or an admin connection), rate-limited
 * per uid and overall (daemon/ratelimit.h) so that no local user can make
 * the daemon write more than a few lines a second about it: past a burst,
 * lines are counted instead, and one line later says how many were
 * suppressed. Lines the log level hides are neither written nor counted.
 * Debug lines have buckets of their own: they cannot use up the budget of
 * the warnings. */
#ifndef MEMPOOL_LOG_PEER_H
#define MEMPOOL_LOG_PEER_H

#include <stdint.h>

#include "log.h"

/* Per uid: a burst of LOG_PEER_BURST lines, then LOG_PEER_PER_S a second;
 * every uid together: LOG_ALL_PEERS_BURST, then LOG_ALL_PEERS_PER_S. */
#define LOG_PEER_BURST 10
#define LOG_PEER_PER_S 2
#define LOG_ALL_PEERS_BURST 100
#define LOG_ALL_PEERS_PER_S 20

void log_peer(uint32_t uid, log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports the suppressed counts of floods that have paused or ended (the
 * daemon calls it about once a second). */
void log_peer_flush(void);

#endif
