/* What the daemon tells its service manager while it runs: a status line
 * (systemd's STATUS=, shown by `systemctl status`: pools, clients, bytes in
 * use), sent when it changes but at most once a STATUS_PERIOD_MS, and
 * WATCHDOG=1 at half the period the manager asks for (WatchdogSec=), from
 * a loop timer, so a loop that stops turning stops the pings. The same
 * tick reports the log lines about peers that were suppressed
 * (log_peer_flush). A service module (daemon.c). */
#ifndef MEMPOOL_STATUS_H
#define MEMPOOL_STATUS_H

#include <stddef.h>

#include "daemon.h"

#define STATUS_PERIOD_MS 1000

int status_start(daemon_state *d);
void status_stop(daemon_state *d);
void status_release(daemon_state *d);

/* The status line: "2 pools, 3 clients, 12.0 MiB in use". */
void status_describe(const daemon_state *d, char *buf, size_t len);

#endif
