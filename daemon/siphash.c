/* SipHash-2-4, after the reference implementation (github.com/veorq/SipHash,
 * siphash.c): little-endian words, 2 rounds a word, 4 to finish. Written
 * byte by byte into `tail`, so pieces of any length can be hashed as one. */
#include "siphash.h"

#include <errno.h>
#include <unistd.h>
#include <sys/random.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sipround(uint64_t v[4])
{
    v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0]; v[0] = ROTL(v[0], 32);
    v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2]; v[2] = ROTL(v[2], 32);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

void siphash_init(siphash_state *s, const unsigned char key[SIPHASH_KEY_SIZE])
{
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    s->v[0] = k0 ^ 0x736f6d6570736575ULL;
    s->v[1] = k1 ^ 0x646f72616e646f6dULL;
    s->v[2] = k0 ^ 0x6c7967656e657261ULL;
    s->v[3] = k1 ^ 0x7465646279746573ULL;
    s->tail = 0;
    s->len = 0;
}

static void compress(siphash_state *s, uint64_t m)
{
    s->v[3] ^= m;
    sipround(s->v);
    sipround(s->v);
    s->v[0] ^= m;
}

void siphash_update(siphash_state *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        s->tail |= (uint64_t)p[i] << (8 * (s->len % 8));
        if (++s->len % 8 == 0) {
            compress(s, s->tail);
            s->tail = 0;
        }
    }
}

uint64_t siphash_final(siphash_state *s)
{
    compress(s, s->tail | (uint64_t)(s->len & 0xff) << 56);
    s->v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sipround(s->v);
    return s->v[0] ^ s->v[1] ^ s->v[2] ^ s->v[3];
}

/* getentropy: glibc 2.25 and macOS 10.12 both have it in <sys/random.h>. */
int siphash_random_key(unsigned char key[SIPHASH_KEY_SIZE])
{
    return getentropy(key, SIPHASH_KEY_SIZE) == 0 ? 0 : -errno;
}
