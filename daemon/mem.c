/* Memory states and accounting (Go's runtime/mem.go): the checks every
 * transition needs, the per-page state of each region and the byte
 * counters. The syscalls are the platform file's (mem_os.h). */
#include "mem.h"
#include "mem_os.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One byte per OS page: the state in the low bits and, above them, the
 * huge-page hint last asked for the page. Reserved is stored as 0 so that a
 * calloc'd array already describes a fresh reservation: the kernel hands
 * out zero pages lazily, so the array of a 64 GiB reservation costs memory
 * only where pages leave the Reserved state. */
#define PAGE_STATE_MASK 0x3u
#define PAGE_HINT_SHIFT 2
#define PAGE_HINT_MASK (0x3u << PAGE_HINT_SHIFT)

typedef enum page_hint { HINT_NONE = 0, HINT_HUGE, HINT_NOHUGE } page_hint;

struct mem_region {
    uint8_t *base;
    size_t size;
    uint8_t *pages;
    mem_counters counters;
};

static mem_counters total;

size_t mem_page_size(void)
{
    static size_t page_size;
    if (page_size == 0)
        page_size = (size_t)sysconf(_SC_PAGESIZE);
    return page_size;
}

static bool size_ok(size_t n) { return n > 0 && n % mem_page_size() == 0; }

static bool range_ok(const mem_region *r, const void *v, size_t n)
{
    if (r == NULL || !size_ok(n) || (uintptr_t)v % mem_page_size() != 0)
        return false;
    uintptr_t start = (uintptr_t)v, base = (uintptr_t)r->base;
    return start >= base && start - base <= r->size &&
           n <= r->size - (start - base);
}

/* A mapping needs a page-aligned backing offset; an anonymous backing's
 * offset is never used. */
static bool backing_ok(const mem_backing *b)
{
    return b != NULL && (b->fd < 0 || b->offset % mem_page_size() == 0);
}

static size_t page_index(const mem_region *r, const void *v)
{
    return ((uintptr_t)v - (uintptr_t)r->base) / mem_page_size();
}

static mem_state page_state(const mem_region *r, size_t i)
{
    return (mem_state)((r->pages[i] & PAGE_STATE_MASK) + MEM_RESERVED);
}

static page_hint page_hint_of(const mem_region *r, size_t i)
{
    return (page_hint)((r->pages[i] & PAGE_HINT_MASK) >> PAGE_HINT_SHIFT);
}

/* Bytes of [v, v+n) in each state; the range is already checked. */
static void range_census(const mem_region *r, const void *v, size_t n,
                         uint64_t bytes[MEM_NSTATES])
{
    size_t page = mem_page_size(), first = page_index(r, v);
    memset(bytes, 0, MEM_NSTATES * sizeof bytes[0]);
    for (size_t i = first; i < first + n / page; i++)
        bytes[page_state(r, i)] += page;
}

static void count_move(mem_region *r, mem_state from, mem_state to,
                       uint64_t bytes)
{
    r->counters.bytes[from] -= bytes;
    r->counters.bytes[to] += bytes;
    total.bytes[from] -= bytes;
    total.bytes[to] += bytes;
}

/* Moves every page of [v, v+n) to `to`, whatever state it was in, and the
 * counters with it, so mixed ranges (mem_used, mem_fault) stay exact. */
static void range_set_state(mem_region *r, const void *v, size_t n,
                            mem_state to)
{
    uint64_t before[MEM_NSTATES];
    range_census(r, v, n, before);
    size_t first = page_index(r, v), last = first + n / mem_page_size();
    for (size_t i = first; i < last; i++)
        r->pages[i] = (uint8_t)((r->pages[i] & ~PAGE_STATE_MASK) |
                                (unsigned)(to - MEM_RESERVED));
    for (int s = MEM_RESERVED; s < MEM_NSTATES; s++)
        if (s != (int)to)
            count_move(r, (mem_state)s, to, before[s]);
}

static void range_set_hint(mem_region *r, const void *v, size_t n,
                           page_hint hint)
{
    size_t first = page_index(r, v), last = first + n / mem_page_size();
    for (size_t i = first; i < last; i++)
        r->pages[i] = (uint8_t)((r->pages[i] & ~PAGE_HINT_MASK) |
                                ((unsigned)hint << PAGE_HINT_SHIFT));
}

/* A MAP_FIXED mapping replaces the old one and loses its huge-page advice,
 * so the hints recorded for the new pages are given again, run by run.
 * They are hints that already succeeded on these pages: a failure now
 * leaves a valid mapping, only without the advice, so it is not an error. */
static void range_readvise(const mem_region *r, uint8_t *v, size_t n)
{
    size_t page = mem_page_size(), first = page_index(r, v);
    size_t last = first + n / page;
    for (size_t i = first; i < last;) {
        size_t run = i;
        while (run < last && page_hint_of(r, run) == page_hint_of(r, i))
            run++;
        uint8_t *start = r->base + i * page;
        if (page_hint_of(r, i) == HINT_HUGE)
            (void)mem_os_huge(start, (run - i) * page);
        else if (page_hint_of(r, i) == HINT_NOHUGE)
            (void)mem_os_nohuge(start, (run - i) * page);
        i = run;
    }
}

/* The bookkeeping is allocated before the syscall, so that running out of
 * heap never leaves a mapping nobody accounts for. */
static mem_region *region_new(size_t n)
{
    mem_region *r = calloc(1, sizeof *r);
    uint8_t *pages = calloc(n / mem_page_size(), 1);
    if (r == NULL || pages == NULL) {
        free(r);
        free(pages);
        return NULL;
    }
    r->pages = pages;
    r->size = n;
    return r;
}

static void region_attach(mem_region *r, void *base, mem_state initial)
{
    r->base = base;
    if (initial != MEM_RESERVED)
        memset(r->pages, (int)(initial - MEM_RESERVED),
               r->size / mem_page_size());
    r->counters.bytes[initial] = r->size;
    total.bytes[initial] += r->size;
}

static void region_delete(mem_region *r)
{
    free(r->pages);
    free(r);
}

static int region_create(void *hint, size_t n, mem_state initial,
                         mem_region **out)
{
    mem_region *r = region_new(n);
    if (r == NULL)
        return -ENOMEM;
    void *base;
    int err = initial == MEM_READY ? mem_os_alloc(n, &base)
                                   : mem_os_reserve(hint, n, &base);
    if (err != 0) {
        region_delete(r);
        return err;
    }
    region_attach(r, base, initial);
    *out = r;
    return 0;
}

int mem_alloc(size_t n, mem_region **out)
{
    if (out == NULL || !size_ok(n))
        return -EINVAL;
    return region_create(NULL, n, MEM_READY, out);
}

int mem_reserve(void *hint, size_t n, mem_region **out)
{
    if (out == NULL || !size_ok(n) || (uintptr_t)hint % mem_page_size() != 0)
        return -EINVAL;
    return region_create(hint, n, MEM_RESERVED, out);
}

int mem_free(mem_region *r)
{
    if (r == NULL)
        return -EINVAL;
    int err = mem_os_free(r->base, r->size);
    if (err != 0)
        return err;
    for (int s = MEM_RESERVED; s < MEM_NSTATES; s++)
        total.bytes[s] -= r->counters.bytes[s];
    region_delete(r);
    return 0;
}

int mem_map(mem_region *r, void *v, size_t n, const mem_backing *b)
{
    uint64_t bytes[MEM_NSTATES];
    if (!range_ok(r, v, n) || !backing_ok(b))
        return -EINVAL;
    range_census(r, v, n, bytes);
    if (bytes[MEM_RESERVED] != n)
        return -EINVAL;
    int err = mem_os_map(v, n, b);
    if (err != 0)
        return err;
    range_set_state(r, v, n, MEM_PREPARED);
    range_readvise(r, v, n);
    return 0;
}

int mem_used(mem_region *r, void *v, size_t n, size_t prepared)
{
    uint64_t bytes[MEM_NSTATES];
    if (!range_ok(r, v, n))
        return -EINVAL;
    range_census(r, v, n, bytes);
    if (bytes[MEM_RESERVED] != 0 || bytes[MEM_PREPARED] != prepared)
        return -EINVAL;
    int err = mem_os_used(v, n);
    if (err != 0)
        return err;
    range_set_state(r, v, n, MEM_READY);
    return 0;
}

int mem_unused(mem_region *r, void *v, size_t n, const mem_backing *b)
{
    uint64_t bytes[MEM_NSTATES];
    if (!range_ok(r, v, n) || !backing_ok(b))
        return -EINVAL;
    range_census(r, v, n, bytes);
    if (bytes[MEM_READY] != n)
        return -EINVAL;
    int err = mem_os_unused(v, n, b);
    if (err != 0)
        return err;
    range_set_state(r, v, n, MEM_PREPARED);
    return 0;
}

int mem_fault(mem_region *r, void *v, size_t n, const mem_backing *b)
{
    uint64_t bytes[MEM_NSTATES];
    if (!range_ok(r, v, n) || !backing_ok(b))
        return -EINVAL;
    range_census(r, v, n, bytes);
    if (bytes[MEM_RESERVED] != 0)
        return -EINVAL;
    int err = mem_os_fault(v, n, b);
    if (err != 0)
        return err;
    range_set_state(r, v, n, MEM_RESERVED);
    return 0;
}

int mem_huge(mem_region *r, void *v, size_t n)
{
    if (!range_ok(r, v, n))
        return -EINVAL;
    int err = mem_os_huge(v, n);
    if (err != 0)
        return err;
    range_set_hint(r, v, n, HINT_HUGE);
    return 0;
}

int mem_nohuge(mem_region *r, void *v, size_t n)
{
    if (!range_ok(r, v, n))
        return -EINVAL;
    int err = mem_os_nohuge(v, n);
    if (err != 0)
        return err;
    range_set_hint(r, v, n, HINT_NOHUGE);
    return 0;
}

void *mem_region_base(const mem_region *r) { return r->base; }

size_t mem_region_size(const mem_region *r) { return r->size; }

mem_state mem_region_state(const mem_region *r, const void *v)
{
    if (r == NULL || (uintptr_t)v < (uintptr_t)r->base ||
        (uintptr_t)v - (uintptr_t)r->base >= r->size)
        return MEM_NONE;
    return page_state(r, page_index(r, v));
}

size_t mem_region_count(const mem_region *r, const void *v, size_t n,
                        mem_state state)
{
    uint64_t bytes[MEM_NSTATES];
    if (!range_ok(r, v, n) || (unsigned)state >= MEM_NSTATES)
        return 0;
    range_census(r, v, n, bytes);
    return (size_t)bytes[state];
}

void mem_region_counters(const mem_region *r, mem_counters *out)
{
    *out = r->counters;
}

void mem_total_counters(mem_counters *out) { *out = total; }

const char *mem_state_name(mem_state s)
{
    static const char *const names[MEM_NSTATES] = { "none", "reserved",
                                                    "prepared", "ready" };
    return (unsigned)s < MEM_NSTATES ? names[s] : "?";
}

int64_t mem_footprint_cached(mem_footprint_cache *c, uint64_t now_ns)
{
    if (!c->valid || now_ns - c->read_ns >= MEM_FOOTPRINT_MAX_AGE_NS || now_ns < c->read_ns) {
        c->bytes = mem_os_footprint();
        c->read_ns = now_ns;
        c->valid = true;
    }
    return c->bytes;
}

int64_t mem_footprint(uint64_t now_ns)
{
    static mem_footprint_cache process;
    return mem_footprint_cached(&process, now_ns);
}

int mem_backing_new(const char *name, size_t size, mem_backing *out)
{
    if (name == NULL || out == NULL || !size_ok(size))
        return -EINVAL;
    return mem_os_backing_new(name, size, out);
}

void mem_backing_close(mem_backing *b)
{
    if (b != NULL && b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
}
