/* A mempoold for a benchmark: started on a temporary socket and policy,
 * optionally pinned to a CPU, asked admin commands, measured for the CPU it
 * uses, and stopped at the end. */
#ifndef MEMPOOL_BENCH_DAEMON_H
#define MEMPOOL_BENCH_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bench_daemon {
    char dir[32];
    char socket[128];
    char admin_socket[128];
    char policy[128];
    pid_t pid;
} bench_daemon;

/* Writes a policy (the sockets, log level warn, then `rest`: the scavenger
 * and pools sections) and starts MEMPOOLD_PATH on it, pinned to `cpu`
 * (-1: anywhere); exits the benchmark with a message when the daemon does
 * not answer. */
void bench_daemon_start_on(bench_daemon *d, const char *rest, int cpu);
void bench_daemon_start(bench_daemon *d, const char *rest);
void bench_daemon_stop(bench_daemon *d);

/* A connection to the admin socket, and one command on it: the reply line
 * (without its newline) in buf. */
int bench_admin_connect(const bench_daemon *d);
void bench_admin_ask(int fd, const char *command, char *buf, size_t len);

/* CPU time the daemon's threads have used so far, in nanoseconds: the sum
 * of /proc/PID/task/TID/schedstat (the scheduler's exact runtime). */
uint64_t bench_daemon_cpu_ns(const bench_daemon *d);

#endif
