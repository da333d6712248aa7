/* The kernel's credentials, completed for the groups the policy names. */
#include "credentials.h"

int credentials_for_policy(int sock, const policy *pol, peer_cred *out)
{
    int err = peer_credentials(sock, out);
    if (err != 0 || !out->groups_partial)
        return err;
    uint32_t named[PEER_MAX_GROUPS];
    size_t n = policy_named_groups(pol, named, PEER_MAX_GROUPS);
    peer_add_named_groups(sock, out, named, n < PEER_MAX_GROUPS ? n : PEER_MAX_GROUPS);
    return 0;
}
