/* deliver.c: message delivery (see deliver.h), on the publisher's worker.
 *
 * The subscriber is touched only through its outbound buffer (conn_msg_room,
 * conn_msg_put) and atomic fields. Auto-unsubscribe can be decided by any
 * deliverer: the winner of sub->closed (under the owner's dead_lock) puts it on
 * the owner's dead list and takes it out of the sublist; the owner later drops it
 * from its sid map and retires it (only the owner ever retires a sub, and only
 * once it is out of the sublist and off the dead list). */
#include "nats/deliver.h"
#include "nats/account.h"
#include "nats/auth.h"
#include "nats/route_fwd.h"
#include "nats/gwreply.h"
#include "core/core.h"
#include "base/log.h"

/* Decimal digits of v at p; returns the end. (printf is a tenth of a delivery's cost.) */
static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

deliver_import_fn deliver_import;
deliver_tracked_fn deliver_tracked;
const deliver_gw_ops_t *_Atomic deliver_gw;

static void auto_unsub(sub_t *s)
{
    conn_t *c = s->conn;
    bool expected = false;
    spin_lock(&c->dead_lock);
    bool won = atomic_compare_exchange_strong(&s->closed, &expected, true);
    if (won) {
        if (c->ndead == c->dead_cap) {
            c->dead_cap = c->dead_cap ? c->dead_cap * 2 : 8;
            c->dead = xrealloc(c->dead, c->dead_cap * sizeof *c->dead);
        }
        c->dead[c->ndead++] = s;
        atomic_store_explicit(&c->has_dead, true, memory_order_release);
    }
    spin_unlock(&c->dead_lock);
    /* The owner may sweep and retire it meanwhile: we are online, so it is not freed
     * before this returns, and a second removal finds nothing. */
    if (won) sublist_remove(s->sl, s);
}

/* Appends MSG/HMSG for one subscription. Returns true if handed over. Inlined into
 * both loops of deliver_all, as it always was; deliver_sub is the out-of-line copy. */
static inline __attribute__((always_inline)) bool deliver(worker_t *w, sub_t *s, const msg_t *m)
{
    conn_t *c = s->conn;
    if (atomic_load_explicit(&s->closed, memory_order_relaxed)) return false;
    int64_t max = atomic_load_explicit(&s->max, memory_order_relaxed);
    int64_t d;
    if (unlikely(max)) {
        d = atomic_fetch_add_explicit(&s->delivered, 1, memory_order_relaxed) + 1;
        if (d > max) return false;
    } else {
        /* Only statistics without a limit: a plain increment (may undercount when two
         * workers deliver to one sub at the same instant). */
        d = atomic_load_explicit(&s->delivered, memory_order_relaxed) + 1;
        atomic_store_explicit(&s->delivered, d, memory_order_relaxed);
    }

    bool hmsg = m->hdr > 0 && c->headers;
    const char *payload = m->payload;
    int64_t size = m->size;
    if (m->hdr > 0 && !hmsg) { /* strip headers for a subscriber that cannot take them */
        payload += m->hdr;
        size -= m->hdr;
    }
    /* a request from another server that tracks its latency (reply "....<hash>.T"):
     * the answer is timed here (staged first: it may send an RTT PING) */
    if (unlikely(m->from_route | m->from_gw) && m->reply.n > 15 &&
        m->reply.p[m->reply.n - 1] == 'T' && m->reply.p[m->reply.n - 2] == '.' && deliver_tracked)
        deliver_tracked(w, s, m);
    /* Written straight into the stage: "HMSG " + 4 blanks + 2 numbers + CRLF < 64. */
    size_t room = 64 + m->subject.n + s->sid.n + m->reply.n + (size_t)size + 2;
    char *line = conn_msg_room(w, c, room);
    if (!line) return false;
    char *p = line;
    if (hmsg) {
        memcpy(p, "HMSG ", 5);
        p += 5;
    } else {
        memcpy(p, "MSG ", 4);
        p += 4;
    }
    memcpy(p, m->subject.p, m->subject.n);
    p += m->subject.n;
    *p++ = ' ';
    memcpy(p, s->sid.p, s->sid.n);
    p += s->sid.n;
    *p++ = ' ';
    if (m->reply.n) {
        memcpy(p, m->reply.p, m->reply.n);
        p += m->reply.n;
        *p++ = ' ';
    }
    if (hmsg) {
        p = put_u64(p, (uint64_t)m->hdr);
        *p++ = ' ';
    }
    p = put_u64(p, (uint64_t)size);
    if (log_trace_on) log_msg(LOG_TRC, "%s->> [%.*s]", c->prefix, (int)(p - line), line);
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, payload, (size_t)size);
    p += size;
    *p++ = '\r';
    *p++ = '\n';
    conn_msg_put(w, c, (size_t)(p - line), (uint64_t)size);
    stat_add(&w->out_msgs, 1);
    stat_add(&w->out_bytes, (uint64_t)size);
    if (max && d == max) {
        DEBUG("%sAuto-unsubscribe limit of %lld reached for sid '%.*s'", c->prefix, (long long)max,
              (int)s->sid.n, s->sid.p);
        auto_unsub(s);
    }
    return true;
}

bool deliver_sub(worker_t *w, sub_t *s, const msg_t *m)
{
    return deliver(w, s, m);
}

static bool eligible(const sub_t *s, const msg_t *m)
{
    if (atomic_load_explicit(&s->closed, memory_order_relaxed)) return false;
    /* (a server message, deliver_publish, has no sender: nobody's own echo) */
    if (s->conn == m->from && m->from && !m->from->echo) return false;
    return true;
}

/* The message as a local subscriber sees it: a reply that crossed a gateway loses
 * the prefix that routes it back (the subscriber's answer is mapped back to it). */
static const msg_t *local_view(const msg_t *m, msg_t *tmp)
{
    if (likely(!m->reply.n || m->reply.p[0] != '_') || !gateway_prefixed(m->reply)) return m;
    *tmp = *m;
    tmp->reply = (slice_t){m->reply.p + GW_PREFIX_LEN, m->reply.n - GW_PREFIX_LEN};
    return tmp;
}

/* One local delivery; a stripped gateway reply is remembered for the subscriber. */
static inline __attribute__((always_inline)) bool deliver_local(worker_t *w, sub_t *s,
                                                                const msg_t *m, const msg_t *lm)
{
    if (!deliver(w, s, lm)) return false;
    if (unlikely(lm != m)) gwreply_track(s->conn, m->reply);
    return true;
}

/* Messages that go to no gateway: they came from another server of this cluster or
 * from another cluster, or from the hub we are a leaf of. */
static inline bool no_gateway(const msg_t *m)
{
    return m->from_route | m->from_gw | (m->from_leaf == MSG_LEAF_SPOKE);
}

/* A queue member's share of the weighted pick: a local one 1, a route's its announced
 * weight (none for a routed message or one from our hub: one hop), a leaf's or a
 * gateway's none (they are only the fallbacks, docs/leafnodes.md §6, docs/gateways.md
 * "Messages"). */
static inline uint64_t qweight(const sub_t *s, const msg_t *m)
{
    if (!s->remote) return 1;
    if (s->conn->leaf || s->gateway || m->from_route || m->from_leaf == MSG_LEAF_SPOKE) return 0;
    return (uint64_t)(s->weight > 0 ? s->weight : 1);
}

/* One queue group with members on routes, leaf nodes or gateways (out of line: the
 * all-local groups of deliver_all stay as they were). A weighted pick among the local
 * and routed members (a route's entry counts its announced weight; none for a routed
 * message or one from our hub: one hop); a leaf's member is the fallback
 * (docs/leafnodes.md §6), another cluster's the last one (docs/gateways.md).
 * Returns 1 if a local member or an import took it (routes, leafs and gateways go to
 * fwd). */
static __attribute__((noinline)) int deliver_qgroup_remote(worker_t *w, const sl_qgroup_t *q,
                                                           const msg_t *m, const msg_t *lm,
                                                           route_fwd_set_t *fwd)
{
    uint32_t start = 0;
    uint64_t total = 0;
    for (uint32_t k = 0; k < q->n; k++)
        total += qweight(q->subs[k], m);
    /* none pickable: only leaf or gateway members (tried as the fallbacks below) */
    /* scaled without a division (a 64-bit div was a tenth of this function) */
    uint64_t pick =
        total <= UINT32_MAX ? ((worker_rand(w) >> 32) * total) >> 32 : worker_rand(w) % total;
    for (uint32_t k = 0; total && k < q->n; k++) {
        uint64_t wt = qweight(q->subs[k], m);
        if (pick < wt) {
            start = k;
            break;
        }
        pick -= wt;
    }
    sub_t *leaf_fb = NULL; /* a leaf's member: taken only if no other one is */
    sub_t *gw_fb = NULL;   /* another cluster's: only if this one has nobody */
    for (uint32_t k = 0, i = start; k < q->n; k++, i = i + 1 == q->n ? 0 : i + 1) {
        sub_t *s = q->subs[i];
        if (unlikely(s->imp != NULL)) {
            if (deliver_import(w, s, m)) return 1;
            continue;
        }
        if (s->remote) {
            if (atomic_load_explicit(&s->closed, memory_order_relaxed)) continue;
            if (s->conn->leaf) {
                if (!leaf_fb && s->conn != m->from && !leaf_js_denied(m->subject) &&
                    leaf_may_send(s->conn, m->subject))
                    leaf_fb = s;
                continue;
            }
            if (s->gateway) {
                if (!gw_fb && !no_gateway(m)) gw_fb = s;
                continue;
            }
            if (m->from_route || m->from_leaf == MSG_LEAF_SPOKE) continue;
            route_fwd_add_queue(route_fwd_get(fwd, s->conn), q->queue);
            return 0;
        }
        if (!eligible(s, lm) || !auth_can_deliver(s->conn, lm->subject, lm->reply)) continue;
        if (deliver_local(w, s, m, lm)) return 1;
    }
    if (leaf_fb)
        route_fwd_add_queue(route_fwd_get(fwd, leaf_fb->conn), q->queue);
    else if (gw_fb)
        route_fwd_add_queue(route_fwd_get(fwd, gw_fb->conn), q->queue);
    return 0;
}

/* Delivers to every plain sub and one member per queue group, and forwards to routes
 * (client, leaf and gateway messages), leaf nodes (docs/leafnodes.md §6) and gateways
 * (client and leaf messages, docs/gateways.md); returns how many got it. */
int deliver_all(worker_t *w, const sl_result_t *r, const msg_t *m)
{
    if (unlikely(m->subject.p[0] == '_') && gateway_prefixed(m->subject)) {
        const deliver_gw_ops_t *gw = atomic_load_explicit(&deliver_gw, memory_order_relaxed);
        if (gw) return gw->reply(w, m);
    }
    int delivered = 0;
    route_fwd_t fwdv[ROUTE_MAX_FWD];
    route_fwd_set_t fwd = {fwdv, 0};
    msg_t tmp;
    const msg_t *lm = local_view(m, &tmp);
    /* (deliver's room, with a sid of up to 16 bytes) */
    if (r->nplain > 1)
        pass_fanout(w, r->nplain, 64 + m->subject.n + 16 + m->reply.n + (size_t)m->size + 2);
    for (uint32_t i = 0; i < r->nplain; i++) {
        sub_t *s = r->plain[i];
        /* A fan-out to thousands misses the cache on every subscription and connection:
         * ask for the ones a few deliveries ahead. */
        if (i + 4 < r->nplain) prefetch_line(r->plain[i + 4]);
        if (i + 2 < r->nplain) {
            const conn_t *nc = r->plain[i + 2]->conn;
            prefetch_line(&nc->perms);
            /* (a narrow fan-out's stages stay in the cache: 4 subscribers paid 4 % CPU) */
            if (r->nplain > 16) stage_prefetch(w, nc, (size_t)m->size + m->subject.n + 32);
        }
        if (unlikely(s->remote | (s->imp != NULL))) {
            if (s->imp) {
                delivered += deliver_import(w, s, m);
                continue;
            }
            if (atomic_load_explicit(&s->closed, memory_order_relaxed)) continue;
            if (s->conn->leaf ? leaf_fwd_ok(s->conn, m)
                : s->gateway  ? !no_gateway(m)
                              : !m->from_route && m->from_leaf != MSG_LEAF_SPOKE)
                route_fwd_get(&fwd, s->conn);
            continue;
        }
        if (!eligible(s, lm) || !auth_can_deliver(s->conn, lm->subject, lm->reply)) continue;
        if (deliver_local(w, s, m, lm)) delivered++;
    }
    /* a routed, leaf or gateway message reaches only the queue groups it names */
    for (uint32_t g = 0; g < r->nqgroups; g++) {
        const sl_qgroup_t *q = &r->qgroups[g];
        if (!q->n) continue;
        if (unlikely(m->from_route | m->from_leaf | m->from_gw) &&
            !route_queue_listed(m->queues, q->queue))
            continue;
        if (unlikely(q->nremote != 0)) {
            delivered += deliver_qgroup_remote(w, q, m, lm, &fwd);
            continue;
        }
        /* All local: a uniform pick, scaled without a division. */
        uint32_t start = (uint32_t)(((worker_rand(w) >> 32) * q->n) >> 32);
        for (uint32_t k = 0, i = start; k < q->n; k++, i = i + 1 == q->n ? 0 : i + 1) {
            sub_t *s = q->subs[i];
            if (unlikely(s->imp != NULL)) {
                if (deliver_import(w, s, m)) {
                    delivered++;
                    break;
                }
                continue;
            }
            if (!eligible(s, lm) || !auth_can_deliver(s->conn, lm->subject, lm->reply)) continue;
            if (deliver_local(w, s, m, lm)) {
                delivered++;
                break;
            }
        }
    }
    for (int i = 0; i < fwd.n; i++) {
        slice_t pfx = {NULL, 0};
        if (unlikely(fwd.v[i].route->gw != NULL))
            pfx = atomic_load_explicit(&deliver_gw, memory_order_relaxed)->reply_prefix;
        route_send_rmsg(w, &fwd.v[i], m, pfx);
        buf_free(&fwd.v[i].queues);
    }
    return delivered + fwd.n;
}

int deliver_publish(worker_t *w, account_t *acc, const char *subject, const char *reply,
                    const void *data, size_t n)
{
    msg_t m = {0};
    m.acc = acc;
    m.subject = (slice_t){subject, strlen(subject)};
    if (reply) m.reply = (slice_t){reply, strlen(reply)};
    m.hdr = -1;
    m.payload = data ? data : "";
    m.size = (int64_t)n;
    return deliver_all(w, sublist_match(acc->sl, m.subject.p, m.subject.n), &m);
}
