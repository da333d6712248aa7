/* Cross-build shim, on the include path only for tests/darwin/cross-build.sh
 * (after every real header folder): Zig 0.11's macOS headers have no
 * <membership.h>. On a Mac the SDK's own file is used.
 *
 * Only what common/peer_darwin.c calls, declared as in the SDK's
 * membership.h (Libinfo, lookup.subproj); libSystem exports all three
 * (Zig's libSystem.11/12/13.tbd list _mbr_check_membership,
 * _mbr_uid_to_uuid and _mbr_gid_to_uuid). */
#ifndef _MEMBERSHIP_H_
#define _MEMBERSHIP_H_

#include <sys/types.h>
#include <uuid/uuid.h>

int mbr_uid_to_uuid(uid_t id, uuid_t uu);
int mbr_gid_to_uuid(gid_t id, uuid_t uu);
int mbr_check_membership(const uuid_t user, const uuid_t group, int *ismember);

#endif /* _MEMBERSHIP_H_ */
