/* gb_accounts.c: the accounts mode of gnatsd-bench (bench/README.md "accounts").
 *
 * Many tenants on one server: --accounts accounts of --acc-conns connections each,
 * every account importing one service ("svc.>") from an exporting account SVC whose
 * --sub responders answer in a queue group. --write-config writes the server's
 * config for that (users aN/aN, svc/svc). A run measures, in order:
 *
 *   1. connect: every account's connections connect, log in and subscribe (conns/s,
 *      and the server's RSS growth per account and per connection when --pid names
 *      the server);
 *   2. service: connection 0 of every account sends requests through its import, one
 *      outstanding each, --msgs in all or for --duration (requests/s, latency);
 *   3. isolation: connection 0 of every account publishes one message on the
 *      accounts' shared subject name; each of its account's other connections must
 *      get exactly one (none from the other accounts).
 *
 * One thread and one epoll set drive every connection, so the client costs the same
 * against any server. */
#include "gb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gb_proto.h"
#include "gb_report.h"

#define ACC_WINDOW 256 /* connections in their handshake at once */
#define EV_SUBJECT "bench.acc.ev"

enum { AS_CONNECTING = 1, AS_HANDSHAKE, AS_READY };

typedef struct aconn {
    gb_conn c;
    int acc;  /* -1: a responder of SVC */
    int role; /* 0 responder, 1 requester, 2 subscriber */
    unsigned char st;
    bool dirty;           /* write buffer to flush after this round */
    bool waiting;         /* requester: a request is outstanding */
    uint64_t mark;        /* pongs before the last PING sent */
    uint64_t sent_ns;     /* requester: the outstanding request's send time */
    uint64_t done, quota; /* requester: requests answered / to send */
    uint64_t got_ev;      /* subscriber: isolation messages received */
} aconn;

typedef struct actx {
    const gb_cfg *cfg;
    aconn *cs;
    int n, nresp;
    char *payload;
    gb_worker **req; /* latency samples per requester */
    uint64_t answered;
    bool stop_sending;
} actx;

int gb_accounts_config(const gb_cfg *cfg, FILE *f)
{
    fprintf(f, "# gnatsd-bench accounts: %d accounts importing SVC's service\n", cfg->accounts);
    fprintf(f, "accounts {\n  SVC: { users: [ {user: svc, password: svc} ], exports: [ {service: "
               "\"svc.>\"} ] }\n");
    for (int a = 0; a < cfg->accounts; a++)
        fprintf(
            f,
            "  A%d: { users: [ {user: a%d, password: a%d} ], imports: [ {service: {account: SVC, "
            "subject: \"svc.>\"}} ] }\n",
            a, a, a);
    fprintf(f, "}\n");
    return ferror(f) ? -1 : 0;
}

/* The server's resident set (kB) from /proc, 0 if unknown. */
static long server_rss_kb(int pid)
{
    if (pid <= 0) return 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
    fclose(f);
    return kb;
}

static void send_request(actx *x, aconn *a, int i)
{
    char hdr[160];
    int hl = snprintf(hdr, sizeof hdr, "PUB svc.echo _INBOX.acc%d.%llu %zu\r\n", a->acc,
                      (unsigned long long)a->done, x->cfg->size);
    gb_conn_append(&a->c, hdr, (size_t)hl);
    gb_conn_append(&a->c, x->payload, x->cfg->size);
    gb_conn_append(&a->c, "\r\n", 2);
    a->sent_ns = gb_now();
    a->waiting = true;
    a->dirty = true;
    (void)i;
}

typedef struct msg_arg {
    actx *x;
    int i;
} msg_arg;

static void on_msg(void *arg, const gb_msg *m)
{
    msg_arg *ma = arg;
    actx *x = ma->x;
    aconn *a = &x->cs[ma->i];
    if (a->role == 0) { /* a responder: the same size back to the reply subject */
        if (!m->reply_len) return;
        char hdr[300];
        int hl =
            snprintf(hdr, sizeof hdr, "PUB %.*s %zu\r\n", (int)m->reply_len, m->reply, m->size);
        gb_conn_append(&a->c, hdr, (size_t)hl);
        gb_conn_append(&a->c, x->payload, m->size <= x->cfg->size ? m->size : 0);
        gb_conn_append(&a->c, "\r\n", 2);
        a->dirty = true;
    } else if (a->role == 1) {
        if (!a->waiting) return;
        a->waiting = false;
        gb_lat_push(x->req[a->acc], gb_now() - a->sent_ns);
        a->done++;
        x->answered++;
        gb_store(&x->req[a->acc]->count, a->done);
        x->req[a->acc]->t_end = gb_now();
        if (a->done < a->quota && !x->stop_sending) send_request(x, a, ma->i);
    } else {
        a->got_ev++;
    }
}

/* Reads whatever epoll reported; flushes what the messages queued. -1 on error. */
static int pump(actx *x, int ep, int timeout_ms, char *errmsg, size_t errlen)
{
    struct epoll_event evs[256];
    int ne = epoll_wait(ep, evs, 256, timeout_ms);
    for (int e = 0; e < ne; e++) {
        int i = (int)evs[e].data.u32;
        aconn *a = &x->cs[i];
        msg_arg ma = {x, i};
        if (a->st == AS_CONNECTING) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            getsockopt(a->c.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr) {
                snprintf(errmsg, errlen, "connection %d: %s", i, strerror(soerr));
                return -1;
            }
            gb_cfg cc = *x->cfg; /* this connection's account user */
            if (a->acc < 0)
                snprintf(cc.user, sizeof cc.user, "svc");
            else
                snprintf(cc.user, sizeof cc.user, "a%d", a->acc);
            snprintf(cc.pass, sizeof cc.pass, "%s", cc.user);
            cc.token[0] = 0;
            char line[1200];
            gb_conn_append(&a->c, line, gb_connect_line(&cc, line, sizeof line));
            if (a->role == 0)
                gb_conn_appendf(&a->c, "SUB svc.> svcq 1\r\n");
            else if (a->role == 1)
                gb_conn_appendf(&a->c, "SUB _INBOX.acc%d.* 1\r\n", a->acc);
            else
                gb_conn_appendf(&a->c, "SUB " EV_SUBJECT " 1\r\n");
            gb_conn_append(&a->c, "PING\r\n", 6);
            struct epoll_event ev = {EPOLLIN, {.u32 = (uint32_t)i}};
            epoll_ctl(ep, EPOLL_CTL_MOD, a->c.fd, &ev);
            a->st = AS_HANDSHAKE;
            a->dirty = true;
            continue;
        }
        if (gb_conn_read(&a->c, on_msg, &ma) < 0) {
            snprintf(errmsg, errlen, "connection %d: %s", i, a->c.errmsg);
            return -1;
        }
    }
    for (int i = 0; i < x->n; i++) {
        aconn *a = &x->cs[i];
        if (a->st == AS_HANDSHAKE && a->c.pongs) a->st = AS_READY;
        if (a->dirty) {
            a->dirty = false;
            if (gb_conn_flush(&a->c) < 0) {
                snprintf(errmsg, errlen, "connection %d: %s", i, a->c.errmsg);
                return -1;
            }
        }
    }
    return 0;
}

static int count_ready(const actx *x, int from, int to)
{
    int r = 0;
    for (int i = from; i < to; i++)
        r += x->cs[i].st == AS_READY;
    return r;
}

/* Connects cs[from..to) (a window at a time) until all are ready. */
static int connect_range(actx *x, int ep, int from, int to, char *errmsg, size_t errlen)
{
    int next = from;
    uint64_t progress = gb_now(), last = progress;
    int ready = 0;
    while (ready < to - from && !atomic_load(&gb_interrupted)) {
        while (next < to && next - from - ready < ACC_WINDOW) {
            aconn *a = &x->cs[next];
            if (gb_conn_init(&a->c, 4096, 1024) < 0 || (a->c.fd = gb_tcp_start(x->cfg)) < 0) {
                snprintf(errmsg, errlen, "connection %d: %s", next, strerror(errno));
                return -1;
            }
            struct epoll_event ev = {EPOLLOUT | EPOLLIN, {.u32 = (uint32_t)next}};
            epoll_ctl(ep, EPOLL_CTL_ADD, a->c.fd, &ev);
            a->st = AS_CONNECTING;
            next++;
        }
        if (pump(x, ep, 100, errmsg, errlen) < 0) return -1;
        int r = count_ready(x, from, to);
        uint64_t now = gb_now();
        if (r > ready) progress = now;
        ready = r;
        if (now - progress > (uint64_t)(x->cfg->timeout * 1e9)) {
            snprintf(errmsg, errlen, "stalled: %d of %d connections ready", ready, to - from);
            return -1;
        }
        if (x->cfg->progress && now - last >= 1000000000ull) {
            fprintf(stderr, "[accounts] %d/%d connected\n", ready, to - from);
            last = now;
        }
    }
    return ready == to - from ? 0 : -1;
}

int gb_accounts_run(const gb_cfg *cfg)
{
    actx x = {.cfg = cfg};
    int na = cfg->accounts, per = cfg->acc_conns, rc = 1, ep = -1;
    x.nresp = cfg->nsub;
    x.n = x.nresp + na * per;
    x.cs = calloc((size_t)x.n, sizeof *x.cs);
    x.req = calloc((size_t)na, sizeof *x.req);
    x.payload = malloc(cfg->size + 1);
    char errmsg[256] = "";
    uint64_t errors = 0, t_conn = 0, delivered = 0, extra = 0, expected = 0;
    long rss0 = 0, rss1 = 0;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!x.cs || !x.req || !x.payload || ep < 0) {
        fprintf(stderr, "gnatsd-bench: out of memory\n");
        goto out;
    }
    memset(x.payload, 'a', cfg->size);
    for (int i = 0; i < x.n; i++) {
        aconn *a = &x.cs[i];
        a->c.fd = -1;
        a->acc = i < x.nresp ? -1 : (i - x.nresp) / per;
        a->role = i < x.nresp ? 0 : ((i - x.nresp) % per == 0 ? 1 : 2);
    }
    for (int k = 0; k < na; k++) {
        x.req[k] = calloc(1, sizeof(gb_worker));
        if (!x.req[k]) goto out;
        x.req[k]->cfg = cfg;
        x.req[k]->role = GB_ROLE_REQ;
        x.req[k]->id = k;
    }

    /* 1. the responders, then the accounts' connections (timed) */
    if (connect_range(&x, ep, 0, x.nresp, errmsg, sizeof errmsg) < 0) {
        errors++;
        goto report;
    }
    rss0 = server_rss_kb(cfg->server_pid);
    uint64_t t0 = gb_now();
    if (connect_range(&x, ep, x.nresp, x.n, errmsg, sizeof errmsg) < 0) {
        errors++;
        goto report;
    }
    t_conn = gb_now() - t0;
    rss1 = server_rss_kb(cfg->server_pid);

    /* 2. requests through every account's import */
    uint64_t total = cfg->msgs == UINT64_MAX ? UINT64_MAX : cfg->msgs;
    uint64_t t_req = gb_now(),
             deadline = cfg->duration > 0 ? t_req + (uint64_t)(cfg->duration * 1e9) : 0;
    for (int k = 0; k < na; k++) {
        aconn *a = &x.cs[x.nresp + k * per];
        a->quota = total == UINT64_MAX
                       ? UINT64_MAX
                       : total / (uint64_t)na + ((uint64_t)k < total % (uint64_t)na);
        x.req[k]->t_start = t_req;
        x.req[k]->t_end = t_req;
        if (a->quota) send_request(&x, a, x.nresp + k * per);
    }
    uint64_t progress = t_req, last = t_req, seen = 0;
    for (;;) {
        bool active = false;
        for (int k = 0; k < na && !active; k++)
            active = x.cs[x.nresp + k * per].waiting;
        if (!active || atomic_load(&gb_interrupted)) break; /* done, or stopped and answered */
        if (pump(&x, ep, 100, errmsg, sizeof errmsg) < 0) {
            errors++;
            goto report;
        }
        uint64_t now = gb_now();
        if (deadline && now >= deadline) x.stop_sending = true;
        if (x.answered > seen) {
            seen = x.answered;
            progress = now;
        }
        if (now - progress > (uint64_t)(cfg->timeout * 1e9)) {
            snprintf(errmsg, sizeof errmsg, "stalled: %llu requests answered",
                     (unsigned long long)x.answered);
            errors++;
            goto report;
        }
        if (cfg->progress && now - last >= 1000000000ull) {
            fprintf(stderr, "[accounts] %llu requests, %.0f/s\n", (unsigned long long)x.answered,
                    x.answered / ((now - t_req) / 1e9));
            last = now;
        }
    }

    /* 3. isolation: one message per account on the same subject name; every sender's
     * PONG, then every subscriber's PONG to a PING sent after that: a message that
     * arrives at all (also one from another account) has arrived before it */
    expected = (uint64_t)na * (uint64_t)(per - 1);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = x.nresp; i < x.n; i++) {
            aconn *a = &x.cs[i];
            if ((pass == 0) != (a->role == 1)) continue;
            a->mark = a->c.pongs;
            gb_conn_appendf(&a->c, pass == 0 ? "PUB " EV_SUBJECT " 0\r\n\r\nPING\r\n" : "PING\r\n");
            a->dirty = true;
        }
        progress = gb_now();
        for (;;) {
            if (pump(&x, ep, 100, errmsg, sizeof errmsg) < 0) {
                errors++;
                goto report;
            }
            bool all = true;
            for (int i = x.nresp; i < x.n && all; i++)
                if ((pass == 0) == (x.cs[i].role == 1)) all = x.cs[i].c.pongs > x.cs[i].mark;
            if (all) break;
            if (gb_now() - progress > (uint64_t)(cfg->timeout * 1e9) ||
                atomic_load(&gb_interrupted))
                break; /* what is missing is reported lost */
        }
    }
    for (int i = x.nresp; i < x.n; i++) {
        if (x.cs[i].role != 2) continue;
        delivered += x.cs[i].got_ev;
        if (x.cs[i].got_ev > 1) extra += x.cs[i].got_ev - 1;
    }

report:;
    gb_result r;
    memset(&r, 0, sizeof r);
    r.role = "conns";
    r.clients = na * per;
    r.msgs = (uint64_t)count_ready(&x, x.nresp, x.n);
    r.expected = (uint64_t)(na * per);
    r.lost = r.expected - r.msgs;
    r.errors = errors;
    r.secs = t_conn / 1e9;
    r.rate = t_conn ? r.msgs / (t_conn / 1e9) : 0;
    gb_result_extra(&r, "accounts", na);
    if (rss1 > 0) {
        gb_result_extra(&r, "rss_kb_per_account", (double)(rss1 - rss0) / na);
        gb_result_extra(&r, "rss_kb_per_conn", (double)(rss1 - rss0) / (na * per));
        gb_result_extra(&r, "server_rss_kb", (double)rss1);
    }
    if (errmsg[0]) r.errmsg = errmsg;
    gb_emit(cfg, &r);

    gb_result q;
    memset(&q, 0, sizeof q);
    q.role = "req";
    q.clients = na;
    q.msgs = x.answered;
    gb_result_rates(&q, x.req, na, cfg->size);
    gb_result_latency(&q, x.req, na);
    gb_result_extra(&q, "responders", x.nresp);
    gb_emit(cfg, &q);

    gb_result s;
    memset(&s, 0, sizeof s);
    s.role = "sub";
    s.clients = na * (per - 1);
    s.msgs = delivered;
    s.expected = expected;
    s.lost = delivered - extra < expected ? expected - (delivered - extra) : 0;
    s.extra = extra;
    gb_emit(cfg, &s);
    rc = r.lost || r.errors || s.lost || s.extra ? 1 : 0;
out:
    for (int i = 0; x.cs && i < x.n; i++)
        if (x.cs[i].c.rbuf || x.cs[i].c.fd >= 0) gb_conn_free(&x.cs[i].c);
    for (int k = 0; x.req && k < na; k++)
        if (x.req[k]) {
            free(x.req[k]->lat);
            free(x.req[k]);
        }
    if (ep >= 0) close(ep);
    free(x.req);
    free(x.cs);
    free(x.payload);
    return rc;
}
