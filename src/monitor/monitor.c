/* monitor.c: the HTTP(S) server of the monitoring port: the listener, its
 * connections, their event loop, HTTPS (TLS sniffing and the handshake) and
 * output backpressure. What a request is answered with is router.c's.
 *
 * One thread with its own loop (core's evloop, as the workers', with its own
 * dispatch: monitor_main): monitoring is off the message path, so
 * a slow or hostile HTTP client can only slow other HTTP clients. Every
 * connection's buffered request head is bounded (1 MiB, as the reference),
 * so is the sum over all connections, the number of HTTP connections is
 * bounded, and idle ones time out. Unsent answers are bounded per connection
 * and in total by backpressure (HTTP_OUT_PAUSE, HTTP_MAX_OUT_TOTAL). HTTPS
 * runs on the same loop with non-blocking OpenSSL calls (handshake, reads and
 * writes all resume on the next event); reads and writes, plain or TLS,
 * go through core's transport seam (transport.h), as the workers' do. */
#include "base/gofmt.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "core/evloop.h"
#include "core/server.h"
#include "core/tls.h"
#include "core/transport.h"
#include "monitor/monitor.h"
#include "proto/http.h"

#include <openssl/err.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HTTP_MAX_HEAD (1024 * 1024)
#define HTTP_MAX_CONNS 1024
#define HTTP_IDLE_NS (30LL * 1000000000LL)
/* All connections together may buffer this much request data; beyond it the
 * connection that pushed the total over is dropped, so many slow clients
 * with huge headers cannot make the process grow without bound. */
#define HTTP_MAX_BUFFERED (32u * 1024 * 1024)
/* Output backpressure. Go's net/http answers one request at a time per
 * connection and blocks writing it, so what it holds per connection is about
 * one response. Here a connection stops taking requests (and reading the
 * socket) while more than HTTP_OUT_PAUSE of its answers are unsent, and
 * resumes once they drained below it: a client that pipelines requests and
 * never reads holds at most that plus one response. All connections together
 * stop taking requests while HTTP_MAX_OUT_TOTAL is unsent. A connection that
 * makes no progress either way for HTTP_IDLE_NS is closed. */
#define HTTP_OUT_PAUSE (64u * 1024)
#define HTTP_MAX_OUT_TOTAL (64u * 1024 * 1024)

typedef struct hconn {
    int fd;
    SSL *ssl;     /* HTTPS only */
    bool tls_up;  /* handshake complete */
    bool sniffed; /* first bytes checked for a plain HTTP request */
    buf_t in;
    buf_t out;
    size_t out_off;
    int64_t last_ns;
    bool close_after;
    bool stalled; /* stopped taking requests until its output drains */
    bool eof;     /* the client finished sending: answer what it sent, then close */
    struct hconn *next, *prev;
} hconn_t;

static void log_accept_pause(const char *addr, const char *why, int64_t d);

static struct {
    pthread_t th;
    evloop_t loop;
    hconn_t *conns;
    int nconns;
    _Atomic bool stop;
    bool running;
    /* HTTPS: built from the client tls block; rebuilt when a reload swaps the
     * server's client context (tls_src is the one it was built after). */
    bool https;
    tls_ctx_t *tls;
    void *tls_src;
    size_t buffered; /* request bytes held by all connections */
    size_t unsent;   /* response bytes not yet written, all connections */
    bool any_stalled;
    /* Accept back-off after a temporary error (out of descriptors or memory). */
    accept_backoff_t bo;
    _Atomic int nconns_pub;
} mon = {.bo = {.min_ns = 5000000LL, .log = log_accept_pause}};

static void hconn_close(hconn_t *h)
{
    evloop_del(&mon.loop, h->fd);
    if (h->ssl) SSL_free(h->ssl);
    os_sock_close(h->fd);
    mon.buffered -= h->in.len;
    mon.unsent -= h->out.len - h->out_off;
    buf_free(&h->in);
    buf_free(&h->out);
    if (h->prev)
        h->prev->next = h->next;
    else
        mon.conns = h->next;
    if (h->next) h->next->prev = h->prev;
    mon.nconns--;
    atomic_store(&mon.nconns_pub, mon.nconns);
    free(h);
}

int monitor_num_conns(void)
{
    return atomic_load(&mon.nconns_pub);
}

bool monitor_https(void)
{
    return mon.https;
}

/* Returns false if h was closed. */
static bool hconn_flush(hconn_t *h)
{
    while (h->out_off < h->out.len) {
        ssize_t n = transport_send(h->fd, h->ssl, h->out.p + h->out_off, h->out.len - h->out_off);
        if (n == -1) {
            evloop_blocked(&mon.loop, h->fd, EVLOOP_WRITE);
            return true;
        }
        if (n < 0) {
            hconn_close(h);
            return false;
        }
        h->out_off += (size_t)n;
        mon.unsent -= (size_t)n;
        h->last_ns = now_mono_ns();
    }
    h->out.len = h->out_off = 0;
    if (h->out.cap > 256 * 1024) /* a big reply (connz) was sent: give the memory back */
        buf_free(&h->out);
    if (h->close_after) {
        hconn_close(h);
        return false;
    }
    return true;
}

/* Go's TLS server answers a plain HTTP request with this raw reply
 * (tlsRecordHeaderLooksLikeHTTP in net/http). */
static bool looks_like_http(const unsigned char *b)
{
    static const char *const pre[] = {"GET /", "HEAD ", "POST ", "PUT /", "OPTIO"};
    for (size_t i = 0; i < ARRAY_LEN(pre); i++)
        if (memcmp(b, pre[i], 5) == 0) return true;
    return false;
}

/* HTTPS before the request: sniff, then drive the handshake. Returns 1 when the
 * TLS session is up, 0 to wait for more events, -1 if h was closed. */
static int hconn_tls_step(hconn_t *h)
{
    if (!h->sniffed) {
        unsigned char b[5];
        ssize_t n;
        do
            n = os_peek(h->fd, b, sizeof b);
        while (n < 0 && errno == EINTR);
        /* b holds nothing unless recv returned bytes: decide on n first */
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            evloop_blocked(&mon.loop, h->fd, EVLOOP_READ);
            return 0;
        }
        if (n <= 0) {
            hconn_close(h);
            return -1;
        }
        if (n < (ssize_t)sizeof b && b[0] != 0x16) {
            /* a few bytes of something that is not a TLS record: wait for 5 */
            if (!memchr("GHPO", b[0], 4)) {
                hconn_close(h);
                return -1;
            }
            return 0;
        }
        h->sniffed = true;
        if (b[0] != 0x16 && n == (ssize_t)sizeof b && looks_like_http(b)) {
            static const char msg[] = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP "
                                      "request to an HTTPS server.\n";
            ssize_t w = os_send(h->fd, msg, sizeof msg - 1);
            (void)w;
            /* consume the request so the close is a FIN, not a reset that could
             * destroy the reply before the client reads it */
            char junk[4096];
            for (int i = 0; i < 16 && os_recv(h->fd, junk, sizeof junk) > 0; i++)
                ;
            shutdown(h->fd, SHUT_WR);
            hconn_close(h);
            return -1;
        }
    }
    ERR_clear_error();
    int rc = SSL_accept(h->ssl);
    if (rc == 1) {
        h->tls_up = true;
        return 1;
    }
    int e = SSL_get_error(h->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        evloop_blocked(&mon.loop, h->fd, e == SSL_ERROR_WANT_READ ? EVLOOP_READ : EVLOOP_WRITE);
        return 0;
    }
    char why[256];
    tls_last_error(why, sizeof why);
    DEBUG("HTTPS monitor: TLS handshake error: %s", why);
    hconn_close(h);
    return -1;
}

/* True while h may not take another request: too much of its own output,
 * or of everybody's, is unsent. */
static bool out_blocked(const hconn_t *h)
{
    return h->out.len - h->out_off >= HTTP_OUT_PAUSE || mon.unsent >= HTTP_MAX_OUT_TOTAL;
}

/* Reads what the socket has (edge-triggered: until it would block, or until
 * a request head's worth is buffered). Returns -1 if h was closed, else 1 if
 * the socket was drained, 0 if bytes may be left in it. */
static int hconn_fill(hconn_t *h)
{
    for (;;) {
        buf_reserve(&h->in, 4096);
        ssize_t n = transport_recv(h->fd, h->ssl, h->in.p + h->in.len, h->in.cap - h->in.len);
        if (n == -2) {
            hconn_close(h);
            return -1;
        }
        if (n == -1) {
            evloop_blocked(&mon.loop, h->fd, EVLOOP_READ);
            return 1;
        }
        if (n == 0) {
            h->eof = true;
            return 1;
        }
        h->in.len += (size_t)n;
        mon.buffered += (size_t)n;
        h->last_ns = now_mono_ns();
        if (mon.buffered > HTTP_MAX_BUFFERED) {
            hconn_close(h);
            return -1;
        }
        if (h->in.len > HTTP_MAX_HEAD + 4096) return 0;
    }
}

/* Answers the complete requests in h->in (pipelining) until the output
 * bound is reached; returns true if it stopped for that bound. */
static bool hconn_serve_buffered(hconn_t *h)
{
    size_t off = 0;
    bool blocked = false;
    size_t out0 = h->out.len; /* the answers appended here are counted once, below */
    while (off < h->in.len && !h->close_after) {
        if (out_blocked(h)) {
            blocked = true;
            break;
        }
        http_req_t req;
        long n = http_parse(h->in.p + off, h->in.len - off, HTTP_MAX_HEAD, &req);
        if (n == 0) break;
        if (n < 0) {
            monitor_bad_request(&h->out, &h->close_after,
                                n == -2 ? "431 Request Header Fields Too Large"
                                        : "400 Bad Request");
            off = h->in.len;
            break;
        }
        size_t total = (size_t)n + req.content_length;
        if (h->in.len - off < total) {
            if (req.content_length > HTTP_MAX_HEAD) {
                h->close_after = true;
                off = h->in.len;
            }
            break;
        }
        if (!req.keep_alive) h->close_after = true;
        monitor_serve(&req, &h->out, &h->close_after);
        off += total;
    }
    mon.unsent += h->out.len - out0;
    if (off) {
        memmove(h->in.p, h->in.p + off, h->in.len - off);
        h->in.len -= off;
        mon.buffered -= off;
    }
    if (h->in.cap > 64 * 1024 && h->in.len < 4096) {
        buf_t nb = {0};
        buf_append(&nb, h->in.p, h->in.len);
        buf_free(&h->in);
        h->in = nb;
    }
    return blocked;
}

size_t monitor_answer_buffer(const char *in, size_t len, buf_t *out, bool *close_after)
{
    hconn_t h = {.fd = -1};
    buf_append(&h.in, in, len);
    mon.buffered += len;
    for (;;) {
        bool blocked = hconn_serve_buffered(&h);
        /* what a socket would have taken (none: h.out.p may be NULL) */
        if (h.out.len > h.out_off) buf_append(out, h.out.p + h.out_off, h.out.len - h.out_off);
        mon.unsent -= h.out.len - h.out_off;
        h.out.len = h.out_off = 0;
        if (!blocked) break;
    }
    size_t left = h.in.len;
    mon.buffered -= left;
    buf_free(&h.in);
    buf_free(&h.out);
    *close_after = h.close_after;
    return len - left;
}

/* Reads, answers and writes until h would block on the socket or on the
 * output bound. A stalled connection reads nothing more (the client's
 * further requests wait in the kernel, which pushes back on it); it is
 * resumed when its output drains (EPOLLOUT) or, if the total bound stalled
 * it, when the total drains (monitor_main). */
static void hconn_read(hconn_t *h)
{
    if (h->ssl && !h->tls_up) {
        int st = hconn_tls_step(h);
        if (st <= 0) return;
    }
    for (;;) {
        if (!hconn_flush(h)) return;
        if (out_blocked(h)) {
            h->stalled = true;
            mon.any_stalled = true;
            return;
        }
        h->stalled = false;
        int drained = h->close_after || h->eof ? 1 : hconn_fill(h);
        if (drained < 0) return;
        bool blocked = hconn_serve_buffered(h);
        if (h->eof && !blocked) h->close_after = true; /* all it sent is answered */
        if (!hconn_flush(h)) return;
        if (h->close_after) return; /* the flush closes it once everything is out */
        /* Go on while something is left that no event will announce: requests
         * held back by the bound (the loop's top stalls h if it still holds),
         * bytes left in the socket, or decrypted bytes OpenSSL holds
         * (edge-triggered). */
        if (!blocked && drained && !(h->ssl && SSL_pending(h->ssl) > 0)) return;
    }
}

/* The HTTPS context for new connections; rebuilt after a reload changed the
 * client TLS configuration. Monitoring never asks for a client certificate. */
static tls_ctx_t *https_ctx(void)
{
    void *cur = (void *)atomic_load(&srv->tls_ctx);
    if (mon.tls && cur == mon.tls_src) return mon.tls;
    char err[256];
    tls_ctx_t *t =
        srv->opts->tls.enabled ? tls_ctx_server(&srv->opts->tls, false, err, sizeof err) : NULL;
    if (t) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
        tls_ctx_unref(mon.tls);
        mon.tls = t;
    }
    mon.tls_src = cur;
    return mon.tls;
}

/* Go's net/http after a temporary accept error: 5 ms, doubling up to 1 s while
 * the errors last, one log line per pause, in its words (core's back-off with
 * this schedule and line). Open connections are served meanwhile. */
static void log_accept_pause(const char *addr, const char *why, int64_t d)
{
    char dur[GO_DURATION_MAX];
    go_duration(dur, sizeof dur, d);
    log_msg(LOG_ERR, "monitoring: Accept error: accept tcp %s: accept4: %s; retrying in %s", addr,
            why, dur);
}

/* The level-triggered listener leaves the loop for the back-off instead of
 * waking it again at once; the back-off's end is the loop's only deadline. */
static void accept_pause(int err)
{
    if (accept_backoff_begin(&mon.bo, "HTTP", srv->http_fd, err, now_mono_ns())) {
        evloop_del(&mon.loop, srv->http_fd);
        evloop_note_deadline(&mon.loop, atomic_load(&mon.bo.resume_ns));
    }
}

/* The pause is over: the listener goes back into the loop. */
static void accept_resume(void)
{
    atomic_store(&mon.bo.resume_ns, 0);
    evloop_add(&mon.loop, srv->http_fd, (void *)&srv->http_fd, EVLOOP_ACCEPT);
}

static void accept_http(void)
{
    for (;;) {
        int fd = os_accept(srv->http_fd);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED) continue;
            if (accept_error_temporary(e)) accept_pause(e);
            return;
        }
        accept_backoff_ok(&mon.bo);
        SSL *ssl = NULL;
        if (mon.https) {
            tls_ctx_t *t = https_ctx();
            ssl = t ? SSL_new(t->ctx) : NULL;
            if (!ssl) {
                os_sock_close(fd);
                continue;
            }
            SSL_set_fd(ssl, fd);
            SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        }
        if (mon.nconns >= HTTP_MAX_CONNS) {
            /* Drop the oldest idle connection to make room: a flood cannot lock operators out. */
            hconn_t *oldest = NULL;
            for (hconn_t *h = mon.conns; h; h = h->next)
                if (!oldest || h->last_ns < oldest->last_ns) oldest = h;
            if (oldest) hconn_close(oldest);
        }
        hconn_t *h = xcalloc(1, sizeof *h);
        h->fd = fd;
        h->ssl = ssl;
        h->last_ns = now_mono_ns();
        h->next = mon.conns;
        if (mon.conns) mon.conns->prev = h;
        mon.conns = h;
        mon.nconns++;
        atomic_store(&mon.nconns_pub, mon.nconns);
        evloop_add(&mon.loop, fd, h, EVLOOP_STREAM);
    }
}

static void *monitor_main(void *arg)
{
    (void)arg;
    evloop_event_t evs[64];
    /* Handlers read the options and sublist results, which reload and the workers
     * retire through qsbr: this thread takes part like a worker. */
    qsbr_register();
    while (!atomic_load(&mon.stop)) {
        qsbr_quiescent();
        /* at least once a second for the idle sweep below */
        int n = evloop_wait(&mon.loop, evs, ARRAY_LEN(evs), 1000);
        if (evloop_deadline_due(&mon.loop, now_mono_ns())) accept_resume();
        for (int i = 0; i < n; i++) {
            void *p = evloop_tag(&evs[i]);
            if (p == NULL) { /* a wake-up: monitor_stop */
                evloop_woken(&mon.loop);
                continue;
            }
            if (p == (void *)&srv->http_fd) {
                accept_http();
                continue;
            }
            /* A connection closed earlier in this batch (evicted by accept_http) may
             * still have an event here: only touch live ones. */
            hconn_t *h = NULL;
            for (hconn_t *x = mon.conns; x; x = x->next)
                if (x == p) {
                    h = x;
                    break;
                }
            if (!h) continue;
            uint32_t what = evloop_what(&evs[i]);
            if (what & (EVLOOP_READ | EVLOOP_HUP))
                hconn_read(h);
            else if (what & EVLOOP_WRITE) {
                if (h->ssl && !h->tls_up)
                    hconn_read(h); /* the handshake wanted to write */
                else if (hconn_flush(h) && h->stalled && !out_blocked(h))
                    hconn_read(h); /* its output drained: take requests again */
            }
        }
        if (mon.any_stalled && mon.unsent < HTTP_MAX_OUT_TOTAL) {
            /* the total bound released: resume who it held back */
            mon.any_stalled = false;
            for (hconn_t *h = mon.conns, *next; h; h = next) {
                next = h->next;
                if (h->stalled && !out_blocked(h)) hconn_read(h);
            }
        }
        int64_t now = now_mono_ns();
        for (hconn_t *h = mon.conns, *next; h; h = next) {
            next = h->next;
            if (now - h->last_ns > HTTP_IDLE_NS) hconn_close(h);
        }
    }
    while (mon.conns)
        hconn_close(mon.conns);
    qsbr_unregister();
    return NULL;
}

int listen_on(const char *host, int port, int *bound_port, char *err, size_t errlen);

int monitor_start(void)
{
    opts_t *o = srv->opts;
    const char *host = o->http_host && *o->http_host ? o->http_host : o->host;
    char err[256];
    if (o->http_port && o->https_port) {
        log_msg(LOG_FTL,
                "Can't start monitoring: can't specify both HTTP (%d) and HTTPs (%d) ports",
                o->http_port, o->https_port);
        return -1;
    }
    if (!o->http_port && !o->https_port) return 0;
    mon.https = o->http_port == 0;
    if (mon.https) {
        if (!o->tls.enabled) {
            log_msg(LOG_FTL, "Can't start monitoring: TLS cert and key required for HTTPS");
            return -1;
        }
        mon.tls_src = (void *)atomic_load(&srv->tls_ctx);
        mon.tls = tls_ctx_server(&o->tls, false, err, sizeof err);
        if (!mon.tls) {
            log_msg(LOG_FTL, "Can't start monitoring: %s", err);
            return -1;
        }
        SSL_CTX_set_verify(mon.tls->ctx, SSL_VERIFY_NONE, NULL);
    }
    srv->http_fd =
        listen_on(host, mon.https ? o->https_port : o->http_port, &srv->http_port, err, sizeof err);
    if (srv->http_fd < 0) {
        log_msg(LOG_FTL, "Can't start monitoring: can't listen to the monitor port: %s", err);
        return -1;
    }
    NOTICE("Starting %s monitor on %s:%d", mon.https ? "https" : "http", host, srv->http_port);
    if (evloop_init(&mon.loop) != 0) {
        log_msg(LOG_FTL, "Can't start monitoring: %s", strerror(errno));
        evloop_free(&mon.loop);
        return -1;
    }
    evloop_add(&mon.loop, srv->http_fd, (void *)&srv->http_fd, EVLOOP_ACCEPT);
    pthread_create(&mon.th, NULL, monitor_main, NULL);
    mon.running = true;
    return 0;
}

void monitor_stop(void)
{
    if (!mon.running) return;
    atomic_store(&mon.stop, true);
    evloop_wake(&mon.loop);
    pthread_join(mon.th, NULL);
    os_sock_close(srv->http_fd);
    srv->http_fd = -1;
    evloop_free(&mon.loop);
    tls_ctx_unref(mon.tls);
    mon.tls = NULL;
    mon.running = false;
}
