/* route_fwd.h: forwarding a client's message to the routes (RMSG), for delivery
 * (deliver.c deliver_all) to use inline: the whole message path stays in one
 * function, with no call per route beyond the ones that stage the bytes.
 *
 * While a client's message is delivered, each route with matching interest
 * gets one entry in a forward set (at most once per message), with the names
 * of the queue groups whose weighted pick it won; after the local deliveries,
 * one RMSG per entry is sent. A routed message is never forwarded again (one
 * hop); its RMSG's queue names say which local queue groups it is meant for. */
#ifndef GNATSD_ROUTE_FWD_H
#define GNATSD_ROUTE_FWD_H

#include "base/log.h"
#include "nats/msg.h"
#include "nats/account.h"
#include "nats/route.h"
#include "nats/leaf_fwd.h"
#include "proto/route_parse.h"

/* Routes one message may be forwarded to; more are not forwarded to. */
#define ROUTE_MAX_FWD 64

/* One route a client's message goes to, with the queue groups it was picked for. */
typedef struct route_fwd {
    conn_t *route;
    buf_t queues; /* chosen queue names, space separated (heap only when used) */
} route_fwd_t;

/* Routes a client's message goes to: each at most once, with the queue groups it won. */
typedef struct route_fwd_set {
    route_fwd_t *v; /* ROUTE_MAX_FWD entries, on the deliverer's stack */
    int n;
} route_fwd_set_t;

static inline route_fwd_t *route_fwd_get(route_fwd_set_t *f, conn_t *route)
{
    for (int i = 0; i < f->n; i++)
        if (f->v[i].route == route) return &f->v[i];
    if (f->n == ROUTE_MAX_FWD) return NULL;
    route_fwd_t *e = &f->v[f->n++];
    e->route = route;
    e->queues = (buf_t){0};
    return e;
}

static inline void route_fwd_add_queue(route_fwd_t *e, slice_t q)
{
    if (!e) return;
    if (e->queues.len) buf_putc(&e->queues, ' ');
    buf_append(&e->queues, q.p, q.n);
}

/* The RMSG (HMSG to a peer that takes headers) for one route: the queue groups it won
 * follow the reply ('+' reply queues... or '| queues...'). A leaf connection in the set
 * gets the leaf form: LMSG (HMSG) without the account (docs/leafnodes.md §6). A message
 * from a leaf node of a named cluster goes to a route that takes it as LMSG with that
 * origin before the account and a header length always (docs/routes.md). A gateway
 * connection gets the route form with pfx before the reply (our "_GR_." prefix, unless
 * the reply has one already: docs/gateways.md "Replies"); pfx is empty for the others. */
static inline void route_send_rmsg(worker_t *w, const route_fwd_t *f, const msg_t *m, slice_t pfx)
{
    conn_t *rc = f->route;
    bool leaf = rc->leaf != NULL;
    /* a leaf's and a gateway's headers support is the connection's, a route's its peer's */
    bool hmsg = m->hdr > 0 && (leaf || rc->gw ? rc->headers : rc->route && route_peer_headers(rc));
    slice_t origin = {NULL, 0};
    if (unlikely(m->from_leaf == MSG_LEAF_HUB) && rc->route && m->from->leaf &&
        m->from->leaf->cluster[0] && route_peer_lnoc(rc)) {
        origin = (slice_t){m->from->leaf->cluster, strlen(m->from->leaf->cluster)};
        hmsg = m->hdr > 0;
    }
    if (pfx.n && (!m->reply.n || gateway_prefixed(m->reply))) pfx.n = 0;
    const char *payload = m->payload;
    int64_t size = m->size;
    if (m->hdr > 0 && !hmsg) {
        payload += m->hdr;
        size -= m->hdr;
    }
    buf_t *b = &w->scratch;
    b->len = 0;
    if (leaf) {
        buf_puts(b, hmsg ? "HMSG " : "LMSG ");
    } else if (unlikely(origin.n != 0)) {
        buf_puts(b, "LMSG ");
        buf_append(b, origin.p, origin.n);
        buf_putc(b, ' ');
        buf_append(b, m->acc->name, m->acc->name_len);
        buf_putc(b, ' ');
    } else {
        buf_puts(b, hmsg ? "HMSG " : "RMSG ");
        buf_append(b, m->acc->name, m->acc->name_len);
        buf_putc(b, ' ');
    }
    buf_append(b, m->subject.p, m->subject.n);
    buf_putc(b, ' ');
    if (f->queues.len) {
        if (m->reply.n) {
            buf_puts(b, "+ ");
            buf_append(b, pfx.p, pfx.n);
            buf_append(b, m->reply.p, m->reply.n);
            buf_putc(b, ' ');
        } else {
            buf_puts(b, "| ");
        }
        buf_append(b, f->queues.p, f->queues.len);
        buf_putc(b, ' ');
    } else if (m->reply.n) {
        buf_append(b, pfx.p, pfx.n);
        buf_append(b, m->reply.p, m->reply.n);
        buf_putc(b, ' ');
    }
    if (hmsg || origin.n) {
        buf_put_i64(b, hmsg ? m->hdr : 0);
        buf_putc(b, ' ');
    }
    buf_put_i64(b, size);
    buf_puts(b, "\r\n");
    struct iovec iov[3] = {{b->p, b->len}, {(void *)payload, (size_t)size}, {"\r\n", 2}};
    if (log_trace_on) log_msg(LOG_TRC, "%s->> [%.*s]", rc->prefix, (int)(b->len - 2), b->p);
    conn_send_msg(w, rc, iov, 3, (uint64_t)size);
}

#endif
