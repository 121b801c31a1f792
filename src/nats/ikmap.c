/* ikmap.c: see ikmap.h. */
#include "nats/ikmap.h"
#include "base/hash.h"

#include <stdlib.h>

char *ikey_build(char *stack, size_t cap, const char *acc, size_t acc_len, slice_t subject,
                 slice_t queue, size_t *len)
{
    size_t n = acc_len + 1 + subject.n + (queue.n ? 1 + queue.n : 0);
    char *k = n < cap ? stack : xmalloc(n + 1);
    char *p = k;
    memcpy(p, acc, acc_len);
    p += acc_len;
    *p++ = ' ';
    memcpy(p, subject.p, subject.n);
    p += subject.n;
    if (queue.n) {
        *p++ = ' ';
        memcpy(p, queue.p, queue.n);
    }
    *len = n;
    return k;
}

static ikey_t **slot_of(ikmap_t *m, const char *k, size_t n, uint64_t h)
{
    ikey_t **pp = &m->b[h & (m->cap - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->h == h && (*pp)->len == n && memcmp((*pp)->key, k, n) == 0) break;
    return pp;
}

static void grow(ikmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    ikey_t **nb = xcalloc(ncap, sizeof *nb);
    for (size_t i = 0; i < m->cap; i++) {
        for (ikey_t *k = m->b[i], *next; k; k = next) {
            next = k->next;
            k->next = nb[k->h & (ncap - 1)];
            nb[k->h & (ncap - 1)] = k;
        }
    }
    free(m->b);
    m->b = nb;
    m->cap = ncap;
}

int64_t ikmap_add(ikmap_t *m, const char *k, size_t n, size_t acc_len, size_t subj_end,
                  int64_t delta, int64_t *after)
{
    uint64_t h = hash_bytes(k, n);
    if (!m->cap) grow(m);
    ikey_t **slot = slot_of(m, k, n, h);
    ikey_t *e = *slot;
    if (!e) {
        *after = 0;
        if (delta <= 0) return 0;
        if (m->n + 1 > m->cap) grow(m), slot = slot_of(m, k, n, h);
        e = xcalloc(1, sizeof *e + n + 1);
        e->h = h;
        e->len = (uint32_t)n;
        e->acc_len = (uint32_t)acc_len;
        e->subj_end = (uint32_t)subj_end;
        memcpy(e->key, k, n);
        *slot = e;
        m->n++;
    }
    int64_t before = e->count;
    e->count += delta;
    *after = e->count;
    if (e->count <= 0) {
        *slot = e->next;
        free(e);
        m->n--;
    }
    return before;
}

void ikmap_free(ikmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        for (ikey_t *k = m->b[i], *next; k; k = next) {
            next = k->next;
            free(k);
        }
    }
    free(m->b);
    m->b = NULL;
    m->cap = m->n = 0;
}
