/* clientinfo.h: a client connection as the reference's ClientInfo JSON object
 * (docs/accounts.md "The system account", "Service latency"), shared by the
 * system account's events (nats/sys.c) and service latency results
 * (nats/latency.c).
 *
 * Members in the reference's order, each left out when empty: start, host, id,
 * acc, user, name, lang, ver, rtt, server, cluster, stop, jwt, issuer_key,
 * name_tag, kind, client_type. A brief object (a requester that does not share
 * its details) has only acc and rtt.
 *
 * A snapshot (client_snap_t) copies what a connection shows, so the object can
 * be written after the connection is gone (a response that comes later). */
#ifndef GNATSD_CLIENTINFO_H
#define GNATSD_CLIENTINFO_H

#include "core/server.h"
#include "base/json.h"

typedef struct client_snap {
    bool detail; /* everything; else acc (and rtt) only */
    uint64_t cid;
    int64_t start_wall_ns;
    char host[INET6_ADDRSTRLEN];
    char *acc, *user, *name, *lang, *ver, *jwt, *issuer, *name_tag; /* owned, NULL = none */
} client_snap_t;

/* What to add besides the snapshot: the round trip (0 = none), this server's name and
 * cluster (server), the close time (stop_wall_ns, 0 = none). */
typedef struct client_extra {
    int64_t rtt_ns;
    bool server;
    int64_t stop_wall_ns;
} client_extra_t;

/* c as it is now (any thread once c is logged in: these parts no longer change);
 * user: the name to show (NULL = c's). */
void client_snap_take(client_snap_t *s, const conn_t *c, bool detail, const char *user);
void client_snap_free(client_snap_t *s);
/* Writes the object under key (NULL: an array element or the root). */
void client_snap_write(jw_t *w, const char *key, const client_snap_t *s, const client_extra_t *x);
/* An event's "id": 22 base-62 characters (the reference's nuid length) from two random
 * words. */
void event_id(uint64_t r1, uint64_t r2, char out[23]);

/* Both at once, for a connection at hand. */
void client_info_write(jw_t *w, const char *key, const conn_t *c, bool detail, const char *user,
                       const client_extra_t *x);

#endif
