/* The admin socket and mempoolctl against a real mempoold: every command's
 * reply parsed with a real JSON parser (jansson), the figures checked
 * against what the test did and against what the kernel reports (the
 * daemon's memfds' st_blocks), reload, access, bad input, a client that
 * never reads, and mempoolctl's tables checked against the JSON. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "../prom_syntax.h"
#include "harness.h"

#define KiB 1024ULL
#define MiB (1024ULL * 1024)

/* The background scavenger leaves warm memory alone for the length of a
 * test (idle 10m, retain 1GiB): only the admin command releases it. */
static const char pools[] =
    "scavenger: { idle: 10m, retain: 1GiB }\n"
    "pools:\n"
    "  - name: default\n"
    "    reserve: 4GiB\n"
    "    limit: 256MiB\n"
    "    quota: 128MiB\n"
    "    max_block: 64MiB\n"
    "  - name: shared\n"
    "    reserve: 1GiB\n"
    "    limit: 64MiB\n"
    "    isolation: pool\n";

static fixture fx;

static void setup(void) { fixture_start(&fx, pools); }
static void teardown(void) { fixture_cleanup(&fx); }

/* ---- talking to the admin socket ----------------------------------------- */

static struct sockaddr_un unix_address(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    return sa;
}

static int admin_connect(const char *path)
{
    struct sockaddr_un sa = unix_address(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    /* A reply that never comes fails the test instead of hanging it. */
    struct timeval tv = { .tv_sec = 20 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s", path,
                  strerror(errno));
    return fd;
}

static void send_text(int fd, const char *text, size_t len)
{
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
}

/* Reads one line (without its '\n') into a fresh buffer; NULL at EOF. */
static char *read_line(int fd)
{
    size_t cap = 4096, len = 0;
    char *line = malloc(cap);
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n <= 0) {
            free(line);
            return NULL;
        }
        if (c == '\n') {
            line[len] = '\0';
            return line;
        }
        if (len + 2 > cap)
            line = realloc(line, cap *= 2);
        line[len++] = c;
    }
}

static json_t *parse_line(const char *line)
{
    json_error_t err;
    json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(v != NULL, "not JSON (%s): %.200s", err.text, line);
    ck_assert(json_is_object(v));
    ck_assert(json_is_boolean(json_object_get(v, "ok")));
    return v;
}

static json_t *read_reply(int fd)
{
    char *line = read_line(fd);
    ck_assert_msg(line != NULL, "the daemon closed the connection without a reply");
    json_t *v = parse_line(line);
    free(line);
    return v;
}

/* The daemon closed the connection: EOF, or ECONNRESET where it closed
 * with commands of ours unread. */
static bool at_eof(int fd)
{
    char c;
    ssize_t n = read(fd, &c, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* One command on its own connection: the reply, then the daemon closes. */
static json_t *ask(const char *command)
{
    int fd = admin_connect(fx.admin_socket);
    send_text(fd, command, strlen(command));
    send_text(fd, "\n", 1);
    shutdown(fd, SHUT_WR);
    json_t *v = read_reply(fd);
    ck_assert(at_eof(fd));
    close(fd);
    return v;
}

static json_t *ask_ok(const char *command)
{
    json_t *v = ask(command);
    ck_assert_msg(json_is_true(json_object_get(v, "ok")), "%s: %s", command,
                  json_string_value(json_object_get(v, "error")));
    return v;
}

static void expect_code(json_t *v, const char *code)
{
    ck_assert(json_is_false(json_object_get(v, "ok")));
    ck_assert_str_eq(json_string_value(json_object_get(v, "code")), code);
    ck_assert(json_is_string(json_object_get(v, "error")));
    json_decref(v);
}

static uint64_t u64(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return (uint64_t)json_integer_value(v);
}

static json_t *pool_json(const char *name)
{
    char command[96];
    snprintf(command, sizeof command, "pool %s", name);
    json_t *v = ask_ok(command);
    json_t *p = json_incref(json_object_get(v, "pool"));
    json_decref(v);
    return p;
}

static uint64_t pool_figure(const char *name, const char *key)
{
    json_t *p = pool_json(name);
    uint64_t v = u64(p, key);
    json_decref(p);
    return v;
}

/* ---- what the kernel says ------------------------------------------------ */

/* Bytes the OS holds for the daemon's memfds (st_blocks, each inode once). */
static uint64_t daemon_memfd_bytes(void)
{
    char dir[64], link[384], target[256];
    ino_t seen[4096];
    size_t nseen = 0;
    uint64_t bytes = 0;
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)fx.pid);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        struct stat st;
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0 || strncmp(target, "/memfd:", 7) != 0 || stat(link, &st) != 0)
            continue;
        bool dup = false;
        for (size_t i = 0; i < nseen; i++)
            dup |= seen[i] == st.st_ino;
        if (!dup && nseen < 4096) {
            seen[nseen++] = st.st_ino;
            bytes += (uint64_t)st.st_blocks * 512;
        }
    }
    closedir(d);
    return bytes;
}

static uint64_t daemon_rss_kib(void)
{
    char path[64], line[256];
    unsigned long long kib = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)fx.pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static bool log_has(const char *needle)
{
    char line[1024];
    bool found = false;
    FILE *f = fopen(fx.log, "r");
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, needle) != NULL;
    if (f != NULL)
        fclose(f);
    return found;
}

/* ---- every command ------------------------------------------------------- */

START_TEST(every_command_in_help_replies_with_json)
{
    json_t *help = ask_ok("help");
    json_t *cmds = json_object_get(help, "commands");
    ck_assert_uint_ge(json_array_size(cmds), 12);
    size_t i;
    json_t *cmd;
    json_array_foreach(cmds, i, cmd) {
        const char *name = json_string_value(json_object_get(cmd, "name"));
        const char *args = json_string_value(json_object_get(cmd, "args"));
        ck_assert(json_is_boolean(json_object_get(cmd, "changes_state")));
        if (strcmp(name, "shutdown") == 0)
            continue; /* has its own test */
        char line[128];
        const char *arg = strcmp(args, "NAME") == 0    ? " default"
                          : strcmp(args, "LEVEL") == 0 ? " info"
                                                       : "";
        snprintf(line, sizeof line, "%s%s", name, arg);
        json_decref(ask_ok(line));
    }
    json_decref(help);
    json_t *v = ask_ok("version");
    ck_assert_str_eq(json_string_value(json_object_get(v, "version")), MEMPOOL_VERSION_STRING);
    ck_assert_uint_eq(u64(v, "pid"), (uint64_t)fx.pid);
    json_decref(v);
}
END_TEST

START_TEST(stats_count_requests_and_memory)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 2 * MiB, 0, &b), 0);
    json_t *v = ask_ok("stats");
    json_t *clients = json_object_get(v, "clients");
    ck_assert_uint_eq(u64(clients, "connected"), 1);
    ck_assert_uint_ge(u64(clients, "total"), 2); /* the harness's probe and c */
    ck_assert_uint_ge(u64(json_object_get(v, "requests"), "alloc"), 1);
    ck_assert_uint_ge(u64(json_object_get(v, "requests"), "hello"), 2);
    json_t *mem = json_object_get(v, "memory");
    ck_assert_uint_ge(u64(mem, "reserved"), 5 * 1024 * MiB - 2 * MiB);
    ck_assert_uint_ge(u64(mem, "ready"), 2 * MiB);
    json_t *os = json_object_get(mem, "os_footprint");
    ck_assert_str_eq(json_string_value(json_object_get(os, "name")), "rss");
    ck_assert_uint_gt(u64(os, "bytes"), 0);
    ck_assert_uint_eq(u64(json_object_get(v, "pools"), "in_use"), 2 * MiB);
    ck_assert(json_is_object(json_object_get(v, "scavenger")));
    json_decref(v);
    mempool_disconnect(c);
}
END_TEST

/* The daemon's clock for wall times: time() reads a coarser one, which
 * can still show the second before. */
static uint64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

START_TEST(pool_and_clients_show_what_was_allocated)
{
    uint64_t before_ms = realtime_ms();
    setenv("MEMPOOL_CLIENT_NAME", "admin-test", 1);
    mempool_client *c = connect_or_die(&fx);
    unsetenv("MEMPOOL_CLIENT_NAME");
    mempool_block a, b;
    ck_assert_int_eq(mempool_alloc(c, "default", 3 * MiB, 0, &a), 0);
    ck_assert_int_eq(mempool_alloc(c, "shared", 1 * MiB, 0, &b), 0);
    json_t *p = pool_json("default");
    ck_assert_uint_eq(u64(p, "in_use"), 3 * MiB);
    ck_assert_uint_eq(u64(p, "blocks"), 1);
    ck_assert_uint_eq(u64(p, "holders"), 1);
    ck_assert_uint_eq(u64(p, "limit"), 256 * MiB);
    ck_assert_uint_eq(u64(p, "reserve"), 4096 * MiB);
    ck_assert_uint_le(u64(p, "largest_free_run"), u64(p, "free_bytes"));
    ck_assert(json_is_boolean(json_object_get(p, "huge_pages")));
    json_decref(p);
    json_t *v = ask_ok("clients");
    uint64_t after_ms = realtime_ms();
    json_t *list = json_object_get(v, "clients");
    ck_assert_uint_eq(json_array_size(list), 1);
    json_t *me = json_array_get(list, 0);
    ck_assert_uint_eq(u64(me, "pid"), (uint64_t)getpid());
    ck_assert_uint_eq(u64(me, "uid"), (uint64_t)geteuid());
    ck_assert_uint_eq(u64(me, "gid"), (uint64_t)getegid());
    ck_assert_str_eq(json_string_value(json_object_get(me, "name")), "admin-test");
    ck_assert_uint_eq(u64(me, "blocks"), 2);
    ck_assert_uint_eq(u64(me, "bytes"), 4 * MiB);
    json_t *used = json_object_get(me, "pools");
    ck_assert_uint_eq(json_object_size(used), 2);
    ck_assert_uint_eq(u64(used, "default"), 3 * MiB);
    ck_assert_uint_eq(u64(used, "shared"), 1 * MiB);
    /* connected_since is connected_unix_ms in ISO 8601: when it connected. */
    uint64_t ms = u64(me, "connected_unix_ms");
    ck_assert_uint_ge(ms, before_ms);
    ck_assert_uint_le(ms, after_ms);
    char iso[40];
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", gmtime_r(&secs, &tm));
    snprintf(iso + strlen(iso), sizeof iso - strlen(iso), ".%03uZ", (unsigned)(ms % 1000));
    ck_assert_str_eq(json_string_value(json_object_get(me, "connected_since")), iso);
    json_decref(v);
    expect_code(ask("pool nosuchpool"), "no-such-pool");
    /* A second connection of the same uid: each connection's bytes, and
     * the uid's across both (what its quota counts). */
    mempool_client *c2 = connect_or_die(&fx);
    mempool_block a2;
    ck_assert_int_eq(mempool_alloc(c2, "default", 1 * MiB, 0, &a2), 0);
    json_t *pv = ask_ok("pool default");
    json_t *uids = json_object_get(pv, "uids");
    ck_assert_uint_eq(json_array_size(uids), 1);
    ck_assert_uint_eq(u64(json_array_get(uids, 0), "uid"), (uint64_t)geteuid());
    ck_assert_uint_eq(u64(json_array_get(uids, 0), "clients"), 2);
    ck_assert_uint_eq(u64(json_array_get(uids, 0), "bytes"), 4 * MiB);
    json_decref(pv);
    json_t *both = ask_ok("clients");
    for (size_t i = 0; i < 2; i++) {
        json_t *one = json_array_get(json_object_get(both, "clients"), i);
        ck_assert_uint_eq(u64(json_object_get(one, "uid_pools"), "default"), 4 * MiB);
    }
    json_decref(both);
    mempool_disconnect(c2);
    mempool_disconnect(c);
}
END_TEST

/* ---- scavenge ------------------------------------------------------------ */

static void make_warm(mempool_client *c, const char *pool, uint64_t size)
{
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, pool, size, 0, &b), 0);
    memset(b.addr, 0x5a, b.size);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_int_eq(mempool_trim(c), 0); /* out of the client's cache: warm */
}

START_TEST(scavenge_releases_warm_memory_to_the_os)
{
    mempool_client *c = connect_or_die(&fx);
    make_warm(c, "default", 8 * MiB);
    ck_assert_uint_eq(wait_in_use(c, "default", 0), 0);
    ck_assert_uint_eq(pool_figure("default", "warm"), 8 * MiB);
    uint64_t resident = pool_figure("default", "backing_resident");
    uint64_t memfds = daemon_memfd_bytes();
    ck_assert_uint_ge(resident, 8 * MiB);
    ck_assert_uint_ge(memfds, 8 * MiB);
    json_t *v = ask_ok("scavenge default");
    ck_assert_uint_eq(u64(v, "released"), 8 * MiB);
    json_decref(v);
    ck_assert_uint_eq(pool_figure("default", "warm"), 0);
    ck_assert_uint_ge(pool_figure("default", "released"), 8 * MiB);
    ck_assert_uint_le(pool_figure("default", "backing_resident"), resident - 8 * MiB);
    ck_assert_uint_le(daemon_memfd_bytes(), memfds - 8 * MiB);
    mempool_disconnect(c);
}
END_TEST

START_TEST(scavenge_takes_a_pool_and_a_byte_budget)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block a, b;
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * MiB, 0, &a), 0);
    ck_assert_int_eq(mempool_alloc(c, "default", 4 * MiB, 0, &b), 0);
    memset(a.addr, 1, a.size);
    memset(b.addr, 1, b.size);
    ck_assert_int_eq(mempool_release(c, &a), 0);
    ck_assert_int_eq(mempool_release(c, &b), 0);
    ck_assert_int_eq(mempool_trim(c), 0);
    ck_assert_uint_eq(wait_in_use(c, "default", 0), 0);
    ck_assert_uint_eq(pool_figure("default", "warm"), 8 * MiB);
    uint64_t memfds = daemon_memfd_bytes();
    json_t *v = ask_ok("scavenge default 4MiB");
    ck_assert_uint_eq(u64(v, "released"), 4 * MiB);
    json_decref(v);
    ck_assert_uint_eq(pool_figure("default", "warm"), 4 * MiB);
    ck_assert_uint_le(daemon_memfd_bytes(), memfds - 4 * MiB);
    /* A size alone: across every pool. */
    make_warm(c, "shared", 2 * MiB);
    v = ask_ok("scavenge 64MiB");
    ck_assert_uint_eq(u64(v, "released"), 6 * MiB);
    json_decref(v);
    ck_assert_uint_eq(pool_figure("default", "warm") + pool_figure("shared", "warm"), 0);
    /* A command after a scavenge on the same connection waits its turn. */
    make_warm(c, "shared", 1 * MiB);
    int fd = admin_connect(fx.admin_socket);
    send_text(fd, "scavenge shared\nversion\n", 24);
    v = read_reply(fd);
    ck_assert_uint_eq(u64(v, "released"), 1 * MiB);
    ck_assert_uint_eq(u64(json_array_get(json_object_get(v, "pools"), 0), "warm"), 0);
    json_decref(v);
    v = read_reply(fd);
    ck_assert(json_is_string(json_object_get(v, "version")));
    json_decref(v);
    close(fd);
    expect_code(ask("scavenge nosuchpool"), "no-such-pool");
    expect_code(ask("scavenge default lots"), "bad-arguments");
    /* Zero bytes asked for: nothing released. */
    make_warm(c, "default", 1 * MiB);
    v = ask_ok("scavenge default 0B");
    ck_assert_uint_eq(u64(v, "released"), 0);
    json_decref(v);
    ck_assert_uint_eq(pool_figure("default", "warm"), 1 * MiB);
    /* A last line without its newline, the writing side then shut: the
     * reply still comes once the scavenger is done. */
    fd = admin_connect(fx.admin_socket);
    send_text(fd, "scavenge default", 16);
    shutdown(fd, SHUT_WR);
    v = read_reply(fd);
    ck_assert_uint_eq(u64(v, "released"), 1 * MiB);
    json_decref(v);
    ck_assert(at_eof(fd));
    close(fd);
    mempool_disconnect(c);
}
END_TEST

/* ---- reload, policy, log-level ------------------------------------------- */

static bool array_has(json_t *array, const char *needle)
{
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item) {
        if (strstr(json_string_value(item), needle) != NULL)
            return true;
    }
    return false;
}

static void rewrite_default_pool(const char *limit, const char *reserve, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text,
             "scavenger: { idle: 10m, retain: 1GiB }\n"
             "pools:\n"
             "  - name: default\n    reserve: %s\n    limit: %s\n    quota: 128MiB\n"
             "    max_block: 64MiB\n%s"
             "  - name: shared\n    reserve: 1GiB\n    limit: 64MiB\n    isolation: pool\n",
             reserve, limit, extra);
    fixture_write_policy(&fx, text);
}

START_TEST(reload_applies_a_valid_change)
{
    rewrite_default_pool("128MiB", "4GiB", "");
    json_t *v = ask_ok("reload");
    ck_assert_msg(array_has(json_object_get(v, "changes"), "pools[default].limit"),
                  "changes: %s", json_dumps(v, 0));
    json_decref(v);
    ck_assert_uint_eq(pool_figure("default", "limit"), 128 * MiB);
    v = ask_ok("reload");
    ck_assert_uint_eq(json_array_size(json_object_get(v, "changes")), 0);
    json_decref(v);
}
END_TEST

START_TEST(reload_of_an_invalid_file_keeps_the_running_policy)
{
    rewrite_default_pool("128MiB", "4GiB", "    limitt: 1GiB\n");
    json_t *v = ask("reload");
    json_t *errors = json_object_get(v, "errors");
    ck_assert_uint_ge(json_array_size(errors), 1);
    ck_assert_msg(array_has(errors, "policy.yaml:") && array_has(errors, "limitt"), "%s",
                  json_dumps(v, 0));
    expect_code(v, "invalid-policy");
    ck_assert_uint_eq(pool_figure("default", "limit"), 256 * MiB);
    /* A reserve cannot change under running clients. */
    rewrite_default_pool("256MiB", "8GiB", "");
    v = ask("reload");
    ck_assert(array_has(json_object_get(v, "needs_restart"), "pools[default].reserve"));
    expect_code(v, "needs-restart");
    ck_assert_uint_eq(pool_figure("default", "reserve"), 4096 * MiB);
    /* And the old policy keeps serving. */
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 1 * MiB, 0, &b), 0);
    mempool_disconnect(c);
}
END_TEST

START_TEST(policy_is_the_effective_policy_as_yaml)
{
    json_t *v = ask_ok("policy");
    const char *yaml = json_string_value(json_object_get(v, "yaml"));
    ck_assert_ptr_nonnull(strstr(yaml, "\"default\""));
    ck_assert_ptr_nonnull(strstr(yaml, "max_clients: 1024"));
    /* It is a policy mempoold accepts. */
    char path[160];
    snprintf(path, sizeof path, "%s/effective.yaml", fx.dir);
    FILE *f = fopen(path, "w");
    fputs(yaml, f);
    fclose(f);
    char command[512];
    snprintf(command, sizeof command, "%s --check-config %s >/dev/null", MEMPOOLD_PATH, path);
    ck_assert_int_eq(system(command), 0);
    unlink(path);
    json_decref(v);
}
END_TEST

START_TEST(log_level_changes_what_is_logged)
{
    json_t *v = ask_ok("log-level warn");
    ck_assert_str_eq(json_string_value(json_object_get(v, "previous")), "debug");
    json_decref(v);
    ck_assert(log_has("'log-level warn' from uid"));
    mempool_client *c = connect_or_die(&fx);
    mempool_disconnect(c);
    v = ask_ok("stats");
    ck_assert_str_eq(json_string_value(json_object_get(v, "log_level")), "warn");
    json_decref(v);
    expect_code(ask("log-level chatty"), "bad-arguments");
}
END_TEST

/* ---- metrics ------------------------------------------------------------- */

START_TEST(metrics_are_valid_prometheus_text)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 3 * MiB, 0, &b), 0);
    json_t *v = ask_ok("metrics");
    const char *text = json_string_value(json_object_get(v, "text"));
    ck_assert_uint_gt(strlen(text), 100);
    const char *bad = prom_bad_line(text);
    ck_assert_msg(bad == NULL, "not Prometheus text format: '%s'", bad);
    ck_assert_ptr_nonnull(
        strstr(text, "mempool_pool_bytes{pool=\"default\",state=\"in_use\"} 3145728\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nmempool_clients 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "mempool_memory_bytes{state=\"reserved\"} "));
    ck_assert_ptr_nonnull(strstr(text, "mempool_os_footprint_bytes{source=\"rss\"} "));
    json_decref(v);
    mempool_disconnect(c);
}
END_TEST

/* ---- access -------------------------------------------------------------- */

static int ask_as_nobody(void *arg)
{
    (void)arg;
    if (!drop_to_nobody())
        return 10;
    /* The refusal comes at once, before any command. */
    int fd = admin_connect(fx.admin_socket);
    char *line = read_line(fd);
    if (line == NULL)
        return 11;
    json_t *v = parse_line(line);
    if (!json_is_false(json_object_get(v, "ok")) ||
        strcmp(json_string_value(json_object_get(v, "code")), "access-denied") != 0)
        return 12;
    if (!at_eof(fd))
        return 13;
    return 0;
}

/* Runs fn as nobody against an admin socket anyone may connect to, so that
 * the daemon's own check is what refuses (the socket's mode would stop
 * nobody first). `steps` says what fn's exit statuses mean. Root only: the
 * callers are in the suite's root test case. */
static void run_as_nobody(int (*fn)(void *), const char *steps)
{
    ck_assert_int_eq(chmod(fx.admin_socket, 0666), 0);
    int status = run_child(fn, NULL);
    ck_assert_msg(exited_ok(status), "as nobody: failed at step %d (%s)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, steps);
}

START_TEST(a_uid_not_in_admin_users_is_refused)
{
    run_as_nobody(ask_as_nobody, "10: becoming nobody, 11: no line came, "
                                 "12: not an access-denied reply, 13: not closed after it");
    char needle[64];
    snprintf(needle, sizeof needle, "admin: refused uid %u", (unsigned)getpwnam("nobody")->pw_uid);
    ck_assert_msg(log_has(needle), "the refusal is logged with the uid");
    json_decref(ask_ok("version"));
}
END_TEST

/* ---- bad input ----------------------------------------------------------- */

START_TEST(an_overlong_line_gets_an_error_and_a_close)
{
    int fd = admin_connect(fx.admin_socket);
    char line[5001];
    memset(line, 'a', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    send_text(fd, line, sizeof line);
    expect_code(read_reply(fd), "line-too-long");
    ck_assert(at_eof(fd));
    close(fd);
    /* 4096 bytes is still a line. */
    fd = admin_connect(fx.admin_socket);
    char longest[4097];
    memset(longest, 'x', 4096);
    longest[4096] = '\n';
    send_text(fd, longest, sizeof longest);
    expect_code(read_reply(fd), "unknown-command");
    close(fd);
}
END_TEST

START_TEST(binary_garbage_gets_an_error_and_a_close)
{
    int fd = admin_connect(fx.admin_socket);
    static const char garbage[] = "\x00\x01\x02\xff\xfe\x80garbage\n";
    send_text(fd, garbage, sizeof garbage - 1);
    expect_code(read_reply(fd), "bad-input");
    ck_assert(at_eof(fd));
    close(fd);
}
END_TEST

/* Descriptors sent to the admin socket (the most one message carries) are
 * closed with the connection, which gets an error line: none stays open
 * in the daemon. */
START_TEST(descriptors_sent_to_the_admin_socket_are_closed)
{
    json_decref(ask("stats"));
    int before = fixture_fd_count(&fx);
    for (int round = 0; round < 3; round++) {
        int fd = admin_connect(fx.admin_socket);
        ck_assert_int_eq(send_with_fds(fd, "stats\n", 6, 253), 6);
        expect_code(read_reply(fd), "descriptors-refused");
        ck_assert(at_eof(fd));
        close(fd);
    }
    ck_assert_int_eq(wait_fd_count(&fx, before), before);
    json_decref(ask("stats"));
}
END_TEST

START_TEST(unknown_commands_and_pipelined_lines)
{
    int fd = admin_connect(fx.admin_socket);
    send_text(fd, "frobnicate\n", 11);
    expect_code(read_reply(fd), "unknown-command");
    /* The connection stays; three lines in one write, three replies in order;
     * CRLF and a blank line are fine. */
    send_text(fd, "version\r\n\npool shared\nstats\n", 29);
    json_t *v = read_reply(fd);
    ck_assert(json_is_string(json_object_get(v, "version")));
    json_decref(v);
    v = read_reply(fd);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "pool"), "name")),
                     "shared");
    json_decref(v);
    v = read_reply(fd);
    ck_assert(json_is_object(json_object_get(v, "memory")));
    json_decref(v);
    close(fd);
}
END_TEST

START_TEST(a_client_that_never_reads_does_not_stall_the_daemon)
{
    uint64_t rss_before = daemon_rss_kib();
    int fd = admin_connect(fx.admin_socket);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    char chunk[4096];
    for (size_t i = 0; i < sizeof chunk; i += 6)
        memcpy(chunk + i, "stats\n", sizeof chunk - i < 6 ? sizeof chunk - i : 6);
    /* Send until the daemon stops reading: its replies are not read, so it
     * must stop taking commands rather than queue replies without end. */
    size_t sent = 0;
    int stalls = 0;
    while (sent < 64 * MiB && stalls < 50) {
        ssize_t n = send(fd, chunk, sizeof chunk - sizeof chunk % 6, 0);
        if (n > 0) {
            sent += (size_t)n;
            stalls = 0;
        } else {
            ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
            stalls++;
            sleep_ms(10);
        }
    }
    ck_assert_msg(sent < 16 * MiB, "the daemon read %zu bytes of commands, its replies unread",
                  sent);
    /* Others are still served, admin and clients alike. */
    json_decref(ask_ok("version"));
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 1 * MiB, 0, &b), 0);
    mempool_disconnect(c);
    ck_assert_uint_lt(daemon_rss_kib(), rss_before + 32 * 1024);
    close(fd);
    json_decref(ask_ok("version"));
}
END_TEST

START_TEST(connections_are_limited)
{
    int fds[16];
    for (int i = 0; i < 16; i++) {
        fds[i] = admin_connect(fx.admin_socket);
        send_text(fds[i], "version\n", 8);
        json_decref(read_reply(fds[i]));
    }
    int extra = admin_connect(fx.admin_socket);
    expect_code(read_reply(extra), "too-many-connections");
    close(extra);
    for (int i = 0; i < 16; i++)
        close(fds[i]);
    for (int i = 0; i < 100; i++) {
        int fd = admin_connect(fx.admin_socket);
        send_text(fd, "version\n", 8);
        json_t *v = read_reply(fd);
        close(fd);
        bool ok = json_is_true(json_object_get(v, "ok"));
        json_decref(v);
        if (ok)
            return;
        sleep_ms(10); /* the daemon has not seen every close yet */
    }
    ck_abort_msg("closed connections were not counted out");
}
END_TEST

/* ---- shutdown ------------------------------------------------------------ */

START_TEST(shutdown_replies_then_stops_the_daemon)
{
    /* Lines after `shutdown` on its connection are not run. */
    int fd = admin_connect(fx.admin_socket);
    send_text(fd, "shutdown\nlog-level debug\n", 25);
    json_t *v = read_reply(fd);
    ck_assert(json_is_true(json_object_get(v, "stopping")));
    json_decref(v);
    ck_assert(at_eof(fd));
    close(fd);
    ck_assert(!log_has("'log-level debug'"));
    int status;
    ck_assert_int_eq(waitpid(fx.pid, &status, 0), fx.pid);
    fx.pid = 0;
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct stat st;
    ck_assert_int_ne(stat(fx.admin_socket, &st), 0);
}
END_TEST

/* ---- mempoolctl ---------------------------------------------------------- */

typedef struct ctl_result {
    int status; /* exit code, or -1 */
    char out[65536], err[4096];
} ctl_result;

static void read_all(int fd, char *buf, size_t len)
{
    size_t used = 0;
    ssize_t n;
    while (used + 1 < len && (n = read(fd, buf + used, len - 1 - used)) > 0)
        used += (size_t)n;
    buf[used] = '\0';
}

/* Runs mempoolctl with `args` (NULL-terminated, without argv[0]). */
static void run_ctl_at(const char *ctl, ctl_result *r, const char *const *args)
{
    int out[2], err[2];
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(err), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *argv[16] = { "mempoolctl" };
        for (int i = 0; args[i] != NULL && i < 14; i++)
            argv[i + 1] = args[i];
        dup2(out[1], 1);
        dup2(err[1], 2);
        execv(ctl, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    read_all(out[0], r->out, sizeof r->out);
    read_all(err[0], r->err, sizeof r->err);
    close(out[0]);
    close(err[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void run_ctl(ctl_result *r, const char *const *args)
{
    run_ctl_at(MEMPOOLCTL_PATH, r, args);
}

/* mempoolctl's size rule: whole units as they are, else one decimal. */
static void fmt_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;
    uint64_t scale = 1;
    while (u < 4 && bytes >= scale * 1024) {
        scale *= 1024;
        u++;
    }
    if (bytes % scale == 0)
        snprintf(buf, len, "%llu%s", (unsigned long long)(bytes / scale), units[u]);
    else
        snprintf(buf, len, "%.1f%s", (double)bytes / (double)scale, units[u]);
}

/* The whitespace-separated words of the line of `text` whose first word
 * is `first`; returns their count. */
static int row_words(const char *text, const char *first, char words[][128], int max)
{
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        char copy[1024];
        snprintf(copy, sizeof copy, "%.*s", (int)n, line);
        int count = 0;
        for (char *save, *w = strtok_r(copy, " ", &save); w != NULL && count < max;
             w = strtok_r(NULL, " ", &save))
            snprintf(words[count++], 128, "%s", w);
        if (count > 0 && strcmp(words[0], first) == 0)
            return count;
        line += n + (end != NULL);
    }
    return 0;
}

static void expect_size_word(const char *word, json_t *obj, const char *key)
{
    char want[32];
    fmt_size(u64(obj, key), want, sizeof want);
    ck_assert_msg(strcmp(word, want) == 0, "%s: table says %s, JSON %s", key, word, want);
}

static void expect_count_word(const char *word, json_t *obj, const char *key)
{
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)u64(obj, key));
    ck_assert_msg(strcmp(word, want) == 0, "%s: table says %s, JSON %s", key, word, want);
}

START_TEST(mempoolctl_pools_table_matches_the_json)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 3 * MiB + 512 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_alloc(c, "shared", 64 * KiB, 0, &b), 0);
    json_t *v = ask_ok("pools");
    ctl_result r;
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "pools", NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    char words[16][128];
    ck_assert_int_eq(row_words(r.out, "POOL", words, 16), 13);
    static const char *const size_keys[] = { "reserve", "limit", "in_use", "warm", "released" };
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(v, "pools"), i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        ck_assert_int_eq(row_words(r.out, name, words, 16), 13);
        for (int k = 0; k < 5; k++)
            expect_size_word(words[1 + k], p, size_keys[k]);
        expect_count_word(words[6], p, "blocks");
        expect_count_word(words[7], p, "holders");
        expect_size_word(words[8], p, "free_bytes");
        expect_size_word(words[9], p, "largest_free_run");
        expect_size_word(words[10], p, "page_size");
        ck_assert_str_eq(words[11], json_is_true(json_object_get(p, "huge_pages")) ? "yes" : "no");
        expect_size_word(words[12], p, "backing_resident");
    }
    ck_assert_ptr_nonnull(strstr(r.out, "3.5MiB"));
    json_decref(v);
    mempool_disconnect(c);
}
END_TEST

/* `names`: one row per name, the cells as the JSON says. */
START_TEST(mempoolctl_names_table_matches_the_json)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 3 * MiB + 512 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_publish(c, &b, "cam/0.frame", MEMPOOL_READ | MEMPOOL_WRITE), 0);
    ck_assert_int_eq(mempool_alloc(c, "shared", 64 * KiB, 0, &b), 0);
    ck_assert_int_eq(mempool_publish(c, &b, "model:weights", MEMPOOL_READ), 0);
    json_t *v = ask_ok("names");
    ck_assert_int_eq(json_array_size(json_object_get(v, "names")), 2);
    ctl_result r;
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "names", NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    char words[16][128];
    ck_assert_int_eq(row_words(r.out, "NAME", words, 16), 7);
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(v, "names"), i, n) {
        const char *name = json_string_value(json_object_get(n, "name"));
        ck_assert_int_eq(row_words(r.out, name, words, 16), 7);
        ck_assert_str_eq(words[1], json_string_value(json_object_get(n, "pool")));
        expect_size_word(words[2], n, "size");
        expect_count_word(words[3], n, "publisher_uid");
        ck_assert_str_eq(words[4], json_string_value(json_object_get(n, "prot")));
        expect_count_word(words[6], n, "block");
    }
    ck_assert_ptr_nonnull(strstr(r.out, "3.5MiB"));
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "names", "shared", NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_int_eq(row_words(r.out, "model:weights", words, 16), 7);
    ck_assert_int_eq(row_words(r.out, "cam/0.frame", words, 16), 0);
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "names", "nopool", NULL });
    ck_assert_int_eq(r.status, 1);
    json_decref(v);
    mempool_disconnect(c);
}
END_TEST

START_TEST(mempoolctl_stats_match_the_json)
{
    mempool_client *c = connect_or_die(&fx);
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 5 * MiB, 0, &b), 0);
    json_t *v = ask_ok("stats");
    ctl_result r;
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "stats", NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    char words[16][128];
    json_t *mem = json_object_get(v, "memory");
    static const char *const states[] = { "reserved", "prepared", "ready" };
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(row_words(r.out, states[k], words, 16), 2);
        expect_size_word(words[1], mem, states[k]);
    }
    ck_assert_int_eq(row_words(r.out, "rss", words, 16), 2);
    ck_assert_int_eq(row_words(r.out, "in_use", words, 16), 2);
    expect_size_word(words[1], json_object_get(v, "pools"), "in_use");
    ck_assert_int_eq(row_words(r.out, "warm", words, 16), 2);
    expect_size_word(words[1], json_object_get(v, "pools"), "warm");
    ck_assert_int_eq(row_words(r.out, "released", words, 16), 2);
    expect_size_word(words[1], json_object_get(v, "scavenger"), "released");
    ck_assert_int_ge(row_words(r.out, "clients", words, 16), 2);
    expect_count_word(words[1], json_object_get(v, "clients"), "connected");
    ck_assert_int_eq(row_words(r.out, "pid", words, 16), 2);
    expect_count_word(words[1], v, "pid");
    json_decref(v);
    mempool_disconnect(c);
}
END_TEST

START_TEST(mempoolctl_clients_table_matches_the_json)
{
    setenv("MEMPOOL_CLIENT_NAME", "table-test", 1);
    mempool_client *c = connect_or_die(&fx);
    unsetenv("MEMPOOL_CLIENT_NAME");
    mempool_block b;
    ck_assert_int_eq(mempool_alloc(c, "default", 2 * MiB, 0, &b), 0);
    ck_assert_int_eq(mempool_alloc(c, "shared", 256 * KiB, 0, &b), 0);
    json_t *v = ask_ok("clients");
    json_t *me = json_array_get(json_object_get(v, "clients"), 0);
    ctl_result r;
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "clients", NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    char words[16][128], id[32];
    ck_assert_int_eq(row_words(r.out, "ID", words, 16), 9);
    snprintf(id, sizeof id, "%llu", (unsigned long long)u64(me, "id"));
    ck_assert_int_eq(row_words(r.out, id, words, 16), 9);
    expect_count_word(words[1], me, "pid");
    expect_count_word(words[2], me, "uid");
    expect_count_word(words[3], me, "gid");
    expect_count_word(words[4], me, "blocks");
    expect_size_word(words[5], me, "bytes");
    const char *since = json_string_value(json_object_get(me, "connected_since"));
    ck_assert_int_eq(strncmp(words[6], since, 19), 0);
    ck_assert_str_eq(words[7], "default=2MiB,shared=256KiB");
    ck_assert_str_eq(words[8], "table-test");
    json_decref(v);
    mempool_disconnect(c);
}
END_TEST

START_TEST(mempoolctl_exit_codes_and_messages)
{
    ctl_result r;
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "pool", "nosuchpool", NULL });
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no pool named 'nosuchpool'"));
    run_ctl(&r, (const char *[]){ NULL });
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "usage:"));
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.sock", fx.dir);
    run_ctl(&r, (const char *[]){ "-s", missing, "stats", NULL });
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, missing));
    ck_assert_ptr_nonnull(strstr(r.err, "is mempoold running?"));
    /* The daemon gone, its socket file left: nothing answers. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = unix_address(missing);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    run_ctl(&r, (const char *[]){ "-s", missing, "stats", NULL });
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "mempoold is not running"));
    unlink(missing);
    /* MEMPOOL_ADMIN_SOCKET names the socket; --json prints the reply. */
    setenv("MEMPOOL_ADMIN_SOCKET", fx.admin_socket, 1);
    run_ctl(&r, (const char *[]){ "--json", "pool", "shared", NULL });
    unsetenv("MEMPOOL_ADMIN_SOCKET");
    ck_assert_int_eq(r.status, 0);
    json_t *v = parse_line(r.out);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "pool"), "name")),
                     "shared");
    json_decref(v);
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "metrics", NULL });
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_null(prom_bad_line(r.out));
}
END_TEST

/* nobody runs a copy of mempoolctl in the test's folder: the build tree
 * may be where nobody cannot go (a clone under /root, mode 0700). */
static char ctl_copy[sizeof fx.dir + 16];

static int ctl_as_nobody(void *arg)
{
    (void)arg;
    if (!drop_to_nobody())
        return 10;
    if (access(ctl_copy, X_OK) != 0)
        return 13;
    ctl_result *r = malloc(sizeof *r);
    run_ctl_at(ctl_copy, r, (const char *[]){ "-s", fx.admin_socket, "stats", NULL });
    if (r->status != 1) {
        fprintf(stderr, "mempoolctl as nobody: status %d, said: %s\n", r->status, r->err);
        return 11;
    }
    if (strstr(r->err, "access denied") == NULL || strstr(r->err, fx.admin_socket) == NULL) {
        fprintf(stderr, "mempoolctl as nobody said: %s\n", r->err);
        return 12;
    }
    return 0;
}

START_TEST(mempoolctl_says_access_denied_with_the_path)
{
    char cmd[512];
    snprintf(ctl_copy, sizeof ctl_copy, "%s/mempoolctl", fx.dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 0755 '%s'", MEMPOOLCTL_PATH, ctl_copy,
             ctl_copy);
    ck_assert_int_eq(system(cmd), 0);
    run_as_nobody(ctl_as_nobody, "10: becoming nobody, 11: exit status not 1, "
                                 "12: no \"access denied\" with the socket's path, "
                                 "13: nobody cannot run the copy of mempoolctl");
    unlink(ctl_copy);
}
END_TEST

START_TEST(mempoolctl_watch_redraws_until_interrupted)
{
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out[1], 1);
        execl(MEMPOOLCTL_PATH, "mempoolctl", "-s", fx.admin_socket, "watch", "100ms", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char text[65536];
    size_t used = 0;
    int frames = 0;
    while (frames < 3 && used + 1 < sizeof text) {
        ssize_t n = read(out[0], text + used, sizeof text - 1 - used);
        ck_assert_int_gt(n, 0);
        used += (size_t)n;
        text[used] = '\0';
        frames = 0;
        for (const char *p = text; (p = strstr(p, "POOL ")) != NULL; p++)
            frames++;
    }
    kill(pid, SIGINT);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(out[0]);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_ptr_nonnull(strstr(text, "default "));
}
END_TEST

START_TEST(mempoolctl_help_and_version_need_no_daemon)
{
    ctl_result r;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.sock", fx.dir);
    run_ctl(&r, (const char *[]){ "-s", missing, "--version", NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "mempoolctl "));
    ck_assert_ptr_nonnull(strstr(r.out, "(protocol "));
    run_ctl(&r, (const char *[]){ "-s", missing, "--help", NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: mempoolctl"));
    ck_assert_ptr_nonnull(strstr(r.out, "watch [INTERVAL]"));
    ck_assert_str_eq(r.err, "");
}
END_TEST

START_TEST(mempoolctl_takes_options_after_the_command)
{
    ctl_result r;
    run_ctl(&r, (const char *[]){ "stats", "--json", "-s", fx.admin_socket, NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_t *v = parse_line(r.out);
    ck_assert(json_is_true(json_object_get(v, "ok")));
    ck_assert_ptr_nonnull(json_object_get(v, "uptime_ms"));
    json_decref(v);
    run_ctl(&r, (const char *[]){ "pool", "shared", "-s", fx.admin_socket, NULL });
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "isolation"));
}
END_TEST

/* A usage error exits 2 with the usage, whoever finds it: mempoolctl
 * (options, the interval) or the daemon (a command or arguments it does
 * not take). The daemon's refusals of a well-formed command stay 1. */
START_TEST(mempoolctl_usage_errors_exit_2)
{
    static const char *const cases[][4] = {
        { "stats", "--bogus", NULL },  { "-x", "stats", NULL },        { "stats", "-s", NULL },
        { "frobnicate", NULL },        { "pool", NULL },               { "watch", "nan", NULL },
        { "watch", "0x1", NULL },      { "watch", "1e3", NULL },       { "watch", "inf", NULL },
        { "watch", "2", "3", NULL },   { "watch", "50ms", NULL },      { "watch", "2s ", NULL },
    };
    ctl_result r;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[8] = { "-s", fx.admin_socket };
        for (int k = 0; cases[i][k] != NULL; k++)
            args[2 + k] = cases[i][k];
        run_ctl(&r, args);
        ck_assert_msg(r.status == 2, "case %zu (%s %s): exit %d, %s", i, cases[i][0],
                      cases[i][1] ? cases[i][1] : "", r.status, r.err);
        ck_assert_msg(strstr(r.err, "usage: mempoolctl") != NULL, "case %zu: %s", i, r.err);
    }
    run_ctl(&r, (const char *[]){ "-s", fx.admin_socket, "pool", "nosuchpool", NULL });
    ck_assert_int_eq(r.status, 1);
}
END_TEST

START_TEST(mempoolctl_names_the_client_socket)
{
    ctl_result r;
    run_ctl(&r, (const char *[]){ "-s", fx.socket, "stats", NULL });
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "client socket") != NULL && strstr(r.err, fx.socket) != NULL,
                  "%s", r.err);
    run_ctl(&r, (const char *[]){ "-s", fx.socket, "watch", NULL });
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "client socket") != NULL, "%s", r.err);
}
END_TEST

/* Where the client socket is a stream (macOS), mempoolctl's line reaches
 * the daemon's frame reader: it must be a whole header's worth of bytes,
 * so the daemon answers (a binary error frame) rather than waits, and the
 * binary answer must be recognized. A stand-in plays that daemon here. */
START_TEST(mempoolctl_knows_a_binary_reply_for_the_client_socket)
{
    char path[160];
    snprintf(path, sizeof path, "%s/stream-client.sock", fx.dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = unix_address(path);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = accept(lfd, NULL, NULL);
        unsigned char header[24], frame[24] = { 2, 0, 0, 0 };
        size_t got = 0;
        ssize_t n;
        while (got < sizeof header && (n = read(fd, header + got, sizeof header - got)) > 0)
            got += (size_t)n;
        (void)!write(fd, frame, sizeof frame);
        close(fd);
        _exit(got == sizeof header ? 0 : 1);
    }
    close(lfd);
    ctl_result r;
    run_ctl(&r, (const char *[]){ "-s", path, "stats", NULL });
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(exited_ok(status), "mempoolctl sent less than a frame header");
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "client socket") != NULL, "%s", r.err);
}
END_TEST

/* ---- watch --------------------------------------------------------------- */

typedef struct watcher {
    pid_t pid;
    int fd;
    char text[262144];
    size_t used;
} watcher;

static void watch_start(watcher *w, const char *interval)
{
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    w->used = 0;
    w->text[0] = '\0';
    w->pid = fork();
    ck_assert_int_ge(w->pid, 0);
    if (w->pid == 0) {
        dup2(out[1], 1);
        dup2(out[1], 2);
        execl(MEMPOOLCTL_PATH, "mempoolctl", "watch", interval, "-s", fx.admin_socket,
              (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    w->fd = out[0];
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Reads until `needle` has appeared `times` times after offset `from`;
 * false after ~30 s without it. The buffer wraps at its end, since only
 * recent text matters. */
static bool watch_until(watcher *w, size_t from, const char *needle, int times)
{
    for (int waited = 0; waited < 300;) {
        if (count_of(w->text + from, needle) >= times)
            return true;
        struct pollfd p = { .fd = w->fd, .events = POLLIN };
        if (poll(&p, 1, 100) == 0) {
            waited++;
            continue;
        }
        if (w->used + 4097 > sizeof w->text)
            return false;
        ssize_t n = read(w->fd, w->text + w->used, 4096);
        if (n <= 0)
            return false;
        w->used += (size_t)n;
        w->text[w->used] = '\0';
    }
    return false;
}

/* Interrupts watch; its exit status. */
static int watch_stop(watcher *w)
{
    int status;
    kill(w->pid, SIGINT);
    ck_assert_int_eq(waitpid(w->pid, &status, 0), w->pid);
    close(w->fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(mempoolctl_watch_survives_a_daemon_restart)
{
    static watcher w;
    watch_start(&w, "100ms");
    ck_assert_msg(watch_until(&w, 0, "\ndefault ", 2), "%s", w.text);
    ck_assert_int_eq(fixture_stop(&fx), 0);
    size_t stopped = w.used;
    ck_assert_msg(watch_until(&w, stopped, "mempoold is not answering", 2), "%s", w.text);
    fixture_restart(&fx);
    size_t restarted = w.used;
    ck_assert_msg(watch_until(&w, restarted, "reconnected", 1), "%s", w.text);
    ck_assert_msg(watch_until(&w, restarted, "\ndefault ", 2), "%s", w.text);
    /* Alive and drawing: not killed by SIGPIPE, not exited. */
    ck_assert_int_eq(waitpid(w.pid, NULL, WNOHANG), 0);
    ck_assert_int_eq(watch_stop(&w), 0);
}
END_TEST

START_TEST(mempoolctl_watch_fits_80_columns)
{
    static watcher w;
    setenv("COLUMNS", "80", 1);
    watch_start(&w, "100ms");
    unsetenv("COLUMNS");
    ck_assert_msg(watch_until(&w, 0, "\ndefault ", 3), "%s", w.text);
    ck_assert_int_eq(watch_stop(&w), 0);
    for (const char *p = w.text; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        ck_assert_msg(n <= 80, "a line of %zu columns: %.*s", n, (int)n, p);
        p += n + (p[n] == '\n');
    }
    char words[16][128];
    int ncols = row_words(w.text, "POOL", words, 16);
    ck_assert_msg(ncols >= 4 && ncols < 13, "%d columns:\n%s", ncols, w.text);
    ck_assert_str_eq(words[0], "POOL");
    ck_assert_ptr_nonnull(strstr(w.text, " IN_USE "));
}
END_TEST

/* On a terminal the width is the terminal's (TIOCGWINSZ), whatever
 * COLUMNS says: watch under a pseudo-terminal of 60 columns. */
START_TEST(mempoolctl_watch_fits_the_terminal)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(master, 0);
    ck_assert_int_eq(grantpt(master), 0);
    ck_assert_int_eq(unlockpt(master), 0);
    struct winsize ws = { .ws_row = 40, .ws_col = 60 };
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(slave, 0);
    ck_assert_int_eq(ioctl(slave, TIOCSWINSZ, &ws), 0);
    static watcher w;
    w.used = 0;
    w.text[0] = '\0';
    w.pid = fork();
    ck_assert_int_ge(w.pid, 0);
    if (w.pid == 0) {
        dup2(slave, 1);
        dup2(slave, 2);
        setenv("COLUMNS", "200", 1);
        execl(MEMPOOLCTL_PATH, "mempoolctl", "-s", fx.admin_socket, "watch", "100ms",
              (char *)NULL);
        _exit(127);
    }
    close(slave);
    w.fd = master;
    ck_assert_msg(watch_until(&w, 0, "\ndefault ", 3), "%s", w.text);
    ck_assert_int_eq(watch_stop(&w), 0);
    /* Lines end in "\r\n" on a terminal; the redraws start with the
     * clear-screen sequence, which takes no column. */
    int lines = 0;
    for (char *p = w.text; *p != '\0';) {
        if (strncmp(p, "\033[H\033[2J", 7) == 0)
            p += 7;
        size_t n = strcspn(p, "\r\n");
        ck_assert_msg(n <= 60, "a line of %zu columns on a 60-column terminal: %.*s", n, (int)n, p);
        lines += n > 0;
        p += n + strspn(p + n, "\r\n");
    }
    ck_assert_int_ge(lines, 9);
    ck_assert_ptr_nonnull(strstr(w.text, "POOL "));
}
END_TEST

int main(void)
{
    /* Tables are cut to $COLUMNS when it is set: the table checks read
     * whole tables, and the width test sets its own. */
    unsetenv("COLUMNS");
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("admin");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_command_in_help_replies_with_json);
    tcase_add_test(tc, stats_count_requests_and_memory);
    tcase_add_test(tc, pool_and_clients_show_what_was_allocated);
    tcase_add_test(tc, scavenge_releases_warm_memory_to_the_os);
    tcase_add_test(tc, scavenge_takes_a_pool_and_a_byte_budget);
    tcase_add_test(tc, reload_applies_a_valid_change);
    tcase_add_test(tc, reload_of_an_invalid_file_keeps_the_running_policy);
    tcase_add_test(tc, policy_is_the_effective_policy_as_yaml);
    tcase_add_test(tc, log_level_changes_what_is_logged);
    tcase_add_test(tc, metrics_are_valid_prometheus_text);
    tcase_add_test(tc, an_overlong_line_gets_an_error_and_a_close);
    tcase_add_test(tc, binary_garbage_gets_an_error_and_a_close);
    tcase_add_test(tc, unknown_commands_and_pipelined_lines);
    tcase_add_test(tc, descriptors_sent_to_the_admin_socket_are_closed);
    tcase_add_test(tc, a_client_that_never_reads_does_not_stall_the_daemon);
    tcase_add_test(tc, connections_are_limited);
    tcase_add_test(tc, shutdown_replies_then_stops_the_daemon);
    tcase_add_test(tc, mempoolctl_pools_table_matches_the_json);
    tcase_add_test(tc, mempoolctl_stats_match_the_json);
    tcase_add_test(tc, mempoolctl_clients_table_matches_the_json);
    tcase_add_test(tc, mempoolctl_exit_codes_and_messages);
    tcase_add_test(tc, mempoolctl_watch_redraws_until_interrupted);
    tcase_add_test(tc, mempoolctl_help_and_version_need_no_daemon);
    tcase_add_test(tc, mempoolctl_takes_options_after_the_command);
    tcase_add_test(tc, mempoolctl_usage_errors_exit_2);
    tcase_add_test(tc, mempoolctl_names_the_client_socket);
    tcase_add_test(tc, mempoolctl_knows_a_binary_reply_for_the_client_socket);
    tcase_add_test(tc, mempoolctl_watch_survives_a_daemon_restart);
    tcase_add_test(tc, mempoolctl_watch_fits_80_columns);
    tcase_add_test(tc, mempoolctl_watch_fits_the_terminal);
    tcase_add_test(tc, mempoolctl_names_table_matches_the_json);
    suite_add_tcase(s, tc);
    /* An admin client of another uid: the tests change uid (root only). */
    TCase *root = check_root_tcase("admin_as_root");
    tcase_add_checked_fixture(root, setup, teardown);
    tcase_add_test(root, a_uid_not_in_admin_users_is_refused);
    tcase_add_test(root, mempoolctl_says_access_denied_with_the_path);
    suite_add_tcase(s, root);
    return check_run(s);
}
