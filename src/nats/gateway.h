/* gateway.h: gateways, the links between clusters of a super-cluster (the 2.x
 * gateway protocol, docs/gateways.md).
 *
 * Every server of a cluster with a gateway {} block dials one outbound connection
 * to each other cluster (the configured ones, and the ones it learns of) and takes
 * inbound connections from the other clusters' servers. Messages go out on
 * outbound connections only, interest comes back on them: the inbound side
 * announces, per account, every subscription of its whole cluster (clients and
 * routes), always in the interest-only mode 2.9 servers use. That interest becomes
 * subs owned by the outbound connection in the account's index (sub_t.gateway), so
 * delivery finds gateways as it finds routes: a client's message goes to each
 * gateway with interest at most once, a queue group only when no member of it is in
 * this cluster; a message from a gateway goes to local subscribers and routes, never
 * to another gateway. Replies cross with the "_GR_.<cluster>.<server>." prefix so
 * the answer comes straight back to the requester's server. */
#ifndef GNATSD_GATEWAY_H
#define GNATSD_GATEWAY_H

#include "core/core.h"
#include "nats/msg.h"

struct route_info_msg;

/* Gateways configured and started: the checks on the message path read this. */
extern _Atomic bool gateway_on;

int gateway_start(void);     /* listener; 0 if no gateway is configured */
void gateway_announce(void); /* after "Server is ready": log lines, dialers */
void gateway_shutdown(void); /* stops the dialers */
void gateway_free_all(void);

/* Interest of this cluster changed (a client's or a route's subscription): counted per
 * "account subject[ queue]"; a key's first and last are told to inbound gateways. */
void gateway_interest(worker_t *w, const char *acc, size_t acc_len, slice_t subject, slice_t queue,
                      int delta);

/* m's subject carries the gateway prefix: delivered (here, to the route of the server
 * it names, or to the gateway of the cluster it names) or dropped. Returns how many
 * got it. */
int gateway_deliver_reply(worker_t *w, const msg_t *m);

/* Our gateway address (host:port), and the gateway addresses of this cluster's other
 * servers (their route INFO's gateway_url), counted by the routes that announced them:
 * an address that appears or goes is told to inbound gateways (INFO gateway_urls). */
const char *gateway_url(void);
void gateway_url_ref(const char *url, int delta);

/* Routes: a route registered (it is told of our outbound gateways), and a route's INFO
 * naming a gateway (gossip: dial it too). */
void gateway_route_registered(worker_t *w, conn_t *route);
void gateway_route_gossip(const struct route_info_msg *info);

/* Test seams (tests/fuzz/fuzz_route.c): with dialing off, remotes are recorded but
 * never dialled; a remote of that name to hand a "dialled" connection to. */
void gateway_set_dialing(bool on);
void *gateway_fuzz_remote(const char *name);

/* The gateway connection kind (accepted on the gateway port, or dialled). */
extern const conn_ops_t gateway_conn_ops;

/* Monitoring: the gateway's name ("" when off), the connection counts. Connections
 * themselves: conn_snapshot(&gateway_conn_ops, ...) (conn_info_t.peer_name). */
const char *gateway_name(void);
int gateway_outbound_count(void);
int gateway_inbound_count(void);

#endif
