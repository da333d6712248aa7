/* The Linux side of the OS memory layer (mem_os.h): Go's
 * runtime/mem_linux.go for private memory, and memfd backings for memory
 * the daemon shares with clients (docs/design.md §3). */
#include "mem_os.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int syscall_result(int rc) { return rc == 0 ? 0 : -errno; }

/* sysMapOS and sysFaultOS: MAP_FIXED replaces whatever was at v. Go throws
 * when the mapping lands elsewhere, which MAP_FIXED rules out; it is still
 * checked, and reported as -EFAULT. */
static int map_fixed(void *v, size_t n, int prot, int flags, int fd,
                     uint64_t offset)
{
    void *p = mmap(v, n, prot, flags | MAP_FIXED, fd, (off_t)offset);
    if (p == MAP_FAILED)
        return -errno;
    return p == v ? 0 : -EFAULT;
}

/* MADV_DONTNEED frees nothing on a MAP_SHARED memfd mapping (it only drops
 * this process's page table entries; the pages stay in the memfd) and
 * MADV_FREE is refused with EINVAL there. Punching a hole frees the pages
 * themselves, zaps every mapping of them, and later reads see zeros. */
static int punch_hole(const mem_backing *b, size_t n)
{
    return syscall_result(fallocate(b->fd,
                                    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                    (off_t)b->offset, (off_t)n));
}

/* sysAllocOS */
int mem_os_alloc(size_t n, void **out)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                   -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

/* sysReserveOS: the address is a hint only. PROT_NONE private memory is
 * not charged against the overcommit limit, so a large reservation costs
 * address space only. */
int mem_os_reserve(void *hint, size_t n, void **out)
{
    void *p = mmap(hint, n, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

/* sysMapOS; a memfd backing is mapped shared at its offset so that a
 * client mapping the same memfd sees the same pages. -ENOMEM is out of
 * memory; any other failure is fatal for the region. */
int mem_os_map(void *v, size_t n, const mem_backing *b)
{
    if (b->fd >= 0)
        return map_fixed(v, n, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd,
                         b->offset);
    return map_fixed(v, n, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                     -1, 0);
}

/* sysUsedOS does nothing on Linux: Prepared memory is mapped read-write
 * already, and neither a punched hole nor MADV_DONTNEED changes the VMA,
 * so its huge-page advice is still in place. */
int mem_os_used(void *v, size_t n)
{
    (void)v;
    (void)n;
    return 0;
}

/* sysUnusedOS. Private memory gets MADV_DONTNEED, not MADV_FREE: Go 1.16
 * made it the default (golang.org/issue/42330) because MADV_FREE'd pages
 * stay in RSS until the kernel is under pressure, and the pool's figures
 * and the tests read RSS. */
int mem_os_unused(void *v, size_t n, const mem_backing *b)
{
    if (b->fd >= 0)
        return punch_hole(b, n);
    return syscall_result(madvise(v, n, MADV_DONTNEED));
}

/* sysFaultOS; the memfd pages are freed first, since replacing the mapping
 * alone would leave them held by the memfd. */
int mem_os_fault(void *v, size_t n, const mem_backing *b)
{
    if (b->fd >= 0) {
        int err = punch_hole(b, n);
        if (err != 0)
            return err;
    }
    return map_fixed(v, n, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
}

/* sysFreeOS */
int mem_os_free(void *v, size_t n) { return syscall_result(munmap(v, n)); }

/* sysHugePageOS / sysNoHugePageOS. The VMA flag is set either way; for a
 * memfd mapping the kernel only backs it with huge pages where
 * /sys/kernel/mm/transparent_hugepage/shmem_enabled allows it. */
int mem_os_huge(void *v, size_t n)
{
    return syscall_result(madvise(v, n, MADV_HUGEPAGE));
}

int mem_os_nohuge(void *v, size_t n)
{
    return syscall_result(madvise(v, n, MADV_NOHUGEPAGE));
}

/* Sealed against shrinking (a client's truncate would SIGBUS everyone
 * else) and growing; never F_SEAL_FUTURE_WRITE, which forbids punching
 * holes and so giving memory back. F_SEAL_SEAL closes the set: a client
 * holding a read-write descriptor could otherwise add F_SEAL_FUTURE_WRITE
 * itself and make every later punch of the daemon fail. */
int mem_os_backing_new(const char *name, size_t size, mem_backing *out)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    /* Mode 0600: only the daemon's uid may reopen the memfd through
     * /proc/<pid>/fd, so a read-only descriptor handed to a client of
     * another uid cannot be reopened read-write. */
    if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)size) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *out = (mem_backing){ .fd = fd, .offset = 0 };
    return 0;
}

int64_t mem_backing_resident(const mem_backing *b)
{
    struct stat st;
    if (b == NULL || b->fd < 0)
        return 0;
    if (fstat(b->fd, &st) != 0)
        return -errno;
    return (int64_t)st.st_blocks * 512;
}

int mem_backing_discard(const mem_backing *b, uint64_t n)
{
    if (b == NULL || b->fd < 0 || n == 0)
        return -EINVAL;
    return punch_hole(b, (size_t)n);
}

/* SEEK_DATA and SEEK_HOLE on a memfd (Linux 3.8) walk the pages it holds,
 * so finding what a client wrote costs what it wrote, not the backing's
 * size. */
int mem_backing_next_data(const mem_backing *b, uint64_t from, uint64_t *lo, uint64_t *hi)
{
    if (b == NULL || b->fd < 0)
        return -EINVAL;
    off_t data = lseek(b->fd, (off_t)(b->offset + from), SEEK_DATA);
    if (data < 0)
        return -errno;
    off_t hole = lseek(b->fd, data, SEEK_HOLE);
    if (hole < 0)
        return -errno;
    *lo = (uint64_t)data - b->offset;
    *hi = (uint64_t)hole - b->offset;
    return 0;
}

/* A punched hole and MADV_DONTNEED'd private memory both read as zeros
 * (Go's needZeroAfterSysUnusedOS is false with MADV_DONTNEED). */
bool mem_need_zero_after_unused(void) { return false; }

static uint64_t overlap(uintptr_t a_lo, uintptr_t a_hi, uintptr_t b_lo,
                        uintptr_t b_hi)
{
    uintptr_t lo = a_lo > b_lo ? a_lo : b_lo;
    uintptr_t hi = a_hi < b_hi ? a_hi : b_hi;
    return hi > lo ? hi - lo : 0;
}

/* Sums the Rss of the entries of an smaps-format file that overlap
 * [lo, hi). An entry that only partly overlaps counts its Rss up to the
 * size of the overlap: exact for entries inside the range (the usual case,
 * since each mapping the layer makes is its own VMA unless the kernel
 * merges it with a neighbour), an upper bound otherwise. */
static int64_t smaps_rss(const char *path, uintptr_t lo, uintptr_t hi)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    uint64_t inside = 0, rss_bytes = 0;
    while (getline(&line, &cap, f) > 0) {
        uintptr_t start, end;
        unsigned long long kib;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &start, &end) == 2)
            inside = overlap(start, end, lo, hi);
        else if (sscanf(line, "Rss: %llu kB", &kib) == 1)
            rss_bytes += kib * 1024 < inside ? kib * 1024 : inside;
    }
    free(line);
    fclose(f);
    return (int64_t)rss_bytes;
}

int64_t mem_os_range_resident(const void *v, size_t n)
{
    return smaps_rss("/proc/self/smaps", (uintptr_t)v, (uintptr_t)v + n);
}

/* smaps_rollup is one entry spanning the whole address space, so its Rss
 * is counted whole. */
int64_t mem_os_footprint(void)
{
    return smaps_rss("/proc/self/smaps_rollup", 0, UINTPTR_MAX);
}

const char *mem_os_footprint_name(void) { return "rss"; }

/* Past vm.max_map_count, mmap fails with ENOMEM however much memory is
 * free: the daemon keeps its block mappings under it. */
int64_t mem_os_mapping_limit(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    long long limit = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lld", &limit) != 1 || limit < 0)
        limit = 0;
    fclose(f);
    return limit;
}

/* sysUsedOS is empty here: reusing released memory costs only the page
 * faults, which the allocation would pay on fresh memory too. */
uint32_t mem_os_reuse_cost_permille(void) { return 0; }
