/* leaf_fwd.h: what delivery (deliver.c, route_fwd.h) reads of a leaf node
 * connection, inline: the per-connection leaf state's first fields, and the
 * LMSG/HMSG line a message goes out as (docs/leafnodes.md §6). The rest of
 * the leaf module (nats/leaf.h) is not needed on the delivery path.
 *
 * Rules (the reference's): a message never goes back to the leaf it came
 * from; a routed message reaches a leaf only where we are the hub (the leaf
 * dialled us) or when its subject is a service reply ("_R_."); in a queue
 * group a leaf's member is only the fallback when no local or routed member
 * took the message. */
#ifndef GNATSD_LEAF_FWD_H
#define GNATSD_LEAF_FWD_H

#include "core/core.h"
#include "nats/auth.h"
#include "nats/msg.h"

/* Per leaf connection (c->leaf), owned by the leaf module. */
typedef struct leaf_info {
    /* the peer's cluster name ("" if none), set before the connection's interest is in any
     * index (docs/leafnodes.md §6: no echo across one cluster) */
    char cluster[128];
    bool spoke;            /* we dialled it: we are the spoke, the peer the hub */
    bool registered;       /* CONNECT (hub) / INFO (spoke) done: interest flows */
    bool sys;              /* bound to the system account: its wider JetStream deny (set
                            * before its interest is in any index) */
    struct leaf_state *st; /* the module's own part (nats/leaf_int.h) */
} leaf_info_t;

static inline bool leaf_is_service_reply(slice_t subj)
{
    return subj.n > 4 && memcmp(subj.p, "_R_.", 4) == 0;
}

/* Subjects the reference denies delivery of to a leaf connection when JetStream is not
 * extended over it ($JS.API.>, $KV.>, $OBJ.>): "JetStream Not Extended, adding deny". */
static inline bool leaf_js_denied(slice_t s)
{
    if (!s.n || s.p[0] != '$') return false;
    return (s.n > 8 && memcmp(s.p, "$JS.API.", 8) == 0) ||
           (s.n > 4 && memcmp(s.p, "$KV.", 4) == 0) || (s.n > 5 && memcmp(s.p, "$OBJ.", 5) == 0);
}

/* The system account's wider list adds $JSC.> and $NRG.> (JetStream's cluster traffic). */
static inline bool leaf_sys_js_denied(slice_t s)
{
    return s.n > 5 && s.p[0] == '$' &&
           (memcmp(s.p, "$JSC.", 5) == 0 || memcmp(s.p, "$NRG.", 5) == 0);
}

/* docs/leafnodes.md §4: a leaf connection's permissions. The hub holds the user's as
 * the user sees them: it sends what the user may subscribe to and announces what the
 * user may publish to. The spoke holds them the other way round (publish = the hub's
 * "export", subscribe = its "import", plus the remote's deny lists). */
static inline bool leaf_may_send(const conn_t *c, slice_t subject)
{
    if (likely(atomic_load_explicit(&c->perms, memory_order_relaxed) == NULL)) return true;
    return auth_perm_allows(c, c->leaf->spoke, subject);
}

static inline bool leaf_may_announce(const conn_t *c, slice_t subject)
{
    if (likely(atomic_load_explicit(&c->perms, memory_order_relaxed) == NULL)) return true;
    return auth_perm_allows(c, !c->leaf->spoke, subject);
}

/* Are the peers of leaf connections a and b servers of one cluster? */
static inline bool leaf_same_cluster(const conn_t *a, const conn_t *b)
{
    return a->leaf->cluster[0] && strcmp(a->leaf->cluster, b->leaf->cluster) == 0;
}

/* Is the peer of leaf connection c a server of cluster (a name from a route's LS+ or
 * LMSG: docs/routes.md "Leaf node origin")? */
static inline bool leaf_cluster_is(const conn_t *c, slice_t cluster)
{
    return cluster.n && strlen(c->leaf->cluster) == cluster.n &&
           memcmp(c->leaf->cluster, cluster.p, cluster.n) == 0;
}

/* May message m go to leaf connection dst (plain interest)? */
static inline bool leaf_fwd_ok(const conn_t *dst, const msg_t *m)
{
    if (dst == m->from || leaf_js_denied(m->subject)) return false;
    if (unlikely(dst->leaf->sys) && leaf_sys_js_denied(m->subject)) return false;
    if (!leaf_may_send(dst, m->subject)) return false;
    if (m->from_route) /* (not back to the cluster of the leaf it came from: no echo) */
        return (!dst->leaf->spoke || leaf_is_service_reply(m->subject)) &&
               !leaf_cluster_is(dst, m->leaf_origin);
    if (m->from_leaf && leaf_same_cluster(m->from, dst)) return false; /* cluster-wide no echo */
    return true;
}

#endif
