/* End-to-end checks of the Darwin build against a running mempoold (the
 * LaunchDaemon the macOS workflow installs, .github/workflows/macos.yml).
 * Compiled and linked by the cross-build; it can only run on a Mac, as
 * root (it reads the daemon's descriptors and footprint, and uses the
 * admin socket):
 *
 *   e2e_darwin [SOCKET [ADMIN_SOCKET [POOL]]]
 *       (defaults /var/run/mempoold.sock, /var/run/mempoold.admin.sock,
 *        default)
 *
 * Each check prints "ok: ..." or "FAIL: ..."; the exit status is the number
 * of failures (0: all passed). The checks:
 *   - a block shared between two processes: each sees the other's writes;
 *   - the rendezvous refuses a nonce that is not ours (-EPERM), and a
 *     service that never answers times out (-ETIMEDOUT) without leaving a
 *     port name behind (the send-once right of finding 4);
 *   - a read-only memory entry refuses a writable mach_vm_map;
 *   - the daemon's phys_footprint falls after `scavenge`;
 *   - no port-right growth in the client over many alloc/share/attach/
 *     release cycles (mach_port_names before and after);
 *   - descriptor stuffing: a message with 250 descriptors to the client
 *     socket and to the admin socket leaves the daemon's descriptor count
 *     where it was, and a bystander keeps working. */
#include <errno.h>
#include <fcntl.h>
#include <libproc.h>
#include <mach/mach.h>
#include <servers/bootstrap.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame_stream.h"
#include "handoff.h"
#include "mempool.h"
#include "proto.h"

#define MiB (1024u * 1024u)
#define STUFFED_FDS 250 /* under xnu's 254 for a 64-bit sender (sockargs) */

static const char *socket_path = "/var/run/mempoold.sock";
static const char *admin_path = "/var/run/mempoold.admin.sock";
static const char *pool = "default";
static int failures;

static void report(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", ok ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    failures += !ok;
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the admin socket ------------------------------------------------------ */

/* One command, its reply line into buf; false on any failure. */
static bool admin(const char *command, char *buf, size_t len)
{
    int fd = unix_connect(admin_path);
    if (fd < 0)
        return false;
    size_t n = strlen(command), got = 0;
    bool ok = write(fd, command, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
    while (ok && got + 1 < len) {
        ssize_t r = read(fd, buf + got, len - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(buf, '\n', got) != NULL)
            break;
    }
    buf[got] = '\0';
    close(fd);
    return ok && strchr(buf, '\n') != NULL;
}

static pid_t daemon_pid(void)
{
    char reply[4096];
    if (!admin("version", reply, sizeof reply))
        return -1;
    const char *p = strstr(reply, "\"pid\":");
    return p != NULL ? (pid_t)atoi(p + 6) : -1;
}

/* ---- what the kernel says about a process ------------------------------------ */

static int fd_count(pid_t pid)
{
    int bytes = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, NULL, 0);
    if (bytes <= 0)
        return -1;
    struct proc_fdinfo *fds = malloc((size_t)bytes);
    if (fds == NULL)
        return -1;
    bytes = proc_pidinfo(pid, PROC_PIDLISTFDS, 0, fds, bytes);
    free(fds);
    return bytes < 0 ? -1 : bytes / (int)PROC_PIDLISTFD_SIZE;
}

/* The daemon closes a stuffed session on its next loop turn: wait for the
 * count to come back, up to 10 s. */
static int settled_fd_count(pid_t pid, int want)
{
    int n = fd_count(pid);
    for (int i = 0; i < 200 && n != want; i++) {
        usleep(50 * 1000);
        n = fd_count(pid);
    }
    return n;
}

static int64_t footprint(pid_t pid)
{
    struct rusage_info_v4 ri;
    if (proc_pid_rusage(pid, RUSAGE_INFO_V4, (rusage_info_t *)&ri) != 0)
        return -1;
    return (int64_t)ri.ri_phys_footprint;
}

static int port_names(void)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nnames = 0, ntypes = 0;
    if (mach_port_names(mach_task_self(), &names, &nnames, &types, &ntypes) != KERN_SUCCESS)
        return -1;
    vm_deallocate(mach_task_self(), (vm_address_t)names, nnames * sizeof *names);
    vm_deallocate(mach_task_self(), (vm_address_t)types, ntypes * sizeof *types);
    return (int)nnames;
}

/* ---- the wire protocol by hand ------------------------------------------------ */

static bool exchange(int fd, uint16_t type, const unsigned char *payload, size_t len,
                     unsigned char *reply, proto_header *h)
{
    unsigned char frame[PROTO_MAX_FRAME];
    size_t n = proto_encode_request(frame, type, 1, payload, len);
    if (handoff_send(fd, frame, n, NULL) != 0)
        return false;
    size_t got = 0;
    ssize_t r = frame_stream_read(fd, reply, &got, NULL);
    return r > 0 && proto_decode_header(reply, (size_t)r, 1, h) == 0 && h->status == 0;
}

static int raw_session(void)
{
    int fd = unix_connect(socket_path);
    if (fd < 0)
        return -1;
    unsigned char payload[PROTO_MAX_FRAME], reply[PROTO_MAX_FRAME];
    proto_hello m = { .min_version = PROTO_MIN_VERSION, .max_version = PROTO_VERSION,
                      .pid = (uint32_t)getpid() };
    strcpy(m.name, "e2e_darwin");
    proto_header h;
    if (!exchange(fd, PROTO_HELLO, payload, proto_put_hello(payload, &m), reply, &h)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ATTACH over a raw session: the block reply and its nonce. */
static bool raw_attach(int fd, const mempool_handle *handle, proto_block_reply *out)
{
    unsigned char payload[PROTO_MAX_FRAME], reply[PROTO_MAX_FRAME];
    proto_header h;
    return exchange(fd, PROTO_ATTACH, payload, proto_put_handle(payload, handle), reply, &h) &&
           proto_get_block_reply(reply + PROTO_HEADER_SIZE, out) == 0;
}

/* ---- the checks ------------------------------------------------------------------ */

static int child_reads_and_writes(const mempool_handle *h)
{
    mempool_client *c;
    mempool_block b;
    if (mempool_connect(socket_path, &c) != 0 || mempool_attach(c, h, &b) != 0)
        return 1;
    unsigned char *p = b.addr;
    if (p[0] != 0xa5 || p[b.size - 1] != 0x5a)
        return 2;
    p[1] = 0xc3;
    mempool_release(c, &b);
    mempool_disconnect(c);
    return 0;
}

static void shared_between_two_processes(mempool_client *c)
{
    mempool_block b;
    mempool_handle h;
    int rc = mempool_alloc(c, pool, MiB, 0, &b);
    if (rc != 0) {
        report(false, "alloc: %s", mempool_strerror(rc));
        return;
    }
    unsigned char *p = b.addr;
    p[0] = 0xa5;
    p[b.size - 1] = 0x5a;
    rc = mempool_share(c, &b, MEMPOOL_READ | MEMPOOL_WRITE, &h);
    pid_t pid = rc == 0 ? fork() : -1;
    if (pid == 0)
        _exit(child_reads_and_writes(&h));
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    report(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && p[1] == 0xc3,
           "a block shared between two processes: each sees the other's writes (child %d)",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    mempool_release(c, &b);
}

static void rendezvous_refusals(mempool_client *c)
{
    mempool_block b;
    mempool_handle h;
    proto_block_reply m;
    int fd = raw_session();
    if (fd < 0 || mempool_alloc(c, pool, 64 * 1024, 0, &b) != 0 ||
        mempool_share(c, &b, MEMPOOL_READ, &h) != 0 || !raw_attach(fd, &h, &m)) {
        report(false, "a raw session and a read-only attach");
        return;
    }
    handoff_object obj = HANDOFF_OBJECT_NONE, wrong = HANDOFF_OBJECT_NONE;
    unsigned char nonce[HANDOFF_NONCE_SIZE];
    arc4random_buf(nonce, sizeof nonce);
    report(handoff_collect(fd, nonce, &wrong) == -EPERM, "a nonce that was never offered is refused");
    int rc = handoff_collect(fd, m.rendezvous, &obj);
    report(rc == 0, "the offered entry is collected (%d)", rc);
    void *addr = NULL;
    rc = handoff_map(&obj, m.size, m.offset, MEMPOOL_READ | MEMPOOL_WRITE, &addr);
    report(rc == -EACCES, "a read-only entry refuses a writable mach_vm_map (%d)", rc);
    rc = handoff_map(&obj, m.size, m.offset, MEMPOOL_READ, &addr);
    report(rc == 0, "and maps read-only (%d)", rc);
    if (rc == 0)
        handoff_unmap(addr, m.size);
    report(handoff_collect(fd, m.rendezvous, &wrong) == -EPERM, "a nonce is good once");
    handoff_object_close(&obj);
    close(fd);
    mempool_release(c, &b);
}

/* One request to a service that never answers; the names this process
 * holds before and after. */
static int collect_from_silence(int *before, int *after)
{
    unsigned char nonce[HANDOFF_NONCE_SIZE] = { 0 };
    handoff_object obj = HANDOFF_OBJECT_NONE;
    *before = port_names();
    int rc = handoff_collect(-1, nonce, &obj);
    *after = port_names();
    handoff_object_close(&obj);
    return rc;
}

/* A service nobody answers: ours, registered and never read. With a queue
 * limit of 0 the request cannot even be queued (MACH_SEND_TIMED_OUT: the
 * kernel gives the message back, send-once reply right included); with
 * the default limit it is queued and the reply never comes
 * (MACH_RCV_TIMED_OUT). Either way no name may be left behind. */
static void rendezvous_timeout(void)
{
    char name[64];
    snprintf(name, sizeof name, "org.mempool.e2e.silent.%d", (int)getpid());
    mach_port_t port = MACH_PORT_NULL;
    if (bootstrap_check_in(bootstrap_port, name, &port) != KERN_SUCCESS) {
        report(false, "registering a silent service %s", name);
        return;
    }
    const char *old = getenv("MEMPOOL_MACH_SERVICE");
    char *saved = old != NULL ? strdup(old) : NULL;
    setenv("MEMPOOL_MACH_SERVICE", name, 1);
    int before, after;
    /* The first request swaps the cached service right for the silent
     * one: one name for another. */
    int rc = collect_from_silence(&before, &after);
    report(rc == -ETIMEDOUT, "a service that never answers times out (%d)", rc);
    report(after == before, "a request that timed out waiting leaves no name (%d -> %d)",
           before, after);
    mach_port_limits_t none = { .mpl_qlimit = MACH_PORT_QLIMIT_ZERO };
    kern_return_t kr = mach_port_set_attributes(mach_task_self(), port, MACH_PORT_LIMITS_INFO,
                                                (mach_port_info_t)&none,
                                                MACH_PORT_LIMITS_INFO_COUNT);
    rc = collect_from_silence(&before, &after);
    report(kr == KERN_SUCCESS && rc == -ETIMEDOUT, "a request that cannot be queued times out (%d)",
           rc);
    report(after == before, "and leaves no send-once right behind (%d -> %d names)", before,
           after);
    if (saved != NULL)
        setenv("MEMPOOL_MACH_SERVICE", saved, 1);
    else
        unsetenv("MEMPOOL_MACH_SERVICE");
    free(saved);
    mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

static bool one_cycle(mempool_client *c)
{
    mempool_block b, again;
    mempool_handle h;
    if (mempool_alloc(c, pool, 256 * 1024, 0, &b) != 0)
        return false;
    memset(b.addr, 7, b.size);
    bool ok = mempool_share(c, &b, MEMPOOL_READ, &h) == 0 && mempool_attach(c, &h, &again) == 0;
    if (ok)
        mempool_release(c, &again);
    mempool_release(c, &b);
    return ok;
}

static void no_port_growth(mempool_client *c)
{
    bool ok = one_cycle(c) && one_cycle(c); /* caches and lazy setup first */
    int before = port_names();
    for (int i = 0; ok && i < 500; i++)
        ok = one_cycle(c);
    int after = port_names();
    report(ok && before > 0 && after == before,
           "500 alloc/share/attach/release cycles leave the port names as they were (%d -> %d)",
           before, after);
}

static void footprint_falls_after_scavenge(mempool_client *c, pid_t daemon)
{
    mempool_block b;
    if (mempool_alloc(c, pool, 64 * MiB, 0, &b) != 0) {
        report(false, "alloc 64 MiB");
        return;
    }
    memset(b.addr, 0x11, b.size);
    mempool_release(c, &b);
    mempool_block probe; /* a round trip: the release is one-way */
    if (mempool_alloc(c, pool, 4096, 0, &probe) == 0)
        mempool_release(c, &probe);
    int64_t warm = footprint(daemon);
    char reply[4096];
    bool ok = admin("scavenge", reply, sizeof reply);
    int64_t after = footprint(daemon);
    report(ok && warm > 0 && after >= 0 && after + 32 * (int64_t)MiB <= warm,
           "the daemon's phys_footprint falls after scavenge (%lld -> %lld bytes)",
           (long long)warm, (long long)after);
}

/* One byte with STUFFED_FDS descriptors of /dev/null. */
static bool send_stuffed(int fd)
{
    int fds[STUFFED_FDS];
    for (int i = 0; i < STUFFED_FDS; i++)
        fds[i] = open("/dev/null", O_RDONLY);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(STUFFED_FDS * sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = { .iov_base = "s", .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(STUFFED_FDS * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    bool ok = sendmsg(fd, &msg, 0) == 1;
    for (int i = 0; i < STUFFED_FDS; i++)
        close(fds[i]);
    return ok;
}

/* The daemon ends the session: EOF or a reset, after at most one reply. */
static bool closed_by_daemon(int fd)
{
    char buf[4096];
    for (int i = 0; i < 4; i++) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false;
    }
    return false;
}

static void descriptor_stuffing(mempool_client *bystander, pid_t daemon)
{
    const char *targets[] = { "client", "admin" };
    for (int t = 0; t < 2; t++) {
        int before = fd_count(daemon);
        int fd = t == 0 ? raw_session() : unix_connect(admin_path);
        bool sent = fd >= 0 && send_stuffed(fd);
        bool closed = sent && closed_by_daemon(fd);
        if (fd >= 0)
            close(fd);
        int after = settled_fd_count(daemon, before);
        report(sent && closed && before > 0 && after == before,
               "%d descriptors sent to the %s socket: session closed, daemon's descriptors "
               "%d -> %d", STUFFED_FDS, targets[t], before, after);
    }
    report(one_cycle(bystander), "a bystander keeps allocating");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        socket_path = argv[1];
    if (argc > 2)
        admin_path = argv[2];
    if (argc > 3)
        pool = argv[3];
    signal(SIGPIPE, SIG_IGN);
    mempool_client *c = NULL;
    int rc = mempool_connect(socket_path, &c);
    pid_t daemon = daemon_pid();
    if (rc != 0 || daemon <= 0) {
        printf("FAIL: cannot reach mempoold at %s / %s (%s)\n", socket_path, admin_path,
               mempool_strerror(rc));
        return 1;
    }
    shared_between_two_processes(c);
    rendezvous_refusals(c);
    rendezvous_timeout();
    no_port_growth(c);
    footprint_falls_after_scavenge(c, daemon);
    descriptor_stuffing(c, daemon);
    mempool_disconnect(c);
    printf("%d failed\n", failures);
    return failures;
}
