/* gb_proto.c: raw NATS protocol client (see gb_proto.h).
 *
 * The frame splitter looks at each control line once: memchr for '\n',
 * dispatch on the first byte, and for MSG a single backwards scan for the
 * size. Payloads are skipped by arithmetic, so a read of 256 KiB full of
 * 16-byte messages costs a few thousand memchr calls and nothing else. */
#include "gb_proto.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* a control line longer than this is a protocol error, not a reason to grow */
#define GB_MAX_LINE (1u << 20)

int gb_conn_init(gb_conn *c, size_t rcap, size_t wcap)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->rcap = rcap;
    c->wcap = wcap;
    c->rbuf = malloc(rcap);
    c->wbuf = malloc(wcap);
    if (!c->rbuf || !c->wbuf) {
        gb_conn_free(c);
        return -1;
    }
    return 0;
}

void gb_conn_free(gb_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    free(c->wbuf);
    c->rbuf = c->wbuf = NULL;
}

static void seterr(gb_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void seterr(gb_conn *c, const char *fmt, ...)
{
    va_list ap;
    if (c->err) return; /* keep the first cause */
    c->err = 1;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
}

size_t gb_utoa(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* JSON string body escape for the credentials in CONNECT */
static size_t jesc(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n] = 0;
    return n;
}

size_t gb_connect_line(const gb_cfg *cfg, char *out, size_t cap)
{
    char cred[800] = "", a[300], b[300];
    if (cfg->token[0]) {
        jesc(a, sizeof(a), cfg->token);
        snprintf(cred, sizeof(cred), ",\"auth_token\":\"%s\"", a);
    } else if (cfg->user[0]) {
        jesc(a, sizeof(a), cfg->user);
        jesc(b, sizeof(b), cfg->pass);
        snprintf(cred, sizeof(cred), ",\"user\":\"%s\",\"pass\":\"%s\"", a, b);
    }
    /* verbose off: no +OK per PUB; echo on so one connection may pub and sub */
    int n = snprintf(out, cap,
                     "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
                     "\"name\":\"gnatsd-bench\",\"lang\":\"c-raw\",\"version\":\"1.0\","
                     "\"protocol\":1,\"echo\":true,\"headers\":false%s}\r\n",
                     cred);
    return n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
}

static int tcp_socket(const gb_cfg *cfg, bool nonblock)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, one = 1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(cfg->host, cfg->port, &hints, &res) != 0) return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | (nonblock ? SOCK_NONBLOCK : 0) | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) continue;
        /* we batch ourselves; Nagle would only add latency to reqrep */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || (nonblock && errno == EINPROGRESS))
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int gb_tcp_start(const gb_cfg *cfg)
{
    return tcp_socket(cfg, true);
}

int gb_conn_open(gb_conn *c, const gb_cfg *cfg, int timeout_ms)
{
    char line[1200];
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    uint64_t deadline = gb_now() + (uint64_t)timeout_ms * 1000000ull;

    c->fd = tcp_socket(cfg, false);
    if (c->fd < 0) {
        seterr(c, "connect %s:%s: %s", cfg->host, cfg->port, strerror(errno));
        return -1;
    }
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    while (!c->got_info) {
        if (gb_now() > deadline) {
            seterr(c, "no INFO from server");
            return -1;
        }
        if (gb_conn_poll(c, 100, NULL, NULL) < 0) return -1;
    }
    size_t n = gb_connect_line(cfg, line, sizeof(line));
    if (gb_conn_append(c, line, n) < 0 || gb_conn_append(c, "PING\r\n", 6) < 0 ||
        gb_conn_flush(c) < 0)
        return -1;
    uint64_t want = c->pongs + 1;
    while (c->pongs < want) {
        if (gb_now() > deadline) {
            seterr(c, "no PONG after CONNECT");
            return -1;
        }
        if (gb_conn_poll(c, 100, NULL, NULL) < 0) return -1;
    }
    return 0;
}

int gb_conn_append(gb_conn *c, const void *p, size_t n)
{
    if (c->wlen + n > c->wcap) {
        size_t cap = c->wcap * 2;
        while (cap < c->wlen + n)
            cap *= 2;
        char *nb = realloc(c->wbuf, cap);
        if (!nb) {
            seterr(c, "out of memory");
            return -1;
        }
        c->wbuf = nb;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
    return 0;
}

int gb_conn_appendf(gb_conn *c, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        seterr(c, "protocol line too long");
        return -1;
    }
    return gb_conn_append(c, tmp, (size_t)n);
}

int gb_write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* non-blocking fd (conns mode) or send timeout: wait briefly, then give up */
                struct pollfd pfd = {fd, POLLOUT, 0};
                if (poll(&pfd, 1, 5000) > 0) continue;
            }
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int gb_conn_flush(gb_conn *c)
{
    if (!c->wlen) return 0;
    if (gb_write_all(c->fd, c->wbuf, c->wlen) < 0) {
        seterr(c, "write: %s", strerror(errno));
        return -1;
    }
    c->wlen = 0;
    return 0;
}

/* "MSG <subject> <sid> [reply] <size>" with p..e the line without CRLF */
static int parse_msg(const char *p, const char *e, gb_msg *m)
{
    const char *tok[4];
    size_t len[4];
    int nt = 0;
    p += 4;
    while (p < e && nt < 4) {
        while (p < e && *p == ' ')
            p++;
        if (p >= e) break;
        const char *s = p;
        while (p < e && *p != ' ')
            p++;
        tok[nt] = s;
        len[nt++] = (size_t)(p - s);
    }
    if (nt < 3) return -1;
    const char *sz = tok[nt - 1];
    size_t v = 0;
    for (size_t i = 0; i < len[nt - 1]; i++) {
        if (sz[i] < '0' || sz[i] > '9') return -1;
        v = v * 10 + (size_t)(sz[i] - '0');
    }
    m->subj = tok[0];
    m->subj_len = len[0];
    m->reply = nt == 4 ? tok[2] : NULL;
    m->reply_len = nt == 4 ? len[2] : 0;
    m->size = v;
    return 0;
}

int gb_conn_parse(gb_conn *c, gb_msg_fn fn, void *arg)
{
    int nmsg = 0;
    for (;;) {
        size_t avail = c->rlen - c->rpos;
        if (c->skip) {
            size_t k = c->skip < avail ? c->skip : avail;
            c->rpos += k;
            c->skip -= k;
            avail -= k;
        }
        if (!avail) break;
        char *p = c->rbuf + c->rpos;
        char *nl = memchr(p, '\n', avail);
        if (!nl) break;
        size_t ll = (size_t)(nl - p) + 1;
        char *e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        switch (p[0]) {
        case 'M':
        case 'm': {
            gb_msg m;
            if (parse_msg(p, e, &m) < 0) {
                seterr(c, "bad MSG line: %.60s", p);
                return -1;
            }
            c->skip = m.size + 2;
            c->msgs++;
            nmsg++;
            if (fn) fn(arg, &m);
            break;
        }
        case 'P':
        case 'p':
            if ((e - p) >= 4 && (p[1] | 0x20) == 'i') {
                if (gb_conn_append(c, "PONG\r\n", 6) < 0) return -1;
            } else {
                c->pongs++;
            }
            break;
        case 'I':
        case 'i':
            c->got_info = true;
            break;
        case '-':
            seterr(c, "server: %.*s", (int)(e - p), p);
            return -1;
        default: /* +OK and anything else carry nothing we need */
            break;
        }
        c->rpos += ll;
    }
    if (c->rpos == c->rlen) c->rpos = c->rlen = 0;
    return nmsg;
}

/* Make space at the end of the read buffer: compact, or grow when one
 * partial control line (a long INFO) fills it. */
static int room(gb_conn *c)
{
    if (c->rpos && (c->rlen == c->rcap || c->rpos > c->rcap / 2)) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen < c->rcap) return 0;
    if (c->rcap >= GB_MAX_LINE) {
        seterr(c, "control line too long");
        return -1;
    }
    char *nb = realloc(c->rbuf, c->rcap * 2);
    if (!nb) {
        seterr(c, "out of memory");
        return -1;
    }
    c->rbuf = nb;
    c->rcap *= 2;
    return 0;
}

int gb_conn_read(gb_conn *c, gb_msg_fn fn, void *arg)
{
    int total = 0;
    for (;;) {
        if (room(c) < 0) return -1;
        ssize_t r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return total;
            seterr(c, "read: %s", strerror(errno));
            return -1;
        }
        if (r == 0) {
            seterr(c, "connection closed by server");
            return -1;
        }
        c->rlen += (size_t)r;
        int n = gb_conn_parse(c, fn, arg);
        if (n < 0) return -1;
        total += n;
        if (c->wlen && gb_conn_flush(c) < 0) return -1;
        /* a short read means the socket is drained: let the caller poll */
        if ((size_t)r < 4096) return total;
    }
}

int gb_conn_poll(gb_conn *c, int timeout_ms, gb_msg_fn fn, void *arg)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0) return errno == EINTR ? 0 : -1;
    if (r == 0) return 0;
    /* one read per poll on blocking fds: read() must not block again */
    if (room(c) < 0) return -1;
    ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) return 0;
        seterr(c, "read: %s", strerror(errno));
        return -1;
    }
    if (n == 0) {
        seterr(c, "connection closed by server");
        return -1;
    }
    c->rlen += (size_t)n;
    int m = gb_conn_parse(c, fn, arg);
    if (m < 0) return -1;
    if (c->wlen && gb_conn_flush(c) < 0) return -1;
    return m;
}

int gb_conn_ping(gb_conn *c, int timeout_ms, gb_msg_fn fn, void *arg)
{
    uint64_t deadline = gb_now() + (uint64_t)timeout_ms * 1000000ull;
    uint64_t want = c->pongs + 1;
    if (gb_conn_append(c, "PING\r\n", 6) < 0 || gb_conn_flush(c) < 0) return -1;
    while (c->pongs < want) {
        if (gb_now() > deadline) {
            seterr(c, "no PONG within %d ms", timeout_ms);
            return -1;
        }
        if (gb_conn_poll(c, 100, fn, arg) < 0) return -1;
    }
    return 0;
}
