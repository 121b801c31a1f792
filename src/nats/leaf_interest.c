/* leaf_interest.c: interest across a leaf connection, both ways
 * (docs/leafnodes.md §5).
 *
 * What we announce: each registered leaf connection keeps a count per key
 * ("subject" or "subject queue") of the interest in its bound account that it
 * may see (its smap, under LF.mu). A plain key is sent as LS+ when its count
 * leaves 0 and LS- when it drops back; a queue key is re-sent on every change
 * with its count as the weight. Registration sends the whole map (the initial
 * dump) and remembers the subs it counted, so that their own notification,
 * arriving just after, is not counted twice. A spoke connection (to our hub)
 * hears only of local subscriptions and of leaf nodes we are the hub of; a hub
 * connection hears of everything in the account, routed interest included,
 * except the connection's own.
 *
 * What the peer announces: each LS+ becomes (or re-weights) a sub owned by the
 * connection, keyed in its sid map by "subject[ queue]", in the bound account's
 * index; it is told to the other leaf connections and, when we are the hub of
 * this one, to the routes. LS- removes it. An LS+ of our own loop detection
 * subject means the messages would come back to us: the connection closes. */
#include "nats/leaf.h"
#include "nats/leaf_int.h"
#include "nats/route.h"
#include "nats/imports.h"
#include "nats/session.h"
#include "nats/subs.h"
#include "nats/deliver.h"
#include "base/hash.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- the count map ----------------------------------------------------------------- */

static lkey_t **smap_slot(leaf_state_t *st, const char *k, size_t n, uint64_t h)
{
    lkey_t **pp = &st->smap[h & (st->scap - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->h == h && (*pp)->len == n && memcmp((*pp)->key, k, n) == 0) break;
    return pp;
}

static void smap_grow(leaf_state_t *st)
{
    size_t ncap = st->scap ? st->scap * 2 : 64;
    lkey_t **nb = xcalloc(ncap, sizeof *nb);
    for (size_t i = 0; i < st->scap; i++) {
        for (lkey_t *k = st->smap[i], *next; k; k = next) {
            next = k->next;
            k->next = nb[k->h & (ncap - 1)];
            nb[k->h & (ncap - 1)] = k;
        }
    }
    free(st->smap);
    st->smap = nb;
    st->scap = ncap;
}

void leaf_smap_free(leaf_state_t *st)
{
    for (size_t i = 0; i < st->scap; i++) {
        for (lkey_t *k = st->smap[i], *next; k; k = next) {
            next = k->next;
            free(k);
        }
    }
    free(st->smap);
    st->smap = NULL;
    st->scap = st->sn = 0;
    free(st->tsub);
    st->tsub = NULL;
    st->ntsub = st->ctsub = 0;
}

/* "LS+ key[ weight]\r\n" or "LS- key\r\n". */
static void put_line(buf_t *b, const lkey_t *k, int32_t count)
{
    buf_puts(b, count > 0 ? "LS+ " : "LS- ");
    buf_append(b, k->key, k->len);
    if (count > 0 && k->queue) {
        buf_putc(b, ' ');
        buf_put_i64(b, count);
    }
    buf_puts(b, "\r\n");
}

/* The key of s: "subject" or "subject queue", in stack when it fits. */
static char *sub_key(const sub_t *s, char *stack, size_t cap, size_t *n)
{
    size_t len = s->subject.n + (s->queue.n ? 1 + s->queue.n : 0);
    char *k = len <= cap ? stack : xmalloc(len);
    memcpy(k, s->subject.p, s->subject.n);
    if (s->queue.n) {
        k[s->subject.n] = ' ';
        memcpy(k + s->subject.n + 1, s->queue.p, s->queue.n);
    }
    *n = len;
    return k;
}

/* Adds delta to key k; appends the line the change needs to out (NULL: no line). */
static void smap_change(leaf_state_t *st, const char *k, size_t n, bool queue, int32_t delta,
                        buf_t *out)
{
    if (st->sn + 1 > st->scap) smap_grow(st);
    uint64_t h = hash_bytes(k, n);
    lkey_t **pp = smap_slot(st, k, n, h);
    lkey_t *e = *pp;
    if (!e) {
        if (delta <= 0) return; /* never announced: nothing to withdraw */
        e = xcalloc(1, sizeof *e + n);
        e->h = h;
        e->len = (uint32_t)n;
        e->queue = queue;
        memcpy(e->key, k, n);
        *pp = e;
        st->sn++;
    }
    int32_t before = e->count;
    e->count += delta;
    bool send = queue || before <= 0 || e->count <= 0;
    if (send && out) put_line(out, e, e->count);
    if (e->count <= 0) {
        *pp = e->next;
        free(e);
        st->sn--;
    }
}

/* May leaf connection c hear of s? */
static bool visible(const conn_t *c, const sub_t *s)
{
    if (s->conn == c || !leaf_may_announce(c, s->subject)) return false;
    if (c->leaf->spoke && s->conn && (s->conn->route || (s->conn->leaf && s->conn->leaf->spoke)))
        return false; /* a spoke tells its hub only of local interest */
    /* interest from a leaf of the same cluster as c's peer: that cluster has it already
     * (its servers are routed to each other), unless it is the loop detection subject */
    /* a route's LS+ from a leaf of c's peer's cluster: the same (docs/routes.md) */
    if (s->origin_len && leaf_cluster_is(c, sub_origin(s))) return false;
    if (s->conn && s->conn->leaf && leaf_same_cluster(s->conn, c) &&
        !(s->subject.n > 5 && memcmp(s->subject.p, LEAF_LDS_PREFIX, 5) == 0))
        return false;
    return true;
}

/* The subs the initial dump counted: an open-addressing pointer set (tombstones on
 * removal), emptied by the owner's timer once their notifications are surely in. */
#define TSUB_TOMB ((const sub_t *)1)

static size_t tsub_hash(const sub_t *s, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)s;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static void tsub_put(leaf_state_t *st, const sub_t *s)
{
    if ((st->ntsub + 1) * 2 > st->ctsub) {
        size_t ocap = st->ctsub;
        const sub_t **old = st->tsub;
        st->ctsub = ocap ? ocap * 2 : 64;
        st->tsub = xcalloc(st->ctsub, sizeof *st->tsub);
        st->ntsub = 0;
        for (size_t i = 0; i < ocap; i++)
            if (old[i] && old[i] != TSUB_TOMB) tsub_put(st, old[i]);
        free(old);
    }
    size_t i = tsub_hash(s, st->ctsub);
    while (st->tsub[i] && st->tsub[i] != TSUB_TOMB)
        i = (i + 1) & (st->ctsub - 1);
    st->tsub[i] = s;
    st->ntsub++;
}

static bool tsub_take(leaf_state_t *st, const sub_t *s)
{
    if (!st->ctsub) return false;
    for (size_t i = tsub_hash(s, st->ctsub), k = 0; k < st->ctsub && st->tsub[i];
         i = (i + 1) & (st->ctsub - 1), k++) {
        if (st->tsub[i] == s) {
            st->tsub[i] = TSUB_TOMB;
            st->ntsub--;
            return true;
        }
    }
    return false;
}

void leaf_tsub_clear(conn_t *c)
{
    pthread_mutex_lock(&LF.mu);
    leaf_state_t *st = c->leaf->st;
    free(st->tsub);
    st->tsub = NULL;
    st->ntsub = st->ctsub = 0;
    pthread_mutex_unlock(&LF.mu);
}

void leaf_interest_change(worker_t *w, const sub_t *s, int32_t delta)
{
    const account_t *acc = s->sl ? sublist_owner(s->sl) : conn_account(s->conn);
    char stack[512];
    size_t n;
    char *k = sub_key(s, stack, sizeof stack, &n);
    buf_t line = {0};
    pthread_mutex_lock(&LF.mu);
    for (size_t i = 0; i < LF.n; i++) {
        conn_t *c = LF.leafs[i];
        if (c->acc != acc || !visible(c, s)) continue;
        leaf_state_t *st = c->leaf->st;
        /* counted by the initial dump already (docs/leafnodes.md §5.2) */
        if (st->ntsub && tsub_take(st, s) && delta > 0) continue;
        line.len = 0;
        smap_change(st, k, n, s->queue.n > 0, delta, &line);
        if (line.len) {
            session_send(w, c, line.p, line.len);
            if (log_trace_on) TRACE("%s->> [%.*s]", c->prefix, (int)line.len - 2, line.p);
        }
    }
    pthread_mutex_unlock(&LF.mu);
    buf_free(&line);
    if (k != stack) free(k);
}

/* ---- registration and the initial dump -------------------------------------------- */

typedef struct dump_ctx {
    conn_t *c;
} dump_ctx_t;

static void dump_one(sub_t *s, void *arg)
{
    dump_ctx_t *d = arg;
    conn_t *c = d->c;
    if (atomic_load_explicit(&s->closed, memory_order_relaxed) || !visible(c, s)) return;
    leaf_state_t *st = c->leaf->st;
    char stack[512];
    size_t n;
    char *k = sub_key(s, stack, sizeof stack, &n);
    smap_change(st, k, n, s->queue.n > 0, leaf_sub_weight(s), NULL);
    if (k != stack) free(k);
    tsub_put(st, s);
}

/* Registers c (unless it is already) and sends it the account's whole interest, counted
 * afresh. */
static void dump(worker_t *w, conn_t *c)
{
    leaf_state_t *st = c->leaf->st;
    account_t *acc = c->acc;
    buf_t b = {0};
    pthread_mutex_lock(&LF.mu);
    if (!c->leaf->registered) {
        c->leaf->sys = acc == account_system();
        if (LF.n == LF.cap) {
            LF.cap = LF.cap ? LF.cap * 2 : 8;
            LF.leafs = xrealloc(LF.leafs, LF.cap * sizeof *LF.leafs);
        }
        LF.leafs[LF.n++] = c;
        c->leaf->registered = true;
        atomic_fetch_add(&leaf_nregistered, 1);
    }
    leaf_smap_free(st);
    dump_ctx_t d = {c};
    sublist_foreach(acc->sl, dump_one, &d);
    const char *lds = leaf_lds_locked(acc);
    smap_change(st, lds, strlen(lds), false, 1, NULL);
    /* with gateways, answers on replies that crossed one come back through us
     * (docs/gateways.md "Replies") */
    if (atomic_load_explicit(&deliver_gw, memory_order_relaxed)) {
        smap_change(st, "$GR.*.>", 7, false, 1, NULL);
        smap_change(st, "_GR_.>", 6, false, 1, NULL);
    }
    for (size_t i = 0; i < st->scap; i++)
        for (lkey_t *k = st->smap[i]; k; k = k->next)
            put_line(&b, k, k->count);
    if (b.len) session_send(w, c, b.p, b.len);
    pthread_mutex_unlock(&LF.mu);
    if (log_trace_on && b.len) {
        for (size_t i = 0; i < b.len;) {
            const char *e = memchr(b.p + i, '\r', b.len - i);
            size_t ln = e ? (size_t)(e - (b.p + i)) : b.len - i;
            TRACE("%s->> [%.*s]", c->prefix, (int)ln, b.p + i);
            i += ln + 2;
        }
    }
    buf_free(&b);
}

void leaf_register(worker_t *w, conn_t *c)
{
    dump(w, c);
}

void leaf_redump(worker_t *w, conn_t *c)
{
    if (c->leaf->registered) dump(w, c);
}

/* One of c's subs left the index: the other leaf connections and (hub side) the routes
 * hear of it. */
static void leaf_own_sub_gone(worker_t *w, const sub_t *s)
{
    if (s->imp) { /* a stream import's shadow: announced as local interest */
        route_local_sub_removed(w, s);
        return;
    }
    if (!s->conn->leaf->spoke) route_leaf_interest(w, s, -leaf_sub_weight(s));
    leaf_sub_removed(w, s);
}

void leaf_unregister(conn_t *c)
{
    pthread_mutex_lock(&LF.mu);
    if (c->leaf->registered) {
        for (size_t i = 0; i < LF.n; i++) {
            if (LF.leafs[i] == c) {
                LF.leafs[i] = LF.leafs[--LF.n];
                break;
            }
        }
        c->leaf->registered = false;
        atomic_fetch_sub(&leaf_nregistered, 1);
    }
    pthread_mutex_unlock(&LF.mu);
    /* its interest leaves the index now (session_closed then finds the map empty) */
    for (uint32_t i = 0; i < c->subs.cap; i++) {
        sub_t *s = c->subs.slots[i];
        if (s && s != SID_TOMB) sub_discard(c, s, leaf_own_sub_gone);
    }
}

/* ---- the peer's LS+ / LS- --------------------------------------------------------- */

void leaf_process_sub(worker_t *w, conn_t *c, const op_t *op, bool add)
{
    leaf_state_t *st = c->leaf->st;
    account_t *acc = c->acc;
    if (!acc || !c->leaf->registered) return;
    if (add && op->subject.n > 5 && memcmp(op->subject.p, LEAF_LDS_PREFIX, 5) == 0) {
        pthread_mutex_lock(&LF.mu);
        const char *lds = leaf_lds_locked(acc);
        bool loop = strlen(lds) == op->subject.n && memcmp(lds, op->subject.p, op->subject.n) == 0;
        pthread_mutex_unlock(&LF.mu);
        if (loop) {
            char text[300];
            snprintf(text, sizeof text,
                     "Loop detected for leafnode account=\"%s\". Delaying attempt to reconnect "
                     "for %s",
                     acc->name, c->leaf->spoke ? "30s" : "0s");
            session_send_err(w, c, text);
            ERROR("%s%s", c->prefix, text);
            st->loop = true;
            session_close(c, CR_PROTOCOL_VIOLATION);
            return;
        }
    }
    if (!subject_valid(op->subject.p, op->subject.n)) {
        if (add) session_send_err(w, c, "Invalid Subscription");
        return;
    }
    /* interest in what we may not send it (docs/leafnodes.md §4): a hub closes the
     * connection for a literal subject, a spoke ignores it (the hub told it its rights);
     * the loop detection subject is never checked */
    if (add && !(op->subject.n > 5 && memcmp(op->subject.p, LEAF_LDS_PREFIX, 5) == 0) &&
        !leaf_may_send(c, op->subject)) {
        if (!subject_valid_literal(op->subject.p, op->subject.n)) {
            /* a wildcard: kept (the reference checks literal subjects only) */
        } else if (c->leaf->spoke) {
            return;
        } else {
            char text[1024];
            snprintf(text, sizeof text, "Permissions Violation for Subscription to \"%.*s\"",
                     (int)(op->subject.n > 900 ? 900 : op->subject.n), op->subject.p);
            session_send_err(w, c, text);
            ERROR("%sSubscription Violation on \"%.*s\" - Check other side configuration",
                  c->prefix, (int)op->subject.n, op->subject.p);
            session_close(c, CR_PROTOCOL_VIOLATION);
            return;
        }
    }
    /* the key "subject[ queue]" is the sid of the remote sub */
    char stack[512];
    size_t kn = op->subject.n + (op->queue.n ? 1 + op->queue.n : 0);
    char *k = kn <= sizeof stack ? stack : xmalloc(kn);
    memcpy(k, op->subject.p, op->subject.n);
    if (op->queue.n) {
        k[op->subject.n] = ' ';
        memcpy(k + op->subject.n + 1, op->queue.p, op->queue.n);
    }
    slice_t key = {k, kn};
    sub_t *old = sidmap_get(&c->subs, key);
    int32_t weight = op->queue.n ? (op->max > 0 ? (int32_t)op->max : 1) : 1;
    if (!add) {
        if (old) sub_discard(c, old, leaf_own_sub_gone);
    } else if (old && (!op->queue.n || old->weight == weight)) {
        /* nothing new */
    } else {
        if (old) sub_discard(c, old, leaf_own_sub_gone);
        sub_t *s = sub_new(c, op->subject, op->queue, key);
        s->remote = true;
        s->weight = weight;
        if (sublist_insert(acc->sl, s) != 0) {
            free(s);
        } else {
            sidmap_put(&c->subs, s);
            if (!c->leaf->spoke) route_leaf_interest(w, s, leaf_sub_weight(s));
            leaf_sub_added(w, s);
            imports_sub_added(w, c, s); /* stream imports shadow it (nats/imports.h) */
        }
    }
    if (k != stack) free(k);
}
