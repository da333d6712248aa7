/* The OS contract between mem.c and the platform files (mem_linux.c,
 * mem_darwin.c), as Go's sys*OS functions (runtime/mem_linux.go,
 * runtime/mem_darwin.go) and mimalloc's prim.h. Internal to mem.c: nothing
 * else in the daemon includes this header.
 *
 * Preconditions, checked by mem.c before any call, so the platform files
 * make the syscall and nothing else:
 *   - v and n are multiples of the OS page size, n > 0;
 *   - [v, v+n) lies inside one region, every page in the state the
 *     transition starts from (see mem.h);
 *   - b is never NULL, and when b->fd >= 0, b->offset is the page-aligned
 *     offset in the backing that corresponds to v.
 * Each function returns 0 or the negative errno of the call that failed.
 *
 * Also part of this contract, declared in mem.h and defined by each
 * platform file because only the OS can answer them:
 *   mem_backing_resident, mem_need_zero_after_unused,
 *   mem_os_range_resident, mem_os_footprint, mem_os_footprint_name,
 *   mem_os_reuse_cost_permille. */
#ifndef MEMPOOL_MEM_OS_H
#define MEMPOOL_MEM_OS_H

#include <stddef.h>

#include "mem.h"

/* None -> Ready */
int mem_os_alloc(size_t n, void **out);
/* None -> Reserved; hint is only a hint */
int mem_os_reserve(void *hint, size_t n, void **out);
/* Reserved -> Prepared */
int mem_os_map(void *v, size_t n, const mem_backing *b);
/* Prepared -> Ready */
int mem_os_used(void *v, size_t n);
/* Ready -> Prepared */
int mem_os_unused(void *v, size_t n, const mem_backing *b);
/* Ready or Prepared -> Reserved */
int mem_os_fault(void *v, size_t n, const mem_backing *b);
/* any -> None */
int mem_os_free(void *v, size_t n);
/* Hints, no state change */
int mem_os_huge(void *v, size_t n);
int mem_os_nohuge(void *v, size_t n);

/* A new backing of `size` bytes (size > 0, page multiple, name non-NULL). */
int mem_os_backing_new(const char *name, size_t size, mem_backing *out);

#endif
