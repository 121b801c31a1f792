/* subs.h: a connection's subscriptions by sid (subs.c), for the client
 * protocol (SUB/UNSUB) and a route's remote interest (route_interest.c, where
 * the sid is the "subject[ queue]" key of the RS+).
 *
 * Owner worker only. sub_new makes a sub for c (remote if c is a route);
 * the caller inserts it into the sublist, then into the map with sidmap_put.
 * sub_discard takes a sub out of both (a deliverer may have taken it out of
 * the sublist already, at its auto-unsubscribe limit) and retires it; the
 * kind says who else must hear of it (a client's local interest goes to the
 * routes) with `removed`, called between the two. */
#ifndef GNATSD_SUBS_H
#define GNATSD_SUBS_H

#include "core/core.h"

/* A freed slot of the map (open addressing): skipped by lookups and walks. */
#define SID_TOMB ((sub_t *)1)

/* Told of a sub leaving c's map (after the sublist, before it is retired); NULL: nobody. */
typedef void (*sub_removed_fn)(worker_t *w, const sub_t *s);

sub_t *sidmap_get(sidmap_t *m, slice_t sid);
void sidmap_put(sidmap_t *m, sub_t *s);
void sidmap_free(sidmap_t *m);
sub_t *sub_new(conn_t *c, slice_t subject, slice_t queue, slice_t sid);
/* Also takes s's shadows (stream imports, nats/imports.c) out of their indexes. */
void sub_discard(conn_t *c, sub_t *s, sub_removed_fn removed);
/* Owner: the subs deliverers closed at their auto-unsubscribe limit since the last call
 * (NULL when none); each is still in the sid map until discarded. The caller frees the
 * array. */
sub_t **sub_take_dead(conn_t *c, uint32_t *n);
/* A peer's interest (route or gateway RS+/RS-, a route's LS+/LS-) for key "account
 * subject[ queue]" in index sl: add (or re-weight a queue's: the old one removed, a new
 * one added, keeping the old one's origin) or remove c's sub for it. origin: an LS+'s
 * leaf cluster (sub_origin), empty for RS+. A removal is told to removed; returns the
 * sub added, or NULL. */
struct sublist;
sub_t *sub_remote_set(conn_t *c, struct sublist *sl, slice_t key, slice_t subject, slice_t queue,
                      slice_t origin, bool add, int32_t weight, sub_removed_fn removed);
/* Owner: a stream import's shadows of s (nats/imports.c) leave their indexes. */
void sub_drop_shadows(worker_t *w, sub_t *s, sub_removed_fn removed);
/* The qsbr free function of a sub_t (frees s->imp too). */
void sub_free(void *p);

#endif
