/* route.h: cluster routes (the 2.x route protocol, global account $G only).
 *
 * A route is a conn_t of kind CONN_ROUTE owned by a worker like any client.
 * Remote interest (RS+) becomes sub_t entries in the one sublist, owned by the
 * route connection, with the queue weight the peer announced; delivery
 * (deliver.c) sends each published message at most once per route (RMSG with
 * the queue groups that route was picked for) and never forwards a message
 * that came from a route (one hop). Local interest is counted per
 * subject/queue key here, and every count transition is sent to every
 * registered route under one lock, so a route registering concurrently sees
 * either the initial dump or the update, never neither. */
#ifndef GNATSD_ROUTE_H
#define GNATSD_ROUTE_H

#include "core/core.h"

typedef struct route_info route_info_t;

int route_start(void);     /* cluster listener + dialers; 0 if clustering is off */
void route_shutdown(void); /* stops dialers */
void route_free_all(void); /* after shutdown: the module's memory */

/* Connection lifecycle, on the owner worker. */
void route_conn_init(worker_t *w, conn_t *c, bool solicited, const char *url, void *dialer);
/* Starts the route protocol once the connection (and its TLS) is up. */
void route_start_protocol(worker_t *w, conn_t *c);
size_t route_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need);
void route_timer(worker_t *w, conn_t *c);
void route_conn_closed(conn_t *c);
void route_conn_free(conn_t *c);

/* Local (client) interest changes: call after sublist insert / before remove. Told to
 * the routes and to the leaf nodes (nats/leaf.h). */
void route_local_sub_added(worker_t *w, const sub_t *s);
void route_local_sub_removed(worker_t *w, const sub_t *s);
/* A leaf node's interest (docs/leafnodes.md §5.3): counted as local interest by delta
 * (its queue weight), so the routes hear of it. */
void route_leaf_interest(worker_t *w, const sub_t *s, int delta);
/* The cluster name ("" without clustering), for a leaf's CONNECT. */
void route_cluster_name(char *out, size_t n);
bool route_peer_headers(const conn_t *c);
bool route_peer_lnoc(const conn_t *c); /* takes LMSG/LS+ with a leaf's origin */
/* After "Server is ready": the cluster log lines, then the configured routes are dialled. */
void route_announce(void);
/* Applies a reloaded cluster block: new name, TLS pins, added and removed routes. */
void route_reload(const opts_t *old, const opts_t *no);

/* Test seam (tests/fuzz/fuzz_route.c): with dialing off, gossip still records its
 * dialers (one per URL, the cap, reaping) but none connects anywhere. On by default. */
void route_set_dialing(bool on);

/* Gateways (nats/gateway.c) plug in here, NULL while none is configured: they are
 * told this cluster's interest (clients' and routes' subscriptions, counted), the
 * gateway addresses peers announce in their route INFO (gateway_url), a route that
 * registered, and a peer's word about a gateway; url is ours, for our route INFO. */
struct route_info_msg;
typedef struct route_gw_hooks {
    void (*interest)(worker_t *w, const char *acc, size_t acc_len, slice_t subject, slice_t queue,
                     int delta);
    void (*url_ref)(const char *url, int delta);
    void (*registered)(worker_t *w, conn_t *route);
    void (*gossip)(const struct route_info_msg *info);
    const char *(*url)(void);
} route_gw_hooks_t;
extern const route_gw_hooks_t *_Atomic route_gw;

/* For gateways: bytes to every registered route (w: the caller's worker, or NULL);
 * the registered route to the server whose id hashes to hash6 (NULL: none). The
 * connection stays valid while the caller is a qsbr reader (a worker's batch). */
void route_broadcast(worker_t *w, const char *p, size_t n);
conn_t *route_by_hash(const char *hash6);

/* The cluster accept socket (a listener row, core.h). */
extern int route_listen_fd;

/* The route connection kind (accepted on the cluster port, or dialled). */
extern const conn_ops_t route_conn_ops;
/* Open route connections, in cid order (conn_snapshot). */
size_t server_snapshot_routes(conn_info_t **out, bool with_subs);

/* The connect_urls clients are told of, as a JSON array text (malloc'ed, the caller
 * frees it), or NULL while no route brought any. */
char *route_client_urls_json(void);
int route_count(void);
int route_remotes(void);

#endif
