/* The daemon's side of the handoff rendezvous on Darwin (the messages are
 * in common/handoff_darwin.h; the model is Chromium's
 * MachPortRendezvousServer, base/apple/mach_port_rendezvous.cc).
 *
 * The request loop offers each memory entry under a fresh nonce, bound to
 * the process at the other end of the session's socket (LOCAL_PEERTOKEN);
 * a thread of its own receives on the Mach service's port, with the
 * kernel's audit token of each sender as a trailer, and answers a nonce
 * only to the process it was offered to. The pending table
 * (daemon/rendezvous.c) is shared by the two under its own lock.
 *
 * Send rights: handoff_export makes one (the session's, closed after the
 * reply); the offer adds a reference of its own (mach_port_mod_refs), which
 * is deallocated exactly once: after the reply to the claimer (which
 * copies it), or by the table when the offer expires, is refused to
 * another process, or is still pending at the end. */
#include "handoff_service.h"

#include <errno.h>
#include <mach/mach.h>
#include <mach/mach_error.h>
#include <pthread.h>
#include <servers/bootstrap.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "daemon.h"
#include "handoff_darwin.h"
#include "log.h"
#include "rendezvous.h"

/* Handoffs in flight at once: each client has at most one request out,
 * and collects right after its reply; the rest is offers a client never
 * collected, which expire. */
#define PENDING_MAX 16384
#define OFFER_TTL_NS ((uint64_t)HANDOFF_TIMEOUT_MS * 1000000ull)
/* The service port's queue: launchd's port has the default limit of 5
 * messages (MACH_PORT_QLIMIT_DEFAULT, osfmk/mach/port.h), which any
 * process that looks the name up can keep full, so honest requests wait
 * out their 5 s and fail. MACH_PORT_QLIMIT_MAX (1024) is the most xnu
 * allows (mach_port_set_attributes refuses more); the thread drains it in
 * microseconds per request. */
#define SERVICE_QLIMIT MACH_PORT_QLIMIT_MAX
/* Refused nonces are logged at most this many times per second; the next
 * line says how many were not. A local limit: the daemon has no shared
 * rate-limited logging yet. */
#define REFUSALS_LOGGED_PER_SECOND 5

static struct {
    mach_port_t port; /* the receive right of the Mach service */
    rendezvous_table *table;
    pthread_t thread;
    bool running;
    atomic_bool stopping;
    /* The refusal log's window; only the service thread touches it. */
    uint64_t refusals_window_ns;
    unsigned refusals_in_window;
    uint64_t refusals_unlogged;
} service;

static void release_right(uint32_t port, void *arg)
{
    (void)arg;
    mach_port_deallocate(mach_task_self(), port);
}

/* Who a token names: xnu fills audit_token_t in set_security_token_task_
 * internal (bsd/kern/kern_prot.c) with the pid in val[5] and the pid
 * version in val[7], which is what libbsm's audit_token_to_pid and
 * audit_token_to_pidversion read. libbsm is not part of libSystem, so the
 * two fields are read here. A pid alone could be a new process reusing it;
 * the pid version tells them apart. */
static rendezvous_peer peer_of_token(const audit_token_t *token)
{
    return (rendezvous_peer){ .pid = (int32_t)token->val[5], .pidversion = token->val[7] };
}

/* The process at the other end of a Unix socket, from xnu's
 * LOCAL_PEERTOKEN (bsd/kern/uipc_usrreq.c): the audit token of the peer. */
static int socket_peer(int sock, rendezvous_peer *out)
{
    audit_token_t token;
    socklen_t len = sizeof token;
    if (getsockopt(sock, SOL_LOCAL, LOCAL_PEERTOKEN, &token, &len) != 0)
        return -errno;
    if (len != sizeof token)
        return -EPROTO;
    *out = peer_of_token(&token);
    return 0;
}

void handoff_withdraw(const handoff_object *obj)
{
    if (service.running)
        rendezvous_cancel(service.table, obj->nonce);
}

int handoff_offer(int sock, const handoff_object *obj)
{
    if (!service.running)
        return -ENOTCONN;
    rendezvous_peer peer;
    int rc = socket_peer(sock, &peer);
    if (rc != 0)
        return rc;
    kern_return_t kr = mach_port_mod_refs(mach_task_self(), obj->port, MACH_PORT_RIGHT_SEND, 1);
    if (kr != KERN_SUCCESS)
        return handoff_kr_errno(kr);
    rc = rendezvous_offer(service.table, obj->nonce, &peer, obj->port, daemon_now_ns());
    if (rc != 0)
        mach_port_deallocate(mach_task_self(), obj->port);
    return rc;
}

/* Answers through the request's send-once right with a copy of the entry's
 * send right; the offer's own reference is then deallocated, whatever
 * became of the reply. A reply the kernel gave back (a pseudo-receive after
 * a timeout) or never took is destroyed: that releases the reply right and
 * any copy of the entry it holds. Replies to send-once rights are queued
 * even on a full queue, so the zero timeout does not refuse a live client. */
static void send_entry(mach_port_t reply_port, mach_port_t entry)
{
    handoff_reply_msg m;
    memset(&m, 0, sizeof m);
    m.header.msgh_bits = MACH_MSGH_BITS_REMOTE(MACH_MSG_TYPE_MOVE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX;
    m.header.msgh_size = sizeof m;
    m.header.msgh_remote_port = reply_port;
    m.header.msgh_id = HANDOFF_MSG_REPLY;
    m.body.msgh_descriptor_count = 1;
    m.entry.name = entry;
    m.entry.disposition = MACH_MSG_TYPE_COPY_SEND;
    m.entry.type = MACH_MSG_PORT_DESCRIPTOR;
    mach_msg_return_t mr = mach_msg(&m.header, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0,
                                    MACH_PORT_NULL, 0, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS) {
        log_info("handoff: cannot answer a client: %s", mach_error_string(mr));
        mach_msg_destroy(&m.header);
    }
    mach_port_deallocate(mach_task_self(), entry);
}

/* A request is exactly a nonce with a send-once reply right; anything
 * else gets no answer ("do not reply to messages that are unexpected", as
 * Chromium's HandleRequest). */
static bool is_request(const mach_msg_header_t *h)
{
    return h->msgh_id == HANDOFF_MSG_REQUEST && (h->msgh_bits & MACH_MSGH_BITS_COMPLEX) == 0 &&
           h->msgh_size == sizeof(handoff_request_msg) &&
           MACH_MSGH_BITS_REMOTE(h->msgh_bits) == MACH_MSG_TYPE_PORT_SEND_ONCE;
}

typedef struct request_buffer {
    handoff_request_msg msg;
    mach_msg_audit_trailer_t trailer;
} request_buffer;

/* One line per refusal, at most REFUSALS_LOGGED_PER_SECOND a second: a
 * process that floods the port with bad nonces cannot flood the log. */
static void log_refusal(const rendezvous_peer *peer, int rc)
{
    uint64_t now = daemon_now_ns();
    if (now - service.refusals_window_ns >= 1000000000ull) {
        service.refusals_window_ns = now;
        service.refusals_in_window = 0;
    }
    if (service.refusals_in_window >= REFUSALS_LOGGED_PER_SECOND) {
        service.refusals_unlogged++;
        return;
    }
    service.refusals_in_window++;
    log_info("handoff: pid %d presented %s nonce; refused (%llu refusals not logged before this)",
             (int)peer->pid, rc == -EPERM ? "another process's" : "an unknown or expired",
             (unsigned long long)service.refusals_unlogged);
    service.refusals_unlogged = 0;
}

/* answer() finds the trailer where the kernel puts it: right after the
 * message, rounded (round_msg), which must be where the struct has it; and
 * the audit trailer must fit the buffer's room. */
_Static_assert(offsetof(request_buffer, trailer) == round_msg(sizeof(handoff_request_msg)),
               "the trailer follows the request");
_Static_assert(offsetof(mach_msg_audit_trailer_t, msgh_audit) + sizeof(audit_token_t) <=
                   sizeof(mach_msg_audit_trailer_t),
               "the audit token is inside the trailer");

static void answer(request_buffer *buf)
{
    mach_msg_header_t *h = &buf->msg.header;
    const mach_msg_audit_trailer_t *trailer =
        (const mach_msg_audit_trailer_t *)((const char *)h + round_msg(h->msgh_size));
    if (!is_request(h) || trailer->msgh_trailer_size < sizeof *trailer) {
        mach_msg_destroy(h);
        return;
    }
    rendezvous_peer peer = peer_of_token(&trailer->msgh_audit);
    uint32_t entry;
    int rc = rendezvous_claim(service.table, buf->msg.nonce, &peer, daemon_now_ns(), &entry);
    if (rc != 0) {
        log_refusal(&peer, rc);
        /* Destroying the reply right wakes the client with a send-once
         * notification. */
        mach_msg_destroy(h);
        return;
    }
    send_entry(h->msgh_remote_port, entry);
}

/* Errors after which the message is gone and the next receive may work. */
static bool receive_error_is_transient(mach_msg_return_t mr)
{
    return mr == MACH_RCV_TOO_LARGE || mr == MACH_RCV_HEADER_ERROR || mr == MACH_RCV_BODY_ERROR ||
           mr == MACH_RCV_INVALID_DATA;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        request_buffer buf;
        memset(&buf, 0, sizeof buf);
        mach_msg_return_t mr = mach_msg(
            &buf.msg.header,
            MACH_RCV_MSG | MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
            0, sizeof buf, service.port, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        if (atomic_load(&service.stopping)) {
            if (mr == MACH_MSG_SUCCESS)
                mach_msg_destroy(&buf.msg.header);
            return NULL;
        }
        if (mr == MACH_MSG_SUCCESS)
            answer(&buf);
        else if (!receive_error_is_transient(mr)) {
            log_error("handoff: receiving on the Mach service failed (%s); memory can no "
                      "longer be handed over", mach_error_string(mr));
            return NULL;
        }
    }
}

/* The thread takes no signals: libuv's handlers run on the loop thread. */
static int start_thread(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&service.thread, NULL, serve, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

static int check_in_error(kern_return_t kr)
{
    if (kr == BOOTSTRAP_NOT_PRIVILEGED)
        return -EPERM;
    if (kr == BOOTSTRAP_SERVICE_ACTIVE || kr == BOOTSTRAP_NAME_IN_USE)
        return -EADDRINUSE;
    return -ENOENT;
}

static void raise_queue_limit(mach_port_t port)
{
    mach_port_limits_t limits = { .mpl_qlimit = SERVICE_QLIMIT };
    kern_return_t kr = mach_port_set_attributes(mach_task_self(), port, MACH_PORT_LIMITS_INFO,
                                                (mach_port_info_t)&limits,
                                                MACH_PORT_LIMITS_INFO_COUNT);
    if (kr != KERN_SUCCESS)
        log_warn("handoff: cannot raise the service's queue limit to %d: %s; a process that "
                 "fills the queue delays every client", SERVICE_QLIMIT, mach_error_string(kr));
}

/* bootstrap_check_in gives the receive right of a MachServices name of our
 * launchd job; run by hand, it registers the name in the caller's
 * bootstrap namespace instead (as Chromium's rendezvous server does with
 * names no plist lists). */
int handoff_service_start(const char *service_name)
{
    if (strlen(service_name) >= BOOTSTRAP_MAX_NAME_LEN)
        return -ENAMETOOLONG;
    mach_port_t port = MACH_PORT_NULL;
    kern_return_t kr = bootstrap_check_in(bootstrap_port, service_name, &port);
    if (kr != KERN_SUCCESS) {
        log_error("handoff: bootstrap_check_in %s: %s", service_name, bootstrap_strerror(kr));
        return check_in_error(kr);
    }
    service.port = port;
    raise_queue_limit(port);
    service.table = rendezvous_new(PENDING_MAX, OFFER_TTL_NS, release_right, NULL);
    atomic_store(&service.stopping, false);
    int rc = service.table != NULL ? start_thread() : -ENOMEM;
    if (rc != 0) {
        log_error("handoff: cannot start the rendezvous: %s", strerror(-rc));
        handoff_service_free();
        return rc;
    }
    service.running = true;
    log_info("handoff: memory entries are handed over on Mach service %s", service_name);
    return 0;
}

/* Wakes the thread with a message to the service port, a send right made
 * from our receive right for the occasion. If the queue is full the send
 * times out, and the queued messages wake the thread instead. */
static void wake_thread(void)
{
    mach_msg_header_t h = {
        .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
        .msgh_size = sizeof h,
        .msgh_remote_port = service.port,
        .msgh_id = HANDOFF_MSG_WAKE,
    };
    mach_msg_return_t mr = mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0,
                                    MACH_PORT_NULL, HANDOFF_TIMEOUT_MS, MACH_PORT_NULL);
    if (mr == MACH_SEND_TIMED_OUT)
        mach_msg_destroy(&h);
}

void handoff_service_stop(void)
{
    if (!service.running)
        return;
    atomic_store(&service.stopping, true);
    wake_thread();
    pthread_join(service.thread, NULL);
    service.running = false;
}

/* Under launchd the receive right goes back to launchd when it is
 * destroyed (or when the process exits), so requests that arrive in between
 * wait for the next instance, which refuses their stale nonces. */
void handoff_service_free(void)
{
    rendezvous_free(service.table);
    service.table = NULL;
    if (service.port != MACH_PORT_NULL)
        mach_port_mod_refs(mach_task_self(), service.port, MACH_PORT_RIGHT_RECEIVE, -1);
    service.port = MACH_PORT_NULL;
}
