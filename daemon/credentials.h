/* Who a peer is, as the policy needs to know it: the kernel's credentials
 * (common/peer.h) and, of the groups the policy grants something to, each
 * one the peer is a member of even where the kernel's list is cut short
 * (peer_add_named_groups). Used by the client and admin sockets alike. */
#ifndef MEMPOOL_CREDENTIALS_H
#define MEMPOOL_CREDENTIALS_H

#include "peer.h"
#include "policy.h"

/* 0 or the -errno of peer_credentials. */
int credentials_for_policy(int sock, const policy *pol, peer_cred *out);

#endif
