/* The Linux handoff, end to end on a socketpair: what the kernel says about
 * the descriptors and mappings, not what the module says about itself. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "frame_stream.h"
#include "handoff.h"
#include "mempool.h"

static int sv[2]; /* sv[0]: the daemon's end, sv[1]: the client's */
static int memfd;
static size_t page;
static unsigned char *daemon_map; /* the daemon's view of the memfd */

static void setup(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    ck_assert_int_eq(socketpair(AF_UNIX, handoff_socket_type(), 0, sv), 0);
    memfd = memfd_create("check_handoff", MFD_CLOEXEC);
    ck_assert_int_ge(memfd, 0);
    ck_assert_int_eq(ftruncate(memfd, (off_t)(4 * page)), 0);
    daemon_map = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    ck_assert_ptr_ne(daemon_map, MAP_FAILED);
}

static void teardown(void)
{
    munmap(daemon_map, 4 * page);
    close(memfd);
    close(sv[0]);
    close(sv[1]);
}

static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* Exports the memfd with `prot`, sends it with a frame, receives both. */
static handoff_object pass_backing(unsigned prot)
{
    handoff_object sent, got;
    ck_assert_int_eq(handoff_export(memfd, daemon_map, 4 * page, prot, &sent), 0);
    ck_assert_int_eq(handoff_send(sv[0], "frame", 5, &sent), 0);
    handoff_object_close(&sent);
    char buf[64];
    ck_assert_int_eq(handoff_recv(sv[1], buf, sizeof buf, &got), 5);
    ck_assert_int_eq(memcmp(buf, "frame", 5), 0);
    ck_assert(!handoff_object_empty(&got));
    return got;
}

START_TEST(socket_type_is_seqpacket)
{
    ck_assert_int_eq(handoff_socket_type(), SOCK_SEQPACKET);
}
END_TEST

START_TEST(read_write_share_sees_both_ways)
{
    handoff_object got = pass_backing(MEMPOOL_READ | MEMPOOL_WRITE);
    ck_assert_int_eq(fcntl(got.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ck_assert_int_eq(fcntl(got.fd, F_GETFL) & O_ACCMODE, O_RDWR);
    void *addr;
    ck_assert_int_eq(handoff_map(&got, page, page, MEMPOOL_READ | MEMPOOL_WRITE, &addr), 0);
    handoff_object_close(&got);
    ck_assert(handoff_object_empty(&got));
    unsigned char *client = addr;
    memcpy(client, "from the client", 16);
    ck_assert_int_eq(memcmp(daemon_map + page, "from the client", 16), 0);
    memcpy(daemon_map + page + 100, "from the daemon", 16);
    ck_assert_int_eq(memcmp(client + 100, "from the daemon", 16), 0);
    ck_assert_int_eq(handoff_unmap(addr, page), 0);
}
END_TEST

START_TEST(read_only_share_refuses_writes)
{
    memcpy(daemon_map, "read me", 8);
    handoff_object got = pass_backing(MEMPOOL_READ);
    ck_assert_int_eq(fcntl(got.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ck_assert_int_eq(fcntl(got.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    void *addr = NULL;
    ck_assert_int_eq(handoff_map(&got, page, 0, MEMPOOL_READ | MEMPOOL_WRITE, &addr), -EACCES);
    ck_assert_int_eq(handoff_map(&got, page, 0, MEMPOOL_READ, &addr), 0);
    handoff_object_close(&got);
    ck_assert_int_eq(memcmp(addr, "read me", 8), 0);
    /* Nor can the mapping be made writable afterwards. */
    ck_assert_int_eq(mprotect(addr, page, PROT_READ | PROT_WRITE), -1);
    ck_assert_int_eq(errno, EACCES);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        signal(SIGSEGV, SIG_DFL); /* a sanitizer's handler would exit instead */
        ((volatile unsigned char *)addr)[0] = 'X';
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGSEGV);
    ck_assert_int_eq(daemon_map[0], 'r');
    handoff_unmap(addr, page);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    handoff_object o;
    ck_assert_int_eq(handoff_export(memfd, daemon_map, page, MEMPOOL_WRITE, &o), -EINVAL);
    ck_assert(handoff_object_empty(&o));
    ck_assert_int_eq(handoff_export(memfd, daemon_map, page, 0, &o), -EINVAL);
    void *addr;
    handoff_object none = HANDOFF_OBJECT_NONE;
    ck_assert_int_eq(handoff_map(&none, page, 0, MEMPOOL_READ, &addr), -EBADF);
    o.fd = memfd;
    ck_assert_int_eq(handoff_map(&o, 0, 0, MEMPOOL_READ, &addr), -EINVAL);
    ck_assert_int_eq(handoff_map(&o, page, UINT64_MAX - 1, MEMPOOL_READ, &addr), -EINVAL);
}
END_TEST

/* Sends `count` descriptors of the memfd with a frame, bypassing
 * handoff_send (which sends at most one), then closes the sender's copies. */
static void send_raw_fds(const void *frame, size_t len, int count)
{
    int fds[253]; /* SCM_MAX_FD */
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    for (int i = 0; i < count; i++)
        fds[i] = dup(memfd);
    struct iovec iov = { .iov_base = (void *)frame, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control,
                          .msg_controllen = CMSG_SPACE(count * sizeof(int)) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(count * sizeof(int));
    memcpy(CMSG_DATA(c), fds, count * sizeof(int));
    ck_assert_int_eq(sendmsg(sv[0], &msg, 0), (ssize_t)len);
    for (int i = 0; i < count; i++)
        close(fds[i]);
}

static void expect_refused(const void *frame, size_t len, int count,
                           size_t cap, int with_obj)
{
    int before = open_fd_count();
    send_raw_fds(frame, len, count);
    char buf[64];
    handoff_object got = { .fd = 12345, .port = 0 };
    ck_assert_int_eq(handoff_recv(sv[1], buf, cap, with_obj ? &got : NULL), -EPROTO);
    if (with_obj)
        ck_assert(handoff_object_empty(&got));
    ck_assert_int_eq(open_fd_count(), before);
}

START_TEST(a_message_stuffed_with_descriptors_leaves_none_open)
{
    /* The most one message can carry (SCM_MAX_FD): all closed. */
    expect_refused("x", 1, 253, 64, 1);
    expect_refused("x", 1, 253, 64, 0);
    expect_refused("x", 1, 12, 64, 1);
}
END_TEST

START_TEST(more_than_one_descriptor_is_refused)
{
    expect_refused("x", 1, 2, 64, 1);
    expect_refused("x", 1, 3, 64, 1);
}
END_TEST

START_TEST(descriptor_without_a_place_is_refused)
{
    expect_refused("x", 1, 1, 64, 0);
}
END_TEST

START_TEST(truncated_frame_is_refused_with_its_descriptor)
{
    /* The frame does not fit the buffer: MSG_TRUNC. */
    expect_refused("a longer frame", 14, 1, 4, 1);
}
END_TEST

START_TEST(frame_without_descriptor)
{
    char buf[16];
    handoff_object got = { .fd = 7, .port = 0 };
    ck_assert_int_eq(handoff_send(sv[0], "abc", 3, NULL), 0);
    ck_assert_int_eq(handoff_recv(sv[1], buf, sizeof buf, &got), 3);
    ck_assert(handoff_object_empty(&got));
    ck_assert_int_eq(handoff_send(sv[0], "def", 3, &got), 0);
    ck_assert_int_eq(handoff_recv(sv[1], buf, sizeof buf, NULL), 3);
    ck_assert_int_eq(memcmp(buf, "def", 3), 0);
}
END_TEST

START_TEST(hang_up_is_seen)
{
    char buf[16];
    handoff_object got;
    close(sv[0]);
    sv[0] = -1;
    ck_assert_int_eq(handoff_recv(sv[1], buf, sizeof buf, &got), 0);
    /* A send to a closed peer is an error, not a SIGPIPE. */
    ck_assert_int_eq(handoff_send(sv[1], "abc", 3, NULL), -EPIPE);
}
END_TEST

/* The stream framing over Linux's SCM_RIGHTS (what the
 * MEMPOOL_STREAM_SOCKETS build's client does): the descriptor sent with a
 * reply frame lands in the frame's object whichever read brings it; a
 * second one in the same frame is refused, and both are closed. */
static void stream_pair(int pair[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
}

START_TEST(stream_frame_carries_its_descriptor)
{
    int pair[2];
    stream_pair(pair);
    unsigned char frame[PROTO_MAX_FRAME], got[PROTO_MAX_FRAME];
    size_t n = proto_error_reply(frame, PROTO_ALLOC, 9, 0);
    handoff_object sent;
    ck_assert_int_eq(handoff_export(memfd, daemon_map, 4 * page, MEMPOOL_READ, &sent), 0);
    ck_assert_int_eq(handoff_send(pair[0], frame, n, &sent), 0);
    handoff_object_close(&sent);
    int before = open_fd_count();
    handoff_object obj = HANDOFF_OBJECT_NONE;
    size_t len = 0;
    ck_assert_int_eq(frame_stream_read(pair[1], got, &len, &obj), (ssize_t)n);
    ck_assert(!handoff_object_empty(&obj));
    ck_assert_int_eq(open_fd_count(), before + 1);
    handoff_object_close(&obj);
    close(pair[0]);
    close(pair[1]);
}
END_TEST

START_TEST(stream_frame_with_two_descriptors_is_refused)
{
    int pair[2];
    stream_pair(pair);
    unsigned char frame[PROTO_MAX_FRAME], got[PROTO_MAX_FRAME];
    size_t n = proto_error_reply(frame, PROTO_ALLOC, 9, 0);
    handoff_object sent;
    ck_assert_int_eq(handoff_export(memfd, daemon_map, 4 * page, MEMPOOL_READ, &sent), 0);
    /* The header with one descriptor, the rest of the frame with another. */
    ck_assert_int_eq(handoff_send(pair[0], frame, 10, &sent), 0);
    ck_assert_int_eq(handoff_send(pair[0], frame + 10, n - 10, &sent), 0);
    handoff_object_close(&sent);
    int before = open_fd_count();
    handoff_object obj = HANDOFF_OBJECT_NONE;
    size_t len = 0;
    ssize_t r;
    do
        r = frame_stream_read(pair[1], got, &len, &obj);
    while (r == -EAGAIN);
    ck_assert_int_eq(r, -EPROTO);
    ck_assert(handoff_object_empty(&obj));
    ck_assert_int_eq(open_fd_count(), before);
    close(pair[0]);
    close(pair[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("handoff");
    TCase *tc = tcase_create("linux");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, socket_type_is_seqpacket);
    tcase_add_test(tc, read_write_share_sees_both_ways);
    tcase_add_test(tc, read_only_share_refuses_writes);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, a_message_stuffed_with_descriptors_leaves_none_open);
    tcase_add_test(tc, more_than_one_descriptor_is_refused);
    tcase_add_test(tc, descriptor_without_a_place_is_refused);
    tcase_add_test(tc, truncated_frame_is_refused_with_its_descriptor);
    tcase_add_test(tc, frame_without_descriptor);
    tcase_add_test(tc, hang_up_is_seen);
    tcase_add_test(tc, stream_frame_carries_its_descriptor);
    tcase_add_test(tc, stream_frame_with_two_descriptors_is_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
