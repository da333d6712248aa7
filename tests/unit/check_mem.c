/* The memory layer, observed from the kernel's side: /proc/self/smaps and
 * /proc/self/maps for mappings, RSS and VmFlags, memfd st_blocks for what a
 * backing holds, and forked children that must die of SIGSEGV where the
 * layer promises a fault. The layer's own counters are checked after every
 * step against the bytes each state should hold. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "mem.h"

#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static size_t page;

static void init_page(void) { page = mem_page_size(); }

/* --- what the kernel says ------------------------------------------------ */

typedef struct smaps_entry {
    uintptr_t start, end;
    char perms[8];
    uint64_t rss;
    char vmflags[256];
} smaps_entry;

static bool smaps_header(const char *line, smaps_entry *e)
{
    return sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &e->start, &e->end,
                  e->perms) == 3;
}

static void smaps_field(const char *line, smaps_entry *e)
{
    unsigned long long kib;
    if (sscanf(line, "Rss: %llu kB", &kib) == 1)
        e->rss = kib * 1024;
    else if (strncmp(line, "VmFlags:", 8) == 0)
        snprintf(e->vmflags, sizeof e->vmflags, "%s", line + 8);
}

/* The smaps entry holding addr; fails the test when there is none. */
static smaps_entry smaps_find(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    smaps_entry e = { 0 }, cur;
    bool found = false, in = false;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (smaps_header(line, &cur)) {
            if (found)
                break;
            in = (uintptr_t)addr >= cur.start && (uintptr_t)addr < cur.end;
            found = in;
            if (in)
                e = (smaps_entry){ .start = cur.start, .end = cur.end };
            if (in)
                memcpy(e.perms, cur.perms, sizeof e.perms);
        } else if (in) {
            smaps_field(line, &e);
        }
    }
    free(line);
    fclose(f);
    ck_assert_msg(found, "no smaps entry holds %p", addr);
    return e;
}

static bool has_vmflag(const smaps_entry *e, const char *flag)
{
    char flags[sizeof e->vmflags];
    memcpy(flags, e->vmflags, sizeof flags);
    char *save = NULL;
    for (char *t = strtok_r(flags, " \n", &save); t != NULL;
         t = strtok_r(NULL, " \n", &save))
        if (strcmp(t, flag) == 0)
            return true;
    return false;
}

/* True when any line of /proc/self/maps overlaps [v, v+n). */
static bool maps_overlap(const void *v, size_t n)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    uintptr_t lo = (uintptr_t)v, hi = lo + n, start, end;
    bool overlap = false;
    char *line = NULL;
    size_t cap = 0;
    while (!overlap && getline(&line, &cap, f) > 0)
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &start, &end) == 2)
            overlap = start < hi && end > lo;
    free(line);
    fclose(f);
    return overlap;
}

static int64_t memfd_blocks_bytes(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    return (int64_t)st.st_blocks * 512;
}

/* The signal a forked child dies of when it writes to p; 0 if it lives.
 * The child restores the default SIGSEGV action first, so that a
 * sanitizer's handler does not turn the fault into an exit code. */
static int child_write_signal(void *p)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigaction(SIGSEGV, &dfl, NULL);
        *(volatile char *)p = 1;
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        return WTERMSIG(status);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    return 0;
}

/* --- what the layer says ------------------------------------------------- */

static void assert_region(const mem_region *r, uint64_t reserved,
                          uint64_t prepared, uint64_t ready)
{
    mem_counters c;
    mem_region_counters(r, &c);
    ck_assert_uint_eq(c.bytes[MEM_NONE], 0);
    ck_assert_uint_eq(c.bytes[MEM_RESERVED], reserved);
    ck_assert_uint_eq(c.bytes[MEM_PREPARED], prepared);
    ck_assert_uint_eq(c.bytes[MEM_READY], ready);
}

static void assert_total(uint64_t reserved, uint64_t prepared, uint64_t ready)
{
    mem_counters t;
    mem_total_counters(&t);
    ck_assert_uint_eq(t.bytes[MEM_NONE], 0);
    ck_assert_uint_eq(t.bytes[MEM_RESERVED], reserved);
    ck_assert_uint_eq(t.bytes[MEM_PREPARED], prepared);
    ck_assert_uint_eq(t.bytes[MEM_READY], ready);
}

/* For tests with a single live region: the region and the totals agree. */
static void assert_counts(const mem_region *r, uint64_t reserved,
                          uint64_t prepared, uint64_t ready)
{
    assert_region(r, reserved, prepared, ready);
    assert_total(reserved, prepared, ready);
}

static void assert_reads_zero(const unsigned char *v, size_t n)
{
    for (size_t off = 0; off < n; off += page)
        ck_assert_msg(v[off] == 0 && v[off + page - 1] == 0,
                      "page at offset %zu is not zero", off);
}

static void assert_filled(const unsigned char *v, size_t n, unsigned char c)
{
    for (size_t off = 0; off < n; off += page)
        ck_assert_msg(v[off] == c && v[off + page - 1] == c,
                      "page at offset %zu lost its contents", off);
}

/* --- reservation -----------------------------------------------------------
 */

START_TEST(reserve_64g_costs_nothing_and_faults)
{
    mem_region *r = NULL;
    ck_assert_int_eq(mem_reserve(NULL, 64 * GiB, &r), 0);
    unsigned char *base = mem_region_base(r);
    ck_assert_uint_eq(mem_region_size(r), 64 * GiB);
    assert_counts(r, 64 * GiB, 0, 0);

    smaps_entry e = smaps_find(base);
    ck_assert_uint_le(e.start, (uintptr_t)base);
    ck_assert_uint_ge(e.end, (uintptr_t)base + 64 * GiB);
    ck_assert_str_eq(e.perms, "---p");
    ck_assert_uint_eq(e.rss, 0);
    ck_assert_int_eq(mem_os_range_resident(base, 64 * GiB), 0);

    ck_assert_int_eq(child_write_signal(base), SIGSEGV);
    ck_assert_int_eq(child_write_signal(base + 32 * GiB), SIGSEGV);
    ck_assert_int_eq(child_write_signal(base + 64 * GiB - page), SIGSEGV);
    ck_assert_int_eq(mem_region_state(r, base + 32 * GiB), MEM_RESERVED);

    ck_assert_int_eq(mem_free(r), 0);
    assert_total(0, 0, 0);
}
END_TEST

/* --- a memfd-backed range: map, touch, unused, used, fault -----------------
 */

typedef struct shared_fixture {
    mem_region *r;
    mem_backing b;
    unsigned char *v;
    size_t n;
} shared_fixture;

static shared_fixture shared_map_256m(void)
{
    shared_fixture f = { .n = 256 * MiB };
    ck_assert_int_eq(mem_reserve(NULL, 64 * GiB, &f.r), 0);
    ck_assert_int_eq(mem_backing_new("check_mem", f.n, &f.b), 0);
    ck_assert_int_ge(f.b.fd, 0);
    f.v = (unsigned char *)mem_region_base(f.r) + GiB;
    ck_assert_int_eq(mem_map(f.r, f.v, f.n, &f.b), 0);
    assert_counts(f.r, 64 * GiB - f.n, f.n, 0);
    ck_assert_int_eq(mem_used(f.r, f.v, f.n, f.n), 0);
    assert_counts(f.r, 64 * GiB - f.n, 0, f.n);
    ck_assert_str_eq(smaps_find(f.v).perms, "rw-s");
    return f;
}

static void shared_free(shared_fixture *f)
{
    ck_assert_int_eq(mem_free(f->r), 0);
    mem_backing_close(&f->b);
    ck_assert_int_eq(f->b.fd, -1);
    assert_total(0, 0, 0);
}

START_TEST(shared_touch_grows_blocks_and_rss)
{
    shared_fixture f = shared_map_256m();
    ck_assert_int_lt(memfd_blocks_bytes(f.b.fd), (int64_t)MiB);
    ck_assert_uint_lt(smaps_find(f.v).rss, MiB);

    memset(f.v, 0xA5, f.n);
    ck_assert_int_ge(memfd_blocks_bytes(f.b.fd), (int64_t)f.n);
    ck_assert_int_eq(mem_backing_resident(&f.b), memfd_blocks_bytes(f.b.fd));
    smaps_entry e = smaps_find(f.v);
    ck_assert_uint_eq(e.start, (uintptr_t)f.v);
    ck_assert_uint_eq(e.end, (uintptr_t)f.v + f.n);
    ck_assert_uint_eq(e.rss, f.n);
    ck_assert_int_eq(mem_os_range_resident(f.v, f.n), (int64_t)f.n);
    shared_free(&f);
}
END_TEST

START_TEST(shared_unused_punches_and_used_restores)
{
    shared_fixture f = shared_map_256m();
    memset(f.v, 0xA5, f.n);
    ck_assert_int_ge(memfd_blocks_bytes(f.b.fd), (int64_t)f.n);

    ck_assert_int_eq(mem_unused(f.r, f.v, f.n, &f.b), 0);
    assert_counts(f.r, 64 * GiB - f.n, f.n, 0);
    ck_assert_int_le(memfd_blocks_bytes(f.b.fd), (int64_t)(16 * page));
    ck_assert_uint_eq(smaps_find(f.v).rss, 0);
    ck_assert_int_eq(mem_os_range_resident(f.v, f.n), 0);
    assert_reads_zero(f.v, f.n);

    ck_assert_int_eq(mem_used(f.r, f.v, f.n, f.n), 0);
    assert_counts(f.r, 64 * GiB - f.n, 0, f.n);
    memset(f.v, 0x3C, f.n);
    assert_filled(f.v, f.n, 0x3C);
    ck_assert_int_ge(memfd_blocks_bytes(f.b.fd), (int64_t)f.n);
    shared_free(&f);
}
END_TEST

START_TEST(shared_fault_frees_backing_and_faults)
{
    shared_fixture f = shared_map_256m();
    memset(f.v, 0xA5, f.n);
    ck_assert_int_eq(child_write_signal(f.v), 0);

    ck_assert_int_eq(mem_fault(f.r, f.v, f.n, &f.b), 0);
    assert_counts(f.r, 64 * GiB, 0, 0);
    ck_assert_int_le(memfd_blocks_bytes(f.b.fd), (int64_t)(16 * page));
    ck_assert_int_eq(child_write_signal(f.v), SIGSEGV);
    ck_assert_int_eq(child_write_signal(f.v + f.n - page), SIGSEGV);
    smaps_entry e = smaps_find(f.v);
    ck_assert_str_eq(e.perms, "---p");
    ck_assert_uint_eq(e.rss, 0);
    ck_assert_int_eq(mem_region_state(f.r, f.v), MEM_RESERVED);

    /* Reserved again, so it can be mapped again, and reads as new. */
    ck_assert_int_eq(mem_map(f.r, f.v, f.n, &f.b), 0);
    ck_assert_int_eq(mem_used(f.r, f.v, f.n, f.n), 0);
    assert_reads_zero(f.v, f.n);
    shared_free(&f);
}
END_TEST

/* --- private memory --------------------------------------------------------
 */

START_TEST(private_unused_drops_rss)
{
    const size_t n = 64 * MiB;
    mem_region *r = NULL;
    ck_assert_int_eq(mem_reserve(NULL, GiB, &r), 0);
    unsigned char *v = (unsigned char *)mem_region_base(r) + 128 * MiB;
    ck_assert_int_eq(mem_map(r, v, n, &MEM_BACKING_ANON), 0);
    ck_assert_str_eq(smaps_find(v).perms, "rw-p");
    ck_assert_int_eq(mem_used(r, v, n, n), 0);
    assert_counts(r, GiB - n, 0, n);

    memset(v, 0x5A, n);
    ck_assert_uint_eq(smaps_find(v).rss, n);
    ck_assert_int_eq(mem_os_range_resident(v, n), (int64_t)n);

    ck_assert_int_eq(mem_unused(r, v, n, &MEM_BACKING_ANON), 0);
    assert_counts(r, GiB - n, n, 0);
    ck_assert_uint_eq(smaps_find(v).rss, 0);
    ck_assert_int_eq(mem_os_range_resident(v, n), 0);
    assert_reads_zero(v, n);
    ck_assert_int_eq(mem_free(r), 0);
    assert_total(0, 0, 0);
}
END_TEST

START_TEST(private_fault_faults_in_child)
{
    const size_t n = 16 * page;
    mem_region *r = NULL;
    ck_assert_int_eq(mem_reserve(NULL, 64 * page, &r), 0);
    unsigned char *v = mem_region_base(r);
    ck_assert_int_eq(mem_map(r, v, n, &MEM_BACKING_ANON), 0);
    ck_assert_int_eq(mem_used(r, v, n, n), 0);
    memset(v, 1, n);
    ck_assert_int_eq(child_write_signal(v), 0);
    /* mem_fault takes Ready and Prepared pages alike. */
    ck_assert_int_eq(mem_unused(r, v, 4 * page, &MEM_BACKING_ANON), 0);
    assert_counts(r, 64 * page - n, 4 * page, n - 4 * page);

    ck_assert_int_eq(mem_fault(r, v, n, &MEM_BACKING_ANON), 0);
    assert_counts(r, 64 * page, 0, 0);
    ck_assert_int_eq(child_write_signal(v), SIGSEGV);
    ck_assert_int_eq(child_write_signal(v + n - page), SIGSEGV);
    ck_assert_int_eq(mem_free(r), 0);
}
END_TEST

START_TEST(used_takes_mixed_range_with_exact_prepared)
{
    mem_region *r = NULL;
    ck_assert_int_eq(mem_reserve(NULL, 16 * page, &r), 0);
    unsigned char *v = mem_region_base(r);
    ck_assert_int_eq(mem_map(r, v, 8 * page, &MEM_BACKING_ANON), 0);
    ck_assert_int_eq(mem_used(r, v, 8 * page, 8 * page), 0);
    ck_assert_int_eq(mem_unused(r, v + 2 * page, 3 * page, &MEM_BACKING_ANON),
                     0);
    assert_counts(r, 8 * page, 3 * page, 5 * page);
    ck_assert_uint_eq(mem_region_count(r, v, 8 * page, MEM_PREPARED), 3 * page);
    ck_assert_uint_eq(mem_region_count(r, v, 8 * page, MEM_READY), 5 * page);

    ck_assert_int_eq(mem_used(r, v, 8 * page, 3 * page), 0);
    assert_counts(r, 8 * page, 0, 8 * page);
    /* All Ready: sysUsed is idempotent, with nothing Prepared to count. */
    ck_assert_int_eq(mem_used(r, v, 8 * page, 0), 0);
    assert_counts(r, 8 * page, 0, 8 * page);
    memset(v, 7, 8 * page);
    ck_assert_int_eq(mem_free(r), 0);
}
END_TEST

/* --- huge page hints --------------------------------------------------------
 */

START_TEST(huge_and_nohuge_set_vmflags)
{
    const size_t n = 8 * MiB;
    mem_region *r = NULL;
    ck_assert_int_eq(mem_reserve(NULL, GiB, &r), 0);
    unsigned char *v = (unsigned char *)mem_region_base(r) + 64 * MiB;
    ck_assert_int_eq(mem_map(r, v, n, &MEM_BACKING_ANON), 0);
    smaps_entry e = smaps_find(v);
    ck_assert(!has_vmflag(&e, "hg"));

    ck_assert_int_eq(mem_huge(r, v, n), 0);
    e = smaps_find(v);
    ck_assert_msg(has_vmflag(&e, "hg"), "VmFlags:%s", e.vmflags);
    ck_assert(!has_vmflag(&e, "nh"));

    ck_assert_int_eq(mem_nohuge(r, v, n), 0);
    e = smaps_find(v);
    ck_assert_msg(has_vmflag(&e, "nh"), "VmFlags:%s", e.vmflags);
    ck_assert(!has_vmflag(&e, "hg"));
    assert_counts(r, GiB - n, n, 0);
    ck_assert_int_eq(mem_free(r), 0);
}
END_TEST

START_TEST(huge_hint_survives_fault_and_remap)
{
    const size_t n = 4 * MiB;
    mem_region *r = NULL;
    mem_backing b;
    ck_assert_int_eq(mem_reserve(NULL, GiB, &r), 0);
    ck_assert_int_eq(mem_backing_new("check_mem_huge", n, &b), 0);
    unsigned char *v = (unsigned char *)mem_region_base(r) + 32 * MiB;
    /* Asked while still Reserved: the MAP_FIXED mapping replaces the VMA,
     * so mem_map must give the advice again. */
    ck_assert_int_eq(mem_huge(r, v, n), 0);
    ck_assert_int_eq(mem_map(r, v, n, &b), 0);
    smaps_entry e = smaps_find(v);
    ck_assert_str_eq(e.perms, "rw-s");
    ck_assert_msg(has_vmflag(&e, "hg"), "VmFlags:%s", e.vmflags);

    ck_assert_int_eq(mem_used(r, v, n, n), 0);
    ck_assert_int_eq(mem_fault(r, v, n, &b), 0);
    e = smaps_find(v);
    ck_assert_str_eq(e.perms, "---p");
    ck_assert(!has_vmflag(&e, "hg"));
    ck_assert_int_eq(mem_map(r, v, n, &b), 0);
    e = smaps_find(v);
    ck_assert_msg(has_vmflag(&e, "hg"), "VmFlags:%s", e.vmflags);
    ck_assert_int_eq(mem_free(r), 0);
    mem_backing_close(&b);
}
END_TEST

/* --- alloc, free and totals ------------------------------------------------
 */

START_TEST(alloc_is_ready_and_free_unmaps)
{
    const size_t n = 4 * MiB;
    mem_region *r = NULL;
    ck_assert_int_eq(mem_alloc(n, &r), 0);
    unsigned char *v = mem_region_base(r);
    assert_counts(r, 0, 0, n);
    ck_assert_int_eq(mem_region_state(r, v + n - 1), MEM_READY);
    ck_assert(maps_overlap(v, n));
    memset(v, 9, n);
    /* The kernel may merge the mapping with a neighbour: its entry holds at
     * least the touched range. */
    ck_assert_uint_ge(smaps_find(v).rss, n);
    ck_assert_int_eq(mem_os_range_resident(v, n), (int64_t)n);

    ck_assert_int_eq(mem_free(r), 0);
    ck_assert(!maps_overlap(v, n));
    assert_total(0, 0, 0);
}
END_TEST

START_TEST(free_of_reservation_unmaps_every_state)
{
    mem_region *r = NULL;
    mem_backing b;
    ck_assert_int_eq(mem_reserve(NULL, 64 * GiB, &r), 0);
    ck_assert_int_eq(mem_backing_new("check_mem_free", 8 * MiB, &b), 0);
    unsigned char *base = mem_region_base(r);
    ck_assert_int_eq(mem_map(r, base, 8 * MiB, &b), 0);
    ck_assert_int_eq(mem_map(r, base + GiB, 8 * MiB, &MEM_BACKING_ANON), 0);
    ck_assert_int_eq(mem_used(r, base + GiB, 4 * MiB, 4 * MiB), 0);
    assert_counts(r, 64 * GiB - 16 * MiB, 12 * MiB, 4 * MiB);

    ck_assert_int_eq(mem_free(r), 0);
    ck_assert(!maps_overlap(base, 64 * GiB));
    assert_total(0, 0, 0);
    mem_backing_close(&b);
}
END_TEST

START_TEST(totals_sum_every_region)
{
    mem_region *a = NULL, *b = NULL;
    ck_assert_int_eq(mem_reserve(NULL, 32 * page, &a), 0);
    ck_assert_int_eq(mem_alloc(8 * page, &b), 0);
    void *av = mem_region_base(a);
    ck_assert_int_eq(mem_map(a, av, 4 * page, &MEM_BACKING_ANON), 0);
    assert_region(a, 28 * page, 4 * page, 0);
    assert_region(b, 0, 0, 8 * page);
    assert_total(28 * page, 4 * page, 8 * page);

    ck_assert_int_eq(
        mem_unused(b, mem_region_base(b), 2 * page, &MEM_BACKING_ANON), 0);
    assert_total(28 * page, 6 * page, 6 * page);
    ck_assert_int_eq(mem_free(a), 0);
    assert_total(0, 2 * page, 6 * page);
    ck_assert_int_eq(mem_free(b), 0);
    assert_total(0, 0, 0);
}
END_TEST

/* --- backings and OS figures ---------------------------------------------- */

START_TEST(backing_is_sealed_memfd)
{
    mem_backing b;
    ck_assert_int_eq(mem_backing_new("check_mem_seal", 4 * page, &b), 0);
    ck_assert_uint_eq(b.offset, 0);
    ck_assert_int_eq(fcntl(b.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    int seals = fcntl(b.fd, F_GET_SEALS);
    ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW),
                     F_SEAL_SHRINK | F_SEAL_GROW);
    ck_assert_int_eq(seals & F_SEAL_FUTURE_WRITE, 0);
    /* Nobody holding a descriptor can add a seal that stops punching. */
    ck_assert_int_eq(seals & F_SEAL_SEAL, F_SEAL_SEAL);
    ck_assert_int_eq(fcntl(b.fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
    ck_assert_int_eq(errno, EPERM);
    struct stat st;
    ck_assert_int_eq(fstat(b.fd, &st), 0);
    ck_assert_int_eq(st.st_size, (off_t)(4 * page));
    /* Only the daemon's uid may reopen it through /proc. */
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(ftruncate(b.fd, (off_t)page), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(ftruncate(b.fd, (off_t)(8 * page)), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(mem_backing_resident(&b), 0);
    ck_assert_int_eq(mem_backing_resident(&MEM_BACKING_ANON), 0);
    mem_backing_close(&b);
    ck_assert_int_eq(b.fd, -1);
}
END_TEST

START_TEST(footprint_is_rss_and_grows)
{
    const size_t n = 64 * MiB;
    ck_assert_str_eq(mem_os_footprint_name(), "rss");
    ck_assert(!mem_need_zero_after_unused());
    int64_t before = mem_os_footprint();
    ck_assert_int_gt(before, 0);
    mem_region *r = NULL;
    ck_assert_int_eq(mem_alloc(n, &r), 0);
    memset(mem_region_base(r), 1, n);
    ck_assert_int_ge(mem_os_footprint(), before + (int64_t)n);
    ck_assert_int_eq(mem_free(r), 0);
}
END_TEST

/* The cache reads smaps_rollup again only once its figure is a second old:
 * memory touched in between shows after that, not before. */
START_TEST(footprint_is_read_at_most_once_a_second)
{
    const size_t n = 64 * MiB;
    const uint64_t t0 = UINT64_C(5000000000);
    mem_footprint_cache c = { 0 };
    int64_t before = mem_footprint_cached(&c, t0);
    ck_assert_int_gt(before, 0);
    mem_region *r = NULL;
    ck_assert_int_eq(mem_alloc(n, &r), 0);
    memset(mem_region_base(r), 1, n);
    ck_assert_int_ge(mem_os_footprint(), before + (int64_t)n);
    ck_assert_int_eq(mem_footprint_cached(&c, t0 + MEM_FOOTPRINT_MAX_AGE_NS - 1), before);
    ck_assert_int_ge(mem_footprint_cached(&c, t0 + MEM_FOOTPRINT_MAX_AGE_NS), before + (int64_t)n);
    ck_assert_int_eq(mem_free(r), 0);
}
END_TEST

START_TEST(page_size_and_names)
{
    ck_assert_uint_eq(mem_page_size(), (size_t)sysconf(_SC_PAGESIZE));
    ck_assert_str_eq(mem_state_name(MEM_NONE), "none");
    ck_assert_str_eq(mem_state_name(MEM_RESERVED), "reserved");
    ck_assert_str_eq(mem_state_name(MEM_PREPARED), "prepared");
    ck_assert_str_eq(mem_state_name(MEM_READY), "ready");
    ck_assert_str_eq(mem_state_name(MEM_NSTATES), "?");
}
END_TEST

/* --- misuse ----------------------------------------------------------------
 * A 16-page reservation: pages 4..7 mapped, 4, 5 and 7 Ready and written,
 * 6 Prepared. Every misuse must return -EINVAL and move no counter; where
 * a stray syscall would show (RSS, contents, a fault), that is checked. */

static mem_region *mis_r;
static unsigned char *mis_v;
static mem_backing mis_memfd;

static unsigned char *P(size_t i) { return mis_v + i * page; }

static void misuse_setup(void)
{
    init_page();
    ck_assert_int_eq(mem_reserve(NULL, 16 * page, &mis_r), 0);
    mis_v = mem_region_base(mis_r);
    ck_assert_int_eq(mem_backing_new("check_mem_misuse", 4 * page, &mis_memfd),
                     0);
    ck_assert_int_eq(mem_map(mis_r, P(4), 4 * page, &MEM_BACKING_ANON), 0);
    ck_assert_int_eq(mem_used(mis_r, P(4), 4 * page, 4 * page), 0);
    memset(P(4), 0x77, 4 * page);
    ck_assert_int_eq(mem_unused(mis_r, P(6), page, &MEM_BACKING_ANON), 0);
    assert_counts(mis_r, 12 * page, page, 3 * page);
}

static void misuse_teardown(void)
{
    ck_assert_int_eq(mem_free(mis_r), 0);
    mem_backing_close(&mis_memfd);
}

/* -EINVAL, and the counters, the page states and the Ready pages' RSS and
 * contents are what misuse_setup left. */
#define EXPECT_EINVAL(call)                                                    \
    do {                                                                       \
        ck_assert_int_eq((call), -EINVAL);                                     \
        assert_counts(mis_r, 12 * page, page, 3 * page);                       \
        ck_assert_int_eq(mem_region_state(mis_r, P(6)), MEM_PREPARED);         \
        ck_assert_int_eq(mem_region_state(mis_r, P(3)), MEM_RESERVED);         \
        ck_assert_int_eq(mem_os_range_resident(P(4), 2 * page),                \
                         (int64_t)(2 * page));                                 \
        assert_filled(P(4), 2 * page, 0x77);                                   \
    } while (0)

START_TEST(misuse_bad_ranges)
{
    const mem_backing *anon = &MEM_BACKING_ANON;
    void *below = (void *)((uintptr_t)mis_v - page);
    EXPECT_EINVAL(mem_map(mis_r, P(0) + 1, page, anon));
    EXPECT_EINVAL(mem_map(mis_r, P(0), page + 1, anon));
    EXPECT_EINVAL(mem_map(mis_r, P(0), 0, anon));
    EXPECT_EINVAL(mem_map(mis_r, P(16), page, anon));
    EXPECT_EINVAL(mem_map(mis_r, P(15), 2 * page, anon));
    EXPECT_EINVAL(mem_map(mis_r, below, page, anon));
    EXPECT_EINVAL(mem_map(mis_r, below, 2 * page, anon));
    EXPECT_EINVAL(mem_map(mis_r, P(1), SIZE_MAX - page + 1, anon));
    EXPECT_EINVAL(mem_map(NULL, P(0), page, anon));
    EXPECT_EINVAL(mem_used(mis_r, P(4) + 1, page, 0));
    EXPECT_EINVAL(mem_unused(mis_r, P(4), page / 2, anon));
    EXPECT_EINVAL(mem_fault(mis_r, P(4), 13 * page, anon));
    EXPECT_EINVAL(mem_huge(mis_r, P(0) + 8, page));
    EXPECT_EINVAL(mem_huge(mis_r, P(16), page));
    EXPECT_EINVAL(mem_nohuge(mis_r, P(0), 0));
    EXPECT_EINVAL(mem_nohuge(NULL, P(0), page));
    ck_assert_uint_eq(mem_region_count(mis_r, P(0) + 1, page, MEM_RESERVED), 0);
    ck_assert_uint_eq(mem_region_count(mis_r, P(15), 2 * page, MEM_RESERVED),
                      0);
    ck_assert_int_eq(mem_region_state(mis_r, P(16)), MEM_NONE);
    ck_assert_int_eq(mem_region_state(mis_r, below), MEM_NONE);
}
END_TEST

START_TEST(misuse_bad_backings)
{
    mem_backing unaligned = { .fd = mis_memfd.fd, .offset = 1 };
    EXPECT_EINVAL(mem_map(mis_r, P(0), page, NULL));
    EXPECT_EINVAL(mem_map(mis_r, P(0), page, &unaligned));
    EXPECT_EINVAL(mem_unused(mis_r, P(4), page, NULL));
    EXPECT_EINVAL(mem_unused(mis_r, P(4), page, &unaligned));
    EXPECT_EINVAL(mem_fault(mis_r, P(4), page, NULL));
    EXPECT_EINVAL(mem_fault(mis_r, P(4), page, &unaligned));
    ck_assert_int_eq(memfd_blocks_bytes(mis_memfd.fd), 0);
}
END_TEST

START_TEST(misuse_wrong_states)
{
    const mem_backing *anon = &MEM_BACKING_ANON;
    EXPECT_EINVAL(mem_map(mis_r, P(4), page, anon));     /* Ready */
    EXPECT_EINVAL(mem_map(mis_r, P(6), page, anon));     /* Prepared */
    EXPECT_EINVAL(mem_map(mis_r, P(2), 4 * page, anon)); /* partly mapped */
    EXPECT_EINVAL(mem_used(mis_r, P(3), 2 * page, 0));   /* a Reserved page */
    EXPECT_EINVAL(mem_used(mis_r, P(0), page, 0));
    EXPECT_EINVAL(
        mem_unused(mis_r, P(4), 4 * page, anon));       /* Prepared inside */
    EXPECT_EINVAL(mem_unused(mis_r, P(0), page, anon)); /* Reserved */
    EXPECT_EINVAL(mem_unused(mis_r, P(3), 2 * page, anon));
    EXPECT_EINVAL(mem_fault(mis_r, P(3), 2 * page, anon)); /* a Reserved page */
    EXPECT_EINVAL(mem_fault(mis_r, P(0), page, anon));
    ck_assert_int_eq(child_write_signal(P(4)), 0);
}
END_TEST

START_TEST(misuse_wrong_prepared_count)
{
    EXPECT_EINVAL(mem_used(mis_r, P(4), 4 * page, 0));
    EXPECT_EINVAL(mem_used(mis_r, P(4), 4 * page, 2 * page));
    EXPECT_EINVAL(mem_used(mis_r, P(4), 4 * page, 4 * page));
    EXPECT_EINVAL(mem_used(mis_r, P(4), 2 * page, page));
    EXPECT_EINVAL(mem_used(mis_r, P(6), page, page - 1));
}
END_TEST

START_TEST(misuse_creation)
{
    mem_region *r = NULL;
    mem_backing b = { .fd = -7 };
    EXPECT_EINVAL(mem_alloc(0, &r));
    EXPECT_EINVAL(mem_alloc(page + 1, &r));
    EXPECT_EINVAL(mem_alloc(page, NULL));
    EXPECT_EINVAL(mem_reserve(NULL, 0, &r));
    EXPECT_EINVAL(mem_reserve(NULL, page / 2, &r));
    EXPECT_EINVAL(mem_reserve((void *)(uintptr_t)(page + 1), page, &r));
    EXPECT_EINVAL(mem_reserve(NULL, page, NULL));
    EXPECT_EINVAL(mem_free(NULL));
    ck_assert_ptr_null(r);
    EXPECT_EINVAL(mem_backing_new(NULL, page, &b));
    EXPECT_EINVAL(mem_backing_new("x", 0, &b));
    EXPECT_EINVAL(mem_backing_new("x", page + 1, &b));
    EXPECT_EINVAL(mem_backing_new("x", page, NULL));
    ck_assert_int_eq(b.fd, -7);
}
END_TEST

static Suite *mem_suite(void)
{
    Suite *s = suite_create("mem");
    TCase *kernel = tcase_create("kernel");
    tcase_add_checked_fixture(kernel, init_page, NULL);
    tcase_add_test(kernel, reserve_64g_costs_nothing_and_faults);
    tcase_add_test(kernel, shared_touch_grows_blocks_and_rss);
    tcase_add_test(kernel, shared_unused_punches_and_used_restores);
    tcase_add_test(kernel, shared_fault_frees_backing_and_faults);
    tcase_add_test(kernel, private_unused_drops_rss);
    tcase_add_test(kernel, private_fault_faults_in_child);
    tcase_add_test(kernel, used_takes_mixed_range_with_exact_prepared);
    tcase_add_test(kernel, huge_and_nohuge_set_vmflags);
    tcase_add_test(kernel, huge_hint_survives_fault_and_remap);
    tcase_add_test(kernel, alloc_is_ready_and_free_unmaps);
    tcase_add_test(kernel, free_of_reservation_unmaps_every_state);
    tcase_add_test(kernel, totals_sum_every_region);
    tcase_add_test(kernel, backing_is_sealed_memfd);
    tcase_add_test(kernel, footprint_is_rss_and_grows);
    tcase_add_test(kernel, footprint_is_read_at_most_once_a_second);
    tcase_add_test(kernel, page_size_and_names);
    suite_add_tcase(s, kernel);

    TCase *misuse = tcase_create("misuse");
    tcase_add_checked_fixture(misuse, misuse_setup, misuse_teardown);
    tcase_add_test(misuse, misuse_bad_ranges);
    tcase_add_test(misuse, misuse_bad_backings);
    tcase_add_test(misuse, misuse_wrong_states);
    tcase_add_test(misuse, misuse_wrong_prepared_count);
    tcase_add_test(misuse, misuse_creation);
    suite_add_tcase(s, misuse);
    return s;
}

int main(void)
{
    return check_run(mem_suite());
}
