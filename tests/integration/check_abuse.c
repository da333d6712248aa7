/* Bad input against the real daemon: each malformed frame gets an error
 * reply or a closed session, never a crash, and a client connected at the
 * same time keeps working. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check_run.h"
#include "handoff.h"
#include "harness.h"
#include "proto.h"

static fixture fx;
static mempool_client *bystander;

static void setup(void)
{
    fixture_start(&fx, "pools:\n  - name: default\n    reserve: 1GiB\n    limit: 64MiB\n");
    bystander = connect_or_die(&fx);
}

static void teardown(void)
{
    mempool_disconnect(bystander);
    ck_assert_int_eq(fixture_stop(&fx), 0); /* it never crashed */
    fixture_cleanup(&fx);
}

static int raw_connect(void)
{
    /* The daemon's socket type: the stream build's suite speaks stream. */
    int fd = socket(AF_UNIX, handoff_socket_type(), 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, fx.socket);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_raw(int fd, const void *frame, size_t len)
{
    ck_assert_int_eq(send(fd, frame, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads one reply and returns its status. The reply to a frame the daemon
 * could not decode may echo a type no table knows, so the status is read
 * from its fixed place in the header rather than through the decoder. */
static int32_t recv_status(int fd)
{
    unsigned char frame[PROTO_MAX_FRAME];
    ssize_t n = recv(fd, frame, sizeof frame, 0);
    ck_assert_int_ge(n, PROTO_HEADER_SIZE);
    proto_header h;
    if (proto_decode_header(frame, (size_t)n, 1, &h) == 0)
        return h.status;
    ck_assert_int_eq(n, PROTO_HEADER_SIZE);
    return (int32_t)((uint32_t)frame[16] | (uint32_t)frame[17] << 8 |
                     (uint32_t)frame[18] << 16 | (uint32_t)frame[19] << 24);
}

static bool log_contains(const char *text)
{
    FILE *f = fopen(fx.log, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* The daemon closed the session: end of file, or on a stream ECONNRESET
 * when it closed with bytes of ours unread (the rest of a refused frame). */
static void expect_closed(int fd)
{
    unsigned char frame[PROTO_MAX_FRAME];
    ssize_t n = recv(fd, frame, sizeof frame, 0);
    ck_assert(n == 0 || (n < 0 && errno == ECONNRESET && handoff_socket_type() == SOCK_STREAM));
    close(fd);
}

static void hello(int fd)
{
    unsigned char payload[64], frame[PROTO_MAX_FRAME];
    proto_hello m = { .min_version = PROTO_MIN_VERSION, .max_version = PROTO_VERSION };
    strcpy(m.name, "abuse");
    size_t len = proto_encode_request(frame, PROTO_HELLO, 1, payload, proto_put_hello(payload, &m));
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), 0);
}

/* The bystander can still allocate, write and release. */
static void bystander_works(void)
{
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(bystander, "default", 4096, 0, &b), 0);
    memset(b.addr, 1, b.size);
    ck_assert_int_eq(mempool_release(bystander, &b), 0);
}

static size_t alloc_frame(unsigned char *frame, const char *pool, uint64_t size)
{
    unsigned char payload[PROTO_MAX_FRAME];
    proto_alloc m = { .size = size };
    strcpy(m.pool, pool);
    return proto_encode_request(frame, PROTO_ALLOC, 2, payload, proto_put_alloc(payload, &m));
}

START_TEST(truncated_frame_closes_the_session)
{
    int fd = raw_connect();
    unsigned char frame[PROTO_MAX_FRAME];
    size_t len = alloc_frame(frame, "default", 4096);
    hello(fd);
    send_raw(fd, frame, len - 5);
    if (handoff_socket_type() == SOCK_STREAM) {
        /* On a stream the rest may still come: a hang-up ends it. */
        shutdown(fd, SHUT_WR);
    } else {
        ck_assert_int_eq(recv_status(fd), MEMPOOL_EPROTO);
    }
    expect_closed(fd);
    bystander_works();
}
END_TEST

START_TEST(frame_before_hello_closes_the_session)
{
    int fd = raw_connect();
    unsigned char frame[PROTO_MAX_FRAME];
    send_raw(fd, frame, alloc_frame(frame, "default", 4096));
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EPROTO);
    expect_closed(fd);
    bystander_works();
}
END_TEST

START_TEST(unsupported_version_is_refused)
{
    int fd = raw_connect();
    unsigned char payload[64], frame[PROTO_MAX_FRAME];
    proto_hello m = { .min_version = PROTO_VERSION + 1, .max_version = PROTO_VERSION + 5 };
    strcpy(m.name, "from-the-future");
    size_t len = proto_encode_request(frame, PROTO_HELLO, 1, payload, proto_put_hello(payload, &m));
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EVERSION);
    expect_closed(fd);
    /* A later frame with a wrong header version, after a good hello. */
    fd = raw_connect();
    hello(fd);
    len = alloc_frame(frame, "default", 4096);
    frame[0] = 0x7f;
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EVERSION);
    expect_closed(fd);
    bystander_works();
}
END_TEST

START_TEST(unknown_type_and_wrong_length_and_flags)
{
    unsigned char frame[PROTO_MAX_FRAME];
    for (int kind = 0; kind < 3; kind++) {
        int fd = raw_connect();
        hello(fd);
        size_t len = alloc_frame(frame, "default", 4096);
        if (kind == 0)
            frame[2] = 99; /* type */
        else if (kind == 1)
            frame[20] = (unsigned char)(frame[20] + 1); /* length */
        else
            frame[4] = 1; /* flags */
        send_raw(fd, frame, kind == 1 ? len + 1 : len);
        ck_assert_int_eq(recv_status(fd), MEMPOOL_EPROTO);
        expect_closed(fd);
    }
    bystander_works();
}
END_TEST

START_TEST(oversized_and_hostile_frames)
{
    unsigned char big[4096];
    memset(big, 0xff, sizeof big);
    int fd = raw_connect();
    hello(fd);
    send_raw(fd, big, sizeof big);
    /* A message too big for a frame; on a stream, a header whose version
     * (0xffff) nothing speaks. */
    int32_t want = handoff_socket_type() == SOCK_STREAM ? MEMPOOL_EVERSION : MEMPOOL_EPROTO;
    ck_assert_int_eq(recv_status(fd), want);
    expect_closed(fd);
    /* A hostile size in a well-formed frame is an error, not a crash. */
    fd = raw_connect();
    hello(fd);
    unsigned char frame[PROTO_MAX_FRAME];
    send_raw(fd, frame, alloc_frame(frame, "default", UINT64_MAX));
    ck_assert_int_eq(recv_status(fd), MEMPOOL_E2BIG);
    send_raw(fd, frame, alloc_frame(frame, "default", 0));
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EINVAL);
    close(fd);
    bystander_works();
}
END_TEST

START_TEST(unknown_pool_handle_and_block_keep_the_session)
{
    int fd = raw_connect();
    unsigned char frame[PROTO_MAX_FRAME], payload[PROTO_MAX_FRAME];
    hello(fd);
    send_raw(fd, frame, alloc_frame(frame, "nosuchpool", 4096));
    ck_assert_int_eq(recv_status(fd), MEMPOOL_ENOPOOL);
    mempool_handle h;
    memset(&h, 0x42, sizeof h);
    size_t len = proto_encode_request(frame, PROTO_ATTACH, 3, payload, proto_put_handle(payload, &h));
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EBADHANDLE);
    /* RELEASE is one-way: one the daemon cannot honour gets no reply (the
     * next reply is POOL_INFO's), is logged with the uid, and the session
     * goes on. */
    len = proto_encode_request(frame, PROTO_RELEASE, 4, payload,
                               proto_put_release(payload, &(proto_release){ .block_id = 12345 }));
    send_raw(fd, frame, len);
    len = proto_encode_request(frame, PROTO_POOL_INFO, 5, payload,
                               proto_put_pool_name(payload, "default"));
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), 0);
    char expect[96];
    snprintf(expect, sizeof expect, "uid %u): release of block 12345 refused", (unsigned)getuid());
    ck_assert(log_contains(expect));
    close(fd);
    bystander_works();
}
END_TEST

/* Named-block frames: a name outside the syntax, a timeout below -1 and a
 * block not held are answered and the session goes on; a lookup left
 * waiting by a client that hangs up is dropped; a bad pad is malformed. */
static size_t name_frame(unsigned char *frame, uint16_t type, uint64_t id, const char *name,
                         int32_t timeout_ms)
{
    unsigned char payload[PROTO_MAX_FRAME];
    proto_name_ref m = { .timeout_ms = timeout_ms };
    strcpy(m.pool, "default");
    snprintf(m.name, sizeof m.name, "%s", name);
    size_t len = type == PROTO_UNPUBLISH ? proto_put_unpublish(payload, &m)
                                         : proto_put_lookup(payload, &m);
    return proto_encode_request(frame, type, id, payload, len);
}

START_TEST(named_block_frames_with_bad_fields)
{
    int fd = raw_connect();
    unsigned char frame[PROTO_MAX_FRAME], payload[PROTO_MAX_FRAME];
    hello(fd);
    send_raw(fd, frame, name_frame(frame, PROTO_LOOKUP, 2, "has space", 0));
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EBADNAME);
    send_raw(fd, frame, name_frame(frame, PROTO_UNPUBLISH, 3, "semi;colon", 0));
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EBADNAME);
    send_raw(fd, frame, name_frame(frame, PROTO_ATTACH_NAME, 4, "ok", -5));
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EINVAL);
    proto_publish pm = { .block_id = 999, .prot = MEMPOOL_READ, .name = "x" };
    size_t len = proto_encode_request(frame, PROTO_PUBLISH, 5, payload, proto_put_publish(payload, &pm));
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), MEMPOOL_ENOBLOCK);
    /* Left waiting, then gone: nothing of it stays in the daemon. */
    int waiter = raw_connect();
    hello(waiter);
    send_raw(waiter, frame, name_frame(frame, PROTO_LOOKUP, 2, "never", -1));
    close(waiter);
    /* A pad that is not 0 ends the session. */
    len = name_frame(frame, PROTO_LOOKUP, 6, "ok", 0);
    frame[PROTO_HEADER_SIZE + 2 * 64 + 4] = 1;
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EPROTO);
    expect_closed(fd);
    bystander_works();
    mempool_handle h;
    ck_assert_int_eq(mempool_lookup(bystander, "default", "never", 0, &h), MEMPOOL_ENONAME);
}
END_TEST

/* Cache reports about blocks the connection does not hold (another's, or
 * none) change nothing, get no reply and end nothing; a malformed one
 * (an entry without an op) ends the session. */
START_TEST(cache_reports_about_blocks_not_held_change_nothing)
{
    mempool_block theirs;
    ck_assert_int_eq(mempool_alloc(bystander, "default", 4096, 0, &theirs), 0);
    int fd = raw_connect();
    unsigned char frame[PROTO_MAX_FRAME], payload[PROTO_MAX_FRAME];
    hello(fd);
    proto_cache m = { .count = 3 };
    m.entries[0] = PROTO_CACHE_ENTRY(PROTO_CACHE_PUT, theirs.id);
    m.entries[1] = PROTO_CACHE_ENTRY(PROTO_CACHE_GIVE_BACK, theirs.id);
    m.entries[2] = PROTO_CACHE_ENTRY(PROTO_CACHE_TAKE, 999999);
    size_t len = proto_encode_request(frame, PROTO_CACHE, 3, payload, proto_put_cache(payload, &m));
    send_raw(fd, frame, len);
    len = proto_encode_request(frame, PROTO_POOL_INFO, 4, payload,
                               proto_put_pool_name(payload, "default"));
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), 0);
    /* The bystander's block is still its own, whole. */
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(bystander, "default", &info), 0);
    ck_assert_uint_eq(info.client_use, 4096);
    memset(payload, 0, sizeof payload);
    payload[0] = 1; /* count 1, entry 0 without an op */
    payload[8] = 7;
    len = proto_encode_request(frame, PROTO_CACHE, 5, payload, 8 + 8 * PROTO_CACHE_MAX);
    send_raw(fd, frame, len);
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EPROTO);
    expect_closed(fd);
    ck_assert_int_eq(mempool_release(bystander, &theirs), 0);
    bystander_works();
}
END_TEST

START_TEST(descriptors_sent_to_the_daemon_are_refused)
{
    int fd = raw_connect();
    hello(fd);
    int fds_before = settled_fd_count(&fx, bystander);
    unsigned char frame[PROTO_MAX_FRAME];
    size_t len = alloc_frame(frame, "default", 4096);
    ck_assert_int_eq(send_with_fds(fd, frame, len, 1), (ssize_t)len);
    ck_assert_int_eq(recv_status(fd), MEMPOOL_EPROTO);
    expect_closed(fd);
    /* The descriptor it was sent is closed, with the session. */
    ck_assert_int_eq(wait_fd_count(&fx, fds_before - 1), fds_before - 1);
    bystander_works();
}
END_TEST

/* Descriptor stuffing: the most one message can carry (253), with a frame,
 * then again with a bare byte. Every one is closed, only that session
 * ends, and the daemon's descriptor count is back where it was. */
START_TEST(a_message_stuffed_with_descriptors_leaves_none_open)
{
    for (int round = 0; round < 2; round++) {
        int fds_before = settled_fd_count(&fx, bystander);
        int fd = raw_connect();
        hello(fd);
        unsigned char frame[PROTO_MAX_FRAME];
        size_t len = round == 0 ? alloc_frame(frame, "default", 4096) : 1;
        ck_assert_int_eq(send_with_fds(fd, frame, len, 253), (ssize_t)len);
        ck_assert_int_eq(recv_status(fd), MEMPOOL_EPROTO);
        expect_closed(fd);
        ck_assert_int_eq(wait_fd_count(&fx, fds_before), fds_before);
        bystander_works();
    }
}
END_TEST

/* A client holding a block's memfd read-write cannot seal it so that the
 * daemon can no longer punch it (which would stop memory ever going back
 * to the OS): the daemon sealed the seals. */
START_TEST(a_client_cannot_add_seals_to_its_memfd)
{
    int fd = raw_connect();
    hello(fd);
    unsigned char frame[PROTO_MAX_FRAME];
    send_raw(fd, frame, alloc_frame(frame, "default", 4096));
    handoff_object obj;
    ssize_t n = handoff_recv(fd, frame, sizeof frame, &obj);
    ck_assert_int_gt(n, PROTO_HEADER_SIZE);
    ck_assert_int_ge(obj.fd, 0);
    ck_assert_int_eq(fcntl(obj.fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(fcntl(obj.fd, F_GET_SEALS) & F_SEAL_SEAL, F_SEAL_SEAL);
    handoff_object_close(&obj);
    close(fd);
    bystander_works();
}
END_TEST

START_TEST(random_garbage_never_crashes_the_daemon)
{
    unsigned char junk[300];
    srand(7);
    for (int round = 0; round < 200; round++) {
        int fd = raw_connect();
        if (round % 2)
            hello(fd);
        size_t len = 1 + (size_t)rand() % sizeof junk;
        for (size_t i = 0; i < len; i++)
            junk[i] = (unsigned char)rand();
        send_raw(fd, junk, len);
        close(fd);
    }
    bystander_works();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("abuse");
    TCase *tc = tcase_create("abuse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, truncated_frame_closes_the_session);
    tcase_add_test(tc, frame_before_hello_closes_the_session);
    tcase_add_test(tc, unsupported_version_is_refused);
    tcase_add_test(tc, unknown_type_and_wrong_length_and_flags);
    tcase_add_test(tc, oversized_and_hostile_frames);
    tcase_add_test(tc, unknown_pool_handle_and_block_keep_the_session);
    tcase_add_test(tc, cache_reports_about_blocks_not_held_change_nothing);
    tcase_add_test(tc, descriptors_sent_to_the_daemon_are_refused);
    tcase_add_test(tc, a_message_stuffed_with_descriptors_leaves_none_open);
    tcase_add_test(tc, a_client_cannot_add_seals_to_its_memfd);
    tcase_add_test(tc, random_garbage_never_crashes_the_daemon);
    tcase_add_test(tc, named_block_frames_with_bad_fields);
    suite_add_tcase(s, tc);
    return check_run(s);
}
