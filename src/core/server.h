/* server.h: the running server: workers, connections, delivery.
 *
 * Threads and ownership (docs/internals.md): N workers, each with its own
 * event loop (evloop.h); a connection belongs to one worker at a time (its owner), which
 * alone reads, parses and closes it; a client whose traffic is all with one other
 * connection may be handed to that one's worker (core/affinity.c). Any worker may append to any
 * connection's outbound buffer (staged per batch, committed under that connection's out_lock) and
 * flush it; the owner is told about closes requested elsewhere, and about bulk
 * output left for it to write, through an atomic flag or list + a wake-up.
 * Connections and subscriptions are freed through qsbr, so a pointer taken
 * during a batch stays valid until that worker's next quiescent point.
 * There is one server per process: `srv` is it. */
#ifndef GNATSD_SERVER_H
#define GNATSD_SERVER_H

#include "base/buf.h"
#include "base/common.h"
#include "conf/opts.h"
#include "proto/parser.h"
#include "index/sub.h"
#include "index/sublist.h"
#include "base/os.h"
#include "base/spinlock.h"

#include <pthread.h>
#include <stdatomic.h>

/* Workers at most: each connection keeps one bit per worker (flush_mask, 64 bits). */
#define MAX_WORKERS 64

typedef enum conn_kind {
    CONN_CLIENT = 0,
    CONN_ROUTE = 1,
    CONN_LEAF = 2,
    CONN_GATEWAY = 3
} conn_kind_t;

/* Close reasons, with the text the reference logs / shows in connz. */
typedef enum close_reason {
    CR_NONE = 0,
    CR_CLIENT_CLOSED,
    CR_AUTH_TIMEOUT,
    CR_AUTH_VIOLATION,
    CR_TLS_HANDSHAKE,
    CR_SLOW_PENDING,
    CR_SLOW_DEADLINE,
    CR_WRITE_ERROR,
    CR_READ_ERROR,
    CR_PARSE_ERROR,
    CR_STALE,
    CR_PROTOCOL_VIOLATION,
    CR_BAD_PROTOCOL,
    CR_MAX_CONNECTIONS,
    CR_MAX_PAYLOAD,
    CR_MAX_CONTROL_LINE,
    CR_MAX_SUBS,
    CR_SHUTDOWN,
    CR_NO_RESPONDERS_HEADERS,
    CR_AUTH_EXPIRED,
    CR_LAME_DUCK,
    CR_CLIENT_ERR,
    CR_DUPLICATE_ROUTE,
    CR_CLUSTER_NAME_CONFLICT,
    CR_DUPLICATE_SERVER_NAME,
    CR_ROUTE_REMOVED,
    CR_MAX_ACCOUNT_CONNECTIONS,
    CR_WRONG_GATEWAY,
    CR_WRONG_PORT,
    CR_DUPLICATE_LEAF,
} close_reason_t;
const char *close_reason_str(close_reason_t r);

typedef struct worker worker_t;

/* A sid -> sub map owned by the connection's worker. Open addressing. */
typedef struct sidmap {
    sub_t **slots;
    uint32_t cap, n, tomb;
} sidmap_t;

/* An account's traffic totals (nats/account.h): a connection points at its account's
 * (conn_t.sink). Workers do not add to it per message: each keeps what it counted for
 * the sink it used last (worker_t.sink) and adds that in one go when the sink changes
 * and at the end of a flush round (sink_flush), so the hot path writes only its own
 * memory and a whole round costs one locked add per counter. */
typedef struct stat_sink {
    _Atomic uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
    _Atomic int64_t slow_consumers;
} stat_sink_t;

typedef struct conn {
    uint64_t cid;
    int fd;
    conn_kind_t kind;
    const struct conn_ops *ops; /* its kind's handlers (core.h), set at adoption */
    /* owner: changed only by the owner, under its kick_lock, when the connection moves to
     * another worker (core/affinity.c); read by any thread to kick or wake it */
    worker_t *_Atomic w;
    struct conn *next, *prev; /* owner's list */

    /* --- shared: outbound, guarded by out_lock ---
     * Producers append to out while one flusher (flushing) writes wbuf without holding
     * the lock; when wbuf is sent the flusher takes the oldest queued segment, or else
     * swaps out in. A consumer behind by more than a buffer queues segments (outq) rather
     * than growing out: its memory follows its backlog (outbound.c, seg_push). */
    spinlock_t out_lock;
    buf_t out;         /* bytes queued by producers, after the segments (owned) */
    struct outq *outq; /* full segments between wbuf and out; NULL until one is queued */
    size_t qbytes;     /* bytes in outq's segments */
    buf_t wbuf;        /* bytes being written; the first wpos already are (owned) */
    size_t wpos;
    bool flushing;                /* a flusher is writing wbuf: only it touches wbuf and wpos */
    bool flush_again;             /* a flush was asked for meanwhile: the flusher tries once more */
    _Atomic bool over_stall;      /* pending went over the stall threshold: producers are paused;
                                   * written under out_lock, read without it by a pausing producer */
    int64_t stall_ns;             /* monotonic time a flush first blocked, 0 = not blocked */
    _Atomic bool out_closed;      /* no more appends (closing or slow consumer); set under out_lock,
                                   * also read without it to skip staging for a dead connection */
    bool fd_gone;                 /* the socket is closed: flushes do nothing */
    _Atomic uint64_t flush_mask;  /* bit w: queued on worker w's flush list */
    bool kicked, no_kick;         /* on the owner's kick list / must not be put there (closing);
                                   * under the owner's kick_lock */
    _Atomic int close_req;        /* close_reason_t requested by a non-owner */
    _Atomic bool has_dead;        /* dead (below) is not empty: the owner sweeps it */
    uint64_t out_msgs, out_bytes; /* under out_lock */
    uint64_t out_total, trim_mark; /* bytes ever queued; its value at the last trim check */
    size_t wpeak;                  /* the largest write (wbuf's length) since the last trim check */
    _Atomic int64_t last_activity_ns;
    /* written by the owner after each read that delivered something, read by the worker of
     * the connection it names (core/affinity.c): the one connection its last reads
     * delivered to (cid, 0 = none or several) and for how many reads in a row */
    _Atomic uint64_t aff_peer;
    _Atomic uint32_t aff_streak;

    /* --- owner only --- */
    int64_t moved_ns; /* monotonic time it last moved to another worker, 0 = never */
    char *part;       /* unparsed bytes of a partial op (owned) */
    size_t part_len, part_cap, part_need;
    bool part_more; /* part holds operations not processed yet (a consumer fell behind
                     * in the middle of a read): process them before reading more */
    sidmap_t subs;
    uint64_t in_msgs, in_bytes;
    /* its account's totals (NULL: none, e.g. routes): set by the owner, read by the
     * workers that count its traffic; points into an account, which lives until exit */
    stat_sink_t *_Atomic sink;
    bool verbose, pedantic, echo, headers, no_responders;
    /* gw_rmap holds something (set once by a deliverer, nats/gwreply.c): in the PUB
     * path's cache line, in the padding before protocol, so a publish tests it there */
    _Atomic bool gw_mapped;
    int protocol;
    bool got_connect;
    bool quiet_reads; /* the last read produced no output: read smaller pieces */
    bool peer_hup;    /* epoll reported the peer's FIN/HUP: read on to the EOF */
    bool closing;
    bool auth_ok;
    int ping_out; /* outstanding server PINGs */
    bool rtt_pending;
    int64_t ping_due_ns, auth_due_ns;
    int64_t start_wall_ns;
    int64_t last_ping_sent_ns;
    /* round-trip time (0 = not measured): written by the owner at a PONG, read by any
     * worker (service latency results, nats/latency.c) */
    _Atomic int64_t rtt_ns;
    char *name, *lang, *version, *user; /* from CONNECT (owned) */
    /* Permissions of the authenticated user (auth.h), NULL = all allowed: replaced by the
     * owner with one atomic store, read by deliverers on any worker; old sets go through qsbr. */
    struct auth_perms *_Atomic perms;
    struct resp_map *_Atomic resp; /* allow_responses reply map: set once by the owner */
    struct auth_job *auth_job;     /* owner: password check in flight, or its cached verdict */
    bool auth_wait;                /* owner: reading paused until a password check's verdict */
    /* owner: an UNSUB since the last PING; the next PING waits for a grace period
     * (conn_unsub_wait) so no delivery staged before the UNSUB follows its PONG */
    bool unsub_grace;
    struct unsub_token *unsub_wait; /* owner: reading paused until that grace period ends */
    char *cred_user, *cred_pass, *cred_token; /* CONNECT credentials, kept to re-auth on reload */
    char *cred_nkey, *cred_sig;  /* CONNECT's nkey and its signature of nonce (nkey users) */
    char *nonce;                 /* sent in INFO when nkey users exist (nats/auth.c) */
    char *cred_jwt;              /* CONNECT's user JWT (operator mode) */
    char *jwt_issuer, *jwt_name; /* a JWT user's issuer key and name tag (owned), for /connz */
    /* a JWT user's limits (jwt_limits set at its login; -1 = none) and the monotonic time its
     * JWT expires (0 = never): it is closed then */
    bool jwt_limits;
    int32_t jwt_max_subs, jwt_max_payload;
    int64_t expires_ns;
    bool pong_sent;           /* answered a PING after CONNECT: may get async INFO */
    int64_t stall_until_ns;   /* owner: reading paused (a consumer is behind), 0 = not */
    int64_t stall_len_ns;     /* owner: how long that pause was set to last */
    struct route_info *route; /* CONN_ROUTE only (owned) */
    struct leaf_info *leaf;   /* CONN_LEAF only (owned) */
    /* The account (nats/account.h) whose subjects a client sees; NULL until CONNECT
     * binds it (the global account meanwhile). Routes carry the account per message. */
    struct account *acc;
    bool acc_counted;  /* owner: counted in acc's connections */
    uint64_t info_gen; /* info_suffix generation this client last saw */
    /* TLS: ssl is used under out_lock only (reads by the owner, writes by any flusher) */
    struct ssl_st *ssl;
    /* TLS 1.3 once the handshake is done: the record layer that replaced ssl (NULL
     * then), under out_lock like it (core/tlsrec.h) */
    struct tlsrec *trec;
    struct tls_ctx *tls;
    bool tls_done;       /* handshake complete (written under out_lock) */
    bool tls_optional;   /* allow_non_tls: the first byte decides TLS or plaintext */
    bool tls_dry;        /* owner: conn_recv's last call ended with the socket drained */
    bool tls_short_read; /* under out_lock: a socket read of this SSL_read was short */
    int64_t tls_due_ns;
    close_reason_t reason;
    char ip[INET6_ADDRSTRLEN];
    int port;
    char prefix[128]; /* "ip:port - cid:N - " for log lines */
    /* monotonic time of a PING another worker sent to measure rtt_ns (conn_rtt_probe),
     * 0 = none: the owner's next PONG takes it (last: rarely used) */
    _Atomic int64_t rtt_probe_ns;
    struct gw_info *gw; /* CONN_GATEWAY only (owned) */
    /* replies this connection was given without their gateway prefix, so that its answer
     * finds the way back (nats/gateway.c): created by any deliverer, NULL until then */
    struct gw_rmap *_Atomic gw_rmap;
    /* Subs a deliverer closed at their auto-unsubscribe limit, for the owner to drop
     * (nats/deliver.c): a list, so that the owner's sweep costs what died, not its whole
     * sid map per read. dead_lock also orders a sub's closing by a deliverer and by
     * the owner (nats/subs.c sub_discard), so a retired sub is on no list. At the end:
     * rarely used, it leaves the fields of the output path where they were. */
    spinlock_t dead_lock;
    uint32_t ndead, dead_cap;
    struct sub **dead;
} conn_t;

typedef struct server {
    opts_t *_Atomic opts; /* current options: swapped by reload, old set retired through qsbr */
    char server_id[57];
    char *server_name;
    int nworkers;
    worker_t *workers;
    _Atomic int listen_fd; /* closed by the control plane while workers accept on it */
    int port;              /* actual client port */
    int http_fd, http_port;
    int cluster_port; /* bound route port, 0 = no clustering */
    int gateway_port; /* bound gateway port, 0 = no gateway */
    /* INFO JSON up to and including max_payload, NUL-terminated; rebuilt by reload and
     * swapped whole (old copy retired through qsbr) while workers read it. */
    char *_Atomic info_prefix;
    struct tls_ctx *_Atomic tls_ctx; /* client TLS for new connections, NULL = plain */
    char *_Atomic info_suffix; /* ",\"cluster\":..,\"connect_urls\":[..]" for client INFO (qsbr) */
    _Atomic uint64_t info_gen; /* bumped when info_suffix changes */
    _Atomic uint64_t next_cid;
    _Atomic int64_t num_clients;
    _Atomic uint64_t total_conns;
    _Atomic uint64_t slow_consumers;
    _Atomic int64_t config_load_ns;
    int64_t start_wall_ns;
    int64_t start_mono_ns;
    _Atomic bool shutting_down;
    _Atomic uint32_t rr;         /* round-robin assignment of new connections */
    _Atomic int64_t conn_excess; /* reload lowered max_connections: clients to close */
    _Atomic bool lame_duck;
} server_t;

extern server_t *srv;

/* Owner: reading is paused until an event elsewhere resumes it (conn_resume): a password
 * check's verdict (auth_wait) or the grace period after an UNSUB (unsub_wait). */
static inline bool conn_read_paused(const conn_t *c)
{
    return c->auth_wait || c->unsub_wait != NULL;
}

/* The connection speaks TLS (its handshake may still be under way: !tls_done). */
static inline bool conn_tls_on(const conn_t *c)
{
    return c->ssl || c->trec;
}

/* Bytes queued and not yet written; caller holds c->out_lock. */
static inline size_t conn_out_pending(const conn_t *c)
{
    return c->out.len + c->qbytes + (c->wbuf.len - c->wpos);
}

/* Accept back-off, for every listener (the workers' client and route ports, the monitor's
 * HTTP port): on a temporary error (out of descriptors or memory) a level-triggered
 * listener stops accepting for 10 ms, doubling up to 1 s while the errors last, as the
 * reference sleeps; one log line per back-off, the reference's. */
#define ACCEPT_MIN_SLEEP_NS (10LL * 1000000LL)
#define ACCEPT_MAX_SLEEP_NS (1000LL * 1000000LL)
typedef struct accept_backoff {
    _Atomic int64_t delay_ns;  /* the next back-off (0: the minimum) */
    _Atomic int64_t resume_ns; /* monotonic time the current back-off ends, 0 = none */
    /* For a listener the reference treats otherwise (its monitor port follows Go's
     * net/http: from 5 ms, its own line): the first back-off (0: ACCEPT_MIN_SLEEP_NS)
     * and the line (NULL: the reference's "Temporary <name> Accept Error" line). */
    int64_t min_ns;
    void (*log)(const char *addr, const char *why, int64_t pause_ns);
} accept_backoff_t;
bool accept_error_temporary(int err); /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
/* Starts a back-off after err on listener lfd ("Client", "Route", "HTTP"...): logs and
 * returns its length in ns, or 0 if one is running already (its starter resumes). The
 * caller stops polling lfd for that long, then clears resume_ns and polls again. */
int64_t accept_backoff_begin(accept_backoff_t *b, const char *name, int lfd, int err,
                             int64_t now_ns);
void accept_backoff_ok(accept_backoff_t *b); /* after a successful accept: back to 10 ms */

/* Lifecycle: app/start.c orders the modules around these. */
int server_init(opts_t *o);
/* After init: logs how the worker count was adjusted, sets up the workers' event loops;
 * listeners may be added from here on (listener_add, core.h). */
void server_prepare(void);
void server_start(void); /* starts the workers */
/* After srv->shutting_down was set: wakes the workers and waits until they closed their
 * connections and exited. */
void server_join(void);
void server_free(void); /* after shutdown: releases all memory, the options included */
void server_wake_all(void);

/* Stats summed over workers. */
typedef struct server_stats {
    uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
} server_stats_t;
void server_stats(server_stats_t *st);

/* ---- snapshots for monitoring (taken on each owner worker) ---- */

typedef struct sub_info {
    char *subject; /* owned */
    char *queue;   /* owned, NULL if none */
    char *sid;     /* owned */
    uint64_t msgs;
    int64_t max;
} sub_info_t;

typedef struct conn_info {
    uint64_t cid;
    conn_kind_t kind;
    char ip[INET6_ADDRSTRLEN];
    int port;
    int64_t start_wall_ns;
    int64_t last_activity_wall_ns;
    int64_t stop_wall_ns; /* closed connections only */
    int64_t rtt_ns;       /* 0 = not measured */
    uint64_t pending_bytes;
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    uint32_t num_subs;
    char *name, *lang, *version, *user; /* owned, NULL if absent */
    char *jwt, *issuer_key, *name_tag;  /* a JWT user's (owned, NULL if absent) */
    const char *account; /* borrowed (accounts outlive connections); NULL = not a client */
    char tls_version[8]; /* "" if not TLS */
    char tls_cipher[64];
    struct tls_peer_cert *certs; /* owned (tls_peer_certs_free): client certificates */
    size_t ncerts;
    char reason[64];     /* closed connections only */
    char remote_id[64];  /* routes, gateways: the peer's server id */
    char peer_name[128]; /* routes: the peer server's name; gateways: the remote gateway's */
    bool did_solicit, is_configured;
    sub_info_t *subs; /* owned; only when asked for */
    size_t nsubs;
} conn_info_t;

/* Open connections of one kind: conn_snapshot (core.h), through the kind's own module.
 * The last closed connections (at most CLOSED_RING), oldest first. */
#define CLOSED_RING 10000
size_t server_closed_conns(conn_info_t **out, bool with_subs);
void conn_infos_free(conn_info_t *v, size_t n);

#endif
