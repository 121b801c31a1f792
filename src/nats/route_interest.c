/* route_interest.c: interest across the cluster, both ways.
 *
 * Local interest: every client subscription is counted per "account subject[ queue]"
 * key, and a count transition (a plain subject's first and last sub; every
 * change of a queue key, whose count is the weight) is sent to every
 * registered route as RS+/RS- under R.mu, which also guards registration: a
 * route registering concurrently gets either the initial dump or the update,
 * never neither. Our cluster import permission filters what we ask for.
 *
 * Remote interest: each RS+ from a peer becomes (or re-weights) a sub owned by
 * the route connection, in the named account's index, keyed in its sid map by
 * "account subject[ queue]", with the queue weight the peer announced; RS-
 * removes it. Delivery then finds routes and local subscribers in the
 * account's one sublist. An account we do not know is ignored, as the
 * reference does outside operator mode. Our export permission filters what
 * peers may ask for. Owner worker of the route only. */
#include "nats/route.h"
#include "nats/account.h"
#include "nats/route_int.h"
#include "nats/leaf.h"
#include "nats/leaf_fwd.h"
#include "nats/session.h"
#include "nats/subs.h"
#include "base/hash.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>

/* Does a cluster permission list (allow, then deny) let subj through? */
static bool list_permits(bool has, const perm_list_t *l, const char *subj, size_t n)
{
    if (!has) return true;
    bool ok = !(l->has_allow && l->nallow);
    for (size_t i = 0; !ok && i < l->nallow; i++)
        ok = subject_matches(l->allow[i], strlen(l->allow[i]), subj, n);
    for (size_t i = 0; ok && i < l->ndeny; i++)
        ok = !subject_matches(l->deny[i], strlen(l->deny[i]), subj, n);
    return ok;
}

/* Our import permission: may we ask peers for this subject? */
static bool import_ok(const char *subj, size_t n)
{
    permissions_t *p = srv->opts->cluster.perms;
    return !p || list_permits(p->has_publish, &p->publish, subj, n);
}

/* Their subscription may take our messages: our export permission. */
static bool export_ok(const char *subj, size_t n)
{
    permissions_t *p = srv->opts->cluster.perms;
    return !p || list_permits(p->has_subscribe, &p->subscribe, subj, n);
}

static void broadcast_locked(worker_t *w, const char *line, size_t n)
{
    for (size_t i = 0; i < R.nroutes; i++)
        session_send(w, R.routes[i], line, n);
    if (log_trace_on && R.nroutes) TRACE("->> [%.*s] to %zu routes", (int)(n - 2), line, R.nroutes);
}

/* The cluster of the leaf node whose sub s is, where we are its hub: its interest goes
 * to peers that take it as LS+ with that origin (docs/routes.md "Leaf node origin"). */
static slice_t sub_leaf_origin(const sub_t *s)
{
    const conn_t *c = s->conn;
    if (!c || !c->leaf || c->leaf->spoke || !c->leaf->cluster[0]) return (slice_t){NULL, 0};
    return (slice_t){c->leaf->cluster, strlen(c->leaf->cluster)};
}

static char *interest_key(char *stack, size_t cap, const account_t *a, slice_t subject,
                          slice_t queue, size_t *len)
{
    return ikey_build(stack, cap, a->name, a->name_len, subject, queue, len);
}

static void interest_change(worker_t *w, const sub_t *s, int delta)
{
    /* the index it is in names the account: a client's own, or the exporter's for a
     * stream import's shadow (nats/imports.c) */
    const account_t *acc = s->sl ? sublist_owner(s->sl) : conn_account(s->conn);
    char stack[512];
    size_t n;
    char *k = interest_key(stack, sizeof stack, acc, s->subject, s->queue, &n);
    size_t subj_end = acc->name_len + 1 + s->subject.n;
    pthread_mutex_lock(&R.mu);
    int64_t after;
    slice_t origin = sub_leaf_origin(s);
    int64_t before = ikmap_add(&R.interest, k, n, acc->name_len, subj_end, delta, &after);
    bool queue = n != subj_end;
    bool send = queue ? before != after : (before <= 0) != (after <= 0);
    if (send && R.nroutes && import_ok(s->subject.p, s->subject.n)) {
        char line[1100];
        size_t cap = n + origin.n + 64;
        char *lp = cap < sizeof line ? line : xmalloc(cap);
        if (!origin.n) {
            broadcast_locked(w, lp, route_interest_line(lp, cap, k, n, subj_end, after, after > 0));
        } else {
            for (size_t i = 0; i < R.nroutes; i++) {
                conn_t *rc = R.routes[i];
                size_t ln = rc->route->lnoc
                                ? route_leaf_interest_line(lp, cap, origin, k, n, subj_end, after,
                                                           after > 0)
                                : route_interest_line(lp, cap, k, n, subj_end, after, after > 0);
                session_send(w, rc, lp, ln);
                if (log_trace_on) TRACE("%s->> [%.*s]", rc->prefix, (int)(ln - 2), lp);
            }
        }
        if (lp != line) free(lp);
    }
    pthread_mutex_unlock(&R.mu);
    if (k != stack) free(k);
}

/* This cluster's interest, as gateways are told of it: clients' and routes' subs. */
static void gateway_change(worker_t *w, const sub_t *s, int delta)
{
    const route_gw_hooks_t *gw = atomic_load_explicit(&route_gw, memory_order_relaxed);
    if (!gw) return;
    const account_t *acc = s->sl ? sublist_owner(s->sl) : conn_account(s->conn);
    gw->interest(w, acc->name, acc->name_len, s->subject, s->queue, delta);
}

void route_local_sub_added(worker_t *w, const sub_t *s)
{
    if (route_listen_fd >= 0) interest_change(w, s, 1);
    gateway_change(w, s, 1);
    leaf_sub_added(w, s);
}

void route_local_sub_removed(worker_t *w, const sub_t *s)
{
    if (route_listen_fd >= 0) interest_change(w, s, -1);
    gateway_change(w, s, -1);
    leaf_sub_removed(w, s);
}

void route_leaf_interest(worker_t *w, const sub_t *s, int delta)
{
    if (route_listen_fd >= 0 && delta) interest_change(w, s, delta);
    if (delta) gateway_change(w, s, delta); /* a leaf's interest is this cluster's too */
}

/* A peer's sub left the index (a sub_removed_fn): no longer this cluster's interest, for
 * the leaf nodes and the gateways. */
void route_remote_sub_removed(worker_t *w, const sub_t *s)
{
    leaf_sub_removed(w, s);
    gateway_change(w, s, -1);
}

void send_interest_dump_locked(worker_t *w, conn_t *c)
{
    buf_t b = {0};
    for (IKMAP_EACH(&R.interest, i, k)) {
        if (k->count <= 0 || !import_ok(k->key + k->acc_len + 1, k->subj_end - k->acc_len - 1))
            continue;
        /* RS+ whatever the origin, as the reference's initial dump (its origin is only in
         * the updates, docs/routes.md "Leaf node origin") */
        buf_reserve(&b, k->len + 64);
        b.len += route_interest_line(b.p + b.len, k->len + 64, k->key, k->len, k->subj_end,
                                     k->count, true);
        if (b.len > 60000) {
            session_send(w, c, b.p, b.len);
            b.len = 0;
        }
    }
    if (b.len) session_send(w, c, b.p, b.len);
    buf_free(&b);
}

void process_rsub(worker_t *w, conn_t *c, const op_t *op, bool add)
{
    /* an RS+ for an account not here (full or cache resolver) starts its lookup and its
     * interest waits in a placeholder until it is loaded */
    account_t *acc = account_for_interest(op->account, add);
    if (!acc) {
        DEBUG("%sUnknown account \"%.*s\" for subject \"%.*s\"", c->prefix, (int)op->account.n,
              op->account.p, (int)op->subject.n, op->subject.p);
        return;
    }
    if (!subject_valid(op->subject.p, op->subject.n)) {
        if (add) session_send_err(w, c, "Invalid Subscription");
        return;
    }
    /* The key is "account subject[ queue]"; kept as the sid of the remote sub. */
    char stack[512];
    size_t kn;
    char *k = interest_key(stack, sizeof stack, acc, op->subject, op->queue, &kn);
    slice_t key = {k, kn};
    if (add && !export_ok(op->subject.p, op->subject.n)) {
        DEBUG("%sCan not export \"%.*s\", ignoring remote subscription request", c->prefix,
              (int)op->subject.n, op->subject.p);
    } else {
        sub_t *s = sub_remote_set(c, acc->sl, key, op->subject, op->queue, op->origin, add,
                                  op->queue.n ? (op->max > 0 ? (int32_t)op->max : 1) : 1,
                                  route_remote_sub_removed);
        if (s && !account_gone(acc)) { /* the leaf nodes we are the hub of and the gateways
                                        * hear of it (not of a placeholder's) */
            leaf_sub_added(w, s);
            gateway_change(w, s, 1);
        }
    }
    if (k != stack) free(k);
}
