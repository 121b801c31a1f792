/* route_int.h: what the route*.c files share; not for other modules.
 *
 * The files: route.c (module state, connection lifecycle, start and stop),
 * route_proto.c (the protocol on one route: INFO/CONNECT both ways, RS+/RS-,
 * RMSG, PING, timers), route_interest.c (local interest announced to peers,
 * remote interest kept as subs), route_urls.c (the connect_urls clients are
 * told of), route_dial.c (dialer threads, gossip), route_reload.c (a
 * reloaded cluster block). Text parsing without state is proto/route_parse.c.
 *
 * Shared state (registered routes, the local interest map, learnt
 * connect_urls, the cluster name, the dialers) is R, under R.mu; lock order
 * is R.mu before any connection's out_lock. Functions named *_locked expect
 * R.mu held. */
#ifndef GNATSD_ROUTE_INT_H
#define GNATSD_ROUTE_INT_H

#include "core/core.h"
#include "core/tls.h"
#include "nats/ikmap.h"
#include "proto/route_parse.h"

#include <pthread.h>

/* Freed (by reap_dialers_locked) once its thread has ended and been joined and
 * no connection refers to it: a connection's route_info_t holds a reference
 * from the hand-off until route_conn_closed. */
typedef struct dialer {
    char *url;
    char key[300]; /* lower-case host:port, for the one-dialer-per-URL rule */
    bool implicit;
    bool auth;   /* implicit: the gossiped INFO had auth_required (send the cluster user) */
    int retries; /* implicit routes: attempts left */
    pthread_t th;
    bool started;
    bool joined; /* R.mu */
    int refs;    /* R.mu: connections (and hand-offs in flight) using it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool connected; /* a connection from this dialer is alive */
    bool stop;      /* give up (self route, shutdown) */
    bool quick;     /* redial after a short jitter only */
    bool done;      /* d->mu: the thread has left its loop */
    struct dialer *next;
} dialer_t;

struct route_info {
    bool solicited, registered, got_connect;
    char *url; /* owned */
    dialer_t *dialer;
    char remote_id[64];
    char id_hash[8]; /* the gateway hash of remote_id (route_send_to_hash), R.mu */
    char remote_name[128];
    char *remote_host; /* INFO host, owned */
    int remote_port;
    char *remote_ip_url; /* INFO ip (advertise), owned */
    char *gw_url;        /* INFO gateway_url: the peer's gateway address, owned */
    bool headers;
    bool lnoc;    /* its INFO: it takes a leaf node's origin (docs/routes.md) */
    char **curls; /* connect_urls the peer announced (owned) */
    size_t ncurls;
    char **lurls; /* leafnode_urls it announced (owned), told to the leaf module */
    size_t nlurls;
    bool curls_counted; /* added to the client URL pool */
    char *info_json;    /* the peer's INFO, for gossip (owned) */
    int64_t start_wall_ns;
    char *connect_line; /* the CONNECT waiting for its password check (owned, wiped) */
    size_t connect_len;
};

/* A learnt client URL with the number of routes that announced it. */
typedef struct curl {
    struct curl *next;
    int refs;
    char url[];
} curl_t;

typedef struct route_state {
    pthread_mutex_t mu;
    conn_t **routes; /* registered */
    size_t nroutes, caproutes;
    ikmap_t interest; /* local interest, the count of each key (nats/ikmap.h) */
    curl_t *curls;
    bool urls_active; /* some route brought connect_urls: clients see the list */
    char name[64];
    bool dynamic;
    dialer_t *dialers;
    bool dialer_cap_warned; /* MAX_IMPLICIT_DIALERS reached and logged */
    char **own_urls;        /* our client URLs */
    size_t nown;
    _Atomic int nregistered;
    tls_ctx_t *tls_accept, *tls_dial; /* cluster TLS: both directions verify the peer */
    /* connect_error_reports / reconnect_error_reports, copied here at start and reload:
     * dialer threads are not qsbr readers and may not hold srv->opts. */
    _Atomic int64_t connect_reports, reconnect_reports;
    bool no_dialing; /* route_set_dialing(false): fuzzing */
} route_state_t;

extern route_state_t R;

/* route.c */
void gen_name(char *out, size_t n); /* random alphanumerics: cluster name, nonce */

/* route_urls.c */
void compute_own_urls(void);
void rebuild_client_info_locked(void);
void add_curls_locked(struct route_info *ri);
void drop_curls_locked(struct route_info *ri);

/* route_proto.c: the rest of a route's CONNECT once its password check's verdict is
 * back (the row's connect_verdict). */
void route_connect_verdict(worker_t *w, conn_t *c);

/* route_interest.c */
void send_interest_dump_locked(worker_t *w, conn_t *c);
void process_rsub(worker_t *w, conn_t *c, const op_t *op, bool add); /* RS+ (add) / RS- */
/* a route's sub removed at its close: no longer this cluster's interest (gateways) */
void route_remote_sub_removed(worker_t *w, const sub_t *s);

/* route_dial.c */
void dialer_notify_closed(dialer_t *d, bool stop, bool quick);
void reap_dialers_locked(void);
void start_dialer(const char *url);
/* INFO naming a server we have no route to: dial it (bounded, one dialer per URL). */
void gossip_dial(const route_info_msg_t *ri, const char *remote_ip);
void dialers_stop_all(void); /* shutdown: stops, joins and frees every dialer */

#endif
