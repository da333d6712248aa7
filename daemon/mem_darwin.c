/* The Darwin side of the OS memory layer (mem_os.h): a C port of Go's
 * runtime/mem_darwin.go, one function per sys*OS function there, with the
 * Go comments that say why. Every range is anonymous memory: a client gets
 * a Mach memory entry made from the daemon's own mapping (docs/design.md §3), so
 * backings carry no descriptor here. */
#include "mem_os.h"

#include <errno.h>
#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/sysctl.h>

#include "log.h"

/* sysAllocOS */
int mem_os_alloc(size_t n, void **out)
{
    void *p =
        mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_ANON | MAP_PRIVATE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

/* sysReserveOS: the address is a hint only; the kernel may place the
 * reservation elsewhere, and the caller takes what it gets. */
int mem_os_reserve(void *hint, size_t n, void **out)
{
    void *p = mmap(hint, n, PROT_NONE, MAP_ANON | MAP_PRIVATE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

/* sysMapOS: Go throws "runtime: out of memory" on ENOMEM and "cannot map
 * pages in arena address space" on any other failure or when the mapping
 * lands elsewhere. Here ENOMEM comes back as -ENOMEM, another failure as
 * its -errno, and a mapping at the wrong address (which MAP_FIXED rules
 * out, but Go checks) as -EFAULT: all but -ENOMEM are fatal for the
 * region. A descriptor
 * backing cannot be honoured on Darwin, so it is refused before mapping. */
int mem_os_map(void *v, size_t n, const mem_backing *b)
{
    if (b->fd >= 0)
        return -EINVAL;
    void *p = mmap(v, n, PROT_READ | PROT_WRITE,
                   MAP_ANON | MAP_FIXED | MAP_PRIVATE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    return p == v ? 0 : -EFAULT;
}

/* sysUsedOS: "MADV_FREE_REUSE is necessary to keep the kernel's accounting
 * accurate. If called on any memory region that hasn't been
 * MADV_FREE_REUSABLE'd, it's a no-op." */
int mem_os_used(void *v, size_t n)
{
    return madvise(v, n, MADV_FREE_REUSE) == 0 ? 0 : -errno;
}

/* True when this process runs translated (Rosetta 2): sysctl.proc_translated
 * is 1 there, 0 for a native process, absent before macOS 11 / on Intel. */
static bool running_translated(void)
{
    int translated = 0;
    size_t len = sizeof translated;
    return sysctlbyname("sysctl.proc_translated", &translated, &len, NULL, 0) == 0 &&
           translated == 1;
}

static void warn_if_translated(void)
{
    static atomic_bool checked;
    if (atomic_exchange(&checked, true))
        return;
    if (running_translated())
        log_warn("memory: running translated (Rosetta): MADV_FREE_REUSABLE does nothing here, "
                 "so scavenged memory stays in phys_footprint until the kernel reclaims it; "
                 "run the native build");
}

/* The entry at v has a shadow object in front of its pages: the advice
 * could not reach them. */
static void warn_if_shadowed(void *v)
{
    static atomic_bool warned;
    mach_vm_address_t addr = (mach_vm_address_t)(uintptr_t)v;
    mach_vm_size_t size = 0;
    vm_region_extended_info_data_t info;
    mach_msg_type_number_t count = VM_REGION_EXTENDED_INFO_COUNT;
    mach_port_t object = MACH_PORT_NULL;
    kern_return_t kr = mach_vm_region(mach_task_self(), &addr, &size, VM_REGION_EXTENDED_INFO,
                                      (vm_region_info_t)&info, &count, &object);
    if (kr != KERN_SUCCESS || addr > (mach_vm_address_t)(uintptr_t)v || info.shadow_depth == 0)
        return;
    if (!atomic_exchange(&warned, true))
        log_warn("memory: the range at %p sits behind %u shadow object(s) (share mode %d): "
                 "giving it back did not release its pages, and the scavenger's released "
                 "figure overstates what went back (logged once)",
                 v, (unsigned)info.shadow_depth, (int)info.share_mode);
}

/* sysUnusedOS: "MADV_FREE_REUSABLE is like MADV_FREE except it also
 * propagates accounting information about the process to task_info."
 * That is what takes the pages out of phys_footprint at once, instead of
 * whenever the kernel gets round to reclaiming them.
 *
 * It works on pages clients share. The scavenger advises the daemon's own
 * mapping, an untagged read-write anonymous entry: xnu's
 * vm_map_entry_is_reusable (osfmk/vm/vm_map.c) holds only malloc-tagged
 * entries to its stricter rules, so vm_map_reusable_pages goes on. A
 * memory entry made with MAP_MEM_VM_SHARE shares that entry's VM object
 * (mach_make_memory_entry_share extracts it with vm_map_copy_extract,
 * copy FALSE), and vm_map_remap_extract, sharing it, turned the object
 * from MEMORY_OBJECT_COPY_SYMMETRIC to COPY_DELAY. So the object is
 * referenced more than once but is not symmetric and has no copy object:
 * vm_map_reusable_pages takes its "reusable_shared" branch and deactivates
 * the object's pages with kill_pages, for every mapper at once. Only warm
 * memory is scavenged, which no client holds; and because the pages may
 * still read as their old contents, a new owner gets them zeroed
 * (mem_need_zero_after_unused).
 *
 * When it silently does nothing: vm_map_reusable_pages works on the entry's
 * top object only. If a shadow object sits in front of the one holding
 * the pages (the entry was clipped and copied, or was needs_copy when the
 * memory entry extracted it, as vm_map_copy_extract does for a
 * copy-on-write entry), madvise still returns 0 but the pages stay
 * (kill_pages -1 on the object below). The scavenger's "released" figure
 * then counts bytes that did not go back. So after the advice the entry is
 * checked with mach_vm_region (VM_REGION_EXTENDED_INFO: shadow_depth), and
 * a shadowed one is logged (once per process). Under Rosetta the reusable
 * advice does nothing at all; that is logged at the first call. */
int mem_os_unused(void *v, size_t n, const mem_backing *b)
{
    (void)b;
    warn_if_translated();
    if (madvise(v, n, MADV_FREE_REUSABLE) != 0)
        return -errno;
    warn_if_shadowed(v);
    return 0;
}

/* sysFaultOS: a fresh PROT_NONE mapping over the range makes any access
 * fault and drops the daemon's reference to the pages. It frees them only
 * if nothing else maps the same VM object: a client that kept its mapping
 * of the block's memory entry keeps the pages alive (and counted in its
 * own footprint) until it unmaps them or exits. */
int mem_os_fault(void *v, size_t n, const mem_backing *b)
{
    (void)b;
    void *p = mmap(v, n, PROT_NONE, MAP_ANON | MAP_PRIVATE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    return p == v ? 0 : -EFAULT;
}

/* sysFreeOS */
int mem_os_free(void *v, size_t n) { return munmap(v, n) == 0 ? 0 : -errno; }

/* sysHugePageOS and sysNoHugePageOS are empty on Darwin: there is no
 * transparent huge page advice to give. */
int mem_os_huge(void *v, size_t n)
{
    (void)v;
    (void)n;
    return 0;
}

int mem_os_nohuge(void *v, size_t n)
{
    (void)v;
    (void)n;
    return 0;
}

int mem_os_backing_new(const char *name, size_t size, mem_backing *out)
{
    (void)name;
    (void)size;
    *out = MEM_BACKING_ANON;
    return 0;
}

int64_t mem_backing_resident(const mem_backing *b)
{
    (void)b;
    return 0;
}

/* Darwin backings are anonymous memory and a client receives a memory
 * entry of its block's range only (mach_make_memory_entry_64 on the
 * daemon's mapping of the block): nothing outside its blocks is reachable,
 * so there is never anything to find or free. */
int mem_backing_discard(const mem_backing *b, uint64_t n)
{
    (void)b;
    (void)n;
    return -ENOTSUP;
}

int mem_backing_next_data(const mem_backing *b, uint64_t from, uint64_t *lo, uint64_t *hi)
{
    (void)b;
    (void)from;
    (void)lo;
    (void)hi;
    return -ENOTSUP;
}

/* needZeroAfterSysUnusedOS returns true in mem_darwin.go: pages given
 * back with MADV_FREE_REUSABLE keep their contents until the kernel
 * actually reclaims them. */
bool mem_need_zero_after_unused(void) { return true; }

/* mincore fills one byte per page; a fixed buffer walks any range in
 * chunks instead of allocating a vector as long as a 64 GiB reservation. */
int64_t mem_os_range_resident(const void *v, size_t n)
{
    size_t page = mem_page_size();
    char vec[4096];
    int64_t resident = 0;
    for (size_t done = 0; done < n;) {
        size_t pages = (n - done) / page;
        if (pages > sizeof vec)
            pages = sizeof vec;
        if (pages == 0)
            return -EINVAL;
        if (mincore((const char *)v + done, pages * page, vec) != 0)
            return -errno;
        for (size_t i = 0; i < pages; i++)
            if (vec[i] & MINCORE_INCORE)
                resident += (int64_t)page;
        done += pages * page;
    }
    return resident;
}

/* phys_footprint is what Activity Monitor and jetsam count. It was added
 * to task_vm_info in revision 1 (xnu osfmk/mach/task_info.h), so a kernel
 * that fills fewer than TASK_VM_INFO_REV1_COUNT words has not set it. */
int64_t mem_os_footprint(void)
{
    task_vm_info_data_t info;
    mach_msg_type_number_t count = TASK_VM_INFO_COUNT;
    kern_return_t kr =
        task_info(mach_task_self(), TASK_VM_INFO, (task_info_t)&info, &count);
    if (kr != KERN_SUCCESS)
        return -EIO;
    if (count < TASK_VM_INFO_REV1_COUNT)
        return -ENOTSUP;
    return (int64_t)info.phys_footprint;
}

const char *mem_os_footprint_name(void) { return "phys_footprint"; }

/* xnu's vm_map has no fixed per-process limit on map entries. */
int64_t mem_os_mapping_limit(void) { return 0; }

/* scavengeCostRatio in mgcscavenge.go: 0.7 on Darwin and iOS, where
 * sysUsed is a madvise(MADV_FREE_REUSE) for every reused range. */
uint32_t mem_os_reuse_cost_permille(void) { return 700; }
