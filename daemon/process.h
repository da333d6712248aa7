/* The daemon's own process figures, as Prometheus' client libraries name
 * them (process_open_fds, process_resident_memory_bytes, ...), read by
 * process.c over a two-call OS contract (process_os.h): /proc/self on
 * Linux (process_linux.c), proc_pidinfo and getrusage on macOS
 * (process_darwin.c). */
#ifndef MEMPOOL_PROCESS_H
#define MEMPOOL_PROCESS_H

#include <stdint.h>

typedef struct process_figures {
    uint64_t open_fds;
    uint64_t max_fds;           /* RLIMIT_NOFILE's soft limit */
    uint64_t resident_bytes;
    uint64_t virtual_bytes;
    uint64_t start_unix_ms;     /* when the process started */
    uint64_t cpu_ns;            /* user + system time */
} process_figures;

/* 0, or -errno when the OS would not say (nothing is then written). */
int process_read(process_figures *out);

#endif
