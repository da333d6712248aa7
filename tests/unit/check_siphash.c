/* SipHash-2-4 against the reference vectors (github.com/veorq/SipHash,
 * vectors.h: key 00..0f, message 00..len-1), whole and in pieces. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "check_run.h"
#include "siphash.h"

static uint64_t hash_of(const unsigned char *msg, size_t len, size_t piece)
{
    unsigned char key[SIPHASH_KEY_SIZE];
    for (int i = 0; i < SIPHASH_KEY_SIZE; i++)
        key[i] = (unsigned char)i;
    siphash_state s;
    siphash_init(&s, key);
    for (size_t at = 0; at < len; at += piece)
        siphash_update(&s, msg + at, len - at < piece ? len - at : piece);
    return siphash_final(&s);
}

START_TEST(reference_vectors)
{
    unsigned char msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    static const struct { size_t len; uint64_t want; } v[] = {
        { 0, 0x726fdb47dd0e0e31ULL },
        { 1, 0x74f839c593dc67fdULL },
        { 15, 0xa129ca6149be45e5ULL },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        for (size_t piece = 1; piece <= 16; piece++)
            ck_assert_msg(hash_of(msg, v[i].len, piece) == v[i].want,
                          "length %zu in pieces of %zu", v[i].len, piece);
}
END_TEST

/* Pieces of any size give the hash of the whole. */
START_TEST(pieces_hash_as_the_whole)
{
    unsigned char msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)(i * 37 + 1);
    for (size_t len = 0; len <= 64; len++)
        for (size_t piece = 1; piece <= 9; piece++)
            ck_assert(hash_of(msg, len, piece) == hash_of(msg, len, 64));
}
END_TEST

START_TEST(random_keys_differ)
{
    unsigned char a[SIPHASH_KEY_SIZE], b[SIPHASH_KEY_SIZE];
    ck_assert_int_eq(siphash_random_key(a), 0);
    ck_assert_int_eq(siphash_random_key(b), 0);
    ck_assert(memcmp(a, b, sizeof a) != 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("siphash");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, reference_vectors);
    tcase_add_test(tc, pieces_hash_as_the_whole);
    tcase_add_test(tc, random_keys_differ);
    suite_add_tcase(s, tc);
    return check_run(s);
}
