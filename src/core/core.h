/* core.h: the core layer's interface to the protocols above it: workers, the
 * outbound pipeline, connection lifecycle, and the handler table (conn_ops_t)
 * through which the worker loop drives every connection kind without knowing
 * it. The nats/ layer (client.c, route.c, auth.c) fills the tables and calls
 * these; monitor/ and app/ use the worker commands and listeners. */
#ifndef GNATSD_CORE_H
#define GNATSD_CORE_H

#include "core/evloop.h"
#include "core/server.h"

#define RBUF_SIZE (256 * 1024)
/* The time one connection's reads may hold its worker in one turn (then the others go) */
#define READ_TURN_NS (2 * 1000 * 1000)
#define QUIET_READ (64 * 1024) /* read size for a connection whose last read sent nothing */
#define TICK_NS (20LL * 1000000LL)
/* Housekeeping (write deadlines, buffers given back) runs at least this often; it also
 * runs whenever another deadline of the worker is due (a pause, a timer), but a busy
 * connection's buffers are judged over a whole period of this (trim_out). */
#define HOUSEKEEP_NS (250LL * 1000000LL)
/* A paused producer waits at most from STALL_NS (its consumers just over the stall
 * threshold) up to STALL_MAX_NS (a consumer about to reach max_pending), unless a
 * consumer catching up releases it first: the closer a consumer is to being cut, the
 * more time it gets to drain (the reference waits 100 ms to 1 s per message). */
#define STALL_NS (5LL * 1000000LL)
#define STALL_MAX_NS (1000LL * 1000000LL)

#define NSTAGE_BITS 12
#define NSTAGE (1 << NSTAGE_BITS) /* stage slots per worker (outbound.c: stage_for) */
/* What one producer's operations may stage before its read stops for a flush round
 * (then it goes on): a fan-out to thousands otherwise staged a copy of a whole read per
 * subscriber (256 KiB x 1,000) before writing any. Measured on fanout_1000 (RSS, rate):
 * 4 MiB made writes too small (-20%); 16 MiB 86 MB; 32 MiB 159 MB and +14% (each
 * consumer's share reaches KICK_MIN, so the other worker writes its own); 40-64 MiB no
 * faster. The reference used 231 MB there. (Those 32 MiB shares were 33.5 KB, in 64 KiB
 * blocks: pass_fanout fits them in 32 KiB, 105 MB.) */
#define PASS_BUDGET (32 * 1024 * 1024)
/* What one consumer of a fan-out (two or more) may take of a pass: bigger shares wrote
 * no faster and held 3 buffers of their size per consumer (stage, outbound, write):
 * 128 consumers 159-169 MB at 256 KiB, 57-99 MB at 64 KiB and 1.6x faster; 16 consumers
 * 72-77 MB at 1 MiB (STAGE_MAX), 22-45 MB and 1.2x (pass_fanout). */
#define PASS_SHARE_MAX (64 * 1024)
#define PASS_SHARE_MSGS 8 /* ... or room for this many messages */
#define NOVER 8           /* consumers a read may find behind before it stops listing them */

/* Bytes a worker queued for one connection during its current batch. */
typedef struct stage {
    conn_t *conn; /* NULL = free */
    buf_t buf;    /* owned; kept between batches (swapped with the connection's buffer) */
    uint64_t msgs, bytes;
    size_t limit; /* committed once it holds this much: what the connection can take before
                   * it passes the stall threshold (0: it is past it already) */
    bool used;    /* since the last trim */
} stage_t;

/* A socket handed to a worker: accepted on a listener, or one we dialled. */
typedef struct inq_item {
    int fd;
    const struct conn_ops *ops; /* its kind */
    bool solicited;
    char *url;          /* owned: the URL we dialled */
    void *dialer;       /* the dialer to tell when this connection closes */
    struct conn *moved; /* not a new socket: a connection moving here (fd unused) */
} inq_item_t;

/* A connection kind, as the core sees it: a table of operations chosen when the
 * connection is accepted (the listener's table) or dialled (the dialer's), called by
 * the worker loop on the connection's owner. One const row per kind, defined at the end
 * of the kind's own file (nats/client.c, nats/route.c); docs/internals.md lists what a
 * new kind needs. */
typedef struct conn_ops {
    conn_kind_t kind;     /* data only (ci->kind, what /connz and /routez filter on) */
    const char *name;     /* "client": "Error accepting client connection" */
    const char *tag;      /* "cid": the log prefix "ip:port - cid:N - " */
    const char *tls_word; /* "route ": "TLS route handshake error: ..." ("" for clients) */
    int64_t line_min;     /* floor of the incomplete control line bound (conn_line_max) */
    /* write_deadline counts from the last write that made progress (routes: the reference
     * closes one only when a write timed out having sent nothing), not from the first
     * write that blocked (clients). */
    bool deadline_from_progress;
    bool pausable; /* its reads pause while the consumers it fed are behind */
    /* Owner, just adopted (socket registered, prefix set): start the protocol (INFO,
     * TLS, timers). Sets c->closing to have it closed. */
    void (*init)(worker_t *w, conn_t *c, const inq_item_t *it);
    /* Processes bytes; returns how many were consumed. Sets c->closing on errors. */
    size_t (*process)(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need);
    void (*timer)(worker_t *w, conn_t *c);    /* owner's tick when a deadline passed */
    void (*tls_done)(worker_t *w, conn_t *c); /* handshake finished (or plaintext chosen) */
    void (*send_err)(worker_t *w, conn_t *c, const char *text); /* -ERR before a close */
    void (*closed)(conn_t *c); /* owner, closing, before the last flush: subs, registries */
    void (*gone)(conn_t *c);   /* owner, socket closed: counters, the log line */
    void (*free)(conn_t *c);   /* qsbr: no reader left; the kind's state */
    void (*fill_info)(conn_t *c, conn_info_t *ci, bool with_subs); /* monitoring */
    /* Owner: the control plane's WCMD_* bits for one connection; NULL: not concerned. */
    void (*command)(worker_t *w, conn_t *c, uint32_t cmd);
    /* Owner: the rest of a CONNECT once its password check's verdict is back (the caller,
     * nats/auth.c, clears c->auth_wait before, closes or resumes reading after). A slot
     * the core never calls: it lets auth continue a kind it does not know. */
    void (*connect_verdict)(worker_t *w, conn_t *c);
    /* Owner: whether the kind's state lets the connection move to another worker now
     * (core/affinity.c; nothing of it may be tied to the current one, such as a pending
     * verdict handed back to it). NULL: the kind never moves. */
    bool (*can_move)(const conn_t *c);
} conn_ops_t;

struct worker {
    int id;
    pthread_t th;
    evloop_t loop;           /* its descriptors, wake-up and next deadline (evloop.h) */
    conn_t *conns;           /* owned connections */
    _Atomic uint32_t nconns; /* read by the lame duck pacer on the main thread */
    /* new connections handed over by the acceptor */
    pthread_mutex_t inq_lock;
    struct inq_item *inq;
    size_t inq_len, inq_cap;
    _Atomic bool close_reqs; /* some owned conn has close_req set */
    /* connections with outbound data to flush at the end of this batch */
    conn_t **flushq;
    size_t flushq_len, flushq_cap;
    /* Bytes for other connections produced during the current batch, one stage per
     * destination (direct-mapped by connection): appended to the connection's outbound
     * buffer under its lock once per batch instead of once per message. */
    struct stage *stages;    /* NSTAGE */
    uint16_t staged[NSTAGE]; /* indexes of stages taken since the last commit */
    int nstaged;
    struct stage *room_stage; /* the stage conn_msg_room last gave room in */
    uint64_t pass_mark;       /* staged_total at the last flush round */
    uint64_t pass_budget;     /* what this pass may stage: PASS_BUDGET, or less (pass_fanout) */
    size_t round_bytes;       /* committed since the last flush round */
    uint64_t staged_total;    /* bytes ever staged (a read that stages none is quiet) */
    /* connections other workers filled in bulk, for this (their owner) worker to write */
    spinlock_t kick_lock;
    conn_t **kickq, **kickq_spare;
    size_t kick_len, kick_cap, kick_spare_cap;
    /* affinity.c: the connection this worker's last reads found talking with one other
     * connection only, to be moved to that one's worker at the end of the pass */
    conn_t *move_c, *move_peer;
    conn_t *over[NOVER]; /* consumers left far behind (this batch only); more: over_lost */
    int nover;
    bool over_lost;
    int64_t over_max;           /* the most bytes pending at one of them: sets the pause's length */
    size_t stage_limit;         /* the stall threshold (at most STAGE_MAX), per loop iteration */
    int64_t busy_trim_ns;       /* when the last HOUSEKEEP_NS period of trim_out began */
    int64_t pass_due_ns;        /* the next timer pass over the connections (0: none) */
    bool listener_paused;       /* this worker puts a listener back after its accept back-off */
    conn_t **stalled;           /* producers paused until their stall_until_ns */
    _Atomic bool has_stalled;   /* nstalled > 0, for flushers deciding whom to wake */
    _Atomic bool stall_release; /* a consumer caught up: resume the paused producers now */
    size_t nstalled, capstalled;
    char *rbuf; /* RBUF_SIZE bytes: reads land here first */
    buf_t scratch;
    uint64_t rng;
    int64_t now_ns;              /* monotonic, refreshed per loop */
    _Atomic uint32_t cmds;       /* WCMD_* requested by the control plane */
    _Atomic int ldm_close_quota; /* lame duck: clients to close now */
    /* set by conn_snapshot (one at a time), taken by this worker with an exchange */
    struct snap_req *_Atomic snap;
    /* connections paused at a PING after an UNSUB (conn_unsub_wait): grace periods in
     * flight, and the ones qsbr reported over, resumed after this worker's quiescent point */
    int unsub_waits, unsub_spins;
    struct unsub_token *unsub_ready;
    /* counters, written only by this worker, read by the monitor */
    _Atomic uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
    /* what this worker counted for one account's totals and not yet added (server.h) */
    struct {
        stat_sink_t *to;
        uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
    } sink;
};

/* A producer's read stops at the current operation (the parser returns PROTO_STOP) for
 * a flush round: consumers fell behind, or the pass staged PASS_BUDGET. Asked once per
 * operation, not per delivery. */
static inline bool worker_read_must_stop(const worker_t *w)
{
    return w->nover || w->over_lost || w->staged_total - w->pass_mark > w->pass_budget;
}

/* A message of at most room bytes per copy goes to n >= 2 consumers: the pass ends
 * before any consumer's share outgrows the power of two below PASS_BUDGET / n, or
 * PASS_SHARE_MAX. Buffers double (buf.c, bufpool.h), and a share just past a power of
 * two doubled the stage, outbound and write buffers of every consumer: fanout_1000
 * staged 33.5 KB each into 64 KiB blocks, 200 MB, where 32 KiB shares take half that
 * (docs/performance.md, seventh pass). The check comes after a whole operation, so the
 * share stops room short of its power of two. A single consumer keeps the whole budget:
 * its stage is committed at STAGE_MAX, and the one-stream presets were measured so.
 * Called per message: shifts, no division. */
_Static_assert((PASS_BUDGET & (PASS_BUDGET - 1)) == 0, "pass_fanout shifts PASS_BUDGET");
static inline void pass_fanout(worker_t *w, uint32_t n, size_t room)
{
    /* the power of two <= PASS_BUDGET / n: PASS_BUDGET over the power of two >= n */
    size_t fit = (size_t)PASS_BUDGET >> (64 - __builtin_clzll((uint64_t)n - 1));
    /* at most PASS_SHARE_MAX, unless that holds fewer than PASS_SHARE_MSGS messages (a
     * pass per 40 KB message to 8 consumers cost 22 % of the rate) */
    size_t want = PASS_SHARE_MSGS * room;
    size_t most =
        want <= PASS_SHARE_MAX ? PASS_SHARE_MAX : (size_t)1 << (64 - __builtin_clzll(want - 1));
    if (fit > most) fit = most;
    if (fit <= room) return; /* shares of a message or two: nothing to fit */
    uint64_t b = (uint64_t)n * (fit - room);
    if (b < w->pass_budget) w->pass_budget = b;
}

/* Commands from the control plane to every worker (bits of worker.cmds). */
#define WCMD_LDM_INFO 1u     /* send INFO {"ldm":true} to protocol-1 clients */
#define WCMD_REAUTH 2u       /* re-check credentials and permissions after a reload */
#define WCMD_MAXCONN 4u      /* max_connections shrank: close the excess */
#define WCMD_LDM_CLOSE 8u    /* lame duck: close ldm_close_quota clients */
#define WCMD_SNAPSHOT 16u    /* run the pending snapshot request */
#define WCMD_INFO 32u        /* connect_urls changed: async INFO to protocol-1 clients */
#define WCMD_PINNED 64u      /* pinned_certs changed: close TLS clients whose key is not pinned */
#define WCMD_AUTH 128u       /* password-check verdicts are back (auth_run_verdicts) */
#define WCMD_SYSPUB 256u     /* the system account has messages to publish (nats/sys.c) */
#define WCMD_LATENCY 512u    /* service latency results to publish (nats/latency.c) */
#define WCMD_ACC_LIMIT 1024u /* accounts over their limits cluster-wide: close their excess */
void worker_command(uint32_t cmd);
void worker_command_one(worker_t *w, uint32_t cmd); /* any thread */
/* A command run once per worker (not per connection), e.g. WCMD_AUTH ->
 * auth_run_verdicts; registered before server_start. */
void worker_on_command(uint32_t cmd, void (*fn)(worker_t *w));
/* Hands a socket to a worker (round-robin). Takes ownership of item->url. */
void server_hand_off(inq_item_t *item);

/* Listeners the workers accept on (level-triggered, EPOLLEXCLUSIVE), one row each:
 * registered by the layer that owns the port, after server_prepare. name is the
 * reference's word in its accept-error line ("Client", "Route"); accepted sockets get
 * ops. */
#define MAX_LISTENERS 8
void listener_add(int fd, const char *name, const conn_ops_t *ops);
/* Any thread: the listener leaves every worker's epoll set and is closed. */
void listener_remove(int fd);
/* Binds host:port; port -1 picks a free one. Returns fd or -1 with err. */
int listen_on(const char *host, int port, int *bound_port, char *err, size_t errlen);

/* Per-worker counters: only the owning worker writes them, so a relaxed load+store
 * (no locked instruction) is exact; the monitor reads them racily but atomically. */
static inline void stat_add(_Atomic uint64_t *ctr, uint64_t v)
{
    atomic_store_explicit(ctr, atomic_load_explicit(ctr, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

/* Adds what w counted for its current sink to it (at the end of each flush round). */
void sink_flush(worker_t *w);
/* Makes s the sink w counts for (the previous one's counts added first). */
static inline void sink_use(worker_t *w, stat_sink_t *s)
{
    if (unlikely(w->sink.to != s)) {
        sink_flush(w);
        w->sink.to = s;
    }
}
/* One message of bytes from c (its owner w), counted for c's account. */
static inline void sink_count_in(worker_t *w, conn_t *c, uint64_t bytes)
{
    stat_sink_t *s = atomic_load_explicit(&c->sink, memory_order_relaxed);
    if (!s) return;
    sink_use(w, s);
    w->sink.in_msgs++;
    w->sink.in_bytes += bytes;
}

void conn_flush(conn_t *c); /* any thread: writes what is in c's outbound buffer */
/* w's own thread: every delivery w staged is in its connection's buffer (and flushed) on
 * return, for a caller that reports delivery to another thread that may close them next. */
void worker_commit(worker_t *w);
/* c's owner w: also what w staged for c in this batch */
void conn_flush_owned(worker_t *w, conn_t *c);
/* Owner: reading resumes after a password check (c->auth_wait cleared): the bytes
 * already read are processed first. */
void conn_resume(worker_t *w, conn_t *c);
/* Owner, at a PING that follows an UNSUB: pauses reading (c->unsub_wait) until every
 * worker passed a quiescent point, i.e. committed every delivery it staged for c while
 * the subscription was open; then the PING (left unread) is processed, and its PONG
 * follows them, as the reference's does. */
void conn_unsub_wait(worker_t *w, conn_t *c);
/* Drives a TLS handshake forward (the dialing side speaks first). */
void conn_flush_handshake(worker_t *w, conn_t *c);
/* Owner, in init: c is the server side of a TLS handshake with t (due within t's
 * timeout); optional (allow_non_tls): a first byte that is no TLS record means plaintext. */
void conn_tls_accept(worker_t *w, conn_t *c, struct tls_ctx *t, bool optional);
/* TLS connection_rate_limit: false once this second's budget of new TLS connections is
 * spent. */
bool conn_tls_rate_ok(void);
/* allow_non_tls: the client sent no TLS record; drop its TLS state and go on in plaintext. */
void conn_tls_plain(worker_t *w, conn_t *c);
/* From any thread; false if a close was requested already (the first reason stands). */
bool conn_request_close(conn_t *c, close_reason_t r);
void conn_close(conn_t *c, close_reason_t r); /* owner only */
/* Owner, closing (a kind's closed hook): c goes to the ring /connz?state=closed shows. */
void conn_remember_closed(conn_t *c);
/* Open connections of one kind (table), in cid order. Returns the count; *out owned by
 * the caller (conn_infos_free). */
size_t conn_snapshot(const conn_ops_t *ops, conn_info_t **out, bool with_subs);
/* Stages bytes for c on w (the caller's worker); they reach c's outbound buffer, in
 * order, when w commits (before it flushes or closes c, at the latest at the end of
 * its batch). Returns false if c is closed (a max_pending overrun is found at commit
 * and then closes c as a slow consumer). */
bool conn_send(worker_t *w, conn_t *c, const void *p, size_t n);
bool conn_sendv(worker_t *w, conn_t *c, const struct iovec *iov, int cnt);
/* The same for one delivered message: also counts it (msgs/bytes) under the lock. */
bool conn_send_msg(worker_t *w, conn_t *c, const struct iovec *iov, int cnt, uint64_t size);
/* The same without a copy: room for max bytes at the end of w's stage for c (NULL if c
 * is closed); the caller writes the whole message there and then calls conn_msg_put
 * with its length and payload size, before staging anything else. */
char *conn_msg_room(worker_t *w, conn_t *c, size_t max);
void conn_msg_put(worker_t *w, conn_t *c, size_t n, uint64_t size);
/* The home slot of c's stage in w's table (outbound.c: stage_for probes on from it). */
static inline size_t stage_home(const conn_t *c)
{
    return (size_t)(((uintptr_t)c * 0x9E3779B97F4A7C15ULL) >> (64 - NSTAGE_BITS));
}
/* Asks the cache for the place a delivery of n bytes to c will be written, if c's stage
 * is in its home slot: a fan-out to thousands writes each message into a buffer not
 * touched since the last message, and waited for those lines (docs/performance.md). */
static inline void stage_prefetch(const worker_t *w, const conn_t *c, size_t n)
{
    const struct stage *s = &w->stages[stage_home(c)];
    if (s->conn != c) return;
    const char *p = s->buf.p + s->buf.len;
    if (s->buf.len + n > s->buf.cap) return; /* it will be regrown: nothing to ask for */
    for (size_t off = 0; off < n; off += 64)
        prefetch_line(p + off);
    prefetch_line(p + n - 1);
}
/* Owner: the timer pass (every connection's `timer`, write deadlines, trimming) runs
 * at t at the latest. */
void worker_note_deadline(worker_t *w, int64_t t);
/* Owner: the loop wakes at t, for run_stalled only (a producer's stall end, ms apart
 * per producer, is not a pass over every connection). */
void worker_note_wake(worker_t *w, int64_t t);
/* now + d, rounded up onto a grid of d/16 (1 ms to 1 s). A worker's timer pass visits
 * all of its connections; with exact times, a deadline each of many connections set
 * (PINGs, auth and TLS timeouts) was a pass of its own, one a millisecond after a storm
 * of connections; on the grid those of a step share one (docs/internals.md, "The
 * monitoring port"). */
int64_t deadline_after(int64_t now, int64_t d);
/* At most WORKER_TICK_HOOKS: fn runs on a worker each time its timers are due (a noted
 * deadline, or the housekeeping tick); fn notes its own next deadline. Before start. */
#define WORKER_TICK_HOOKS 4
void worker_on_tick(void (*fn)(worker_t *w));
/* Any worker: measure c's round trip now if it has none yet (a PING whose PONG the
 * owner times; one at a time). */
void conn_rtt_probe(worker_t *w, conn_t *c);
/* Owner, at a PONG: the round trip of a probe in flight, if any. */
void conn_rtt_pong(worker_t *w, conn_t *c);
uint64_t worker_rand(worker_t *w);

#endif
