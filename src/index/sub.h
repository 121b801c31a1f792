/* sub.h: a subscription, shared between its owner and the subject index.
 *
 * Owned by the connection that created it (client or route). The sublist
 * holds borrowed pointers and reads only subject/queue/weight. After
 * sublist_remove() the owner retires it with qsbr_retire (other workers may
 * still be delivering to it). */
#ifndef GNATSD_SUB_H
#define GNATSD_SUB_H

#include "base/common.h"
#include <stdatomic.h>

struct conn;

typedef struct sub {
    /* What delivery reads, first (one cache line from the start of the sub). */
    struct conn *conn; /* owner (client or route) */
    /* nats/imports.c: an import's delivery instead of a plain one (NULL: plain) */
    const struct sub_import *imp;
    slice_t sid; /* points into mem; for routes: unused */
    _Atomic int64_t delivered;
    _Atomic int64_t max; /* auto-unsubscribe limit, 0 = none */
    int32_t weight;      /* remote queue interest weight (routes); 1 for local */
    bool remote;         /* owned by a route or gateway: forwarded, not written to */
    bool gateway;        /* owned by a gateway (remote too): other clusters' interest */
    _Atomic bool closed; /* removed; deliveries skip it */
    uint8_t origin_len;  /* a route's LS+: its leaf's cluster, in mem after sid (sub_origin) */
    slice_t subject;     /* points into mem */
    slice_t queue;       /* n == 0: plain subscription */
    struct sublist *sl;  /* the index it was inserted in (sublist_insert sets it) */
    struct sub *shadow;  /* a client's sub: its first shadow in an exporting account;
                          * a shadow: the next one */
    uint32_t slot;       /* its index in its trie node's array (sublist's, under its lock):
                          * a removal finds it at once, not by a search of every sub
                          * on the subject (O(n^2) when n connections on one go) */
    char mem[];          /* subject, queue, sid bytes */
} sub_t;

/* The cluster of the leaf node a peer's interest came from (LS+ over a route, docs/
 * routes.md "Leaf node origin"); empty otherwise. */
static inline slice_t sub_origin(const sub_t *s)
{
    return (slice_t){s->sid.p + s->sid.n, s->origin_len};
}

#endif
