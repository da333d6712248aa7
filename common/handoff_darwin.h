/* The Mach messages of the handoff rendezvous, shared by the client
 * (common/handoff_darwin.c) and the daemon (daemon/handoff_service_darwin.c).
 * Darwin only: included by *_darwin.c files alone.
 *
 * The exchange is Chromium's MachPortRendezvous (base/apple/
 * mach_port_rendezvous.cc): the client sends a request carrying a
 * send-once reply right (MACH_MSG_TYPE_MAKE_SEND_ONCE) and waits on it; the
 * daemon answers with one port descriptor through that right, or destroys
 * the request, which turns the reply right into a send-once notification
 * (MACH_NOTIFY_SEND_ONCE) the client reads as a refusal. Here the request
 * also carries the nonce the block reply gave the client. */
#ifndef MEMPOOL_HANDOFF_DARWIN_H
#define MEMPOOL_HANDOFF_DARWIN_H

#include <errno.h>
#include <mach/mach.h>
#include <stddef.h>

#include "handoff.h"

/* Message ids, as Chromium's 'mrzv'/'MRZV': four letters that show in a
 * trace. */
#define HANDOFF_MSG_REQUEST 0x6d706e63 /* 'mpnc': client -> daemon, a nonce */
#define HANDOFF_MSG_REPLY 0x4d504e43   /* 'MPNC': daemon -> client, the entry */
#define HANDOFF_MSG_WAKE 0x6d707374    /* 'mpst': the daemon to itself, stop */

typedef struct handoff_request_msg {
    mach_msg_header_t header;
    unsigned char nonce[HANDOFF_NONCE_SIZE];
} handoff_request_msg;

typedef struct handoff_reply_msg {
    mach_msg_header_t header;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t entry; /* a send right to the memory entry */
} handoff_reply_msg;

/* The layouts both sides build by hand and check against msgh_size: a
 * request is a header and the nonce; a reply a header, a body and one port
 * descriptor (12 bytes: mach/message.h packs descriptors to 4). Sizes must
 * be multiples of 4 (xnu refuses a msgh_size that is not). */
_Static_assert(offsetof(handoff_request_msg, nonce) == sizeof(mach_msg_header_t),
               "the nonce follows the header");
_Static_assert(sizeof(handoff_request_msg) == sizeof(mach_msg_header_t) + HANDOFF_NONCE_SIZE,
               "a request is a header and a nonce, no padding");
_Static_assert(sizeof(mach_msg_port_descriptor_t) == 12, "port descriptors are 12 bytes");
_Static_assert(offsetof(handoff_reply_msg, entry) ==
                   sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t),
               "the descriptor follows the body");
_Static_assert(sizeof(handoff_reply_msg) == sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t) +
                                                sizeof(mach_msg_port_descriptor_t),
               "a reply is a header, a body and one descriptor, no padding");
_Static_assert(sizeof(handoff_request_msg) % 4 == 0 && sizeof(handoff_reply_msg) % 4 == 0,
               "message sizes are multiples of 4");
/* The audit token the service reads the pid (val[5]) and pid version
 * (val[7]) from: eight 32-bit words (mach/message.h). */
_Static_assert(sizeof(audit_token_t) == 8 * sizeof(unsigned int), "audit_token_t is val[8]");

/* How long a client waits for the daemon's answer, and how long an offer
 * waits for its client: a client asks right after reading the reply, so
 * both are generous. */
#define HANDOFF_TIMEOUT_MS 5000

/* The errno closest to a Mach VM or IPC result. */
static inline int handoff_kr_errno(kern_return_t kr)
{
    switch (kr) {
    case KERN_SUCCESS:
        return 0;
    case KERN_INVALID_ADDRESS:
        return -EFAULT;
    case KERN_PROTECTION_FAILURE:
    case KERN_INVALID_RIGHT:
        return -EACCES;
    case KERN_NO_SPACE:
    case KERN_RESOURCE_SHORTAGE:
        return -ENOMEM;
    case KERN_INVALID_ARGUMENT:
    case KERN_INVALID_VALUE:
        return -EINVAL;
    case KERN_INVALID_NAME:
        return -EBADF;
    default:
        return -EIO;
    }
}

#endif
