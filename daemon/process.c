/* The daemon's process figures: what the per-OS file reads (process_os.h),
 * and the descriptor limit, which POSIX gives everywhere. */
#include "process.h"

#include <errno.h>
#include <sys/resource.h>

#include "process_os.h"

int process_read(process_figures *out)
{
    process_figures f = { 0 };
    struct rlimit rl;
    int rc = process_os_read(&f);
    if (rc == 0)
        rc = process_os_open_fds(&f.open_fds);
    if (rc == 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
        rc = -errno;
    if (rc != 0)
        return rc;
    f.max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    *out = f;
    return 0;
}
