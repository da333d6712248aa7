/* A mempoold for a benchmark: started on a temporary socket and policy,
 * stopped at the end. */
#ifndef MEMPOOL_BENCH_DAEMON_H
#define MEMPOOL_BENCH_DAEMON_H

#include <sys/types.h>

typedef struct bench_daemon {
    char dir[32];
    char socket[128];
    char admin_socket[128];
    char policy[128];
    pid_t pid;
} bench_daemon;

/* Writes a policy (the sockets, log level warn, then `rest`: the scavenger
 * and pools sections) and starts MEMPOOLD_PATH on it; exits the benchmark
 * with a message when the daemon does not answer. */
void bench_daemon_start(bench_daemon *d, const char *rest);
void bench_daemon_stop(bench_daemon *d);

#endif
