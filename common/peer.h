/* Who is at the other end of a Unix socket, from the kernel's word only
 * (SO_PEERCRED and SO_PEERGROUPS on Linux, getpeereid, LOCAL_PEERCRED and
 * LOCAL_PEERPID on Darwin): never from anything the peer says. */
#ifndef MEMPOOL_PEER_H
#define MEMPOOL_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_MAX_GROUPS 64
/* The kernel's list fills at most this many; the rest is room for the
 * groups peer_add_named_groups finds. */
#define PEER_KERNEL_GROUPS 48

typedef struct peer_cred {
    int32_t pid;
    uint32_t uid;
    uint32_t gid;
    uint32_t groups[PEER_MAX_GROUPS]; /* supplementary groups, gid first */
    size_t ngroups;
    bool groups_partial; /* the peer may be in groups the list lacks */
} peer_cred;

int peer_credentials(int sock, peer_cred *out);

/* Of `named` (the groups a policy grants something to), adds to
 * out->groups those the peer is a member of that the list lacks, while
 * there is room. Linux: SO_PEERGROUPS read again in full when it was cut to
 * PEER_KERNEL_GROUPS. Darwin: Open Directory's mbr_check_membership, since
 * LOCAL_PEERCRED's xucred holds at most NGROUPS (16) groups and xnu calls
 * that list advisory (bsd/sys/ucred.h), while macOS users are often in
 * more. A group that cannot be checked is left out: a group only ever
 * grants, so a missing one can deny, never admit. */
void peer_add_named_groups(int sock, peer_cred *out, const uint32_t *named, size_t n);

#endif
