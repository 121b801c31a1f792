/* gwreply.h: replies that crossed a gateway, as a client sees them
 * (docs/gateways.md "Replies").
 *
 * A reply "_GR_.<cluster>.<server>.<reply>" is given to a client subscriber without
 * its prefix (whether or not this server has gateways: a leaf node's server gets
 * them from its hub); the connection remembers the short form for 2 s (at most 4,096
 * entries, swept when full), and its publish on the short subject goes out on the
 * prefixed one, which finds its way back (a gateway, or the hub's "_GR_.>" interest).
 * Tracked by any deliverer (a lock per connection's map, made on first use), mapped
 * by the connection's owner, freed with the connection (qsbr: nobody delivers to it). */
#ifndef GNATSD_GWREPLY_H
#define GNATSD_GWREPLY_H

#include "core/core.h"
#include "nats/msg.h"

/* c was given reply (prefixed) without its prefix. */
void gwreply_track(conn_t *c, slice_t reply);
/* c publishes on subj: if it is a reply c was given without its prefix, the prefixed
 * form into out (cap bytes), *res pointing at it, and true. */
bool gwreply_mapped(conn_t *c, slice_t subj, char *out, size_t cap, slice_t *res);
/* c's map, at its free. */
void gwreply_free(conn_t *c);

#endif
