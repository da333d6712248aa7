/* mempool_strerror and mempool_err_name, generated from MEMPOOL_ERRNO_MAP
 * so the codes, their names and their texts cannot drift apart. */
#include "mempool.h"

const char *mempool_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define MEMPOOL_STRERROR_CASE(name, num, text)                                 \
    case MEMPOOL_##name:                                                       \
        return text;
        MEMPOOL_ERRNO_MAP(MEMPOOL_STRERROR_CASE)
#undef MEMPOOL_STRERROR_CASE
    default:
        return "unknown error";
    }
}

const char *mempool_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define MEMPOOL_ERR_NAME_CASE(name, num, text)                                 \
    case MEMPOOL_##name:                                                       \
        return "MEMPOOL_" #name;
        MEMPOOL_ERRNO_MAP(MEMPOOL_ERR_NAME_CASE)
#undef MEMPOOL_ERR_NAME_CASE
    default:
        return "MEMPOOL_EUNKNOWN";
    }
}
