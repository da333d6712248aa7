/* The rendezvous's pending table (daemon/rendezvous.c): single use, bound
 * to one peer, expiry on fake time, a bounded size, and every object given
 * back exactly once, to its claimer or to the release function. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "check_run.h"
#include "rendezvous.h"

#define SECOND 1000000000ull
#define TTL (5 * SECOND)
#define MAX_OBJECTS 4096

/* How many times each object was released. */
static unsigned releases[MAX_OBJECTS];

static void count_release(uint32_t object, void *arg)
{
    ck_assert_ptr_eq(arg, releases);
    ck_assert_uint_lt(object, MAX_OBJECTS);
    releases[object]++;
}

/* Nonces that differ from one another, written before any thread reads
 * them. */
static unsigned char nonces[MAX_OBJECTS][RENDEZVOUS_NONCE_SIZE];

static const unsigned char *nonce_of(unsigned n)
{
    ck_assert_uint_lt(n, MAX_OBJECTS);
    return nonces[n];
}

static rendezvous_table *table_of(size_t capacity)
{
    for (unsigned n = 0; n < MAX_OBJECTS; n++) {
        memset(nonces[n], 0xA5, RENDEZVOUS_NONCE_SIZE);
        memcpy(nonces[n], &n, sizeof n);
    }
    memset(releases, 0, sizeof releases);
    rendezvous_table *t = rendezvous_new(capacity, TTL, count_release, releases);
    ck_assert_ptr_nonnull(t);
    return t;
}

static const rendezvous_peer client = { .pid = 4242, .pidversion = 7 };

START_TEST(the_offered_peer_claims_once)
{
    rendezvous_table *t = table_of(8);
    uint32_t got = 0;
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(1), &client, 11, 0), 0);
    ck_assert_uint_eq(rendezvous_pending(t), 1);
    ck_assert_int_eq(rendezvous_claim(t, nonce_of(1), &client, SECOND, &got), 0);
    ck_assert_uint_eq(got, 11);
    ck_assert_uint_eq(rendezvous_pending(t), 0);
    /* Single use: the same nonce again finds nothing. */
    ck_assert_int_eq(rendezvous_claim(t, nonce_of(1), &client, SECOND, &got), -ENOENT);
    rendezvous_free(t);
    /* Claimed objects are the claimer's: never released by the table. */
    ck_assert_uint_eq(releases[11], 0);
}
END_TEST

START_TEST(another_peer_burns_the_nonce)
{
    rendezvous_table *t = table_of(8);
    uint32_t got = 99;
    rendezvous_peer same_pid_new_process = { .pid = client.pid, .pidversion = 8 };
    rendezvous_peer other = { .pid = 1, .pidversion = client.pidversion };
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(1), &client, 1, 0), 0);
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(2), &client, 2, 0), 0);
    ck_assert_int_eq(rendezvous_claim(t, nonce_of(1), &same_pid_new_process, 0, &got), -EPERM);
    ck_assert_int_eq(rendezvous_claim(t, nonce_of(2), &other, 0, &got), -EPERM);
    ck_assert_uint_eq(got, 99);
    ck_assert_uint_eq(releases[1], 1);
    ck_assert_uint_eq(releases[2], 1);
    /* The rightful peer comes too late: the entry is gone. */
    ck_assert_int_eq(rendezvous_claim(t, nonce_of(1), &client, 0, &got), -ENOENT);
    rendezvous_free(t);
    ck_assert_uint_eq(releases[1], 1);
    ck_assert_uint_eq(releases[2], 1);
}
END_TEST

START_TEST(unclaimed_objects_expire_after_the_ttl)
{
    rendezvous_table *t = table_of(8);
    uint32_t got;
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(1), &client, 1, 0), 0);
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(2), &client, 2, 2 * SECOND), 0);
    ck_assert_uint_eq(rendezvous_expire(t, TTL - 1), 0);
    ck_assert_uint_eq(rendezvous_expire(t, TTL), 1);
    ck_assert_uint_eq(releases[1], 1);
    ck_assert_int_eq(rendezvous_claim(t, nonce_of(1), &client, TTL, &got), -ENOENT);
    /* A claim past the deadline expires the entry instead of taking it. */
    ck_assert_int_eq(rendezvous_claim(t, nonce_of(2), &client, 2 * SECOND + TTL, &got), -ENOENT);
    ck_assert_uint_eq(releases[2], 1);
    ck_assert_uint_eq(rendezvous_pending(t), 0);
    rendezvous_free(t);
    ck_assert_uint_eq(releases[1] + releases[2], 2);
}
END_TEST

START_TEST(a_full_table_refuses_until_entries_expire)
{
    rendezvous_table *t = table_of(3);
    for (unsigned i = 0; i < 3; i++)
        ck_assert_int_eq(rendezvous_offer(t, nonce_of(i), &client, i, i), 0);
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(3), &client, 3, 10), -EAGAIN);
    ck_assert_uint_eq(releases[3], 0); /* refused: still the caller's */
    /* Once the oldest is due, offering makes room by releasing it. */
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(3), &client, 3, TTL), 0);
    ck_assert_uint_eq(releases[0], 1);
    ck_assert_uint_eq(rendezvous_pending(t), 3);
    rendezvous_free(t);
    for (unsigned i = 0; i < 4; i++)
        ck_assert_uint_eq(releases[i], 1);
}
END_TEST

START_TEST(duplicate_and_zero_nonces_are_refused)
{
    rendezvous_table *t = table_of(8);
    static const unsigned char zero[RENDEZVOUS_NONCE_SIZE];
    uint32_t got;
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(1), &client, 1, 0), 0);
    ck_assert_int_eq(rendezvous_offer(t, nonce_of(1), &client, 2, 0), -EEXIST);
    ck_assert_int_eq(rendezvous_offer(t, zero, &client, 3, 0), -EINVAL);
    ck_assert_int_eq(rendezvous_claim(t, zero, &client, 0, &got), -ENOENT);
    ck_assert_int_eq(rendezvous_claim(t, nonce_of(1), &client, 0, &got), 0);
    ck_assert_uint_eq(got, 1);
    rendezvous_free(t);
    ck_assert_uint_eq(releases[2] + releases[3], 0);
}
END_TEST

START_TEST(cancel_and_free_release_what_is_pending)
{
    rendezvous_table *t = table_of(8);
    for (unsigned i = 0; i < 5; i++)
        ck_assert_int_eq(rendezvous_offer(t, nonce_of(i), &client, i, 0), 0);
    ck_assert_int_eq(rendezvous_cancel(t, nonce_of(2)), 0);
    ck_assert_int_eq(rendezvous_cancel(t, nonce_of(2)), -ENOENT);
    ck_assert_uint_eq(releases[2], 1);
    ck_assert_uint_eq(rendezvous_pending(t), 4);
    rendezvous_free(t);
    for (unsigned i = 0; i < 5; i++)
        ck_assert_uint_eq(releases[i], 1);
}
END_TEST

/* The request loop offers while the Mach thread claims: every object must
 * reach its claimer once, and none may be released. */
#define RACE_OBJECTS 2000

static void *claim_all(void *arg)
{
    rendezvous_table *t = arg;
    for (unsigned i = 0; i < RACE_OBJECTS; i++) {
        uint32_t got = UINT32_MAX;
        int rc;
        while ((rc = rendezvous_claim(t, nonce_of(i), &client, 0, &got)) == -ENOENT)
            sched_yield();
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(got, i);
    }
    return NULL;
}

START_TEST(offers_and_claims_from_two_threads)
{
    rendezvous_table *t = table_of(64);
    pthread_t claimer;
    ck_assert_int_eq(pthread_create(&claimer, NULL, claim_all, t), 0);
    for (unsigned i = 0; i < RACE_OBJECTS; i++) {
        int rc;
        while ((rc = rendezvous_offer(t, nonce_of(i), &client, i, 0)) == -EAGAIN)
            sched_yield();
        ck_assert_int_eq(rc, 0);
    }
    ck_assert_int_eq(pthread_join(claimer, NULL), 0);
    ck_assert_uint_eq(rendezvous_pending(t), 0);
    rendezvous_free(t);
    for (unsigned i = 0; i < RACE_OBJECTS; i++)
        ck_assert_uint_eq(releases[i], 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rendezvous");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, the_offered_peer_claims_once);
    tcase_add_test(tc, another_peer_burns_the_nonce);
    tcase_add_test(tc, unclaimed_objects_expire_after_the_ttl);
    tcase_add_test(tc, a_full_table_refuses_until_entries_expire);
    tcase_add_test(tc, duplicate_and_zero_nonces_are_refused);
    tcase_add_test(tc, cancel_and_free_release_what_is_pending);
    tcase_add_test(tc, offers_and_claims_from_two_threads);
    suite_add_tcase(s, tc);
    return check_run(s);
}
