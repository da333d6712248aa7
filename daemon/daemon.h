/* The running daemon: what main.c builds and the service modules share
 * (the client server, and later the admin socket and the scavenger). */
#ifndef MEMPOOL_DAEMON_H
#define MEMPOOL_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "policy.h"
#include "pool.h"

typedef struct server server;

typedef struct daemon_state {
    uv_loop_t *loop;
    policy *pol;          /* the policy in force */
    char *policy_path;    /* re-read by reload */
    pool_set *pools;
    uint32_t max_clients; /* the policy's, clamped to RLIMIT_NOFILE (budget.h) */
    server *srv;
    int listen_fd;        /* the client socket */
    bool listen_path_owned; /* bound by us (not the service manager's) */
    uint64_t started_ns;  /* monotonic */
    /* The outcome of the last reload (the start counts as one), for the
     * metrics: did it apply, and when did one last apply (Unix ms). */
    bool last_reload_ok;
    uint64_t last_reload_success_unix_ms;
    bool stopping;
    struct admin *admin;  /* the admin socket (admin.c) */
    struct scavenger *scav; /* the scavenger (scavenger.c) */
    struct sweeper *sweeper; /* the stray sweeper (sweeper.c) */
} daemon_state;

/* Runs the daemon in the foreground on the policy file until SIGTERM;
 * returns the process's exit code (0, 1 for a failure to start, 2 for an
 * invalid policy). */
int daemon_main(const char *policy_path);

/* Monotonic nanoseconds: the clock handed to the pool and scavenger code. */
uint64_t daemon_now_ns(void);
/* Wall-clock milliseconds since the Unix epoch, for figures shown as dates. */
uint64_t daemon_unix_ms(void);

/* Reloads the policy file: on success the new policy is in force and 0 is
 * returned; otherwise the running policy stays and `msg` says why. `msg`
 * also lists what changed. */
int daemon_reload(daemon_state *d, char *msg, size_t len);
/* (-EINVAL: the file has errors; -EBUSY: a change needs a restart;
 * -ERANGE: limits.max_clients does not fit in RLIMIT_NOFILE, budget.h.) */
/* Stops accepting, answers what is already queued, closes every session
 * and lets the loop end. */
void daemon_shutdown(daemon_state *d);

#endif
