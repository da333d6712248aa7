/* The wire protocol between libmempool and mempoold (as chrony's candm.h:
 * one header shared by both sides). common/proto.c is the only code that
 * reads or writes wire bytes; everything else works on the structs below.
 *
 * A frame is a fixed 24-byte header followed by `length` payload bytes.
 * Every integer is fixed-width little-endian:
 *
 *   offset size  field
 *        0    2  version     PROTO_VERSION of the sender
 *        2    2  type        enum proto_type
 *        4    4  flags       0; a reply may set PROTO_FLAG_GIVE_BACK
 *        8    8  request_id  chosen by the client, echoed in the reply
 *       16    4  status      0, or a negative MEMPOOL_E* code (replies only)
 *       20    4  length      payload bytes; must equal the type's table entry
 *
 * On Linux a frame is one SOCK_SEQPACKET message; a reply that hands over
 * memory carries the backing's descriptor in the same message (SCM_RIGHTS).
 * On macOS (no SOCK_SEQPACKET for AF_UNIX) the socket is a stream and a
 * reader takes the header first, then the `length` it declares
 * (proto_frame_size); memory travels over Mach, fetched with the block
 * reply's rendezvous nonce (common/handoff_darwin.c).
 * An error reply (status != 0) has no payload. A frame the daemon cannot
 * decode gets an error reply with request_id 0 and the session is closed.
 *
 * The first exchange is HELLO: the client offers [min_version, max_version],
 * the daemon answers with the version both speak or MEMPOOL_EVERSION.
 *
 * PROTO_VERSION history, bump it whenever any frame's layout or meaning
 * changes (a new message type is a change too), and say why here:
 *   1  first version.
 *   2  the block reply (ALLOC, ATTACH) grows from 40 to 56 bytes: a 16-byte
 *      rendezvous nonce, with which a macOS client fetches the memory entry
 *      over Mach (a port cannot ride on a Unix socket); zeros on Linux,
 *      where the memfd comes in the reply's own message. Version 1 is no
 *      longer spoken (PROTO_MIN_VERSION 2): no release shipped it, and
 *      speaking it would need a second block-reply layout.
 *   3  RELEASE is one-way: the daemon sends no reply, whether it could
 *      honour the release or not (one it cannot is logged with the uid and
 *      counted, as `releases_refused` in admin stats and
 *      mempool_releases_refused_total). An alloc + release is one round
 *      trip. The library checks locally what it can (a block this
 *      connection does not hold is MEMPOOL_ENOBLOCK at once). Version 2 is
 *      no longer spoken (PROTO_MIN_VERSION 3): no release shipped it.
 *   4  named blocks: PUBLISH, UNPUBLISH, LOOKUP and ATTACH_NAME. LOOKUP
 *      and ATTACH_NAME may wait for the name in the daemon, so replies no
 *      longer come in the order of the requests: a client matches each
 *      reply to its request by request_id (docs/protocol.md). Version 3
 *      is no longer spoken (PROTO_MIN_VERSION 4): no release shipped it.
 *   5  mappings that stay mapped. RELEASE grows from 8 to 24 bytes
 *      (block_id, forget_backing, flags): KEEP_MAPPING says the client
 *      keeps its mapping of the block's backing, forget_backing names one
 *      it has unmapped. The block reply grows from 56 to 64 bytes
 *      (kept_mappings, the pool's setting, and a pad); backing_flags gain
 *      KEPT (no descriptor: reuse the mapping kept of backing_id) and
 *      CLIENT_ZEROES (this uid's own warm block: the client zeroes it).
 *      Block isolation's backing_id names the backing for good, not the
 *      block. The block reply of ATTACH_NAME grows with it.
 *      Version 4 is no longer spoken (PROTO_MIN_VERSION 5).
 *   6  the client-side block cache. A new one-way message, CACHE (232):
 *      count u32, pad u32, then `count` (at most 28) entries u64, each an
 *      op in the top two bits (PUT: the block went into the client's
 *      cache, still held; TAKE: taken out of it, in use; GIVE_BACK:
 *      released) and the block id below. Replies may carry the header
 *      flag GIVE_BACK: the client gives its cache back. The block reply
 *      (ALLOC, ATTACH, ATTACH_NAME) grows from 64 to 80 bytes:
 *      client_cache_age_ms u32 (in place of the pad), client_cache u64
 *      and the pool's page_size u64. Version 5 is no longer spoken
 *      (PROTO_MIN_VERSION 6).
 *   7  CLIENT_ZEROES comes with SHARED too: a block of a pool-wide (or
 *      uid) backing, every page of it warm, whose backing no other uid has
 *      ever been granted, zeroed by the client through its mapping of the
 *      backing. A version 6 client
 *      would take such a block as cleared by the daemon, so version 6 is
 *      no longer spoken (PROTO_MIN_VERSION 7). */
#ifndef MEMPOOL_PROTO_H
#define MEMPOOL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "mempool.h"

#define PROTO_VERSION 7
#define PROTO_MIN_VERSION 7

#define PROTO_HEADER_SIZE 24
#define PROTO_POOL_NAME_MAX 64   /* a pool name's longest length, no NUL */
#define PROTO_CLIENT_NAME_MAX 32 /* a client's name at hello, no NUL */
#define PROTO_HANDLE_SIZE 32
#define PROTO_RENDEZVOUS_SIZE 16 /* the block reply's nonce */
#define PROTO_BLOCK_NAME_MAX 64  /* a published name's longest length */
#define PROTO_MAX_FRAME 256      /* no frame of this version is larger */

#define PROTO_TYPE_MAP(XX)                                                     \
    /* name        num  request size  reply size (-1: never replied to) */    \
    XX(HELLO, 1, 40, 16)                                                       \
    XX(ALLOC, 2, 80, 80)                                                       \
    XX(SHARE, 3, 16, 32)                                                       \
    XX(ATTACH, 4, 32, 80)                                                      \
    XX(RELEASE, 5, 24, -1)                                                     \
    XX(POOL_INFO, 6, 64, 80)                                                   \
    XX(PUBLISH, 7, 80, 0)                                                      \
    XX(UNPUBLISH, 8, 128, 0)                                                   \
    XX(LOOKUP, 9, 136, 32)                                                     \
    XX(ATTACH_NAME, 10, 136, 80)                                               \
    XX(CACHE, 11, 232, -1)

typedef enum proto_type {
#define PROTO_TYPE_ENUM(name, num, req, rep) PROTO_##name = num,
    PROTO_TYPE_MAP(PROTO_TYPE_ENUM)
#undef PROTO_TYPE_ENUM
} proto_type;

/* Every type number is below this: tables indexed by type use it. */
#define PROTO_TYPE_LIMIT 32

/* Header flags: a reply may ask the client to give back the blocks it
 * keeps cached (the pool nears its limit, memory pressure, a scavenge). */
#define PROTO_FLAG_GIVE_BACK 0x1u

typedef struct proto_header {
    uint16_t version;
    uint16_t type;
    uint32_t flags;
    uint64_t request_id;
    int32_t status;
    uint32_t length;
} proto_header;

/* HELLO request (40): min_version u16, max_version u16, pid u32, name[32]. */
typedef struct proto_hello {
    uint16_t min_version;
    uint16_t max_version;
    uint32_t pid; /* informational: the daemon trusts only the kernel's */
    char name[PROTO_CLIENT_NAME_MAX + 1];
} proto_hello;

/* HELLO reply (16): version u16, pad u16, daemon_pid u32, session u64. */
typedef struct proto_hello_reply {
    uint16_t version;
    uint32_t daemon_pid;
    uint64_t session_id;
} proto_hello_reply;

/* ALLOC request (80): pool[64], size u64, flags u32, pad u32. */
typedef struct proto_alloc {
    char pool[PROTO_POOL_NAME_MAX + 1];
    uint64_t size;
    uint32_t flags; /* MEMPOOL_ALLOC_* */
} proto_alloc;

/* The reply of ALLOC and ATTACH (80): where the block lies in the backing
 * that comes with the frame (or that an earlier frame brought, or that the
 * client kept mapped), and the pool's settings for the library.
 *   block_id u64, size u64, offset u64, backing_id u64, prot u32,
 *   backing_flags u32, rendezvous[16], kept_mappings u32,
 *   client_cache_age_ms u32, client_cache u64, page_size u64.
 * rendezvous: with ATTACHED on macOS, the one-time nonce the client
 * presents to the daemon's Mach service to receive the backing; zeros on
 * Linux and whenever ATTACHED is not set. */
typedef struct proto_block_reply {
    uint64_t block_id;
    uint64_t size;       /* bytes, whole pages */
    uint64_t offset;     /* of the block inside the backing */
    uint64_t backing_id; /* names the backing within this connection */
    uint32_t prot;       /* MEMPOOL_READ | MEMPOOL_WRITE */
    uint32_t backing_flags;
    unsigned char rendezvous[PROTO_RENDEZVOUS_SIZE];
    uint32_t kept_mappings; /* the pool's: released mappings to keep */
    uint32_t client_cache_age_ms; /* the pool's: how long a block may stay cached */
    uint64_t client_cache;  /* the pool's: bytes one connection may keep cached */
    uint64_t page_size;     /* the pool's page: the cache's fit rule */
} proto_block_reply;

/* backing_flags */
#define PROTO_BACKING_ATTACHED 0x1u /* this frame carries the backing */
#define PROTO_BACKING_SHARED 0x2u   /* pool or uid isolation: one backing for
                                       many blocks; keep it mapped */
#define PROTO_BACKING_KEPT 0x4u     /* no descriptor: the client kept a
                                       mapping of backing_id; reuse it */
#define PROTO_BACKING_CLIENT_ZEROES 0x8u /* warm, this uid's own, not DIRTY:
                                            the client zeroes the block
                                            (with KEPT in block isolation;
                                            with SHARED in pool and uid
                                            isolation; on Darwin a pool or
                                            uid block's own entry, without
                                            either) */

/* SHARE request (16): block_id u64, prot u32, pad u32.
 * SHARE reply (32): the handle's bytes. */
typedef struct proto_share {
    uint64_t block_id;
    uint32_t prot;
} proto_share;

/* ATTACH request (32): the handle's bytes. */

/* RELEASE request (24), one-way (no reply): block_id u64 (0: none),
 * forget_backing u64 (0: none), flags u32, pad u32. */
typedef struct proto_release {
    uint64_t block_id;
    uint64_t forget_backing; /* a kept backing the client has unmapped */
    uint32_t flags;
} proto_release;

#define PROTO_RELEASE_KEEP_MAPPING 0x1u /* the client keeps the block's mapping */

/* CACHE request (232), one-way: count u32, pad u32, entries[28] u64. */
#define PROTO_CACHE_MAX 28
#define PROTO_CACHE_PUT 1u       /* into the client's cache; still held */
#define PROTO_CACHE_TAKE 2u      /* out of it, in use again */
#define PROTO_CACHE_GIVE_BACK 3u /* released (the client unmapped it) */
#define PROTO_CACHE_ENTRY(op, id) (((uint64_t)(op) << 62) | (id))
#define PROTO_CACHE_OP(entry) ((unsigned)((entry) >> 62))
#define PROTO_CACHE_ID(entry) ((entry) & ((1ull << 62) - 1))
typedef struct proto_cache {
    uint32_t count;
    uint64_t entries[PROTO_CACHE_MAX];
} proto_cache;

/* POOL_INFO request (64): pool[64]. Reply (80): ten u64, in the order of
 * mempool_info's fields. */

/* PUBLISH request (80): block_id u64, prot u32 (MEMPOOL_READ, optionally
 * MEMPOOL_WRITE and MEMPOOL_PUBLISH_REPLACE), pad u32, name[64]. The pool
 * is the block's. Reply: empty. */
typedef struct proto_publish {
    uint64_t block_id;
    uint32_t prot;
    char name[PROTO_BLOCK_NAME_MAX + 1];
} proto_publish;

/* UNPUBLISH request (128): pool[64], name[64]. Reply: empty.
 * LOOKUP and ATTACH_NAME requests (136): pool[64], name[64],
 * timeout_ms i32 (0: do not wait, -1: wait until published), pad u32.
 * LOOKUP's reply is a handle (32), ATTACH_NAME's a block reply (56). */
typedef struct proto_name_ref {
    char pool[PROTO_POOL_NAME_MAX + 1];
    char name[PROTO_BLOCK_NAME_MAX + 1];
    int32_t timeout_ms; /* LOOKUP and ATTACH_NAME only */
} proto_name_ref;

/* Size of a message's payload: the type's table entry, or -1 for an
 * unknown type (and, for replies, for a one-way request). */
int proto_request_size(uint16_t type);
int proto_reply_size(uint16_t type);
const char *proto_type_name(uint16_t type);

/* The length of the frame that starts with this header (PROTO_HEADER_SIZE
 * bytes): the header plus the payload length it declares; or just
 * PROTO_HEADER_SIZE when that declares more than PROTO_MAX_FRAME, which no
 * frame of this protocol is, so a stream reader hands the header alone to
 * proto_decode_header, which refuses it. */
size_t proto_frame_size(const unsigned char *hdr);

/* Encoders write into buf (at least PROTO_MAX_FRAME bytes) and return the
 * frame's length. */
size_t proto_encode_header(const proto_header *h, unsigned char *buf);
size_t proto_encode_request(unsigned char *buf, uint16_t type, uint64_t id,
                            const void *payload, size_t payload_len);
size_t proto_encode_reply(unsigned char *buf, uint16_t type, uint64_t id,
                          int32_t status, const void *payload,
                          size_t payload_len);
size_t proto_error_reply(unsigned char *buf, uint16_t type, uint64_t id,
                         int32_t status);

/* Decoding a frame: checks the header against the table and returns 0 or
 * a MEMPOOL_E* code (EPROTO for a bad length, type or flags; EVERSION for
 * a version outside [PROTO_MIN_VERSION, PROTO_VERSION] in a frame that is
 * not HELLO). `is_reply` selects the reply column of the table. */
int proto_decode_header(const unsigned char *buf, size_t len, int is_reply,
                        proto_header *out);

/* Payload codecs: put_* fill a payload buffer and return its size; get_*
 * parse one (its size already checked by proto_decode_header) and return
 * 0 or MEMPOOL_EPROTO (a name that is not NUL-padded, a bad field). */
size_t proto_put_hello(unsigned char *p, const proto_hello *m);
int proto_get_hello(const unsigned char *p, proto_hello *m);
size_t proto_put_hello_reply(unsigned char *p, const proto_hello_reply *m);
int proto_get_hello_reply(const unsigned char *p, proto_hello_reply *m);
size_t proto_put_alloc(unsigned char *p, const proto_alloc *m);
int proto_get_alloc(const unsigned char *p, proto_alloc *m);
size_t proto_put_block_reply(unsigned char *p, const proto_block_reply *m);
int proto_get_block_reply(const unsigned char *p, proto_block_reply *m);
size_t proto_put_release(unsigned char *p, const proto_release *m);
int proto_get_release(const unsigned char *p, proto_release *m);
size_t proto_put_cache(unsigned char *p, const proto_cache *m);
int proto_get_cache(const unsigned char *p, proto_cache *m);
/* Sets the header flags of an encoded frame. */
void proto_set_flags(unsigned char *frame, uint32_t flags);
size_t proto_put_share(unsigned char *p, const proto_share *m);
int proto_get_share(const unsigned char *p, proto_share *m);
size_t proto_put_handle(unsigned char *p, const mempool_handle *h);
void proto_get_handle(const unsigned char *p, mempool_handle *h);
size_t proto_put_u64(unsigned char *p, uint64_t block_id);
uint64_t proto_get_u64(const unsigned char *p);
size_t proto_put_pool_name(unsigned char *p, const char *pool);
int proto_get_pool_name(const unsigned char *p, char out[PROTO_POOL_NAME_MAX + 1]);
size_t proto_put_info(unsigned char *p, const mempool_info *m);
void proto_get_info(const unsigned char *p, mempool_info *m);
/* A block name's syntax (docs/protocol.md): 1 to PROTO_BLOCK_NAME_MAX
 * bytes of A-Z a-z 0-9 and . _ - : / ; 1 when `name` has it. */
int proto_block_name_ok(const char *name);
/* Named blocks' payloads. The get_* functions refuse (EPROTO) a field
 * that is not NUL-padded or bits outside the flags; a name that is well
 * framed but breaks the syntax is MEMPOOL_EBADNAME, a timeout below -1
 * MEMPOOL_EINVAL: the session goes on after those. */
size_t proto_put_publish(unsigned char *p, const proto_publish *m);
int proto_get_publish(const unsigned char *p, proto_publish *m);
size_t proto_put_unpublish(unsigned char *p, const proto_name_ref *m);
int proto_get_unpublish(const unsigned char *p, proto_name_ref *m);
size_t proto_put_lookup(unsigned char *p, const proto_name_ref *m);
int proto_get_lookup(const unsigned char *p, proto_name_ref *m);

#endif
