/* The client socket: sessions, the request loop and the replies. */
#ifndef MEMPOOL_SERVER_H
#define MEMPOOL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "mempool.h"
#include "proto.h"

/* Serves clients on `listen_fd`, an already bound and listening socket of
 * handoff_socket_type(). */
int server_start(daemon_state *d, int listen_fd, server **out);
/* Stops accepting, answers the requests already queued on every session,
 * then closes them all (releasing what they held). */
void server_stop(server *s);
void server_free(server *s);

/* MEMPOOL_E* codes are -1 .. -(SERVER_ERROR_CODES - 1); index 0 holds
 * any other. */
#define SERVER_COUNT_CODE(name, num, text) +1
enum { SERVER_ERROR_CODES = 1 MEMPOOL_ERRNO_MAP(SERVER_COUNT_CODE) };
#undef SERVER_COUNT_CODE

typedef struct server_stats {
    uint64_t clients, clients_total, refused;
    uint64_t releases_refused; /* one-way releases the daemon could not honour */
    uint64_t requests[PROTO_TYPE_LIMIT]; /* by proto_type; [0]: malformed */
    /* Refused requests by proto_type ([0]: malformed frames) and by code
     * (index -code); a refused connection counts as a refused HELLO. */
    uint64_t errors[PROTO_TYPE_LIMIT][SERVER_ERROR_CODES];
} server_stats;
void server_get_stats(const server *s, server_stats *out);

/* One connected client, for the admin `clients` command. */
typedef struct server_client_info {
    uint64_t id;
    int32_t pid;
    uint32_t uid, gid;
    const char *name;          /* given at hello; "" before it */
    uint64_t connected_unix_ms;
    uint64_t blocks, bytes;    /* holds, and the bytes of what it holds */
    uint64_t cached;           /* of those bytes: in its block cache */
    const pool_client *account; /* for per-pool figures (pool_client_use) */
} server_client_info;

/* The published names and the waiting lookups (admin, metrics). */
struct names;
const struct names *server_names(const server *s);

void server_foreach_client(const server *s,
                           void (*fn)(const server_client_info *, void *),
                           void *arg);

#endif
