/* proto_loop.c: see proto_loop.h. */
#include "nats/proto_loop.h"

ping_tick_t conn_ping_tick(worker_t *w, conn_t *c, int64_t *idle_ns)
{
    int64_t now = w->now_ns;
    if (!c->ping_due_ns || now < c->ping_due_ns) return PING_NOT_DUE;
    opts_t *o = srv->opts;
    int64_t last = atomic_load_explicit(&c->last_activity_ns, memory_order_relaxed);
    if (idle_ns) *idle_ns = now - last;
    ping_tick_t r;
    if (!c->rtt_pending && now - last < o->ping_interval_ns) {
        r = PING_DELAYED;
    } else if (c->ping_out + 1 > o->ping_max) {
        return PING_STALE;
    } else {
        conn_send(w, c, "PING\r\n", 6);
        c->ping_out++;
        c->last_ping_sent_ns = now;
        r = PING_SENT;
    }
    c->ping_due_ns = deadline_after(now, o->ping_interval_ns);
    return r;
}
