/* Handoff: turning a range of a pool into something another process can
 * map, and carrying it across. One interface, one file per OS:
 *
 *   Linux   a memfd, sent with SCM_RIGHTS on a SOCK_SEQPACKET socket in the
 *           same message as the reply frame (handoff_linux.c);
 *   Darwin  a Mach memory entry (mach_make_memory_entry_64 over the
 *           daemon's mapping); the socket carries the frame and a nonce,
 *           the port travels over Mach (handoff_darwin.c, a later issue).
 *
 * Preconditions: addresses and sizes are page-aligned; `prot` is
 * MEMPOOL_READ or MEMPOOL_READ|MEMPOOL_WRITE. Functions return 0 (or a
 * byte count) or -errno. */
#ifndef MEMPOOL_HANDOFF_H
#define MEMPOOL_HANDOFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct handoff_object {
    int fd;        /* Linux: a descriptor of the backing, -1 for none */
    uint32_t port; /* Darwin: a send right to a memory entry, 0 for none */
} handoff_object;

#define HANDOFF_OBJECT_NONE ((handoff_object){ .fd = -1, .port = 0 })

/* The socket type both sides use for the client protocol. */
int handoff_socket_type(void);

/* Daemon: something the peer can map with `prot`, covering [addr,
 * addr+size) of the daemon's mapping of `backing_fd`. A read-only object
 * must refuse a writable mapping in the receiver. */
int handoff_export(int backing_fd, void *addr, size_t size, unsigned prot,
                   handoff_object *out);
void handoff_object_close(handoff_object *o);
/* True when the object holds nothing. */
int handoff_object_empty(const handoff_object *o);

/* Sends one frame, with `obj` attached when it is not NULL. */
int handoff_send(int sock, const void *frame, size_t len,
                 const handoff_object *obj);
/* Receives one frame into buf. An attached object lands in *obj (close-on-
 * exec set); with obj NULL, or on a truncated message (MSG_TRUNC or
 * MSG_CTRUNC), whatever arrived is closed and -EPROTO returned. Returns
 * the frame's length, 0 when the peer hung up, or -errno. */
ssize_t handoff_recv(int sock, void *buf, size_t cap, handoff_object *obj);

/* Client: maps `size` bytes at `offset` of the object. */
int handoff_map(const handoff_object *o, size_t size, uint64_t offset,
                unsigned prot, void **out);
int handoff_unmap(void *addr, size_t size);

#endif
