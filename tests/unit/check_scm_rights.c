/* scm_rights: every descriptor that arrived is found and can be closed,
 * and nothing past the control bytes the kernel wrote is read, including
 * the header xnu leaves claiming more descriptors than the buffer holds
 * (its copyout_control truncates the data, not cmsg_len). */
#include <check.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "scm_rights.h"

static bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

/* A control buffer of exactly `bytes` bytes (on the heap, so that ASan
 * sees a read past it) holding one SCM_RIGHTS header that claims `claimed`
 * descriptors, followed by the `n` descriptors that fit. */
static struct msghdr fake_message(size_t bytes, size_t claimed, const int *fds, size_t n)
{
    struct cmsghdr *c = calloc(1, bytes);
    ck_assert_ptr_nonnull(c);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(claimed * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    return (struct msghdr){ .msg_control = c, .msg_controllen = bytes };
}

static void open_some(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ge(fds[i] = open("/dev/null", O_RDONLY), 0);
}

START_TEST(a_header_that_claims_more_than_arrived_is_clamped)
{
    int fds[3];
    open_some(fds, 3);
    /* The header and three descriptors; cmsg_len says 500, as xnu would
     * leave it after truncating a stuffed message. */
    struct msghdr msg = fake_message(CMSG_LEN(3 * sizeof(int)), 500, fds, 3);
    ck_assert_uint_eq(scm_rights_take(&msg, NULL, 0), 3);
    for (int i = 0; i < 3; i++)
        ck_assert(!is_open(fds[i]));
    free(msg.msg_control);
}
END_TEST

START_TEST(those_past_the_cap_are_closed_the_rest_kept)
{
    int fds[5], kept[2];
    open_some(fds, 5);
    struct msghdr msg = fake_message(CMSG_SPACE(5 * sizeof(int)), 5, fds, 5);
    ck_assert_uint_eq(scm_rights_take(&msg, kept, 2), 5);
    ck_assert_int_eq(kept[0], fds[0]);
    ck_assert_int_eq(kept[1], fds[1]);
    ck_assert(is_open(fds[0]) && is_open(fds[1]));
    for (int i = 2; i < 5; i++)
        ck_assert(!is_open(fds[i]));
    scm_rights_close(kept, 2);
    ck_assert(!is_open(fds[0]) && !is_open(fds[1]));
    free(msg.msg_control);
}
END_TEST

START_TEST(malformed_headers_end_the_walk)
{
    int none[1] = { -1 };
    /* cmsg_len 0 (Darwin's CMSG_NXTHDR would loop on it) and a buffer
     * shorter than a header. */
    struct msghdr msg = fake_message(CMSG_SPACE(sizeof(int)), 0, none, 0);
    ((struct cmsghdr *)msg.msg_control)->cmsg_len = 0;
    ck_assert_uint_eq(scm_rights_take(&msg, NULL, 0), 0);
    msg.msg_controllen = sizeof(struct cmsghdr) - 1;
    ck_assert_uint_eq(scm_rights_take(&msg, NULL, 0), 0);
    free(msg.msg_control);
    msg.msg_control = NULL;
    msg.msg_controllen = 0;
    ck_assert_uint_eq(scm_rights_take(&msg, NULL, 0), 0);
}
END_TEST

/* Through the kernel: the most one message can carry on Linux (253) or a
 * 64-bit xnu (254) cannot both be sent portably; 200 fit either. */
START_TEST(every_descriptor_of_a_real_message_is_found)
{
    enum { N = 200 };
    int sv[2], fds[N], got[N];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    open_some(fds, N);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(N * sizeof(int))];
    } out, in;
    memset(&out, 0, sizeof out);
    struct iovec iov = { .iov_base = "x", .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = out.buf,
                          .msg_controllen = sizeof out.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(N * sizeof(int));
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ck_assert_int_eq(sendmsg(sv[0], &msg, 0), 1);
    scm_rights_close(fds, N);
    char byte;
    struct iovec riov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr rmsg = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = in.buf,
                           .msg_controllen = sizeof in.buf };
    ck_assert_int_eq(recvmsg(sv[1], &rmsg, 0), 1);
    ck_assert_uint_eq(scm_rights_take(&rmsg, got, N), N);
    for (int i = 0; i < N; i++)
        ck_assert(is_open(got[i]));
    scm_rights_close(got, N);
    for (int i = 0; i < N; i++)
        ck_assert(!is_open(got[i]));
    close(sv[0]);
    close(sv[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scm_rights");
    TCase *tc = tcase_create("scm_rights");
    tcase_add_test(tc, a_header_that_claims_more_than_arrived_is_clamped);
    tcase_add_test(tc, those_past_the_cap_are_closed_the_rest_kept);
    tcase_add_test(tc, malformed_headers_end_the_walk);
    tcase_add_test(tc, every_descriptor_of_a_real_message_is_found);
    suite_add_tcase(s, tc);
    return check_run(s);
}
