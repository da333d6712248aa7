/* Users and groups of a policy: names resolved to ids when the policy loads
 * (so a reload is needed to see a renamed user, as with sshd), and the
 * sorted id lists the access checks search. */
#include "policy_internal.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* getpwnam_r and friends need a scratch buffer of a size only the C
   library knows; ERANGE means try a bigger one. */
#define LOOKUP_BUFFER_MAX (1024 * 1024)

typedef struct id_lookup {
    int (*by_name)(const char *name, uint32_t *id, char *buf, size_t len);
    int (*by_id)(uint32_t id, char *name, size_t name_len, char *buf, size_t len);
    int size_hint;   /* the sysconf name for the buffer size */
} id_lookup;

/* The lookup functions report "not found" as 0 with a NULL result, or, on
   some systems, as one of these. */
static bool means_not_found(int rc)
{
    return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

static int user_by_name(const char *name, uint32_t *id, char *buf, size_t len)
{
    struct passwd pw, *found = NULL;
    int rc = getpwnam_r(name, &pw, buf, len, &found);
    if (found != NULL) {
        *id = (uint32_t)pw.pw_uid;
        return 0;
    }
    return means_not_found(rc) ? -ENOENT : -rc;
}

static int group_by_name(const char *name, uint32_t *id, char *buf, size_t len)
{
    struct group gr, *found = NULL;
    int rc = getgrnam_r(name, &gr, buf, len, &found);
    if (found != NULL) {
        *id = (uint32_t)gr.gr_gid;
        return 0;
    }
    return means_not_found(rc) ? -ENOENT : -rc;
}

static int user_by_id(uint32_t id, char *name, size_t name_len, char *buf, size_t len)
{
    struct passwd pw, *found = NULL;
    int rc = getpwuid_r((uid_t)id, &pw, buf, len, &found);
    if (found != NULL) {
        snprintf(name, name_len, "%s", pw.pw_name);
        return 0;
    }
    return means_not_found(rc) ? -ENOENT : -rc;
}

static int group_by_id(uint32_t id, char *name, size_t name_len, char *buf, size_t len)
{
    struct group gr, *found = NULL;
    int rc = getgrgid_r((gid_t)id, &gr, buf, len, &found);
    if (found != NULL) {
        snprintf(name, name_len, "%s", gr.gr_name);
        return 0;
    }
    return means_not_found(rc) ? -ENOENT : -rc;
}

static const id_lookup users = { user_by_name, user_by_id, _SC_GETPW_R_SIZE_MAX };
static const id_lookup groups = { group_by_name, group_by_id, _SC_GETGR_R_SIZE_MAX };

static size_t first_buffer_size(const id_lookup *lookup)
{
    long hint = sysconf(lookup->size_hint);
    return hint > 0 && hint < LOOKUP_BUFFER_MAX ? (size_t)hint : 4096;
}

/* Runs one lookup (by name when name is set, else by id) with a growing buffer. */
static int run_lookup(const id_lookup *lookup, const char *name, uint32_t *id, char *out,
                      size_t out_len)
{
    int rc = -ERANGE;
    for (size_t len = first_buffer_size(lookup); rc == -ERANGE && len <= LOOKUP_BUFFER_MAX;
         len *= 2) {
        char *buf = malloc(len);
        if (buf == NULL)
            return -ENOMEM;
        rc = name ? lookup->by_name(name, id, buf, len)
                  : lookup->by_id(*id, out, out_len, buf, len);
        free(buf);
    }
    return rc;
}

static bool all_digits(const char *text)
{
    return text[0] != '\0' && strspn(text, "0123456789") == strlen(text);
}

/* Numbers are ids without a lookup, as chown takes them: a container may
   use ids that have no name on the host. (uid_t)-1 means "no id". */
static int resolve(const id_lookup *lookup, const char *text, uint32_t *id)
{
    if (!all_digits(text))
        return run_lookup(lookup, text, id, NULL, 0);
    if (strlen(text) > 10)
        return -EINVAL;
    uint64_t value = strtoull(text, NULL, 10);
    if (value >= UINT32_MAX)
        return -EINVAL;
    *id = (uint32_t)value;
    return 0;
}

int policy_resolve_user(const char *text, uint32_t *uid) { return resolve(&users, text, uid); }

int policy_resolve_group(const char *text, uint32_t *gid) { return resolve(&groups, text, gid); }

/* An all-digit name is written as the id instead: read back, digits are an id. */
static void name_of(const id_lookup *lookup, uint32_t id, char *buf, size_t len)
{
    if (run_lookup(lookup, NULL, &id, buf, len) < 0 || all_digits(buf))
        snprintf(buf, len, "%" PRIu32, id);
}

void policy_user_name(uint32_t uid, char *buf, size_t len) { name_of(&users, uid, buf, len); }

void policy_group_name(uint32_t gid, char *buf, size_t len) { name_of(&groups, gid, buf, len); }

static size_t lower_bound(const policy_idlist *list, uint32_t id)
{
    size_t lo = 0, hi = list->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int policy_idlist_add(policy_idlist *list, uint32_t id)
{
    size_t at = lower_bound(list, id);
    if (at < list->n && list->ids[at] == id)
        return 0;
    uint32_t *ids = realloc(list->ids, (list->n + 1) * sizeof *ids);
    if (ids == NULL)
        return -ENOMEM;
    memmove(ids + at + 1, ids + at, (list->n - at) * sizeof *ids);
    ids[at] = id;
    list->ids = ids;
    list->n++;
    return 0;
}

bool policy_idlist_has(const policy_idlist *list, uint32_t id)
{
    if (list->any)
        return true;
    size_t at = lower_bound(list, id);
    return at < list->n && list->ids[at] == id;
}

bool policy_idlist_equal(const policy_idlist *a, const policy_idlist *b)
{
    return a->any == b->any && a->n == b->n &&
           (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0);
}

void policy_idlist_clear(policy_idlist *list)
{
    free(list->ids);
    *list = (policy_idlist){ 0 };
}
