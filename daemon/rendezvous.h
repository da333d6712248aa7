/* The handoff rendezvous's pending table: objects offered to one peer
 * under a one-time nonce, waiting for that peer to claim them.
 *
 * On macOS a block reply carries a nonce on the Unix socket and the client
 * then asks the daemon's Mach service for the memory entry with it
 * (daemon/handoff_service_darwin.c, after Chromium's MachPortRendezvous).
 * The request loop offers (it knows the socket's peer); the Mach thread
 * claims (it knows the sender from the message's audit token). An entry
 * is single-use: any claim of its nonce removes it, the right peer's or
 * not, so a leaked nonce is worth one failed attempt. Entries nobody
 * claims expire after the table's time to live and are released.
 *
 * Every object is given back exactly once: to the claimer, or to the
 * release function (expiry, cancel, rendezvous_free). Thread-safe; times
 * are the caller's monotonic nanoseconds, so tests run on fake time. */
#ifndef MEMPOOL_RENDEZVOUS_H
#define MEMPOOL_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>

#define RENDEZVOUS_NONCE_SIZE 16

/* Who may claim: a process, and which incarnation of its pid (Darwin's
 * audit token carries both: pid and pidversion). */
typedef struct rendezvous_peer {
    int32_t pid;
    uint32_t pidversion;
} rendezvous_peer;

/* Gives back an object nobody claimed (on Darwin: deallocates a send
 * right). */
typedef void rendezvous_release_fn(uint32_t object, void *arg);

typedef struct rendezvous_table rendezvous_table;

/* A table holding at most `capacity` pending objects for `ttl_ns` each;
 * NULL when out of memory. */
rendezvous_table *rendezvous_new(size_t capacity, uint64_t ttl_ns,
                                 rendezvous_release_fn *release, void *arg);
/* Releases every pending object and frees the table. */
void rendezvous_free(rendezvous_table *t);

/* Offers `object` to `peer` under `nonce` until now + ttl. On failure the
 * object stays the caller's: -EEXIST (the nonce is pending already),
 * -EAGAIN (the table is full even after expiring what is due), -EINVAL (an
 * all-zero nonce, which names nothing). */
int rendezvous_offer(rendezvous_table *t,
                     const unsigned char nonce[RENDEZVOUS_NONCE_SIZE],
                     const rendezvous_peer *peer, uint32_t object,
                     uint64_t now_ns);

/* Takes the object pending under `nonce` for `peer`: 0 and *object, which
 * is then the caller's; -ENOENT when nothing is pending under the nonce
 * (never was, already claimed, or expired); -EPERM when another peer
 * presents it (the entry is released all the same). */
int rendezvous_claim(rendezvous_table *t,
                     const unsigned char nonce[RENDEZVOUS_NONCE_SIZE],
                     const rendezvous_peer *peer, uint64_t now_ns,
                     uint32_t *object);

/* Withdraws and releases the object pending under `nonce` (the reply that
 * announced it could not be sent); 0 or -ENOENT. */
int rendezvous_cancel(rendezvous_table *t,
                      const unsigned char nonce[RENDEZVOUS_NONCE_SIZE]);

/* Releases every object whose time is up; returns how many. Offer and
 * claim do this too, so a table nobody calls holds at most what was
 * offered last. */
size_t rendezvous_expire(rendezvous_table *t, uint64_t now_ns);

/* Objects pending now, expired or not. */
size_t rendezvous_pending(rendezvous_table *t);

#endif
