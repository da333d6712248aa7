/* libmempool against a scripted stand-in for mempoold: a forked process
 * that speaks the wire protocol with common/proto.c and hands out real
 * memfds with common/handoff_linux.c. It checks the library's side of the
 * contract (mapping, the tables, reconnecting, error mapping) without the
 * real daemon; the integration tests cover the two together.
 *
 * The stand-in's POOL_INFO reply reports what it saw, in these fields: */
#define SEEN_CONNECTIONS limit
#define SEEN_RELEASES quota
#define SEEN_HELLOS released
#define SEEN_ALLOCS scavenger_runs
/* in_use: bytes of blocks someone holds; client_use: bytes this
 * connection holds. */

#include <check.h>
#include <stdio.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "handoff.h"
#include "mempool.h"
#include "proto.h"

/* --- the stand-in daemon ---------------------------------------------------- */

typedef struct fake_script {
    int pool_isolation;     /* one backing for all blocks, sent once */
    uint16_t hello_version; /* 0: PROTO_VERSION */
    int hangup_at[4];       /* requests (1-based, HELLO not counted)
                               answered by closing the connection */
} fake_script;

#define FAKE_CONNS 16
#define FAKE_BLOCKS 1024
#define FAKE_POOL_BYTES (4u << 20)

typedef struct fake_block {
    uint64_t id;
    int memfd; /* block isolation: its own; pool isolation: -1 */
    uint64_t offset;
    uint64_t size;
    int holds[FAKE_CONNS];
} fake_block;

typedef struct fake_daemon {
    fake_script script;
    int conns[FAKE_CONNS];
    int backing_sent[FAKE_CONNS];
    fake_block blocks[FAKE_BLOCKS];
    size_t nblocks;
    int pool_memfd;
    uint64_t pool_next;
    uint64_t requests, connections, hellos, allocs, releases;
} fake_daemon;

static fake_daemon fake;
static char fake_dir[64];
static char fake_path[128];
static pid_t fake_pid = -1;
static size_t page;

static int block_held(const fake_block *b)
{
    for (int i = 0; i < FAKE_CONNS; i++)
        if (b->holds[i] > 0)
            return 1;
    return 0;
}

static void drop_hold(fake_block *b, int conn)
{
    b->holds[conn]--;
    if (!block_held(b) && b->memfd >= 0) {
        close(b->memfd);
        b->memfd = -1;
    }
}

static void close_conn(int conn)
{
    for (size_t i = 0; i < fake.nblocks; i++)
        while (fake.blocks[i].holds[conn] > 0)
            drop_hold(&fake.blocks[i], conn);
    close(fake.conns[conn]);
    fake.conns[conn] = -1;
}

static fake_block *find_block(uint64_t id)
{
    return id >= 1 && id <= fake.nblocks ? &fake.blocks[id - 1] : NULL;
}

static void reply(int conn, uint16_t type, uint64_t id, int32_t status,
                  const unsigned char *p, size_t len, const handoff_object *obj)
{
    unsigned char frame[PROTO_MAX_FRAME];
    size_t n = status != 0 ? proto_error_reply(frame, type, id, status)
                           : proto_encode_reply(frame, type, id, 0, p, len);
    handoff_send(fake.conns[conn], frame, n, status != 0 ? NULL : obj);
}

/* Sends a block reply with the backing the client needs. */
static void reply_block(int conn, uint16_t type, uint64_t id,
                        const fake_block *b, unsigned prot)
{
    proto_block_reply r = { .block_id = b->id, .size = b->size,
                            .offset = b->offset, .prot = prot, .page_size = page };
    handoff_object obj = HANDOFF_OBJECT_NONE;
    if (fake.script.pool_isolation) {
        r.backing_id = 1;
        r.backing_flags = PROTO_BACKING_SHARED;
        if (!fake.backing_sent[conn]) {
            handoff_export(fake.pool_memfd, NULL, FAKE_POOL_BYTES,
                           MEMPOOL_READ | MEMPOOL_WRITE, &obj);
            r.backing_flags |= PROTO_BACKING_ATTACHED;
            fake.backing_sent[conn] = 1;
        }
    } else {
        handoff_export(b->memfd, NULL, b->size, prot, &obj);
        r.backing_id = b->id;
        r.backing_flags = PROTO_BACKING_ATTACHED;
    }
    unsigned char p[PROTO_MAX_FRAME];
    reply(conn, type, id, 0, p, proto_put_block_reply(p, &r), &obj);
    handoff_object_close(&obj);
}

static void serve_alloc(int conn, uint64_t id, const unsigned char *p)
{
    proto_alloc m;
    ck_assert_int_eq(proto_get_alloc(p, &m), 0);
    fake.allocs++;
    if (strcmp(m.pool, "full") == 0)
        return reply(conn, PROTO_ALLOC, id, MEMPOOL_EDQUOT, NULL, 0, NULL);
    if (strcmp(m.pool, "nope") == 0)
        return reply(conn, PROTO_ALLOC, id, MEMPOOL_ENOPOOL, NULL, 0, NULL);
    if (strcmp(m.pool, "garbage") == 0) /* a reply to some other request */
        return reply(conn, PROTO_ALLOC, id + 1000, MEMPOOL_EINVAL, NULL, 0, NULL);
    if (strcmp(m.pool, "liar") == 0) /* a status only the library may say */
        return reply(conn, PROTO_ALLOC, id, MEMPOOL_ECONNLOST, NULL, 0, NULL);
    if (strcmp(m.pool, "alien") == 0) /* no MEMPOOL_E* code at all */
        return reply(conn, PROTO_ALLOC, id, -4242, NULL, 0, NULL);
    if (fake.nblocks == FAKE_BLOCKS)
        return reply(conn, PROTO_ALLOC, id, MEMPOOL_ENOMEM, NULL, 0, NULL);
    fake_block *b = &fake.blocks[fake.nblocks++];
    *b = (fake_block){ .id = fake.nblocks, .memfd = -1,
                       .size = (m.size + page - 1) / page * page };
    if (fake.script.pool_isolation) {
        b->offset = fake.pool_next;
        fake.pool_next += b->size;
    } else {
        b->memfd = memfd_create("fake_block", MFD_CLOEXEC);
        ck_assert_int_eq(ftruncate(b->memfd, (off_t)b->size), 0);
    }
    b->holds[conn] = 1;
    reply_block(conn, PROTO_ALLOC, id, b, MEMPOOL_READ | MEMPOOL_WRITE);
}

/* A handle: the block id (8 bytes), then the protection. */
static void serve_share(int conn, uint64_t id, const unsigned char *p)
{
    proto_share m;
    ck_assert_int_eq(proto_get_share(p, &m), 0);
    fake_block *b = find_block(m.block_id);
    if (b == NULL || b->holds[conn] == 0)
        return reply(conn, PROTO_SHARE, id, MEMPOOL_ENOBLOCK, NULL, 0, NULL);
    mempool_handle h;
    memset(&h, 0xAA, sizeof h);
    proto_put_u64(h.bytes, m.block_id);
    h.bytes[8] = (unsigned char)m.prot;
    unsigned char out[PROTO_HANDLE_SIZE];
    reply(conn, PROTO_SHARE, id, 0, out, proto_put_handle(out, &h), NULL);
}

static void serve_attach(int conn, uint64_t id, const unsigned char *p)
{
    mempool_handle h;
    proto_get_handle(p, &h);
    fake_block *b = find_block(proto_get_u64(h.bytes));
    if (b == NULL || !block_held(b))
        return reply(conn, PROTO_ATTACH, id, MEMPOOL_EBADHANDLE, NULL, 0, NULL);
    b->holds[conn]++;
    reply_block(conn, PROTO_ATTACH, id, b, h.bytes[8]);
}

static void serve_release(int conn, uint64_t id, const unsigned char *p)
{
    fake_block *b = find_block(proto_get_u64(p));
    (void)id; /* one-way: never replied to */
    fake.releases++;
    ck_assert_ptr_nonnull(b); /* the library checks locally first */
    ck_assert_int_gt(b->holds[conn], 0);
    drop_hold(b, conn);
}

static void serve_pool_info(int conn, uint64_t id)
{
    mempool_info info = { .page_size = page };
    for (size_t i = 0; i < fake.nblocks; i++) {
        info.in_use += block_held(&fake.blocks[i]) ? fake.blocks[i].size : 0;
        info.client_use += fake.blocks[i].holds[conn] > 0 ? fake.blocks[i].size : 0;
    }
    info.SEEN_CONNECTIONS = fake.connections;
    info.SEEN_RELEASES = fake.releases;
    info.SEEN_HELLOS = fake.hellos;
    info.SEEN_ALLOCS = fake.allocs;
    unsigned char out[PROTO_MAX_FRAME];
    reply(conn, PROTO_POOL_INFO, id, 0, out, proto_put_info(out, &info), NULL);
}

static void serve_hello(int conn, uint64_t id, const unsigned char *p)
{
    proto_hello m;
    ck_assert_int_eq(proto_get_hello(p, &m), 0);
    ck_assert_uint_eq(m.pid, (uint32_t)getppid());
    fake.hellos++;
    proto_hello_reply r = { .version = fake.script.hello_version != 0
                                           ? fake.script.hello_version
                                           : PROTO_VERSION,
                            .daemon_pid = (uint32_t)getpid(),
                            .session_id = fake.hellos };
    unsigned char out[PROTO_MAX_FRAME];
    reply(conn, PROTO_HELLO, id, 0, out, proto_put_hello_reply(out, &r), NULL);
}

static int scripted_hangup(void)
{
    for (int i = 0; i < 4; i++)
        if (fake.script.hangup_at[i] == (int)fake.requests)
            return 1;
    return 0;
}

/* One frame from a connection; closes it on hang-up or as scripted. */
static void serve_one(int conn)
{
    unsigned char frame[PROTO_MAX_FRAME];
    ssize_t n = handoff_recv(fake.conns[conn], frame, sizeof frame, NULL);
    proto_header h;
    if (n <= 0 || proto_decode_header(frame, (size_t)n, 0, &h) != 0)
        return close_conn(conn);
    const unsigned char *p = frame + PROTO_HEADER_SIZE;
    if (h.type != PROTO_HELLO && (++fake.requests, scripted_hangup()))
        return close_conn(conn);
    switch (h.type) {
    case PROTO_HELLO: return serve_hello(conn, h.request_id, p);
    case PROTO_ALLOC: return serve_alloc(conn, h.request_id, p);
    case PROTO_SHARE: return serve_share(conn, h.request_id, p);
    case PROTO_ATTACH: return serve_attach(conn, h.request_id, p);
    case PROTO_RELEASE: return serve_release(conn, h.request_id, p);
    case PROTO_POOL_INFO: return serve_pool_info(conn, h.request_id);
    }
}

static void accept_conn(int listener)
{
    int fd = accept(listener, NULL, NULL);
    for (int i = 0; fd >= 0 && i < FAKE_CONNS; i++)
        if (fake.conns[i] < 0) {
            fake.conns[i] = fd;
            fake.backing_sent[i] = 0;
            fake.connections++;
            return;
        }
    if (fd >= 0)
        close(fd);
}

static void fake_serve(int listener)
{
    for (;;) {
        struct pollfd pfd[FAKE_CONNS + 1];
        for (int i = 0; i < FAKE_CONNS; i++)
            pfd[i] = (struct pollfd){ .fd = fake.conns[i], .events = POLLIN };
        pfd[FAKE_CONNS] = (struct pollfd){ .fd = listener, .events = POLLIN };
        if (poll(pfd, FAKE_CONNS + 1, -1) < 0)
            continue;
        for (int i = 0; i < FAKE_CONNS; i++)
            if (fake.conns[i] >= 0 && pfd[i].revents != 0)
                serve_one(i);
        if (pfd[FAKE_CONNS].revents & POLLIN)
            accept_conn(listener);
    }
}

static void fake_start(const fake_script *script)
{
    int listener = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strcpy(addr.sun_path, fake_path);
    unlink(fake_path);
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(listener, 16), 0);
    fake_pid = fork();
    ck_assert_int_ge(fake_pid, 0);
    if (fake_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        memset(&fake, 0, sizeof fake);
        fake.script = *script;
        for (int i = 0; i < FAKE_CONNS; i++)
            fake.conns[i] = -1;
        fake.pool_memfd = memfd_create("fake_pool", MFD_CLOEXEC);
        ftruncate(fake.pool_memfd, FAKE_POOL_BYTES);
        fake_serve(listener);
    }
    close(listener);
}

static void fake_stop(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGKILL);
        waitpid(fake_pid, NULL, 0);
    }
    fake_pid = -1;
}

static void setup(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    strcpy(fake_dir, "/tmp/check_client.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fake_dir));
    strcpy(fake_path, fake_dir);
    strcat(fake_path, "/mempoold.sock");
    unsetenv("MEMPOOL_CLIENT_NAME");
}

static void teardown(void)
{
    fake_stop();
    unlink(fake_path);
    rmdir(fake_dir);
}

/* --- helpers ------------------------------------------------------------------ */

static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

static mempool_client *connect_fake(void)
{
    mempool_client *c = NULL;
    ck_assert_int_eq(mempool_connect(fake_path, &c), 0);
    ck_assert_ptr_nonnull(c);
    return c;
}

static mempool_info info_of(mempool_client *c)
{
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
    return info;
}

/* A hang-up on one connection and a question on another reach the
 * stand-in in no set order (one poll() may see the question first):
 * polls what `c` is told until in_use is `want`, ~10 s at most. */
static uint64_t wait_in_use(mempool_client *c, uint64_t want)
{
    uint64_t in_use = info_of(c).in_use;
    for (int i = 0; i < 1000 && in_use != want; i++) {
        usleep(10 * 1000);
        in_use = info_of(c).in_use;
    }
    return in_use;
}

/* msync reports ENOMEM for a range that is not mapped. */
static int is_mapped(void *addr, size_t size)
{
    return msync(addr, size, MS_ASYNC) == 0;
}

static const fake_script block_isolation = { 0 };
static const fake_script pool_isolation = { .pool_isolation = 1 };

/* --- tests ---------------------------------------------------------------- */

START_TEST(handle_text_round_trip)
{
    mempool_handle h, back;
    char text[MEMPOOL_HANDLE_STRLEN];
    for (int i = 0; i < 32; i++)
        h.bytes[i] = (unsigned char)(i * 37 + 5);
    ck_assert_int_eq(mempool_handle_format(&h, text, sizeof text), 0);
    ck_assert_uint_eq(strlen(text), 64);
    ck_assert_uint_eq(strspn(text, "0123456789abcdef"), 64);
    ck_assert_str_eq(text + 60, "5b80");
    ck_assert_int_eq(mempool_handle_parse(text, &back), 0);
    ck_assert_int_eq(memcmp(&h, &back, sizeof h), 0);
    for (int i = 0; i < 64; i++)
        if (text[i] >= 'a')
            text[i] = (char)(text[i] - 'a' + 'A');
    ck_assert_int_eq(mempool_handle_parse(text, &back), 0);
    ck_assert_int_eq(memcmp(&h, &back, sizeof h), 0);
}
END_TEST

START_TEST(handle_text_must_be_exact)
{
    mempool_handle h = { { 0 } };
    char text[80];
    ck_assert_int_eq(mempool_handle_format(&h, text, MEMPOOL_HANDLE_STRLEN - 1),
                     MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_handle_format(NULL, text, sizeof text), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_handle_format(&h, NULL, sizeof text), MEMPOOL_EINVAL);
    memset(text, '0', 64);
    text[63] = '\0';
    ck_assert_int_eq(mempool_handle_parse(text, &h), MEMPOOL_EINVAL);
    text[63] = '0';
    text[64] = '0';
    text[65] = '\0';
    ck_assert_int_eq(mempool_handle_parse(text, &h), MEMPOOL_EINVAL);
    text[64] = '\0';
    ck_assert_int_eq(mempool_handle_parse(text, &h), 0);
    text[10] = 'g';
    ck_assert_int_eq(mempool_handle_parse(text, &h), MEMPOOL_EINVAL);
    text[10] = ' ';
    ck_assert_int_eq(mempool_handle_parse(text, &h), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_handle_parse(NULL, &h), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_handle_parse("00", NULL), MEMPOOL_EINVAL);
}
END_TEST

START_TEST(arguments_are_checked)
{
    fake_start(&block_isolation);
    mempool_client *c = connect_fake();
    mempool_block b, bad;
    mempool_handle h;
    mempool_info info;
    char long_name[80];
    memset(long_name, 'p', 65);
    long_name[65] = '\0';
    ck_assert_int_eq(mempool_connect(fake_path, NULL), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(NULL, "default", page, 0, &b), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(c, NULL, page, 0, &b), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(c, "", page, 0, &b), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(c, long_name, page, 0, &b), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(c, "a\tb", page, 0, &b), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(c, "default", 0, 0, &b), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0x80, &b), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, NULL), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &b), 0);
    ck_assert_int_eq(mempool_share(c, &b, 0, &h), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_share(c, &b, MEMPOOL_WRITE, &h), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_share(c, &b, 4 | MEMPOOL_READ, &h), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_share(c, NULL, MEMPOOL_READ, &h), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_share(c, &b, MEMPOOL_READ, NULL), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_attach(c, NULL, &bad), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_release(NULL, &b), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_release(c, NULL), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_pool_info(c, NULL, &info), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_pool_info(c, "default", NULL), MEMPOOL_EINVAL);
    /* A block this connection does not hold is never sent nor unmapped. */
    bad = b;
    bad.id++;
    ck_assert_int_eq(mempool_share(c, &bad, MEMPOOL_READ, &h), MEMPOOL_ENOBLOCK);
    ck_assert_int_eq(mempool_release(c, &bad), MEMPOOL_ENOBLOCK);
    ck_assert(is_mapped(b.addr, b.size));
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_ptr_null(b.addr);
    ck_assert_int_eq(mempool_release(c, &bad), MEMPOOL_ENOBLOCK);
    mempool_disconnect(c);
    mempool_disconnect(NULL);
}
END_TEST

START_TEST(socket_path_rule)
{
    mempool_client *c = (mempool_client *)1;
    ck_assert_int_eq(mempool_connect("", &c), MEMPOOL_EINVAL);
    ck_assert_ptr_null(c);
    char too_long[200];
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    ck_assert_int_eq(mempool_connect(too_long, &c), MEMPOOL_EINVAL);
    ck_assert_int_eq(mempool_connect(fake_path, &c), MEMPOOL_ECONN);

    setenv("MEMPOOL_SOCKET", fake_path, 1);
    ck_assert_str_eq(mempool_default_socket(), fake_path);
    fake_start(&block_isolation);
    ck_assert_int_eq(mempool_connect(NULL, &c), 0);
    mempool_disconnect(c);
    setenv("MEMPOOL_SOCKET", "", 1);
    if (geteuid() == 0)
        ck_assert_str_eq(mempool_default_socket(), "/var/run/mempoold.sock");
}
END_TEST

/* Anyone but root: $XDG_RUNTIME_DIR/mempoold.sock when that socket
 * exists in a folder of the user's own, else the system socket. A socket in
 * a folder others may write to is not trusted (someone else could have put
 * it there). Checked in a child (that drops to nobody when the tests run as
 * root). */
static bool binds(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strcpy(addr.sun_path, path);
    return fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
}

static int user_rule_holds(void)
{
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
        return 0;
    unsetenv("MEMPOOL_SOCKET");
    /* fake_dir is mode 0777 and not the user's: its socket is ignored. */
    setenv("XDG_RUNTIME_DIR", fake_dir, 1);
    if (!binds(fake_path) || strcmp(mempool_default_socket(), "/var/run/mempoold.sock") != 0)
        return 0;
    char own[] = "/tmp/check_client_own.XXXXXX", path[128];
    if (mkdtemp(own) == NULL)
        return 0;
    setenv("XDG_RUNTIME_DIR", own, 1);
    snprintf(path, sizeof path, "%s/mempoold.sock", own);
    bool before = strcmp(mempool_default_socket(), "/var/run/mempoold.sock") == 0;
    bool after = binds(path) && strcmp(mempool_default_socket(), path) == 0;
    unlink(path);
    rmdir(own);
    return before && after;
}

START_TEST(socket_path_rule_for_users)
{
    ck_assert_int_eq(chmod(fake_dir, 0777), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(user_rule_holds() ? 0 : 1);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(shared_block_is_the_same_memory)
{
    fake_start(&block_isolation);
    int fds_before = open_fd_count();
    mempool_client *a = connect_fake(), *b = connect_fake();
    mempool_block mine, theirs;
    mempool_handle h;
    ck_assert_int_eq(mempool_alloc(a, "default", 3 * page - 1, 0, &mine), 0);
    ck_assert_uint_eq(mine.size, 3 * page);
    ck_assert_uint_eq(mine.prot, MEMPOOL_READ | MEMPOOL_WRITE);
    memcpy((char *)mine.addr + page, "hello", 6);
    ck_assert_int_eq(mempool_share(a, &mine, MEMPOOL_READ | MEMPOOL_WRITE, &h), 0);
    ck_assert_int_eq(mempool_attach(b, &h, &theirs), 0);
    ck_assert_ptr_ne(theirs.addr, mine.addr);
    ck_assert_uint_eq(theirs.id, mine.id);
    ck_assert_str_eq((char *)theirs.addr + page, "hello");
    memcpy(theirs.addr, "back", 5);
    ck_assert_str_eq((char *)mine.addr, "back");
    /* Block isolation: each backing is closed once mapped. */
    ck_assert_int_eq(open_fd_count(), fds_before + 2);
    ck_assert_uint_eq(info_of(a).in_use, 3 * page);
    ck_assert_int_eq(mempool_release(a, &mine), 0);
    ck_assert_uint_eq(info_of(a).in_use, 3 * page); /* b still holds it */
    ck_assert_str_eq((char *)theirs.addr, "back");
    void *addr = theirs.addr;
    ck_assert_int_eq(mempool_release(b, &theirs), 0);
    ck_assert(!is_mapped(addr, page));
    /* Releases are one-way: b's reaches the daemon in b's order, not a's.
     * A round trip on b first puts it ahead of a's question. */
    (void)info_of(b);
    ck_assert_uint_eq(info_of(a).in_use, 0);
    mempool_disconnect(a);
    mempool_disconnect(b);
    ck_assert_int_eq(open_fd_count(), fds_before);
}
END_TEST

START_TEST(read_only_attach_cannot_write)
{
    fake_start(&block_isolation);
    mempool_client *a = connect_fake();
    mempool_block mine, ro;
    mempool_handle h;
    ck_assert_int_eq(mempool_alloc(a, "default", page, 0, &mine), 0);
    memcpy(mine.addr, "const", 6);
    ck_assert_int_eq(mempool_share(a, &mine, MEMPOOL_READ, &h), 0);
    ck_assert_int_eq(mempool_attach(a, &h, &ro), 0);
    ck_assert_uint_eq(ro.prot, MEMPOOL_READ);
    ck_assert_str_eq(ro.addr, "const");
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        signal(SIGSEGV, SIG_DFL); /* a sanitizer's handler would exit instead */
        ((volatile char *)ro.addr)[0] = 'X';
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    ck_assert_int_eq(mempool_release(a, &ro), 0);
    ck_assert_int_eq(mempool_release(a, &mine), 0);
    mempool_disconnect(a);
}
END_TEST

START_TEST(pool_backing_is_kept_once_per_connection)
{
    fake_start(&pool_isolation);
    int fds_before = open_fd_count();
    mempool_client *a = connect_fake(), *b = connect_fake();
    mempool_block x, y, seen;
    mempool_handle h;
    ck_assert_int_eq(mempool_alloc(a, "default", page, 0, &x), 0);
    ck_assert_int_eq(mempool_alloc(a, "default", 2 * page, 0, &y), 0);
    /* Two sockets and one kept backing, however many blocks. */
    ck_assert_int_eq(open_fd_count(), fds_before + 3);
    memcpy(y.addr, "second", 7);
    memcpy(x.addr, "first", 6);
    ck_assert_int_eq(mempool_share(a, &y, MEMPOOL_READ | MEMPOOL_WRITE, &h), 0);
    ck_assert_int_eq(mempool_attach(b, &h, &seen), 0);
    ck_assert_str_eq(seen.addr, "second");
    ck_assert_int_eq(open_fd_count(), fds_before + 4);
    mempool_disconnect(a);
    ck_assert_str_eq(seen.addr, "second");
    mempool_disconnect(b);
    ck_assert_int_eq(open_fd_count(), fds_before);
}
END_TEST

START_TEST(populate_faults_every_page)
{
    fake_start(&block_isolation);
    mempool_client *c = connect_fake();
    mempool_block cold, warm;
    unsigned char vec[16];
    ck_assert_int_eq(mempool_alloc(c, "default", 16 * page, 0, &cold), 0);
    ck_assert_int_eq(mincore(cold.addr, cold.size, vec), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(vec[i] & 1, 0);
    ck_assert_int_eq(mempool_alloc(c, "default", 16 * page, MEMPOOL_ALLOC_POPULATE, &warm), 0);
    ck_assert_int_eq(mincore(warm.addr, warm.size, vec), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(vec[i] & 1, 1);
    mempool_disconnect(c);
}
END_TEST

START_TEST(error_replies_map_straight)
{
    fake_start(&block_isolation);
    mempool_client *c = connect_fake();
    mempool_block b;
    mempool_handle h;
    memset(&h, 0x55, sizeof h);
    ck_assert_int_eq(mempool_alloc(c, "full", page, 0, &b), MEMPOOL_EDQUOT);
    ck_assert_ptr_null(b.addr);
    ck_assert_int_eq(mempool_alloc(c, "nope", page, 0, &b), MEMPOOL_ENOPOOL);
    ck_assert_int_eq(mempool_attach(c, &h, &b), MEMPOOL_EBADHANDLE);
    ck_assert_uint_eq(info_of(c).SEEN_CONNECTIONS, 1);
    mempool_disconnect(c);
}
END_TEST

START_TEST(garbled_reply_is_a_protocol_error_then_recovers)
{
    fake_start(&block_isolation);
    mempool_client *c = connect_fake();
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "garbage", page, 0, &b), MEMPOOL_EPROTO);
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &b), 0);
    ck_assert_uint_eq(info_of(c).SEEN_CONNECTIONS, 2);
    mempool_disconnect(c);
}
END_TEST

/* A reply status that is no code the daemon sends is a protocol error:
 * the connection is dropped (no reconnect over a live socket) and the next
 * call starts a new one. */
START_TEST(statuses_the_daemon_cannot_send_are_protocol_errors)
{
    fake_start(&block_isolation);
    mempool_client *c = connect_fake();
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "liar", page, 0, &b), MEMPOOL_EPROTO);
    ck_assert_int_eq(mempool_alloc(c, "alien", page, 0, &b), MEMPOOL_EPROTO);
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &b), 0);
    ck_assert_uint_eq(info_of(c).SEEN_CONNECTIONS, 3);
    mempool_disconnect(c);
}
END_TEST

START_TEST(version_mismatch_is_refused)
{
    fake_start(&(fake_script){ .hello_version = PROTO_VERSION + 1 });
    mempool_client *c = NULL;
    ck_assert_int_eq(mempool_connect(fake_path, &c), MEMPOOL_EVERSION);
    ck_assert_ptr_null(c);
}
END_TEST

/* Request 2 (the second ALLOC) is answered by a hang-up. */
START_TEST(alloc_is_retried_on_a_new_connection)
{
    fake_start(&(fake_script){ .hangup_at = { 2 } });
    mempool_client *c = connect_fake();
    mempool_block old, fresh;
    mempool_handle h;
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &old), 0);
    memcpy(old.addr, "survives", 9);
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &fresh), 0);
    mempool_info info = info_of(c);
    ck_assert_uint_eq(info.SEEN_CONNECTIONS, 2);
    ck_assert_uint_eq(info.SEEN_HELLOS, 2);
    ck_assert_uint_eq(info.SEEN_ALLOCS, 2); /* the hang-up served none */
    ck_assert_uint_eq(info.client_use, page); /* the old block went with its connection */
    /* The old mapping still holds its memory... */
    ck_assert_str_eq(old.addr, "survives");
    memcpy(old.addr, "writable", 9);
    /* ...but the daemon no longer knows of it. */
    ck_assert_int_eq(mempool_share(c, &old, MEMPOOL_READ, &h), MEMPOOL_ENOBLOCK);
    uint64_t releases = info_of(c).SEEN_RELEASES;
    void *addr = old.addr;
    ck_assert_int_eq(mempool_release(c, &old), 0);
    ck_assert(!is_mapped(addr, page));
    ck_assert_uint_eq(info_of(c).SEEN_RELEASES, releases);
    ck_assert_int_eq(mempool_share(c, &fresh, MEMPOOL_READ, &h), 0);
    mempool_disconnect(c);
}
END_TEST

START_TEST(share_on_a_lost_connection_is_not_retried)
{
    fake_start(&(fake_script){ .hangup_at = { 2 } });
    mempool_client *c = connect_fake();
    mempool_block b;
    mempool_handle h;
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &b), 0);
    ck_assert_int_eq(mempool_share(c, &b, MEMPOOL_READ, &h), MEMPOOL_ENOBLOCK);
    /* The next call reconnects. */
    ck_assert_uint_eq(info_of(c).SEEN_CONNECTIONS, 2);
    ck_assert_int_eq(mempool_share(c, &b, MEMPOOL_READ, &h), MEMPOOL_ENOBLOCK);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    mempool_disconnect(c);
}
END_TEST

START_TEST(release_on_a_lost_connection_succeeds)
{
    fake_start(&(fake_script){ .hangup_at = { 2 } });
    mempool_client *c = connect_fake();
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &b), 0);
    void *addr = b.addr;
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert(!is_mapped(addr, page));
    ck_assert_ptr_null(b.addr);
    ck_assert_uint_eq(info_of(c).in_use, 0);
    mempool_disconnect(c);
}
END_TEST

START_TEST(daemon_restart_and_absence)
{
    fake_start(&block_isolation);
    mempool_client *c = connect_fake();
    mempool_block b, again;
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &b), 0);
    memcpy(b.addr, "kept", 5);
    fake_stop();
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &again), MEMPOOL_ECONN);
    ck_assert_int_eq(mempool_pool_info(c, "default", &(mempool_info){ 0 }), MEMPOOL_ECONN);
    ck_assert_str_eq(b.addr, "kept");
    fake_start(&block_isolation);
    ck_assert_int_eq(mempool_alloc(c, "default", page, 0, &again), 0);
    ck_assert_uint_eq(info_of(c).SEEN_CONNECTIONS, 1);
    ck_assert_str_eq(b.addr, "kept");
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_int_eq(mempool_release(c, &again), 0);
    ck_assert_uint_eq(info_of(c).in_use, 0);
    mempool_disconnect(c);
}
END_TEST

START_TEST(disconnect_lets_the_daemon_release_everything)
{
    fake_start(&block_isolation);
    mempool_client *a = connect_fake(), *b = connect_fake();
    mempool_block blocks[8];
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(mempool_alloc(a, "default", page, 0, &blocks[i]), 0);
    ck_assert_uint_eq(info_of(b).in_use, 8 * page);
    mempool_disconnect(a);
    ck_assert_uint_eq(wait_in_use(b, 0), 0);
    ck_assert(!is_mapped(blocks[3].addr, page));
    mempool_disconnect(b);
}
END_TEST

typedef struct worker {
    mempool_client *c;
    int failures;
} worker;

static void *alloc_release_loop(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 200; i++) {
        mempool_block b;
        mempool_handle h;
        w->failures += mempool_alloc(w->c, "default", page, 0, &b) != 0;
        memset(b.addr, i, page);
        w->failures += mempool_share(w->c, &b, MEMPOOL_READ, &h) != 0;
        w->failures += mempool_release(w->c, &b) != 0;
    }
    return NULL;
}

START_TEST(one_client_from_many_threads)
{
    fake_start(&block_isolation);
    mempool_client *c = connect_fake();
    worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){ .c = c };
        ck_assert_int_eq(pthread_create(&t[i], NULL, alloc_release_loop, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    mempool_info info = info_of(c);
    ck_assert_uint_eq(info.in_use, 0);
    ck_assert_uint_eq(info.SEEN_ALLOCS, 800);
    ck_assert_uint_eq(info.SEEN_RELEASES, 800);
    mempool_disconnect(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client");
    TCase *pure = tcase_create("handles");
    tcase_add_test(pure, handle_text_round_trip);
    tcase_add_test(pure, handle_text_must_be_exact);
    suite_add_tcase(s, pure);
    TCase *tc = tcase_create("stand-in daemon");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, arguments_are_checked);
    tcase_add_test(tc, socket_path_rule);
    tcase_add_test(tc, socket_path_rule_for_users);
    tcase_add_test(tc, shared_block_is_the_same_memory);
    tcase_add_test(tc, read_only_attach_cannot_write);
    tcase_add_test(tc, pool_backing_is_kept_once_per_connection);
    tcase_add_test(tc, populate_faults_every_page);
    tcase_add_test(tc, error_replies_map_straight);
    tcase_add_test(tc, garbled_reply_is_a_protocol_error_then_recovers);
    tcase_add_test(tc, statuses_the_daemon_cannot_send_are_protocol_errors);
    tcase_add_test(tc, version_mismatch_is_refused);
    tcase_add_test(tc, alloc_is_retried_on_a_new_connection);
    tcase_add_test(tc, share_on_a_lost_connection_is_not_retried);
    tcase_add_test(tc, release_on_a_lost_connection_succeeds);
    tcase_add_test(tc, daemon_restart_and_absence);
    tcase_add_test(tc, disconnect_lets_the_daemon_release_everything);
    tcase_add_test(tc, one_client_from_many_threads);
    suite_add_tcase(s, tc);
    return check_run(s);
}
