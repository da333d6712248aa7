#include "page_cache.h"

#include <check.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "mem.h"

uint64_t cached_bytes(void *addr, uint64_t len)
{
    size_t page = mem_page_size();
    /* void *: mincore takes unsigned char * on Linux, char * on macOS. */
    void *vec = malloc(len / page);
    ck_assert_ptr_nonnull(vec);
    ck_assert_int_eq(mincore(addr, len, vec), 0);
    const unsigned char *in_core = vec;
    uint64_t bytes = 0;
    for (size_t i = 0; i < len / page; i++)
        bytes += (in_core[i] & 1) ? page : 0;
    free(vec);
    return bytes;
}
