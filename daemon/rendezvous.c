/* The rendezvous's pending table. Entries live in one array, unordered:
 * what is pending at once is the handoffs in flight (each is claimed a
 * moment after its reply is read, or expires), so a scan is short, and an
 * entry leaves by taking the last one's place. */
#include "rendezvous.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct pending {
    unsigned char nonce[RENDEZVOUS_NONCE_SIZE];
    rendezvous_peer peer;
    uint32_t object;
    uint64_t expires_ns;
} pending;

struct rendezvous_table {
    pthread_mutex_t lock; /* guards everything below */
    pending *entries;
    size_t count, capacity;
    uint64_t ttl_ns;
    rendezvous_release_fn *release;
    void *release_arg;
};

rendezvous_table *rendezvous_new(size_t capacity, uint64_t ttl_ns,
                                 rendezvous_release_fn *release, void *arg)
{
    rendezvous_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->entries = calloc(capacity > 0 ? capacity : 1, sizeof *t->entries);
    if (t->entries == NULL || pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->entries);
        free(t);
        return NULL;
    }
    t->capacity = capacity;
    t->ttl_ns = ttl_ns;
    t->release = release;
    t->release_arg = arg;
    return t;
}

void rendezvous_free(rendezvous_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->count; i++)
        t->release(t->entries[i].object, t->release_arg);
    pthread_mutex_destroy(&t->lock);
    free(t->entries);
    free(t);
}

/* Compares every byte whatever the first difference, so that how long a
 * lookup takes says nothing about how close a guess came. */
static bool nonce_equal(const unsigned char *a, const unsigned char *b)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < RENDEZVOUS_NONCE_SIZE; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool nonce_is_zero(const unsigned char *nonce)
{
    static const unsigned char zero[RENDEZVOUS_NONCE_SIZE];
    return nonce_equal(nonce, zero);
}

static pending *find(rendezvous_table *t, const unsigned char *nonce)
{
    for (size_t i = 0; i < t->count; i++)
        if (nonce_equal(t->entries[i].nonce, nonce))
            return &t->entries[i];
    return NULL;
}

/* Drops the entry from the table; the caller has taken or released its
 * object. */
static void remove_entry(rendezvous_table *t, pending *e)
{
    *e = t->entries[--t->count];
}

static size_t expire_locked(rendezvous_table *t, uint64_t now_ns)
{
    size_t released = 0;
    for (size_t i = 0; i < t->count;) {
        pending *e = &t->entries[i];
        if (e->expires_ns > now_ns) {
            i++;
            continue;
        }
        t->release(e->object, t->release_arg);
        remove_entry(t, e);
        released++;
    }
    return released;
}

int rendezvous_offer(rendezvous_table *t,
                     const unsigned char nonce[RENDEZVOUS_NONCE_SIZE],
                     const rendezvous_peer *peer, uint32_t object,
                     uint64_t now_ns)
{
    if (nonce_is_zero(nonce))
        return -EINVAL;
    pthread_mutex_lock(&t->lock);
    expire_locked(t, now_ns);
    int rc = 0;
    if (find(t, nonce) != NULL) {
        rc = -EEXIST;
    } else if (t->count == t->capacity) {
        rc = -EAGAIN;
    } else {
        pending *e = &t->entries[t->count++];
        memcpy(e->nonce, nonce, RENDEZVOUS_NONCE_SIZE);
        e->peer = *peer;
        e->object = object;
        e->expires_ns = now_ns + t->ttl_ns;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int rendezvous_claim(rendezvous_table *t,
                     const unsigned char nonce[RENDEZVOUS_NONCE_SIZE],
                     const rendezvous_peer *peer, uint64_t now_ns,
                     uint32_t *object)
{
    pthread_mutex_lock(&t->lock);
    expire_locked(t, now_ns);
    pending *e = nonce_is_zero(nonce) ? NULL : find(t, nonce);
    int rc = -ENOENT;
    if (e != NULL) {
        bool same = e->peer.pid == peer->pid && e->peer.pidversion == peer->pidversion;
        if (same)
            *object = e->object;
        else
            t->release(e->object, t->release_arg);
        remove_entry(t, e);
        rc = same ? 0 : -EPERM;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int rendezvous_cancel(rendezvous_table *t,
                      const unsigned char nonce[RENDEZVOUS_NONCE_SIZE])
{
    pthread_mutex_lock(&t->lock);
    pending *e = find(t, nonce);
    if (e != NULL) {
        t->release(e->object, t->release_arg);
        remove_entry(t, e);
    }
    pthread_mutex_unlock(&t->lock);
    return e != NULL ? 0 : -ENOENT;
}

size_t rendezvous_expire(rendezvous_table *t, uint64_t now_ns)
{
    pthread_mutex_lock(&t->lock);
    size_t released = expire_locked(t, now_ns);
    pthread_mutex_unlock(&t->lock);
    return released;
}

size_t rendezvous_pending(rendezvous_table *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}
