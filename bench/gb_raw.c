/* gb_raw.c: raw-protocol workers of gnatsd-bench (the default engine).
 *
 * One blocking socket per worker thread. Publishers write pre-built runs of
 * identical PUB frames (one write() per --batch bytes) so that the cost of
 * producing a message is a memcpy-free pointer bump; subscribers count MSG
 * frames straight out of the read buffer. The conns mode instead drives
 * thousands of non-blocking sockets from one epoll loop, because one thread
 * per connection would measure the scheduler instead of the server. */
#include "gb_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gb_report.h"

#define RBUF_SIZE (256 * 1024)
#define WBUF_SIZE (64 * 1024)

static int timeout_ms(const gb_cfg *cfg)
{
    return (int)(cfg->timeout * 1000);
}

static bool past_deadline(void)
{
    return gb_sh.deadline && gb_now() >= gb_sh.deadline;
}

static bool aborted(void)
{
    return atomic_load_explicit(&gb_sh.abort, memory_order_relaxed) != 0;
}

static int open_conn(gb_worker *w, gb_conn *c, size_t rcap)
{
    if (gb_conn_init(c, rcap, WBUF_SIZE) < 0) {
        gb_fail(w, "out of memory");
        return -1;
    }
    if (gb_conn_open(c, w->cfg, timeout_ms(w->cfg)) < 0) {
        gb_fail(w, "%s", c->errmsg);
        return -1;
    }
    return 0;
}

static char *make_payload(size_t size)
{
    char *p = malloc(size + 1);
    if (!p) return NULL;
    for (size_t i = 0; i < size; i++)
        p[i] = (char)('a' + i % 26);
    return p;
}

/* one PUB frame: "PUB subj [reply] size\r\n<payload>\r\n" */
static size_t put_frame(char *out, const char *subj, size_t slen, const char *reply,
                        const char *payload, size_t size)
{
    char *o = out;
    memcpy(o, "PUB ", 4);
    o += 4;
    memcpy(o, subj, slen);
    o += slen;
    *o++ = ' ';
    if (reply) {
        size_t rl = strlen(reply);
        memcpy(o, reply, rl);
        o += rl;
        *o++ = ' ';
    }
    o += gb_utoa(o, size);
    *o++ = '\r';
    *o++ = '\n';
    memcpy(o, payload, size);
    o += size;
    *o++ = '\r';
    *o++ = '\n';
    return (size_t)(o - out);
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

void *gb_raw_pub(void *arg)
{
    gb_worker *w = arg;
    const gb_cfg *cfg = w->cfg;
    gb_conn c;
    char *payload = make_payload(cfg->size), *buf = NULL;
    size_t slen = strlen(cfg->subject);
    /* room for the longest subs-mode subject: base + ".s." + 20 digits + ".x" */
    size_t fmax = 4 + slen + 32 + 1 + 20 + 2 + cfg->size + 2;
    size_t nframes = cfg->batch / fmax ? cfg->batch / fmax : 1;
    size_t flen = 0;
    uint64_t sent = 0, rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)w->id << 32 | 1);

    if (!payload || open_conn(w, &c, 4096) < 0) goto out;
    buf = malloc(nframes * fmax);
    if (!buf) {
        gb_fail(w, "out of memory");
        goto close;
    }
    if (!gb_sh.random_subjects) {
        /* every frame is identical: build the batch once, write it forever */
        for (size_t i = 0; i < nframes; i++)
            flen = put_frame(buf + i * flen, cfg->subject, slen, NULL, payload, cfg->size);
    }
    w->t_start = gb_now();
    while (sent < w->quota && !aborted() && !past_deadline()) {
        uint64_t k = w->quota - sent < nframes ? w->quota - sent : nframes;
        size_t len;
        if (gb_sh.random_subjects) {
            char subj[256];
            len = 0;
            for (uint64_t i = 0; i < k; i++) {
                uint64_t idx = xorshift(&rng) % (uint64_t)cfg->subs;
                int sl = gb_subs_subject(subj, sizeof(subj), cfg->subject, idx, false);
                len += put_frame(buf + len, subj, (size_t)sl, NULL, payload, cfg->size);
            }
        } else {
            len = (size_t)k * flen;
        }
        if (gb_write_all(c.fd, buf, len) < 0) {
            gb_fail(w, "publish: %s", strerror(errno));
            break;
        }
        sent += k;
        gb_store(&w->count, sent);
    }
    /* the PONG proves the server has read (and routed) every PUB before it */
    if (!w->err && gb_conn_ping(&c, timeout_ms(cfg), NULL, NULL) < 0)
        gb_fail(w, "flush: %s", c.errmsg);
    w->t_end = gb_now();
    w->bytes = sent * cfg->size;
close:
    gb_conn_free(&c);
out:
    free(buf);
    free(payload);
    atomic_store(&w->finished, 1);
    return NULL;
}

typedef struct rx_ctx {
    gb_worker *w;
    gb_conn *c;
    const char *payload;
} rx_ctx;

static void on_msg_count(void *arg, const gb_msg *m)
{
    rx_ctx *x = arg;
    if (m->size != x->w->cfg->size) x->w->bad_size++;
}

/* subs mode: register cfg->subs subscriptions with batched writes */
static int subscribe_many(gb_worker *w, gb_conn *c)
{
    const gb_cfg *cfg = w->cfg;
    char subj[256];
    uint64_t t0 = gb_now();
    for (int k = 0; k < cfg->subs; k++) {
        gb_subs_subject(subj, sizeof(subj), cfg->subject, (uint64_t)k, k % 100 == 0);
        if (gb_conn_appendf(c, "SUB %s %d\r\n", subj, k + 1) < 0) return -1;
        if (c->wlen >= WBUF_SIZE && gb_conn_flush(c) < 0) return -1;
    }
    if (gb_conn_ping(c, timeout_ms(cfg), NULL, NULL) < 0) return -1;
    gb_sh.subs_setup_ns = gb_now() - t0;
    return 0;
}

void *gb_raw_sub(void *arg)
{
    gb_worker *w = arg;
    const gb_cfg *cfg = w->cfg;
    gb_conn c;
    rx_ctx x = {w, &c, NULL};
    int r;

    if (open_conn(w, &c, RBUF_SIZE) < 0) goto out;
    if (cfg->mode == GB_SUBS)
        r = subscribe_many(w, &c);
    else if (gb_sh.queue)
        r = gb_conn_appendf(&c, "SUB %s %s 1\r\n", cfg->subject, cfg->queue);
    else
        r = gb_conn_appendf(&c, "SUB %s 1\r\n", cfg->subject);
    if (r < 0 || gb_conn_ping(&c, timeout_ms(cfg), NULL, NULL) < 0) {
        gb_fail(w, "subscribe: %s", c.errmsg);
        goto close;
    }
    atomic_store(&w->ready, 1);
    while (!aborted() && !gb_sub_done(w)) {
        /* short poll timeout: queue members must notice the group is done */
        int n = gb_conn_poll(&c, 20, on_msg_count, &x);
        if (n < 0) {
            gb_fail(w, "%s", c.errmsg);
            break;
        }
        if (n > 0) {
            uint64_t now = gb_now();
            if (!w->t_start) w->t_start = now;
            w->t_end = now;
            gb_store(&w->count, c.msgs);
            if (gb_sh.queue)
                atomic_fetch_add_explicit(&gb_sh.group_rx, (uint64_t)n, memory_order_relaxed);
        }
    }
    w->bytes = gb_load(&w->count) * cfg->size;
close:
    gb_conn_free(&c);
out:
    atomic_store(&w->finished, 1);
    return NULL;
}

static void on_request(void *arg, const gb_msg *m)
{
    rx_ctx *x = arg;
    char hdr[512];
    if (!m->reply || m->reply_len > 300) {
        x->w->bad_size++;
        return;
    }
    int n = snprintf(hdr, sizeof(hdr), "PUB %.*s %zu\r\n", (int)m->reply_len, m->reply,
                     x->w->cfg->size);
    /* replies collect in the write buffer; gb_conn_poll sends them in one write */
    gb_conn_append(x->c, hdr, (size_t)n);
    gb_conn_append(x->c, x->payload, x->w->cfg->size);
    gb_conn_append(x->c, "\r\n", 2);
}

void *gb_raw_rep(void *arg)
{
    gb_worker *w = arg;
    const gb_cfg *cfg = w->cfg;
    gb_conn c;
    char *payload = make_payload(cfg->size);
    rx_ctx x = {w, &c, payload};

    if (!payload || open_conn(w, &c, RBUF_SIZE) < 0) goto out;
    if (gb_conn_appendf(&c, "SUB %s %s 1\r\n", cfg->subject, cfg->queue) < 0 ||
        gb_conn_ping(&c, timeout_ms(cfg), NULL, NULL) < 0) {
        gb_fail(w, "subscribe: %s", c.errmsg);
        goto close;
    }
    atomic_store(&w->ready, 1);
    while (!aborted() && !atomic_load(&gb_sh.stop_responders)) {
        int n = gb_conn_poll(&c, 20, on_request, &x);
        if (n < 0) {
            gb_fail(w, "%s", c.errmsg);
            break;
        }
        if (n > 0) gb_store(&w->count, c.msgs);
    }
close:
    gb_conn_free(&c);
out:
    free(payload);
    atomic_store(&w->finished, 1);
    return NULL;
}

int gb_lat_push(gb_worker *w, uint64_t ns)
{
    if (w->nlat == w->lat_cap) {
        /* duration-bounded runs do not know the count up front: double */
        uint64_t cap = w->lat_cap ? w->lat_cap * 2 : 4096;
        uint64_t *nl = realloc(w->lat, cap * sizeof(*nl));
        if (!nl) return -1;
        w->lat = nl;
        w->lat_cap = cap;
    }
    w->lat[w->nlat++] = ns;
    return 0;
}

void *gb_raw_req(void *arg)
{
    gb_worker *w = arg;
    const gb_cfg *cfg = w->cfg;
    gb_conn c;
    char *payload = make_payload(cfg->size), *frame = NULL, inbox[96];
    size_t flen;
    uint64_t done = 0;
    rx_ctx x = {w, &c, NULL};

    if (!payload || open_conn(w, &c, RBUF_SIZE) < 0) goto out;
    /* one literal reply subject per requester: requests are sequential */
    snprintf(inbox, sizeof(inbox), "_INBOX.gb%ld.%d", (long)getpid(), w->id);
    frame = malloc(strlen(cfg->subject) + strlen(inbox) + cfg->size + 48);
    if (!frame) {
        gb_fail(w, "out of memory");
        goto close;
    }
    flen = put_frame(frame, cfg->subject, strlen(cfg->subject), inbox, payload, cfg->size);
    if (gb_conn_appendf(&c, "SUB %s 1\r\n", inbox) < 0 ||
        gb_conn_ping(&c, timeout_ms(cfg), NULL, NULL) < 0) {
        gb_fail(w, "subscribe: %s", c.errmsg);
        goto close;
    }
    w->t_start = gb_now();
    while (done < w->quota && !aborted() && !past_deadline()) {
        uint64_t want = c.msgs + 1, t0 = gb_now(), limit = t0 + (uint64_t)timeout_ms(cfg) * 1000000;
        if (gb_write_all(c.fd, frame, flen) < 0) {
            gb_fail(w, "request: %s", strerror(errno));
            break;
        }
        while (c.msgs < want && !aborted()) {
            if (gb_conn_poll(&c, 20, on_msg_count, &x) < 0) {
                gb_fail(w, "%s", c.errmsg);
                break;
            }
            if (c.msgs < want && gb_now() > limit) {
                gb_fail(w, "no reply within %.1f s (is a responder running?)", cfg->timeout);
                break;
            }
        }
        if (w->err || c.msgs < want) break;
        if (gb_lat_push(w, gb_now() - t0) < 0) {
            gb_fail(w, "out of memory");
            break;
        }
        gb_store(&w->count, ++done);
    }
    w->t_end = gb_now();
    w->bytes = done * cfg->size;
close:
    gb_conn_free(&c);
out:
    free(frame);
    free(payload);
    atomic_store(&w->finished, 1);
    return NULL;
}

/* ---- conns mode --------------------------------------------------------- */

enum { CS_IDLE, CS_CONNECTING, CS_HANDSHAKE, CS_READY };

/* handshakes in flight at once: enough to keep the server's accept loop
 * busy, few enough that the listen backlog never overflows (an overflow
 * costs a 1 s SYN retransmit and would measure the kernel, not the server) */
#define CONNS_WINDOW 128

int gb_raw_conns(const gb_cfg *cfg)
{
    int n = cfg->conns, ep = -1, rc = 1;
    gb_conn *cs = calloc((size_t)n + 1, sizeof(*cs));
    unsigned char *st = calloc((size_t)n + 1, 1);
    struct epoll_event evs[256];
    char line[1200];
    size_t clen = gb_connect_line(cfg, line, sizeof(line));
    int next = 0, inflight = 0, ready = 0, errors = 0;
    uint64_t delivered = 0, extra = 0, t0, t_conn = 0, t_pub = 0, t_last = 0, progress;
    char errmsg[256] = "";
    char *payload = make_payload(cfg->size);
    gb_conn *pub = NULL;
    gb_worker pw;

    memset(&pw, 0, sizeof(pw));
    pw.cfg = cfg;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || !st || ep < 0 || !payload) {
        fprintf(stderr, "gnatsd-bench: out of memory\n");
        goto out;
    }
    for (int i = 0; i <= n; i++)
        cs[i].fd = -1;
    t0 = progress = gb_now();
    uint64_t last_print = t0;
    while (ready < n && !errors && !atomic_load(&gb_interrupted)) {
        while (inflight < CONNS_WINDOW && next < n) {
            gb_conn *c = &cs[next];
            if (gb_conn_init(c, 2048, 512) < 0 || (c->fd = gb_tcp_start(cfg)) < 0) {
                snprintf(errmsg, sizeof(errmsg), "connection %d: %s", next, strerror(errno));
                errors++;
                break;
            }
            struct epoll_event ev = {EPOLLOUT | EPOLLIN, {.u32 = (uint32_t)next}};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            st[next++] = CS_CONNECTING;
            inflight++;
        }
        int ne = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < ne; e++) {
            int i = (int)evs[e].data.u32;
            gb_conn *c = &cs[i];
            if (st[i] == CS_CONNECTING) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr) {
                    snprintf(errmsg, sizeof(errmsg), "connection %d: %s", i, strerror(soerr));
                    errors++;
                    continue;
                }
                /* pipeline the whole handshake: CONNECT, SUB and PING in one write */
                gb_conn_append(c, line, clen);
                gb_conn_appendf(c, "SUB %s.c.%d 1\r\nPING\r\n", cfg->subject, i);
                if (gb_conn_flush(c) < 0) {
                    snprintf(errmsg, sizeof(errmsg), "connection %d: %s", i, c->errmsg);
                    errors++;
                    continue;
                }
                struct epoll_event ev = {EPOLLIN, {.u32 = (uint32_t)i}};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                st[i] = CS_HANDSHAKE;
            } else if (st[i] == CS_HANDSHAKE) {
                if (gb_conn_read(c, NULL, NULL) < 0) {
                    snprintf(errmsg, sizeof(errmsg), "connection %d: %s", i, c->errmsg);
                    errors++;
                    continue;
                }
                if (c->pongs) {
                    st[i] = CS_READY;
                    ready++;
                    inflight--;
                    progress = gb_now();
                }
            }
        }
        uint64_t now = gb_now();
        if (now - progress > (uint64_t)(cfg->timeout * 1e9)) {
            snprintf(errmsg, sizeof(errmsg), "stalled: %d of %d connections ready", ready, n);
            errors++;
        }
        if (cfg->progress && now - last_print >= 1000000000ull) {
            fprintf(stderr, "[conns] %d/%d connected, %.0f conns/s\n", ready, n,
                    ready / ((now - t0) / 1e9));
            last_print = now;
        }
    }
    t_conn = gb_now() - t0;
    if (errors || ready < n) goto report;

    /* one message to each connection, from a separate publisher connection */
    pub = &cs[n];
    if (open_conn(&pw, pub, 4096) < 0) {
        snprintf(errmsg, sizeof(errmsg), "publisher: %s", pw.errmsg);
        errors++;
        goto report;
    }
    for (int i = 0; i < n; i++) {
        char s2[256];
        int sl = snprintf(s2, sizeof(s2), "%s.c.%d", cfg->subject, i);
        char *f = malloc((size_t)sl + cfg->size + 48);
        if (!f) break;
        size_t fl = put_frame(f, s2, (size_t)sl, NULL, payload, cfg->size);
        gb_conn_append(pub, f, fl);
        free(f);
    }
    gb_conn_append(pub, "PING\r\n", 6);
    struct epoll_event pev = {EPOLLIN, {.u32 = (uint32_t)n}};
    epoll_ctl(ep, EPOLL_CTL_ADD, pub->fd, &pev);
    t_pub = gb_now();
    if (gb_conn_flush(pub) < 0) {
        snprintf(errmsg, sizeof(errmsg), "publisher: %s", pub->errmsg);
        errors++;
        goto report;
    }
    progress = t_pub;
    while ((delivered < (uint64_t)n || !pub->pongs) && !errors && !atomic_load(&gb_interrupted)) {
        int ne = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < ne; e++) {
            int i = (int)evs[e].data.u32;
            int got = gb_conn_read(&cs[i], NULL, NULL);
            if (got < 0) {
                snprintf(errmsg, sizeof(errmsg), "connection %d: %s", i, cs[i].errmsg);
                errors++;
                continue;
            }
            if (got > 0 && i < n) {
                delivered += (uint64_t)got;
                t_last = progress = gb_now();
            }
        }
        if (gb_now() - progress > (uint64_t)(cfg->timeout * 1e9))
            break; /* whatever is missing is reported as lost */
    }
    for (int i = 0; i < n; i++)
        if (cs[i].msgs > 1) extra += cs[i].msgs - 1;

report:;
    gb_result r;
    memset(&r, 0, sizeof(r));
    r.role = "conns";
    r.clients = n;
    r.msgs = delivered;
    r.expected = (uint64_t)n;
    r.lost = delivered - extra < (uint64_t)n ? (uint64_t)n - (delivered - extra) : 0;
    r.extra = extra;
    r.errors = (uint64_t)errors;
    r.secs = t_last > t_pub ? (t_last - t_pub) / 1e9 : 0;
    r.rate = r.secs > 0 ? delivered / r.secs : 0;
    r.mbps = r.rate * (double)cfg->size / 1e6;
    gb_result_extra(&r, "conns_ready", ready);
    gb_result_extra(&r, "connect_secs", t_conn / 1e9);
    gb_result_extra(&r, "connect_per_sec", t_conn ? ready / (t_conn / 1e9) : 0);
    gb_result_extra(&r, "delivered", (double)delivered);
    if (errmsg[0]) r.errmsg = errmsg;
    gb_emit(cfg, &r);
    rc = r.lost || r.extra || r.errors ? 1 : 0;
out:
    if (cs)
        for (int i = 0; i <= n; i++)
            if (cs[i].rbuf || cs[i].fd >= 0) gb_conn_free(&cs[i]);
    if (ep >= 0) close(ep);
    free(cs);
    free(st);
    free(payload);
    return rc;
}
