/* The stream framing (common/frame_stream.c) the macOS daemon and client
 * read with, fed by a real stream socketpair: a frame one byte at a time,
 * a header split in two, frames back to back, an oversized length, a
 * hang-up mid-frame, a descriptor where none may come. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "frame_stream.h"
#include "proto.h"

static int sv[2]; /* sv[0] writes, sv[1] is read (non-blocking) */
static unsigned char frame[PROTO_MAX_FRAME];
static size_t frame_len;

static void setup(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    unsigned char payload[PROTO_MAX_FRAME];
    proto_hello m = { .min_version = PROTO_MIN_VERSION, .max_version = PROTO_VERSION, .pid = 7 };
    strcpy(m.name, "stream");
    frame_len = proto_encode_request(frame, PROTO_HELLO, 42, payload, proto_put_hello(payload, &m));
    ck_assert_uint_gt(frame_len, PROTO_HEADER_SIZE);
}

static void teardown(void)
{
    if (sv[0] >= 0)
        close(sv[0]);
    close(sv[1]);
}

static void put(const void *bytes, size_t n)
{
    ck_assert_int_eq(send(sv[0], bytes, n, 0), (ssize_t)n);
}

static size_t unread_bytes(void)
{
    unsigned char peek[4 * PROTO_MAX_FRAME];
    ssize_t n = recv(sv[1], peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 ? 0 : (size_t)n;
}

static void expect_the_frame(const unsigned char *got)
{
    ck_assert_int_eq(memcmp(got, frame, frame_len), 0);
    proto_header h;
    ck_assert_int_eq(proto_decode_header(got, frame_len, 0, &h), 0);
    ck_assert_uint_eq(h.request_id, 42);
}

START_TEST(one_byte_at_a_time)
{
    unsigned char got[PROTO_MAX_FRAME];
    size_t len = 0;
    for (size_t i = 0; i + 1 < frame_len; i++) {
        put(frame + i, 1);
        ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), -EAGAIN);
        ck_assert_uint_eq(len, i + 1);
    }
    put(frame + frame_len - 1, 1);
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), (ssize_t)frame_len);
    ck_assert_uint_eq(len, 0);
    expect_the_frame(got);
}
END_TEST

START_TEST(a_header_split_in_two)
{
    unsigned char got[PROTO_MAX_FRAME];
    size_t len = 0;
    put(frame, 10);
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), -EAGAIN);
    put(frame + 10, PROTO_HEADER_SIZE - 10);
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), -EAGAIN);
    ck_assert_uint_eq(len, PROTO_HEADER_SIZE);
    put(frame + PROTO_HEADER_SIZE, frame_len - PROTO_HEADER_SIZE);
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), (ssize_t)frame_len);
    expect_the_frame(got);
}
END_TEST

START_TEST(frames_back_to_back_are_read_one_at_a_time)
{
    unsigned char two[2 * PROTO_MAX_FRAME], got[PROTO_MAX_FRAME];
    memcpy(two, frame, frame_len);
    memcpy(two + frame_len, frame, frame_len);
    put(two, 2 * frame_len);
    size_t len = 0;
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), (ssize_t)frame_len);
    /* Nothing of the second was taken: it keeps the socket readable. */
    ck_assert_uint_eq(unread_bytes(), frame_len);
    expect_the_frame(got);
    memset(got, 0, sizeof got);
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), (ssize_t)frame_len);
    expect_the_frame(got);
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), -EAGAIN);
}
END_TEST

/* A length past any frame: only the header is taken, and the decoder
 * refuses it (the daemon then answers EPROTO and closes). */
START_TEST(an_oversized_length_takes_the_header_only)
{
    unsigned char bad[PROTO_HEADER_SIZE + 64], got[PROTO_MAX_FRAME];
    memcpy(bad, frame, PROTO_HEADER_SIZE);
    memset(bad + PROTO_HEADER_SIZE, 0xab, 64);
    bad[20] = 0xff, bad[21] = 0xff, bad[22] = 0xff, bad[23] = 0x7f;
    put(bad, sizeof bad);
    size_t len = 0;
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), PROTO_HEADER_SIZE);
    ck_assert_uint_eq(unread_bytes(), 64);
    proto_header h;
    ck_assert_int_eq(proto_decode_header(got, PROTO_HEADER_SIZE, 0, &h), MEMPOOL_EPROTO);
}
END_TEST

START_TEST(a_hang_up_mid_frame_is_a_hang_up)
{
    unsigned char got[PROTO_MAX_FRAME];
    size_t len = 0;
    put(frame, PROTO_HEADER_SIZE + 3);
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), -EAGAIN);
    close(sv[0]);
    sv[0] = -1;
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), 0);
    /* And mid-header. */
    int pair[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    ck_assert_int_eq(send(pair[0], frame, 5, 0), 5);
    close(pair[0]);
    len = 0;
    ck_assert_int_eq(frame_stream_read(pair[1], got, &len, NULL), 0);
    close(pair[1]);
}
END_TEST

/* Where nothing may come attached, a descriptor is closed and refused. */
START_TEST(a_descriptor_where_none_may_come_is_refused)
{
    int passed = open("/dev/null", O_RDONLY);
    ck_assert_int_ge(passed, 0);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = { .iov_base = frame, .iov_len = frame_len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passed, sizeof passed);
    ck_assert_int_eq(sendmsg(sv[0], &msg, 0), (ssize_t)frame_len);
    close(passed);
    int next = open("/dev/null", O_RDONLY); /* the lowest free number */
    close(next);
    unsigned char got[PROTO_MAX_FRAME];
    size_t len = 0;
    ck_assert_int_eq(frame_stream_read(sv[1], got, &len, NULL), -EPROTO);
    /* Whatever number it arrived under is free again. */
    int after = open("/dev/null", O_RDONLY);
    ck_assert_int_eq(after, next);
    close(after);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("frame_stream");
    TCase *tc = tcase_create("frame_stream");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, one_byte_at_a_time);
    tcase_add_test(tc, a_header_split_in_two);
    tcase_add_test(tc, frames_back_to_back_are_read_one_at_a_time);
    tcase_add_test(tc, an_oversized_length_takes_the_header_only);
    tcase_add_test(tc, a_hang_up_mid_frame_is_a_hang_up);
    tcase_add_test(tc, a_descriptor_where_none_may_come_is_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
