/* Process figures from /proc/self, as the Prometheus Go client's
 * procfs collector reads them: fds from /proc/self/fd, sizes, CPU time
 * and start time from /proc/self/stat (proc(5)), the boot time from
 * /proc/stat's btime. */
#include "process_os.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Since Linux 6.2 the size of /proc/self/fd is the number of open
 * descriptors (fs/proc/fd.c, proc_fd_getattr; "proc: report open files as
 * size in stat() for /proc/pid/fd", Ivan Babrou, 2022): one stat, where a
 * listing costs one entry per descriptor, and block isolation keeps one
 * per block. Older kernels report 0 there: list them. */
int process_os_open_fds(uint64_t *out)
{
    struct stat st;
    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0) {
        *out = (uint64_t)st.st_size;
        return 0;
    }
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -errno;
    uint64_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    /* Less the descriptor opendir used for the listing. */
    *out = n > 0 ? n - 1 : 0;
    return 0;
}

/* /proc/stat's "btime": when the system booted, in Unix seconds. */
static int boot_time(uint64_t *out)
{
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return -errno;
    char line[256];
    unsigned long long btime = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = sscanf(line, "btime %llu", &btime) == 1;
    fclose(f);
    *out = btime;
    return found ? 0 : -EIO;
}

/* Fields 14, 15 (utime, stime, in clock ticks), 22 (starttime, ticks
 * after boot), 23 (vsize, bytes), 24 (rss, pages) of /proc/self/stat.
 * The command name (field 2) may hold spaces and parentheses: parsing
 * starts after its last ')'. */
int process_os_read(process_figures *out)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (f == NULL)
        return -errno;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long utime, stime, start, vsize;
    long long rss;
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                            "%*d %*d %*d %llu %llu %lld",
                            &utime, &stime, &start, &vsize, &rss) != 5)
        return -EIO;
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    uint64_t boot = 0;
    int rc = boot_time(&boot);
    if (rc != 0 || ticks <= 0 || page <= 0)
        return rc != 0 ? rc : -EIO;
    out->cpu_ns = (utime + stime) * (1000000000ULL / (uint64_t)ticks);
    out->start_unix_ms = boot * 1000 + start * 1000 / (uint64_t)ticks;
    out->virtual_bytes = vsize;
    out->resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
    return 0;
}
