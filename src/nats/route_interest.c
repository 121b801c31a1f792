/* route_interest.c: a route's remote interest as subscriptions.
 *
 * Each RS+ from a peer becomes (or re-weights) a sub owned by the route
 * connection, keyed in its sid map by "subject[ queue]", with the queue
 * weight the peer announced; RS- removes it. Delivery then finds routes and
 * local subscribers in the one sublist. Owner worker of the route only. */
#include "nats/route_int.h"
#include "nats/subs.h"

#include <stdlib.h>

/* Remote interest: RS+ adds (or re-weights) the entry for key, RS- removes it. */
void route_remote_interest(conn_t *c, slice_t key, slice_t subject, slice_t queue, bool add,
                           int32_t weight)
{
    sub_t *old = sidmap_get(&c->subs, key);
    if (!add) {
        if (old) sub_discard(c, old);
        return;
    }
    if (old) {
        if (!queue.n || old->weight == weight) return;
        sub_discard(c, old);
    }
    sub_t *s = sub_new(c, subject, queue, key);
    s->weight = weight;
    if (sublist_insert(srv->sl, s) != 0) {
        free(s);
        return;
    }
    sidmap_put(&c->subs, s);
}
