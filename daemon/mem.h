/* The OS memory layer: a C port of the Go runtime's runtime/mem.go.
 *
 * Every byte the daemon manages is in one of four states (mem.go):
 *
 *   None      not reserved, not mapped.
 *   Reserved  address space owned by the daemon; any access faults; costs
 *             no memory and does not count toward the footprint.
 *   Prepared  mapped, but meant not to be backed by physical memory
 *             (released to the OS); contents undefined until mem_used.
 *   Ready     mapped and safe to use.
 *
 *   mem_alloc      None     -> Ready     (a region of its own)
 *   mem_reserve    None     -> Reserved  (a region of its own)
 *   mem_map        Reserved -> Prepared
 *   mem_used       Prepared -> Ready     (Go's sysUsed)
 *   mem_unused     Ready    -> Prepared  (Go's sysUnused)
 *   mem_fault      Ready or Prepared -> Reserved (Go's sysFault)
 *   mem_free       any      -> None      (the whole region)
 *   mem_huge/nohuge  hints, no state change
 *
 * Preconditions, stated once for every function that takes (r, v, n):
 *   - v and n are multiples of mem_page_size(), n > 0;
 *   - [v, v+n) lies entirely inside region r;
 *   - every page of the range is in the state the transition starts from
 *     (mem_used also accepts pages already Ready, as sysUsed does, and
 *     takes the exact number of Prepared bytes among them).
 * A call that breaks a precondition returns -EINVAL and changes nothing:
 * no syscall is made and no counter moves. Otherwise a function returns 0
 * or the negative errno of the syscall that failed; -ENOMEM from mem_map
 * is "out of memory", any other failure there is fatal for that region.
 *
 * This layer is not thread-safe: the daemon calls it from its loop thread.
 * The OS files (mem_linux.c, mem_darwin.c) only make syscalls; this file's
 * implementation (mem.c) keeps the states and the counters. */
#ifndef MEMPOOL_MEM_H
#define MEMPOOL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum mem_state {
    MEM_NONE = 0,
    MEM_RESERVED,
    MEM_PREPARED,
    MEM_READY,
    MEM_NSTATES
} mem_state;

/* Bytes per state; [MEM_NONE] is always 0. */
typedef struct mem_counters {
    uint64_t bytes[MEM_NSTATES];
} mem_counters;

/* What a mapped range is backed by. On Linux, fd >= 0 is a memfd mapped
 * MAP_SHARED at `offset` (what lets a client map the same pages); fd < 0 is
 * private anonymous memory. On Darwin every range is anonymous memory and a
 * Mach memory entry is made from the daemon's own mapping, so fd is -1. */
typedef struct mem_backing {
    int fd;
    uint64_t offset;
} mem_backing;

#define MEM_BACKING_ANON ((mem_backing){ .fd = -1, .offset = 0 })

/* One region: a reservation, or one mem_alloc'd range. The unit of
 * per-range accounting. */
typedef struct mem_region mem_region;

/* The OS page size, from sysconf(_SC_PAGESIZE) (16 KiB on Apple silicon). */
size_t mem_page_size(void);

int mem_alloc(size_t n, mem_region **out);
int mem_reserve(void *hint, size_t n, mem_region **out);
int mem_free(mem_region *r);

int mem_map(mem_region *r, void *v, size_t n, const mem_backing *b);
int mem_used(mem_region *r, void *v, size_t n, size_t prepared);
int mem_unused(mem_region *r, void *v, size_t n, const mem_backing *b);
int mem_fault(mem_region *r, void *v, size_t n, const mem_backing *b);
int mem_huge(mem_region *r, void *v, size_t n);
int mem_nohuge(mem_region *r, void *v, size_t n);

void *mem_region_base(const mem_region *r);
size_t mem_region_size(const mem_region *r);
/* The state of the page holding v (v inside r), MEM_NONE outside. */
mem_state mem_region_state(const mem_region *r, const void *v);
/* Bytes of [v, v+n) in `state`; 0 when the range breaks a precondition. */
size_t mem_region_count(const mem_region *r, const void *v, size_t n, mem_state state);
void mem_region_counters(const mem_region *r, mem_counters *out);
/* Totals over every live region. */
void mem_total_counters(mem_counters *out);
const char *mem_state_name(mem_state s);

/* Backings (memfds on Linux; anonymous on Darwin). A new backing is `size`
 * bytes, reads as zeros, and cannot shrink or grow once sealed. */
int mem_backing_new(const char *name, size_t size, mem_backing *out);
void mem_backing_close(mem_backing *b);
/* Bytes the OS really holds for a backing (memfd st_blocks * 512); 0 for
 * anonymous backings. */
int64_t mem_backing_resident(const mem_backing *b);

/* A client holding a backing's descriptor can write anywhere in it, also
 * where no block of its lies (pool isolation). These two find and free
 * such memory whatever state the daemon's pages there are in; callers
 * pass only ranges no live block covers.
 *  mem_backing_discard: frees [b->offset, b->offset + n), which then reads
 *    as zeros (Linux: punches the memfd). -ENOTSUP where no client can
 *    reach memory outside its blocks (Darwin: each block travels as its
 *    own memory entry), so there is nothing to free.
 *  mem_backing_next_data: the first range holding data at or after
 *    b->offset + from, as offsets from b->offset in *lo, *hi (Linux:
 *    lseek SEEK_DATA then SEEK_HOLE); -ENXIO when there is none,
 *    -ENOTSUP as above. */
int mem_backing_discard(const mem_backing *b, uint64_t n);
int mem_backing_next_data(const mem_backing *b, uint64_t from, uint64_t *lo, uint64_t *hi);

/* True where memory that went through mem_unused may read as non-zero
 * afterwards and must be zeroed before a new owner sees it (Go's
 * needZeroAfterSysUnused: true on Darwin, false on Linux where a punched
 * hole or MADV_DONTNEED reads as zeros). */
bool mem_need_zero_after_unused(void);

/* What the OS reports, next to our own counters:
 *  mem_os_range_resident: resident bytes of [v, v+n) (Linux: the Rss of
 *    the smaps entries overlapping it; Darwin: mincore), or -errno;
 *  mem_os_footprint: the process's footprint (Linux: Rss from
 *    /proc/self/smaps_rollup; Darwin: phys_footprint from
 *    task_info(TASK_VM_INFO)), or -errno. */
int64_t mem_os_range_resident(const void *v, size_t n);
int64_t mem_os_footprint(void);
/* mem_os_footprint read at most once per MEM_FOOTPRINT_MAX_AGE_NS: on Linux
 * the kernel answers smaps_rollup by walking every mapping, so its cost
 * grows with the blocks the daemon maps. The cache is the caller's, and so
 * is the clock (monotonic nanoseconds); an error is kept as long as a
 * figure. mem_footprint is the same over one cache of the process's. */
#define MEM_FOOTPRINT_MAX_AGE_NS UINT64_C(1000000000)
typedef struct mem_footprint_cache {
    uint64_t read_ns;
    int64_t bytes;
    bool valid;
} mem_footprint_cache;
int64_t mem_footprint_cached(mem_footprint_cache *c, uint64_t now_ns);
int64_t mem_footprint(uint64_t now_ns);
/* The name of the footprint figure ("rss" or "phys_footprint"). */
const char *mem_os_footprint_name(void);
/* The kernel's limit on mappings in one process (Linux: vm.max_map_count),
 * 0 where it sets none. */
int64_t mem_os_mapping_limit(void);

/* What reusing released memory costs (mem_used on Prepared pages), per
 * mille of what releasing it cost: Go's scavengeCostRatio, 700 on Darwin
 * where mem_used is a madvise(MADV_FREE_REUSE), 0 on Linux where it is
 * nothing. The scavenger charges it to its pacing. */
uint32_t mem_os_reuse_cost_permille(void);

#endif
