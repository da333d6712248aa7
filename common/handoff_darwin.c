/* Handoff on Darwin: the backing is a Mach memory entry over the daemon's
 * own mapping of the block (docs/design.md §3). AF_UNIX has no
 * SOCK_SEQPACKET on macOS and a port cannot ride on a Unix socket, so the protocol runs on a
 * stream socket and the entry travels over Mach: the block reply carries a
 * nonce, and handoff_collect presents it to the daemon's Mach service
 * (common/handoff_darwin.h; the daemon's side is
 * daemon/handoff_service_darwin.c). docs/darwin.md lists where each call's
 * use comes from. */
#include "handoff.h"

#include <errno.h>
#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <pthread.h>
#include <servers/bootstrap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff_darwin.h"
#include "mempool.h"
#include "proto.h"
#include "scm_rights.h"

/* The block reply's rendezvous field carries the nonce as it is. */
_Static_assert(PROTO_RENDEZVOUS_SIZE == HANDOFF_NONCE_SIZE, "nonce sizes differ");

int handoff_socket_type(void) { return SOCK_STREAM; }

const char *handoff_service_name(void)
{
    const char *env = getenv("MEMPOOL_MACH_SERVICE");
    return env != NULL && env[0] != '\0' ? env : MEMPOOL_MACH_SERVICE;
}

/* MAP_MEM_VM_SHARE makes the entry share the daemon's pages (as
 * vm_remap(copy=FALSE) would: xnu's mach_make_memory_entry_share extracts
 * the range with vm_map_copy_extract, copy FALSE) instead of a copy-on-write
 * snapshot; the protection asked for is the most the receiver can map, so
 * a VM_PROT_READ entry refuses a writable mapping. The entry covers whole
 * map entries, mapped read-write: asked over anything else, or rounded to
 * another size, it is not the block's, and is refused. */
int handoff_export(int backing_fd, void *addr, size_t size, unsigned prot,
                   handoff_object *out)
{
    *out = HANDOFF_OBJECT_NONE;
    vm_prot_t vprot;
    if (prot == (MEMPOOL_READ | MEMPOOL_WRITE))
        vprot = VM_PROT_READ | VM_PROT_WRITE;
    else if (prot == MEMPOOL_READ)
        vprot = VM_PROT_READ;
    else
        return -EINVAL;
    if (backing_fd >= 0) /* Darwin backings are anonymous memory */
        return -EINVAL;
    memory_object_size_t entry_size = size;
    mach_port_t port = MACH_PORT_NULL;
    kern_return_t kr = mach_make_memory_entry_64(
        mach_task_self(), &entry_size, (memory_object_offset_t)(uintptr_t)addr,
        vprot | MAP_MEM_VM_SHARE, &port, MACH_PORT_NULL);
    if (kr != KERN_SUCCESS)
        return handoff_kr_errno(kr);
    if (entry_size != size) {
        mach_port_deallocate(mach_task_self(), port);
        return -EFAULT;
    }
    out->port = port;
    arc4random_buf(out->nonce, sizeof out->nonce);
    return 0;
}

void handoff_object_close(handoff_object *o)
{
    if (o->port != MACH_PORT_NULL)
        mach_port_deallocate(mach_task_self(), o->port);
    *o = HANDOFF_OBJECT_NONE;
}

int handoff_object_empty(const handoff_object *o) { return o->port == MACH_PORT_NULL; }

/* Only the frame travels on the socket: the object, if any, was offered to
 * the rendezvous (handoff_offer) under the nonce the frame carries. */
int handoff_send(int sock, const void *frame, size_t len,
                 const handoff_object *obj)
{
    (void)obj;
    ssize_t n;
    do
        n = send(sock, frame, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

/* Room for the most descriptors one message can carry. xnu's sockargs
 * (bsd/kern/uipc_syscalls.c) refuses control data that, with each int
 * widened to a fileglob pointer, exceeds MCLBYTES (2048): at most 254
 * descriptors from a 64-bit sender, 509 from a 32-bit one. And
 * unp_externalize (bsd/kern/uipc_usrreq.c) installs every one of them in
 * this process whatever the size of our buffer (soreceive_ctl in
 * uipc_socket.c externalizes before copyout_control truncates and sets
 * MSG_CTRUNC): only a buffer that holds them all lets us close them all.
 * 512 ints (MCLBYTES / sizeof(int)) bound both. */
#define HANDOFF_RECV_FDS_MAX 512

/* Nothing may arrive with the bytes of a stream: a peer that sends
 * descriptors gets every one closed and its data refused. */
ssize_t handoff_recv(int sock, void *buf, size_t cap, handoff_object *obj)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(HANDOFF_RECV_FDS_MAX * sizeof(int))];
    } control;
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.buf,
                          .msg_controllen = sizeof control.buf };
    if (obj != NULL)
        *obj = HANDOFF_OBJECT_NONE;
    ssize_t n;
    do
        n = recvmsg(sock, &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    /* With no room to keep any, scm_rights_take closes them all. */
    if (scm_rights_take(&msg, NULL, 0) > 0 || (msg.msg_flags & MSG_CTRUNC) != 0)
        return -EPROTO;
    return n;
}

/* The reply to a request: one send right to a memory entry, moved to us.
 * Anything else is destroyed (which releases whatever rights it held). */
static int take_entry(handoff_reply_msg *reply, handoff_object *obj)
{
    mach_msg_header_t *h = &reply->header;
    if (h->msgh_id == MACH_NOTIFY_SEND_ONCE) {
        /* The daemon destroyed our reply right: it does not know this
         * nonce for this process (unknown, expired, already taken). */
        mach_msg_destroy(h);
        return -EPERM;
    }
    if (h->msgh_id != HANDOFF_MSG_REPLY || (h->msgh_bits & MACH_MSGH_BITS_COMPLEX) == 0 ||
        h->msgh_size != sizeof *reply || reply->body.msgh_descriptor_count != 1 ||
        reply->entry.type != MACH_MSG_PORT_DESCRIPTOR ||
        reply->entry.disposition != MACH_MSG_TYPE_PORT_SEND ||
        !MACH_PORT_VALID(reply->entry.name)) {
        mach_msg_destroy(h);
        return -EPROTO;
    }
    obj->port = reply->entry.name;
    return 0;
}

/* A request the kernel did not queue (MACH_SEND_TIMED_OUT) comes back as a
 * pseudo-receive with the rights it had copied in: the service's send
 * right in msgh_remote_port and the reply right, now a send-once right, in
 * msgh_local_port. mach_msg_destroy releases only the first ("the
 * msgh_local_port field doesn't hold a port right", libsyscall/mach/
 * mach_msg.c), so the send-once right is released here, or each timeout
 * would leave a name behind. */
static void give_back_unsent(mach_msg_header_t *h)
{
    mach_port_t reply_right = h->msgh_local_port;
    mach_msg_bits_t local = MACH_MSGH_BITS_LOCAL(h->msgh_bits);
    mach_msg_destroy(h);
    if (MACH_PORT_VALID(reply_right) && local == MACH_MSG_TYPE_PORT_SEND_ONCE)
        mach_port_deallocate(mach_task_self(), reply_right);
}

/* One request and its reply on a fresh receive right, so that a reply that
 * comes after the timeout dies with that right instead of reaching a later
 * call. The service's send right is copied, and stays ours to deallocate. */
static int ask(mach_port_t service, mach_port_t reply_port,
               const unsigned char *nonce, handoff_object *obj)
{
    union {
        handoff_request_msg request;
        struct {
            handoff_reply_msg msg;
            mach_msg_max_trailer_t trailer;
        } reply;
    } buf;
    memset(&buf, 0, sizeof buf);
    mach_msg_header_t *h = &buf.request.header;
    h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    h->msgh_size = sizeof buf.request;
    h->msgh_remote_port = service;
    h->msgh_local_port = reply_port;
    h->msgh_id = HANDOFF_MSG_REQUEST;
    memcpy(buf.request.nonce, nonce, HANDOFF_NONCE_SIZE);
    mach_msg_return_t mr = mach_msg(h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_SEND_TIMEOUT | MACH_RCV_TIMEOUT,
                                    sizeof buf.request, sizeof buf.reply, reply_port,
                                    HANDOFF_TIMEOUT_MS, MACH_PORT_NULL);
    if (mr == MACH_SEND_TIMED_OUT) {
        give_back_unsent(h);
        return -ETIMEDOUT;
    }
    if (mr == MACH_RCV_TIMED_OUT)
        return -ETIMEDOUT;
    if (mr != MACH_MSG_SUCCESS)
        return mr == MACH_SEND_INVALID_DEST ? -ESTALE : -EPROTO;
    return take_entry(&buf.reply.msg, obj);
}

/* The daemon's service right, looked up once per process rather than for
 * every block (bootstrap_look_up is a round trip to launchd), and again
 * when a send finds it dead (the daemon restarted: MACH_SEND_INVALID_DEST)
 * or in a child after fork(), which inherits none of its parent's port
 * names (the pid tells). Each call takes a reference of its own, so that
 * one thread forgetting the right never frees it under another. */
static struct {
    pthread_mutex_t lock;
    mach_port_t port;
    pid_t pid;
    char name[BOOTSTRAP_MAX_NAME_LEN]; /* what port was looked up as */
} service_cache = { PTHREAD_MUTEX_INITIALIZER, MACH_PORT_NULL, 0, "" };

static bool take_reference(mach_port_t port)
{
    return mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_SEND, 1) == KERN_SUCCESS;
}

/* A send right whose receiver died is a dead name, which takes no send
 * reference: it is dropped and the name looked up again. */
static int service_right(const char *name, mach_port_t *out)
{
    pthread_mutex_lock(&service_cache.lock);
    mach_port_t *port = &service_cache.port;
    if (service_cache.pid != getpid())
        *port = MACH_PORT_NULL; /* a name of our parent's space */
    service_cache.pid = getpid();
    if (*port != MACH_PORT_NULL && strcmp(service_cache.name, name) != 0) {
        mach_port_deallocate(mach_task_self(), *port); /* $MEMPOOL_MACH_SERVICE changed */
        *port = MACH_PORT_NULL;
    }
    strlcpy(service_cache.name, name, sizeof service_cache.name);
    if (*port != MACH_PORT_NULL && !take_reference(*port)) {
        mach_port_deallocate(mach_task_self(), *port);
        *port = MACH_PORT_NULL;
    }
    if (*port == MACH_PORT_NULL) {
        if (bootstrap_look_up(bootstrap_port, name, port) != KERN_SUCCESS) {
            *port = MACH_PORT_NULL;
        } else if (!take_reference(*port)) {
            mach_port_deallocate(mach_task_self(), *port);
            *port = MACH_PORT_NULL;
        }
    }
    *out = *port;
    pthread_mutex_unlock(&service_cache.lock);
    return *out != MACH_PORT_NULL ? 0 : -ENOENT;
}

/* The right is dead (or a dead name): drop the cache's reference. */
static void service_forget(mach_port_t stale)
{
    pthread_mutex_lock(&service_cache.lock);
    if (service_cache.port == stale && service_cache.pid == getpid()) {
        mach_port_deallocate(mach_task_self(), stale);
        service_cache.port = MACH_PORT_NULL;
    }
    pthread_mutex_unlock(&service_cache.lock);
}

/* One request on the cached right; -ESTALE when that right is dead. */
static int ask_service(const char *name, const unsigned char *nonce, handoff_object *obj)
{
    mach_port_t service = MACH_PORT_NULL, reply_port = MACH_PORT_NULL;
    int rc = service_right(name, &service);
    if (rc != 0)
        return rc;
    kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply_port);
    rc = kr == KERN_SUCCESS ? ask(service, reply_port, nonce, obj) : handoff_kr_errno(kr);
    if (rc == -ESTALE)
        service_forget(service);
    mach_port_deallocate(mach_task_self(), service);
    if (reply_port != MACH_PORT_NULL)
        mach_port_mod_refs(mach_task_self(), reply_port, MACH_PORT_RIGHT_RECEIVE, -1);
    return rc;
}

int handoff_collect(int sock, const unsigned char nonce[HANDOFF_NONCE_SIZE],
                    handoff_object *obj)
{
    (void)sock; /* the daemon knows the socket by the nonce */
    const char *name = handoff_service_name();
    if (strlen(name) >= BOOTSTRAP_MAX_NAME_LEN)
        return -ENAMETOOLONG;
    handoff_object_close(obj);
    int rc = ask_service(name, nonce, obj);
    /* A restarted daemon: look it up again, once. */
    if (rc == -ESTALE)
        rc = ask_service(name, nonce, obj);
    return rc == -ESTALE ? -ENOENT : rc;
}

/* VM_INHERIT_NONE: a child forked from the client does not share the
 * block; it would hold memory the daemon cannot see it hold. */
int handoff_map(const handoff_object *o, size_t size, uint64_t offset,
                unsigned prot, void **out)
{
    if (o->port == MACH_PORT_NULL)
        return -EBADF;
    if (size == 0 || offset > UINT64_MAX - size)
        return -EINVAL;
    vm_prot_t vprot = VM_PROT_READ | ((prot & MEMPOOL_WRITE) ? VM_PROT_WRITE : 0);
    mach_vm_address_t addr = 0;
    kern_return_t kr = mach_vm_map(mach_task_self(), &addr, size, 0, VM_FLAGS_ANYWHERE,
                                   o->port, offset, FALSE, vprot, vprot, VM_INHERIT_NONE);
    if (kr != KERN_SUCCESS)
        return handoff_kr_errno(kr);
    *out = (void *)(uintptr_t)addr;
    return 0;
}

/* A memory entry's size could be asked of the kernel, but no caller needs
 * it: the daemon never sends a pool-wide backing on Darwin (docs/darwin.md). */
int handoff_object_size(const handoff_object *o, uint64_t *out)
{
    (void)o;
    (void)out;
    return -ENOSYS;
}

int handoff_unmap(void *addr, size_t size)
{
    kern_return_t kr = mach_vm_deallocate(mach_task_self(), (mach_vm_address_t)(uintptr_t)addr, size);
    return handoff_kr_errno(kr);
}
