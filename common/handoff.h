/* Handoff: turning a range of a pool into something another process can
 * map, and carrying it across. One interface, one file per OS:
 *
 *   Linux   a memfd, sent with SCM_RIGHTS on a SOCK_SEQPACKET socket in the
 *           same message as the reply frame (handoff_linux.c);
 *   Darwin  a Mach memory entry (mach_make_memory_entry_64 over the
 *           daemon's mapping). A port cannot cross a Unix socket: the
 *           (stream) socket carries the frame and a one-time nonce, and the
 *           client fetches the entry from the daemon's Mach service with
 *           that nonce (handoff_darwin.c; the daemon's side of the
 *           rendezvous is daemon/handoff_service_darwin.c).
 *
 * Preconditions: addresses and sizes are page-aligned; `prot` is
 * MEMPOOL_READ or MEMPOOL_READ|MEMPOOL_WRITE. Functions return 0 (or a
 * byte count) or -errno. */
#ifndef MEMPOOL_HANDOFF_H
#define MEMPOOL_HANDOFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The daemon's Mach service for the rendezvous: the MachServices key of
 * launchd/org.mempool.mempoold.plist. */
#define MEMPOOL_MACH_SERVICE "org.mempool.mempoold.handoff"

#define HANDOFF_NONCE_SIZE 16

typedef struct handoff_object {
    int fd;        /* Linux: a descriptor of the backing, -1 for none */
    uint32_t port; /* Darwin: a send right to a memory entry, 0 for none */
    /* Darwin: names the object at the rendezvous, for one fetch by the
     * peer it was made for; all zeros on Linux. */
    unsigned char nonce[HANDOFF_NONCE_SIZE];
} handoff_object;

#define HANDOFF_OBJECT_NONE ((handoff_object){ .fd = -1, .port = 0 })

/* The socket type both sides use for the client protocol. On a
 * SOCK_SEQPACKET socket one message is one frame; on a SOCK_STREAM socket
 * (macOS) frames are read header first (proto_frame_size). */
int handoff_socket_type(void);

/* The Mach service name the rendezvous uses: $MEMPOOL_MACH_SERVICE when
 * set and not empty (tests, a second daemon by hand), else
 * MEMPOOL_MACH_SERVICE. */
const char *handoff_service_name(void);

/* Daemon: something the peer can map with `prot`, covering [addr,
 * addr+size) of the daemon's mapping of `backing_fd`. A read-only object
 * must refuse a writable mapping in the receiver. */
int handoff_export(int backing_fd, void *addr, size_t size, unsigned prot,
                   handoff_object *out);
void handoff_object_close(handoff_object *o);
/* True when the object holds nothing. */
int handoff_object_empty(const handoff_object *o);

/* Sends one frame, with `obj` attached where the socket can carry it
 * (Linux); on Darwin the object goes through the rendezvous instead
 * (handoff_offer in daemon/handoff_service.h) and only the frame is sent. */
int handoff_send(int sock, const void *frame, size_t len,
                 const handoff_object *obj);
/* Receives into buf: on a SOCK_SEQPACKET socket one whole frame, on a
 * stream socket up to `cap` bytes of the stream. An attached descriptor
 * lands in *obj (close-on-exec set); with obj NULL, on a truncated message
 * (MSG_TRUNC or MSG_CTRUNC), or on a stream (where nothing may be
 * attached), whatever arrived is closed and -EPROTO returned. Returns the
 * bytes received, 0 when the peer hung up, or -errno. */
ssize_t handoff_recv(int sock, void *buf, size_t cap, handoff_object *obj);

/* Client, after a block reply marked PROTO_BACKING_ATTACHED: makes *obj
 * the backing that reply announced. Linux: it came in the reply's own
 * message, so it must be in *obj already (-EPROTO otherwise). Darwin: it
 * is fetched from the daemon's Mach service with the reply's nonce
 * (-ETIMEDOUT when the daemon does not answer, -EPROTO for an answer that
 * is not a memory entry, -ENOENT when the service is not registered). */
int handoff_collect(int sock, const unsigned char nonce[HANDOFF_NONCE_SIZE],
                    handoff_object *obj);

/* Client: the bytes the object covers (Linux: the memfd's size), so that
 * a pool-wide backing is mapped once, whole; -ENOSYS where that cannot be
 * known (Darwin, where pool-wide backings never travel: each block is its
 * own memory entry there). */
int handoff_object_size(const handoff_object *o, uint64_t *out);

/* Client: maps `size` bytes at `offset` of the object. */
int handoff_map(const handoff_object *o, size_t size, uint64_t offset,
                unsigned prot, void **out);
int handoff_unmap(void *addr, size_t size);

#endif
