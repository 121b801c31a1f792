/* gateway_int.h: what gateway.c (state, remotes and their dialers, connection
 * lifecycle, monitoring) and gateway_proto.c (the protocol on one connection,
 * interest, messages and replies) share; not for other modules.
 *
 * Shared state is G, under G.mu; lock order is G.mu before any connection's
 * out_lock, and G.mu is never held while taking R.mu (routes). */
#ifndef GNATSD_GATEWAY_INT_H
#define GNATSD_GATEWAY_INT_H

#include "core/core.h"
#include "nats/msg.h"
#include "nats/ikmap.h"
#include "proto/route_parse.h"

#include <pthread.h>

/* A remote gateway (cluster): configured, or learnt from an INFO. Its dialer thread
 * keeps one outbound connection to it. Freed at shutdown only (at most
 * GW_MAX_REMOTES are ever made). */
typedef struct gw_remote {
    char *name;
    char hash[8]; /* its cluster hash (reply prefixes) */
    char **urls;  /* known URLs (G.mu) */
    size_t nurls;
    bool implicit;
    conn_t *out;         /* its registered outbound connection (G.mu) */
    struct tls_ctx *tls; /* dialling its servers: its own tls {}, or the block's */
    pthread_t th;
    bool started;
    pthread_mutex_t mu; /* the dialer's: */
    pthread_cond_t cv;
    bool connected, stop;
    struct gw_remote *next;
} gw_remote_t;

/* A gateway connection's state (c->gw). */
struct gw_info {
    bool outbound;
    bool registered; /* G.mu */
    bool got_connect, got_info;
    gw_remote_t *remote; /* outbound: the remote it serves */
    char *url;           /* outbound: the URL dialled (owned) */
    char *connect_line;  /* inbound: the CONNECT waiting for its password check (owned) */
    char name[128];      /* the remote gateway's name */
    char remote_id[64], remote_name[128];
    bool wrong_name; /* outbound: the peer is another gateway than dialled: dial no more */
    /* inbound: accounts whose interest this peer was given (start/end commands sent),
     * G.mu; a small set of names */
    char **accs;
    size_t naccs, capaccs;
    int64_t start_wall_ns;
};

typedef struct gw_state {
    pthread_mutex_t mu;
    char name[128];
    char hash[8], sid_hash[8];
    char prefix[GW_PREFIX_LEN + 1]; /* "_GR_.<hash>.<sid_hash>." */
    char url[300];                  /* our gateway URL, host:port */
    char **urls;                    /* this cluster's gateway URLs (ours first) ... */
    int *url_refs;                  /* ... and how many announced each */
    size_t nurls;
    gw_remote_t *remotes;
    size_t nremotes;
    conn_t **in; /* registered inbound connections */
    size_t nin, capin;
    ikmap_t interest;                      /* this cluster's interest, counted per key */
    struct tls_ctx *tls_accept, *tls_dial; /* the block's tls {} (NULL: plaintext) */
} gw_state_t;

extern gw_state_t G;

/* gateway.c */
gw_remote_t *gw_remote_find_locked(const char *name);
/* Adds u to r's URLs unless its host:port is there (bounded). */
void gw_add_url_locked(gw_remote_t *r, const char *u);
/* A gateway named by an INFO (an inbound's, a gossip): dialled if new. */
void gw_implicit(const char *name, char **urls, size_t nurls, const char *url);
void gw_info_json(buf_t *b);
/* The INFO that tells peers of gateway name and its urls (gateway_cmd 1). */
void gw_gossip_info(buf_t *b, const char *name, char *const *urls, size_t nurls);

/* gateway_proto.c */
void gw_start_protocol(worker_t *w, conn_t *c);
size_t gw_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need);
void gw_timer(worker_t *w, conn_t *c);
void gw_connect_verdict(worker_t *w, conn_t *c);
void gw_sub_removed(worker_t *w, const sub_t *s); /* a sub_removed_fn */
/* The account's interest to one inbound peer (start command, RS+, end command), once;
 * G.mu held. */
void gw_send_account_locked(worker_t *w, conn_t *in, const char *acc, size_t acc_len);

#endif
