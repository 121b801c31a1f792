/* conn.c: a connection's lifecycle on its owner worker: adoption (the kind's
 * handler table chosen by the listener or dialer), the TLS handshake, reading
 * through the transport (plain or TLS), the close (last words flushed, the
 * kind told, the socket closed, the memory retired through qsbr). */
#include "core/loop.h"
#include "core/transport.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "base/ratelim.h"
#include "core/tls.h"
#include "core/tlsrec.h"

#include <openssl/err.h>

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

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
    [CR_MAX_ACCOUNT_CONNECTIONS] = "Maximum Account Connections Exceeded",
    [CR_WRONG_GATEWAY] = "Wrong Gateway",
    [CR_WRONG_PORT] = "Incorrect Port",
    [CR_DUPLICATE_LEAF] = "Duplicate Remote LeafNode Connection",
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

/* ---- connection lifecycle ---------------------------------------------- */

static void conn_free_cb(void *p)
{
    conn_t *c = p;
    if (c->ssl) SSL_free(c->ssl);
    tlsrec_free(c->trec);
    tls_ctx_unref(c->tls);
    out_free(c);
    c->ops->free(c);
    free(c->dead);
    free(c);
}

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
    evloop_del(&w->loop, c->fd);
    os_sock_close(c->fd);
    c->fd = -1;
    c->ops->gone(c);
    conn_unlink(w, c);
    qsbr_retire(c, conn_free_cb);
}

void conn_link(worker_t *w, conn_t *c)
{
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
}

void conn_unlink(worker_t *w, conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
    w->nconns--;
}

void conn_adopt(worker_t *w, inq_item_t *it)
{
    int fd = it->fd;
    conn_t *c = xcalloc(1, sizeof *c);
    spin_init(&c->out_lock);
    spin_init(&c->dead_lock);
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
    conn_link(w, c);
    evloop_add(&w->loop, fd, c, EVLOOP_STREAM);
    c->ops->init(w, c, it);
    if (c->closing) conn_close(c, c->reason);
}

void conn_tls_accept(worker_t *w, conn_t *c, tls_ctx_t *t, bool optional)
{
    c->tls = tls_ctx_ref(t);
    c->ssl = tls_ssl_new(t, c->fd, &c->tls_short_read);
    SSL_set_accept_state(c->ssl);
    c->tls_due_ns = deadline_after(w->now_ns, t->timeout_ns);
    c->tls_optional = optional;
    worker_note_deadline(w, c->tls_due_ns);
}

/* TLS connection_rate_limit: new TLS connections per second, a token bucket as the
 * reference's (base/ratelim.h). */
bool conn_tls_rate_ok(void)
{
    static ratelim_t lim = RATELIM_INIT;
    return ratelim_take(&lim, srv->opts->tls.connection_rate_limit, now_mono_ns());
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
bool tls_handshake(worker_t *w, conn_t *c)
{
    if (c->tls_done) return true;
    if (c->tls_optional) {
        /* allow_non_tls: a TLS ClientHello starts with 0x16, anything else is
         * plaintext; so is a client that closes (or fails) before its first
         * byte, whose end the plaintext path then reports as the reference does. */
        unsigned char first;
        ssize_t n = os_peek(c->fd, &first, 1);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            evloop_blocked(&w->loop, c->fd, EVLOOP_READ);
            return false;
        }
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
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            evloop_blocked(&w->loop, c->fd, e == SSL_ERROR_WANT_READ ? EVLOOP_READ : EVLOOP_WRITE);
            return false;
        }
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
    if (!tls_conn_pinned_ok(c->tls, c)) {
        ERROR("%sTLS handshake error: certificate not pinned", c->prefix);
        c->closing = true;
        c->reason = CR_TLS_HANDSHAKE;
        return false;
    }
    /* TLS 1.3 goes on without the SSL (~11.8 KB): its record layer is tlsrec's. */
    spin_lock(&c->out_lock);
    c->tls_done = true;
    c->trec = tlsrec_take(c->ssl);
    if (c->trec) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    spin_unlock(&c->out_lock);
    c->tls_due_ns = 0;
    if (log_debug_on) {
        char cipher[128];
        tls_conn_cipher(c, cipher, sizeof cipher);
        DEBUG("%sTLS handshake complete", c->prefix);
        DEBUG("%sTLS version %s, cipher suite %s", c->prefix, tls_conn_version(c), cipher);
    }
    c->ops->tls_done(w, c);
    return true;
}

void conn_flush_handshake(worker_t *w, conn_t *c)
{
    tls_handshake(w, c);
}

/* Below this much a TLS read that drained the socket ends the connection's reads. */
#define TLS_LIGHT_READ (16 * 1024)

/* One read through the transport seam: >0 bytes, 0 EOF, -1 would block, -2 error. */
ssize_t conn_recv(conn_t *c, char *buf, size_t room)
{
    if (c->trec) {
        /* one call fills the room with every whole record the socket held; no lock: a
         * flusher seals and sends meanwhile with tlsrec's write state (tlsrec.h) */
        bool drained;
        ssize_t n = tlsrec_recv(c->trec, c->fd, buf, room, &drained);
        c->tls_dry = n == -1 || (n > 0 && drained);
        return n;
    }
    if (!c->ssl) return transport_recv(c->fd, NULL, buf, room);
    /* SSL_read returns one record (at most 16 KiB) per call: fill the room as a plain
     * read does, so a read's operations (and the flush that follows them) come in
     * batches as big over TLS. The lock (flushers write through the same SSL object)
     * is taken per record. An EOF or error after some bytes is seen at the next call.
     * It stops where the socket ran dry (c->tls_dry: tls_drained, or "would block"). */
    size_t got = 0;
    c->tls_dry = false;
    while (got < room) {
        spin_lock(&c->out_lock);
        c->tls_short_read = false;
        ssize_t n = transport_recv(c->fd, c->ssl, buf + got, room - got);
        bool drained = n > 0 && tls_drained(c->ssl, c->tls_short_read);
        spin_unlock(&c->out_lock);
        if (n <= 0) {
            c->tls_dry = n == -1;
            return got ? (ssize_t)got : n;
        }
        got += (size_t)n;
        if (drained) {
            /* A stream that sent less than a record meanwhile is done for this pass; a
             * busy one is read on (measured: stopping there cost tls_pubsub_128 8 %). */
            c->tls_dry = got < TLS_LIGHT_READ;
            break;
        }
    }
    return (ssize_t)got;
}
