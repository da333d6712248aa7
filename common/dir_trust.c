#include "dir_trust.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Links followed before giving up with ELOOP, as Linux's MAXSYMLINKS. */
#define MAX_LINKS 40

/* A path being resolved one name at a time, as the kernel does, so that
 * every symbolic link on the way is seen and judged. */
typedef struct {
    char done[PATH_MAX]; /* the real folder reached so far; "" is / */
    char names_left[PATH_MAX]; /* separated by slashes */
    int links;
    char *why;
    size_t why_len;
} walk;

static int refuse(walk *w, int rc, const char *fmt, ...)
{
    if (w->why != NULL && w->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->why, w->why_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static const char *shown(const char *path) { return path[0] == '\0' ? "/" : path; }

static int is_ours(uid_t uid) { return uid == geteuid() || uid == 0; }

/* The rules of mempool_dir_check for one real folder. */
static int judge_folder(walk *w, const char *path)
{
    struct stat st;
    if (stat(shown(path), &st) != 0)
        return refuse(w, -errno, "%s: %s", shown(path), strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return refuse(w, -ENOTDIR, "%s is not a folder", shown(path));
    if (!is_ours(st.st_uid))
        return refuse(w, -EPERM, "%s is owned by uid %u, neither this user (uid %u) nor root",
                      shown(path), (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & S_ISVTX) != 0)
        return 0;
    if ((st.st_mode & S_IWOTH) != 0)
        return refuse(w, -EPERM, "%s is writable by every user (mode %04o) and not sticky",
                      shown(path), (unsigned)(st.st_mode & 07777));
    if ((st.st_mode & S_IWGRP) != 0 && st.st_gid >= MEMPOOL_FIRST_USER_GID)
        return refuse(w, -EPERM,
                      "%s is writable by group %u (mode %04o), not a system group, and not sticky",
                      shown(path), (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
    return 0;
}

/* Moves the first of names_left into name. */
static int next_name(walk *w, char *name, size_t len)
{
    char *p = w->names_left;
    while (*p == '/')
        p++;
    size_t n = strcspn(p, "/");
    if (n >= len)
        return refuse(w, -ENAMETOOLONG, "a name in the path is too long");
    memcpy(name, p, n);
    name[n] = '\0';
    memmove(w->names_left, p + n, strlen(p + n) + 1);
    return 0;
}

/* The link's target goes in front of the names left; an absolute one
 * starts again from /. */
static int follow_link(walk *w, const char *link, const struct stat *st)
{
    char target[PATH_MAX], rest[PATH_MAX];
    if (++w->links > MAX_LINKS)
        return refuse(w, -ELOOP, "too many symbolic links at %s", link);
    if (!is_ours(st->st_uid))
        return refuse(w, -EPERM,
                      "the symbolic link %s is owned by uid %u, neither this user (uid %u) nor root",
                      link, (unsigned)st->st_uid, (unsigned)geteuid());
    int rc = judge_folder(w, w->done); /* whoever writes there can swap the link */
    if (rc != 0)
        return rc;
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
        return refuse(w, -errno, "%s: %s", link, strerror(errno));
    target[n] = '\0';
    strcpy(rest, w->names_left);
    if (snprintf(w->names_left, sizeof w->names_left, "%s/%s", target, rest) >= (int)sizeof w->names_left)
        return refuse(w, -ENAMETOOLONG, "the path through %s is too long", link);
    if (target[0] == '/')
        w->done[0] = '\0';
    return 0;
}

static int step(walk *w)
{
    char name[NAME_MAX + 1], next[PATH_MAX];
    struct stat st;
    int rc = next_name(w, name, sizeof name);
    if (rc != 0 || name[0] == '\0' || strcmp(name, ".") == 0)
        return rc;
    if (strcmp(name, "..") == 0) {
        if (w->done[0] != '\0') /* "" or a path that starts with '/' */
            *strrchr(w->done, '/') = '\0';
        return 0;
    }
    if (snprintf(next, sizeof next, "%s/%s", w->done, name) >= (int)sizeof next)
        return refuse(w, -ENAMETOOLONG, "the path is too long at %s", name);
    if (lstat(next, &st) != 0)
        return refuse(w, -errno, "%s: %s", next, strerror(errno));
    if (S_ISLNK(st.st_mode))
        return follow_link(w, next, &st);
    strcpy(w->done, next);
    return 0;
}

int mempool_dir_check(const char *dir, char *why, size_t why_len)
{
    walk w = { .why = why, .why_len = why_len };
    if (dir[0] != '/' && getcwd(w.done, sizeof w.done) == NULL)
        return refuse(&w, -errno, "the current folder: %s", strerror(errno));
    if (strcmp(w.done, "/") == 0)
        w.done[0] = '\0';
    if (snprintf(w.names_left, sizeof w.names_left, "%s", dir) >= (int)sizeof w.names_left)
        return refuse(&w, -ENAMETOOLONG, "the path is too long");
    int rc = 0;
    while (rc == 0 && w.names_left[0] != '\0')
        rc = step(&w);
    return rc != 0 ? rc : judge_folder(&w, w.done);
}
