/* What process.c asks of the OS, one file per OS (process_linux.c,
 * process_darwin.c): each returns 0, or -errno when the OS would not say. */
#ifndef MEMPOOL_PROCESS_OS_H
#define MEMPOOL_PROCESS_OS_H

#include <stdint.h>

#include "process.h"

/* resident_bytes, virtual_bytes, start_unix_ms and cpu_ns; the other
 * fields are left as they are. */
int process_os_read(process_figures *out);
/* The descriptors the process has open. */
int process_os_open_fds(uint64_t *out);

#endif
