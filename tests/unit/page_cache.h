/* What the kernel holds of a memfd mapping, page by page, for tests. */
#ifndef MEMPOOL_TEST_PAGE_CACHE_H
#define MEMPOOL_TEST_PAGE_CACHE_H

#include <stdint.h>

/* Bytes of [addr, addr+len) whose pages the memfd holds: mincore reports
 * the page cache of shared file mappings, exact to the page, where smaps
 * has one figure per mapping. */
uint64_t cached_bytes(void *addr, uint64_t len);

#endif
