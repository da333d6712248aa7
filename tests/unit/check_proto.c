#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check_run.h"
#include "proto.h"

static unsigned char frame[PROTO_MAX_FRAME + 64];
static unsigned char payload[PROTO_MAX_FRAME];

/* Encodes a request or reply of `type` with the payload in `payload`. */
static size_t make_frame(uint16_t type, int is_reply, size_t len)
{
    return is_reply ? proto_encode_reply(frame, type, 42, 0, payload, len)
                    : proto_encode_request(frame, type, 42, payload, len);
}

static void decode_ok(size_t n, int is_reply, uint16_t type, size_t len)
{
    proto_header h;
    ck_assert_int_eq(proto_decode_header(frame, n, is_reply, &h), 0);
    ck_assert_uint_eq(h.type, type);
    ck_assert_uint_eq(h.version, PROTO_VERSION);
    ck_assert_uint_eq(h.request_id, 42);
    ck_assert_uint_eq(h.length, len);
    ck_assert_int_eq(memcmp(frame + PROTO_HEADER_SIZE, payload, len), 0);
}

START_TEST(table_sizes_are_what_the_codecs_write)
{
    proto_hello hello = { .min_version = 1, .max_version = 1, .name = "x" };
    ck_assert_int_eq(proto_request_size(PROTO_HELLO),
                     (int)proto_put_hello(payload, &hello));
    ck_assert_int_eq(proto_reply_size(PROTO_HELLO),
                     (int)proto_put_hello_reply(payload, &(proto_hello_reply){ 0 }));
    ck_assert_int_eq(proto_request_size(PROTO_ALLOC),
                     (int)proto_put_alloc(payload, &(proto_alloc){ .pool = "p" }));
    ck_assert_int_eq(proto_reply_size(PROTO_ALLOC),
                     (int)proto_put_block_reply(payload, &(proto_block_reply){ 0 }));
    ck_assert_int_eq(proto_reply_size(PROTO_ATTACH), proto_reply_size(PROTO_ALLOC));
    ck_assert_int_eq(proto_request_size(PROTO_SHARE),
                     (int)proto_put_share(payload, &(proto_share){ 0 }));
    mempool_handle handle = { { 0 } };
    ck_assert_int_eq(proto_reply_size(PROTO_SHARE), (int)proto_put_handle(payload, &handle));
    ck_assert_int_eq(proto_request_size(PROTO_ATTACH), (int)proto_put_handle(payload, &handle));
    ck_assert_int_eq(proto_request_size(PROTO_RELEASE),
                     (int)proto_put_release(payload, &(proto_release){ 0 }));
    ck_assert_int_eq(proto_reply_size(PROTO_RELEASE), -1); /* one-way */
    ck_assert_int_eq(proto_request_size(PROTO_POOL_INFO),
                     (int)proto_put_pool_name(payload, "p"));
    ck_assert_int_eq(proto_reply_size(PROTO_POOL_INFO),
                     (int)proto_put_info(payload, &(mempool_info){ 0 }));
    ck_assert_int_eq(proto_request_size(0), -1);
    ck_assert_int_eq(proto_reply_size(999), -1);
    ck_assert_str_eq(proto_type_name(PROTO_POOL_INFO), "POOL_INFO");
    ck_assert_str_eq(proto_type_name(0), "UNKNOWN");
}
END_TEST

START_TEST(header_is_little_endian_byte_by_byte)
{
    proto_header h = { .version = 0x0102, .type = 0x0304, .flags = 0,
                       .request_id = 0x1122334455667788ull, .status = -2,
                       .length = 0xA0B0C0D0u };
    static const unsigned char want[PROTO_HEADER_SIZE] = {
        0x02, 0x01, 0x04, 0x03, 0, 0, 0, 0,
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
        0xFE, 0xFF, 0xFF, 0xFF, 0xD0, 0xC0, 0xB0, 0xA0,
    };
    ck_assert_uint_eq(proto_encode_header(&h, frame), PROTO_HEADER_SIZE);
    ck_assert_int_eq(memcmp(frame, want, sizeof want), 0);
}
END_TEST

START_TEST(hello_round_trip)
{
    proto_hello in = { .min_version = 1, .max_version = 3, .pid = 123456,
                       .name = "producer" }, out;
    size_t len = proto_put_hello(payload, &in);
    decode_ok(make_frame(PROTO_HELLO, 0, len), 0, PROTO_HELLO, len);
    ck_assert_int_eq(proto_get_hello(frame + PROTO_HEADER_SIZE, &out), 0);
    ck_assert_uint_eq(out.min_version, 1);
    ck_assert_uint_eq(out.max_version, 3);
    ck_assert_uint_eq(out.pid, 123456);
    ck_assert_str_eq(out.name, "producer");

    proto_hello_reply rin = { .version = 1, .daemon_pid = 99,
                              .session_id = 0xDEADBEEFCAFEull }, rout;
    len = proto_put_hello_reply(payload, &rin);
    decode_ok(make_frame(PROTO_HELLO, 1, len), 1, PROTO_HELLO, len);
    ck_assert_int_eq(proto_get_hello_reply(frame + PROTO_HEADER_SIZE, &rout), 0);
    ck_assert_uint_eq(rout.version, 1);
    ck_assert_uint_eq(rout.daemon_pid, 99);
    ck_assert_uint_eq(rout.session_id, 0xDEADBEEFCAFEull);
}
END_TEST

START_TEST(alloc_and_block_reply_round_trip)
{
    proto_alloc in = { .pool = "default", .size = 1ull << 40,
                       .flags = MEMPOOL_ALLOC_DIRTY | MEMPOOL_ALLOC_POPULATE }, out;
    size_t len = proto_put_alloc(payload, &in);
    decode_ok(make_frame(PROTO_ALLOC, 0, len), 0, PROTO_ALLOC, len);
    ck_assert_int_eq(proto_get_alloc(frame + PROTO_HEADER_SIZE, &out), 0);
    ck_assert_str_eq(out.pool, "default");
    ck_assert_uint_eq(out.size, 1ull << 40);
    ck_assert_uint_eq(out.flags, in.flags);

    proto_block_reply rout, rin = { .block_id = UINT64_MAX, .size = 65536,
                              .offset = 1ull << 33, .backing_id = 5,
                              .prot = MEMPOOL_READ | MEMPOOL_WRITE,
                              .backing_flags = PROTO_BACKING_ATTACHED |
                                               PROTO_BACKING_SHARED,
                              .kept_mappings = 64, .client_cache_age_ms = 1000,
                              .client_cache = 4u << 20, .page_size = 4096 };
    for (int i = 0; i < PROTO_RENDEZVOUS_SIZE; i++)
        rin.rendezvous[i] = (unsigned char)(0xA0 + i);
    len = proto_put_block_reply(payload, &rin);
    /* The nonce follows backing_flags, as it is; kept_mappings follows. */
    ck_assert_uint_eq(len, 80);
    ck_assert_int_eq(memcmp(payload + 40, rin.rendezvous, PROTO_RENDEZVOUS_SIZE), 0);
    ck_assert_uint_eq(payload[56], 64);
    for (uint16_t type = PROTO_ALLOC; type <= PROTO_ATTACH; type += 2) {
        decode_ok(make_frame(type, 1, len), 1, type, len);
        ck_assert_int_eq(proto_get_block_reply(frame + PROTO_HEADER_SIZE, &rout), 0);
        /* Field by field: the struct has tail padding. */
        ck_assert_uint_eq(rout.block_id, rin.block_id);
        ck_assert_uint_eq(rout.size, rin.size);
        ck_assert_uint_eq(rout.offset, rin.offset);
        ck_assert_uint_eq(rout.backing_id, rin.backing_id);
        ck_assert_uint_eq(rout.prot, rin.prot);
        ck_assert_uint_eq(rout.backing_flags, rin.backing_flags);
        ck_assert_int_eq(memcmp(rout.rendezvous, rin.rendezvous, PROTO_RENDEZVOUS_SIZE), 0);
        ck_assert_uint_eq(rout.kept_mappings, rin.kept_mappings);
        ck_assert_uint_eq(rout.client_cache_age_ms, rin.client_cache_age_ms);
        ck_assert_uint_eq(rout.client_cache, rin.client_cache);
        ck_assert_uint_eq(rout.page_size, rin.page_size);
    }
}
END_TEST

START_TEST(cache_frames_round_trip_and_refuse_nonsense)
{
    proto_cache in = { .count = 3 }, out;
    in.entries[0] = PROTO_CACHE_ENTRY(PROTO_CACHE_PUT, 7);
    in.entries[1] = PROTO_CACHE_ENTRY(PROTO_CACHE_TAKE, 7);
    in.entries[2] = PROTO_CACHE_ENTRY(PROTO_CACHE_GIVE_BACK, (1ull << 62) - 1);
    size_t len = proto_put_cache(payload, &in);
    ck_assert_int_eq((int)len, proto_request_size(PROTO_CACHE));
    ck_assert_int_eq(proto_reply_size(PROTO_CACHE), -1); /* one-way */
    decode_ok(make_frame(PROTO_CACHE, 0, len), 0, PROTO_CACHE, len);
    ck_assert_int_eq(proto_get_cache(frame + PROTO_HEADER_SIZE, &out), 0);
    ck_assert_uint_eq(out.count, 3);
    ck_assert_uint_eq(PROTO_CACHE_OP(out.entries[2]), PROTO_CACHE_GIVE_BACK);
    ck_assert_uint_eq(PROTO_CACHE_ID(out.entries[2]), (1ull << 62) - 1);
    proto_cache bad = in;
    bad.count = 0; /* nothing to say */
    proto_put_cache(payload, &bad);
    ck_assert_int_eq(proto_get_cache(payload, &out), MEMPOOL_EPROTO);
    bad = in;
    bad.entries[1] = 7; /* no op */
    proto_put_cache(payload, &bad);
    ck_assert_int_eq(proto_get_cache(payload, &out), MEMPOOL_EPROTO);
    bad = in;
    bad.entries[0] = PROTO_CACHE_ENTRY(PROTO_CACHE_PUT, 0); /* no block */
    proto_put_cache(payload, &bad);
    ck_assert_int_eq(proto_get_cache(payload, &out), MEMPOOL_EPROTO);
    proto_put_cache(payload, &in);
    payload[8 + 8 * 5] = 1; /* past count: must be zero */
    ck_assert_int_eq(proto_get_cache(payload, &out), MEMPOOL_EPROTO);
}
END_TEST

START_TEST(give_back_flag_only_in_replies)
{
    proto_header h;
    size_t n = proto_error_reply(frame, PROTO_ALLOC, 9, MEMPOOL_EDQUOT);
    proto_set_flags(frame, PROTO_FLAG_GIVE_BACK);
    ck_assert_int_eq(proto_decode_header(frame, n, 1, &h), 0);
    ck_assert_uint_eq(h.flags, PROTO_FLAG_GIVE_BACK);
    proto_set_flags(frame, PROTO_FLAG_GIVE_BACK | 2);
    ck_assert_int_eq(proto_decode_header(frame, n, 1, &h), MEMPOOL_EPROTO);
    n = make_frame(PROTO_POOL_INFO, 0, proto_put_pool_name(payload, "p"));
    proto_set_flags(frame, PROTO_FLAG_GIVE_BACK);
    ck_assert_int_eq(proto_decode_header(frame, n, 0, &h), MEMPOOL_EPROTO);
}
END_TEST

START_TEST(share_attach_release_info_round_trip)
{
    proto_share sin = { .block_id = 77, .prot = MEMPOOL_READ }, sout;
    size_t len = proto_put_share(payload, &sin);
    decode_ok(make_frame(PROTO_SHARE, 0, len), 0, PROTO_SHARE, len);
    ck_assert_int_eq(proto_get_share(frame + PROTO_HEADER_SIZE, &sout), 0);
    ck_assert_uint_eq(sout.block_id, 77);
    ck_assert_uint_eq(sout.prot, MEMPOOL_READ);

    mempool_handle hin, hout;
    for (int i = 0; i < 32; i++)
        hin.bytes[i] = (unsigned char)(0xF0 ^ i);
    len = proto_put_handle(payload, &hin);
    decode_ok(make_frame(PROTO_SHARE, 1, len), 1, PROTO_SHARE, len);
    decode_ok(make_frame(PROTO_ATTACH, 0, len), 0, PROTO_ATTACH, len);
    proto_get_handle(frame + PROTO_HEADER_SIZE, &hout);
    ck_assert_int_eq(memcmp(&hin, &hout, sizeof hin), 0);

    proto_release rin = { .block_id = 0x0102030405060708ull, .forget_backing = 77,
                          .flags = PROTO_RELEASE_KEEP_MAPPING }, rout;
    len = proto_put_release(payload, &rin);
    decode_ok(make_frame(PROTO_RELEASE, 0, len), 0, PROTO_RELEASE, len);
    ck_assert_int_eq(proto_get_release(frame + PROTO_HEADER_SIZE, &rout), 0);
    ck_assert_uint_eq(rout.block_id, rin.block_id);
    ck_assert_uint_eq(rout.forget_backing, 77);
    ck_assert_uint_eq(rout.flags, PROTO_RELEASE_KEEP_MAPPING);
    payload[16] = 0x80; /* an unknown flag */
    ck_assert_int_eq(proto_get_release(payload, &rout), MEMPOOL_EPROTO);
    /* RELEASE is one-way: a success reply to it is malformed, while an
     * error reply naming it (the answer to a frame the daemon could not
     * read) still decodes. */
    proto_header h;
    ck_assert_int_eq(proto_decode_header(frame, make_frame(PROTO_RELEASE, 1, 0), 1, &h),
                     MEMPOOL_EPROTO);
    size_t n = proto_error_reply(frame, PROTO_RELEASE, 0, MEMPOOL_EPROTO);
    ck_assert_int_eq(proto_decode_header(frame, n, 1, &h), 0);

    char pool[PROTO_POOL_NAME_MAX + 1];
    len = proto_put_pool_name(payload, "big");
    decode_ok(make_frame(PROTO_POOL_INFO, 0, len), 0, PROTO_POOL_INFO, len);
    ck_assert_int_eq(proto_get_pool_name(frame + PROTO_HEADER_SIZE, pool), 0);
    ck_assert_str_eq(pool, "big");

    mempool_info iin = { 1, 2, 3, 4, 5, 6, 7, 8, 9, UINT64_MAX }, iout;
    len = proto_put_info(payload, &iin);
    decode_ok(make_frame(PROTO_POOL_INFO, 1, len), 1, PROTO_POOL_INFO, len);
    proto_get_info(frame + PROTO_HEADER_SIZE, &iout);
    ck_assert_int_eq(memcmp(&iin, &iout, sizeof iin), 0);
}
END_TEST

START_TEST(named_block_messages_round_trip)
{
    proto_publish pin = { .block_id = 99, .prot = MEMPOOL_READ | MEMPOOL_PUBLISH_REPLACE,
                          .name = "cam/0:frame_1.raw-x" }, pout;
    size_t len = proto_put_publish(payload, &pin);
    ck_assert_int_eq(proto_request_size(PROTO_PUBLISH), (int)len);
    decode_ok(make_frame(PROTO_PUBLISH, 0, len), 0, PROTO_PUBLISH, len);
    ck_assert_int_eq(proto_get_publish(frame + PROTO_HEADER_SIZE, &pout), 0);
    ck_assert_uint_eq(pout.block_id, 99);
    ck_assert_uint_eq(pout.prot, pin.prot);
    ck_assert_str_eq(pout.name, pin.name);
    ck_assert_int_eq(proto_reply_size(PROTO_PUBLISH), 0);

    proto_name_ref rin = { .pool = "p", .name = "x", .timeout_ms = -1 }, rout;
    len = proto_put_unpublish(payload, &rin);
    ck_assert_int_eq(proto_request_size(PROTO_UNPUBLISH), (int)len);
    ck_assert_int_eq(proto_get_unpublish(payload, &rout), 0);
    ck_assert_str_eq(rout.pool, "p");
    ck_assert_str_eq(rout.name, "x");
    ck_assert_int_eq(rout.timeout_ms, 0);

    len = proto_put_lookup(payload, &rin);
    ck_assert_int_eq(proto_request_size(PROTO_LOOKUP), (int)len);
    ck_assert_int_eq(proto_request_size(PROTO_ATTACH_NAME), (int)len);
    ck_assert_int_eq(proto_reply_size(PROTO_LOOKUP), PROTO_HANDLE_SIZE);
    ck_assert_int_eq(proto_reply_size(PROTO_ATTACH_NAME), proto_reply_size(PROTO_ATTACH));
    ck_assert_int_eq(proto_get_lookup(payload, &rout), 0);
    ck_assert_int_eq(rout.timeout_ms, -1);
    rin.timeout_ms = INT32_MAX;
    proto_put_lookup(payload, &rin);
    ck_assert_int_eq(proto_get_lookup(payload, &rout), 0);
    ck_assert_int_eq(rout.timeout_ms, INT32_MAX);
}
END_TEST

/* Framing faults are EPROTO (the session ends); a well-framed name that
 * breaks the syntax is EBADNAME and a timeout below -1 EINVAL (it goes on). */
START_TEST(named_block_fields_are_checked)
{
    ck_assert(proto_block_name_ok("a"));
    ck_assert(proto_block_name_ok("A-Z_a.z:0/9"));
    ck_assert(!proto_block_name_ok(""));
    ck_assert(!proto_block_name_ok(NULL));
    ck_assert(!proto_block_name_ok("with space"));
    ck_assert(!proto_block_name_ok("caf\xc3\xa9"));
    char name[PROTO_BLOCK_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[PROTO_BLOCK_NAME_MAX] = '\0';
    ck_assert(proto_block_name_ok(name));
    name[PROTO_BLOCK_NAME_MAX] = 'n';
    name[PROTO_BLOCK_NAME_MAX + 1] = '\0';
    ck_assert(!proto_block_name_ok(name));

    proto_publish pout;
    proto_publish pin = { .block_id = 1, .prot = MEMPOOL_READ, .name = "ok" };
    proto_put_publish(payload, &pin);
    payload[8] |= 0x04; /* a bit outside READ|WRITE|REPLACE */
    ck_assert_int_eq(proto_get_publish(payload, &pout), MEMPOOL_EPROTO);
    proto_put_publish(payload, &pin);
    payload[12] = 1; /* the pad */
    ck_assert_int_eq(proto_get_publish(payload, &pout), MEMPOOL_EPROTO);
    proto_put_publish(payload, &pin);
    payload[16 + 5] = 'x'; /* garbage after the name's NUL */
    ck_assert_int_eq(proto_get_publish(payload, &pout), MEMPOOL_EPROTO);
    snprintf(pin.name, sizeof pin.name, "bad name");
    proto_put_publish(payload, &pin);
    ck_assert_int_eq(proto_get_publish(payload, &pout), MEMPOOL_EBADNAME);

    proto_name_ref rout, rin = { .pool = "p", .name = "x", .timeout_ms = -2 };
    proto_put_lookup(payload, &rin);
    ck_assert_int_eq(proto_get_lookup(payload, &rout), MEMPOOL_EINVAL);
    rin.timeout_ms = 0;
    proto_put_lookup(payload, &rin);
    payload[PROTO_POOL_NAME_MAX + PROTO_BLOCK_NAME_MAX + 4] = 1; /* the pad */
    ck_assert_int_eq(proto_get_lookup(payload, &rout), MEMPOOL_EPROTO);
    snprintf(rin.pool, sizeof rin.pool, "%s", "");
    proto_put_lookup(payload, &rin);
    ck_assert_int_eq(proto_get_lookup(payload, &rout), MEMPOOL_EPROTO);
    snprintf(rin.pool, sizeof rin.pool, "p");
    snprintf(rin.name, sizeof rin.name, "a*b");
    proto_put_unpublish(payload, &rin);
    ck_assert_int_eq(proto_get_unpublish(payload, &rout), MEMPOOL_EBADNAME);
}
END_TEST

START_TEST(error_reply_has_no_payload)
{
    proto_header h;
    size_t n = proto_error_reply(frame, PROTO_ALLOC, 9, MEMPOOL_EDQUOT);
    ck_assert_uint_eq(n, PROTO_HEADER_SIZE);
    ck_assert_int_eq(proto_decode_header(frame, n, 1, &h), 0);
    ck_assert_int_eq(h.status, MEMPOOL_EDQUOT);
    ck_assert_uint_eq(h.request_id, 9);
    /* An error status with the success payload attached is malformed. */
    n = proto_encode_reply(frame, PROTO_ALLOC, 9, MEMPOOL_EDQUOT, payload, 40);
    ck_assert_int_eq(proto_decode_header(frame, n, 1, &h), MEMPOOL_EPROTO);
    /* Positive statuses do not exist; requests carry none. */
    n = proto_error_reply(frame, PROTO_RELEASE, 9, 5);
    ck_assert_int_eq(proto_decode_header(frame, n, 1, &h), MEMPOOL_EPROTO);
    n = proto_encode_reply(frame, PROTO_RELEASE, 9, MEMPOOL_EINVAL, payload, 8);
    ck_assert_int_eq(proto_decode_header(frame, n, 0, &h), MEMPOOL_EPROTO);
}
END_TEST

/* Rewrites one little-endian field of the frame in place. */
static void patch(size_t off, size_t width, uint64_t v)
{
    for (size_t i = 0; i < width; i++)
        frame[off + i] = (unsigned char)(v >> (8 * i));
}

START_TEST(malformed_headers_are_refused)
{
    proto_header h;
    size_t n = make_frame(PROTO_RELEASE, 0, proto_put_release(payload, &(proto_release){ .block_id = 1 }));
    ck_assert_int_eq(proto_decode_header(frame, n, 0, &h), 0);
    ck_assert_int_eq(proto_decode_header(NULL, n, 0, &h), MEMPOOL_EPROTO);
    for (size_t short_len = 0; short_len < n; short_len++)
        ck_assert_int_eq(proto_decode_header(frame, short_len, 0, &h), MEMPOOL_EPROTO);
    ck_assert_int_eq(proto_decode_header(frame, n + 1, 0, &h), MEMPOOL_EPROTO);
    /* The same frame read as a reply: RELEASE is never replied to. */
    ck_assert_int_eq(proto_decode_header(frame, n, 1, &h), MEMPOOL_EPROTO);

    static const uint64_t bad_types[] = { 0, 8, 0x100, 0xFFFF };
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        make_frame(PROTO_RELEASE, 0, 24);
        patch(2, 2, bad_types[i]);
        ck_assert_int_eq(proto_decode_header(frame, n, 0, &h), MEMPOOL_EPROTO);
    }
    static const uint64_t bad_flags[] = { 1, 0x80000000u, 0xFFFFFFFFu };
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        make_frame(PROTO_RELEASE, 0, 24);
        patch(4, 4, bad_flags[i]);
        ck_assert_int_eq(proto_decode_header(frame, n, 0, &h), MEMPOOL_EPROTO);
    }
    static const uint64_t bad_lengths[] = { 0, 7, 9, 16, 0x7FFFFFFFu, 0xFFFFFFFFu };
    for (size_t i = 0; i < sizeof bad_lengths / sizeof bad_lengths[0]; i++) {
        make_frame(PROTO_RELEASE, 0, 24);
        patch(20, 4, bad_lengths[i]);
        ck_assert_int_eq(proto_decode_header(frame, n, 0, &h), MEMPOOL_EPROTO);
        /* Even a buffer as long as the hostile length claims is refused. */
        ck_assert_int_eq(proto_decode_header(frame, sizeof frame, 0, &h), MEMPOOL_EPROTO);
    }
}
END_TEST

START_TEST(versions_outside_the_range_are_refused_except_in_hello)
{
    proto_header h;
    size_t n = make_frame(PROTO_RELEASE, 0, 24);
    /* Version 1 had a 40-byte block reply; it is no longer spoken. */
    static const uint64_t bad_versions[] = { 0, PROTO_MIN_VERSION - 1, PROTO_VERSION + 1,
                                             0xFFFF };
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        patch(0, 2, bad_versions[i]);
        ck_assert_int_eq(proto_decode_header(frame, n, 0, &h), MEMPOOL_EVERSION);
    }
    proto_hello hello = { .min_version = 2, .max_version = 9, .name = "next" };
    n = make_frame(PROTO_HELLO, 0, proto_put_hello(payload, &hello));
    patch(0, 2, 9);
    ck_assert_int_eq(proto_decode_header(frame, n, 0, &h), 0);
    ck_assert_uint_eq(h.version, 9);
    /* A HELLO must still be a well-formed HELLO. */
    patch(20, 4, 39);
    ck_assert_int_eq(proto_decode_header(frame, n - 1, 0, &h), MEMPOOL_EPROTO);
}
END_TEST

START_TEST(names_must_be_nul_padded_and_printable)
{
    char name[PROTO_POOL_NAME_MAX + 1];
    char longest[PROTO_POOL_NAME_MAX + 1];
    memset(longest, 'a', PROTO_POOL_NAME_MAX);
    longest[PROTO_POOL_NAME_MAX] = '\0';
    proto_put_pool_name(payload, longest);
    ck_assert_int_eq(proto_get_pool_name(payload, name), 0);
    ck_assert_str_eq(name, longest);

    proto_put_pool_name(payload, "ab");
    payload[5] = 'x'; /* a byte after the first NUL */
    ck_assert_int_eq(proto_get_pool_name(payload, name), MEMPOOL_EPROTO);
    proto_put_pool_name(payload, "");
    ck_assert_int_eq(proto_get_pool_name(payload, name), MEMPOOL_EPROTO);
    proto_put_pool_name(payload, "a\nb");
    ck_assert_int_eq(proto_get_pool_name(payload, name), MEMPOOL_EPROTO);

    /* Too long to fit: written as an empty field, never cut short. */
    char too_long[PROTO_POOL_NAME_MAX + 2];
    memset(too_long, 'b', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    proto_put_pool_name(payload, too_long);
    ck_assert_int_eq(proto_get_pool_name(payload, name), MEMPOOL_EPROTO);

    proto_alloc alloc;
    proto_put_alloc(payload, &(proto_alloc){ .pool = "p", .size = 1 });
    payload[63] = 'z';
    ck_assert_int_eq(proto_get_alloc(payload, &alloc), MEMPOOL_EPROTO);

    proto_hello hello;
    proto_put_hello(payload, &(proto_hello){ .min_version = 1, .max_version = 1,
                                             .name = "tool" });
    payload[8 + 31] = 'q';
    ck_assert_int_eq(proto_get_hello(payload, &hello), MEMPOOL_EPROTO);
}
END_TEST

START_TEST(payload_fields_are_checked)
{
    proto_hello hello;
    proto_put_hello(payload, &(proto_hello){ .min_version = 3, .max_version = 2,
                                             .name = "x" });
    ck_assert_int_eq(proto_get_hello(payload, &hello), MEMPOOL_EPROTO);

    proto_hello_reply hr;
    proto_put_hello_reply(payload, &(proto_hello_reply){ .version = 1 });
    payload[2] = 1;
    ck_assert_int_eq(proto_get_hello_reply(payload, &hr), MEMPOOL_EPROTO);

    proto_alloc alloc;
    proto_put_alloc(payload, &(proto_alloc){ .pool = "p", .size = 1, .flags = 4 });
    ck_assert_int_eq(proto_get_alloc(payload, &alloc), MEMPOOL_EPROTO);
    proto_put_alloc(payload, &(proto_alloc){ .pool = "p", .size = 1 });
    payload[79] = 1;
    ck_assert_int_eq(proto_get_alloc(payload, &alloc), MEMPOOL_EPROTO);

    proto_share share;
    proto_put_share(payload, &(proto_share){ .block_id = 1, .prot = 4 });
    ck_assert_int_eq(proto_get_share(payload, &share), MEMPOOL_EPROTO);
    /* Known bits the daemon may still refuse: not a malformed frame. */
    proto_put_share(payload, &(proto_share){ .block_id = 1, .prot = MEMPOOL_WRITE });
    ck_assert_int_eq(proto_get_share(payload, &share), 0);

    proto_block_reply br;
    proto_block_reply good = { .block_id = 1, .size = 4096, .prot = MEMPOOL_READ,
                               .backing_flags = PROTO_BACKING_ATTACHED, .page_size = 4096 };
    proto_block_reply bad[] = { good, good, good, good, good, good, good, good };
    bad[6].page_size = 3 * 4096; /* not a power of two */
    bad[7].size = 4096 + 1;      /* not whole pages */
    bad[0].size = 0;
    bad[1].prot = MEMPOOL_WRITE;
    bad[2].prot = 8 | MEMPOOL_READ;
    bad[3].backing_flags = 0x10;
    /* A kept backing is the client's already: it never comes along. */
    bad[5].backing_flags = PROTO_BACKING_KEPT | PROTO_BACKING_ATTACHED;
    /* A nonce names a backing that comes with the reply, never nothing. */
    bad[4].backing_flags = PROTO_BACKING_SHARED;
    bad[4].rendezvous[PROTO_RENDEZVOUS_SIZE - 1] = 1;
    proto_put_block_reply(payload, &good);
    ck_assert_int_eq(proto_get_block_reply(payload, &br), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proto_put_block_reply(payload, &bad[i]);
        ck_assert_int_eq(proto_get_block_reply(payload, &br), MEMPOOL_EPROTO);
    }
}
END_TEST

/* A stream reader takes the header, then the length it declares; a
 * hostile length must not make it wait for (or read into) more than one
 * frame's worth. */
START_TEST(frame_size_is_the_declared_length_up_to_the_largest_frame)
{
    size_t n = make_frame(PROTO_POOL_INFO, 1, proto_put_info(payload, &(mempool_info){ 0 }));
    ck_assert_uint_eq(proto_frame_size(frame), n);
    n = proto_error_reply(frame, PROTO_ALLOC, 3, MEMPOOL_ENOMEM);
    ck_assert_uint_eq(proto_frame_size(frame), PROTO_HEADER_SIZE);
    patch(20, 4, PROTO_MAX_FRAME - PROTO_HEADER_SIZE);
    ck_assert_uint_eq(proto_frame_size(frame), PROTO_MAX_FRAME);
    static const uint64_t hostile[] = { PROTO_MAX_FRAME - PROTO_HEADER_SIZE + 1, 0x7FFFFFFFu,
                                        0xFFFFFFFFu };
    proto_header h;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        patch(20, 4, hostile[i]);
        ck_assert_uint_eq(proto_frame_size(frame), PROTO_HEADER_SIZE);
        /* What the reader then hands on is refused as malformed. */
        ck_assert_int_eq(proto_decode_header(frame, PROTO_HEADER_SIZE, 1, &h), MEMPOOL_EPROTO);
    }
}
END_TEST

START_TEST(oversized_payloads_are_not_encoded)
{
    ck_assert_uint_eq(proto_encode_request(frame, PROTO_ALLOC, 1, payload,
                                           PROTO_MAX_FRAME), 0);
    ck_assert_uint_eq(proto_encode_request(frame, PROTO_ALLOC, 1, payload,
                                           PROTO_MAX_FRAME - PROTO_HEADER_SIZE),
                      PROTO_MAX_FRAME);
}
END_TEST

/* --- fuzz-ish: random and mutated frames through the decoder --------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Parses an accepted frame's payload; when the parser accepts it, writing
 * it back must give the same bytes (one encoding per message). */
static void check_payload_canonical(const proto_header *h, int is_reply)
{
    const unsigned char *p = frame + PROTO_HEADER_SIZE;
    unsigned char again[PROTO_MAX_FRAME];
    size_t n = 0;
    int err = 0;
    proto_hello hello;
    proto_hello_reply hr;
    proto_alloc alloc;
    proto_block_reply br;
    proto_share share;
    proto_release release;
    proto_cache cache;
    mempool_info info;
    char pool[PROTO_POOL_NAME_MAX + 1];
    if (h->status != 0 || h->length == 0)
        return;
    switch (h->type * 2 + (is_reply ? 1 : 0)) {
    case PROTO_HELLO * 2:
        if ((err = proto_get_hello(p, &hello)) == 0)
            n = proto_put_hello(again, &hello);
        break;
    case PROTO_HELLO * 2 + 1:
        if ((err = proto_get_hello_reply(p, &hr)) == 0)
            n = proto_put_hello_reply(again, &hr);
        break;
    case PROTO_ALLOC * 2:
        if ((err = proto_get_alloc(p, &alloc)) == 0)
            n = proto_put_alloc(again, &alloc);
        break;
    case PROTO_ALLOC * 2 + 1:
    case PROTO_ATTACH * 2 + 1:
        if ((err = proto_get_block_reply(p, &br)) == 0)
            n = proto_put_block_reply(again, &br);
        break;
    case PROTO_SHARE * 2:
        if ((err = proto_get_share(p, &share)) == 0)
            n = proto_put_share(again, &share);
        break;
    case PROTO_RELEASE * 2:
        if ((err = proto_get_release(p, &release)) == 0)
            n = proto_put_release(again, &release);
        break;
    case PROTO_CACHE * 2:
        if ((err = proto_get_cache(p, &cache)) == 0)
            n = proto_put_cache(again, &cache);
        break;
    case PROTO_POOL_INFO * 2:
        if ((err = proto_get_pool_name(p, pool)) == 0)
            n = proto_put_pool_name(again, pool);
        break;
    case PROTO_POOL_INFO * 2 + 1:
        proto_get_info(p, &info);
        n = proto_put_info(again, &info);
        break;
    default:
        return; /* raw bytes (handles, block ids): nothing to check */
    }
    ck_assert(err == 0 || err == MEMPOOL_EPROTO);
    if (err == 0) {
        ck_assert_uint_eq(n, h->length);
        ck_assert_int_eq(memcmp(again, p, n), 0);
    }
}

static void fuzz_one(size_t len, int is_reply)
{
    proto_header h1, h2;
    int r1 = proto_decode_header(frame, len, is_reply, &h1);
    int r2 = proto_decode_header(frame, len, is_reply, &h2);
    ck_assert_int_eq(r1, r2);
    ck_assert(r1 == 0 || r1 == MEMPOOL_EPROTO || r1 == MEMPOOL_EVERSION);
    if (r1 != 0)
        return;
    unsigned char header[PROTO_HEADER_SIZE];
    proto_encode_header(&h1, header);
    ck_assert_int_eq(memcmp(header, frame, PROTO_HEADER_SIZE), 0);
    ck_assert_uint_eq(len, PROTO_HEADER_SIZE + h1.length);
    ck_assert_int_ge(proto_request_size(h1.type), 0);
    check_payload_canonical(&h1, is_reply);
}

/* Starts from a valid frame of a random type and flips a few bytes. */
static size_t mutated_frame(int is_reply)
{
    uint16_t type = (uint16_t)(1 + rng_next() % 7);
    int size = is_reply ? proto_reply_size(type) : proto_request_size(type);
    size_t len = size > 0 ? (size_t)size : 0; /* a one-way request's reply: none */
    for (size_t i = 0; i < len; i++)
        payload[i] = (rng_next() % 4 == 0) ? (unsigned char)rng_next() : 0;
    size_t n = make_frame(type, is_reply, len);
    int flips = (int)(rng_next() % 4);
    for (int i = 0; i < flips; i++)
        frame[rng_next() % n] = (unsigned char)rng_next();
    if (rng_next() % 8 == 0)
        n = (size_t)(rng_next() % (n + 1));
    return n;
}

START_TEST(random_frames_never_crash_and_decode_consistently)
{
    int accepted = 0;
    for (int round = 0; round < 200000; round++) {
        int is_reply = (int)(rng_next() & 1);
        size_t len;
        if (round % 2 == 0) {
            len = (size_t)(rng_next() % sizeof frame);
            for (size_t i = 0; i < len; i++)
                frame[i] = (unsigned char)rng_next();
        } else {
            len = mutated_frame(is_reply);
        }
        proto_header h;
        accepted += proto_decode_header(frame, len, is_reply, &h) == 0;
        fuzz_one(len, is_reply);
    }
    /* The mutated half must reach the payload parsers, or the loop tests
     * little beyond the header checks. */
    ck_assert_int_gt(accepted, 1000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, table_sizes_are_what_the_codecs_write);
    tcase_add_test(tc, header_is_little_endian_byte_by_byte);
    tcase_add_test(tc, hello_round_trip);
    tcase_add_test(tc, alloc_and_block_reply_round_trip);
    tcase_add_test(tc, cache_frames_round_trip_and_refuse_nonsense);
    tcase_add_test(tc, give_back_flag_only_in_replies);
    tcase_add_test(tc, share_attach_release_info_round_trip);
    tcase_add_test(tc, error_reply_has_no_payload);
    tcase_add_test(tc, malformed_headers_are_refused);
    tcase_add_test(tc, versions_outside_the_range_are_refused_except_in_hello);
    tcase_add_test(tc, names_must_be_nul_padded_and_printable);
    tcase_add_test(tc, named_block_messages_round_trip);
    tcase_add_test(tc, named_block_fields_are_checked);
    tcase_add_test(tc, payload_fields_are_checked);
    tcase_add_test(tc, frame_size_is_the_declared_length_up_to_the_largest_frame);
    tcase_add_test(tc, oversized_payloads_are_not_encoded);
    tcase_add_test(tc, random_frames_never_crash_and_decode_consistently);
    suite_add_tcase(s, tc);
    return check_run(s);
}
