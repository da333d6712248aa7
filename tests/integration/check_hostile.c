/* A hostile local user against the real daemon with the shipped limits:
 * an unprivileged uid (nobody, or another uid a root test drops to) tries
 * to take every daemon-wide resource, and root must keep being served.
 * Each attack is a row of docs/daemon.md's "Fair shares"; each check reads
 * what the kernel reports (the daemon's /proc/PID/fd, its memfds'
 * st_blocks, /proc/PID/status) next to the daemon's own figures.
 *
 * Changing uid needs root: run as anyone else, the suite reports itself
 * skipped to CTest (exit 77), never passed. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "harness.h"

#define KiB 1024ULL
#define MiB (1024ULL * 1024)

/* A second unprivileged uid next to nobody, with no passwd entry. */
#define OTHER_UID 64000

static fixture fx;

static const char pools[] =
    "pools:\n"
    "  - name: default\n"
    "    reserve: 4GiB\n"
    "    limit: 1GiB\n"
    "  - name: rootonly\n"
    "    reserve: 1GiB\n"
    "    limit: 256MiB\n"
    "    access: { users: [root] }\n"
    "  - name: shared\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    isolation: pool\n"
    "  - name: peruid\n"
    "    reserve: 4GiB\n"
    "    limit: 1GiB\n"
    "    isolation: uid\n";

static void setup(void) { fixture_start(&fx, pools); }

static void teardown(void)
{
    ck_assert_int_eq(fixture_stop(&fx), 0); /* it never crashed */
    fixture_cleanup(&fx);
}

static bool drop_to_uid(uid_t uid)
{
    return setgroups(0, NULL) == 0 && setgid((gid_t)uid) == 0 && setuid(uid) == 0;
}

static bool log_has(const char *a, const char *b)
{
    FILE *f = fopen(fx.log, "r");
    char line[1024];
    bool found = false;
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
    if (f != NULL)
        fclose(f);
    return found;
}

/* The daemon's resident set, from /proc/PID/status (VmRSS). */
static uint64_t daemon_rss(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)fx.pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib * KiB;
}

/* The daemon's memfds: how many, and the bytes the kernel holds for them. */
static void daemon_memfds(int *count, uint64_t *bytes)
{
    char dir[64], link[PATH_MAX], target[PATH_MAX];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)fx.pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    *count = 0;
    *bytes = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        struct stat st;
        if (n <= 0 || (target[n] = '\0', strncmp(target, "/memfd:", 7) != 0) ||
            stat(link, &st) != 0)
            continue;
        (*count)++;
        *bytes += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
}

/* One line to the admin socket, its one-line reply back (malloc'd). */
static char *admin(const char *command)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ck_assert_uint_lt(strlen(fx.admin_socket), sizeof sa.sun_path);
    memcpy(sa.sun_path, fx.admin_socket, strlen(fx.admin_socket) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct timeval tv = { .tv_sec = 20 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(write(fd, command, strlen(command)), (ssize_t)strlen(command));
    ck_assert_int_eq(write(fd, "\n", 1), 1);
    size_t cap = 1 << 16, len = 0;
    char *reply = malloc(cap);
    char c;
    while (len + 1 < cap && read(fd, &c, 1) == 1 && c != '\n')
        reply[len++] = c;
    reply[len] = '\0';
    close(fd);
    ck_assert_msg(len > 0, "no reply to %s", command);
    return reply;
}

static void root_keeps_allocating(const char *pool, int n)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    for (int i = 0; i < n; i++) {
        int rc = mempool_alloc(c, pool, 4 * KiB, 0, &b);
        ck_assert_msg(rc == 0, "root's alloc %d in %s: %s", i, pool, mempool_strerror(rc));
        memset(b.addr, 0x5a, b.size);
    }
    mempool_disconnect(c);
}

/* ---- blocks: the backing budget is shared between uids -------------------- */

typedef struct hog {
    uid_t uid;
    int ready_fd;  /* the hog writes how many it got, then waits */
    int limit;
} hog;

static void report(int fd, int value)
{
    if (write(fd, &value, sizeof value) != (ssize_t)sizeof value)
        _exit(20);
}

static int hog_blocks(void *arg)
{
    hog *h = arg;
    mempool_client *c;
    mempool_block b;
    if (!drop_to_uid(h->uid) || mempool_connect(fx.socket, &c) != 0)
        return 10;
    int n = 0, rc = 0;
    while (n < h->limit && (rc = mempool_alloc(c, "default", 4 * KiB, 0, &b)) == 0)
        n++;
    report(h->ready_fd, n);
    report(h->ready_fd, rc);
    pause();
    return 0;
}

static pid_t start_hog(int (*fn)(void *), hog *h, int *got, int *rc)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    h->ready_fd = p[1];
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fn(h));
    close(p[1]);
    if (read(p[0], got, sizeof *got) != (ssize_t)sizeof *got) {
        int status;
        waitpid(pid, &status, 0);
        ck_abort_msg("the hog died: status %#x", status);
    }
    ck_assert_int_eq(read(p[0], rc, sizeof *rc), (ssize_t)sizeof *rc);
    close(p[0]);
    return pid;
}

static void stop_hog(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

START_TEST(one_uid_cannot_take_every_block_backing)
{
    int fds_before = fixture_fd_count(&fx);
    int got, rc, got2, rc2;
    hog nobody = { .uid = 65534, .limit = 30000 }, other = { .uid = OTHER_UID, .limit = 30000 };
    pid_t p1 = start_hog(hog_blocks, &nobody, &got, &rc);
    fprintf(stderr, "hostile: nobody held %d 4 KiB blocks before %s\n", got, mempool_err_name(rc));
    ck_assert_int_eq(rc, MEMPOOL_ELIMIT);
    ck_assert(log_has("limits.backings_per_uid", "uid 65534"));
    /* Another uid has a share of its own, and root keeps allocating in a
     * pool nobody may use and in the one nobody filled. */
    pid_t p2 = start_hog(hog_blocks, &other, &got2, &rc2);
    ck_assert_int_eq(got2, got);
    root_keeps_allocating("rootonly", 256);
    root_keeps_allocating("default", 256);
    ck_assert_int_lt(fixture_fd_count(&fx), 20000);
    stop_hog(p1);
    stop_hog(p2);
    mempool_client *c = connect_or_die(&fx);
    ck_assert_uint_eq(wait_in_use(c, "default", 0), 0);
    mempool_disconnect(c);
    (void)fds_before;
}
END_TEST

/* ---- connections: max_clients_per_uid, slots kept for root ----------------- */

static int hog_connections(void *arg)
{
    hog *h = arg;
    if (!drop_to_uid(h->uid))
        return 10;
    int n = 0, rc = 0;
    mempool_client *c;
    while (n < h->limit && (rc = mempool_connect(fx.socket, &c)) == 0)
        n++;
    report(h->ready_fd, n);
    report(h->ready_fd, rc);
    pause();
    return 0;
}

START_TEST(one_uid_cannot_take_every_connection)
{
    int got, rc, got2, rc2;
    hog nobody = { .uid = 65534, .limit = 1100 }, other = { .uid = OTHER_UID, .limit = 1100 };
    pid_t p1 = start_hog(hog_connections, &nobody, &got, &rc);
    fprintf(stderr, "hostile: nobody held %d connections before %s\n", got, mempool_err_name(rc));
    ck_assert_int_lt(got, 1024);
    ck_assert_int_ne(rc, 0);
    ck_assert(log_has("max_clients_per_uid", "uid 65534"));
    pid_t p2 = start_hog(hog_connections, &other, &got2, &rc2);
    ck_assert_int_eq(got2, got);
    root_keeps_allocating("default", 16);
    stop_hog(p1);
    stop_hog(p2);
}
END_TEST

/* Nine unprivileged uids at once, each running `fn` up to `limit`: every
 * one stops on a refusal (ELIMIT when `refusal` is nonzero, any error
 * else), and the first eight got the same amount, whatever order they
 * came in. The hogs stay until stop_hogs. */
enum { HOG_UIDS = 9 };

static void nine_uids_take_their_shares(int (*fn)(void *), int limit, const char *what,
                                        int refusal, pid_t pid[HOG_UIDS])
{
    int got[HOG_UIDS], rc[HOG_UIDS];
    for (int i = 0; i < HOG_UIDS; i++) {
        hog h = { .uid = i == 0 ? 65534 : OTHER_UID + (uid_t)i, .limit = limit };
        pid[i] = start_hog(fn, &h, &got[i], &rc[i]);
        fprintf(stderr, "hostile: uid %u held %d %s before %s\n", (unsigned)h.uid, got[i], what,
                mempool_err_name(rc[i]));
        if (refusal != 0)
            ck_assert_int_eq(rc[i], refusal);
        else
            ck_assert_int_ne(rc[i], 0);
    }
    for (int i = 1; i < 8; i++)
        ck_assert_msg(got[i] == got[0], "uid #%d got %d %s, the first %d", i + 1, got[i], what,
                      got[0]);
}

static void stop_hogs(const pid_t pid[HOG_UIDS])
{
    for (int i = 0; i < HOG_UIDS; i++)
        stop_hog(pid[i]);
}

/* The shares are fixed fractions (an eighth by default) of what the users
 * may hold together, so eight uids get their whole share each, and root's
 * sixteenth stays root's. */
START_TEST(eight_uids_each_get_their_whole_share_and_root_its_reserve)
{
    pid_t pid[HOG_UIDS];
    nine_uids_take_their_shares(hog_blocks, 30000, "block backings", MEMPOOL_ELIMIT, pid);
    root_keeps_allocating("rootonly", 256);
    root_keeps_allocating("default", 256);
    stop_hogs(pid);
}
END_TEST

START_TEST(eight_uids_each_get_their_whole_share_of_connections)
{
    pid_t pid[HOG_UIDS];
    nine_uids_take_their_shares(hog_connections, 1100, "connections", 0, pid);
    root_keeps_allocating("default", 16);
    mempool_client *more[8];
    for (int i = 0; i < 8; i++)
        more[i] = connect_or_die(&fx);
    for (int i = 0; i < 8; i++)
        mempool_disconnect(more[i]);
    stop_hogs(pid);
}
END_TEST

/* ---- handles: sharing again does not grow the daemon ----------------------- */

static int share_a_lot(void *arg)
{
    int n = *(int *)arg;
    mempool_client *c;
    mempool_block b;
    mempool_handle h, first;
    if (!drop_to_nobody() || mempool_connect(fx.socket, &c) != 0)
        return 10;
    if (mempool_alloc(c, "default", 4 * KiB, 0, &b) != 0 ||
        mempool_share(c, &b, MEMPOOL_READ, &first) != 0)
        return 11;
    for (int i = 0; i < n; i++)
        if (mempool_share(c, &b, i % 2 ? MEMPOOL_READ : MEMPOOL_READ | MEMPOOL_WRITE, &h) != 0)
            return 12;
    return 0;
}

START_TEST(sharing_one_block_again_and_again_costs_nothing)
{
    int n = 200000;
    uint64_t before = daemon_rss();
    ck_assert(exited_ok(run_child(share_a_lot, &n)));
    uint64_t after = daemon_rss();
    fprintf(stderr, "hostile: daemon RSS %llu KiB -> %llu KiB after %d SHAREs\n",
            (unsigned long long)(before / KiB), (unsigned long long)(after / KiB), n);
    ck_assert_uint_lt(after, before + 2 * MiB);
}
END_TEST


/* ---- pool isolation: writes outside one's blocks ------------------------------ */

/* A descriptor of this process whose link reads `name` (a memfd), or -1. */
static int fd_named(pid_t pid, const char *name, uint64_t *resident)
{
    char dir[64], link[PATH_MAX], target[PATH_MAX];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    int found = -1;
    for (struct dirent *e; d != NULL && found < 0 && (e = readdir(d)) != NULL;) {
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        struct stat st;
        if (strncmp(target, name, strlen(name)) == 0 && stat(link, &st) == 0) {
            found = atoi(e->d_name);
            if (resident != NULL)
                *resident = (uint64_t)st.st_blocks * 512;
        }
    }
    if (d != NULL)
        closedir(d);
    return found;
}

static uint64_t shared_backing_resident(void)
{
    uint64_t resident = 0;
    ck_assert_int_ge(fd_named(fx.pid, "/memfd:mempoold:shared", &resident), 0);
    return resident;
}

static int write_outside_blocks(void *arg)
{
    int ready = *(int *)arg;
    mempool_client *c;
    mempool_block b;
    if (!drop_to_nobody() || mempool_connect(fx.socket, &c) != 0)
        return 10;
    if (mempool_alloc(c, "shared", 4 * KiB, 0, &b) != 0)
        return 11;
    int fd = fd_named(getpid(), "/memfd:mempoold:shared", NULL);
    if (fd < 0)
        return 12;
    unsigned char *all = mmap(NULL, 200 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (all == MAP_FAILED)
        return 13;
    memset(all + 4 * KiB, 0xbb, 200 * MiB - 4 * KiB);
    report(ready, 1);
    pause();
    return 0;
}

/* Waits up to ~10 s for the shared backing to hold at most `bytes`. */
static uint64_t wait_shared_resident_at_most(uint64_t bytes)
{
    uint64_t r = shared_backing_resident();
    for (int i = 0; i < 1000 && r > bytes; i++) {
        sleep_ms(10);
        r = shared_backing_resident();
    }
    return r;
}

START_TEST(pool_isolation_keeps_its_limit_and_its_zeros)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(write_outside_blocks(&p[1]));
    int ok;
    ck_assert_int_eq(read(p[0], &ok, sizeof ok), (ssize_t)sizeof ok);
    uint64_t peak = shared_backing_resident();
    /* Within the limit (64 MiB) while the writer still lives. */
    uint64_t held = wait_shared_resident_at_most(64 * MiB);
    fprintf(stderr, "hostile: pool backing %llu KiB after nobody wrote 200 MiB outside its block, "
            "%llu KiB once swept (limit 65536 KiB)\n", (unsigned long long)(peak / KiB),
            (unsigned long long)(held / KiB));
    ck_assert_uint_le(held, 64 * MiB);
    /* Root's blocks that want zeros read as zeros. */
    mempool_client *c = connect_or_die(&fx);
    mempool_block b[16];
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(mempool_alloc(c, "shared", MiB, 0, &b[i]), 0);
        const unsigned char *bytes = b[i].addr;
        for (size_t off = 0; off < b[i].size; off += 512)
            ck_assert_msg(bytes[off] == 0, "block %d byte %zu: %#x", i, off, bytes[off]);
    }
    /* Gone with the writer: what it wrote outside its block too. */
    stop_hog(pid);
    ck_assert_uint_eq(wait_in_use(c, "shared", 16 * MiB), 16 * MiB);
    ck_assert_uint_le(wait_shared_resident_at_most(16 * MiB + 64 * KiB), 16 * MiB + 64 * KiB);
    mempool_disconnect(c);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* ---- the stray sweeper against a client that never stops writing ------------ */

static int write_outside_blocks_forever(void *arg)
{
    int ready = *(int *)arg;
    mempool_client *c;
    mempool_block b;
    if (!drop_to_nobody() || mempool_connect(fx.socket, &c) != 0)
        return 10;
    if (mempool_alloc(c, "shared", 4 * KiB, 0, &b) != 0)
        return 11;
    int fd = fd_named(getpid(), "/memfd:mempoold:shared", NULL);
    if (fd < 0)
        return 12;
    size_t span = 256 * MiB;
    unsigned char *all = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (all == MAP_FAILED)
        return 13;
    report(ready, 1);
    /* One byte every other page: as many extents as the sweeper can meet. */
    for (unsigned round = 0;; round++)
        for (size_t off = 64 * KiB; off < span; off += 8 * KiB)
            all[off] = (unsigned char)round | 1;
}

/* The daemon's user and system CPU so far, from /proc/PID/stat. */
static double daemon_cpu_s(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)fx.pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    unsigned long long utime = 0, stime = 0;
    int n = fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                   &stime);
    fclose(f);
    ck_assert_int_eq(n, 2);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The daemon's log lines so far. */
static int log_lines(void)
{
    FILE *f = fopen(fx.log, "r");
    int n = 0;
    for (int c; f != NULL && (c = fgetc(f)) != EOF;)
        n += c == '\n';
    if (f != NULL)
        fclose(f);
    return n;
}

START_TEST(a_client_rewriting_outside_its_blocks_cannot_flood_the_log)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(write_outside_blocks_forever(&p[1]));
    int ok;
    ck_assert_int_eq(read(p[0], &ok, sizeof ok), (ssize_t)sizeof ok);
    int before = log_lines();
    double cpu0 = daemon_cpu_s();
    sleep_ms(5000);
    int lines = log_lines() - before;
    double cpu = daemon_cpu_s() - cpu0;
    /* Root is still served meanwhile. */
    root_keeps_allocating("shared", 16);
    stop_hog(pid);
    fprintf(stderr, "hostile: a client rewriting outside its block for 5 s: %d log lines, "
            "daemon CPU %.2f s\n", lines, cpu);
    ck_assert_int_le(lines, 5 * 3 + 10);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* ---- uid isolation: many blocks, one descriptor per uid ---------------------- */

/* Lines of /proc/PID/maps, and of them those that map `name`. */
static int count_mappings(pid_t pid, const char *name, int *named)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int n = 0;
    *named = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        n += strchr(line, '\n') != NULL;
        *named += strstr(line, name) != NULL;
    }
    fclose(f);
    return n;
}

/* As nobody: takes h->limit blocks of "peruid", reports how many and 0
 * (or the failing step), then holds them until killed. */
static int hog_peruid_blocks(void *arg)
{
    hog *h = arg;
    mempool_client *c;
    mempool_block b;
    /* What the parent (root) holds came along with fork: let it go. */
    for (int fd; (fd = fd_named(getpid(), "/memfd:", NULL)) >= 0;)
        close(fd);
    if (!drop_to_uid(h->uid) || mempool_connect(fx.socket, &c) != 0)
        return 10;
    int n = 0, failed = 0;
    for (; n < h->limit && failed == 0; n++) {
        if (mempool_alloc(c, "peruid", 4 * KiB, 0, &b) != 0)
            failed = 11;
        else if (((unsigned char *)b.addr)[100] != 0)
            failed = 12; /* a block that wants zeros shows no one's bytes */
        else
            memset(b.addr, 0x33, 512);
    }
    /* This process holds its own uid's backing, and no other uid's. */
    if (failed == 0 && (fd_named(getpid(), "/memfd:mempoold:peruid:uid65534", NULL) < 0 ||
                        fd_named(getpid(), "/memfd:mempoold:peruid:uid0", NULL) >= 0))
        failed = 13;
    report(h->ready_fd, n);
    report(h->ready_fd, failed);
    pause();
    return 0;
}

/* Counted while nobody holds its blocks: a descriptor or a mapping per
 * block would show 25,000 more. The daemon's allocator grows its tables
 * meanwhile (glibc's or a sanitizer's, which maps regions of its own):
 * what it adds is no mapping of the backing, and fewer than one line per
 * hundred blocks. */
START_TEST(uid_isolation_is_not_bounded_by_descriptors)
{
    mempool_client *root = connect_or_die(&fx);
    mempool_block mine;
    ck_assert_int_eq(mempool_alloc(root, "peruid", 4 * KiB, 0, &mine), 0);
    memset(mine.addr, 0x5a, mine.size);
    int fds = settled_fd_count(&fx, root);
    const char *backing = "/memfd:mempoold:peruid:uid65534";
    int backing_before, backing_held;
    int maps_before = count_mappings(fx.pid, backing, &backing_before);
    int got, failed;
    hog h = { .uid = 65534, .limit = 25000 }; /* more than the descriptor budget's 18848 */
    pid_t pid = start_hog(hog_peruid_blocks, &h, &got, &failed);
    ck_assert_msg(failed == 0, "nobody's step %d failed at block %d", failed, got);
    ck_assert_int_eq(got, h.limit);
    int fds_held = fixture_fd_count(&fx);
    int maps_held = count_mappings(fx.pid, backing, &backing_held);
    fprintf(stderr, "hostile: nobody holds %d blocks in uid isolation; daemon fds %d -> %d, "
            "mappings %d -> %d (of its backing %d -> %d)\n", got, fds, fds_held, maps_before,
            maps_held, backing_before, backing_held);
    ck_assert_int_eq(fds_held, fds + 2); /* its connection and its uid's backing */
    ck_assert_int_eq(backing_before, 0);
    ck_assert_int_ge(backing_held, 1);
    ck_assert_int_lt(backing_held, h.limit / 100);
    ck_assert_int_lt(maps_held - maps_before, h.limit / 100);
    stop_hog(pid);
    /* Its blocks went with it; its part's backing stays, one descriptor. */
    ck_assert_int_eq(wait_fd_count(&fx, fds + 1), fds + 1);
    ck_assert_uint_eq(((unsigned char *)mine.addr)[100], 0x5a);
    mempool_disconnect(root);
}
END_TEST

/* ---- uid isolation: no byte of another uid, by any way in ----------------------- */

typedef struct cross_uid {
    mempool_handle handle; /* of root's live block */
} cross_uid;

static int reach_for_roots_bytes(void *arg)
{
    const cross_uid *x = arg;
    mempool_client *c;
    mempool_block b;
    for (int fd; (fd = fd_named(getpid(), "/memfd:", NULL)) >= 0;)
        close(fd);
    if (!drop_to_nobody() || mempool_connect(fx.socket, &c) != 0)
        return 10;
    if (mempool_attach(c, &x->handle, &b) != MEMPOOL_EACCES)
        return 11;
    if (mempool_attach_name(c, "peruid", "roots", 0, &b) != MEMPOOL_EACCES)
        return 12;
    /* DIRTY blocks may hold old bytes, but only of this uid. */
    for (int i = 0; i < 64; i++) {
        if (mempool_alloc(c, "peruid", 64 * KiB, MEMPOOL_ALLOC_DIRTY, &b) != 0)
            return 13;
        for (size_t off = 0; off < b.size; off += 64)
            if (((unsigned char *)b.addr)[off] == 0x5a)
                return 14;
    }
    if (fd_named(getpid(), "/memfd:mempoold:peruid:uid0", NULL) >= 0)
        return 15;
    return 0;
}

START_TEST(uid_isolation_shows_no_byte_of_another_uid)
{
    mempool_client *root = connect_or_die(&fx);
    mempool_block b[64];
    for (int i = 0; i < 64; i++) {
        ck_assert_int_eq(mempool_alloc(root, "peruid", 64 * KiB, 0, &b[i]), 0);
        memset(b[i].addr, 0x5a, b[i].size);
    }
    cross_uid x;
    ck_assert_int_eq(mempool_share(root, &b[0], MEMPOOL_READ | MEMPOOL_WRITE, &x.handle), 0);
    ck_assert_int_eq(mempool_publish(root, &b[0], "roots", MEMPOOL_READ), 0);
    /* The rest turn warm (root's), then some go back to the OS. */
    for (int i = 1; i < 64; i++)
        ck_assert_int_eq(mempool_release(root, &b[i]), 0);
    ck_assert_int_eq(mempool_trim(root), 0);
    free(admin("scavenge peruid 1048576"));
    int status = run_child(reach_for_roots_bytes, &x);
    ck_assert_msg(exited_ok(status), "child: exit %d", WEXITSTATUS(status));
    ck_assert_uint_eq(((unsigned char *)b[0].addr)[100], 0x5a);
    mempool_disconnect(root);
}
END_TEST

/* ---- a reload past RLIMIT_NOFILE ------------------------------------------- */

static void reload_with_limits(const char *limits, char **reply)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "limits: %s\n%s", limits, pools);
    fixture_write_policy(&fx, yaml);
    *reply = admin("reload");
}

START_TEST(a_reload_never_asks_for_more_descriptors_than_the_os_gives)
{
    struct rlimit small = { 2048, 2048 };
    ck_assert_int_eq(prlimit(fx.pid, RLIMIT_NOFILE, &small, NULL), 0);
    mempool_client *root = connect_or_die(&fx);
    char *reply;
    reload_with_limits("{ max_clients: 100000 }", &reply);
    fprintf(stderr, "hostile: reload to max_clients 100000 under RLIMIT_NOFILE 2048: %.300s\n",
            reply);
    ck_assert_ptr_nonnull(strstr(reply, "over-os-limits"));
    ck_assert_ptr_nonnull(strstr(reply, "RLIMIT_NOFILE allows 2048"));
    free(reply);
    /* What fits is taken, and then nobody takes all it may. */
    reload_with_limits("{ max_clients: 1500, max_clients_per_uid: 1500, backings_per_uid: 100% }",
                       &reply);
    ck_assert_msg(strstr(reply, "\"ok\":true") != NULL, "%s", reply);
    free(reply);
    int conns, rc, blocks, rc2;
    hog c = { .uid = 65534, .limit = 2000 }, b = { .uid = OTHER_UID, .limit = 2000 };
    pid_t p2 = start_hog(hog_blocks, &b, &blocks, &rc2);
    pid_t p1 = start_hog(hog_connections, &c, &conns, &rc);
    fprintf(stderr, "hostile: under RLIMIT_NOFILE 2048: nobody held %d connections (%s), "
            "uid %d %d blocks (%s); daemon fds %d\n", conns, mempool_err_name(rc), OTHER_UID,
            blocks, mempool_err_name(rc2), fixture_fd_count(&fx));
    ck_assert_int_ne(rc, 0);
    ck_assert_int_eq(rc2, MEMPOOL_ELIMIT);
    ck_assert_int_lt(fixture_fd_count(&fx), 2048 - 64);
    /* Root's existing connection, a new one, and the admin socket work:
     * root has the last sixteenth of the 420 backings (26) to itself. */
    mempool_block blk;
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(mempool_alloc(root, "default", 4 * KiB, 0, &blk), 0);
    root_keeps_allocating("default", 12);
    reply = admin("stats");
    ck_assert_ptr_nonnull(strstr(reply, "\"ok\":true"));
    free(reply);
    stop_hog(p1);
    stop_hog(p2);
    mempool_disconnect(root);
}
END_TEST

/* ---- clients killed anywhere ------------------------------------------------ */

static int churn_until_killed(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    mempool_client *c;
    if (((seed & 1) && !drop_to_nobody()) || mempool_connect(fx.socket, &c) != 0)
        return 10;
    mempool_block held[8];
    int n = 0;
    for (;;) {
        const char *pool = rand_r(&seed) % 3 == 0 ? "shared" : "default";
        mempool_block b;
        mempool_handle h;
        if (mempool_alloc(c, pool, (1 + rand_r(&seed) % 64) * 4 * KiB, 0, &b) == 0) {
            memset(b.addr, 0xee, b.size);
            if (rand_r(&seed) % 2)
                mempool_share(c, &b, MEMPOOL_READ, &h);
            if (n == 8)
                mempool_release(c, &held[--n]);
            held[n++] = b;
        }
        if (n > 0 && rand_r(&seed) % 3 == 0)
            mempool_release(c, &held[--n]);
    }
}

static void baseline(int *fds, int *memfds, uint64_t *memfd_bytes)
{
    *fds = fixture_fd_count(&fx);
    daemon_memfds(memfds, memfd_bytes);
}

START_TEST(three_hundred_clients_killed_anywhere_leave_nothing)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
    int fds0, memfds0;
    uint64_t bytes0;
    baseline(&fds0, &memfds0, &bytes0);
    unsigned seed = 42;
    for (int round = 0; round < 10; round++) {
        pid_t kids[30];
        for (int i = 0; i < 30; i++) {
            fflush(NULL);
            kids[i] = fork();
            ck_assert_int_ge(kids[i], 0);
            if (kids[i] == 0)
                _exit(churn_until_killed((void *)(uintptr_t)(round * 30 + i + 1)));
        }
        for (int i = 0; i < 30; i++) {
            sleep_ms(rand_r(&seed) % 4);
            kill(kids[i], SIGKILL);
        }
        for (int i = 0; i < 30; i++)
            waitpid(kids[i], NULL, 0);
    }
    ck_assert_uint_eq(wait_in_use(c, "default", 0), 0);
    ck_assert_uint_eq(wait_in_use(c, "shared", 0), 0);
    /* Warm memory goes back to the OS: what is left must be the baseline. */
    free(admin("scavenge"));
    ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
    ck_assert_uint_eq(info.warm, 0);
    int fds, memfds;
    uint64_t bytes;
    fds = wait_fd_count(&fx, fds0);
    daemon_memfds(&memfds, &bytes);
    fprintf(stderr, "hostile: after 300 kills: fds %d (baseline %d), memfds %d (%d), memfd bytes "
            "%llu (%llu)\n", fds, fds0, memfds, memfds0, (unsigned long long)bytes,
            (unsigned long long)bytes0);
    ck_assert_int_eq(fds, fds0);
    ck_assert_int_eq(memfds, memfds0);
    ck_assert_uint_eq(bytes, bytes0);
    mempool_disconnect(c);
}
END_TEST

/* ---- a flood of requests never stops the scavenger ------------------------------ */

/* nobody's client sends one cheap request after another, so that the
 * loop nearly always has one waiting: a scavenger slice ends after its
 * first piece whenever a request waits. Says it is running (one byte on
 * `ready`) after its first reply. */
static int flood_until_killed(int ready)
{
    mempool_client *c;
    mempool_info info;
    if (!drop_to_uid(65534) || mempool_connect(fx.socket, &c) != 0 ||
        mempool_pool_info(c, "default", &info) != 0)
        return 10;
    if (write(ready, "x", 1) != 1)
        return 11;
    for (;;)
        if (mempool_pool_info(c, "default", &info) != 0)
            return 12;
}

/* Three of nobody's clients keep the loop busy with requests while root
 * asks for a forced scavenge of 64 MiB of warm blocks: the scavenge must
 * finish (a slice always does its first piece, so a flood slows it but
 * never stops it), every warm byte must leave the daemon's memfds, and
 * root is still served meanwhile. How long it took is printed, never
 * asserted. */
static uint64_t now_ns(void);

START_TEST(a_flood_of_requests_never_stops_the_scavenger)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b[32];
    for (int i = 0; i < 32; i++) {
        ck_assert_int_eq(mempool_alloc(c, "default", 2 * MiB, 0, &b[i]), 0);
        memset(b[i].addr, 0x5a, b[i].size);
    }
    for (int i = 0; i < 32; i++)
        ck_assert_int_eq(mempool_release(c, &b[i]), 0);
    ck_assert_int_eq(mempool_trim(c), 0); /* the library's cache too */
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
    ck_assert_uint_ge(info.warm, 60 * MiB);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        fflush(NULL);
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0)
            _exit(flood_until_killed(ready[1]));
    }
    char x;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(read(ready[0], &x, 1), 1);
    uint64_t t0 = now_ns();
    char *reply = admin("scavenge");
    uint64_t took = now_ns() - t0;
    ck_assert_ptr_nonnull(strstr(reply, "released"));
    free(reply);
    ck_assert_int_eq(mempool_alloc(c, "default", 64 * KiB, 0, &b[0]), 0); /* root is served */
    ck_assert_int_eq(mempool_release(c, &b[0]), 0);
    for (int i = 0; i < 3; i++) {
        int status;
        ck_assert_int_eq(waitpid(kids[i], &status, WNOHANG), 0); /* flooding till the end */
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    close(ready[0]);
    close(ready[1]);
    ck_assert_int_eq(mempool_trim(c), 0);
    ck_assert_int_eq(mempool_pool_info(c, "default", &info), 0);
    ck_assert_uint_le(info.warm, 64 * KiB); /* at most root's last block since */
    int memfds;
    uint64_t bytes;
    daemon_memfds(&memfds, &bytes);
    fprintf(stderr, "hostile: forced scavenge of 64 MiB under a flood of three clients: %.1f ms; "
            "memfd bytes left %llu\n", (double)took / 1e6, (unsigned long long)bytes);
    ck_assert_uint_le(bytes, 64 * KiB);
    mempool_disconnect(c);
}
END_TEST

/* ---- a departed client's blocks go back in slices ------------------------------ */

static const char crowd_pools[] =
    "pools:\n"
    "  - name: crowd\n"
    "    reserve: 1GiB\n"
    "    limit: 512MiB\n"
    "    isolation: pool\n";

static void crowd_setup(void) { fixture_start(&fx, crowd_pools); }

static int hold_many_blocks(void *arg)
{
    hog *h = arg;
    mempool_client *c;
    mempool_block b;
    if (!drop_to_uid(h->uid) || mempool_connect(fx.socket, &c) != 0)
        return 10;
    int n = 0, rc = 0;
    while (n < h->limit && (rc = mempool_alloc(c, "crowd", 4 * KiB, 0, &b)) == 0)
        n++;
    report(h->ready_fd, n);
    report(h->ready_fd, rc);
    pause();
    return 0;
}

/* The admin stats' clients.departing_bytes. */
static uint64_t departing_bytes(void)
{
    char *reply = admin("stats");
    const char *at = strstr(reply, "\"departing_bytes\":");
    ck_assert_msg(at != NULL, "%s", reply);
    uint64_t bytes = strtoull(at + strlen("\"departing_bytes\":"), NULL, 10);
    free(reply);
    return bytes;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A client of nobody's holding 60,000 blocks is killed. Letting go of
 * them all takes the daemon a long time; a bystander must be answered
 * while it does, not after. What proves it (no clock involved): replies
 * to the bystander and to the admin socket that show the departed
 * client's blocks partly given back. The round trips' times are printed,
 * not checked. */
START_TEST(a_departed_client_with_60000_blocks_never_stalls_a_bystander)
{
    int got, rc;
    hog nobody = { .uid = 65534, .limit = 60000 };
    pid_t pid = start_hog(hold_many_blocks, &nobody, &got, &rc);
    ck_assert_msg(got == 60000, "nobody got %d blocks: %s", got, mempool_err_name(rc));
    uint64_t full = (uint64_t)got * 4 * KiB;
    mempool_client *c = connect_or_die(&fx);
    mempool_info info;
    ck_assert_int_eq(mempool_pool_info(c, "crowd", &info), 0);
    ck_assert_uint_eq(info.in_use, full);
    uint64_t killed = now_ns(), worst = 0, last = 0;
    kill(pid, SIGKILL);
    int partly = 0, admin_partly = 0, samples = 0;
    while (info.in_use > 0 && now_ns() - killed < 60000000000ULL) {
        uint64_t t0 = now_ns();
        ck_assert_int_eq(mempool_pool_info(c, "crowd", &info), 0);
        uint64_t rtt = now_ns() - t0;
        worst = rtt > worst ? rtt : worst;
        samples++;
        if (info.in_use > 0 && info.in_use < full) {
            partly++;
            last = now_ns();
            uint64_t dep = departing_bytes();
            admin_partly += dep > 0 && dep < full;
        }
    }
    waitpid(pid, NULL, 0);
    fprintf(stderr, "hostile: 60000 blocks of a killed client: %d bystander replies, %d of them "
            "mid-teardown (%d admin stats too), worst round trip %llu us, last partial reply "
            "%llu ms after the kill\n", samples, partly, admin_partly,
            (unsigned long long)(worst / 1000),
            (unsigned long long)(last > killed ? (last - killed) / 1000000 : 0));
    ck_assert_uint_eq(info.in_use, 0);
    ck_assert_int_gt(partly, 0);
    ck_assert_int_gt(admin_partly, 0);
    ck_assert_uint_eq(departing_bytes(), 0);
    mempool_disconnect(c);
}
END_TEST

int main(void)
{
    if (!running_as_root()) {
        fprintf(stderr, "hostile: every check changes uid, which needs root: skipped\n");
        return 77;
    }
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, one_uid_cannot_take_every_block_backing);
    tcase_add_test(tc, one_uid_cannot_take_every_connection);
    tcase_add_test(tc, eight_uids_each_get_their_whole_share_and_root_its_reserve);
    tcase_add_test(tc, eight_uids_each_get_their_whole_share_of_connections);
    tcase_add_test(tc, sharing_one_block_again_and_again_costs_nothing);
    tcase_add_test(tc, pool_isolation_keeps_its_limit_and_its_zeros);
    tcase_add_test(tc, a_client_rewriting_outside_its_blocks_cannot_flood_the_log);
    tcase_add_test(tc, uid_isolation_is_not_bounded_by_descriptors);
    tcase_add_test(tc, uid_isolation_shows_no_byte_of_another_uid);
    tcase_add_test(tc, a_reload_never_asks_for_more_descriptors_than_the_os_gives);
    tcase_add_test(tc, three_hundred_clients_killed_anywhere_leave_nothing);
    tcase_add_test(tc, a_flood_of_requests_never_stops_the_scavenger);
    suite_add_tcase(s, tc);
    TCase *crowd = tcase_create("departed");
    tcase_add_checked_fixture(crowd, crowd_setup, teardown);
    tcase_set_timeout(crowd, 120);
    tcase_add_test(crowd, a_departed_client_with_60000_blocks_never_stalls_a_bystander);
    suite_add_tcase(s, crowd);
    return check_run(s);
}
