/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012): a keyed hash for tables whose keys a client chooses, so that no
 * client can pick keys that all land in one bucket without the key. */
#ifndef MEMPOOL_SIPHASH_H
#define MEMPOOL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_SIZE 16

/* A hash being computed over several pieces (pool, separator, name). */
typedef struct siphash_state {
    uint64_t v[4];
    uint64_t tail; /* the bytes not yet in a whole word */
    size_t len;    /* every byte so far */
} siphash_state;

void siphash_init(siphash_state *s, const unsigned char key[SIPHASH_KEY_SIZE]);
void siphash_update(siphash_state *s, const void *data, size_t len);
uint64_t siphash_final(siphash_state *s);

/* A fresh random key (getentropy); -errno when the OS gives none. */
int siphash_random_key(unsigned char key[SIPHASH_KEY_SIZE]);

#endif
