/* libFuzzer: the wire protocol's decoders (common/proto.c), every frame
 * type of PROTO_TYPE_MAP in both directions. Any bytes are read as a frame,
 * as a request and as a reply; whatever decodes must survive decode ->
 * encode -> decode unchanged: the header byte for byte, the payload's
 * struct field for field (and its encoding must be stable). The input is
 * also wrapped as the payload of each type in the table in turn, so every
 * type is reached without the fuzzer first having to guess a valid header;
 * a type added to the table is covered at the frame level at once, and at
 * the payload level once it has a line in `codecs` (a type without one is
 * named on stderr at start). Never a crash, a leak or undefined behavior. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Union big enough for any payload struct: get writes it, put reads it. */
typedef union payload_struct {
    proto_hello hello;
    proto_hello_reply hello_reply;
    proto_alloc alloc;
    proto_block_reply block_reply;
    proto_share share;
    proto_release release;
    proto_cache cache;
    mempool_handle handle;
    char pool_name[PROTO_POOL_NAME_MAX + 1];
    mempool_info info;
    proto_publish publish;
    proto_name_ref name_ref;
} payload_struct;

typedef int (*get_fn)(const unsigned char *p, payload_struct *m);
typedef size_t (*put_fn)(unsigned char *p, const payload_struct *m);

/* The codecs whose get cannot fail, made to look like those that can. */
static int get_handle(const unsigned char *p, payload_struct *m)
{
    proto_get_handle(p, &m->handle);
    return 0;
}
static int get_info(const unsigned char *p, payload_struct *m)
{
    proto_get_info(p, &m->info);
    return 0;
}
#define CODEC(name, field)                                                              \
    static int get_##name(const unsigned char *p, payload_struct *m)                  \
    {                                                                                   \
        return proto_get_##name(p, &m->field);                                          \
    }                                                                                   \
    static size_t put_##name(unsigned char *p, const payload_struct *m)               \
    {                                                                                   \
        return proto_put_##name(p, &m->field);                                          \
    }
CODEC(hello, hello)
CODEC(hello_reply, hello_reply)
CODEC(alloc, alloc)
CODEC(block_reply, block_reply)
CODEC(share, share)
CODEC(publish, publish)
CODEC(unpublish, name_ref)
CODEC(lookup, name_ref)
CODEC(release, release)
CODEC(cache, cache)
#undef CODEC
static int get_pool_name(const unsigned char *p, payload_struct *m)
{
    return proto_get_pool_name(p, m->pool_name);
}
static size_t put_pool_name(unsigned char *p, const payload_struct *m)
{
    return proto_put_pool_name(p, m->pool_name);
}
static size_t put_handle(unsigned char *p, const payload_struct *m)
{
    return proto_put_handle(p, &m->handle);
}
static size_t put_info(unsigned char *p, const payload_struct *m)
{
    return proto_put_info(p, &m->info);
}

/* What each payload is, per type and direction (proto.h's comments). */
static const struct codec {
    uint16_t type;
    int is_reply;
    get_fn get;
    put_fn put;
} codecs[] = {
    { PROTO_HELLO, 0, get_hello, put_hello },
    { PROTO_HELLO, 1, get_hello_reply, put_hello_reply },
    { PROTO_ALLOC, 0, get_alloc, put_alloc },
    { PROTO_ALLOC, 1, get_block_reply, put_block_reply },
    { PROTO_SHARE, 0, get_share, put_share },
    { PROTO_SHARE, 1, get_handle, put_handle },
    { PROTO_ATTACH, 0, get_handle, put_handle },
    { PROTO_ATTACH, 1, get_block_reply, put_block_reply },
    { PROTO_RELEASE, 0, get_release, put_release },
    { PROTO_CACHE, 0, get_cache, put_cache },
    { PROTO_POOL_INFO, 0, get_pool_name, put_pool_name },
    { PROTO_POOL_INFO, 1, get_info, put_info },
    { PROTO_PUBLISH, 0, get_publish, put_publish },
    { PROTO_UNPUBLISH, 0, get_unpublish, put_unpublish },
    { PROTO_LOOKUP, 0, get_lookup, put_lookup },
    { PROTO_LOOKUP, 1, get_handle, put_handle },
    { PROTO_ATTACH_NAME, 0, get_lookup, put_lookup },
    { PROTO_ATTACH_NAME, 1, get_block_reply, put_block_reply },
};

static const uint16_t types[] = {
#define TYPE_NUMBER(name, num, req, rep) PROTO_##name,
    PROTO_TYPE_MAP(TYPE_NUMBER)
#undef TYPE_NUMBER
};
#define NTYPES (sizeof types / sizeof types[0])

static const struct codec *find_codec(uint16_t type, int is_reply)
{
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        if (codecs[i].type == type && codecs[i].is_reply == is_reply)
            return &codecs[i];
    return NULL;
}

static void fail(const char *what, uint16_t type, int is_reply)
{
    fprintf(stderr, "round trip broken: %s (type %s, %s)\n", what, proto_type_name(type),
            is_reply ? "reply" : "request");
    abort();
}

/* decode -> encode -> decode of one payload: equal structs, stable bytes. */
static void payload_round_trip(const struct codec *c, const unsigned char *payload, size_t len,
                               int is_reply)
{
    payload_struct first, second;
    memset(&first, 0, sizeof first);
    memset(&second, 0, sizeof second);
    if (c->get(payload, &first) != 0)
        return;
    unsigned char again[PROTO_MAX_FRAME], twice[PROTO_MAX_FRAME];
    if (c->put(again, &first) != len)
        fail("encoded payload size", c->type, is_reply);
    if (c->get(again, &second) != 0)
        fail("an encoded payload does not decode", c->type, is_reply);
    if (memcmp(&first, &second, sizeof first) != 0)
        fail("payload fields", c->type, is_reply);
    c->put(twice, &second);
    if (memcmp(again, twice, len) != 0)
        fail("payload bytes", c->type, is_reply);
}

/* One direction of one frame. */
static void frame_round_trip(const unsigned char *buf, size_t size, int is_reply)
{
    proto_header h;
    if (proto_decode_header(buf, size, is_reply, &h) != 0)
        return;
    if (size != PROTO_HEADER_SIZE + h.length || proto_frame_size(buf) != size)
        fail("frame length", h.type, is_reply);
    unsigned char frame[PROTO_MAX_FRAME];
    if (proto_encode_header(&h, frame) != PROTO_HEADER_SIZE ||
        memcmp(frame, buf, PROTO_HEADER_SIZE) != 0)
        fail("header bytes", h.type, is_reply);
    const unsigned char *payload = buf + PROTO_HEADER_SIZE;
    /* The frame encoders write this version (a HELLO of any version
     * decodes, so that its sender can be told which one we speak). */
    if (h.version == PROTO_VERSION) {
        size_t n = is_reply ? proto_encode_reply(frame, h.type, h.request_id, h.status, payload,
                                                 h.length)
                            : proto_encode_request(frame, h.type, h.request_id, payload, h.length);
        /* A reply's flags (GIVE_BACK) are set on the encoded frame, as the
         * daemon does (server.c). */
        proto_set_flags(frame, h.flags);
        proto_header h2;
        if (n != size || proto_decode_header(frame, n, is_reply, &h2) != 0 ||
            memcmp(&h, &h2, sizeof h) != 0 || memcmp(frame, buf, size) != 0)
            fail("frame", h.type, is_reply);
    }
    const struct codec *c = find_codec(h.type, is_reply);
    if (c != NULL && h.status == 0 && h.length > 0)
        payload_round_trip(c, payload, h.length, is_reply);
}

/* The input as the payload of the type data[0] picks, in the direction
 * its next bit picks, cut or zero-padded to the table's size. */
static void as_payload_of_each_type(const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    uint16_t type = types[data[0] % NTYPES];
    int is_reply = (data[0] / NTYPES) & 1;
    int want = is_reply ? proto_reply_size(type) : proto_request_size(type);
    if (want < 0)
        return;
    unsigned char payload[PROTO_MAX_FRAME] = { 0 };
    size_t have = size - 1 < (size_t)want ? size - 1 : (size_t)want;
    memcpy(payload, data + 1, have);
    unsigned char frame[PROTO_MAX_FRAME];
    size_t n = is_reply ? proto_encode_reply(frame, type, 1, 0, payload, (size_t)want)
                        : proto_encode_request(frame, type, 1, payload, (size_t)want);
    proto_header h;
    if (n != PROTO_HEADER_SIZE + (size_t)want || proto_decode_header(frame, n, is_reply, &h) != 0)
        fail("a frame of the table's own size is refused", type, is_reply);
    frame_round_trip(frame, n, is_reply);
}

static void name_types_without_codec(void)
{
    for (size_t i = 0; i < NTYPES; i++)
        for (int is_reply = 0; is_reply < 2; is_reply++) {
            int size = is_reply ? proto_reply_size(types[i]) : proto_request_size(types[i]);
            if (size > 0 && find_codec(types[i], is_reply) == NULL)
                fprintf(stderr, "fuzz_proto: no payload codec for the %s %s (frame level only)\n",
                        proto_type_name(types[i]), is_reply ? "reply" : "request");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    if (!started) {
        started = 1;
        name_types_without_codec();
    }
    /* A copy of exactly `size` bytes: a read past it is ASan's to see. */
    unsigned char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    frame_round_trip(buf, size, 0);
    frame_round_trip(buf, size, 1);
    free(buf);
    as_payload_of_each_type(data, size);
    return 0;
}
