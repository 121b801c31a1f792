/* deliver.h: message delivery (deliver.c), shared by the two ways a message
 * comes in: a client's PUB/HPUB and a route's RMSG (route_proto.c).
 *
 * deliver_all runs on the publisher's worker: it hands the message to every
 * plain subscription and one member of each queue group among the matches,
 * and (for a client's message only: one hop) forwards it at most once to
 * each route with interest (route_fwd.h). A routed message (from_route)
 * reaches only the queue groups its RMSG lists. */
#ifndef GNATSD_DELIVER_H
#define GNATSD_DELIVER_H

#include "core/core.h"
#include "nats/msg.h"

/* Returns how many subscriptions and routes got m. */
int deliver_all(worker_t *w, const sl_result_t *r, const msg_t *m);
/* A message from the server itself (no connection) in acc, on w: delivered there and
 * forwarded to the routes. Returns how many got it. */
struct account;
int deliver_publish(worker_t *w, struct account *acc, const char *subject, const char *reply,
                    const void *data, size_t n);

/* A subscription with s->imp set (an import's, nats/imports.c) delivers through this,
 * set by the imports module before any exists (a pointer: imports.c calls into
 * delivery, so delivery does not include it). Returns how many got m. */
typedef int (*deliver_import_fn)(worker_t *w, sub_t *s, const msg_t *m);
extern deliver_import_fn deliver_import;

/* A routed request whose reply ends in ".T" (its requester's server tracks its service
 * latency) was handed to client subscription s: nats/latency.c times the answer
 * (NULL: no tracking). */
typedef void (*deliver_tracked_fn)(worker_t *w, sub_t *s, const msg_t *m);
extern deliver_tracked_fn deliver_tracked;

/* Gateways (nats/gateway.h) plug into delivery here, NULL while none is configured:
 * a message on a "_GR_." subject (routed back to its cluster and server), and the
 * prefix the replies of messages to gateways get. */
typedef struct deliver_gw_ops {
    int (*reply)(worker_t *w, const msg_t *m);
    slice_t reply_prefix;
} deliver_gw_ops_t;
extern const deliver_gw_ops_t *_Atomic deliver_gw;

/* One subscription (not a route's, not an import's): its limit counted, MSG/HMSG
 * staged. True if handed over. */
bool deliver_sub(worker_t *w, sub_t *s, const msg_t *m);

/* c's inbound counters, and its worker's, for one message of size bytes. */
static inline void count_in(worker_t *w, conn_t *c, int64_t size)
{
    c->in_msgs++;
    c->in_bytes += (uint64_t)size;
    stat_add(&w->in_msgs, 1);
    stat_add(&w->in_bytes, (uint64_t)size);
    sink_count_in(w, c, (uint64_t)size);
}

#endif
