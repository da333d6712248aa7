/* Named blocks against the real daemon: publish and look up across
 * processes, waiting lookups (woken, timed out, many at once, next to
 * other calls of the same connection), lifetime, and access. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define KiB 1024u

/* default: everyone; private: root only; ro: root, and nobody read-only. */
static const char *POOLS =
    "limits:\n  max_waits_per_client: 32\n"
    "pools:\n"
    "  - name: default\n    limit: 64MiB\n"
    "  - name: shared\n    limit: 64MiB\n    isolation: pool\n"
    "  - name: private\n    limit: 64MiB\n    access: { users: [root] }\n"
    "  - name: ro\n    limit: 64MiB\n"
    "    access: { users: [root], read_only_users: [nobody] }\n";

static fixture fx;

static void setup(void) { fixture_start(&fx, POOLS); }

static void teardown(void) { fixture_cleanup(&fx); }

/* One admin command's reply line (static buffer). */
static const char *admin(const char *command)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ck_assert_uint_lt(strlen(fx.admin_socket), sizeof sa.sun_path);
    memcpy(sa.sun_path, fx.admin_socket, strlen(fx.admin_socket) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t n = strlen(command);
    ck_assert_int_eq(write(fd, command, n), (ssize_t)n);
    static char buf[1 << 16];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        if (buf[len - 1] == '\n')
            break;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* The daemon's count of waiting lookups, from the admin `stats` reply. */
static long admin_waiting(void)
{
    const char *reply = admin("stats\n");
    const char *at = strstr(reply, "\"waiting\":");
    ck_assert_msg(at != NULL, "no waiting count in %s", reply);
    return strtol(at + strlen("\"waiting\":"), NULL, 10);
}

/* Polls until the daemon has `want` lookups waiting (or ~20 s pass). */
static void wait_for_waiters(long want)
{
    long got = -1;
    for (int i = 0; i < 2000 && (got = admin_waiting()) != want; i++)
        sleep_ms(10);
    ck_assert_int_eq(got, want);
}

/* ---- publish, then look up from another process ---------------------------- */

typedef struct name_case {
    const char *pool, *name;
    const char *expect, *write;
    unsigned want_prot;
    int timeout_ms;
} name_case;

static int attach_by_name(void *arg)
{
    name_case *nc = arg;
    mempool_client *c;
    mempool_block b;
    if (mempool_connect(fx.socket, &c) != 0)
        return 10;
    if (mempool_attach_name(c, nc->pool, nc->name, nc->timeout_ms, &b) != 0)
        return 11;
    if (b.prot != nc->want_prot || strcmp(b.addr, nc->expect) != 0)
        return 12;
    if (nc->write != NULL)
        strcpy(b.addr, nc->write);
    mempool_disconnect(c);
    return 0;
}

/* The two-step way: a handle by name, then attach. */
static int lookup_then_attach(void *arg)
{
    name_case *nc = arg;
    mempool_client *c;
    mempool_handle h;
    mempool_block b;
    if (mempool_connect(fx.socket, &c) != 0 || mempool_lookup(c, nc->pool, nc->name, 0, &h) != 0)
        return 10;
    if (mempool_attach(c, &h, &b) != 0)
        return 11;
    if (b.prot != nc->want_prot || strcmp(b.addr, nc->expect) != 0)
        return 12;
    if (nc->write != NULL)
        strcpy(b.addr, nc->write);
    mempool_disconnect(c);
    return 0;
}

static void check_read_write(const char *pool)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, pool, 64 * KiB, 0, &b), 0);
    strcpy(b.addr, "from the publisher");
    ck_assert_int_eq(mempool_publish(c, &b, "cam/0.frame", MEMPOOL_READ | MEMPOOL_WRITE), 0);
    name_case nc = { .pool = pool, .name = "cam/0.frame", .expect = "from the publisher",
                     .write = "from the reader", .want_prot = MEMPOOL_READ | MEMPOOL_WRITE };
    ck_assert(exited_ok(run_child(attach_by_name, &nc)));
    ck_assert_str_eq(b.addr, "from the reader");
    nc.expect = "from the reader";
    nc.write = "and back";
    ck_assert(exited_ok(run_child(lookup_then_attach, &nc)));
    ck_assert_str_eq(b.addr, "and back");
    mempool_disconnect(c);
}

START_TEST(publish_lookup_read_write) { check_read_write("default"); }
END_TEST

START_TEST(publish_lookup_read_write_pool_isolation) { check_read_write("shared"); }
END_TEST

static int write_and_die(void *arg)
{
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    ((char *)arg)[0] = 'x';
    return 0;
}

static int attach_read_only_and_fault(void *arg)
{
    name_case *nc = arg;
    mempool_client *c;
    mempool_block b;
    if (nc->write != NULL && !drop_to_nobody())
        return 9;
    if (mempool_connect(fx.socket, &c) != 0)
        return 10;
    if (mempool_attach_name(c, nc->pool, nc->name, 0, &b) != 0)
        return 11;
    if (b.prot != MEMPOOL_READ || strcmp(b.addr, nc->expect) != 0)
        return 12;
    int status = run_child(write_and_die, b.addr);
    if (!WIFSIGNALED(status) || (WTERMSIG(status) != SIGSEGV && WTERMSIG(status) != SIGBUS))
        return 13;
    mempool_disconnect(c);
    return 0;
}

START_TEST(published_read_only_is_read_only)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 64 * KiB, 0, &b), 0);
    strcpy(b.addr, "look, do not touch");
    ck_assert_int_eq(mempool_publish(c, &b, "ro-view", MEMPOOL_READ), 0);
    name_case nc = { .pool = "default", .name = "ro-view", .expect = "look, do not touch" };
    int status = run_child(attach_read_only_and_fault, &nc);
    ck_assert_msg(exited_ok(status), "child status %d", WEXITSTATUS(status));
    ck_assert_str_eq(b.addr, "look, do not touch");
    mempool_disconnect(c);
}
END_TEST

/* nobody is admitted to `ro` read-only: a read-write name maps read-only. */
START_TEST(read_only_user_gets_read_only)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "ro", 64 * KiB, 0, &b), 0);
    strcpy(b.addr, "for reading");
    ck_assert_int_eq(mempool_publish(c, &b, "rw-name", MEMPOOL_READ | MEMPOOL_WRITE), 0);
    name_case nc = { .pool = "ro", .name = "rw-name", .expect = "for reading", .write = "" };
    int status = run_child(attach_read_only_and_fault, &nc);
    ck_assert_msg(exited_ok(status), "child status %d", WEXITSTATUS(status));
    mempool_disconnect(c);
}
END_TEST

/* ---- waiting ------------------------------------------------------------------ */

START_TEST(waiting_lookup_returns_on_publish)
{
    name_case nc = { .pool = "default", .name = "later", .expect = "here now",
                     .want_prot = MEMPOOL_READ | MEMPOOL_WRITE, .timeout_ms = 60000 };
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(attach_by_name(&nc));
    wait_for_waiters(1);
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * KiB, 0, &b), 0);
    strcpy(b.addr, "here now");
    uint64_t t0 = now_ms();
    ck_assert_int_eq(mempool_publish(c, &b, "later", MEMPOOL_READ | MEMPOOL_WRITE), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(exited_ok(status), "child status %d", WEXITSTATUS(status));
    /* Woken by the publish, far from its 60 s deadline. */
    ck_assert_uint_lt(now_ms() - t0, 30000);
    ck_assert_int_eq(admin_waiting(), 0);
    mempool_disconnect(c);
}
END_TEST

START_TEST(timeout_is_not_early)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_handle h;
    const int waits[] = { 1, 50, 300 };
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        uint64_t t0 = now_ms();
        ck_assert_int_eq(mempool_lookup(c, "default", "never", waits[i], &h), MEMPOOL_ETIMEDOUT);
        ck_assert_uint_ge(now_ms() - t0, (uint64_t)waits[i]);
    }
    ck_assert_int_eq(mempool_lookup(c, "default", "never", 0, &h), MEMPOOL_ENONAME);
    ck_assert_int_eq(admin_waiting(), 0);
    mempool_disconnect(c);
}
END_TEST

/* ---- lifetime -------------------------------------------------------------------- */

static int publish_and_crash(void *arg)
{
    (void)arg;
    mempool_client *c;
    mempool_block b;
    if (mempool_connect(fx.socket, &c) != 0 || mempool_alloc(c, "default", 4 * KiB, 0, &b) != 0)
        return 10;
    if (mempool_publish(c, &b, "doomed", MEMPOOL_READ | MEMPOOL_WRITE) != 0 ||
        mempool_publish(c, &b, "doomed.too", MEMPOOL_READ) != 0)
        return 11;
    kill(getpid(), SIGKILL);
    return 12;
}

/* The publisher dies holding the only hold: its names go with the block;
 * a lookup that comes after waits for a new publish and times out rather
 * than being given the dead block's handle. */
START_TEST(publisher_crash_removes_names)
{
    int status = run_child(publish_and_crash, NULL);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    mempool_client *c = connect_or_die(&fx);
    mempool_handle h;
    mempool_block b;
    int rc = 0;
    for (int i = 0; i < 1000 && (rc = mempool_lookup(c, "default", "doomed", 0, &h)) == 0; i++)
        sleep_ms(10);
    ck_assert_int_eq(rc, MEMPOOL_ENONAME);
    ck_assert_int_eq(mempool_lookup(c, "default", "doomed.too", 0, &h), MEMPOOL_ENONAME);
    ck_assert_int_eq(mempool_attach_name(c, "default", "doomed", 100, &b), MEMPOOL_ETIMEDOUT);
    mempool_disconnect(c);
}
END_TEST

/* A name lives while its block lives: the publisher may let go, a holder
 * keeps the name; when the last holder lets go, the name goes. */
START_TEST(name_follows_the_block_not_the_publisher)
{
    mempool_client *p = connect_or_die(&fx), *q = connect_or_die(&fx);
    mempool_block b, held;
    mempool_handle h;
    ck_assert_int_eq(mempool_alloc(p, "default", 4 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_publish(p, &b, "kept", MEMPOOL_READ), 0);
    ck_assert_int_eq(mempool_attach_name(q, "default", "kept", 0, &held), 0);
    mempool_info info;
    ck_assert_int_eq(mempool_release(p, &b), 0);
    /* RELEASE is one-way: a round trip on p orders it before q's calls. */
    ck_assert_int_eq(mempool_pool_info(p, "default", &info), 0);
    ck_assert_int_eq(mempool_lookup(q, "default", "kept", 0, &h), 0);
    ck_assert_int_eq(mempool_release(q, &held), 0);
    ck_assert_int_eq(mempool_lookup(q, "default", "kept", 0, &h), MEMPOOL_ENONAME);
    /* Unpublished, the name goes; the block and its handles stay. */
    ck_assert_int_eq(mempool_alloc(p, "default", 4 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_publish(p, &b, "gone", MEMPOOL_READ), 0);
    mempool_handle looked_up;
    ck_assert_int_eq(mempool_lookup(q, "default", "gone", 0, &looked_up), 0);
    ck_assert_int_eq(mempool_unpublish(p, "default", "gone"), 0);
    ck_assert_int_eq(mempool_lookup(q, "default", "gone", 0, &h), MEMPOOL_ENONAME);
    ck_assert_int_eq(mempool_unpublish(p, "default", "gone"), MEMPOOL_ENONAME);
    ck_assert_int_eq(mempool_attach(q, &looked_up, &held), 0);
    ck_assert_int_eq(mempool_release(q, &held), 0);
    mempool_disconnect(q);
    mempool_disconnect(p);
}
END_TEST

START_TEST(exists_and_replace)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block a, b, got;
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * KiB, 0, &a), 0);
    ck_assert_int_eq(mempool_alloc(c, "default", 8 * KiB, 0, &b), 0);
    strcpy(a.addr, "first");
    strcpy(b.addr, "second");
    ck_assert_int_eq(mempool_publish(c, &a, "slot", MEMPOOL_READ), 0);
    ck_assert_int_eq(mempool_publish(c, &b, "slot", MEMPOOL_READ), MEMPOOL_EEXIST);
    ck_assert_int_eq(mempool_attach_name(c, "default", "slot", 0, &got), 0);
    ck_assert_str_eq(got.addr, "first");
    ck_assert_int_eq(mempool_release(c, &got), 0);
    ck_assert_int_eq(mempool_publish(c, &b, "slot", MEMPOOL_READ | MEMPOOL_PUBLISH_REPLACE), 0);
    ck_assert_int_eq(mempool_attach_name(c, "default", "slot", 0, &got), 0);
    ck_assert_str_eq(got.addr, "second");
    ck_assert_uint_eq(got.size, 8 * KiB);
    /* Bad arguments are refused before anything is sent. */
    ck_assert_int_eq(mempool_publish(c, &a, "no spaces", MEMPOOL_READ), MEMPOOL_EBADNAME);
    ck_assert_int_eq(mempool_publish(c, &a, "", MEMPOOL_READ), MEMPOOL_EBADNAME);
    char long_name[80];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ck_assert_int_eq(mempool_publish(c, &a, long_name, MEMPOOL_READ), MEMPOOL_EBADNAME);
    long_name[64] = '\0';
    ck_assert_int_eq(mempool_publish(c, &a, long_name, MEMPOOL_READ), 0);
    ck_assert_int_eq(mempool_publish(c, &a, "x", MEMPOOL_WRITE), MEMPOOL_EINVAL);
    mempool_handle h;
    ck_assert_int_eq(mempool_lookup(c, "default", "x", -2, &h), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_lookup(c, "nopool", "x", 0, &h), MEMPOOL_ENOPOOL);
    mempool_disconnect(c);
}
END_TEST

/* ---- access ------------------------------------------------------------------------ */

static int nobody_is_kept_out(void *arg)
{
    (void)arg;
    mempool_client *c;
    mempool_handle h;
    mempool_block b;
    if (!drop_to_nobody() || mempool_connect(fx.socket, &c) != 0)
        return 10;
    /* Not admitted: refused at once, waiting or not, existing or not. */
    if (mempool_lookup(c, "private", "secret", 0, &h) != MEMPOOL_EACCES ||
        mempool_lookup(c, "private", "secret", -1, &h) != MEMPOOL_EACCES ||
        mempool_lookup(c, "private", "no-such", -1, &h) != MEMPOOL_EACCES ||
        mempool_attach_name(c, "private", "secret", 1000, &b) != MEMPOOL_EACCES)
        return 11;
    if (mempool_unpublish(c, "private", "secret") != MEMPOOL_EACCES)
        return 12;
    /* Admitted to default, but the name is root's. */
    if (mempool_unpublish(c, "default", "roots") != MEMPOOL_EACCES)
        return 13;
    if (mempool_alloc(c, "default", 4096, 0, &b) != 0)
        return 14;
    if (mempool_publish(c, &b, "roots", MEMPOOL_READ) != MEMPOOL_EEXIST ||
        mempool_publish(c, &b, "roots", MEMPOOL_READ | MEMPOOL_PUBLISH_REPLACE) != MEMPOOL_EACCES)
        return 15;
    mempool_disconnect(c);
    return 0;
}

START_TEST(nobody_cannot_see_or_unpublish)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block p, d;
    mempool_handle h;
    ck_assert_int_eq(mempool_alloc(c, "private", 4 * KiB, 0, &p), 0);
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * KiB, 0, &d), 0);
    ck_assert_int_eq(mempool_publish(c, &p, "secret", MEMPOOL_READ | MEMPOOL_WRITE), 0);
    ck_assert_int_eq(mempool_publish(c, &d, "roots", MEMPOOL_READ), 0);
    int status = run_child(nobody_is_kept_out, NULL);
    ck_assert_msg(exited_ok(status), "child status %d", WEXITSTATUS(status));
    ck_assert_int_eq(mempool_lookup(c, "private", "secret", 0, &h), 0);
    ck_assert_int_eq(mempool_lookup(c, "default", "roots", 0, &h), 0);
    ck_assert_int_eq(admin_waiting(), 0);
    mempool_disconnect(c);
}
END_TEST

/* ---- many waiters, and a waiting connection's other threads --------------------------- */

#define WAITER_PROCS 4
#define WAITERS_PER_PROC 25

static void *wait_and_check(void *arg)
{
    mempool_client *c = arg;
    mempool_block b;
    int rc = mempool_attach_name(c, "default", "crowd", -1, &b);
    if (rc == 0 && (strcmp(b.addr, "for everyone") != 0 || mempool_release(c, &b) != 0))
        rc = -1000;
    return (void *)(intptr_t)rc;
}

/* WAITERS_PER_PROC threads wait on one connection: their replies come in
 * any order and each must reach its own thread. */
static int crowd_member(void *arg)
{
    (void)arg;
    mempool_client *c;
    pthread_t t[WAITERS_PER_PROC];
    if (mempool_connect(fx.socket, &c) != 0)
        return 10;
    for (int i = 0; i < WAITERS_PER_PROC; i++)
        if (pthread_create(&t[i], NULL, wait_and_check, c) != 0)
            return 11;
    int bad = 0;
    for (int i = 0; i < WAITERS_PER_PROC; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        bad += rc != NULL;
    }
    mempool_disconnect(c);
    return bad == 0 ? 0 : 12;
}

START_TEST(hundred_waiters_wake_on_one_publish)
{
    pid_t pids[WAITER_PROCS];
    for (int i = 0; i < WAITER_PROCS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            _exit(crowd_member(NULL));
    }
    wait_for_waiters(WAITER_PROCS * WAITERS_PER_PROC);
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * KiB, 0, &b), 0);
    strcpy(b.addr, "for everyone");
    ck_assert_int_eq(mempool_publish(c, &b, "crowd", MEMPOOL_READ), 0);
    for (int i = 0; i < WAITER_PROCS; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(exited_ok(status), "member %d status %d", i, WEXITSTATUS(status));
    }
    ck_assert_int_eq(admin_waiting(), 0);
    mempool_disconnect(c);
}
END_TEST

static void *wait_for_go(void *arg)
{
    mempool_client *c = arg;
    mempool_handle h;
    return (void *)(intptr_t)mempool_lookup(c, "default", "go", 60000, &h);
}

START_TEST(waiting_connection_keeps_allocating)
{
    mempool_client *c = connect_or_die(&fx);
    pthread_t waiter;
    ck_assert_int_eq(pthread_create(&waiter, NULL, wait_for_go, c), 0);
    wait_for_waiters(1);
    /* The same connection, meanwhile: every call gets its own reply. */
    for (int i = 0; i < 200; i++) {
        mempool_block b;
        mempool_info info;
        ck_assert_int_eq(mempool_alloc(c, "default", 4 * KiB, 0, &b), 0);
        ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
        ck_assert_int_eq(mempool_release(c, &b), 0);
    }
    ck_assert_int_eq(admin_waiting(), 1);
    /* A second waiter on the same connection, answered first. */
    mempool_handle h;
    ck_assert_int_eq(mempool_lookup(c, "default", "nothing", 20, &h), MEMPOOL_ETIMEDOUT);
    mempool_client *p = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(p, "default", 4 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_publish(p, &b, "go", MEMPOOL_READ), 0);
    void *rc;
    pthread_join(waiter, &rc);
    ck_assert_int_eq((int)(intptr_t)rc, 0);
    mempool_disconnect(p);
    mempool_disconnect(c);
}
END_TEST

/* A waiter whose process dies is dropped at once. */
static int wait_forever(void *arg)
{
    (void)arg;
    mempool_client *c;
    mempool_handle h;
    if (mempool_connect(fx.socket, &c) != 0)
        return 10;
    mempool_lookup(c, "default", "never", -1, &h);
    return 11;
}

START_TEST(dead_waiter_is_dropped)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(wait_forever(NULL));
    wait_for_waiters(1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    wait_for_waiters(0);
}
END_TEST

/* max_waits_per_client: one more waiting lookup on the connection is
 * refused; lookups that need no wait still go through. */
START_TEST(waits_per_connection_are_limited)
{
    mempool_client *c = connect_or_die(&fx);
    pthread_t t[32];
    for (int i = 0; i < 32; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, wait_for_go, c), 0);
    wait_for_waiters(32);
    mempool_handle h;
    ck_assert_int_eq(mempool_lookup(c, "default", "go", 1000, &h), MEMPOOL_ELIMIT);
    ck_assert_int_eq(mempool_lookup(c, "default", "go", 0, &h), MEMPOOL_ENONAME);
    mempool_client *p = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(p, "default", 4 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_publish(p, &b, "go", MEMPOOL_READ), 0);
    for (int i = 0; i < 32; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        ck_assert_int_eq((int)(intptr_t)rc, 0);
    }
    mempool_disconnect(p);
    mempool_disconnect(c);
}
END_TEST

/* The admin socket lists names with what an operator needs, per pool or
 * all; stats and the metrics count them. */
START_TEST(admin_lists_names)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block a, b;
    ck_assert_int_eq(mempool_alloc(c, "default", 12 * KiB, 0, &a), 0);
    ck_assert_int_eq(mempool_alloc(c, "shared", 4 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_publish(c, &a, "in.default", MEMPOOL_READ | MEMPOOL_WRITE), 0);
    ck_assert_int_eq(mempool_publish(c, &b, "in.shared", MEMPOOL_READ), 0);
    const char *all = admin("names\n");
    ck_assert_msg(strstr(all, "\"name\":\"in.default\",\"pool\":\"default\"") != NULL, "%s", all);
    ck_assert_msg(strstr(all, "\"size\":12288,\"publisher_uid\":") != NULL, "%s", all);
    ck_assert_msg(strstr(all, "\"prot\":\"rw\"") != NULL, "%s", all);
    ck_assert_msg(strstr(all, "\"name\":\"in.shared\"") != NULL, "%s", all);
    ck_assert_msg(strstr(all, "\"prot\":\"r\"") != NULL, "%s", all);
    const char *one = admin("names shared\n");
    ck_assert_msg(strstr(one, "in.shared") != NULL && strstr(one, "in.default") == NULL, "%s",
                  one);
    ck_assert_msg(strstr(admin("names nopool\n"), "no-such-pool") != NULL, "no error");
    ck_assert_msg(strstr(admin("stats\n"), "\"names\":{\"published\":2,") != NULL, "stats");
    const char *metrics = admin("metrics\n");
    ck_assert_msg(strstr(metrics, "mempool_pool_names{pool=\\\"default\\\"} 1") != NULL, "%s",
                  metrics);
    ck_assert_msg(strstr(metrics, "mempool_name_lookups_waiting 0") != NULL, "%s", metrics);
    ck_assert_int_eq(mempool_unpublish(c, "default", "in.default"), 0);
    ck_assert_msg(strstr(admin("names\n"), "in.default") == NULL, "unpublished name listed");
    mempool_disconnect(c);
}
END_TEST

/* One uid cannot take every name: its own limit stops it first, and the
 * pool's limit (reloaded live) holds for every uid together. */
static int nobody_publishes(void *arg)
{
    int *want = arg;
    mempool_client *c;
    mempool_block b;
    if (!drop_to_nobody() || mempool_connect(fx.socket, &c) != 0 ||
        mempool_alloc(c, "default", 4096, 0, &b) != 0)
        return 10;
    if (mempool_publish(c, &b, "nobodys.0", MEMPOOL_READ) != want[0] ||
        mempool_publish(c, &b, "nobodys.1", MEMPOOL_READ) != want[1])
        return 11;
    mempool_disconnect(c);
    return 0;
}

START_TEST(names_are_limited_per_uid_and_pool)
{
    fixture_write_policy(&fx, "limits:\n  max_names_per_uid: 3\n"
                              "pools:\n  - { name: default, limit: 64MiB, max_names: 4 }\n"
                              "  - { name: shared, limit: 64MiB, isolation: pool }\n"
                              "  - { name: private, limit: 64MiB, access: { users: [root] } }\n"
                              "  - name: ro\n    limit: 64MiB\n"
                              "    access: { users: [root], read_only_users: [nobody] }\n");
    ck_assert_msg(strstr(admin("reload\n"), "\"ok\":true") != NULL, "reload refused");
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * KiB, 0, &b), 0);
    char name[16];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "roots.%d", i);
        ck_assert_int_eq(mempool_publish(c, &b, name, MEMPOOL_READ), 0);
    }
    ck_assert_int_eq(mempool_publish(c, &b, "roots.3", MEMPOOL_READ), MEMPOOL_ELIMIT);
    /* A replace takes the old name's place. */
    ck_assert_int_eq(mempool_publish(c, &b, "roots.2", MEMPOOL_READ | MEMPOOL_PUBLISH_REPLACE),
                     0);
    /* nobody still has names of its own, until the pool is full. */
    int want[2] = { 0, MEMPOOL_ELIMIT };
    int status = run_child(nobody_publishes, want);
    ck_assert_msg(exited_ok(status), "child status %d", WEXITSTATUS(status));
    ck_assert_int_eq(mempool_unpublish(c, "default", "roots.0"), 0);
    ck_assert_int_eq(mempool_publish(c, &b, "roots.3", MEMPOOL_READ), 0);
    mempool_disconnect(c);
}
END_TEST

static Suite *names_suite(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("names");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, publish_lookup_read_write);
    tcase_add_test(tc, publish_lookup_read_write_pool_isolation);
    tcase_add_test(tc, published_read_only_is_read_only);
    tcase_add_test(tc, waiting_lookup_returns_on_publish);
    tcase_add_test(tc, timeout_is_not_early);
    tcase_add_test(tc, publisher_crash_removes_names);
    tcase_add_test(tc, name_follows_the_block_not_the_publisher);
    tcase_add_test(tc, exists_and_replace);
    tcase_add_test(tc, hundred_waiters_wake_on_one_publish);
    tcase_add_test(tc, waiting_connection_keeps_allocating);
    tcase_add_test(tc, dead_waiter_is_dropped);
    tcase_add_test(tc, waits_per_connection_are_limited);
    tcase_add_test(tc, admin_lists_names);
    suite_add_tcase(s, tc);
    /* A client of another uid (nobody): the test changes uid (root only). */
    TCase *root = check_root_tcase("names_as_root");
    tcase_add_checked_fixture(root, setup, teardown);
    tcase_add_test(root, read_only_user_gets_read_only);
    tcase_add_test(root, nobody_cannot_see_or_unpublish);
    tcase_add_test(root, names_are_limited_per_uid_and_pool);
    suite_add_tcase(s, root);
    return s;
}

int main(void) { return check_run(names_suite()); }
