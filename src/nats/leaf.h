/* leaf.h: leaf node connections, both sides (docs/leafnodes.md).
 *
 * A leaf connection is a conn_t of kind CONN_LEAF owned by a worker like any
 * client, bound to one account for life. Accepted on the leafnode port (we
 * are the hub) or dialled to a configured remote (we are the spoke). The
 * peer's interest (LS+) becomes remote subs owned by the connection in that
 * account's index, so delivery (deliver.c) forwards matching messages as
 * LMSG (route_fwd.h, leaf_fwd.h); the account's interest is announced to the
 * peer as LS+/LS- from a per-connection count map kept in step with every
 * subscription change (leaf_sub_added/removed). Nothing here costs anything
 * while no leaf connection is registered: the hooks test one counter. */
#ifndef GNATSD_LEAF_H
#define GNATSD_LEAF_H

#include "core/core.h"

/* Lifecycle (app/start.c): the listener after server_prepare (0 if none is
 * configured, -1 on a fatal error, logged); the remotes are dialled after "Server is
 * ready"; shutdown stops the dialers; free_all after the workers are gone. */
int leaf_start(void);
void leaf_announce(void);
void leaf_shutdown(void);
void leaf_free_all(void);
/* After a reload that leaf_refusal let through: new TLS contexts for what changed. */
void leaf_reload_tls(const opts_t *old, const opts_t *no);

/* The leaf node connection kind. */
extern const conn_ops_t leaf_conn_ops;

/* Registered leaf connections (interest flows); the hooks below do nothing while 0. */
extern _Atomic int leaf_nregistered;

/* s's interest changed by delta (subs of a plain subject count 1, a queue sub its
 * weight): every registered leaf bound to s's account hears of it (LS+/LS-), as
 * docs/leafnodes.md §5 says. Any thread, w may be NULL. */
void leaf_interest_change(worker_t *w, const sub_t *s, int32_t delta);

static inline int32_t leaf_sub_weight(const sub_t *s)
{
    return s->remote && s->queue.n && s->weight > 0 ? s->weight : 1;
}

/* Call after sublist_insert / after sublist_remove (a sub_removed_fn). */
static inline void leaf_sub_added(worker_t *w, const sub_t *s)
{
    if (atomic_load_explicit(&leaf_nregistered, memory_order_relaxed))
        leaf_interest_change(w, s, leaf_sub_weight(s));
}
static inline void leaf_sub_removed(worker_t *w, const sub_t *s)
{
    if (atomic_load_explicit(&leaf_nregistered, memory_order_relaxed))
        leaf_interest_change(w, s, -leaf_sub_weight(s));
}

/* The leafnode URL routes tell their peers of (docs/leafnodes.md §2): ours, unless there
 * is no listener or no_advertise (false then). */
bool leaf_own_url(char *out, size_t n);
/* A route peer's leafnode URLs arrived (add) or left with it: the leaf connections we are
 * the hub of are told the new list (async INFO). Any thread. */
void leaf_peer_urls(char *const *urls, size_t n, bool add);

/* Monitoring: open leaf connections in cid order (conn_snapshot), and counts. */
size_t server_snapshot_leafs(conn_info_t **out, bool with_subs);
int leaf_count(void);
/* The bound leafnode port (0: none). */
int leaf_port(void);

#endif
