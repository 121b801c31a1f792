/* msg.h: one message on its way to subscribers and routes (msg_t), as the two
 * ways a message comes in (a client's PUB/HPUB, a route's RMSG) hand it to
 * delivery (deliver.h) and delivery hands it to route forwarding
 * (route_fwd.h). Borrowed: every slice points into the reader's buffer. */
#ifndef GNATSD_MSG_H
#define GNATSD_MSG_H

#include "core/core.h"

typedef struct msg {
    conn_t *from;
    const struct account *acc; /* the account it is published in */
    slice_t subject, reply;
    int64_t hdr; /* -1 or header length */
    const char *payload;
    int64_t size;
    bool from_route; /* one hop: never forwarded to routes again */
    bool from_gw;    /* from another cluster: to local subscribers and routes only */
    /* a leaf node's LMSG (docs/leafnodes.md §6): MSG_LEAF_HUB from a leaf that dialled
     * us, MSG_LEAF_SPOKE from the hub we dialled (not forwarded to routes); 0 otherwise.
     * Next to from_route: delivery tests both with one load. */
    uint8_t from_leaf;
    slice_t queues; /* routed message: the queue groups it is meant for */
    int depth;      /* imports crossed (nats/imports.c) */
    /* a service import's request: the importing account it came from (its own stream
     * imports do not carry it back there); NULL otherwise */
    const struct account *origin;
    /* a route's LMSG: the cluster of the leaf node it came from (docs/routes.md) */
    slice_t leaf_origin;
} msg_t;

/* Replies that crossed a gateway carry "_GR_.<cluster hash>.<server hash>." (6
 * characters each, docs/gateways.md): the way back to the requester's server. */
#define GW_PREFIX_LEN 19
static inline bool gateway_prefixed(slice_t s)
{
    return s.n > GW_PREFIX_LEN && memcmp(s.p, "_GR_.", 5) == 0;
}
#define MSG_LEAF_HUB 1
#define MSG_LEAF_SPOKE 2

#endif
