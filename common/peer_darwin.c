/* Peer credentials on Darwin, from xnu's bsd/sys/un.h and bsd/sys/ucred.h:
 *   getpeereid(2)                       uid and gid;
 *   getsockopt(SOL_LOCAL, LOCAL_PEERCRED)  struct xucred: cr_version (must
 *       be XUCRED_VERSION), cr_uid, cr_ngroups, cr_groups[NGROUPS] with the
 *       effective gid in cr_groups[0];
 *   getsockopt(SOL_LOCAL, LOCAL_PEERPID)   the peer's pid_t.
 * All three are the credentials the kernel recorded at connect time. The
 * xucred list is cut at NGROUPS (16) and "advisory" (ucred.h), so the
 * groups a policy names are checked with Open Directory as well
 * (peer_add_named_groups: mbr_check_membership, <membership.h>). */
#include "peer.h"

#include <errno.h>
#include <membership.h>
#include <string.h>
#include <sys/param.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/ucred.h>
#include <sys/un.h>
#include <unistd.h>

/* xucred lists the effective gid first and may list it again among the
 * supplementary groups: keep each group once. */
static bool has_group(const peer_cred *out, uint32_t gid)
{
    for (size_t i = 0; i < out->ngroups; i++)
        if (out->groups[i] == gid)
            return true;
    return false;
}

static void add_unique_group(peer_cred *out, gid_t group)
{
    if (!has_group(out, (uint32_t)group) && out->ngroups < PEER_KERNEL_GROUPS)
        out->groups[out->ngroups++] = (uint32_t)group;
}

static int peer_groups(int sock, uid_t uid, peer_cred *out)
{
    struct xucred xu;
    socklen_t len = sizeof xu;
    if (getsockopt(sock, SOL_LOCAL, LOCAL_PEERCRED, &xu, &len) != 0)
        return -errno;
    if (xu.cr_version != XUCRED_VERSION || xu.cr_uid != uid)
        return -EPROTO;
    for (int i = 0; i < xu.cr_ngroups && i < NGROUPS; i++)
        add_unique_group(out, xu.cr_groups[i]);
    return 0;
}

int peer_credentials(int sock, peer_cred *out)
{
    uid_t uid;
    gid_t gid;
    memset(out, 0, sizeof *out);
    if (getpeereid(sock, &uid, &gid) != 0)
        return -errno;
    out->uid = (uint32_t)uid;
    out->gid = (uint32_t)gid;
    add_unique_group(out, gid);
    int err = peer_groups(sock, uid, out);
    if (err != 0)
        return err;
    pid_t pid;
    socklen_t len = sizeof pid;
    if (getsockopt(sock, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) != 0)
        return -errno;
    out->pid = (int32_t)pid;
    out->groups_partial = true; /* xucred's list is advisory */
    return 0;
}

/* One membership question to Open Directory (opendirectoryd answers from
 * its cache); an error is "not a member". */
static bool is_member(const uuid_t user, uint32_t gid)
{
    uuid_t group;
    int member = 0;
    if (mbr_gid_to_uuid((gid_t)gid, group) != 0)
        return false;
    return mbr_check_membership(user, group, &member) == 0 && member != 0;
}

void peer_add_named_groups(int sock, peer_cred *out, const uint32_t *named, size_t n)
{
    (void)sock;
    uuid_t user;
    if (!out->groups_partial || mbr_uid_to_uuid((uid_t)out->uid, user) != 0)
        return;
    for (size_t i = 0; i < n && out->ngroups < PEER_MAX_GROUPS; i++)
        if (!has_group(out, named[i]) && is_member(user, named[i]))
            out->groups[out->ngroups++] = named[i];
}
