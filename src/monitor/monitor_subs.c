/* monitor_subs.c: /subsz (alias /subscriptionsz) and /routez
 * (docs/monitoring.md, Endpoints).
 *
 * /subsz reads the sublist's statistics and, with subs=1, walks the sublist
 * under its read lock (SUB/UNSUB and publishes that miss the cache wait
 * behind it) only until the requested page is complete, taking pointers;
 * copying the page and the JSON are done after the lock is dropped, the subs'
 * memory being kept by qsbr. The page is the first offset+limit listed subs
 * in walk order, as the reference (which does not sort them either). Its shape quirk is kept: with
 * an empty page the document is the bare statistics object.
 *
 * /routez: the configured cluster permissions, then the routes (routez.c). */
#include "core/core.h"
#include "monitor/monitor.h"
#include "nats/account.h"
#include "nats/route.h"
#include "core/server.h"

#include <stdlib.h>

#define DEFAULT_SUB_LIST 1024

typedef struct sub_row {
    const char *account; /* accounts live as long as the server */
    char *subject, *queue, *sid;
    int64_t msgs, max;
    uint64_t cid;
} sub_row_t;

typedef struct sub_rows {
    sub_row_t *v;
    size_t n;
} sub_rows_t;

typedef struct sub_ptrs {
    sub_t **v;
    const account_t **acc; /* v[i]'s account */
    const account_t *cur;  /* the account being walked */
    size_t n, cap;
    const char *test; /* literal subject filter, NULL = all */
    size_t testn;
    size_t seen, lo, hi; /* listed subs seen so far; the page is [lo, hi) of them */
} sub_ptrs_t;

/* Runs under the sublist's read lock, which SUB/UNSUB (writers) and publishes
 * that miss the match cache wait behind: it only filters and takes the page's
 * pointers, and stops the walk once the page is full. The subs and their
 * connections are retired through qsbr, so their memory stays valid after
 * the lock is dropped until this (registered) thread's next quiescent point;
 * the strings are copied then. */
static bool collect_ptr(sub_t *s, void *arg)
{
    sub_ptrs_t *p = arg;
    /* only local client interest is listed (route interest is only counted) */
    if (!s->conn || s->conn->kind != CONN_CLIENT || atomic_load(&s->closed)) return false;
    if (p->test && !subject_matches(s->subject.p, s->subject.n, p->test, p->testn)) return false;
    size_t k = p->seen++;
    if (k < p->lo) return false;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->v = xrealloc(p->v, p->cap * sizeof *p->v);
        p->acc = xrealloc(p->acc, p->cap * sizeof *p->acc);
    }
    p->acc[p->n] = p->cur;
    p->v[p->n++] = s;
    return p->seen >= p->hi;
}

/* Outside the lock: the page's rows. */
static void collect_rows(const sub_ptrs_t *p, sub_rows_t *r)
{
    r->v = p->n ? xcalloc(p->n, sizeof *r->v) : NULL;
    for (size_t i = 0; i < p->n; i++) {
        const sub_t *s = p->v[i];
        sub_row_t *row = &r->v[r->n++];
        row->account = p->acc[i]->name;
        row->subject = xstrndup(s->subject.p, s->subject.n);
        row->queue = s->queue.n ? xstrndup(s->queue.p, s->queue.n) : NULL;
        row->sid = xstrndup(s->sid.p, s->sid.n);
        row->msgs = atomic_load(&s->delivered);
        row->max = atomic_load(&s->max);
        row->cid = s->conn->cid;
    }
}

void monitor_write_sublist_stats(jw_t *w, const sublist_stats_t *st)
{
    jw_uint(w, "num_subscriptions", st->num_subs);
    jw_uint(w, "num_cache", st->num_cache);
    jw_uint(w, "num_inserts", st->num_inserts);
    jw_uint(w, "num_removes", st->num_removes);
    jw_uint(w, "num_matches", st->num_matches);
    jw_float(w, "cache_hit_rate",
             st->num_matches ? (double)st->cache_hits / (double)st->num_matches : 0);
    jw_uint(w, "max_fanout", st->max_fanout);
    jw_float(w, "avg_fanout", st->avg_fanout);
}

/* Go's IsValidLiteralSubject: non-empty tokens, no token that is exactly a
 * wildcard (a token merely containing '*' or '>' is a literal). */
static bool valid_literal(const char *s)
{
    size_t n = strlen(s);
    if (!n) return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') continue;
        size_t tl = i - start;
        if (tl == 0) return false;
        if (tl == 1 && (s[start] == '*' || s[start] == '>')) return false;
        start = i + 1;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') return false;
    return true;
}

typedef struct walk {
    const char *only; /* ?acc=, NULL = every account */
    sub_ptrs_t *ptrs;
}

walk_t;

/* One account's part of the page; false (stop) once the page is full. */
static bool walk_account(account_t *a, void *arg)
{
    walk_t *wk = arg;
    if (wk->only && strcmp(wk->only, a->name) != 0) return true;
    wk->ptrs->cur = a;
    sublist_foreach_until(a->sl, collect_ptr, wk->ptrs);
    return wk->ptrs->seen < wk->ptrs->hi;
}

int handle_subsz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    bool subs;
    int64_t offset, limit;
    char test[1024], acc[256];
    (void)rep; /* counted even when the parameters are bad, as the reference */
    if (mon_bool(req, "subs", &subs, body) || mon_int(req, "offset", &offset, body) ||
        mon_int(req, "limit", &limit, body))
        return 400;
    bool has_test = mon_param(req, "test", test, sizeof test);
    bool has_acc = mon_param(req, "acc", acc, sizeof acc);
    if (offset < 0) offset = 0;
    if (limit <= 0) limit = DEFAULT_SUB_LIST;
    if (has_test && !valid_literal(test)) {
        buf_printf(body, "invalid test subject, must be valid publish subject: %s", test);
        return 400;
    }
    sublist_stats_t st = {0};
    accounts_sublist_stats(has_acc ? acc : NULL, &st);
    sub_rows_t rows = {0};
    if (subs) {
        size_t from = (size_t)offset;
        sub_ptrs_t ptrs = {.test = has_test ? test : NULL,
                           .testn = has_test ? strlen(test) : 0,
                           .lo = from,
                           .hi =
                               (uint64_t)limit > SIZE_MAX - from ? SIZE_MAX : from + (size_t)limit};
        walk_t wk = {has_acc ? acc : NULL, &ptrs};
        accounts_foreach(walk_account, &wk);
        collect_rows(&ptrs, &rows);
        free(ptrs.v);
        free(ptrs.acc);
    }
    /* rows holds exactly the page */
    size_t lo = 0, hi = rows.n;

    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);
    if (hi > lo) {
        jw_str(&w, "server_id", srv->server_id);
        jw_time(&w, "now", now_wall_ns());
    }
    monitor_write_sublist_stats(&w, &st);
    if (hi > lo) {
        jw_uint(&w, "total", hi - lo); /* the page size, as the reference */
        jw_int(&w, "offset", offset);
        jw_int(&w, "limit", limit);
        jw_arr_begin(&w, "subscriptions_list");
        for (size_t i = lo; i < hi; i++) {
            const sub_row_t *r = &rows.v[i];
            jw_obj_begin(&w, NULL);
            jw_str(&w, "account", r->account);
            jw_str(&w, "subject", r->subject);
            if (r->queue) jw_str(&w, "qgroup", r->queue);
            jw_str(&w, "sid", r->sid);
            jw_int(&w, "msgs", r->msgs);
            if (r->max) jw_int(&w, "max", r->max);
            jw_uint(&w, "cid", r->cid);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    jw_obj_end(&w);

    for (size_t i = 0; i < rows.n; i++) {
        free(rows.v[i].subject);
        free(rows.v[i].queue);
        free(rows.v[i].sid);
    }
    free(rows.v);
    return 200;
}

static void write_perm_list(jw_t *w, const perm_list_t *p)
{
    if (p->nallow) {
        jw_arr_begin(w, "allow");
        for (size_t i = 0; i < p->nallow; i++)
            jw_str(w, NULL, p->allow[i]);
        jw_arr_end(w);
    }
    if (p->ndeny) {
        jw_arr_begin(w, "deny");
        for (size_t i = 0; i < p->ndeny; i++)
            jw_str(w, NULL, p->deny[i]);
        jw_arr_end(w);
    }
}

int handle_routez(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    bool subs, detail;
    if (mon_subs(req, &subs, &detail, body)) {
        rep->uncounted = true;
        return 400;
    }
    const permissions_t *p = srv->opts->cluster.perms;
    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);
    jw_str(&w, "server_id", srv->server_id);
    jw_time(&w, "now", now_wall_ns());
    /* cluster permissions: import = what routes may publish to us, export = subscribe */
    if (p && p->has_publish) {
        jw_obj_begin(&w, "import");
        write_perm_list(&w, &p->publish);
        jw_obj_end(&w);
    }
    if (p && p->has_subscribe) {
        jw_obj_begin(&w, "export");
        write_perm_list(&w, &p->subscribe);
        jw_obj_end(&w);
    }
    routez_write_routes(&w, subs, detail);
    jw_obj_end(&w);
    return 200;
}
