/* Who is at the other end of a Unix socket, from the kernel's word only
 * (SO_PEERCRED and SO_PEERGROUPS on Linux, getpeereid, LOCAL_PEERCRED and
 * LOCAL_PEERPID on Darwin): never from anything the peer says. */
#ifndef MEMPOOL_PEER_H
#define MEMPOOL_PEER_H

#include <stddef.h>
#include <stdint.h>

#define PEER_MAX_GROUPS 64

typedef struct peer_cred {
    int32_t pid;
    uint32_t uid;
    uint32_t gid;
    uint32_t groups[PEER_MAX_GROUPS]; /* supplementary groups, gid first */
    size_t ngroups;
} peer_cred;

int peer_credentials(int sock, peer_cred *out);

#endif
