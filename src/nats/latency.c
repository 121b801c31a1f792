/* latency.c: service latency tracking (see latency.h). */
#include "nats/latency.h"
#include "nats/account.h"
#include "nats/clientinfo.h"
#include "nats/deliver.h"
#include "nats/imports.h"
#include "proto/latency_parse.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LAT_BUCKETS 4096
#define REMOTE_TTL_NS (120LL * 1000000000LL) /* the reference's default response threshold */
#define LAT_TYPE "io.nats.server.metric.v1.service_latency"

/* One request: measured here (the local table), or answered here for another server
 * (the remote table: acc, ts_wall and the key only). */
typedef struct rec {
    struct rec *hnext, *older, *newer;
    uint64_t h;
    int64_t deadline_ns; /* monotonic: 504 (or dropped) after */
    int64_t ts_wall;     /* when the request came in */
    /* local */
    account_t *exp; /* the results go there */
    char *results;
    uint64_t req_cid;
    int64_t req_rtt;
    client_snap_t req;
    char *hdr;   /* the triggering headers as a JSON object, or NULL */
    bool lost;   /* the requester stopped waiting: 408 at the next sweep */
    bool got_m1; /* the response came through a route: m1 kept, waiting for m2 */
    int64_t m1_service, m1_total, m1_req_rtt;
    char *m2_responder; /* m2 came first: its responder object, service and rtt */
    int64_t m2_service, m2_resp_rtt;
    /* remote */
    char *acc;
    uint32_t keyn;
    char key[];
} rec_t;

typedef struct table {
    rec_t *b[LAT_BUCKETS];
    rec_t *oldest, *newest;
    size_t n;
} table_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static table_t *local, *remote;
static _Atomic int64_t local_live;
_Atomic int64_t latency_remote_live;
static char tag[16]; /* ".<hash>.T" */
static sub_t *m2_sub;
static bool started;

/* ---- the tables (under mu) ---------------------------------------------------------- */

static rec_t *rec_new(slice_t key)
{
    rec_t *r = xcalloc(1, sizeof *r + key.n + 1);
    r->keyn = (uint32_t)key.n;
    memcpy(r->key, key.p, key.n);
    r->h = hash_bytes(key.p, key.n);
    return r;
}

static void rec_free(rec_t *r)
{
    if (!r) return;
    free(r->results);
    client_snap_free(&r->req);
    free(r->hdr);
    free(r->m2_responder);
    free(r->acc);
    free(r);
}

static rec_t *tab_find(table_t *t, slice_t key)
{
    uint64_t h = hash_bytes(key.p, key.n);
    for (rec_t *r = t->b[h % LAT_BUCKETS]; r; r = r->hnext)
        if (r->h == h && r->keyn == key.n && memcmp(r->key, key.p, key.n) == 0) return r;
    return NULL;
}

static void tab_unlink(table_t *t, rec_t *r)
{
    rec_t **pp = &t->b[r->h % LAT_BUCKETS];
    while (*pp && *pp != r)
        pp = &(*pp)->hnext;
    if (*pp) *pp = r->hnext;
    if (r->older)
        r->older->newer = r->newer;
    else
        t->oldest = r->newer;
    if (r->newer)
        r->newer->older = r->older;
    else
        t->newest = r->older;
    t->n--;
    atomic_fetch_sub(t == local ? &local_live : &latency_remote_live, 1);
}

/* Adds r; returns the oldest entry it pushed out at the bound (the caller frees it). */
static rec_t *tab_put(table_t *t, rec_t *r)
{
    rec_t *out = NULL;
    if (t->n >= LATENCY_MAX) {
        out = t->oldest;
        tab_unlink(t, out);
    }
    rec_t **b = &t->b[r->h % LAT_BUCKETS];
    r->hnext = *b;
    *b = r;
    r->older = t->newest;
    r->newer = NULL;
    if (t->newest)
        t->newest->newer = r;
    else
        t->oldest = r;
    t->newest = r;
    t->n++;
    atomic_fetch_add(t == local ? &local_live : &latency_remote_live, 1);
    return out;
}

/* ---- results ------------------------------------------------------------------------ */

typedef struct result {
    int status;
    const char *desc;
    const client_snap_t *req; /* NULL: none */
    int64_t req_rtt;
    bool share;
    const conn_t *resp; /* a responder here, or ... */
    int64_t resp_rtt;
    const char *resp_raw; /* ... another server's responder object, or neither */
    const char *hdr;
    int64_t start_wall, service, system, total;
} result_t;

/* The reference never reports a negative time (round trips are estimates). */
static void sanitize(result_t *r)
{
    if (r->service < 0) r->service = 0;
    if (r->system < 0) r->system = 0;
}

static void publish_result(worker_t *w, account_t *exp, const char *subject, const result_t *r)
{
    buf_t b = {0};
    jw_t j;
    jw_init(&j, &b, false);
    char id[23];
    event_id(worker_rand(w), worker_rand(w), id);
    jw_obj_begin(&j, NULL);
    jw_str(&j, "type", LAT_TYPE);
    jw_str(&j, "id", id);
    jw_time(&j, "timestamp", now_wall_ns());
    jw_int(&j, "status", r->status);
    if (r->desc) jw_str(&j, "description", r->desc);
    if (r->req) {
        client_extra_t x = {.rtt_ns = r->req_rtt, .server = r->req->detail};
        client_snap_write(&j, "requestor", r->req, &x);
    }
    if (r->resp) {
        client_extra_t x = {.rtt_ns = r->resp_rtt, .server = true};
        client_info_write(&j, "responder", r->resp, true, NULL, &x);
    } else if (r->resp_raw) {
        jw_raw(&j, "responder", r->resp_raw, strlen(r->resp_raw));
    }
    if (r->hdr) jw_raw(&j, "header", r->hdr, strlen(r->hdr));
    jw_time(&j, "start", r->start_wall);
    jw_int(&j, "service", r->service);
    jw_int(&j, "system", r->system);
    jw_int(&j, "total", r->total);
    jw_obj_end(&j);
    deliver_publish(w, exp, subject, NULL, b.p, b.len);
    buf_free(&b);
}

/* A request that ended without a response here: 408, 503 or 504. */
static void publish_failure(worker_t *w, const rec_t *rec, int status, const char *desc)
{
    result_t r = {.status = status,
                  .desc = desc,
                  .req = &rec->req,
                  .req_rtt = rec->req_rtt,
                  .hdr = rec->hdr,
                  .start_wall = rec->ts_wall - rec->req_rtt};
    publish_result(w, rec->exp, rec->results, &r);
}

/* m1 (measured here, the response came through a route) merged with m2 (the
 * responder's server's measurement): m2's service time, the rest is the system's. */
static void publish_merged(worker_t *w, const rec_t *rec)
{
    result_t r = {.status = 200,
                  .req = &rec->req,
                  .req_rtt = rec->m1_req_rtt,
                  .resp_raw = rec->m2_responder,
                  .hdr = rec->hdr,
                  .start_wall = rec->ts_wall - rec->m1_req_rtt,
                  .total = rec->m1_total};
    r.system = rec->m1_service - (rec->m2_service + rec->m2_resp_rtt);
    r.service = rec->m2_service;
    sanitize(&r);
    publish_result(w, rec->exp, rec->results, &r);
}

/* ---- sampling ------------------------------------------------------------------------- */

static bool op_sample(worker_t *w, int sampling, const msg_t *m, char **hdr)
{
    *hdr = NULL;
    if (!m->from) return false; /* the server's own messages are not measured */
    if (sampling >= 100) return true;
    /* the reference's dice: 0-99 at most sampling (so sampling+1 in a hundred) */
    if (sampling > 0 && (int)(worker_rand(w) % 100) <= sampling) return true;
    return m->hdr > 0 && trace_headers_sampled(m->payload, (size_t)m->hdr, hdr);
}

/* ---- a request's life ---------------------------------------------------------------- */

static void op_tag(char *out, size_t cap)
{
    snprintf(out, cap, "%s", tag);
}

static void op_request(worker_t *w, slice_t key, account_t *exp, const char *results,
                       const msg_t *m, bool share, char *hdr, int64_t thresh_ns)
{
    conn_t *c = m->from;
    rec_t *r = rec_new(key);
    r->exp = exp;
    r->results = xstrdup(results);
    r->ts_wall = now_wall_ns();
    r->req_cid = c->cid;
    client_snap_take(&r->req, c, share, NULL);
    r->req_rtt = atomic_load_explicit(&c->rtt_ns, memory_order_relaxed);
    if (!r->req_rtt) conn_rtt_probe(w, c); /* measured by the time the answer comes */
    r->hdr = hdr;
    r->deadline_ns = w->now_ns + thresh_ns;
    pthread_mutex_lock(&mu);
    rec_t *out = tab_put(local, r);
    pthread_mutex_unlock(&mu);
    rec_free(out);
    worker_note_deadline(w, r->deadline_ns);
}

static void op_bad_request(worker_t *w, account_t *exp, const char *results, const msg_t *m,
                           bool share, char *hdr)
{
    client_snap_t req;
    client_snap_take(&req, m->from, share, NULL);
    int64_t rtt = atomic_load_explicit(&m->from->rtt_ns, memory_order_relaxed);
    result_t r = {.status = 400,
                  .desc = "Bad Request",
                  .req = &req,
                  .req_rtt = rtt,
                  .hdr = hdr,
                  .start_wall = now_wall_ns() - rtt};
    publish_result(w, exp, results, &r);
    client_snap_free(&req);
    free(hdr);
}

static rec_t *take_local(slice_t key)
{
    pthread_mutex_lock(&mu);
    rec_t *r = local ? tab_find(local, key) : NULL;
    if (r) tab_unlink(local, r);
    pthread_mutex_unlock(&mu);
    return r;
}

static void op_no_delivery(worker_t *w, slice_t key)
{
    rec_t *r = take_local(key);
    if (!r) return;
    publish_failure(w, r, 503, "Service Unavailable");
    rec_free(r);
}

/* The requester's round trip now (it may have been measured since the request). */
static int64_t requester_rtt(const rec_t *rec, const sl_result_t *req)
{
    for (uint32_t i = 0; req && i < req->nplain; i++) {
        const sub_t *s = req->plain[i];
        if (!s->imp && !s->remote && s->conn && s->conn->cid == rec->req_cid) {
            int64_t rtt = atomic_load_explicit(&s->conn->rtt_ns, memory_order_relaxed);
            return rtt ? rtt : rec->req_rtt;
        }
    }
    return rec->req_rtt;
}

static void op_response(worker_t *w, slice_t key, const msg_t *resp, const sl_result_t *req)
{
    if (!atomic_load_explicit(&local_live, memory_order_relaxed)) return;
    int64_t now = now_wall_ns();
    pthread_mutex_lock(&mu);
    rec_t *r = tab_find(local, key);
    if (!r || r->got_m1 || r->lost) {
        pthread_mutex_unlock(&mu);
        return;
    }
    int64_t req_rtt = requester_rtt(r, req);
    int64_t service_rtt = now - r->ts_wall;
    if (resp->from && !resp->from_route && !resp->from_gw) { /* the responder is a client here */
        tab_unlink(local, r);
        pthread_mutex_unlock(&mu);
        conn_t *c = resp->from;
        int64_t resp_rtt = atomic_load_explicit(&c->rtt_ns, memory_order_relaxed);
        result_t res = {.status = 200,
                        .req = &r->req,
                        .req_rtt = req_rtt,
                        .resp = c,
                        .resp_rtt = resp_rtt,
                        .hdr = r->hdr,
                        .start_wall = r->ts_wall - req_rtt};
        res.service = service_rtt - resp_rtt;
        res.total = req_rtt + service_rtt;
        if (resp_rtt > 0) {
            res.system = now_wall_ns() - now;
            res.total += res.system;
        }
        sanitize(&res);
        publish_result(w, r->exp, r->results, &res);
        rec_free(r);
        return;
    }
    /* through a route or a gateway: m1 now; the responder's server sends m2 */
    r->m1_req_rtt = req_rtt;
    r->m1_service = service_rtt;
    r->m1_total = req_rtt + service_rtt;
    r->got_m1 = true;
    if (!r->m2_responder) {
        pthread_mutex_unlock(&mu);
        return;
    }
    tab_unlink(local, r);
    pthread_mutex_unlock(&mu);
    publish_merged(w, r);
    rec_free(r);
}

static void op_lost(slice_t key)
{
    bool mark = false;
    pthread_mutex_lock(&mu);
    rec_t *r = local ? tab_find(local, key) : NULL;
    if (r && !r->got_m1 && !r->lost) {
        r->lost = true;
        mark = true;
    }
    pthread_mutex_unlock(&mu);
    if (mark) worker_command_one(&srv->workers[0], WCMD_LATENCY);
}

/* Responders here without a round trip yet get a PING ahead of the request (the
 * reference does the same), so their answer's measurement has one. */
static void op_probe(worker_t *w, const sl_result_t *r)
{
    for (uint32_t i = 0; i < r->nplain; i++)
        if (!r->plain[i]->imp && !r->plain[i]->remote && r->plain[i]->conn)
            conn_rtt_probe(w, r->plain[i]->conn);
    for (uint32_t g = 0; g < r->nqgroups; g++)
        for (uint32_t k = 0; k < r->qgroups[g].n; k++) {
            sub_t *s = r->qgroups[g].subs[k];
            if (!s->imp && !s->remote && s->conn) conn_rtt_probe(w, s->conn);
        }
}

static const imports_latency_ops_t ops = {op_sample,   op_request, op_bad_request, op_no_delivery,
                                          op_response, op_lost,    op_tag,         op_probe};

/* ---- the other server's side -------------------------------------------------------- */

/* A routed request with a tracked reply reached client subscription s here. */
static void on_tracked(worker_t *w, sub_t *s, const msg_t *m)
{
    if (s->imp || !s->conn || !s->sl) return;
    account_t *a = sublist_owner(s->sl);
    rec_t *r = rec_new(m->reply);
    r->acc = xstrdup(a->name);
    r->ts_wall = now_wall_ns();
    r->deadline_ns = w->now_ns + REMOTE_TTL_NS;
    rec_t *out = NULL;
    pthread_mutex_lock(&mu);
    if (tab_find(remote, m->reply)) { /* another subscriber got it too: the first counts */
        pthread_mutex_unlock(&mu);
        rec_free(r);
    } else {
        out = tab_put(remote, r);
        pthread_mutex_unlock(&mu);
        rec_free(out);
        worker_note_deadline(w, r->deadline_ns);
    }
    conn_rtt_probe(w, s->conn); /* ahead of the message: its answer comes after the PONG */
}

void latency_answered(worker_t *w, conn_t *c, slice_t subject)
{
    if (subject.n < 4 || subject.p[subject.n - 1] != 'T' || subject.p[subject.n - 2] != '.') return;
    pthread_mutex_lock(&mu);
    rec_t *r = remote ? tab_find(remote, subject) : NULL;
    if (r) tab_unlink(remote, r);
    pthread_mutex_unlock(&mu);
    if (!r) return;
    account_t *sys = account_system();
    /* the requester's server: the token before ".T" */
    const char *e = subject.p + subject.n - 2, *b = e;
    while (b > subject.p && b[-1] != '.')
        b--;
    if (sys && e > b) {
        int64_t rtt = atomic_load_explicit(&c->rtt_ns, memory_order_relaxed);
        int64_t service = now_wall_ns() - r->ts_wall - rtt;
        if (service < 0) service = 0;
        buf_t out = {0};
        jw_t j;
        jw_init(&j, &out, false);
        jw_obj_begin(&j, NULL);
        jw_str(&j, "account", r->acc);
        jw_strn(&j, "req_id", subject.p, subject.n);
        jw_obj_begin(&j, "m2");
        jw_str(&j, "type", "");
        jw_str(&j, "id", "");
        jw_str(&j, "timestamp", "0001-01-01T00:00:00Z");
        jw_int(&j, "status", 200);
        client_extra_t x = {.rtt_ns = rtt, .server = true};
        client_info_write(&j, "responder", c, true, NULL, &x);
        jw_time(&j, "start", r->ts_wall);
        jw_int(&j, "service", service);
        jw_int(&j, "system", 0);
        jw_int(&j, "total", service + rtt);
        jw_obj_end(&j);
        jw_obj_end(&j);
        char subj[64];
        snprintf(subj, sizeof subj, "$SYS.LATENCY.M2.%.*s", (int)(e - b > 32 ? 32 : e - b), b);
        deliver_publish(w, sys, subj, NULL, out.p, out.len);
        buf_free(&out);
    }
    rec_free(r);
}

/* ---- m2 from the responder's server ------------------------------------------------- */

static int on_m2(worker_t *w, const msg_t *msg, void *arg)
{
    (void)arg;
    const char *p = msg->payload + (msg->hdr > 0 ? msg->hdr : 0);
    size_t n = (size_t)(msg->size - (msg->hdr > 0 ? msg->hdr : 0));
    latency_m2_t m;
    if (!latency_m2_parse(p, n, &m)) {
        ERROR("Error unmarshalling remote latency measurement: %.*s", (int)(n > 200 ? 200 : n), p);
        return 1;
    }
    pthread_mutex_lock(&mu);
    rec_t *r = tab_find(local, m.req_id);
    if (!r || r->m2_responder) {
        pthread_mutex_unlock(&mu);
        return 1;
    }
    r->m2_responder = m.responder.n ? xstrndup(m.responder.p, m.responder.n) : xstrdup("null");
    r->m2_service = m.service;
    r->m2_resp_rtt = m.resp_rtt;
    if (!r->got_m1) { /* the response is still on its way */
        pthread_mutex_unlock(&mu);
        return 1;
    }
    tab_unlink(local, r);
    pthread_mutex_unlock(&mu);
    publish_merged(w, r);
    rec_free(r);
    return 1;
}

/* ---- sweeping ------------------------------------------------------------------------- */

typedef struct report {
    rec_t *rec;
    int status;
} report_t;

/* Any worker, at its tick (or WCMD_LATENCY): 408 for requesters gone, 504 for requests
 * past their threshold, expired entries dropped; notes the next deadline on w. */
static void sweep(worker_t *w)
{
    if (!atomic_load_explicit(&local_live, memory_order_relaxed) &&
        !atomic_load_explicit(&latency_remote_live, memory_order_relaxed))
        return;
    report_t rep[64];
    size_t nrep = 0;
    bool more = false;
    int64_t next = 0, now = w->now_ns;
    rec_t *drop = NULL;
    pthread_mutex_lock(&mu);
    for (rec_t *r = local->oldest, *nx; r; r = nx) {
        nx = r->newer;
        bool due = r->lost || r->deadline_ns <= now;
        if (due && nrep == ARRAY_LEN(rep)) {
            more = true;
            break;
        }
        if (!due) {
            if (!next || r->deadline_ns < next) next = r->deadline_ns;
            continue;
        }
        tab_unlink(local, r);
        if (r->lost)
            rep[nrep++] = (report_t){r, 408};
        else if (!r->got_m1)
            rep[nrep++] = (report_t){r, 504};
        else { /* answered through a route; its m2 never came */
            r->hnext = drop;
            drop = r;
        }
    }
    for (rec_t *r = remote->oldest, *nx; r; r = nx) {
        nx = r->newer;
        if (r->deadline_ns > now) {
            if (!next || r->deadline_ns < next) next = r->deadline_ns;
            continue;
        }
        tab_unlink(remote, r);
        r->hnext = drop;
        drop = r;
    }
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < nrep; i++) {
        if (rep[i].status == 408)
            publish_failure(w, rep[i].rec, 408, "Request Timeout");
        else
            publish_failure(w, rep[i].rec, 504, "Service Timeout");
        rec_free(rep[i].rec);
    }
    for (rec_t *r = drop, *nx; r; r = nx) {
        nx = r->hnext;
        rec_free(r);
    }
    if (more) worker_command_one(w, WCMD_LATENCY);
    if (next) worker_note_deadline(w, next);
}

/* ---- start and stop ------------------------------------------------------------------ */

/* The reference's server hash: 8 characters of SHA-256(server name), base 62. */
static void make_tag(void)
{
    const char *name = srv->server_name ? srv->server_name : srv->server_id;
    char h[9];
    hash_name_b62(name, h, 8);
    snprintf(tag, sizeof tag, ".%s.T", h);
}

void latency_start(void)
{
    account_t *sys = account_system();
    if (!sys || started) return;
    local = xcalloc(1, sizeof *local);
    remote = xcalloc(1, sizeof *remote);
    make_tag();
    char subj[64];
    snprintf(subj, sizeof subj, "$SYS.LATENCY.M2.%.8s", tag + 1);
    m2_sub = internal_sub_add(sys, subj, on_m2, NULL, true);
    worker_on_tick(sweep);
    worker_on_command(WCMD_LATENCY, sweep);
    deliver_tracked = on_tracked;
    imports_set_latency(&ops);
    started = true;
}

static void free_table(table_t *t)
{
    if (!t) return;
    for (rec_t *r = t->oldest, *nx; r; r = nx) {
        nx = r->newer;
        rec_free(r);
    }
    free(t);
}

void latency_stop(void)
{
    if (!started) return;
    imports_set_latency(NULL);
    internal_sub_remove(m2_sub);
    m2_sub = NULL;
}

void latency_free(void)
{
    if (!started) return;
    deliver_tracked = NULL; /* a plain pointer the workers read: cleared once they are gone */
    free_table(local);
    free_table(remote);
    local = remote = NULL;
    atomic_store(&local_live, 0);
    atomic_store(&latency_remote_live, 0);
    started = false;
}
