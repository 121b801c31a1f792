/* outbound.c: the outbound pipeline, for every connection kind, on any worker.
 *  - stage: a delivery is copied into the producing worker's stage for that
 *    destination (direct-mapped table, no lock, no atomics);
 *  - commit: once per read, each stage goes into the destination's `out`
 *    under its spinlock (the whole buffer is handed over when `out` is empty);
 *  - flush: one flusher at a time swaps `out` into `wbuf` and writes it
 *    without the lock, so producers keep appending meanwhile; a consumer behind
 *    by more than a buffer queues segments between the two (out_put). Bulk output for a
 *    connection of another worker, when this worker has a lot to write, is
 *    left to that worker ("kick"): the writes of a fan-out run on every core.
 * A consumer (client or route) over max_pending/4 (at most 1 MiB) stops its
 * producer's read at that operation and, if still behind after the flush,
 * pauses the producer until it drained to half of that (or 5 ms to 1 s passed,
 * the longer the closer it is to max_pending); over max_pending, or with writes
 * blocked for write_deadline, it is cut. Buffers are kept while a connection is
 * busy and given back after a housekeeping tick without output. The per-message path
 * (conn_msg_room, conn_msg_put, stage_for, stage_commit) stays in this one file. */
#include "core/loop.h"
#include "core/tlsrec.h"
#include "core/transport.h"
#include "base/gofmt.h"
#include "base/log.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <limits.h>

/* ---- outbound ---------------------------------------------------------- */

/* Queues c for w's next flush round, once (called per commit, not per message). */
static void conn_queue_flush(worker_t *w, conn_t *c)
{
    uint64_t bit = 1ULL << w->id;
    if (atomic_fetch_or_explicit(&c->flush_mask, bit, memory_order_acq_rel) & bit) return;
    if (w->flushq_len == w->flushq_cap) {
        w->flushq_cap = w->flushq_cap ? w->flushq_cap * 2 : 64;
        w->flushq = xrealloc(w->flushq, w->flushq_cap * sizeof *w->flushq);
    }
    w->flushq[w->flushq_len++] = c;
}

void conn_rtt_probe(worker_t *w, conn_t *c)
{
    int64_t none = 0;
    if (atomic_load_explicit(&c->rtt_ns, memory_order_relaxed)) return;
    if (!atomic_compare_exchange_strong(&c->rtt_probe_ns, &none, w->now_ns)) return;
    if (!conn_send(w, c, "PING\r\n", 6)) atomic_store(&c->rtt_probe_ns, 0);
}

void conn_rtt_pong(worker_t *w, conn_t *c)
{
    int64_t t = atomic_exchange(&c->rtt_probe_ns, 0);
    if (t && w->now_ns > t && !atomic_load_explicit(&c->rtt_ns, memory_order_relaxed))
        atomic_store_explicit(&c->rtt_ns, w->now_ns - t, memory_order_relaxed);
}

bool conn_request_close(conn_t *c, close_reason_t r)
{
    int expected = CR_NONE;
    if (!atomic_compare_exchange_strong(&c->close_req, &expected, (int)r)) return false;
    /* If c is moving, this is its old owner and the new one sees close_req on arrival. */
    worker_t *o = atomic_load(&c->w);
    atomic_store(&o->close_reqs, true);
    wake(o);
    return true;
}

/* Pending bytes at which a consumer pauses its producers: a quarter of max_pending, at
 * most 1 MiB. Producers resume as soon as it drained to half of that, so 1 MiB keeps
 * it busy; more only held memory (measured: fan-out 40 -> 14 MB RSS, queue_16
 * 30 -> 13 MB, same throughput; 16 MiB -> 4 MiB earlier: pubsub_16 50 -> 18 MB). */
#define STALL_MAX (1LL * 1024 * 1024)
static inline int64_t stall_threshold(void)
{
    int64_t t = srv->opts->max_pending / 4;
    return t < STALL_MAX ? t : STALL_MAX;
}

/* A stage is committed (and its connection checked) once it holds this much. */
#define STAGE_MAX (1024 * 1024)
size_t stage_limit(void)
{
    int64_t t = stall_threshold();
    return t < STAGE_MAX ? (size_t)t : STAGE_MAX;
}

/* A consumer that stalled producers caught up: every worker with paused producers lets
 * them read again now rather than at the end of their pause. */
static void stall_release(void)
{
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *o = &srv->workers[i];
        if (atomic_load(&o->has_stalled) && !atomic_exchange(&o->stall_release, true)) wake(o);
    }
}

/* Caller holds out_lock. Over max_pending: the slow consumer is cut, whatever its kind (the
 * reference bounds routes only by write_deadline; a route peer that does not read made us
 * buffer everything published). */
static bool out_room(conn_t *c, size_t n)
{
    if (likely((int64_t)(conn_out_pending(c) + n) <= srv->opts->max_pending)) return true;
    /* Only a consumer that cannot take the bytes now is slow: write first (unless a
     * flusher is at it already). */
    if (!c->flushing) flush_run(c, false);
    return (int64_t)(conn_out_pending(c) + n) <= srv->opts->max_pending;
}

/* The server's and c's account's slow consumer counts. */
static void count_slow_consumer(conn_t *c)
{
    atomic_fetch_add(&srv->slow_consumers, 1);
    stat_sink_t *sk = atomic_load_explicit(&c->sink, memory_order_relaxed);
    if (sk) atomic_fetch_add(&sk->slow_consumers, 1);
}

static void slow_consumer(conn_t *c)
{
    if (!conn_request_close(c, CR_SLOW_PENDING)) return; /* condemned already: one verdict */
    count_slow_consumer(c);
    log_msg(LOG_INF, "%sSlow Consumer Detected: MaxPending of %lld Exceeded", c->prefix,
            (long long)srv->opts->max_pending);
}

static bool sendv_count(worker_t *w, conn_t *c, const struct iovec *iov, int cnt, uint64_t size,
                        bool count);

bool conn_sendv(worker_t *w, conn_t *c, const struct iovec *iov, int cnt)
{
    return sendv_count(w, c, iov, cnt, 0, false);
}

bool conn_send_msg(worker_t *w, conn_t *c, const struct iovec *iov, int cnt, uint64_t size)
{
    return sendv_count(w, c, iov, cnt, size, true);
}

/* Segments: a consumer behind by more than one buffer queues its backlog as segments
 * instead of growing one buffer. With one growing `out`, swapped into `wbuf` when the
 * write finished, both took the capacity of the largest backlog rounded up to a power
 * of two: a 64-consumer fan-out held ~1 MiB per consumer with ~300 KB queued
 * (docs/performance.md, ninth pass). A segment is a stage's whole buffer (handed over,
 * not copied) or an `out` that would otherwise have grown; the flusher writes them in
 * order and keeps one emptied buffer (spare) for the next stage it hands over. */
#define SEG_MIN ((size_t)16 * 1024)
typedef struct outq {
    buf_t *seg; /* a ring of cap (a power of two), n of them from head */
    uint32_t head, n, cap;
    buf_t spare; /* empty */
} outq_t;

/* A queued segment's capacity is at most twice its bytes (or twice SEG_MIN), so what a
 * backlog holds stays within a small multiple of what it counts against max_pending, as
 * with one growing buffer. A buffer bigger than that (a stage's, sized by an earlier
 * burst, holding 16 KiB of a 1 MiB block) is not queued as it is: its bytes are copied
 * into one that fits. Handing such blocks over unchecked let 16 KiB commits to a consumer
 * that does not read queue 1 MiB each (64x max_pending). */
static inline bool seg_oversized(const buf_t *b)
{
    return b->cap > 2 * (b->len > SEG_MIN ? b->len : SEG_MIN);
}

/* Caller holds out_lock; b is empty: kept as the spare if there is none, else freed. */
static void seg_park(conn_t *c, buf_t *b)
{
    if (!c->outq->spare.cap)
        c->outq->spare = *b;
    else
        buf_free(b);
    *b = (buf_t){0};
}

/* Caller holds out_lock; out holds bytes and n more are coming. Queues out as a segment
 * when the n bytes come as a buffer of their own (n >= SEG_MIN) or when out is a
 * segment's worth already and would have to grow for them; out is then empty. The
 * ring grows as needed: the backlog is bounded by max_pending (out_room). */
static bool seg_push(conn_t *c, size_t n)
{
    if (n < SEG_MIN && (c->out.len < SEG_MIN || n <= c->out.cap - c->out.len)) return false;
    outq_t *q = c->outq;
    if (!q) q = c->outq = xcalloc(1, sizeof *q);
    if (q->n == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : 8;
        buf_t *seg = xmalloc(cap * sizeof *seg);
        for (uint32_t i = 0; i < q->n; i++)
            seg[i] = q->seg[(q->head + i) & (q->cap - 1)];
        free(q->seg);
        q->seg = seg;
        q->cap = cap;
        q->head = 0;
    }
    if (seg_oversized(&c->out)) { /* its bytes move to a buffer that fits them */
        buf_t fit = {0};
        buf_append_out(&fit, c->out.p, c->out.len);
        c->out.len = 0;
        seg_park(c, &c->out);
        c->out = fit;
    }
    q->seg[(q->head + q->n++) & (q->cap - 1)] = c->out;
    c->qbytes += c->out.len;
    c->out = (buf_t){0};
    return true;
}

/* Caller holds out_lock: the spare buffer, taken (empty buffer if none). */
static buf_t seg_spare(conn_t *c)
{
    buf_t t = {0};
    if (c->outq) {
        t = c->outq->spare;
        c->outq->spare = (buf_t){0};
    }
    return t;
}

/* The flusher, holding out_lock, sent wbuf: the oldest segment becomes wbuf, if any. */
static bool seg_pop(conn_t *c)
{
    outq_t *q = c->outq;
    if (!q || !q->n) return false;
    buf_t done = c->wbuf;
    c->wbuf = q->seg[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->n--;
    c->qbytes -= c->wbuf.len;
    seg_park(c, &done);
    return true;
}

void out_put(conn_t *c, buf_t *b)
{
    if (c->out.len == 0) { /* usual case: hand the whole buffer over, no copy */
        buf_t t = c->out;
        c->out = *b;
        *b = t;
    } else if (seg_push(c, b->len)) {                 /* behind: out queued as a segment */
        if (b->len >= SEG_MIN && !seg_oversized(b)) { /* b's buffer follows it */
            size_t len = b->len;
            c->out = *b;
            *b = seg_spare(c);
            /* (the producer fills as much again: one block now, not a doubling series) */
            if (!b->cap) buf_reserve_out(b, len);
        } else { /* b's bytes start the next one, in the spare if there is one */
            c->out = seg_spare(c);
            buf_append_out(&c->out, b->p, b->len);
        }
    } else {
        buf_append_out(&c->out, b->p, b->len);
    }
    b->len = 0;
}

bool out_next(conn_t *c)
{
    if (c->wpeak < c->wbuf.len) c->wpeak = c->wbuf.len;
    c->wpos = c->wbuf.len = 0;
    if (seg_pop(c)) return true;
    if (c->out.len == 0) return false;
    buf_t t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    return true;
}

/* The segment queue goes, with any segments still in it and the spare: the caller holds
 * out_lock with nothing pending (trim_out) or the last reference (conn_free_cb). */
static void seg_free(conn_t *c)
{
    if (!c->outq) return;
    outq_t *q = c->outq;
    for (uint32_t i = 0; i < q->n; i++)
        buf_free(&q->seg[(q->head + i) & (q->cap - 1)]);
    buf_free(&q->spare);
    free(q->seg);
    free(q);
    c->outq = NULL;
    c->qbytes = 0;
}

void out_free(conn_t *c)
{
    buf_free(&c->out);
    buf_free(&c->wbuf);
    seg_free(c);
}

/* Moves a stage's bytes into its connection's outbound buffer (one lock for a whole
 * batch) and queues the connection for a flush. The stage stays assigned. */
static void stage_commit(worker_t *w, stage_t *s)
{
    conn_t *c = s->conn;
    size_t n = s->buf.len;
    if (n == 0) return;
    spin_lock(&c->out_lock);
    if (unlikely(c->out_closed)) {
        spin_unlock(&c->out_lock);
        goto done;
    }
    if (unlikely(!out_room(c, n))) {
        c->out_closed = true;
        spin_unlock(&c->out_lock);
        slow_consumer(c);
        goto done;
    }
    out_put(c, &s->buf);
    c->out_total += n;
    w->round_bytes += n;
    c->out_msgs += s->msgs;
    c->out_bytes += s->bytes;
    stat_sink_t *sk = atomic_load_explicit(&c->sink, memory_order_relaxed);
    if (sk) {
        sink_use(w, sk);
        w->sink.out_msgs += s->msgs;
        w->sink.out_bytes += s->bytes;
    }
    /* A consumer falling behind slows its producers down (their reads pause until it
     * catches up) before it would have to be cut as a slow consumer. */
    int64_t pend = (int64_t)conn_out_pending(c), t = stall_threshold();
    if (unlikely(pend > t)) { /* routes too: client producers wait for them, as in the reference */
        atomic_store(&c->over_stall, true);
        if (w->nover < NOVER)
            w->over[w->nover++] = c;
        else
            w->over_lost = true;
        if (pend > w->over_max) w->over_max = pend;
    }
    /* The stage takes what still fits under the threshold, then commits again: the
     * producer's read stops at the operation that put c behind (client_process). */
    s->limit = pend >= t                             ? 0
               : (size_t)(t - pend) < w->stage_limit ? (size_t)(t - pend)
                                                     : w->stage_limit;
    spin_unlock(&c->out_lock);
    conn_queue_flush(w, c);
done:
    s->buf.len = 0;
    s->msgs = s->bytes = 0;
}

/* The stage table is open-addressed: a connection's stage is in one of STAGE_PROBE
 * slots from its home slot. Slots are freed only all at once (stages_commit_all), so a
 * lookup may stop at the first free slot. Sized for a fan-out to thousands: with one
 * slot per connection and 64 slots, a publisher fanning out to 1,000 subscribers took
 * the lock and committed once per delivery. */
#define STAGE_PROBE 8
#define STAGE_KEEP_MIN 4096 /* a slot keeps its buffer after a pass only above this */
static stage_t *stage_find(worker_t *w, const conn_t *c)
{
    size_t h = stage_home(c);
    for (int i = 0; i < STAGE_PROBE; i++) {
        stage_t *s = &w->stages[(h + (size_t)i) & (NSTAGE - 1)];
        if (s->conn == c) return s;
        if (!s->conn) return NULL;
    }
    return NULL;
}

static stage_t *stage_for(worker_t *w, conn_t *c)
{
    size_t h = stage_home(c);
    stage_t *s = NULL;
    for (int i = 0; i < STAGE_PROBE; i++) {
        s = &w->stages[(h + (size_t)i) & (NSTAGE - 1)];
        if (likely(s->conn == c)) return s;
        if (!s->conn) break;
    }
    if (s->conn) { /* every probed slot taken: the home slot's bytes go now */
        s = &w->stages[h];
        stage_commit(w, s);
    } else {
        w->staged[w->nstaged++] = (uint16_t)(s - w->stages);
    }
    s->conn = c;
    s->used = true;
    /* A consumer still behind takes one operation's bytes before the commit that pauses
     * the producer; otherwise up to the threshold (stage_commit refines it). */
    s->limit = atomic_load_explicit(&c->over_stall, memory_order_relaxed) ? 0 : w->stage_limit;
    return s;
}

/* Commits every stage and frees the slots: before any flush, and before a quiescent
 * point (a stage must not keep a connection pointer across it). */
static void stages_commit_all(worker_t *w)
{
    for (int i = 0; i < w->nstaged; i++) {
        stage_t *s = &w->stages[w->staged[i]];
        if (s->conn) {
            stage_commit(w, s);
            s->conn = NULL;
            /* A small buffer is not kept in the slot: with thousands of slots, the
             * small buffers a commit takes back from its connections added up to
             * 0.5 KB per connection on `conns` (1.54 -> 2.03 KB) until the idle
             * tick; a big one (a busy stream's) is reused, as before. */
            if (s->buf.cap <= STAGE_KEEP_MIN) buf_free(&s->buf);
        }
    }
    w->nstaged = 0;
}

/* Commits w's stage for c, if any (c is about to be flushed or closed). */
void stage_commit_conn(worker_t *w, conn_t *c)
{
    stage_t *s = stage_find(w, c);
    /* The slot stays taken (and listed once in w->staged) until stages_commit_all:
     * freeing it here let a later connection list it again, past NSTAGE entries.
     * A closed connection stages nothing more (out_closed), and the pointer is
     * dropped before the quiescent point like every other. */
    if (s) stage_commit(w, s);
}

char *conn_msg_room(worker_t *w, conn_t *c, size_t max)
{
    if (unlikely(atomic_load_explicit(&c->out_closed, memory_order_relaxed))) return NULL;
    stage_t *s = stage_for(w, c);
    w->room_stage = s; /* stage_put's, without a second lookup */
    buf_reserve_out(&s->buf, max);
    return s->buf.p + s->buf.len;
}

/* n bytes written at conn_msg_room's pointer; msgs counts delivered messages (0 or 1). */
static void stage_put(worker_t *w, conn_t *c, size_t n, uint64_t msgs, uint64_t size)
{
    stage_t *s = w->room_stage;                       /* conn_msg_room's, without a second lookup */
    if (unlikely(s->conn != c)) s = stage_find(w, c); /* (something staged in between) */
    s->buf.len += n;
    w->staged_total += n;
    s->msgs += msgs;
    s->bytes += size;
    if (unlikely(s->buf.len >= s->limit)) stage_commit(w, s);
}

void conn_msg_put(worker_t *w, conn_t *c, size_t n, uint64_t size)
{
    stage_put(w, c, n, 1, size);
}

static bool sendv_count(worker_t *w, conn_t *c, const struct iovec *iov, int cnt, uint64_t size,
                        bool count)
{
    size_t n = 0;
    for (int i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    char *p = conn_msg_room(w, c, n);
    if (!p) return false;
    for (int i = 0; i < cnt; i++) {
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    stage_put(w, c, n, count, count ? size : 0);
    return true;
}

bool conn_send(worker_t *w, conn_t *c, const void *p, size_t n)
{
    struct iovec iov = {(void *)p, n};
    return conn_sendv(w, c, &iov, 1);
}

/* Writes what is pending until done or the socket is full. Caller holds out_lock and
 * no flusher is active; with unlocked the lock is released around each send so
 * producers keep appending meanwhile, unless the connection still has an SSL object
 * (its handshake, or TLS 1.2): that one must not be used by two threads, and the
 * owner reads through it. Plain sockets and tlsrec's (whose reads and writes keep
 * apart states) go unlocked. Returns false on a write error. */
bool flush_run(conn_t *c, bool unlocked)
{
    if (c->fd_gone) return true;
    bool ok = true;
    c->flushing = true;
    for (;;) {
        c->flush_again = false;
        /* tlsrec counts a send's bytes as taken once sealed, and may hold the tail the
         * socket did not take: not done until that went too (else it waited for the
         * connection's next message, and nothing armed the write event) */
        tlsrec_t *rec = c->trec;
        bool held = rec && tlsrec_holds(rec);
        if (c->wpos == c->wbuf.len && !out_next(c) && !held) {
            c->stall_ns = 0;
            break;
        }
        const char *p = c->wbuf.p + c->wpos;
        size_t len = c->wbuf.len - c->wpos;
        /* TLS once its handshake is done; before it (the plaintext INFO) and on plain
         * sockets, a send, without the lock when the caller allows it. */
        SSL *ssl = c->tls_done ? c->ssl : NULL;
        bool unl = unlocked && !c->ssl;
        if (unl) spin_unlock(&c->out_lock);
        ssize_t n = rec ? tlsrec_send(rec, c->fd, p, len) : transport_send(c->fd, ssl, p, len);
        if (unl) spin_lock(&c->out_lock);
        if (n > 0 || (n == 0 && len == 0)) { /* (0 with len 0: the held bytes went) */
            c->wpos += (size_t)n;
            if (c->ops->deadline_from_progress) c->stall_ns = 0; /* conn_write_deadline */
            /* tlsrec holds bytes only when the socket took part of a send: it is full,
             * so wait for room now rather than learn it from one more send (that
             * failing send per flush cost a TLS fan-out ~12 % more CPU) */
            if (!(rec && tlsrec_holds(rec))) continue;
            n = -1;
        }
        if (n == -1) {
            evloop_blocked(&c->w->loop, c->fd, EVLOOP_WRITE);
            if (!c->stall_ns) c->stall_ns = now_mono_ns();
            /* Someone asked while we were writing (perhaps the owner on EPOLLOUT, which
             * will not come again): one more try. */
            if (!ssl && c->flush_again) continue;
        } else {
            ok = false;
        }
        break;
    }
    if (unlikely(atomic_load_explicit(&c->over_stall, memory_order_relaxed)) &&
        (int64_t)conn_out_pending(c) <= stall_threshold() / 2) {
        /* seq_cst store, then stall_release's seq_cst loads of has_stalled: pairs with
         * pause_if_behind (has_stalled stored, then over_stall loaded), so one of the two
         * sees the other and no producer waits out its pause for nothing. */
        atomic_store(&c->over_stall, false);
        stall_release();
    }
    c->flushing = false;
    return ok;
}

/* Flushes c from worker w (NULL: any thread). A bulk of bytes for a connection of
 * another worker is left to that worker (kicked), so the writes of a fan-out run on
 * all workers instead of the publisher's alone; a few bytes are written here, as one
 * more wake-up would cost more latency than the write. */
#define KICK_MIN (32 * 1024)
#define KICK_ROUND (512 * 1024)
static void kick(conn_t *c);
static void flush_from(worker_t *w, conn_t *c)
{
    spin_lock(&c->out_lock);
    if (c->flushing) {
        c->flush_again = true;
        spin_unlock(&c->out_lock);
        return;
    }
    if (w && c->w != w && !c->ssl && c->out.len + c->qbytes >= KICK_MIN &&
        w->round_bytes >= KICK_ROUND) {
        spin_unlock(&c->out_lock);
        kick(c);
        return;
    }
    bool ok = flush_run(c, true);
    spin_unlock(&c->out_lock);
    if (!ok) conn_request_close(c, CR_WRITE_ERROR);
}

void conn_flush(conn_t *c)
{
    flush_from(NULL, c);
}

void conn_flush_owned(worker_t *w, conn_t *c)
{
    stage_commit_conn(w, c);
    flush_from(NULL, c);
}

/* Locks the kick list of c's owner, which is then c->w until unlocked (the owner
 * changes it only under that lock: conn_rehome). */
static worker_t *lock_owner(conn_t *c)
{
    for (;;) {
        worker_t *o = atomic_load(&c->w);
        spin_lock(&o->kick_lock);
        if (atomic_load(&c->w) == o) return o;
        spin_unlock(&o->kick_lock); /* it moved meanwhile */
    }
}

/* Puts c on its owner's kick list; the owner writes it at its next pass. */
static void kick(conn_t *c)
{
    worker_t *o = lock_owner(c);
    if (c->kicked || c->no_kick) {
        spin_unlock(&o->kick_lock);
        return;
    }
    c->kicked = true;
    if (o->kick_len == o->kick_cap) {
        o->kick_cap = o->kick_cap ? o->kick_cap * 2 : 64;
        o->kickq = xrealloc(o->kickq, o->kick_cap * sizeof *o->kickq);
    }
    o->kickq[o->kick_len++] = c;
    bool first = o->kick_len == 1;
    spin_unlock(&o->kick_lock);
    if (first) wake(o);
}

/* Owner: writes the connections other workers kicked. */
void run_kicks(worker_t *w)
{
    spin_lock(&w->kick_lock);
    size_t n = w->kick_len;
    if (n == 0) {
        spin_unlock(&w->kick_lock);
        return;
    }
    conn_t **q = w->kickq;
    size_t cap = w->kick_cap;
    w->kickq = w->kickq_spare;
    w->kick_cap = w->kick_spare_cap;
    w->kickq_spare = q;
    w->kick_spare_cap = cap;
    w->kick_len = 0;
    for (size_t i = 0; i < n; i++)
        q[i]->kicked = false;
    spin_unlock(&w->kick_lock);
    /* Only this worker closes these connections, so they are all still open or fd_gone. */
    for (size_t i = 0; i < n; i++)
        flush_from(NULL, q[i]);
}

/* Caller holds w->kick_lock: c is not on w's kick list any more. */
static void kick_drop(worker_t *w, conn_t *c)
{
    if (!c->kicked) return;
    for (size_t i = 0; i < w->kick_len; i++) {
        if (w->kickq[i] == c) {
            w->kickq[i] = w->kickq[--w->kick_len];
            break;
        }
    }
    c->kicked = false;
}

/* Owner, closing c: no kick may refer to it any more. */
void unkick(conn_t *c)
{
    worker_t *w = c->w;
    spin_lock(&w->kick_lock);
    c->no_kick = true;
    kick_drop(w, c);
    spin_unlock(&w->kick_lock);
}

void conn_rehome(worker_t *w, conn_t *c, worker_t *to)
{
    spin_lock(&w->kick_lock);
    kick_drop(w, c); /* its new owner writes what comes next */
    atomic_store(&c->w, to);
    spin_unlock(&w->kick_lock);
}

/* How long a producer waits for consumers of which the furthest behind has `pending`
 * bytes queued: STALL_NS at the stall threshold, growing to STALL_MAX_NS at max_pending,
 * so a consumer that is busy for a moment (a loaded machine) is given time before it is
 * cut; one that catches up releases the producer at once (stall_release). */
static int64_t stall_duration(int64_t pending)
{
    int64_t t = stall_threshold(), mp = srv->opts->max_pending;
    if (pending <= t || mp <= t) return STALL_NS;
    if (pending >= mp) return STALL_MAX_NS;
    return STALL_NS +
           (int64_t)((double)(STALL_MAX_NS - STALL_NS) * (double)(pending - t) / (double)(mp - t));
}

/* Pauses reading c for d ns: its subscribers are behind. Resumed by run_stalled. */
static void stall_conn(worker_t *w, conn_t *c, int64_t d)
{
    if (c->stall_until_ns) return;
    c->stall_len_ns = d;
    c->stall_until_ns = w->now_ns + d;
    if (w->nstalled == w->capstalled) {
        w->capstalled = w->capstalled ? w->capstalled * 2 : 8;
        w->stalled = xrealloc(w->stalled, w->capstalled * sizeof *w->stalled);
    }
    w->stalled[w->nstalled++] = c;
    atomic_store(&w->has_stalled, true);
    worker_note_wake(w, c->stall_until_ns);
}

/* After a read whose deliveries left consumers behind: pauses c, unless every one of
 * them has caught up meanwhile (often during this very batch's flush); a consumer that
 * catches up later releases c through stall_release. Returns whether c is paused. */
bool pause_if_behind(worker_t *w, conn_t *c)
{
    bool behind = w->over_lost; /* unlisted consumers: assume the worst */
    int n = w->nover;
    int64_t most = w->over_max;
    w->over_lost = false;
    w->nover = 0;
    w->over_max = 0;
    if (!c->ops->pausable) return false;
    /* first: a consumer catching up from now on sees has_stalled */
    stall_conn(w, c, stall_duration(most));
    for (int i = 0; i < n && !behind; i++)
        behind = atomic_load(&w->over[i]->over_stall);
    if (!behind) {
        unstall(w, c);
        return false;
    }
    return true;
}

void unstall(worker_t *w, conn_t *c)
{
    for (size_t i = 0; i < w->nstalled; i++) {
        if (w->stalled[i] == c) {
            w->stalled[i] = w->stalled[--w->nstalled];
            break;
        }
    }
    c->stall_until_ns = 0;
    if (!w->nstalled) atomic_store_explicit(&w->has_stalled, false, memory_order_relaxed);
}

/* ---- the worker loop --------------------------------------------------- */

void worker_commit(worker_t *w)
{
    flush_pending(w);
}

void flush_pending(worker_t *w)
{
    stages_commit_all(w);
    /* The account totals first: once a client read a message, an event or /accstatz
     * counts it (test_account_conns_event_counts_the_accounts_traffic under TSan saw
     * the MSGs, then a CONNS event without them). */
    sink_flush(w);
    uint64_t bit = 1ULL << w->id;
    /* Delivery while flushing may queue more; loop until empty. */
    for (size_t i = 0; i < w->flushq_len; i++) {
        conn_t *c = w->flushq[i];
        atomic_fetch_and_explicit(&c->flush_mask, ~bit, memory_order_acq_rel);
        flush_from(w, c);
    }
    w->flushq_len = 0;
    w->round_bytes = 0;
    w->pass_mark = w->staged_total;
    w->pass_budget = PASS_BUDGET;
    sink_flush(w);
}

void sink_flush(worker_t *w)
{
    stat_sink_t *s = w->sink.to;
    if (!s || !(w->sink.in_msgs | w->sink.out_msgs)) return;
    atomic_fetch_add_explicit(&s->in_msgs, w->sink.in_msgs, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->in_bytes, w->sink.in_bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->out_msgs, w->sink.out_msgs, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->out_bytes, w->sink.out_bytes, memory_order_relaxed);
    w->sink.in_msgs = w->sink.in_bytes = w->sink.out_msgs = w->sink.out_bytes = 0;
}
/* At each housekeeping tick: a connection that queued nothing since the last one gives
 * both buffers back, whatever their size. Keeping the small ones (up to 64 KiB each)
 * left every connection that had once taken a burst holding ~70 KB for good, 4x what
 * the reference keeps (docs/performance.md, "Idle connections"); a busy connection
 * queues something every tick and keeps them (refaulting them per flush was a fifth of
 * a fan-out), unless they are oversized (buf_oversized) over a whole HOUSEKEEP_NS: a
 * consumer that once fell behind by a MiB otherwise kept 2 MiB buffers for as long as
 * it got a message a tick. (The timers also run whenever a pause or another deadline is
 * due, every 5 ms in a stalled fan-out: judged per run, a buffer a stream needs every
 * 50 ms would be freed and regrown 10 times over.) */
void trim_out(conn_t *c, bool period_end)
{
    spin_lock(&c->out_lock);
    if ((c->out.cap || c->wbuf.cap || c->outq) && !c->flushing) {
        if (conn_out_pending(c) == 0 && c->out_total == c->trim_mark) {
            out_free(c);
            c->wpos = 0;
        } else {
            c->trim_mark = c->out_total;
        }
        if (period_end) {
            /* (what is queued now is written next: it counts as a write of the period) */
            size_t peak = c->wpeak > c->out.len ? c->wpeak : c->out.len;
            if (c->wbuf.len == 0 && buf_oversized(&c->wbuf, peak)) buf_free(&c->wbuf);
            if (c->out.len == 0 && buf_oversized(&c->out, peak)) buf_free(&c->out);
            if (c->outq && buf_oversized(&c->outq->spare, peak)) buf_free(&c->outq->spare);
            /* (a stage's buffer passes to out at its next commit to an empty out: judged
             * here then; one that never does is appended from a consumer still behind) */
        }
    }
    if (period_end) c->wpeak = 0;
    spin_unlock(&c->out_lock);
}

/* write_deadline, for every kind: writes blocked that long make a slow consumer. A client
 * is measured from its first blocked write until everything was written; a route from
 * its last write that made progress, as the reference closes a route only when a write
 * timed out having sent nothing. */
void conn_write_deadline(worker_t *w, conn_t *c)
{
    int64_t wd = srv->opts->write_deadline_ns;
    spin_lock(&c->out_lock);
    int64_t stall = c->stall_ns;
    size_t pend = conn_out_pending(c);
    spin_unlock(&c->out_lock);
    if (!stall) return;
    if (w->now_ns - stall <= wd) {
        worker_note_deadline(w, stall + wd + 1);
        return;
    }
    /* Already condemned (cut at max_pending by a producer): one verdict, one log line. */
    if (!conn_request_close(c, CR_SLOW_DEADLINE)) return;
    char d[40];
    go_duration(d, sizeof d, wd);
    count_slow_consumer(c);
    NOTICE("%sSlow Consumer Detected: WriteDeadline of %s exceeded with %d chunks of %zu total "
           "bytes.",
           c->prefix, d, 1, pend);
}
