/* Integration tests: the real mempoold, started on a temporary socket and
 * policy, driven by separate client processes. */
#ifndef MEMPOOL_HARNESS_H
#define MEMPOOL_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mempool.h"

typedef struct fixture {
    char dir[64];
    char socket[128];
    char admin_socket[128];
    char policy[128];
    char log[128];
    pid_t pid;
} fixture;

/* The monotonic clock in milliseconds, and a sleep of `ms`: the polls of
 * every integration suite. */
uint64_t now_ms(void);
void sleep_ms(long ms);

/* Writes a policy (listen/admin sockets in a fresh 0755 folder, then
 * `pools_yaml`: the `pools:` section and anything else) and starts
 * mempoold on it; returns once the socket answers. */
void fixture_start(fixture *f, const char *pools_yaml);
/* Starts mempoold again on the same folder and policy. */
void fixture_restart(fixture *f);
/* SIGTERM; returns the daemon's exit status (-1 if it did not exit
 * normally). */
int fixture_stop(fixture *f);
/* Stops (if running) and removes the folder. */
void fixture_cleanup(fixture *f);
/* Rewrites the policy file. */
void fixture_write_policy(fixture *f, const char *pools_yaml);
/* Descriptors the daemon has open (from /proc/PID/fd). */
int fixture_fd_count(const fixture *f);
/* Prints the daemon's log to stderr (for failures). */
void fixture_dump_log(const fixture *f);

mempool_client *connect_or_die(const fixture *f);
/* The daemon's descriptor count once it has finished every request of `c`
 * (a round trip first: the daemon closes a handed-over descriptor only
 * after the reply that carried it is sent). */
int settled_fd_count(const fixture *f, mempool_client *c);
/* Polls the pool's in_use until it equals `want` or ~30 s pass; returns
 * the last value seen. */
uint64_t wait_in_use(mempool_client *c, const char *pool, uint64_t want);
/* Polls the daemon's descriptor count until it equals `want` or ~30 s
 * pass; returns the last count seen. */
int wait_fd_count(const fixture *f, int want);

/* Sends `data` in one message with `nfds` descriptors of /dev/null attached
 * (SCM_RIGHTS, at most 253); the sender's copies are closed. Returns what
 * sendmsg returned. */
ssize_t send_with_fds(int sock, const void *data, size_t len, int nfds);

/* Runs fn in a forked child and returns its wait status. */
int run_child(int (*fn)(void *), void *arg);
/* True when a wait status is a normal exit with code 0. */
bool exited_ok(int status);
/* Drops to the unprivileged user (nobody) in a child; false when not root. */
bool drop_to_nobody(void);
bool running_as_root(void);

#endif
