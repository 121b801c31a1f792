/* server.c: listeners, worker loops, connection I/O, flushing and timers.
 *
 * Each worker runs: epoll_wait -> read+parse every readable connection, one
 * read (up to 256 KiB; 64 KiB while a connection's reads deliver nothing) at
 * a time -> after each read, commit and flush what it produced ->
 * qsbr_quiescent -> timers. Sockets are registered edge-triggered for both
 * directions, so no epoll_ctl is needed per write: a blocked flush is resumed
 * by the owner on EPOLLOUT.
 *
 * Reads land in the worker's buffer; only the bytes of an incomplete operation
 * are kept per connection (c->part), so an idle connection holds no read
 * buffer; an incomplete control line is bounded for every connection kind
 * (conn_line_max). Outbound, three steps:
 *  - stage: a delivery is copied into the producing worker's stage for that
 *    destination (direct-mapped table, no lock, no atomics);
 *  - commit: once per read, each stage goes into the destination's `out`
 *    under its spinlock (the whole buffer is handed over when `out` is empty);
 *  - flush: one flusher at a time swaps `out` into `wbuf` and writes it
 *    without the lock, so producers keep appending meanwhile. Bulk output for a
 *    connection of another worker, when this worker has a lot to write, is
 *    left to that worker ("kick"): the writes of a fan-out run on every core.
 * A consumer (client or route) over max_pending/4 (at most 1 MiB) stops its
 * producer's read at that operation and, if still behind after the flush,
 * pauses the producer until it drained to half of that (or 5 ms to 1 s passed,
 * the longer the closer it is to max_pending); over max_pending, or with writes
 * blocked for write_deadline, it is cut. Listeners back off on temporary accept
 * errors. Big buffers are kept while a connection is busy and released after an
 * idle tick. */
#include "core/core.h"
#include "base/gofmt.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "core/tls.h"

#include <openssl/err.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <limits.h>
#include <unistd.h>

server_t *srv;

/* Every worker registers with qsbr, and so does the monitor thread: a full worker
 * complement must leave slots for them (it aborted at 64 workers with -m). */
_Static_assert(MAX_WORKERS + 16 <= QSBR_MAX_THREADS, "qsbr slots for every worker and helper");

static const char *reason_str[] = {
    [CR_NONE] = "",
    [CR_CLIENT_CLOSED] = "Client Closed",
    [CR_AUTH_TIMEOUT] = "Authentication Timeout",
    [CR_AUTH_VIOLATION] = "Authentication Failure",
    [CR_TLS_HANDSHAKE] = "TLS Handshake Failure",
    [CR_SLOW_PENDING] = "Slow Consumer (Pending Bytes)",
    [CR_SLOW_DEADLINE] = "Slow Consumer (Write Deadline)",
    [CR_WRITE_ERROR] = "Write Error",
    [CR_READ_ERROR] = "Read Error",
    [CR_PARSE_ERROR] = "Parse Error",
    [CR_STALE] = "Stale Connection",
    [CR_PROTOCOL_VIOLATION] = "Protocol Violation",
    [CR_BAD_PROTOCOL] = "Bad Client Protocol Version",
    [CR_MAX_CONNECTIONS] = "Maximum Connections Exceeded",
    [CR_MAX_PAYLOAD] = "Maximum Message Payload Exceeded",
    [CR_MAX_CONTROL_LINE] = "Maximum Control Line Exceeded",
    [CR_MAX_SUBS] = "Maximum Subscriptions Exceeded",
    [CR_SHUTDOWN] = "Server Shutdown",
    [CR_NO_RESPONDERS_HEADERS] = "No Responders Requires Headers",
    [CR_AUTH_EXPIRED] = "Authentication Expired",
    [CR_LAME_DUCK] = "Lame Duck Mode",
    [CR_CLIENT_ERR] = "Client Closed",
    [CR_DUPLICATE_ROUTE] = "Duplicate Route",
    [CR_CLUSTER_NAME_CONFLICT] = "Cluster Name Conflict",
    [CR_DUPLICATE_SERVER_NAME] = "Duplicate Server Name",
    [CR_ROUTE_REMOVED] = "Route Removed",
};

const char *close_reason_str(close_reason_t r)
{
    return (unsigned)r < ARRAY_LEN(reason_str) && reason_str[r] ? reason_str[r] : "Unknown";
}

uint64_t worker_rand(worker_t *w)
{
    /* xorshift64*: per-worker, no shared state on the delivery path. */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void worker_note_deadline(worker_t *w, int64_t t)
{
    if (t && (w->next_deadline_ns == 0 || t < w->next_deadline_ns)) w->next_deadline_ns = t;
}

static void wake(worker_t *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->evfd, &one, sizeof one);
    (void)r;
}

void server_wake_all(void)
{
    for (int i = 0; i < srv->nworkers; i++)
        wake(&srv->workers[i]);
}

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

bool conn_request_close(conn_t *c, close_reason_t r)
{
    int expected = CR_NONE;
    if (!atomic_compare_exchange_strong(&c->close_req, &expected, (int)r)) return false;
    atomic_store(&c->w->close_reqs, true);
    wake(c->w);
    return true;
}

static bool flush_run(conn_t *c, bool unlocked);

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
static size_t stage_limit(void)
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

static void slow_consumer(conn_t *c)
{
    if (!conn_request_close(c, CR_SLOW_PENDING)) return; /* condemned already: one verdict */
    atomic_fetch_add(&srv->slow_consumers, 1);
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
    if (c->out.len == 0) { /* usual case: hand the whole buffer over, no copy */
        buf_t t = c->out;
        c->out = s->buf;
        s->buf = t;
    } else {
        buf_append(&c->out, s->buf.p, n);
    }
    c->out_total += n;
    w->round_bytes += n;
    c->out_msgs += s->msgs;
    c->out_bytes += s->bytes;
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

static inline stage_t *stage_slot(worker_t *w, const conn_t *c)
{
    return &w->stages[((uintptr_t)c * 0x9E3779B97F4A7C15ULL) >> 58];
}

static stage_t *stage_for(worker_t *w, conn_t *c)
{
    stage_t *s = stage_slot(w, c);
    if (likely(s->conn == c)) return s;
    if (s->conn)
        stage_commit(w, s); /* collision: the other connection's bytes go now */
    else
        w->staged[w->nstaged++] = (uint8_t)(s - w->stages);
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
        }
    }
    w->nstaged = 0;
}

/* Commits w's stage for c, if any (c is about to be flushed or closed). */
static void stage_commit_conn(worker_t *w, conn_t *c)
{
    stage_t *s = stage_slot(w, c);
    /* The slot stays taken (and listed once in w->staged) until stages_commit_all:
     * freeing it here let a later connection list it again, past NSTAGE entries.
     * A closed connection stages nothing more (out_closed), and the pointer is
     * dropped before the quiescent point like every other. */
    if (s->conn == c) stage_commit(w, s);
}

char *conn_msg_room(worker_t *w, conn_t *c, size_t max)
{
    if (unlikely(atomic_load_explicit(&c->out_closed, memory_order_relaxed))) return NULL;
    stage_t *s = stage_for(w, c);
    buf_reserve(&s->buf, max);
    return s->buf.p + s->buf.len;
}

/* n bytes written at conn_msg_room's pointer; msgs counts delivered messages (0 or 1). */
static void stage_put(worker_t *w, conn_t *c, size_t n, uint64_t msgs, uint64_t size)
{
    stage_t *s = stage_slot(w, c); /* conn_msg_room made it c's */
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
 * no flusher is active; with unlocked (plain sockets only: an SSL object must not be
 * used by two threads, and the owner reads through it) the lock is released around
 * each send so producers keep appending meanwhile. Returns false on a write error. */
static bool flush_run(conn_t *c, bool unlocked)
{
    if (c->fd_gone) return true;
    bool ok = true;
    c->flushing = true;
    for (;;) {
        c->flush_again = false;
        if (c->wpos == c->wbuf.len) {
            c->wpos = c->wbuf.len = 0;
            if (c->out.len == 0) {
                c->stall_ns = 0;
                break;
            }
            buf_t t = c->wbuf;
            c->wbuf = c->out;
            c->out = t;
        }
        const char *p = c->wbuf.p + c->wpos;
        size_t len = c->wbuf.len - c->wpos;
        if (c->ssl && c->tls_done) {
            int n = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
            if (n > 0) {
                c->wpos += (size_t)n;
                if (c->ops->deadline_from_progress) c->stall_ns = 0; /* conn_write_deadline */
                continue;
            }
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                if (!c->stall_ns) c->stall_ns = now_mono_ns();
            } else {
                ERR_clear_error();
                ok = false;
            }
            break;
        }
        /* Plain socket, or the plaintext INFO before a TLS handshake. */
        if (unlocked) spin_unlock(&c->out_lock);
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        int err = errno;
        if (unlocked) spin_lock(&c->out_lock);
        if (n > 0) {
            c->wpos += (size_t)n;
            if (c->ops->deadline_from_progress) c->stall_ns = 0; /* conn_write_deadline */
            continue;
        }
        if (n < 0 && err == EINTR) continue;
        if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
            if (!c->stall_ns) c->stall_ns = now_mono_ns();
            /* Someone asked while we were writing (perhaps the owner on EPOLLOUT, which
             * will not come again): one more try. */
            if (c->flush_again) continue;
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
    if (w && c->w != w && !c->ssl && c->out.len >= KICK_MIN && w->round_bytes >= KICK_ROUND) {
        spin_unlock(&c->out_lock);
        kick(c);
        return;
    }
    bool ok = flush_run(c, c->ssl == NULL);
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

/* Puts c on its owner's kick list; the owner writes it at its next pass. */
static void kick(conn_t *c)
{
    worker_t *o = c->w;
    spin_lock(&o->kick_lock);
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
static void run_kicks(worker_t *w)
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

/* Owner, closing c: no kick may refer to it any more. */
static void unkick(conn_t *c)
{
    worker_t *w = c->w;
    spin_lock(&w->kick_lock);
    c->no_kick = true;
    if (c->kicked) {
        for (size_t i = 0; i < w->kick_len; i++) {
            if (w->kickq[i] == c) {
                w->kickq[i] = w->kickq[--w->kick_len];
                break;
            }
        }
        c->kicked = false;
    }
    spin_unlock(&w->kick_lock);
}

/* ---- connection lifecycle ---------------------------------------------- */

static void conn_free_cb(void *p)
{
    conn_t *c = p;
    if (c->ssl) SSL_free(c->ssl);
    tls_ctx_unref(c->tls);
    buf_free(&c->out);
    buf_free(&c->wbuf);
    c->ops->free(c);
    free(c);
}

/* A grace period after an UNSUB (conn_unsub_wait below). */
struct unsub_token {
    conn_t *c; /* owner only: NULL once the connection closed */
    worker_t *w;
    struct unsub_token *next;
};

static void unstall(worker_t *w, conn_t *c);

void conn_close(conn_t *c, close_reason_t r)
{
    worker_t *w = c->w;
    if (c->fd < 0) return;
    c->closing = true;
    if (c->reason == CR_NONE) c->reason = r;
    if (c->stall_until_ns) unstall(w, c);
    if (c->unsub_wait) { /* the token outlives us: its callback finds no connection */
        c->unsub_wait->c = NULL;
        c->unsub_wait = NULL;
        w->unsub_waits--;
    }
    stage_commit_conn(w, c); /* last words (-ERR ...) */
    spin_lock(&c->out_lock);
    c->out_closed = true;
    spin_unlock(&c->out_lock);
    unkick(c);
    c->ops->closed(c);
    /* Last words (-ERR ...) go out best effort; then nobody may write to the fd. Another
     * worker may be in send() on it right now: wait for that to end before closing it. */
    spin_lock(&c->out_lock);
    while (c->flushing) {
        spin_unlock(&c->out_lock);
        sched_yield();
        spin_lock(&c->out_lock);
    }
    if (r != CR_SLOW_PENDING && r != CR_SLOW_DEADLINE && r != CR_WRITE_ERROR) flush_run(c, false);
    c->fd_gone = true;
    spin_unlock(&c->out_lock);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->ops->gone(c);
    /* unlink from the owner's list */
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    qsbr_retire(c, conn_free_cb);
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void conn_adopt(worker_t *w, inq_item_t *it)
{
    int fd = it->fd;
    conn_t *c = xcalloc(1, sizeof *c);
    spin_init(&c->out_lock);
    c->fd = fd;
    c->w = w;
    c->ops = it->ops;
    c->kind = it->ops->kind;
    c->cid = atomic_fetch_add(&srv->next_cid, 1);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, c->ip, sizeof c->ip);
            c->port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, c->ip, sizeof c->ip);
            c->port = ntohs(a->sin6_port);
        }
    }
    const char *tag = c->ops->tag;
    if (strchr(c->ip, ':'))
        snprintf(c->prefix, sizeof c->prefix, "[%s]:%d - %s:%llu - ", c->ip, c->port, tag,
                 (unsigned long long)c->cid);
    else
        snprintf(c->prefix, sizeof c->prefix, "%s:%d - %s:%llu - ", c->ip, c->port, tag,
                 (unsigned long long)c->cid);
    c->start_wall_ns = now_wall_ns();
    atomic_store_explicit(&c->last_activity_ns, w->now_ns, memory_order_relaxed);
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
    c->ops->init(w, c, it);
    if (c->closing) conn_close(c, c->reason);
}

void conn_tls_accept(worker_t *w, conn_t *c, tls_ctx_t *t, bool optional)
{
    c->tls = tls_ctx_ref(t);
    c->ssl = SSL_new(t->ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_accept_state(c->ssl);
    c->tls_due_ns = w->now_ns + t->timeout_ns;
    c->tls_optional = optional;
    worker_note_deadline(w, c->tls_due_ns);
}

/* TLS connection_rate_limit: a budget of new TLS connections per second. */
bool conn_tls_rate_ok(void)
{
    static _Atomic int64_t window_s, count;
    int64_t limit = srv->opts->tls.connection_rate_limit;
    if (limit <= 0) return true;
    int64_t now_s = now_mono_ns() / 1000000000LL;
    int64_t w = atomic_load(&window_s);
    if (w != now_s && atomic_compare_exchange_strong(&window_s, &w, now_s)) atomic_store(&count, 0);
    return atomic_fetch_add(&count, 1) < limit;
}

void conn_tls_plain(worker_t *w, conn_t *c)
{
    c->tls_optional = false;
    spin_lock(&c->out_lock);
    SSL_free(c->ssl);
    c->ssl = NULL;
    spin_unlock(&c->out_lock);
    tls_ctx_unref(c->tls);
    c->tls = NULL;
    c->tls_due_ns = 0;
    c->ops->tls_done(w, c);
}

/* Drives the server side of the handshake. Returns true once application data may flow. */
static bool tls_handshake(worker_t *w, conn_t *c)
{
    if (c->tls_done) return true;
    if (c->tls_optional) {
        /* allow_non_tls: a TLS ClientHello starts with 0x16, anything else is
         * plaintext; so is a client that closes (or fails) before its first
         * byte, whose end the plaintext path then reports as the reference does. */
        unsigned char first;
        ssize_t n = recv(c->fd, &first, 1, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
        if (n != 1 || first != 0x16) {
            conn_tls_plain(w, c);
            return true;
        }
        c->tls_optional = false;
    }
    spin_lock(&c->out_lock);
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, rc);
    char why[256] = "";
    if (rc != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        tls_handshake_error(c->ssl, why, sizeof why);
    spin_unlock(&c->out_lock);
    if (rc != 1) {
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
        ERROR("%sTLS %shandshake error: %s", c->prefix, c->ops->tls_word, why);
        c->closing = true;
        c->reason = CR_TLS_HANDSHAKE;
        return false;
    }
    if (c->tls_due_ns && now_mono_ns() > c->tls_due_ns) {
        /* Finished after its deadline: a timeout, as with a socket deadline. */
        ERROR("%sTLS %shandshake error: i/o timeout", c->prefix, c->ops->tls_word);
        c->closing = true;
        c->reason = CR_TLS_HANDSHAKE;
        return false;
    }
    if (!tls_pinned_ok(c->tls, c->ssl)) {
        ERROR("%sTLS handshake error: certificate not pinned", c->prefix);
        c->closing = true;
        c->reason = CR_TLS_HANDSHAKE;
        return false;
    }
    spin_lock(&c->out_lock);
    c->tls_done = true;
    spin_unlock(&c->out_lock);
    c->tls_due_ns = 0;
    if (log_debug_on) {
        char cipher[128];
        tls_cipher_name(c->ssl, cipher, sizeof cipher);
        DEBUG("%sTLS handshake complete", c->prefix);
        DEBUG("%sTLS version %s, cipher suite %s", c->prefix, tls_version_name(c->ssl), cipher);
    }
    c->ops->tls_done(w, c);
    return true;
}

void conn_flush_handshake(worker_t *w, conn_t *c)
{
    tls_handshake(w, c);
}

/* One read through the transport seam: >0 bytes, 0 EOF, -1 would block, -2 error. */
static ssize_t conn_recv(conn_t *c, char *buf, size_t room)
{
    if (!c->ssl) {
        ssize_t n = read(c->fd, buf, room);
        if (n >= 0) return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
        return errno == EINTR ? -1 : -2;
    }
    spin_lock(&c->out_lock);
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, room > INT_MAX ? INT_MAX : (int)room);
    int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
    spin_unlock(&c->out_lock);
    if (n > 0) return n;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -1;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    ERR_clear_error();
    return e == SSL_ERROR_SYSCALL && errno == 0 ? 0 : -2;
}

static void hand_to(worker_t *self, worker_t *w, inq_item_t *it)
{
    if (w == self) {
        conn_adopt(self, it);
        free(it->url);
        return;
    }
    pthread_mutex_lock(&w->inq_lock);
    if (w->inq_len == w->inq_cap) {
        w->inq_cap = w->inq_cap ? w->inq_cap * 2 : 16;
        w->inq = xrealloc(w->inq, w->inq_cap * sizeof *w->inq);
    }
    w->inq[w->inq_len++] = *it;
    pthread_mutex_unlock(&w->inq_lock);
    wake(w);
}

void server_hand_off(inq_item_t *it)
{
    uint32_t k = atomic_fetch_add(&srv->rr, 1) % (uint32_t)srv->nworkers;
    hand_to(NULL, &srv->workers[k], it);
}

/* ---- accepting ------------------------------------------------------------ */

bool accept_error_temporary(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

int64_t accept_backoff_begin(accept_backoff_t *b, const char *name, int lfd, int err,
                             int64_t now_ns)
{
    int64_t idle = 0, d = atomic_load(&b->delay_ns);
    int64_t min = b->min_ns ? b->min_ns : ACCEPT_MIN_SLEEP_NS;
    if (d < min) d = min;
    /* One back-off at a time: the thread that starts it logs it and resumes the listener. */
    if (!atomic_compare_exchange_strong(&b->resume_ns, &idle, now_ns + d)) return 0;
    atomic_store(&b->delay_ns, d * 2 < ACCEPT_MAX_SLEEP_NS ? d * 2 : ACCEPT_MAX_SLEEP_NS);
    char addr[INET6_ADDRSTRLEN + 8] = "";
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "";
        int port = 0;
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            snprintf(addr, sizeof addr, "[%s]:%d", ip, port);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            snprintf(addr, sizeof addr, "%s:%d", ip, port);
        }
    }
    /* The reference's line, Go's error text (lower-case strerror) included. */
    char why[128];
    snprintf(why, sizeof why, "%s", strerror(err));
    why[0] = (char)tolower((unsigned char)why[0]);
    if (b->log)
        b->log(addr, why, d);
    else
        ERROR("Temporary %s Accept Error(accept tcp %s: accept4: %s), sleeping %lldms", name, addr,
              why, (long long)(d / 1000000));
    return d;
}

void accept_backoff_ok(accept_backoff_t *b)
{
    if (unlikely(atomic_load_explicit(&b->delay_ns, memory_order_relaxed)))
        atomic_store_explicit(&b->delay_ns, 0, memory_order_relaxed);
}

/* The worker listeners (the client port, the route port...): one row each, registered
 * before the workers start (listener_add); their epoll data.ptr is the row. */
static struct listener {
    _Atomic int fd;        /* -1 once removed (lame duck, shutdown) */
    const char *name;      /* "Client": the reference's accept-error line */
    const conn_ops_t *ops; /* of the connections it accepts */
    accept_backoff_t bo;
    _Atomic int owner; /* the worker that puts it back, -1 = none */
    int paused_fd;     /* the listener out of the epoll sets (fd may be reset meanwhile) */
} listeners[MAX_LISTENERS];
static int nlisteners;

static bool is_listener(const void *p)
{
    return (uintptr_t)p >= (uintptr_t)listeners &&
           (uintptr_t)p < (uintptr_t)(listeners + MAX_LISTENERS);
}

void listener_add(int fd, const char *name, const conn_ops_t *ops)
{
    if (nlisteners == MAX_LISTENERS) abort();
    struct listener *l = &listeners[nlisteners++];
    atomic_store(&l->fd, fd);
    l->name = name;
    l->ops = ops;
    atomic_store(&l->owner, -1);
    for (int i = 0; i < srv->nworkers; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = l};
        epoll_ctl(srv->workers[i].epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

void listener_remove(int fd)
{
    for (int k = 0; k < nlisteners; k++) {
        int cur = fd;
        if (fd >= 0 && atomic_compare_exchange_strong(&listeners[k].fd, &cur, -1)) break;
    }
    for (int i = 0; i < srv->nworkers; i++)
        epoll_ctl(srv->workers[i].epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

/* A temporary accept error (out of descriptors or memory) on a level-triggered listener
 * would wake every worker again at once (137,000 log lines a second): the listener leaves
 * every worker's epoll set for the back-off, connections already open are served
 * meanwhile, and the worker that paused it puts it back (run_listeners). */
static void listener_pause(worker_t *self, struct listener *l, int lfd, int err)
{
    int64_t d = accept_backoff_begin(&l->bo, l->name, lfd, err, self->now_ns);
    if (!d) return;
    l->paused_fd = lfd;
    atomic_store(&l->owner, self->id);
    for (int i = 0; i < srv->nworkers; i++)
        epoll_ctl(srv->workers[i].epfd, EPOLL_CTL_DEL, lfd, NULL);
    self->listener_paused = true;
    worker_note_deadline(self, self->now_ns + d);
}

/* Owner of a paused listener: back in every epoll set once its back-off is over. */
static void run_listeners(worker_t *w)
{
    bool left = false;
    for (int k = 0; k < nlisteners; k++) {
        struct listener *l = &listeners[k];
        if (atomic_load(&l->owner) != w->id) continue;
        int64_t due = atomic_load(&l->bo.resume_ns);
        if (w->now_ns < due) {
            worker_note_deadline(w, due);
            left = true;
            continue;
        }
        if (atomic_load(&l->fd) == l->paused_fd) { /* not closed meanwhile (lame duck, shutdown) */
            for (int i = 0; i < srv->nworkers; i++) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = l};
                epoll_ctl(srv->workers[i].epfd, EPOLL_CTL_ADD, l->paused_fd, &ev);
            }
        }
        atomic_store(&l->owner, -1);
        atomic_store(&l->bo.resume_ns, 0);
    }
    w->listener_paused = left;
}

/* Accepts everything pending on l and spreads the sockets round-robin. */
static void do_accept(worker_t *self, struct listener *l)
{
    int lfd = atomic_load(&l->fd);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED) continue;
            if (e == EAGAIN || e == EWOULDBLOCK) return;
            if (accept_error_temporary(e)) {
                listener_pause(self, l, lfd, e);
            } else if (lfd >= 0) {
                ERROR("Error accepting %s connection: %s", l->ops->name, strerror(e));
            }
            return;
        }
        accept_backoff_ok(&l->bo);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        uint32_t k = atomic_fetch_add(&srv->rr, 1) % (uint32_t)srv->nworkers;
        inq_item_t it = {.fd = fd, .ops = l->ops};
        hand_to(self, &srv->workers[k], &it);
    }
}

static void flush_pending(worker_t *w);

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
    worker_note_deadline(w, c->stall_until_ns);
}

static void unstall(worker_t *w, conn_t *c);

/* After a read whose deliveries left consumers behind: pauses c, unless every one of
 * them has caught up meanwhile (often during this very batch's flush); a consumer that
 * catches up later releases c through stall_release. Returns whether c is paused. */
static bool pause_if_behind(worker_t *w, conn_t *c)
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

static void unstall(worker_t *w, conn_t *c)
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

/* ---- reading ----------------------------------------------------------- */

static void save_partial(conn_t *c, const char *p, size_t n, size_t need)
{
    if (n == 0) {
        c->part_len = 0;
        c->part_need = 0;
        if (c->part_cap > 4096) {
            free(c->part);
            c->part = NULL;
            c->part_cap = 0;
        }
        return;
    }
    size_t want = n > need ? n : need;
    if (c->part_cap < want) {
        size_t cap = c->part_cap ? c->part_cap : 512;
        while (cap < want)
            cap *= 2;
        char *np = xmalloc(cap);
        memcpy(np, p, n);
        free(c->part);
        c->part = np;
        c->part_cap = cap;
    } else if (p != c->part) {
        memmove(c->part, p, n);
    }
    c->part_len = n;
    c->part_need = need;
}

/* The longest incomplete control line a connection may leave buffered, for every kind:
 * max_control_line plus the parser's slack. The client parser enforces the same bound
 * first, with the exact count the reference uses; routes, whose lines the reference does
 * not bound at all (an INFO lists every client URL of the cluster, an RMSG every queue
 * group that won), get at least their table's line_min (64 KiB). */
static size_t conn_line_max(const conn_t *c)
{
    int64_t mcl = srv->opts->max_control_line;
    if (mcl < c->ops->line_min) mcl = c->ops->line_min;
    return (size_t)mcl + PARSE_LINE_SLACK + 16; /* + the op name and CR */
}

/* Reads and processes until the socket is drained (edge-triggered). */
static void conn_read(worker_t *w, conn_t *c)
{
    /* conn_resume reads once the password check (or the UNSUB's grace period) is done */
    if (conn_read_paused(c)) return;
    if (c->ssl && !tls_handshake(w, c)) {
        if (c->closing) conn_close(c, c->reason);
        return;
    }
    /* TLS may hold decrypted bytes the socket no longer signals: read it until it blocks. */
    int max_rounds = c->ssl ? 1 << 20 : 16;
    for (int rounds = 0; rounds < max_rounds && !c->closing; rounds++) {
        char *buf;
        size_t len, cap;
        bool big = c->part_len && (c->part_need > RBUF_SIZE || c->part_len >= RBUF_SIZE);
        if (big) {
            size_t want = c->part_need > c->part_len ? c->part_need : c->part_len + RBUF_SIZE;
            if (c->part_cap < want) {
                size_t ncap = c->part_cap;
                while (ncap < want)
                    ncap *= 2;
                c->part = xrealloc(c->part, ncap);
                c->part_cap = ncap;
            }
            buf = c->part;
            len = c->part_len;
            cap = c->part_cap;
        } else {
            buf = w->rbuf;
            len = c->part_len;
            cap = RBUF_SIZE;
            if (len) memcpy(buf, c->part, len);
        }
        size_t room = cap - len;
        /* A stream that fans out nothing (no subscriber) is read in smaller pieces:
         * measured faster for the publisher (the loopback path's cost is shared
         * differently); output-producing streams keep big batches. */
        if (c->quiet_reads && room > QUIET_READ) room = QUIET_READ;
        size_t staged_before = w->staged_total;
        /* Operations left from a read cut short go first: no new edge announces them. */
        bool more = c->part_more;
        c->part_more = false;
        ssize_t n = 0;
        if (!more) {
            n = conn_recv(c, buf + len, room);
            if (n <= 0) {
                if (n == -1) {
                    if (!big && len) save_partial(c, buf, len, c->part_need);
                    return;
                }
                conn_close(c, n == 0 ? CR_CLIENT_CLOSED : CR_READ_ERROR);
                return;
            }
            len += (size_t)n;
        }
        size_t used = 0, need = 0;
        for (;;) {
            used += c->ops->process(w, c, buf + used, len - used, &need);
            if (c->closing) {
                conn_close(c, c->reason);
                return;
            }
            /* A consumer passed the stall threshold in the middle of the read (the client
             * parser stops there): deliver, and pause here if it is still behind, so one
             * read cannot push a consumer that keeps up past max_pending. */
            if (used == len || !(w->nover || w->over_lost)) break;
            flush_pending(w);
            if (pause_if_behind(w, c)) {
                save_partial(c, buf + used, len - used, 0);
                c->part_more = true;
                return;
            }
        }
        if (unlikely(need > conn_line_max(c) + (size_t)srv->opts->max_pending)) {
            /* One operation bigger than max_pending (which max_payload may not exceed)
             * could only cut every consumer: not buffered. The client parser refuses
             * max_payload first; this bounds what a route peer may announce (the
             * reference takes any size a route sends). */
            ERROR("%smaximum payload exceeded: %zu vs max_pending %lld", c->prefix, need,
                  (long long)srv->opts->max_pending);
            c->ops->send_err(w, c, "Maximum Payload Violation");
            conn_close(c, CR_MAX_PAYLOAD);
            return;
        }
        if (need == 0 && !conn_read_paused(c) && len - used > conn_line_max(c)) {
            /* An operation whose control line never ends: no more buffering. */
            ERROR("%smaximum control line exceeded: max_control_line %d, buffer len %zu", c->prefix,
                  srv->opts->max_control_line, len - used);
            c->ops->send_err(w, c, "maximum control line exceeded");
            conn_close(c, CR_MAX_CONTROL_LINE);
            return;
        }
        save_partial(c, buf + used, len - used, need);
        c->quiet_reads = w->staged_total == staged_before;
        /* Deliver what this read produced before reading more: bounded buffers, low latency. */
        flush_pending(w);
        if (unlikely(w->nover || w->over_lost) && pause_if_behind(w, c)) return;
        if (conn_read_paused(c)) return; /* paused: conn_resume goes on */
        if (more) continue;              /* the socket was not read: it may hold more */
        /* A short read drained the socket; the next bytes bring a new edge. Not after the
         * peer's FIN: its edge came with these bytes, and only reading on sees the EOF. */
        if ((size_t)n < room && !c->ssl && !c->peer_hup) return;
    }
    if (!c->closing) {
        /* Budget spent with data possibly left: edge-triggered epoll will not tell us again. */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

void conn_resume(worker_t *w, conn_t *c)
{
    /* What the client sent after CONNECT waits in part: conn_read takes it before the
     * socket (edges that came meanwhile were skipped), and keeps it if a consumer makes
     * us pause. */
    if (c->part_len) c->part_more = true;
    conn_read(w, c);
}

/* ---- the UNSUB's grace period ------------------------------------------------------- *
 * A publisher's worker stages deliveries and commits them to the subscriber's buffer at
 * the end of its read, always before its next quiescent point. So once every worker passed
 * one after an UNSUB, all that was staged while the subscription was open is in the
 * buffer: a qsbr retirement's callback is that signal. It runs on the owner worker (the
 * retirement is in its slot) inside qsbr_quiescent, where it only queues the token; the
 * worker loop resumes the connection right after. At shutdown (qsbr_drain_all, on another
 * thread) the connection is closed already and the token just freed. */

static void unsub_token_cb(void *p)
{
    struct unsub_token *t = p;
    if (!t->c) {
        free(t);
        return;
    }
    t->next = t->w->unsub_ready;
    t->w->unsub_ready = t;
}

void conn_unsub_wait(worker_t *w, conn_t *c)
{
    struct unsub_token *t = xcalloc(1, sizeof *t);
    t->c = c;
    t->w = w;
    c->unsub_grace = false;
    c->unsub_wait = t;
    w->unsub_waits++;
    qsbr_retire(t, unsub_token_cb);
}

static void run_unsub_ready(worker_t *w)
{
    struct unsub_token *list = w->unsub_ready;
    w->unsub_ready = NULL;
    while (list) {
        struct unsub_token *t = list;
        list = t->next;
        conn_t *c = t->c;
        free(t);
        if (!c) continue;
        c->unsub_wait = NULL;
        w->unsub_waits--;
        if (!c->stall_until_ns)
            conn_resume(w, c); /* the PING first, then what followed it */
        else if (c->part_len)
            c->part_more = true; /* run_stalled reads it when the stall ends */
    }
    if (!w->unsub_waits) w->unsub_spins = 0;
}

/* ---- the worker loop --------------------------------------------------- */

static void flush_pending(worker_t *w)
{
    stages_commit_all(w);
    uint64_t bit = 1ULL << w->id;
    /* Delivery while flushing may queue more; loop until empty. */
    for (size_t i = 0; i < w->flushq_len; i++) {
        conn_t *c = w->flushq[i];
        atomic_fetch_and_explicit(&c->flush_mask, ~bit, memory_order_acq_rel);
        flush_from(w, c);
    }
    w->flushq_len = 0;
    w->round_bytes = 0;
}

static void handle_close_reqs(worker_t *w)
{
    if (!atomic_exchange(&w->close_reqs, false)) return;
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        int r = atomic_load(&c->close_req);
        if (r != CR_NONE) conn_close(c, (close_reason_t)r);
    }
}

static void conn_read(worker_t *w, conn_t *c);

/* Producers whose pause is over read again (their socket may hold data already). */
static void run_stalled(worker_t *w)
{
    if (atomic_exchange(&w->stall_release, false))
        for (size_t i = 0; i < w->nstalled; i++)
            w->stalled[i]->stall_until_ns = w->now_ns;
    for (size_t i = 0; i < w->nstalled;) {
        conn_t *c = w->stalled[i];
        if (c->stall_until_ns > w->now_ns) {
            worker_note_deadline(w, c->stall_until_ns);
            i++;
            continue;
        }
        if (c->stall_until_ns < w->now_ns) /* not released: the pause ran out */
            DEBUG("%sTimed out of fast producer stall (%lldms)", c->prefix,
                  (long long)(c->stall_len_ns / 1000000));
        unstall(w, c);
        conn_read(w, c);
        i = 0; /* the list may have changed */
    }
}

/* A large outbound buffer is kept while the connection is busy (freeing it after each
 * flush cost a page fault per 4 KiB at every refill) and released once a whole
 * housekeeping tick passed without new bytes. */
#define OUT_KEEP (64 * 1024)
static void trim_out(conn_t *c)
{
    spin_lock(&c->out_lock);
    if ((c->out.cap > OUT_KEEP || c->wbuf.cap > OUT_KEEP) && !c->flushing &&
        conn_out_pending(c) == 0) {
        if (c->out_total == c->trim_mark) {
            buf_free(&c->out);
            buf_free(&c->wbuf);
            c->wpos = 0;
        } else {
            c->trim_mark = c->out_total;
        }
    }
    spin_unlock(&c->out_lock);
}

/* write_deadline, for every kind: writes blocked that long make a slow consumer. A client
 * is measured from its first blocked write until everything was written; a route from
 * its last write that made progress, as the reference closes a route only when a write
 * timed out having sent nothing. */
static void conn_write_deadline(worker_t *w, conn_t *c)
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
    atomic_fetch_add(&srv->slow_consumers, 1);
    NOTICE("%sSlow Consumer Detected: WriteDeadline of %s exceeded with %d chunks of %zu total "
           "bytes.",
           c->prefix, d, 1, pend);
}

static void run_timers(worker_t *w)
{
    if (!w->next_deadline_ns || w->now_ns < w->next_deadline_ns) return;
    w->next_deadline_ns = 0;
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        c->ops->timer(w, c);
        if (!c->closing) conn_write_deadline(w, c);
        trim_out(c);
        if (c->closing) conn_close(c, c->reason);
    }
    /* Stage buffers not used for a whole tick go back too. */
    for (int k = 0; k < NSTAGE; k++) {
        stage_t *st = &w->stages[k];
        if (!st->used && !st->conn && st->buf.cap > OUT_KEEP) buf_free(&st->buf);
        st->used = false;
    }
    /* Housekeeping (write deadlines, auto-unsubscribed subs) at least 4 times a second. */
    if (w->conns) worker_note_deadline(w, w->now_ns + 250000000LL);
}

static void drain_inq(worker_t *w)
{
    pthread_mutex_lock(&w->inq_lock);
    size_t n = w->inq_len;
    if (n == 0) {
        pthread_mutex_unlock(&w->inq_lock);
        return;
    }
    inq_item_t items[64];
    if (n > ARRAY_LEN(items)) n = ARRAY_LEN(items);
    memcpy(items, w->inq, n * sizeof *items);
    memmove(w->inq, w->inq + n, (w->inq_len - n) * sizeof *items);
    w->inq_len -= n;
    bool more = w->inq_len > 0;
    pthread_mutex_unlock(&w->inq_lock);
    for (size_t i = 0; i < n; i++) {
        conn_adopt(w, &items[i]);
        free(items[i].url);
    }
    if (more) wake(w);
}

void worker_command_one(worker_t *w, uint32_t cmd)
{
    atomic_fetch_or(&w->cmds, cmd);
    wake(w);
}

void worker_command(uint32_t cmd)
{
    for (int i = 0; i < srv->nworkers; i++) {
        atomic_fetch_or(&srv->workers[i].cmds, cmd);
        wake(&srv->workers[i]);
    }
}

static void run_snapshot(worker_t *w);

/* Commands run once per worker (worker_on_command), by bit. */
static void (*worker_cmd_fns[32])(worker_t *w);
static uint32_t worker_cmd_hooked;

void worker_on_command(uint32_t cmd, void (*fn)(worker_t *w))
{
    for (int b = 0; b < 32; b++)
        if (cmd & (1u << b)) worker_cmd_fns[b] = fn;
    worker_cmd_hooked |= cmd;
}

static void run_commands(worker_t *w)
{
    uint32_t cmd = atomic_exchange(&w->cmds, 0);
    /* e.g. password-check verdicts: touch only the connections concerned */
    for (uint32_t m = cmd & worker_cmd_hooked; m; m &= m - 1)
        worker_cmd_fns[__builtin_ctz(m)](w);
    cmd &= ~worker_cmd_hooked;
    if (!cmd) return;
    if (cmd & WCMD_SNAPSHOT) run_snapshot(w);
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (!c->ops->command) continue;
        c->ops->command(w, c, cmd);
        if (c->closing) conn_close(c, c->reason);
    }
    if (cmd & WCMD_LDM_CLOSE) atomic_store(&w->ldm_close_quota, 0);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    qsbr_register();
    w->stage_limit = stage_limit();
    struct epoll_event evs[256];
    while (!atomic_load_explicit(&srv->shutting_down, memory_order_relaxed)) {
        int timeout = -1;
        if (w->next_deadline_ns) {
            int64_t d = w->next_deadline_ns - now_mono_ns();
            timeout = d <= 0 ? 0 : (int)(d / 1000000) + 1;
        }
        if (unlikely(w->unsub_waits)) {
            /* Only our quiescent points move the grace period on (the others' are
             * passive): poll a few rounds, then tick every millisecond. */
            timeout = w->unsub_spins++ < 8 ? 0 : 1;
        }
        int n = 0;
        /* Measured: polling without sleeping after busy passes won 20% at 16 KiB publishes
         * but lost as much on pub/sub and latency, where the clients need both cores. */
        qsbr_offline();
        n = epoll_wait(w->epfd, evs, ARRAY_LEN(evs), timeout);
        qsbr_online();
        w->now_ns = now_mono_ns();
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == NULL) { /* eventfd */
                uint64_t v;
                ssize_t r = read(w->evfd, &v, sizeof v);
                (void)r;
                drain_inq(w);
                run_commands(w);
                run_kicks(w);
                continue;
            }
            if (is_listener(p)) {
                do_accept(w, p);
                continue;
            }
            conn_t *c = p;
            if (c->fd < 0) continue;
            if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->peer_hup = true;
            if ((evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
                !c->stall_until_ns && !conn_read_paused(c))
                conn_read(w, c);
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT)) {
                if (c->ssl && !c->tls_done)
                    conn_read(w, c);
                else
                    conn_flush(c);
            }
        }
        flush_pending(w);
        handle_close_reqs(w);
        w->stage_limit = stage_limit();
        if (w->nstalled) run_stalled(w);
        run_timers(w);
        if (unlikely(w->listener_paused)) run_listeners(w); /* after: run_timers resets deadlines */
        flush_pending(w);
        if (w->nover) { /* the pointers end here; the next read pauses without checking */
            w->over_lost = true;
            w->nover = 0;
        }
        qsbr_quiescent();
        if (unlikely(w->unsub_ready)) run_unsub_ready(w);
    }
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c, CR_SHUTDOWN);
    }
    qsbr_unregister();
    return NULL;
}

/* ---- startup ------------------------------------------------------------ */

static void gen_server_id(char *out)
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char rnd[55];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(rand() ^ (int)(now_mono_ns() >> (i % 16)));
    }
    if (f) fclose(f);
    out[0] = 'N';
    for (int i = 0; i < 55; i++)
        out[i + 1] = b32[rnd[i] & 31];
    out[56] = 0;
}

int server_init(opts_t *o)
{
    srv = xcalloc(1, sizeof *srv);
    srv->opts = o;
    gen_server_id(srv->server_id);
    srv->server_name = xstrdup(o->server_name && *o->server_name ? o->server_name : srv->server_id);
    srv->sl = sublist_new(!o->disable_sublist_cache);
    atomic_store(&srv->next_cid, 1);
    srv->start_wall_ns = now_wall_ns();
    srv->start_mono_ns = now_mono_ns();
    atomic_store(&srv->config_load_ns, srv->start_wall_ns);
    srv->listen_fd = srv->http_fd = -1;
    int n = o->workers;
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    /* One bit per worker in each connection's flush_mask: a host with more cores gets
     * MAX_WORKERS workers (server_start says so when --workers asked for more). */
    if (n > MAX_WORKERS) n = MAX_WORKERS;
    srv->nworkers = n;
    srv->workers = xcalloc((size_t)n, sizeof(worker_t));
    return 0;
}

/* Binds host:port; port -1 picks a free one. Returns fd or -1 with err. */
int listen_on(const char *host, int port, int *bound_port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port < 0 ? 0 : port);
    const char *h = host && *host ? host : NULL;
    int rc = getaddrinfo(h, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen tcp %s:%d: %s", host ? host : "", port, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    int saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "listen tcp %s:%d: bind: %s", host ? host : "", port,
                 saved == EADDRINUSE ? "address already in use" : strerror(saved));
        return -1;
    }
    set_nonblock(fd);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

void server_prepare(void)
{
    opts_t *o = srv->opts;
    if (o->workers > MAX_WORKERS)
        WARN("--workers %d is more than the maximum of %d: using %d", o->workers, MAX_WORKERS,
             srv->nworkers);
    else if (o->workers < 0)
        WARN("--workers %d is not a valid count: using one per core (%d)", o->workers,
             srv->nworkers);
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        w->id = i;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        pthread_mutex_init(&w->inq_lock, NULL);
        spin_init(&w->kick_lock);
        w->stages = xcalloc(NSTAGE, sizeof *w->stages);
        w->rbuf = xmalloc(RBUF_SIZE);
        w->rng = (uint64_t)now_mono_ns() * 2654435761ULL + (uint64_t)i * 0x9E3779B97F4A7C15ULL + 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev);
    }
}

void server_start(void)
{
    for (int i = 0; i < srv->nworkers; i++)
        pthread_create(&srv->workers[i].th, NULL, worker_main, &srv->workers[i]);
}

void server_join(void)
{
    server_wake_all();
    for (int i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i].th, NULL);
}

void server_stats(server_stats_t *st)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        st->in_msgs += atomic_load_explicit(&w->in_msgs, memory_order_relaxed);
        st->in_bytes += atomic_load_explicit(&w->in_bytes, memory_order_relaxed);
        st->out_msgs += atomic_load_explicit(&w->out_msgs, memory_order_relaxed);
        st->out_bytes += atomic_load_explicit(&w->out_bytes, memory_order_relaxed);
    }
}

/* ---- monitoring snapshots ------------------------------------------------ */

struct snap_req {
    bool with_subs;
    const conn_ops_t *ops; /* the kind asked for */
    conn_info_t *v;
    size_t n, cap;
    int pending;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;

static void snap_push(conn_info_t **v, size_t *n, size_t *cap, const conn_info_t *ci)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = *ci;
}

static void run_snapshot(worker_t *w)
{
    struct snap_req *r = w->snap;
    if (!r) return;
    conn_info_t *v = NULL;
    size_t n = 0, cap = 0;
    for (conn_t *c = w->conns; c; c = c->next) {
        if (c->ops != r->ops || c->closing) continue;
        conn_info_t ci;
        c->ops->fill_info(c, &ci, r->with_subs);
        snap_push(&v, &n, &cap, &ci);
    }
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n; i++)
        snap_push(&r->v, &r->n, &r->cap, &v[i]);
    w->snap = NULL;
    r->pending--;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    free(v);
}

static int cmp_cid(const void *a, const void *b)
{
    const conn_info_t *x = a, *y = b;
    return x->cid < y->cid ? -1 : x->cid > y->cid;
}

size_t conn_snapshot(const conn_ops_t *ops, conn_info_t **out, bool with_subs)
{
    *out = NULL;
    if (atomic_load(&srv->shutting_down)) return 0;
    pthread_mutex_lock(&snap_lock);
    struct snap_req r = {.with_subs = with_subs, .ops = ops, .pending = srv->nworkers};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    for (int i = 0; i < srv->nworkers; i++)
        srv->workers[i].snap = &r;
    worker_command(WCMD_SNAPSHOT);
    pthread_mutex_lock(&r.mu);
    while (r.pending > 0 && !atomic_load(&srv->shutting_down)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r.cv, &r.mu, &ts);
    }
    pthread_mutex_unlock(&r.mu);
    for (int i = 0; i < srv->nworkers; i++)
        srv->workers[i].snap = NULL;
    pthread_mutex_unlock(&snap_lock);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    if (r.n > 1) qsort(r.v, r.n, sizeof *r.v, cmp_cid);
    *out = r.v;
    return r.n;
}

static void conn_info_clear(conn_info_t *ci)
{
    free(ci->name);
    free(ci->lang);
    free(ci->version);
    free(ci->user);
    tls_peer_certs_free(ci->certs, ci->ncerts);
    for (size_t k = 0; k < ci->nsubs; k++) {
        free(ci->subs[k].subject);
        free(ci->subs[k].queue);
        free(ci->subs[k].sid);
    }
    free(ci->subs);
}

void conn_infos_free(conn_info_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        conn_info_clear(&v[i]);
    free(v);
}

/* Closed connections: a ring of the last CLOSED_RING, filled by owners at close. */
static struct {
    pthread_mutex_t mu;
    conn_info_t *ring;
    size_t head, n;
} closed = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

void conn_remember_closed(conn_t *c)
{
    conn_info_t ci;
    c->ops->fill_info(c, &ci, true);
    ci.stop_wall_ns = now_wall_ns();
    snprintf(ci.reason, sizeof ci.reason, "%s", close_reason_str(c->reason));
    pthread_mutex_lock(&closed.mu);
    if (!closed.ring) closed.ring = xcalloc(CLOSED_RING, sizeof *closed.ring);
    size_t idx = (closed.head + closed.n) % CLOSED_RING;
    if (closed.n == CLOSED_RING) {
        conn_info_clear(&closed.ring[closed.head]);
        closed.head = (closed.head + 1) % CLOSED_RING;
    } else {
        closed.n++;
    }
    closed.ring[idx] = ci;
    pthread_mutex_unlock(&closed.mu);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

size_t server_closed_conns(conn_info_t **out, bool with_subs)
{
    pthread_mutex_lock(&closed.mu);
    size_t n = closed.n;
    conn_info_t *v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const conn_info_t *s = &closed.ring[(closed.head + i) % CLOSED_RING];
        conn_info_t *d = &v[i];
        *d = *s;
        d->name = dup_or_null(s->name);
        d->lang = dup_or_null(s->lang);
        d->version = dup_or_null(s->version);
        d->user = dup_or_null(s->user);
        d->subs = NULL;
        d->nsubs = 0;
        if (with_subs && s->nsubs) {
            d->subs = xcalloc(s->nsubs, sizeof *d->subs);
            for (size_t k = 0; k < s->nsubs; k++) {
                d->subs[k].subject = xstrdup(s->subs[k].subject);
                d->subs[k].queue = dup_or_null(s->subs[k].queue);
                d->subs[k].sid = xstrdup(s->subs[k].sid);
                d->subs[k].msgs = s->subs[k].msgs;
                d->subs[k].max = s->subs[k].max;
            }
            d->nsubs = s->nsubs;
        }
    }
    pthread_mutex_unlock(&closed.mu);
    *out = v;
    return n;
}

/* Releases everything the server holds after server_join (leak checkers
 * run the whole test suite against the binary). */
void server_free(void)
{
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        if (w->epfd > 0) close(w->epfd);
        if (w->evfd > 0) close(w->evfd);
        for (size_t k = 0; k < w->inq_len; k++) {
            close(w->inq[k].fd);
            free(w->inq[k].url);
        }
        free(w->inq);
        free(w->flushq);
        free(w->kickq);
        free(w->kickq_spare);
        for (int k = 0; w->stages && k < NSTAGE; k++)
            buf_free(&w->stages[k].buf);
        free(w->stages);
        free(w->stalled);
        free(w->rbuf);
        buf_free(&w->scratch);
        pthread_mutex_destroy(&w->inq_lock);
    }
    free(srv->workers);
    pthread_mutex_lock(&closed.mu);
    if (closed.ring) {
        for (size_t i = 0; i < closed.n; i++)
            conn_info_clear(&closed.ring[(closed.head + i) % CLOSED_RING]);
        free(closed.ring);
        closed.ring = NULL;
        closed.n = closed.head = 0;
    }
    pthread_mutex_unlock(&closed.mu);
    qsbr_drain_all();
    sublist_free(srv->sl);
    free(atomic_load(&srv->info_prefix));
    free(atomic_load(&srv->info_suffix));
    tls_ctx_unref(atomic_load(&srv->tls_ctx));
    free(srv->server_name);
    opts_free(srv->opts);
    free(srv->opts);
    free(srv);
    srv = NULL;
}
