/* common/dir_trust.c: which folders are trusted with a socket, through
 * symbolic links, and what the refusal says. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "dir_trust.h"

static char dir[] = "/tmp/check_dir_trust.XXXXXX";
static char why[512];

static void setup(void)
{
    strcpy(dir, "/tmp/check_dir_trust.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    why[0] = '\0';
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* dir/name as a path; made as a folder of `mode` when mode is not 0. */
static const char *at(const char *name, mode_t mode)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    if (mode != 0) {
        ck_assert_int_eq(mkdir(p, 0700), 0);
        ck_assert_int_eq(chmod(p, mode), 0);
    }
    return p;
}

static int check(const char *path) { return mempool_dir_check(path, why, sizeof why); }

static void says(const char *words)
{
    ck_assert_msg(strstr(why, words) != NULL, "expected \"%s\" in \"%s\"", words, why);
}

START_TEST(a_private_folder_is_trusted)
{
    ck_assert_int_eq(check(dir), 0);
    ck_assert_int_eq(check(at("own", 0755)), 0);
}
END_TEST

START_TEST(a_folder_every_user_can_write_is_refused_unless_sticky)
{
    const char *open = at("open", 0777);
    ck_assert_int_eq(check(open), -EPERM);
    says(open);
    says("writable by every user (mode 0777) and not sticky");
    ck_assert_int_eq(check(at("sticky", 01777)), 0);
}
END_TEST

START_TEST(what_is_not_a_folder_is_refused)
{
    const char *file = at("file", 0);
    fclose(fopen(file, "w"));
    ck_assert_int_eq(check(file), -ENOTDIR);
    says("is not a folder");
    ck_assert_int_eq(check(at("missing", 0)), -ENOENT);
    says("missing");
}
END_TEST

/* Debian's /var/run -> /run: the link is followed and its folder judged. */
START_TEST(a_symlinked_folder_is_judged_by_the_folder_it_names)
{
    const char *real = at("real", 0755), *link = at("link", 0);
    ck_assert_int_eq(symlink(real, link), 0);
    ck_assert_int_eq(check(link), 0);
    const char *relative = at("relative", 0);
    ck_assert_int_eq(symlink("real", relative), 0);
    ck_assert_int_eq(check(relative), 0);
    /* A folder under a symlinked parent, as /var/run/mempoold. */
    ck_assert_int_eq(mkdir(at("real/sub", 0), 0700), 0);
    ck_assert_int_eq(check(at("link/sub", 0)), 0);
    ck_assert_int_eq(check(at("link/../real/./sub", 0)), 0);
}
END_TEST

START_TEST(a_link_to_an_untrusted_folder_is_refused)
{
    const char *open = at("open", 0777), *link = at("link", 0);
    ck_assert_int_eq(symlink(open, link), 0);
    ck_assert_int_eq(check(link), -EPERM);
    says(open);
    says("writable by every user");
    const char *file = at("file", 0), *to_file = at("to_file", 0);
    fclose(fopen(file, "w"));
    ck_assert_int_eq(symlink(file, to_file), 0);
    ck_assert_int_eq(check(to_file), -ENOTDIR);
}
END_TEST

/* Whoever can write the folder holding a link can point it elsewhere. */
START_TEST(a_link_in_a_folder_others_can_write_is_refused)
{
    const char *real = at("real", 0755);
    at("open", 0777);
    const char *link = at("open/link", 0);
    ck_assert_int_eq(symlink(real, link), 0);
    ck_assert_int_eq(check(link), -EPERM);
    says("/open is writable by every user");
}
END_TEST

START_TEST(a_link_loop_is_refused)
{
    ck_assert_int_eq(symlink("b", at("a", 0)), 0);
    ck_assert_int_eq(symlink("a", at("b", 0)), 0);
    ck_assert_int_eq(check(at("a", 0)), -ELOOP);
    says("too many symbolic links");
}
END_TEST

START_TEST(a_relative_path_starts_at_the_current_folder)
{
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    at("real", 0755);
    ck_assert_int_eq(symlink("real", at("link", 0)), 0);
    ck_assert_int_eq(chdir(dir), 0);
    int rc = check("link");
    int open_rc = chmod("real", 0777) == 0 ? check("./link/") : 1;
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(open_rc, -EPERM);
}
END_TEST

/* ---- as root: other owners and groups ----------------------------------- */

START_TEST(a_folder_or_link_of_another_user_is_refused)
{
    const char *theirs = at("theirs", 0755);
    ck_assert_int_eq(chown(theirs, 65534, 65534), 0);
    ck_assert_int_eq(check(theirs), -EPERM);
    says("is owned by uid 65534, neither this user (uid 0) nor root");
    const char *real = at("real", 0755), *link = at("link", 0);
    ck_assert_int_eq(symlink(real, link), 0);
    ck_assert_int_eq(lchown(link, 65534, 65534), 0);
    ck_assert_int_eq(check(link), -EPERM);
    says("the symbolic link");
    says("is owned by uid 65534");
}
END_TEST

/* macOS's /var/run is root:daemon 0775: a system group may write. */
START_TEST(only_a_system_group_may_write)
{
    const char *system_group = at("daemon", 0775);
    ck_assert_int_eq(chown(system_group, 0, 1), 0);
    ck_assert_int_eq(check(system_group), 0);
    const char *user_group = at("users", 0775);
    ck_assert_int_eq(chown(user_group, 0, 60000), 0);
    ck_assert_int_eq(check(user_group), -EPERM);
    says("writable by group 60000 (mode 0775), not a system group, and not sticky");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dir_trust");
    TCase *tc = tcase_create("dir_trust");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_private_folder_is_trusted);
    tcase_add_test(tc, a_folder_every_user_can_write_is_refused_unless_sticky);
    tcase_add_test(tc, what_is_not_a_folder_is_refused);
    tcase_add_test(tc, a_symlinked_folder_is_judged_by_the_folder_it_names);
    tcase_add_test(tc, a_link_to_an_untrusted_folder_is_refused);
    tcase_add_test(tc, a_link_in_a_folder_others_can_write_is_refused);
    tcase_add_test(tc, a_link_loop_is_refused);
    tcase_add_test(tc, a_relative_path_starts_at_the_current_folder);
    suite_add_tcase(s, tc);
    TCase *root = check_root_tcase("dir_trust_as_root");
    tcase_add_checked_fixture(root, setup, teardown);
    tcase_add_test(root, a_folder_or_link_of_another_user_is_refused);
    tcase_add_test(root, only_a_system_group_may_write);
    suite_add_tcase(s, root);
    return check_run(s);
}
