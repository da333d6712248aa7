/* The connection behind a mempool_client: the socket, the HELLO, the
 * requests in flight and their replies, and the reconnect rule.
 *
 * Several threads may have a request in flight at once, and the daemon
 * may answer them in any order (a LOOKUP may wait for its name). Each
 * call sends its frame under the lock and waits for the reply whose
 * request_id is its own. One thread at a time, whichever call is waiting,
 * reads the socket with the lock released ("the reader"); it hands each
 * reply it reads to the call it belongs to and wakes the others, one of
 * which takes the reader's seat if its reply has not come yet.
 *
 * Epochs: c->epoch changes every time the connection is dropped, so a
 * block whose epoch differs from the client's was obtained on a
 * connection that is gone, and the daemon let go of it when it went. */
#ifndef MEMPOOL_CLIENT_SESSION_H
#define MEMPOOL_CLIENT_SESSION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "blocks.h"
#include "handoff.h"
#include "pools.h"
#include "mempool.h"
#include "proto.h"

#define SESSION_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

typedef struct session_pending session_pending;

struct mempool_client {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t turn;  /* a reply came, or the reader's seat is free */
    char path[SESSION_PATH_MAX];
    int sock; /* -1 while disconnected */
    int reader_sock; /* the socket a thread is receiving on without the
                        lock (the current one, or one dropped since); -1 */
    session_pending *pending; /* requests sent and not yet answered */
    uint64_t epoch;
    uint64_t next_request_id;
    uint64_t session_id;
    uint64_t fork_generation; /* session_fork_generation() at connect */
    block_table blocks;
    backing_table backings;
    client_pools pools;
    proto_cache cache_reports; /* cache reports not yet sent (cache.h) */
    bool give_back_requested; /* a reply carried PROTO_FLAG_GIVE_BACK */
    mempool_client *fork_prev, *fork_next; /* every client (session.c) */
};

typedef struct session_request {
    uint16_t type;
    unsigned char payload[PROTO_MAX_FRAME];
    size_t len;
    int retry_safe; /* may be sent again on a new connection */
    int takes_object; /* the reply may bring a backing */
} session_request;

typedef struct session_reply {
    unsigned char payload[PROTO_MAX_FRAME];
    handoff_object obj; /* what the reply brought; the caller owns it */
} session_reply;

/* Where mempool_connect(arg) connects: arg, else $MEMPOOL_SOCKET, else the
 * per-user default if that socket exists, else the system socket.
 * 0, or MEMPOOL_EINVAL for an empty path or one too long for a socket. */
int session_resolve_path(const char *arg, char *buf, size_t len);

/* The lock and the condition variable of a new client; 0 or
 * MEMPOOL_ENOMEM. */
int session_init(mempool_client *c);
void session_destroy(mempool_client *c);
/* Connects and says HELLO. 0, MEMPOOL_ECONN, MEMPOOL_EVERSION, ... */
int session_open(mempool_client *c);
/* Closes the connection (the daemon releases what it held) and moves to
 * the next epoch; the requests in flight fail with MEMPOOL_ECONNLOST.
 * Mapped blocks stay mapped; kept mappings of released blocks are
 * unmapped (they were kept for that connection). */
void session_drop(mempool_client *c);
/* Sends the request and waits for its reply, connecting first if the
 * connection is down. When the daemon is found gone, a retry_safe request
 * is sent again on a new connection (one reconnect per call); any other
 * gets MEMPOOL_ECONNLOST and the next call reconnects. An error reply's
 * status is returned as it is. Called with c->lock held; the lock is
 * released while the reply is awaited, so whatever the caller looked up
 * under it must be looked up again afterwards. */
int session_call(mempool_client *c, const session_request *rq,
                 session_reply *rp);

/* fork(): the child must not use the parent's connection (its frames
 * would interleave with the parent's and the replies go to whoever reads
 * first). A pthread_atfork handler counts forks in the child; a client
 * whose count differs was made before a fork in this process's past.
 * The same handlers hold every client's lock across the fork, so that a
 * thread inside a call at that moment cannot leave the child's copy
 * locked (session.c). session_init and session_fork_generation register
 * them on first use. */
uint64_t session_fork_generation(void);
/* In a child after fork: forgets the parent's connection, blocks and
 * backings without a word to the daemon (closing the child's copy of the
 * socket leaves the parent's connection open; the blocks stay mapped but
 * are the parent's), so the next call opens the child's own connection. */
void session_forget_parent(mempool_client *c);

/* Sends a one-way request (RELEASE): no reply comes, so nothing is read.
 * 0; MEMPOOL_ECONNLOST when the connection is down or the send fails (the
 * connection is then dropped, and the daemon lets go of what it held). */
int session_send_oneway(mempool_client *c, uint16_t type, const void *payload, size_t len);

#endif
