/* Handoff on Linux: the backing is a memfd, carried with SCM_RIGHTS in the
 * same SOCK_SEQPACKET message as the frame that describes it. Message
 * boundaries are what make a lost descriptor detectable: a message whose
 * control data did not fit is flagged MSG_CTRUNC, and is refused whole. */
#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mempool.h"
#include "scm_rights.h"

/* Room for the most descriptors one message can carry: SCM_MAX_FD (253,
 * include/net/scm.h; __scm_send refuses more with EINVAL). More than one is
 * never legitimate, but every one that arrived must be in the buffer to be
 * closed (scm_rights.h). */
#define HANDOFF_RECV_FDS_MAX 253

/* SOCK_SEQPACKET: one message is one frame. The tests-only build
 * MEMPOOL_STREAM_SOCKETS runs the macOS framing (a stream, frames read
 * header first) on Linux, with the memfd still riding on SCM_RIGHTS. */
#ifdef MEMPOOL_STREAM_SOCKETS
int handoff_socket_type(void) { return SOCK_STREAM; }
#else
int handoff_socket_type(void) { return SOCK_SEQPACKET; }
#endif

/* Nothing looks the name up on Linux (there is no rendezvous: the memfd
 * travels with its frame); it is answered the same way for the logs. */
const char *handoff_service_name(void)
{
    const char *env = getenv("MEMPOOL_MACH_SERVICE");
    return env != NULL && env[0] != '\0' ? env : MEMPOOL_MACH_SERVICE;
}

/* A read-only share must be a descriptor the receiver cannot mmap with
 * PROT_WRITE: an O_RDONLY open of the memfd through /proc. The memfd's
 * own descriptor is O_RDWR, and dup would keep that. */
int handoff_export(int backing_fd, void *addr, size_t size, unsigned prot,
                   handoff_object *out)
{
    (void)addr; /* the whole memfd travels; the frame carries the offset */
    (void)size;
    *out = HANDOFF_OBJECT_NONE;
    int fd;
    if (prot == (MEMPOOL_READ | MEMPOOL_WRITE)) {
        fd = fcntl(backing_fd, F_DUPFD_CLOEXEC, 0);
    } else if (prot == MEMPOOL_READ) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", backing_fd);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } else {
        return -EINVAL;
    }
    if (fd < 0)
        return -errno;
    out->fd = fd;
    return 0;
}

void handoff_object_close(handoff_object *o)
{
    if (o->fd >= 0)
        close(o->fd);
    *o = HANDOFF_OBJECT_NONE;
}

int handoff_object_empty(const handoff_object *o) { return o->fd < 0; }

int handoff_send(int sock, const void *frame, size_t len,
                 const handoff_object *obj)
{
    struct iovec iov = { .iov_base = (void *)frame, .iov_len = len };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (obj != NULL && obj->fd >= 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &obj->fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

ssize_t handoff_recv(int sock, void *buf, size_t cap, handoff_object *obj)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(HANDOFF_RECV_FDS_MAX * sizeof(int))];
    } control;
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof control.buf,
    };
    if (obj != NULL)
        *obj = HANDOFF_OBJECT_NONE;
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    int fd = -1;
    size_t nfds = scm_rights_take(&msg, &fd, 1);
    int refused = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
                  nfds > 1 || (nfds == 1 && obj == NULL);
    if (refused) {
        scm_rights_close(&fd, nfds > 0 ? 1 : 0);
        return -EPROTO;
    }
    if (nfds == 1)
        obj->fd = fd;
    return n;
}

/* The descriptor came in the reply's own message (handoff_recv): there is
 * nothing to fetch, only to check that it is there. */
int handoff_collect(int sock, const unsigned char nonce[HANDOFF_NONCE_SIZE],
                    handoff_object *obj)
{
    (void)sock;
    (void)nonce;
    return obj->fd >= 0 ? 0 : -EPROTO;
}

int handoff_map(const handoff_object *o, size_t size, uint64_t offset,
                unsigned prot, void **out)
{
    if (o->fd < 0)
        return -EBADF;
    if (size == 0 || size > (uint64_t)INT64_MAX ||
        offset > (uint64_t)INT64_MAX - size)
        return -EINVAL;
    int mprot = PROT_READ | ((prot & MEMPOOL_WRITE) ? PROT_WRITE : 0);
    void *p = mmap(NULL, size, mprot, MAP_SHARED, o->fd, (off_t)offset);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

int handoff_object_size(const handoff_object *o, uint64_t *out)
{
    struct stat st;
    if (o->fd < 0)
        return -EBADF;
    if (fstat(o->fd, &st) != 0)
        return -errno;
    *out = (uint64_t)st.st_size;
    return 0;
}

int handoff_unmap(void *addr, size_t size)
{
    return munmap(addr, size) == 0 ? 0 : -errno;
}
