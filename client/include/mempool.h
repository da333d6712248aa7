/* libmempool: the client library of mempoold.
 *
 * Every function that can fail returns 0 or a negative MEMPOOL_E* code.
 * A mempool_client is one connection to the daemon and is safe to use from
 * several threads; calls are synchronous, and a call waiting for a name
 * does not hold up the other threads' calls. */
#ifndef MEMPOOL_H
#define MEMPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MEMPOOL_VERSION_MAJOR 0
#define MEMPOOL_VERSION_MINOR 1
#define MEMPOOL_VERSION_PATCH 0

/* The error codes, one list (as libuv's UV_ERRNO_MAP). The numbers travel
 * on the wire as a reply's status, so an entry's number never changes;
 * new codes are added at the end. */
#define MEMPOOL_ERRNO_MAP(XX)                                                  \
    XX(EINVAL, 1, "invalid argument")                                          \
    XX(ENOMEM, 2, "pool limit or system memory exhausted")                     \
    XX(EDQUOT, 3, "quota of this uid in the pool exceeded")                    \
    XX(E2BIG, 4, "block larger than the pool's max_block")                     \
    XX(EACCES, 5, "access denied by the pool's policy")                        \
    XX(ENOPOOL, 6, "no such pool")                                             \
    XX(EBADHANDLE, 7, "unknown or expired handle")                             \
    XX(ENOBLOCK, 8, "block not held by this connection")                       \
    XX(EPROTO, 9, "protocol error")                                            \
    XX(EVERSION, 10, "protocol version not supported")                         \
    XX(ECONN, 11, "cannot reach the daemon")                                   \
    XX(ECONNLOST, 12, "connection to the daemon lost")                         \
    XX(ELIMIT, 13, "too many clients, blocks, names or waits")                 \
    XX(EIO, 14, "system call failed")                                          \
    XX(ENOSYS, 15, "not supported on this platform")                           \
    XX(ESHUTDOWN, 16, "the daemon is shutting down")                           \
    XX(EPERM, 17, "operation not permitted for this protection")               \
    XX(EEXIST, 18, "a block is already published under that name")            \
    XX(ENONAME, 19, "no block published under this name")                      \
    XX(ETIMEDOUT, 20, "timed out waiting for the name")                        \
    XX(EBADNAME, 21, "a name is 1 to 64 of A-Z a-z 0-9 . _ - : /")

enum {
#define MEMPOOL_ERR_ENUM(name, num, text) MEMPOOL_##name = -(num),
    MEMPOOL_ERRNO_MAP(MEMPOOL_ERR_ENUM)
#undef MEMPOOL_ERR_ENUM
    MEMPOOL_ERR_LAST_ = 0
};

typedef struct mempool_client mempool_client; /* one connection; thread-safe */

typedef struct mempool_block {
    void *addr;    /* mapped in this process */
    size_t size;   /* bytes, a whole number of pages */
    uint64_t id;   /* daemon-wide block id */
    unsigned prot; /* MEMPOOL_READ | MEMPOOL_WRITE */
} mempool_block;

typedef struct mempool_handle {
    unsigned char bytes[32];
} mempool_handle; /* opaque, copyable */

/* A pool as the daemon sees it, and this connection's share of it. */
typedef struct mempool_info {
    uint64_t page_size;        /* block granularity in bytes */
    uint64_t limit;            /* most bytes the pool may hold */
    uint64_t in_use;           /* bytes held by blocks */
    uint64_t warm;             /* free bytes kept mapped for reuse */
    uint64_t quota;            /* most bytes one uid may hold */
    uint64_t client_use;       /* bytes this connection holds */
    uint64_t released;         /* bytes given back to the OS, in total */
    uint64_t scavenger_runs;   /* background scavenger runs */
    uint64_t scavenger_cpu_ns; /* CPU time the scavenger used */
    uint64_t last_scavenge_ms; /* unix time of the last run (ms), 0: never */
} mempool_info;

#define MEMPOOL_READ 1u
#define MEMPOOL_WRITE 2u
#define MEMPOOL_ALLOC_DIRTY 0x1u    /* same-uid warm reuse may skip zeroing */
#define MEMPOOL_ALLOC_POPULATE 0x2u /* prefault the mapping */
/* mempool_publish: take the name over from the block published under it. */
#define MEMPOOL_PUBLISH_REPLACE 0x100u

/* 64 hex digits and the terminating NUL. */
#define MEMPOOL_HANDLE_STRLEN 65

/* NULL: $MEMPOOL_SOCKET, then the default path. */
int mempool_connect(const char *socket_path, mempool_client **out);
/* Releases and unmaps what this connection holds. */
void mempool_disconnect(mempool_client *c);
int mempool_alloc(mempool_client *c, const char *pool, size_t size,
                  unsigned flags, mempool_block *out);
int mempool_share(mempool_client *c, const mempool_block *b, unsigned prot,
                  mempool_handle *out);
int mempool_attach(mempool_client *c, const mempool_handle *h,
                   mempool_block *out);
/* Unmaps; the block is freed when its last holder lets go. */
int mempool_release(mempool_client *c, mempool_block *b);
int mempool_pool_info(mempool_client *c, const char *pool,
                      mempool_info *out);
/* Named blocks (mempool_publish(3)). A name lives in the block's pool
 * while the block lives; names are 1 to 64 of A-Z a-z 0-9 . _ - : /.
 * prot: MEMPOOL_READ or MEMPOOL_READ|MEMPOOL_WRITE, optionally with
 * MEMPOOL_PUBLISH_REPLACE. */
int mempool_publish(mempool_client *c, const mempool_block *b,
                    const char *name, unsigned prot);
int mempool_unpublish(mempool_client *c, const char *pool, const char *name);
/* timeout_ms: 0 does not wait (MEMPOOL_ENONAME), -1 waits until the name
 * is published, else waits that long at most (MEMPOOL_ETIMEDOUT). Other
 * threads may use the client meanwhile. */
int mempool_lookup(mempool_client *c, const char *pool, const char *name,
                   int timeout_ms, mempool_handle *out);
/* mempool_lookup and mempool_attach in one round trip. */
int mempool_attach_name(mempool_client *c, const char *pool,
                        const char *name, int timeout_ms, mempool_block *out);
/* Gives back at once every block this connection keeps in its block cache
 * (blocks released that the library kept for the next allocation). */
int mempool_trim(mempool_client *c);
int mempool_handle_format(const mempool_handle *h, char *buf, size_t len);
int mempool_handle_parse(const char *text, mempool_handle *out);
const char *mempool_strerror(int err);
const char *mempool_err_name(int err);
/* The socket path mempool_connect(NULL) uses: $MEMPOOL_SOCKET, else the
 * per-user default path if a socket is there, else /var/run/mempoold.sock.
 * A per-thread buffer; NULL when $MEMPOOL_SOCKET is too long. */
const char *mempool_default_socket(void);

#ifdef __cplusplus
}
#endif

#endif
