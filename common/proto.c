/* The only code that reads or writes wire bytes. Integers are written byte
 * by byte in little-endian order, so the encoding does not depend on the
 * host's byte order, alignment or struct padding. */
#include "proto.h"

#include <string.h>

typedef struct proto_entry {
    uint16_t type;
    const char *name;
    int request_size;
    int reply_size;
} proto_entry;

static const proto_entry proto_table[] = {
#define PROTO_TYPE_ENTRY(name, num, req, rep) { num, #name, req, rep },
    PROTO_TYPE_MAP(PROTO_TYPE_ENTRY)
#undef PROTO_TYPE_ENTRY
};

#define PROTO_TYPE_BELOW_LIMIT(name, num, req, rep)                            \
    _Static_assert(num > 0 && num < PROTO_TYPE_LIMIT, #name " fits the tables");
PROTO_TYPE_MAP(PROTO_TYPE_BELOW_LIMIT)
#undef PROTO_TYPE_BELOW_LIMIT

#define PROTO_ALLOC_FLAGS (MEMPOOL_ALLOC_DIRTY | MEMPOOL_ALLOC_POPULATE)
#define PROTO_PROT_BITS (MEMPOOL_READ | MEMPOOL_WRITE)
#define PROTO_BACKING_FLAGS                                                    \
    (PROTO_BACKING_ATTACHED | PROTO_BACKING_SHARED | PROTO_BACKING_KEPT |      \
     PROTO_BACKING_CLIENT_ZEROES)

static const proto_entry *find_entry(uint16_t type)
{
    for (size_t i = 0; i < sizeof proto_table / sizeof proto_table[0]; i++)
        if (proto_table[i].type == type)
            return &proto_table[i];
    return NULL;
}

int proto_request_size(uint16_t type)
{
    const proto_entry *e = find_entry(type);
    return e != NULL ? e->request_size : -1;
}

int proto_reply_size(uint16_t type)
{
    const proto_entry *e = find_entry(type);
    return e != NULL ? e->reply_size : -1;
}

const char *proto_type_name(uint16_t type)
{
    const proto_entry *e = find_entry(type);
    return e != NULL ? e->name : "UNKNOWN";
}

/* --- integers ------------------------------------------------------------ */

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

size_t proto_put_u64(unsigned char *p, uint64_t block_id)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(block_id >> (8 * i));
    return 8;
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t proto_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* --- names: NUL-padded fixed fields --------------------------------------- */

/* Control characters are refused so that a name can be logged as it is
 * without forging log lines. */
static int name_char_ok(unsigned char ch) { return ch >= 0x20 && ch != 0x7f; }

/* A name that does not fit the field is written as an empty field (which
 * every reader refuses) rather than cut short into another valid name. */
static void put_name(unsigned char *p, size_t field, const char *name)
{
    size_t n = name != NULL ? strnlen(name, field + 1) : field + 1;
    memset(p, 0, field);
    if (n <= field)
        memcpy(p, name, n);
}

static int get_name(const unsigned char *p, size_t field, char *out)
{
    size_t n = 0;
    while (n < field && p[n] != 0) {
        if (!name_char_ok(p[n]))
            return MEMPOOL_EPROTO;
        n++;
    }
    if (n == 0)
        return MEMPOOL_EPROTO;
    for (size_t i = n; i < field; i++)
        if (p[i] != 0)
            return MEMPOOL_EPROTO;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

size_t proto_put_pool_name(unsigned char *p, const char *pool)
{
    put_name(p, PROTO_POOL_NAME_MAX, pool);
    return PROTO_POOL_NAME_MAX;
}

int proto_get_pool_name(const unsigned char *p,
                        char out[PROTO_POOL_NAME_MAX + 1])
{
    return get_name(p, PROTO_POOL_NAME_MAX, out);
}

/* --- header and frames ---------------------------------------------------- */

size_t proto_frame_size(const unsigned char *hdr)
{
    uint32_t length = get_u32(hdr + 20);
    if (length > PROTO_MAX_FRAME - PROTO_HEADER_SIZE)
        return PROTO_HEADER_SIZE;
    return PROTO_HEADER_SIZE + length;
}

size_t proto_encode_header(const proto_header *h, unsigned char *buf)
{
    put_u16(buf, h->version);
    put_u16(buf + 2, h->type);
    put_u32(buf + 4, h->flags);
    proto_put_u64(buf + 8, h->request_id);
    put_u32(buf + 16, (uint32_t)h->status);
    put_u32(buf + 20, h->length);
    return PROTO_HEADER_SIZE;
}

/* A payload that cannot fit a frame gives 0, never a frame cut short. */
static size_t encode_frame(unsigned char *buf, uint16_t type, uint64_t id,
                           int32_t status, const void *payload,
                           size_t payload_len)
{
    if (payload_len > PROTO_MAX_FRAME - PROTO_HEADER_SIZE)
        return 0;
    proto_header h = {
        .version = PROTO_VERSION,
        .type = type,
        .request_id = id,
        .status = status,
        .length = (uint32_t)payload_len,
    };
    proto_encode_header(&h, buf);
    if (payload_len > 0)
        memcpy(buf + PROTO_HEADER_SIZE, payload, payload_len);
    return PROTO_HEADER_SIZE + payload_len;
}

size_t proto_encode_request(unsigned char *buf, uint16_t type, uint64_t id,
                            const void *payload, size_t payload_len)
{
    return encode_frame(buf, type, id, 0, payload, payload_len);
}

size_t proto_encode_reply(unsigned char *buf, uint16_t type, uint64_t id,
                          int32_t status, const void *payload,
                          size_t payload_len)
{
    return encode_frame(buf, type, id, status, payload, payload_len);
}

size_t proto_error_reply(unsigned char *buf, uint16_t type, uint64_t id,
                         int32_t status)
{
    return encode_frame(buf, type, id, status, NULL, 0);
}

static void read_header(const unsigned char *buf, proto_header *h)
{
    h->version = get_u16(buf);
    h->type = get_u16(buf + 2);
    h->flags = get_u32(buf + 4);
    h->request_id = proto_get_u64(buf + 8);
    h->status = (int32_t)get_u32(buf + 16);
    h->length = get_u32(buf + 20);
}

/* Requests carry no status; a reply's status is 0 or a negative code, and
 * an error reply has no payload. A one-way request (reply size -1) gets no
 * success reply; an error reply may still name its type (the daemon's
 * answer to a frame it could not read). */
static int expected_length(const proto_entry *e, int is_reply,
                           const proto_header *h, uint32_t *len)
{
    if (!is_reply) {
        *len = (uint32_t)e->request_size;
        return h->status == 0 ? 0 : MEMPOOL_EPROTO;
    }
    if (h->status > 0 || (h->status == 0 && e->reply_size < 0))
        return MEMPOOL_EPROTO;
    *len = h->status == 0 ? (uint32_t)e->reply_size : 0;
    return 0;
}

/* The version is checked before anything else of the frame: a newer peer's
 * frame may use flags, types or lengths this version does not know, and
 * "wrong version" is what its sender needs to hear. HELLO's layout never
 * changes, so its frame is checked in any version. */
int proto_decode_header(const unsigned char *buf, size_t len, int is_reply,
                        proto_header *out)
{
    if (buf == NULL || out == NULL || len < PROTO_HEADER_SIZE)
        return MEMPOOL_EPROTO;
    read_header(buf, out);
    if (out->type != PROTO_HELLO && (out->version < PROTO_MIN_VERSION ||
                                     out->version > PROTO_VERSION))
        return MEMPOOL_EVERSION;
    if (out->flags != 0 && (!is_reply || (out->flags & ~PROTO_FLAG_GIVE_BACK) != 0))
        return MEMPOOL_EPROTO;
    const proto_entry *e = find_entry(out->type);
    if (e == NULL)
        return MEMPOOL_EPROTO;
    uint32_t expected;
    int err = expected_length(e, is_reply, out, &expected);
    if (err != 0)
        return err;
    if (out->length != expected || len - PROTO_HEADER_SIZE != out->length)
        return MEMPOOL_EPROTO;
    return 0;
}

/* --- payloads ------------------------------------------------------------- */

size_t proto_put_hello(unsigned char *p, const proto_hello *m)
{
    put_u16(p, m->min_version);
    put_u16(p + 2, m->max_version);
    put_u32(p + 4, m->pid);
    put_name(p + 8, PROTO_CLIENT_NAME_MAX, m->name);
    return 8 + PROTO_CLIENT_NAME_MAX;
}

int proto_get_hello(const unsigned char *p, proto_hello *m)
{
    m->min_version = get_u16(p);
    m->max_version = get_u16(p + 2);
    m->pid = get_u32(p + 4);
    if (m->min_version > m->max_version)
        return MEMPOOL_EPROTO;
    return get_name(p + 8, PROTO_CLIENT_NAME_MAX, m->name);
}

size_t proto_put_hello_reply(unsigned char *p, const proto_hello_reply *m)
{
    put_u16(p, m->version);
    put_u16(p + 2, 0);
    put_u32(p + 4, m->daemon_pid);
    proto_put_u64(p + 8, m->session_id);
    return 16;
}

int proto_get_hello_reply(const unsigned char *p, proto_hello_reply *m)
{
    m->version = get_u16(p);
    m->daemon_pid = get_u32(p + 4);
    m->session_id = proto_get_u64(p + 8);
    return get_u16(p + 2) == 0 ? 0 : MEMPOOL_EPROTO;
}

size_t proto_put_alloc(unsigned char *p, const proto_alloc *m)
{
    put_name(p, PROTO_POOL_NAME_MAX, m->pool);
    proto_put_u64(p + 64, m->size);
    put_u32(p + 72, m->flags);
    put_u32(p + 76, 0);
    return 80;
}

int proto_get_alloc(const unsigned char *p, proto_alloc *m)
{
    m->size = proto_get_u64(p + 64);
    m->flags = get_u32(p + 72);
    if ((m->flags & ~PROTO_ALLOC_FLAGS) != 0 || get_u32(p + 76) != 0)
        return MEMPOOL_EPROTO;
    return get_name(p, PROTO_POOL_NAME_MAX, m->pool);
}

size_t proto_put_block_reply(unsigned char *p, const proto_block_reply *m)
{
    proto_put_u64(p, m->block_id);
    proto_put_u64(p + 8, m->size);
    proto_put_u64(p + 16, m->offset);
    proto_put_u64(p + 24, m->backing_id);
    put_u32(p + 32, m->prot);
    put_u32(p + 36, m->backing_flags);
    memcpy(p + 40, m->rendezvous, PROTO_RENDEZVOUS_SIZE);
    put_u32(p + 56, m->kept_mappings);
    put_u32(p + 60, m->client_cache_age_ms);
    proto_put_u64(p + 64, m->client_cache);
    proto_put_u64(p + 72, m->page_size);
    return 80;
}

static int all_zero(const unsigned char *p, size_t n)
{
    unsigned char any = 0;
    for (size_t i = 0; i < n; i++)
        any |= p[i];
    return any == 0;
}

/* A block is never empty and always readable, and a nonce names a backing
 * that comes with the reply: anything else is a daemon speaking nonsense,
 * which the client must not try to map. */
int proto_get_block_reply(const unsigned char *p, proto_block_reply *m)
{
    m->block_id = proto_get_u64(p);
    m->size = proto_get_u64(p + 8);
    m->offset = proto_get_u64(p + 16);
    m->backing_id = proto_get_u64(p + 24);
    m->prot = get_u32(p + 32);
    m->backing_flags = get_u32(p + 36);
    memcpy(m->rendezvous, p + 40, PROTO_RENDEZVOUS_SIZE);
    m->kept_mappings = get_u32(p + 56);
    m->client_cache_age_ms = get_u32(p + 60);
    m->client_cache = proto_get_u64(p + 64);
    m->page_size = proto_get_u64(p + 72);
    if (m->size == 0 || (m->prot & ~PROTO_PROT_BITS) != 0 ||
        (m->prot & MEMPOOL_READ) == 0 ||
        (m->backing_flags & ~PROTO_BACKING_FLAGS) != 0 || m->page_size == 0 ||
        (m->page_size & (m->page_size - 1)) != 0 || m->size % m->page_size != 0)
        return MEMPOOL_EPROTO;
    /* A kept backing is one the client has: it never comes along too. */
    if ((m->backing_flags & PROTO_BACKING_KEPT) &&
        (m->backing_flags & (PROTO_BACKING_ATTACHED | PROTO_BACKING_SHARED)))
        return MEMPOOL_EPROTO;
    if ((m->backing_flags & PROTO_BACKING_ATTACHED) == 0 &&
        !all_zero(m->rendezvous, PROTO_RENDEZVOUS_SIZE))
        return MEMPOOL_EPROTO;
    return 0;
}

size_t proto_put_release(unsigned char *p, const proto_release *m)
{
    proto_put_u64(p, m->block_id);
    proto_put_u64(p + 8, m->forget_backing);
    put_u32(p + 16, m->flags);
    put_u32(p + 20, 0);
    return 24;
}

int proto_get_release(const unsigned char *p, proto_release *m)
{
    m->block_id = proto_get_u64(p);
    m->forget_backing = proto_get_u64(p + 8);
    m->flags = get_u32(p + 16);
    if ((m->flags & ~PROTO_RELEASE_KEEP_MAPPING) != 0 || get_u32(p + 20) != 0)
        return MEMPOOL_EPROTO;
    return 0;
}

size_t proto_put_cache(unsigned char *p, const proto_cache *m)
{
    memset(p, 0, 8 + 8 * PROTO_CACHE_MAX);
    put_u32(p, m->count);
    for (uint32_t i = 0; i < m->count && i < PROTO_CACHE_MAX; i++)
        proto_put_u64(p + 8 + 8 * i, m->entries[i]);
    return 8 + 8 * PROTO_CACHE_MAX;
}

/* Entries past count must be zero; every entry within it names a block
 * (not 0) with a known op. */
int proto_get_cache(const unsigned char *p, proto_cache *m)
{
    m->count = get_u32(p);
    if (m->count == 0 || m->count > PROTO_CACHE_MAX || get_u32(p + 4) != 0)
        return MEMPOOL_EPROTO;
    for (uint32_t i = 0; i < PROTO_CACHE_MAX; i++) {
        uint64_t e = proto_get_u64(p + 8 + 8 * i);
        if (i >= m->count ? e != 0 : (PROTO_CACHE_OP(e) == 0 || PROTO_CACHE_ID(e) == 0))
            return MEMPOOL_EPROTO;
        if (i < m->count)
            m->entries[i] = e;
    }
    return 0;
}

void proto_set_flags(unsigned char *frame, uint32_t flags) { put_u32(frame + 4, flags); }

size_t proto_put_share(unsigned char *p, const proto_share *m)
{
    proto_put_u64(p, m->block_id);
    put_u32(p + 8, m->prot);
    put_u32(p + 12, 0);
    return 16;
}

/* Bits outside READ|WRITE make the frame malformed; whether a protection
 * made of known bits may be granted is the daemon's decision (EINVAL,
 * EPERM), answered without closing the session. */
int proto_get_share(const unsigned char *p, proto_share *m)
{
    m->block_id = proto_get_u64(p);
    m->prot = get_u32(p + 8);
    if ((m->prot & ~PROTO_PROT_BITS) != 0 || get_u32(p + 12) != 0)
        return MEMPOOL_EPROTO;
    return 0;
}

size_t proto_put_handle(unsigned char *p, const mempool_handle *h)
{
    memcpy(p, h->bytes, PROTO_HANDLE_SIZE);
    return PROTO_HANDLE_SIZE;
}

void proto_get_handle(const unsigned char *p, mempool_handle *h)
{
    memcpy(h->bytes, p, PROTO_HANDLE_SIZE);
}

/* POOL_INFO's reply: mempool_info's fields in declaration order. */
#define PROTO_INFO_FIELDS(XX)                                                  \
    XX(page_size) XX(limit) XX(in_use) XX(warm) XX(quota) XX(client_use)      \
    XX(released) XX(scavenger_runs) XX(scavenger_cpu_ns) XX(last_scavenge_ms)

size_t proto_put_info(unsigned char *p, const mempool_info *m)
{
    size_t off = 0;
#define PUT_INFO_FIELD(field) off += proto_put_u64(p + off, m->field);
    PROTO_INFO_FIELDS(PUT_INFO_FIELD)
#undef PUT_INFO_FIELD
    return off;
}

void proto_get_info(const unsigned char *p, mempool_info *m)
{
    size_t off = 0;
#define GET_INFO_FIELD(field)                                                  \
    m->field = proto_get_u64(p + off);                                         \
    off += 8;
    PROTO_INFO_FIELDS(GET_INFO_FIELD)
#undef GET_INFO_FIELD
}

/* --- named blocks --------------------------------------------------------- */

static int block_name_char_ok(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
           ch == ':' || ch == '/';
}

int proto_block_name_ok(const char *name)
{
    if (name == NULL)
        return 0;
    size_t n = strnlen(name, PROTO_BLOCK_NAME_MAX + 1);
    if (n == 0 || n > PROTO_BLOCK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!block_name_char_ok((unsigned char)name[i]))
            return 0;
    return 1;
}

/* A framing error is EPROTO; a printable name outside the syntax is the
 * caller's mistake, answered with EBADNAME. */
static int get_block_name(const unsigned char *p, char out[PROTO_BLOCK_NAME_MAX + 1])
{
    int err = get_name(p, PROTO_BLOCK_NAME_MAX, out);
    if (err != 0)
        return err;
    return proto_block_name_ok(out) ? 0 : MEMPOOL_EBADNAME;
}

#define PROTO_PUBLISH_BITS (PROTO_PROT_BITS | MEMPOOL_PUBLISH_REPLACE)

size_t proto_put_publish(unsigned char *p, const proto_publish *m)
{
    proto_put_u64(p, m->block_id);
    put_u32(p + 8, m->prot);
    put_u32(p + 12, 0);
    put_name(p + 16, PROTO_BLOCK_NAME_MAX, m->name);
    return 16 + PROTO_BLOCK_NAME_MAX;
}

int proto_get_publish(const unsigned char *p, proto_publish *m)
{
    m->block_id = proto_get_u64(p);
    m->prot = get_u32(p + 8);
    if ((m->prot & ~PROTO_PUBLISH_BITS) != 0 || get_u32(p + 12) != 0)
        return MEMPOOL_EPROTO;
    return get_block_name(p + 16, m->name);
}

size_t proto_put_unpublish(unsigned char *p, const proto_name_ref *m)
{
    put_name(p, PROTO_POOL_NAME_MAX, m->pool);
    put_name(p + PROTO_POOL_NAME_MAX, PROTO_BLOCK_NAME_MAX, m->name);
    return PROTO_POOL_NAME_MAX + PROTO_BLOCK_NAME_MAX;
}

/* The pool's field first: a frame that is malformed anywhere is EPROTO
 * before the name's syntax is judged. */
int proto_get_unpublish(const unsigned char *p, proto_name_ref *m)
{
    m->timeout_ms = 0;
    int err = get_name(p, PROTO_POOL_NAME_MAX, m->pool);
    if (err == 0)
        err = get_block_name(p + PROTO_POOL_NAME_MAX, m->name);
    return err;
}

size_t proto_put_lookup(unsigned char *p, const proto_name_ref *m)
{
    size_t off = proto_put_unpublish(p, m);
    put_u32(p + off, (uint32_t)m->timeout_ms);
    put_u32(p + off + 4, 0);
    return off + 8;
}

int proto_get_lookup(const unsigned char *p, proto_name_ref *m)
{
    const unsigned char *tail = p + PROTO_POOL_NAME_MAX + PROTO_BLOCK_NAME_MAX;
    if (get_u32(tail + 4) != 0)
        return MEMPOOL_EPROTO;
    int err = proto_get_unpublish(p, m);
    m->timeout_ms = (int32_t)get_u32(tail);
    if (err == 0 && m->timeout_ms < -1)
        err = MEMPOOL_EINVAL;
    return err;
}
