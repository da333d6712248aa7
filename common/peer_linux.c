/* Peer credentials on Linux: SO_PEERCRED for pid, uid and gid (captured by
 * the kernel at connect time), SO_PEERGROUPS (Linux 4.13) for the
 * supplementary groups. */
#include "peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

static bool has_group(const peer_cred *out, uint32_t gid)
{
    for (size_t i = 0; i < out->ngroups; i++)
        if (out->groups[i] == gid)
            return true;
    return false;
}

/* Adds a group unless it is already listed. A peer in more groups than
 * the kernel's share of peer_cred loses the excess here; the groups the
 * policy names are looked for again by peer_add_named_groups. */
static void add_group(peer_cred *out, uint32_t gid)
{
    if (has_group(out, gid))
        return;
    if (out->ngroups < PEER_KERNEL_GROUPS)
        out->groups[out->ngroups++] = gid;
    else
        out->groups_partial = true;
}

/* Fills `*groups` (the caller frees it when it differs from `local`) and
 * `*count`; 0, or -errno. */
static int peer_groups(int sock, gid_t *local, size_t local_count,
                       gid_t **groups, size_t *count)
{
    socklen_t len = (socklen_t)(local_count * sizeof(gid_t));
    *groups = local;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, local, &len) == 0) {
        *count = len / sizeof(gid_t);
        return 0;
    }
    if (errno != ERANGE)
        return -errno;
    /* The kernel wrote the size it needs into len. */
    gid_t *big = malloc(len);
    if (big == NULL)
        return -ENOMEM;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, big, &len) != 0) {
        int err = -errno;
        free(big);
        return err;
    }
    *groups = big;
    *count = len / sizeof(gid_t);
    return 0;
}

static int add_supplementary_groups(int sock, peer_cred *out)
{
    gid_t local[PEER_MAX_GROUPS];
    gid_t *groups = local;
    size_t count = 0;
    int err = peer_groups(sock, local, PEER_MAX_GROUPS, &groups, &count);
    if (err == -ENOPROTOOPT)
        return 0; /* an older kernel: the primary gid is all we can know */
    if (err != 0)
        return err;
    for (size_t i = 0; i < count; i++)
        add_group(out, (uint32_t)groups[i]);
    if (groups != local)
        free(groups);
    return 0;
}

int peer_credentials(int sock, peer_cred *out)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    memset(out, 0, sizeof *out);
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return -errno;
    if (len != sizeof cred)
        return -EPROTO;
    out->pid = (int32_t)cred.pid;
    out->uid = (uint32_t)cred.uid;
    out->gid = (uint32_t)cred.gid;
    add_group(out, out->gid);
    return add_supplementary_groups(sock, out);
}

void peer_add_named_groups(int sock, peer_cred *out, const uint32_t *named, size_t n)
{
    if (!out->groups_partial)
        return;
    gid_t local[PEER_MAX_GROUPS];
    gid_t *groups = local;
    size_t count = 0;
    if (peer_groups(sock, local, PEER_MAX_GROUPS, &groups, &count) != 0)
        return;
    for (size_t i = 0; i < n && out->ngroups < PEER_MAX_GROUPS; i++) {
        if (has_group(out, named[i]))
            continue;
        for (size_t k = 0; k < count; k++)
            if ((uint32_t)groups[k] == named[i]) {
                out->groups[out->ngroups++] = named[i];
                break;
            }
    }
    if (groups != local)
        free(groups);
}
