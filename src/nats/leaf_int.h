/* leaf_int.h: what the leaf*.c files share; not for other modules.
 *
 * The files: leaf.c (module state, a connection's lifecycle, the kind's row,
 * start and stop, monitoring), leaf_proto.c (INFO/CONNECT both ways, LS+/LS-,
 * LMSG, PING, timers), leaf_interest.c (the per-connection interest count map
 * and the LS+/LS- it sends), leaf_dial.c (one dialer thread per remote).
 *
 * Shared state is LF, under LF.mu: the registered connections and each one's
 * count map (smap). Lock order: LF.mu, then a sublist's lock or a connection's
 * out_lock; the route module's R.mu is never taken under LF.mu. */
#ifndef GNATSD_LEAF_INT_H
#define GNATSD_LEAF_INT_H

#include "core/core.h"
#include "core/tls.h"
#include "nats/account.h"
#include "nats/leaf_fwd.h"
#include "base/json.h"

#include <pthread.h>

/* One key of a connection's interest map: "subject" or "subject queue". */
typedef struct lkey {
    struct lkey *next;
    uint64_t h;
    int32_t count; /* subs (plain) or summed weights (queue) */
    uint32_t len;
    bool queue;
    char key[];
} lkey_t;

typedef struct leaf_dialer leaf_dialer_t;

/* The module's part of a leaf connection (c->leaf->st). */
typedef struct leaf_state {
    char *url;             /* spoke: the URL dialled (owned) */
    leaf_dialer_t *dialer; /* spoke: told when the connection closes */
    char remote_name[128]; /* the peer's server name (CONNECT name / INFO server_name) */
    char remote_id[64];
    char remote_cluster[128];
    bool got_info, got_connect;
    char nonce[64];     /* spoke: the hub's, to sign with the credentials */
    bool loop;          /* closed for a loop: the dialer waits LEAF_LOOP_DELAY_NS */
    char *connect_line; /* hub: a CONNECT waiting for a password check's verdict (owned) */
    size_t connect_len;
    char *tls_info; /* spoke: the hub's first INFO, taken up again once TLS is up (owned) */
    size_t tls_info_len;
    /* LF.mu: what we told the peer, per key; subs counted by the initial dump whose own
     * notification has not come yet (docs/leafnodes.md §5.2) */
    lkey_t **smap;
    size_t scap, sn;
    const sub_t **tsub;
    size_t ntsub, ctsub;
    int64_t tsub_until_ns; /* owner: when leaf_tsub_clear is due (0: done) */
} leaf_state_t;

struct leaf_dialer {
    size_t remote; /* its index in leafnodes { remotes } (a remote without URLs has none) */
    char **urls;   /* configured */
    size_t nurls;
    char **list; /* mu: what is dialled: learned URLs, then the configured ones */
    size_t nlist;
    char *cur; /* mu: the URL of the last attempt */
    char *account;
    char *credentials; /* a credentials file: its JWT and signed nonce go in CONNECT */
    char **deny_imports, **deny_exports; /* the remote's deny lists (docs/leafnodes.md §4) */
    size_t ndeny_imports, ndeny_exports;
    char *cur_url;     /* the URL of the connection in flight (for its CONNECT's user info) */
    tls_ctx_t *tls;    /* mu: the remote's tls {}, else NULL (docs/leafnodes.md §10); a reload
                        * swaps it (leaf_reload_tls), a connection takes its own ref */
    bool tls_on;       /* the remote has tls {} (fixed: a reload cannot change it) */
    bool tls_insecure; /* mu: its insecure: the hub's certificate is not checked */
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool connected, stop;  /* mu */
    int64_t next_delay_ns; /* mu: the pause before the next attempt (a loop: 30 s) */
};

/* Loop detection subject of one account ("$LDS." + random), made on first use. */
typedef struct lds_entry {
    const account_t *acc;
    char subj[48];
} lds_entry_t;

/* A leafnode URL a route peer told us of, counted per peer that did. */
typedef struct peer_url {
    char *url;
    int refs;
} peer_url_t;

typedef struct leaf_global {
    pthread_mutex_t mu;
    peer_url_t *urls; /* the cluster's other leafnode URLs (docs/leafnodes.md §2) */
    size_t nurls;
    conn_t **leafs; /* registered */
    size_t n, cap;
    leaf_dialer_t *dialers;
    size_t ndialers;
    lds_entry_t *lds;
    size_t nlds;
    int listen_fd;
    int port;
    tls_ctx_t *_Atomic tls_accept; /* leafnodes { tls }: leafs upgrade after our INFO; a
                                    * reload swaps it (retired through QSBR) */
    tls_ctx_t **remote_tls;        /* per configured remote, made at startup (taken by dialers) */
    tls_ctx_t *tls_dial_any;       /* mu: a remote without tls {} meeting a hub that requires it */
    char info_host[256];           /* the host, port and ip our INFO shows */
    int info_port;
    char info_ip[300];
} leaf_global_t;

extern leaf_global_t LF;

#define LEAF_LOOP_DELAY_NS (30LL * 1000000000LL)
#define LEAF_RECONNECT_NS (1000000000LL)
#define LEAF_DEFAULT_PORT 7422 /* a remote URL without a port */
#define LEAF_LDS_PREFIX "$LDS."

/* leaf.c */
/* LF.mu held: the account's loop detection subject. */
const char *leaf_lds_locked(const account_t *acc);
void leaf_dialer_closed(leaf_dialer_t *d, int64_t delay_ns);

/* leaf_proto.c */
void leaf_start_protocol(worker_t *w, conn_t *c);
void leaf_tls_done(worker_t *w, conn_t *c); /* the kind's tls_done */
/* LF.mu held: the INFO's leafnode_urls array (ours first, then the peers'). */
void leaf_put_urls_locked(jw_t *j);
/* The hub's INFO to c: with a nonce (the first), connect_info (the answer to CONNECT),
 * or neither (an update of the URLs, sent with w NULL from any thread). */
void leaf_send_info(worker_t *w, conn_t *c, const char *nonce, bool connect_info);
size_t leaf_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need);
void leaf_timer(worker_t *w, conn_t *c);
void leaf_connect_verdict(worker_t *w, conn_t *c);
/* Closing (owner): a hub side connection that logged in has its account's disconnect
 * event, as a client's. */
void leaf_closed_event(conn_t *c);

/* leaf_interest.c */
/* Registers c (bound, protocol done) and sends it the account's interest (the initial
 * dump). */
void leaf_register(worker_t *w, conn_t *c);
void leaf_unregister(conn_t *c);
/* A CONNECT again (hub side): the interest is counted and sent afresh. */
void leaf_redump(worker_t *w, conn_t *c);
void leaf_smap_free(leaf_state_t *st);
/* Owner, a few seconds after registration: the initial dump's subs are forgotten. */
void leaf_tsub_clear(conn_t *c);
void leaf_process_sub(worker_t *w, conn_t *c, const op_t *op, bool add);

/* leaf_dial.c */
/* The hub's INFO listed these leafnode URLs (host:port): dialled first next time, the
 * configured ones after (the reference's order). */
void leaf_dialer_learn(leaf_dialer_t *d, char urls[][300], size_t n);
void leaf_dialers_start(void);
void leaf_dialers_stop(void);
void leaf_dialers_free(void); /* after the workers are gone */

#endif
