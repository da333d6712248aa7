/* daemon/listen.c: binding at a path, adopting a service manager's socket,
 * and the folder rule for sockets. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check_run.h"
#include "listen.h"

static char dir[] = "/tmp/check_listen.XXXXXX";
static char path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/check_listen.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s.sock", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

START_TEST(binds_listens_and_sets_the_mode)
{
    int fd = listen_unix(path, SOCK_STREAM, 0640);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    /* A live daemon answers there: the path is not taken over. */
    ck_assert_int_eq(listen_unix(path, SOCK_STREAM, 0640), -EADDRINUSE);
    close(fd);
    /* Nobody answers now: the leftover socket file is replaced. */
    fd = listen_unix(path, SOCK_STREAM, 0640);
    ck_assert_int_ge(fd, 0);
    close(fd);
}
END_TEST

START_TEST(a_file_that_is_not_a_socket_is_left_alone)
{
    int f = open(path, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(f, 0);
    close(f);
    ck_assert_int_eq(listen_unix(path, SOCK_STREAM, 0600), -EEXIST);
}
END_TEST

/* A folder others may write to (and not sticky) could hold someone else's
 * socket: refused. A sticky one, as /tmp, is fine. */
START_TEST(folders_others_can_write_are_refused)
{
    ck_assert_int_eq(chmod(dir, 0777), 0);
    ck_assert_int_eq(listen_unix(path, SOCK_STREAM, 0600), -EPERM);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(chmod(dir, 01777), 0);
    int fd = listen_unix(path, SOCK_STREAM, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
}
END_TEST

/* A socket path through a symbolic link to a trusted folder, as
 * /var/run/mempoold.sock on Debian (/var/run -> /run): bound there. A link
 * to a folder others can write is refused. */
START_TEST(a_symlinked_folder_is_followed)
{
    char real[160], link[160], through[200];
    snprintf(real, sizeof real, "%s/real", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(through, sizeof through, "%s/s.sock", link);
    ck_assert_int_eq(mkdir(real, 0755), 0);
    ck_assert_int_eq(symlink(real, link), 0);
    int fd = listen_unix(through, SOCK_STREAM, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    struct stat st;
    snprintf(through, sizeof through, "%s/s.sock", real);
    ck_assert_int_eq(stat(through, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    unlink(through);
    ck_assert_int_eq(chmod(real, 0777), 0);
    snprintf(through, sizeof through, "%s/s.sock", link);
    ck_assert_int_eq(listen_unix(through, SOCK_STREAM, 0600), -EPERM);
    unlink(link);
    rmdir(real);
}
END_TEST

static int unix_socket(int type, bool listening)
{
    int fd = socket(AF_UNIX, type, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, path);
    unlink(path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    if (listening)
        ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

/* Stream and datagram sockets exist on every Unix (macOS has no
 * SOCK_SEQPACKET for AF_UNIX): the type check is the same for any pair. */
START_TEST(adopted_sockets_are_checked)
{
    int fd = unix_socket(SOCK_STREAM, true);
    ck_assert_int_eq(listen_adopt(fd, SOCK_STREAM), fd);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    close(fd);
    ck_assert_int_eq(listen_adopt(unix_socket(SOCK_DGRAM, false), SOCK_STREAM), -EPROTOTYPE);
    ck_assert_int_eq(listen_adopt(unix_socket(SOCK_STREAM, false), SOCK_STREAM), -EINVAL);
    int file = open("/dev/null", O_RDONLY);
    ck_assert_int_eq(listen_adopt(file, SOCK_STREAM), -ENOTSOCK);
    /* Refused descriptors are closed. */
    ck_assert_int_eq(fcntl(file, F_GETFD), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("listen");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, binds_listens_and_sets_the_mode);
    tcase_add_test(tc, a_file_that_is_not_a_socket_is_left_alone);
    tcase_add_test(tc, folders_others_can_write_are_refused);
    tcase_add_test(tc, a_symlinked_folder_is_followed);
    tcase_add_test(tc, adopted_sockets_are_checked);
    suite_add_tcase(s, tc);
    return check_run(s);
}
