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
#include "nats/session.h"
#include "nats/subs.h"
#include "base/hash.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>

static ikey_t *ikey_find(const char *k, size_t n, uint64_t h, ikey_t ***slot)
{
    if (!R.ibcap) return NULL;
    ikey_t **pp = &R.ibuckets[h & (R.ibcap - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->h == h && (*pp)->len == n && memcmp((*pp)->key, k, n) == 0) {
            if (slot) *slot = pp;
            return *pp;
        }
    }
    if (slot) *slot = pp;
    return NULL;
}

static void ikey_grow(void)
{
    size_t ncap = R.ibcap ? R.ibcap * 2 : 1024;
    ikey_t **nb = xcalloc(ncap, sizeof *nb);
    for (size_t i = 0; i < R.ibcap; i++) {
        for (ikey_t *k = R.ibuckets[i], *next; k; k = next) {
            next = k->next;
            k->next = nb[k->h & (ncap - 1)];
            nb[k->h & (ncap - 1)] = k;
        }
    }
    free(R.ibuckets);
    R.ibuckets = nb;
    R.ibcap = ncap;
}

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

static size_t interest_line(char *out, size_t cap, const ikey_t *k, bool add)
{
    return route_interest_line(out, cap, k->key, k->len, k->subj_end, k->count, add);
}

static void broadcast_locked(worker_t *w, const char *line, size_t n)
{
    for (size_t i = 0; i < R.nroutes; i++)
        r_send(w, R.routes[i], line, n);
    if (log_trace_on && R.nroutes) TRACE("->> [%.*s] to %zu routes", (int)(n - 2), line, R.nroutes);
}

/* "account subject[ queue]" into stack (or the heap when it does not fit): the key. */
static char *interest_key(char *stack, size_t cap, const account_t *a, slice_t subject,
                          slice_t queue, size_t *len)
{
    size_t n = a->name_len + 1 + subject.n + (queue.n ? 1 + queue.n : 0);
    char *k = n < cap ? stack : xmalloc(n + 1);
    char *p = k;
    memcpy(p, a->name, a->name_len);
    p += a->name_len;
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

static void interest_change(worker_t *w, const sub_t *s, int delta)
{
    /* the index it is in names the account: a client's own, or the exporter's for a
     * stream import's shadow (nats/imports.c) */
    const account_t *acc = s->sl ? sublist_owner(s->sl) : conn_account(s->conn);
    char stack[512];
    size_t n;
    char *k = interest_key(stack, sizeof stack, acc, s->subject, s->queue, &n);
    uint64_t h = hash_bytes(k, n);
    pthread_mutex_lock(&R.mu);
    ikey_t **slot = NULL;
    ikey_t *e = ikey_find(k, n, h, &slot);
    if (!e && delta > 0) {
        if (R.icount + 1 > R.ibcap) ikey_grow();
        slot = &R.ibuckets[h & (R.ibcap - 1)]; /* a new key goes first in its bucket */
        e = xcalloc(1, sizeof *e + n + 1);
        e->next = *slot;
        e->h = h;
        e->len = (uint32_t)n;
        e->acc_len = (uint32_t)acc->name_len;
        e->subj_end = (uint32_t)(acc->name_len + 1 + s->subject.n);
        memcpy(e->key, k, n);
        *slot = e;
        R.icount++;
    }
    if (e) {
        int64_t before = e->count;
        e->count += delta;
        bool queue = e->len != e->subj_end;
        bool send = queue ? true : (before == 0 && e->count > 0) || (before > 0 && e->count <= 0);
        if (send && R.nroutes && import_ok(s->subject.p, s->subject.n)) {
            char line[1100];
            char *lp = e->len + 64 < sizeof line ? line : xmalloc(e->len + 64);
            size_t ln = interest_line(lp, e->len + 64, e, e->count > 0);
            broadcast_locked(w, lp, ln);
            if (lp != line) free(lp);
        }
        if (e->count <= 0) {
            ikey_find(k, n, h, &slot);
            *slot = e->next;
            free(e);
            R.icount--;
        }
    }
    pthread_mutex_unlock(&R.mu);
    if (k != stack) free(k);
}

void route_local_sub_added(worker_t *w, const sub_t *s)
{
    if (route_listen_fd >= 0) interest_change(w, s, 1);
    leaf_sub_added(w, s);
}

void route_local_sub_removed(worker_t *w, const sub_t *s)
{
    if (route_listen_fd >= 0) interest_change(w, s, -1);
    leaf_sub_removed(w, s);
}

void route_leaf_interest(worker_t *w, const sub_t *s, int delta)
{
    if (route_listen_fd >= 0 && delta) interest_change(w, s, delta);
}

void route_remote_sub_gone(worker_t *w, const sub_t *s)
{
    leaf_sub_removed(w, s);
}

void send_interest_dump_locked(worker_t *w, conn_t *c)
{
    buf_t b = {0};
    for (size_t i = 0; i < R.ibcap; i++) {
        for (ikey_t *k = R.ibuckets[i]; k; k = k->next) {
            if (k->count <= 0 || !import_ok(k->key + k->acc_len + 1, k->subj_end - k->acc_len - 1))
                continue;
            buf_reserve(&b, k->len + 64);
            b.len += interest_line(b.p + b.len, k->len + 64, k, true);
            if (b.len > 60000) {
                r_send(w, c, b.p, b.len);
                b.len = 0;
            }
        }
    }
    if (b.len) r_send(w, c, b.p, b.len);
    buf_free(&b);
}

/* Remote interest: RS+ adds (or re-weights) the entry for key, RS- removes it. */
static void route_remote_interest(worker_t *w, conn_t *c, account_t *acc, slice_t key,
                                  slice_t subject, slice_t queue, bool add, int32_t weight)
{
    sub_t *old = sidmap_get(&c->subs, key);
    if (!add) {
        if (old) sub_discard(c, old, route_remote_sub_gone);
        return;
    }
    if (old) {
        if (!queue.n || old->weight == weight) return;
        sub_discard(c, old, route_remote_sub_gone);
    }
    sub_t *s = sub_new(c, subject, queue, key);
    s->weight = weight;
    if (sublist_insert(acc->sl, s) != 0) {
        free(s);
        return;
    }
    sidmap_put(&c->subs, s);
    leaf_sub_added(w, s); /* the leaf nodes we are the hub of hear of it */
}

void process_rsub(worker_t *w, conn_t *c, const op_t *op, bool add)
{
    /* an RS+ for an account not here is dropped as before, but the account is looked up
     * (full or cache resolver) so that it exists for the next one */
    account_t *acc =
        add ? account_fetch_or_ask_slice(op->account) : account_fetch_slice(op->account);
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
        route_remote_interest(w, c, acc, key, op->subject, op->queue, add,
                              op->queue.n ? (op->max > 0 ? (int32_t)op->max : 1) : 1);
    }
    if (k != stack) free(k);
}
