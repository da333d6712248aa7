/* The daemon and libmempool together: a real mempoold on a temporary
 * socket, driven from separate client processes. */
#include <check.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define KiB 1024ULL
#define MiB (1024ULL * 1024)

static const char pools[] =
    "scavenger: { retain: 16MiB }\n"
    "pools:\n"
    "  - name: default\n"
    "    reserve: 4GiB\n"
    "    limit: 256MiB\n"
    "    quota: 64MiB\n"
    "    max_block: 32MiB\n"
    "  - name: shared\n"
    "    reserve: 4GiB\n"
    "    limit: 256MiB\n"
    "    isolation: pool\n"
    "  - name: small\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    quota: 48MiB\n"
    "  - name: rootonly\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    access: { users: [root] }\n"
    "  - name: grouped\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    access: { users: [root], groups: [70059] }\n";

static fixture fx;

static void setup(void) { fixture_start(&fx, pools); }

static void teardown(void) { fixture_cleanup(&fx); }

/* ---- sharing ------------------------------------------------------------- */

typedef struct share_case {
    mempool_handle handle;
    const char *expect;
    const char *write;
} share_case;

static int attach_read_write(void *arg)
{
    share_case *sc = arg;
    mempool_client *c;
    mempool_block b;
    if (mempool_connect(fx.socket, &c) != 0 || mempool_attach(c, &sc->handle, &b) != 0)
        return 10;
    if (b.prot != (MEMPOOL_READ | MEMPOOL_WRITE) || strcmp(b.addr, sc->expect) != 0)
        return 11;
    strcpy(b.addr, sc->write);
    mempool_disconnect(c);
    return 0;
}

static void check_share_read_write(const char *pool)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    share_case sc = { .expect = "written by the producer", .write = "written by the consumer" };
    ck_assert_int_eq(mempool_alloc(c, pool, 64 * KiB, 0, &b), 0);
    strcpy(b.addr, sc.expect);
    ck_assert_int_eq(mempool_share(c, &b, MEMPOOL_READ | MEMPOOL_WRITE, &sc.handle), 0);
    ck_assert(exited_ok(run_child(attach_read_write, &sc)));
    ck_assert_str_eq(b.addr, sc.write);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
}

START_TEST(share_read_write_block_isolation) { check_share_read_write("default"); }
END_TEST

START_TEST(share_read_write_pool_isolation) { check_share_read_write("shared"); }
END_TEST

static int write_and_die(void *arg)
{
    /* Die of the fault itself, not of a sanitizer's report of it. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    ((char *)arg)[0] = 'x';
    return 0; /* reached only if the write did not fault */
}

static int attach_read_only(void *arg)
{
    share_case *sc = arg;
    mempool_client *c;
    mempool_block b;
    mempool_handle widened;
    if (mempool_connect(fx.socket, &c) != 0 || mempool_attach(c, &sc->handle, &b) != 0)
        return 10;
    if (b.prot != MEMPOOL_READ || strcmp(b.addr, sc->expect) != 0)
        return 11;
    int status = run_child(write_and_die, b.addr);
    if (!WIFSIGNALED(status) || (WTERMSIG(status) != SIGSEGV && WTERMSIG(status) != SIGBUS))
        return 12;
    if (mempool_share(c, &b, MEMPOOL_READ | MEMPOOL_WRITE, &widened) != MEMPOOL_EPERM)
        return 13;
    /* Not writable by mprotect either: the descriptor is read-only. */
    if (mprotect(b.addr, b.size, PROT_READ | PROT_WRITE) == 0)
        return 14;
    mempool_disconnect(c);
    return 0;
}

START_TEST(share_read_only)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    share_case sc = { .expect = "look, do not touch" };
    ck_assert_int_eq(mempool_alloc(c, "default", 64 * KiB, 0, &b), 0);
    strcpy(b.addr, sc.expect);
    ck_assert_int_eq(mempool_share(c, &b, MEMPOOL_READ, &sc.handle), 0);
    int status = run_child(attach_read_only, &sc);
    ck_assert_msg(exited_ok(status), "child status %d", WEXITSTATUS(status));
    ck_assert_str_eq(b.addr, sc.expect);
    mempool_disconnect(c);
}
END_TEST

static int attach_and_hold(void *arg)
{
    int *fds = arg; /* [0]: read the handle, [1]: tell the parent we hold it */
    mempool_handle h;
    mempool_client *c;
    mempool_block b;
    if (read(fds[0], &h, sizeof h) != sizeof h)
        return 10;
    if (mempool_connect(fx.socket, &c) != 0 || mempool_attach(c, &h, &b) != 0)
        return 11;
    char done = 1;
    if (write(fds[1], &done, 1) != 1 || read(fds[0], &done, 1) != 1)
        return 12;
    return mempool_release(c, &b) == 0 ? 0 : 13;
}

START_TEST(block_lives_until_its_last_holder_releases)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    mempool_handle h;
    int to_child[2], to_parent[2];
    ck_assert_int_eq(pipe(to_child), 0);
    ck_assert_int_eq(pipe(to_parent), 0);
    ck_assert_int_eq(mempool_alloc(c, "default", MiB, 0, &b), 0);
    ck_assert_int_eq(mempool_share(c, &b, MEMPOOL_READ, &h), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int fds[2] = { to_child[0], to_parent[1] };
        _exit(attach_and_hold(fds));
    }
    char byte;
    ck_assert_int_eq(write(to_child[1], &h, sizeof h), (ssize_t)sizeof h);
    ck_assert_int_eq(read(to_parent[0], &byte, 1), 1);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_uint_eq(wait_in_use(c, "default", MiB), MiB); /* the child still holds it */
    ck_assert_int_eq(write(to_child[1], &byte, 1), 1);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(exited_ok(status));
    ck_assert_uint_eq(wait_in_use(c, "default", 0), 0);
    mempool_disconnect(c);
}
END_TEST

/* ---- limits -------------------------------------------------------------- */

START_TEST(limits_give_clear_errors_and_allocate_nothing)
{
    mempool_client *c = connect_or_die(&fx), *c2 = connect_or_die(&fx);
    mempool_block b[2], over;
    ck_assert_int_eq(mempool_alloc(c, "default", 32 * MiB, 0, &b[0]), 0);
    ck_assert_int_eq(mempool_alloc(c, "default", 32 * MiB, 0, &b[1]), 0);
    /* Each refusal leaves no block, no byte and no descriptor behind. */
    int fds = settled_fd_count(&fx, c);
    ck_assert_int_eq(mempool_alloc(c, "default", 33 * MiB, 0, &over), MEMPOOL_E2BIG);
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * KiB, 0, &over), MEMPOOL_EDQUOT);
    ck_assert_int_eq(mempool_alloc(c, "nosuchpool", 4 * KiB, 0, &over), MEMPOOL_ENOPOOL);
    ck_assert_uint_eq(wait_in_use(c, "default", 64 * MiB), 64 * MiB);
    ck_assert_int_eq(settled_fd_count(&fx, c), fds);
    /* The quota (48 MiB) counts what the uid holds across its connections:
     * a second connection of the same uid gets no quota of its own. */
    mempool_block small[3];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(mempool_alloc(c, "small", 16 * MiB, 0, &small[i]), 0);
    ck_assert_int_eq(mempool_alloc(c2, "small", 16 * MiB, 0, &small[2]), 0);
    fds = settled_fd_count(&fx, c);
    ck_assert_int_eq(mempool_alloc(c, "small", 16 * MiB, 0, &over), MEMPOOL_EDQUOT);
    ck_assert_int_eq(mempool_alloc(c2, "small", 16 * MiB, 0, &over), MEMPOOL_EDQUOT);
    ck_assert_uint_eq(wait_in_use(c, "small", 48 * MiB), 48 * MiB);
    ck_assert_int_eq(settled_fd_count(&fx, c), fds);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(mempool_release(c, &small[i]), 0);
    ck_assert_int_eq(mempool_release(c2, &small[2]), 0);
    ck_assert_uint_eq(wait_in_use(c, "small", 0), 0);
    mempool_disconnect(c2);
    mempool_disconnect(c);
}
END_TEST

/* ---- access and zeroing across uids ------------------------------------- */

static int alloc_as_nobody(void *arg)
{
    (void)arg;
    mempool_client *c;
    mempool_block b;
    if (!drop_to_nobody())
        return 10;
    if (mempool_connect(fx.socket, &c) != 0)
        return 11;
    if (mempool_alloc(c, "rootonly", 4 * KiB, 0, &b) != MEMPOOL_EACCES)
        return 12;
    if (mempool_alloc(c, "default", 4 * KiB, 0, &b) != 0)
        return 13;
    mempool_disconnect(c);
    return 0;
}

START_TEST(access_lists_admit_and_refuse_by_uid)
{
    int status = run_child(alloc_as_nobody, NULL);
    ck_assert_msg(exited_ok(status), "the client as nobody failed at step %d "
                  "(10: becoming nobody, 11: connecting, 12: rootonly not refused, "
                  "13: default refused)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    FILE *log = fopen(fx.log, "r");
    char line[512];
    bool logged = false;
    while (log != NULL && fgets(line, sizeof line, log) != NULL)
        logged |= strstr(line, "access denied") != NULL && strstr(line, "rootonly") != NULL;
    if (log != NULL)
        fclose(log);
    ck_assert_msg(logged, "the denial is logged with the uid and the pool");
}
END_TEST

/* A member of more groups than the kernel's list in peer_cred holds (48):
 * the group the pool names comes last, and still admits. */
static int alloc_in_sixty_groups(void *arg)
{
    (void)arg;
    gid_t groups[60];
    for (int i = 0; i < 60; i++)
        groups[i] = (gid_t)(70000 + i);
    struct passwd *pw = getpwnam("nobody");
    mempool_client *c;
    mempool_block b;
    if (pw == NULL || setgroups(60, groups) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        return 10;
    if (mempool_connect(fx.socket, &c) != 0)
        return 11;
    if (mempool_alloc(c, "grouped", 4 * KiB, 0, &b) != 0)
        return 12;
    if (mempool_alloc(c, "rootonly", 4 * KiB, 0, &b) != MEMPOOL_EACCES)
        return 13;
    mempool_disconnect(c);
    return 0;
}

START_TEST(a_member_of_many_groups_is_admitted_by_the_last)
{
    int status = run_child(alloc_in_sixty_groups, NULL);
    ck_assert_msg(exited_ok(status), "the client in 60 groups failed at step %d "
                  "(10: changing groups and uid, 11: connecting, 12: grouped refused, "
                  "13: rootonly not refused)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

static int dirty_alloc_reads_zeros(void *arg)
{
    const char *pool = arg;
    mempool_client *c;
    mempool_block b;
    if (!drop_to_nobody() || mempool_connect(fx.socket, &c) != 0)
        return 10;
    if (mempool_alloc(c, pool, 4 * MiB, MEMPOOL_ALLOC_DIRTY, &b) != 0)
        return 11;
    for (size_t i = 0; i < b.size; i++)
        if (((unsigned char *)b.addr)[i] != 0)
            return 12;
    mempool_disconnect(c);
    return 0;
}

START_TEST(another_uid_never_sees_old_data)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * MiB, 0, &b), 0);
    memset(b.addr, 0xa5, b.size);
    uint64_t id = b.id;
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_int_eq(mempool_trim(c), 0); /* warm in the daemon, not cached here */
    /* The same uid, dirty: the warm block comes back as it was. */
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * MiB, MEMPOOL_ALLOC_DIRTY, &b), 0);
    ck_assert_uint_ne(b.id, id);
    ck_assert_uint_eq(((unsigned char *)b.addr)[100], 0xa5);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    int status = run_child(dirty_alloc_reads_zeros, "default");
    ck_assert_msg(exited_ok(status), "nobody's dirty allocation failed at step %d "
                  "(10: becoming nobody or connecting, 11: allocating, 12: old bytes seen)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    mempool_disconnect(c);
}
END_TEST

/* ---- a client's death ---------------------------------------------------- */

static int hold_blocks_forever(void *arg)
{
    int fd = *(int *)arg;
    mempool_client *c;
    mempool_block b;
    mempool_handle h;
    if (mempool_connect(fx.socket, &c) != 0)
        return 10;
    for (int i = 0; i < 8; i++) {
        if (mempool_alloc(c, i % 2 ? "default" : "shared", 256 * KiB, 0, &b) != 0 ||
            mempool_share(c, &b, MEMPOOL_READ, &h) != 0)
            return 11;
        memset(b.addr, 1, b.size);
    }
    char ready = 1;
    if (write(fd, &ready, 1) != 1)
        return 12;
    pause();
    return 0;
}

START_TEST(killed_client_releases_everything)
{
    mempool_client *c = connect_or_die(&fx);
    int fds_before = settled_fd_count(&fx, c);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(hold_blocks_forever(&p[1]));
    char ready;
    ck_assert_int_eq(read(p[0], &ready, 1), 1);
    ck_assert_uint_eq(wait_in_use(c, "default", MiB), MiB);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_uint_eq(wait_in_use(c, "default", 0), 0);
    ck_assert_uint_eq(wait_in_use(c, "shared", 0), 0);
    /* Its blocks are warm now; in block isolation each warm block keeps
     * its memfd for reuse until the scavenger gives it back. */
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
    ck_assert_uint_eq(info.warm, MiB);
    int warm_blocks = (int)(info.warm / (256 * KiB));
    ck_assert_int_eq(wait_fd_count(&fx, fds_before + warm_blocks), fds_before + warm_blocks);
    mempool_disconnect(c);
}
END_TEST

/* ---- many clients -------------------------------------------------------- */

static int churn(void *arg)
{
    (void)arg;
    mempool_client *c;
    if (mempool_connect(fx.socket, &c) != 0)
        return 10;
    for (int i = 0; i < 20; i++) {
        mempool_block b, b2;
        mempool_handle h;
        const char *pool = i % 2 ? "default" : "shared";
        if (mempool_alloc(c, pool, 64 * KiB, 0, &b) != 0)
            return 11;
        ((char *)b.addr)[0] = (char)i;
        if (mempool_share(c, &b, MEMPOOL_READ, &h) != 0 || mempool_attach(c, &h, &b2) != 0)
            return 12;
        if (((char *)b2.addr)[0] != (char)i)
            return 13;
        if (mempool_release(c, &b) != 0 || mempool_release(c, &b2) != 0)
            return 14;
    }
    mempool_disconnect(c);
    return 0;
}

START_TEST(two_hundred_clients_churn_concurrently)
{
    enum { CLIENTS = 200 };
    pid_t pids[CLIENTS];
    fflush(NULL);
    for (int i = 0; i < CLIENTS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            _exit(churn(NULL));
    }
    int failed = 0;
    for (int i = 0; i < CLIENTS; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        failed += !exited_ok(status);
    }
    ck_assert_int_eq(failed, 0);
    mempool_client *c = connect_or_die(&fx);
    ck_assert_uint_eq(wait_in_use(c, "default", 0), 0);
    ck_assert_uint_eq(wait_in_use(c, "shared", 0), 0);
    mempool_disconnect(c);
}
END_TEST

/* ---- the daemon's life --------------------------------------------------- */

START_TEST(mappings_outlive_the_daemon_and_the_client_reconnects)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b, b2;
    ck_assert_int_eq(mempool_alloc(c, "default", MiB, 0, &b), 0);
    strcpy(b.addr, "still here");
    ck_assert_int_eq(fixture_stop(&fx), 0);
    ck_assert_str_eq(b.addr, "still here");
    strcpy(b.addr, "and writable");
    ck_assert_str_eq(b.addr, "and writable");
    fixture_restart(&fx);
    ck_assert_int_eq(mempool_alloc(c, "default", MiB, 0, &b2), 0);
    /* The old block died with the old daemon: releasing it only unmaps. */
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_int_eq(mempool_release(c, &b2), 0);
    mempool_disconnect(c);
}
END_TEST

START_TEST(sighup_reloads_or_keeps_the_running_policy)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_info info;
    mempool_block b;
    fixture_write_policy(&fx, "pools:\n  - name: default\n    reserve: 4GiB\n    limit: nonsense\n");
    kill(fx.pid, SIGHUP);
    ck_assert_int_eq(mempool_alloc(c, "default", MiB, 0, &b), 0);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    char changed[sizeof pools + 16];
    strcpy(changed, pools);
    char *limit = strstr(changed, "limit: 256MiB");
    memcpy(limit, "limit: 128MiB", 13);
    fixture_write_policy(&fx, changed);
    kill(fx.pid, SIGHUP);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
        if (info.limit == 128 * MiB)
            break;
        usleep(10000);
    }
    ck_assert_uint_eq(info.limit, 128 * MiB);
    mempool_disconnect(c);
    ck_assert_int_eq(fixture_stop(&fx), 0);
}
END_TEST

/* --help gives the clients' real lookup (mempool(3)), not the policy's
 * listen.socket, which clients never read. */
START_TEST(help_states_how_clients_find_the_socket)
{
    char text[8192];
    FILE *p = popen(MEMPOOLD_PATH " --help", "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(text, 1, sizeof text - 1, p);
    text[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    static const char *const steps[] = {
        "1. $MEMPOOL_SOCKET", "2. the per-user path, when a socket is there",
        "$XDG_RUNTIME_DIR/mempoold.sock", "/tmp/mempoold-UID/mempoold.sock",
        "3. /var/run/mempoold.sock", "do not read the policy",
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        ck_assert_msg(strstr(text, steps[i]) != NULL, "no '%s' in:\n%s", steps[i], text);
    ck_assert(strstr(text, "1. $MEMPOOL_SOCKET") < strstr(text, "2. the per-user path"));
    ck_assert(strstr(text, "2. the per-user path") < strstr(text, "3. /var/run/mempoold.sock"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("daemon");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, share_read_write_block_isolation);
    tcase_add_test(tc, help_states_how_clients_find_the_socket);
    tcase_add_test(tc, share_read_write_pool_isolation);
    tcase_add_test(tc, share_read_only);
    tcase_add_test(tc, block_lives_until_its_last_holder_releases);
    tcase_add_test(tc, limits_give_clear_errors_and_allocate_nothing);
    tcase_add_test(tc, killed_client_releases_everything);
    tcase_add_test(tc, two_hundred_clients_churn_concurrently);
    tcase_add_test(tc, mappings_outlive_the_daemon_and_the_client_reconnects);
    tcase_add_test(tc, sighup_reloads_or_keeps_the_running_policy);
    suite_add_tcase(s, tc);
    /* A client of another uid: the test changes uid (root only). */
    TCase *root = check_root_tcase("daemon_as_root");
    tcase_add_checked_fixture(root, setup, teardown);
    tcase_set_timeout(root, 120);
    tcase_add_test(root, access_lists_admit_and_refuse_by_uid);
    tcase_add_test(root, a_member_of_many_groups_is_admitted_by_the_last);
    tcase_add_test(root, another_uid_never_sees_old_data);
    suite_add_tcase(s, root);
    return check_run(s);
}
