/* subs.c: a connection's subscriptions by sid (see subs.h): the sid map and
 * the life of a sub_t on its owner. Shared by every kind that holds subs
 * (client SUB/UNSUB, a route's remote interest); includes no protocol. */
#include "nats/subs.h"
#include "core/core.h"
#include "base/hash.h"
#include "base/qsbr.h"
#include "index/sublist.h"

#include <stdlib.h>

/* ---- sid map ------------------------------------------------------------ */

/* Slots by hash_bytes (base/hash.h): keyed, so a client cannot choose colliding sids. */

sub_t *sidmap_get(sidmap_t *m, slice_t sid)
{
    if (!m->cap) return NULL;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)hash_bytes(sid.p, sid.n) & mask;; i = (i + 1) & mask) {
        sub_t *s = m->slots[i];
        if (!s) return NULL;
        if (s != SID_TOMB && slice_eq(s->sid, sid)) return s;
    }
}

static void sidmap_grow(sidmap_t *m)
{
    sidmap_t old = *m;
    m->cap = old.cap ? old.cap * 2 : 8;
    if (old.n * 4 < old.cap) m->cap = old.cap; /* mostly tombstones: rehash in place size */
    m->slots = xcalloc(m->cap, sizeof(sub_t *));
    m->n = m->tomb = 0;
    for (uint32_t i = 0; i < old.cap; i++)
        if (old.slots[i] && old.slots[i] != SID_TOMB) sidmap_put(m, old.slots[i]);
    free(old.slots);
}

void sidmap_put(sidmap_t *m, sub_t *s)
{
    if ((m->n + m->tomb + 1) * 4 > m->cap * 3) sidmap_grow(m);
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)hash_bytes(s->sid.p, s->sid.n) & mask;; i = (i + 1) & mask) {
        if (!m->slots[i] || m->slots[i] == SID_TOMB) {
            if (m->slots[i] == SID_TOMB) m->tomb--;
            m->slots[i] = s;
            m->n++;
            return;
        }
    }
}

static void sidmap_del(sidmap_t *m, sub_t *s)
{
    if (!m->cap) return;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)hash_bytes(s->sid.p, s->sid.n) & mask;; i = (i + 1) & mask) {
        if (!m->slots[i]) return;
        if (m->slots[i] == s) {
            m->slots[i] = SID_TOMB;
            m->n--;
            m->tomb++;
            return;
        }
    }
}

void sidmap_free(sidmap_t *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- subscriptions ------------------------------------------------------ */

/* With origin (at most 255 bytes) kept after sid. */
static sub_t *sub_new_origin(conn_t *c, slice_t subject, slice_t queue, slice_t sid, slice_t origin)
{
    sub_t *s = xcalloc(1, sizeof *s + subject.n + queue.n + sid.n + origin.n);
    char *p = s->mem;
    memcpy(p, subject.p, subject.n);
    s->subject = (slice_t){p, subject.n};
    p += subject.n;
    if (queue.n) memcpy(p, queue.p, queue.n);
    s->queue = (slice_t){queue.n ? p : NULL, queue.n};
    p += queue.n;
    memcpy(p, sid.p, sid.n);
    s->sid = (slice_t){p, sid.n};
    if (origin.n) memcpy(p + sid.n, origin.p, origin.n);
    s->origin_len = (uint8_t)origin.n;
    s->conn = c;
    s->weight = 1;
    s->remote = c->kind == CONN_ROUTE || c->kind == CONN_GATEWAY;
    s->gateway = c->kind == CONN_GATEWAY;
    return s;
}

sub_t *sub_new(conn_t *c, slice_t subject, slice_t queue, slice_t sid)
{
    return sub_new_origin(c, subject, queue, sid, (slice_t){NULL, 0});
}

/* A sub's memory, and its import's delivery record (nats/imports.c) if any. */
void sub_free(void *p)
{
    sub_t *s = p;
    free((void *)s->imp);
    free(s);
}

void sub_drop_shadows(worker_t *w, sub_t *s, sub_removed_fn removed)
{
    for (sub_t *sh = s->shadow, *next; sh; sh = next) {
        next = sh->shadow;
        atomic_store(&sh->closed, true);
        sublist_remove(sh->sl, sh);
        if (removed) removed(w, sh);
        qsbr_retire(sh, sub_free);
    }
    s->shadow = NULL;
}

/* Owner: s is closed from now on. If a deliverer closed it first, it is on the dead
 * list, and leaves it here, under the lock it was put there under. Without a limit
 * (set only by its owner, in UNSUB) no deliverer closes it: no lock, as before. */
static void sub_close_owned(conn_t *c, sub_t *s)
{
    if (!atomic_load_explicit(&s->max, memory_order_relaxed)) {
        atomic_store(&s->closed, true);
        return;
    }
    spin_lock(&c->dead_lock);
    if (atomic_exchange(&s->closed, true)) {
        for (uint32_t i = 0; i < c->ndead; i++) {
            if (c->dead[i] == s) {
                c->dead[i] = c->dead[--c->ndead];
                break;
            }
        }
    }
    spin_unlock(&c->dead_lock);
}

sub_t **sub_take_dead(conn_t *c, uint32_t *n)
{
    *n = 0;
    if (!atomic_load_explicit(&c->has_dead, memory_order_acquire)) return NULL;
    spin_lock(&c->dead_lock);
    sub_t **v = c->dead;
    *n = c->ndead;
    c->dead = NULL;
    c->ndead = c->dead_cap = 0;
    atomic_store_explicit(&c->has_dead, false, memory_order_relaxed);
    spin_unlock(&c->dead_lock);
    return v;
}

/* Owner only: drop s from the map, make sure it is out of the sublist, retire it. */
void sub_discard(conn_t *c, sub_t *s, sub_removed_fn removed)
{
    sub_close_owned(s->conn, s);
    sub_drop_shadows(c->w, s, removed);
    if (s->sl) sublist_remove(s->sl, s); /* idempotent: a deliverer may have removed it already */
    if (removed) removed(c->w, s);
    sidmap_del(&c->subs, s);
    qsbr_retire(s, sub_free);
}

/* Remote interest: RS+ adds (or re-weights) the entry for key, RS- removes it. */
sub_t *sub_remote_set(conn_t *c, struct sublist *sl, slice_t key, slice_t subject, slice_t queue,
                      slice_t origin, bool add, int32_t weight, sub_removed_fn removed)
{
    sub_t *old = sidmap_get(&c->subs, key);
    if (!add) {
        if (old) sub_discard(c, old, removed);
        return NULL;
    }
    char kept[UINT8_MAX];
    if (old) {
        if (!queue.n || old->weight == weight) return NULL;
        origin = sub_origin(old); /* the first one's, as the reference keeps it */
        memcpy(kept, origin.p, origin.n);
        origin.p = kept;
        sub_discard(c, old, removed);
    }
    if (origin.n > UINT8_MAX) origin.n = 0; /* (not a cluster name anyone uses) */
    sub_t *s = sub_new_origin(c, subject, queue, key, origin);
    s->weight = weight;
    if (sublist_insert(sl, s) != 0) {
        free(s);
        return NULL;
    }
    sidmap_put(&c->subs, s);
    return s;
}
