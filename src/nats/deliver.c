/* deliver.c: message delivery (see deliver.h), on the publisher's worker.
 *
 * The subscriber is touched only through its outbound buffer (conn_msg_room,
 * conn_msg_put) and atomic fields. Auto-unsubscribe can be decided by any
 * deliverer: the winner of sub->closed takes the sub out of the sublist and
 * bumps conn->dead_subs; the owner later drops it from its sid map and
 * retires it (only the owner ever retires a sub, and only after it is out of
 * the sublist). */
#include "nats/deliver.h"
#include "nats/account.h"
#include "nats/auth.h"
#include "nats/route_fwd.h"
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
    bool expected = false;
    if (atomic_compare_exchange_strong(&s->closed, &expected, true)) {
        sublist_remove(s->sl, s);
        atomic_fetch_add(&s->conn->dead_subs, 1);
    }
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
    if (likely(!m->reply.n || m->reply.p[0] != '_') || !gateway_prefixed(m->reply) ||
        !atomic_load_explicit(&deliver_gw, memory_order_relaxed))
        return m;
    *tmp = *m;
    tmp->reply = (slice_t){m->reply.p + GW_PREFIX_LEN, m->reply.n - GW_PREFIX_LEN};
    return tmp;
}

/* One local delivery; a stripped gateway reply is remembered for the subscriber. */
static inline __attribute__((always_inline)) bool deliver_local(worker_t *w, sub_t *s,
                                                                const msg_t *m, const msg_t *lm)
{
    if (!deliver(w, s, lm)) return false;
    if (unlikely(lm != m))
        atomic_load_explicit(&deliver_gw, memory_order_relaxed)->track(s->conn, m->reply);
    return true;
}

/* Delivers to every plain sub and one member per queue group, and forwards to
 * routes (client and gateway messages) and gateways (client messages); returns how
 * many got it. A queue group goes to another cluster only when none of its members
 * is in this one. */
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
    bool hop = m->from_route | m->from_gw; /* from another server: its queues are named */
    for (uint32_t i = 0; i < r->nplain; i++) {
        sub_t *s = r->plain[i];
        if (unlikely(s->remote | (s->imp != NULL))) {
            if (s->imp) {
                delivered += deliver_import(w, s, m);
                continue;
            }
            if (!m->from_route && !(s->gateway & hop) &&
                !atomic_load_explicit(&s->closed, memory_order_relaxed))
                route_fwd_get(&fwd, s->conn);
            continue;
        }
        if (!eligible(s, lm) || !auth_can_deliver(s->conn, lm->subject, lm->reply)) continue;
        if (deliver_local(w, s, m, lm)) delivered++;
    }
    for (uint32_t g = 0; g < r->nqgroups; g++) {
        const sl_qgroup_t *q = &r->qgroups[g];
        if (!q->n) continue;
        if (hop && !route_queue_listed(m->queues, q->queue)) continue;
        uint32_t start = 0;
        if (likely(!q->nremote)) {
            /* All local: a uniform pick, scaled without a division. */
            start = (uint32_t)(((worker_rand(w) >> 32) * q->n) >> 32);
        } else {
            /* Weighted pick: a route's entry counts its announced weight; a gateway's
             * none (another cluster gets the group only when this one has nobody). */
            uint64_t total = 0;
            sub_t *gw = NULL;
            for (uint32_t k = 0; k < q->n; k++) {
                sub_t *s = q->subs[k];
                if (s->gateway) {
                    if (!gw && !atomic_load_explicit(&s->closed, memory_order_relaxed)) gw = s;
                } else if (s->remote) {
                    if (!m->from_route) total += (uint64_t)(s->weight > 0 ? s->weight : 1);
                } else {
                    total++;
                }
            }
            if (!total) {
                if (gw && !hop) route_fwd_add_queue(route_fwd_get(&fwd, gw->conn), q->queue);
                continue;
            }
            uint64_t pick = worker_rand(w) % total;
            for (uint32_t k = 0; k < q->n; k++) {
                sub_t *s = q->subs[k];
                uint64_t wt = s->gateway ? 0
                              : s->remote
                                  ? (m->from_route ? 0 : (uint64_t)(s->weight > 0 ? s->weight : 1))
                                  : 1;
                if (pick < wt) {
                    start = k;
                    break;
                }
                pick -= wt;
            }
        }
        for (uint32_t k = 0, i = start; k < q->n; k++, i = i + 1 == q->n ? 0 : i + 1) {
            sub_t *s = q->subs[i];
            if (unlikely(s->imp != NULL)) {
                if (deliver_import(w, s, m)) {
                    delivered++;
                    break;
                }
                continue;
            }
            if (s->remote) {
                if (s->gateway || m->from_route ||
                    atomic_load_explicit(&s->closed, memory_order_relaxed))
                    continue;
                route_fwd_t *e = route_fwd_get(&fwd, s->conn);
                route_fwd_add_queue(e, q->queue);
                break;
            }
            if (!eligible(s, lm) || !auth_can_deliver(s->conn, lm->subject, lm->reply)) continue;
            if (deliver_local(w, s, m, lm)) {
                delivered++;
                break;
            }
        }
    }
    for (int i = 0; i < fwd.n; i++) {
        if (unlikely(fwd.v[i].route->gw != NULL))
            atomic_load_explicit(&deliver_gw, memory_order_relaxed)
                ->send(w, fwd.v[i].route, (slice_t){fwd.v[i].queues.p, fwd.v[i].queues.len}, m);
        else
            route_send_rmsg(w, &fwd.v[i], m);
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
