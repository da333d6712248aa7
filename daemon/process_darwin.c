/* Process figures on macOS, from libproc (proc_pidinfo(2) is what ps and
 * Activity Monitor read) and getrusage:
 *   - PROC_PIDTASKINFO: pti_resident_size and pti_virtual_size in bytes.
 *     Its pti_total_user/system are Mach absolute time units, not ns
 *     (they need mach_timebase_info on arm64), so CPU time comes from
 *     getrusage instead, in microseconds everywhere.
 *   - PROC_PIDTBSDINFO: pbi_start_tvsec/usec, when the process started.
 *   - PROC_PIDLISTFDS: the open descriptors. Asked with no buffer, xnu
 *     answers a size with room for 20 more (proc_pidfdlist in
 *     bsd/kern/proc_info.c); asked with one, the bytes it filled. */
#include "process_os.h"

#include <errno.h>
#include <libproc.h>
#include <stdlib.h>
#include <sys/proc_info.h>
#include <sys/resource.h>
#include <unistd.h>

int process_os_open_fds(uint64_t *out)
{
    pid_t pid = getpid();
    int size = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, NULL, 0);
    if (size <= 0)
        return -EIO;
    struct proc_fdinfo *fds = malloc((size_t)size);
    if (fds == NULL)
        return -ENOMEM;
    int used = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, fds, size);
    free(fds);
    if (used < 0)
        return -EIO;
    *out = (uint64_t)used / PROC_PIDLISTFD_SIZE;
    return 0;
}

static int read_task(process_figures *out)
{
    struct proc_taskinfo ti;
    struct proc_bsdinfo bi;
    pid_t pid = getpid();
    if (proc_pidinfo(pid, PROC_PIDTASKINFO, 0, &ti, sizeof ti) != (int)sizeof ti ||
        proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &bi, sizeof bi) != (int)sizeof bi)
        return -EIO;
    out->resident_bytes = ti.pti_resident_size;
    out->virtual_bytes = ti.pti_virtual_size;
    out->start_unix_ms = (uint64_t)bi.pbi_start_tvsec * 1000 + (uint64_t)bi.pbi_start_tvusec / 1000;
    return 0;
}

static int read_cpu(uint64_t *out)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -errno;
    uint64_t us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                  (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
    *out = us * 1000;
    return 0;
}

int process_os_read(process_figures *out)
{
    int rc = read_task(out);
    return rc == 0 ? read_cpu(&out->cpu_ns) : rc;
}
