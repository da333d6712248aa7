/* Sockets and readiness from the service manager, one file per OS:
 * activation_systemd.c (LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES and
 * $NOTIFY_SOCKET, in a few lines, without libsystemd) and
 * activation_launchd.c (launch_activate_socket). Without a service manager
 * the daemon binds the paths its policy names. */
#ifndef MEMPOOL_ACTIVATION_H
#define MEMPOOL_ACTIVATION_H

#include <stdint.h>

/* The names the units and the plist give the sockets. */
#define ACTIVATION_CLIENT_SOCKET "client"
#define ACTIVATION_ADMIN_SOCKET "admin"
#define ACTIVATION_METRICS_SOCKET "metrics" /* TCP, optional (mempoold-metrics.socket) */

typedef enum activation_state {
    ACTIVATION_READY,     /* serving: systemd READY=1 */
    ACTIVATION_RELOADING, /* RELOADING=1 */
    ACTIVATION_STOPPING,  /* STOPPING=1 */
    ACTIVATION_WATCHDOG   /* WATCHDOG=1: the loop still turns */
} activation_state;

/* The descriptor of the socket the service manager handed over under
 * `name` (matched by name, never by order), as it came: listen_adopt
 * checks it. -ENOENT when it handed over none by that name (bind the
 * policy's path then), or another -errno. */
int activation_socket(const char *name);
/* Tells the service manager how the daemon is; nothing where it does not
 * listen. */
void activation_notify(activation_state state);
/* One line for `systemctl status` (STATUS=); nothing where no service
 * manager listens. */
void activation_status(const char *text);
/* The watchdog period the service manager asks for (WatchdogSec=, as
 * WATCHDOG_USEC, when WATCHDOG_PID is unset or ours), in microseconds;
 * 0: none. ACTIVATION_WATCHDOG must then come at least that often. */
uint64_t activation_watchdog_usec(void);

#endif
