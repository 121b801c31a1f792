/* imports.c: stream and service imports between accounts (see imports.h). */
#include "nats/imports.h"
#include "nats/auth.h"
#include "nats/deliver.h"
#include "nats/route_fwd.h"
#include "nats/route.h"
#include "nats/subs.h"
#include "nats/respmap.h"
#include "nats/clientinfo.h"
#include "proto/msghdr.h"
#include "base/json.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "base/subject.h"
#include "base/subject_map.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESP_DEFAULT_NS (120LL * 1000000000LL)
#define SUBJ_MAX 1024 /* a mapped subject longer than this is not delivered */

typedef struct import_rt {
    account_t *exp, *imp;
    bool service;
    bool use_pub;     /* X and L are the same: the published subject as it is */
    char *from;       /* X, in EXP */
    char *to;         /* L, in IMP */
    smap_t *map;      /* a stream's `to` with functions (base/subject_map.h), else NULL */
    char *to_pattern; /* L with every function token as "*": what it can match */
    acct_resp_t resp;
    int64_t thresh_ns;
    sub_t *svc_sub;    /* service: the internal sub on L in IMP's index */
    char *lat_subject; /* service: the export's latency results subject, or NULL */
    int lat_sampling;
    bool share; /* the importer shares its requesters' details in latency results */
} import_rt_t;

typedef struct acct_imports {
    struct acct_imports *older; /* earlier generations: kept until shutdown (shadows) */
    size_t n;
    import_rt_t *v;
} acct_imports_t;

typedef enum { SI_SHADOW, SI_SERVICE, SI_RESP, SI_FUNC } si_kind_t;

typedef struct sub_import {
    si_kind_t kind;
    const import_rt_t *im; /* SI_SHADOW, SI_SERVICE */
    sub_t *primary;        /* SI_SHADOW: the client's own subscription */
    account_t *acc;        /* SI_RESP: the exporting account whose replies it carries */
    internal_msg_fn fn;    /* SI_FUNC */
    void *arg;
    bool announced;
} sub_import_t;

/* ---- an exporting account's reply side ------------------------------------ */

/* account_t.resp: its pending responses, and the "_R_.<tag>.>" subscription. */
typedef struct resp_map {
    respmap_t *map;
    pthread_mutex_t mu; /* making sub */
    sub_t *sub;         /* made at the first request (the reference's count of subscriptions) */
    _Atomic bool sub_made;
} resp_map_t;

static char resp_tag[16]; /* this server's part of every reply subject it makes */
static pthread_mutex_t gen_mu = PTHREAD_MUTEX_INITIALIZER;
static const imports_latency_ops_t *_Atomic lat_ops;

void imports_set_latency(const imports_latency_ops_t *ops)
{
    atomic_store(&lat_ops, ops);
}

/* ---- internal subscriptions ----------------------------------------------- */

static sub_t *internal_sub(const char *subject, sub_import_t *si)
{
    size_t n = strlen(subject);
    sub_t *s = xcalloc(1, sizeof *s + n);
    memcpy(s->mem, subject, n);
    s->subject = (slice_t){s->mem, n};
    s->weight = 1;
    s->imp = si;
    return s;
}

/* An account whose service is imported has a response map. */
static void ensure_resp(account_t *a)
{
    if (a->resp) return;
    resp_map_t *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->map = respmap_new();
    a->resp = m;
}

/* Its first request: it answers through its own "_R_.<tag>.>" from now on, announced
 * to the routes as its interest so a responder on any server reaches us (before the
 * request itself goes out on the same route connections, so the answer finds it). */
static void resp_sub_make(worker_t *w, account_t *a)
{
    resp_map_t *m = a->resp;
    if (atomic_load_explicit(&m->sub_made, memory_order_acquire)) return;
    pthread_mutex_lock(&m->mu);
    if (!atomic_load(&m->sub_made)) {
        char subj[64];
        snprintf(subj, sizeof subj, "_R_.%s.>", resp_tag);
        sub_import_t *si = xcalloc(1, sizeof *si);
        si->kind = SI_RESP;
        si->acc = a;
        m->sub = internal_sub(subj, si);
        if (sublist_insert(a->sl, m->sub) == 0) route_local_sub_added(w, m->sub);
        atomic_store_explicit(&m->sub_made, true, memory_order_release);
    }
    pthread_mutex_unlock(&m->mu);
}

static void make_tag(void)
{
    if (resp_tag[0]) return;
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t h = hash_bytes(srv->server_id, strlen(srv->server_id));
    for (int i = 0; i < 8; i++, h /= 62)
        resp_tag[i] = b62[h % 62];
}

/* ---- building the sets ---------------------------------------------------- */

const acct_export_t *imports_find_export(const account_opts_t *exp, const acct_import_t *im)
{
    for (size_t k = 0; k < exp->nexports; k++) {
        const acct_export_t *e = &exp->exports[k];
        if (e->service == im->service &&
            subject_is_subset(im->subject, strlen(im->subject), e->subject, strlen(e->subject)))
            return e;
    }
    return NULL;
}

static char *local_subject(const acct_import_t *im)
{
    if (im->prefix && *im->prefix) {
        size_t pl = strlen(im->prefix);
        char *s = xmalloc(pl + strlen(im->subject) + 2);
        sprintf(s, "%s%s%s", im->prefix, im->prefix[pl - 1] == '.' ? "" : ".", im->subject);
        return s;
    }
    return xstrdup(im->to && *im->to ? im->to : im->subject);
}

/* A mapping destination as a subscription pattern: function tokens become "*". */
static char *pattern_of(const char *to)
{
    char *p = xmalloc(strlen(to) + 1), *o = p;
    for (const char *t = to;;) {
        const char *dot = strchr(t, '.');
        size_t l = dot ? (size_t)(dot - t) : strlen(t);
        bool fn = (l > 1 && t[0] == '$') || (l > 4 && t[0] == '{' && t[1] == '{');
        if (fn) {
            *o++ = '*';
        } else {
            memcpy(o, t, l);
            o += l;
        }
        if (!dot) break;
        *o++ = '.';
        t = dot + 1;
    }
    *o = 0;
    return p;
}

static import_rt_t *set_add(acct_imports_t *set, size_t cap, account_t *exp, account_t *imp,
                            bool service, const char *from, char *to)
{
    if (set->n == cap) {
        free(to);
        return NULL;
    }
    import_rt_t *r = &set->v[set->n++];
    r->exp = exp;
    r->imp = imp;
    r->service = service;
    r->from = xstrdup(from);
    r->to = to;
    r->use_pub = strcmp(r->from, r->to) == 0;
    if (!r->use_pub && !service && !subject_transform_ok(from, r->to)) {
        char err[256];
        r->map = smap_compile(from, r->to, err, sizeof err);
        r->to_pattern = pattern_of(r->to);
    }
    r->resp = ACCT_RESP_SINGLETON;
    r->thresh_ns = RESP_DEFAULT_NS;
    return r;
}

/* The reference's imports of the system account into every other account: a client
 * asks about its own account with $SYS.REQ.ACCOUNT.PING.CONNZ (or .SERVER.PING.CONNZ);
 * and $JS.API.> into $G (js_mixed). */
#define SYS_IMPORTS 4

/* The reference's "simple mixed mode": a server in a cluster or super-cluster that
 * starts with no account but $G and the system account imports $JS.API.> from the
 * system account into $G, so that the JetStream servers of its cluster answer its
 * clients' JetStream requests (they subscribe to it in their system accounts). Decided
 * once, at start, as the reference does (-1: not yet). */
static int js_mixed = -1;

/* a's imports: its configured ones, then the system account's (not inserted yet). */
static acct_imports_t *build_set(const opts_t *o, const account_opts_t *ao, account_t *a)
{
    size_t n = ao ? ao->nimports : 0, cap = n + SYS_IMPORTS;
    acct_imports_t *set = xcalloc(1, sizeof *set);
    set->v = xcalloc(cap, sizeof *set->v);
    for (size_t k = 0; k < n; k++) {
        const acct_import_t *im = &ao->imports[k];
        account_t *exp = account_lookup(im->account, strlen(im->account));
        const account_opts_t *eo = opts_account(o, im->account);
        const acct_export_t *ex = eo ? imports_find_export(eo, im) : NULL;
        if (!exp || !ex) continue; /* the config check refused this already */
        import_rt_t *r = set_add(set, cap, exp, a, im->service, im->subject, local_subject(im));
        if (!r) break;
        r->resp = ex->resp_type;
        if (ex->resp_threshold_ns > 0) r->thresh_ns = ex->resp_threshold_ns;
        if (im->service && ex->lat_subject) {
            r->lat_subject = xstrdup(ex->lat_subject);
            r->lat_sampling = ex->lat_sampling;
        }
        r->share = im->share;
    }
    account_t *sys = account_system();
    if (sys && sys != a) {
        char subj[512];
        snprintf(subj, sizeof subj, "$SYS.REQ.ACCOUNT.%s.CONNZ", a->name);
        set_add(set, cap, sys, a, true, subj, xstrdup("$SYS.REQ.ACCOUNT.PING.CONNZ"));
        set_add(set, cap, sys, a, true, subj, xstrdup("$SYS.REQ.SERVER.PING.CONNZ"));
        snprintf(subj, sizeof subj, "$SYS.REQ.ACCOUNT.%s.STATZ", a->name);
        set_add(set, cap, sys, a, true, subj, xstrdup("$SYS.REQ.ACCOUNT.PING.STATZ"));
        if (js_mixed == 1 && a == account_global())
            set_add(set, cap, sys, a, true, "$JS.API.>", xstrdup("$JS.API.>"));
    }
    return set;
}

static bool same_set(const acct_imports_t *x, const acct_imports_t *y)
{
    if (!x || !y || x->n != y->n) return false;
    for (size_t k = 0; k < x->n; k++) {
        const import_rt_t *p = &x->v[k], *q = &y->v[k];
        if (p->exp != q->exp || p->service != q->service || p->resp != q->resp ||
            p->thresh_ns != q->thresh_ns || strcmp(p->from, q->from) != 0 ||
            strcmp(p->to, q->to) != 0 || p->share != q->share ||
            p->lat_sampling != q->lat_sampling || !p->lat_subject != !q->lat_subject ||
            (p->lat_subject && strcmp(p->lat_subject, q->lat_subject) != 0))
            return false;
    }
    return true;
}

static void set_free(acct_imports_t *set)
{
    for (size_t k = 0; k < set->n; k++) {
        free(set->v[k].from);
        free(set->v[k].to);
        smap_free(set->v[k].map);
        free(set->v[k].to_pattern);
        free(set->v[k].lat_subject);
        if (set->v[k].svc_sub) sub_free(set->v[k].svc_sub);
    }
    free(set->v);
    free(set);
}

/* The service imports' internal subs go into a's index. */
static void activate(acct_imports_t *set, account_t *a)
{
    for (size_t k = 0; k < set->n; k++) {
        import_rt_t *r = &set->v[k];
        if (!r->service) continue;
        ensure_resp(r->exp); /* the exporter's replies come back through it */
        sub_import_t *si = xcalloc(1, sizeof *si);
        si->kind = SI_SERVICE;
        si->im = r;
        r->svc_sub = internal_sub(r->to, si);
        if (sublist_insert(a->sl, r->svc_sub) != 0) {
            sub_free(r->svc_sub);
            r->svc_sub = NULL;
        }
    }
}

typedef struct apply_arg {
    const opts_t *o;
} apply_arg_t;

static bool apply_account(account_t *a, void *arg)
{
    const opts_t *o = ((apply_arg_t *)arg)->o;
    acct_imports_t *old = atomic_load(&a->imports);
    acct_imports_t *set = build_set(o, opts_account(o, a->name), a);
    /* unchanged (most reloads): the running set stays, nothing to retire */
    if (same_set(old, set) || (!old && set->n == 0)) {
        set_free(set);
        return true;
    }
    activate(set, a);
    set->older = old;
    /* the old generation's service subs leave the index; its memory stays until
     * shutdown (shadows of client subs point into it until their owners rebuild them) */
    for (size_t k = 0; old && k < old->n; k++) {
        sub_t *s = old->v[k].svc_sub;
        if (s && !atomic_exchange(&s->closed, true)) sublist_remove(a->sl, s);
    }
    atomic_store_explicit(&a->imports, set, memory_order_release);
    return true;
}

/* The delivery hook: set once, at start; later calls (an account loaded on a worker
 * while others deliver) only read it, so they are no write racing those reads. */
static void hook_delivery(void)
{
    if (deliver_import != imports_deliver) deliver_import = imports_deliver;
}

void imports_apply(const opts_t *o)
{
    hook_delivery();
    pthread_mutex_lock(&gen_mu);
    if (js_mixed < 0)
        js_mixed =
            (o->cluster.port || o->gateway.port) && account_system() && accounts_count() == 2;
    make_tag();
    apply_arg_t arg = {o};
    accounts_foreach(apply_account, &arg);
    pthread_mutex_unlock(&gen_mu);
}

static bool free_account_imports(account_t *a, void *arg)
{
    (void)arg;
    for (acct_imports_t *set = atomic_load(&a->imports), *older; set; set = older) {
        older = set->older;
        set_free(set);
    }
    atomic_store(&a->imports, NULL);
    if (a->resp) {
        if (a->resp->sub) sub_free(a->resp->sub);
        respmap_free(a->resp->map);
        pthread_mutex_destroy(&a->resp->mu);
        free(a->resp);
        a->resp = NULL;
    }
    return true;
}

void imports_free_all(void)
{
    accounts_foreach(free_account_imports, NULL);
    js_mixed = -1;
}

/* ---- shadows of client subscriptions (stream imports) --------------------- */

/* The part of X that s (in L's name space) covers, into out; false if none. */
static bool shadow_subject(const import_rt_t *im, slice_t s, char *out, size_t cap)
{
    const char *to = im->map ? im->to_pattern : im->to;
    size_t tn = strlen(to), fn = strlen(im->from);
    /* s covers the whole import; or a mapped one (its functions cannot be reversed)
     * that s overlaps: all of X, and delivery keeps what s matches */
    if (subject_is_subset(to, tn, s.p, s.n) || (im->map && subjects_collide(to, tn, s.p, s.n))) {
        if (fn + 1 > cap) return false;
        memcpy(out, im->from, fn + 1);
        return true;
    }
    if (!subject_is_subset(s.p, s.n, to, tn)) return false;
    if (im->use_pub) {
        if (s.n + 1 > cap) return false;
        memcpy(out, s.p, s.n);
        out[s.n] = 0;
        return true;
    }
    return subject_transform(im->to, im->from, s.p, s.n, out, cap) > 0;
}

void imports_sub_added(worker_t *w, conn_t *c, sub_t *s)
{
    const acct_imports_t *set =
        atomic_load_explicit(&conn_account(c)->imports, memory_order_acquire);
    for (size_t k = 0; set && k < set->n; k++) {
        const import_rt_t *im = &set->v[k];
        char subj[SUBJ_MAX];
        if (im->service || !shadow_subject(im, s->subject, subj, sizeof subj)) continue;
        sub_t *sh = sub_new(c, (slice_t){subj, strlen(subj)}, s->queue, s->sid);
        sub_import_t *si = xcalloc(1, sizeof *si);
        si->kind = SI_SHADOW;
        si->im = im;
        si->primary = s;
        sh->imp = si;
        if (sublist_insert(im->exp->sl, sh) != 0) {
            sub_free(sh);
            continue;
        }
        sh->shadow = s->shadow;
        s->shadow = sh;
        route_local_sub_added(w, sh);
    }
}

void imports_refresh_subs(worker_t *w, conn_t *c)
{
    for (uint32_t i = 0; i < c->subs.cap; i++) {
        sub_t *s = c->subs.slots[i];
        if (!s || s == SID_TOMB || atomic_load(&s->closed)) continue;
        sub_drop_shadows(w, s, route_local_sub_removed);
        imports_sub_added(w, c, s);
    }
}

static bool still_wanted(const account_t *to, slice_t reply)
{
    const sl_result_t *r = sublist_match(to->sl, reply.p, reply.n);
    for (uint32_t i = 0; i < r->nplain; i++)
        if (!atomic_load(&r->plain[i]->closed)) return true;
    for (uint32_t g = 0; g < r->nqgroups; g++)
        for (uint32_t k = 0; k < r->qgroups[g].n; k++)
            if (!atomic_load(&r->qgroups[g].subs[k]->closed)) return true;
    return false;
}

void imports_sub_gone(const sub_t *s)
{
    if (s->imp || !s->sl) return; /* a shadow is the exporter's interest, not a reply's */
    account_t *a = sublist_owner(s->sl);
    const acct_imports_t *set = atomic_load_explicit(&a->imports, memory_order_acquire);
    for (size_t k = 0; set && k < set->n; k++) {
        const import_rt_t *r = &set->v[k];
        if (!r->service || !r->exp->resp) continue;
        bool seen = false; /* one pass per exporter */
        for (size_t j = 0; j < k && !seen; j++)
            seen = set->v[j].service && set->v[j].exp == r->exp;
        if (!seen) {
            const imports_latency_ops_t *ops = atomic_load_explicit(&lat_ops, memory_order_acquire);
            respmap_interest_gone(r->exp->resp->map, a, s->subject, still_wanted,
                                  ops ? ops->lost : NULL);
        }
    }
}

/* ---- delivery ----------------------------------------------------------------- */

static int deliver_shadow(worker_t *w, const sub_import_t *si, const msg_t *m)
{
    sub_t *p = si->primary;
    conn_t *c = p->conn;
    if (atomic_load_explicit(&p->closed, memory_order_relaxed)) return 0;
    if (c == m->from && !c->echo) return 0;
    /* a request the importer sent through a service import does not come back to it
     * through its stream import of the same subjects (as the reference) */
    if (m->origin && m->origin == si->im->imp) return 0;
    msg_t m2 = *m;
    char subj[SUBJ_MAX];
    const import_rt_t *im = si->im;
    if (im->map) {
        size_t n = smap_apply(im->map, m->subject.p, m->subject.n, subj, sizeof subj);
        /* the shadow may be wider than the subscription (see shadow_subject) */
        if (!n || !subject_is_subset(subj, n, p->subject.p, p->subject.n)) return 0;
        m2.subject = (slice_t){subj, n};
    } else if (!im->use_pub) {
        size_t n =
            subject_transform(im->from, im->to, m->subject.p, m->subject.n, subj, sizeof subj);
        if (!n) return 0;
        m2.subject = (slice_t){subj, n};
    }
    if (!auth_can_deliver(c, m2.subject, m2.reply)) return 0;
    if (unlikely(p->remote)) {
        /* a leaf node's interest (docs/leafnodes.md §6): the LMSG goes over its connection,
         * naming its queue group if it has one */
        if (c->route || !leaf_fwd_ok(c, &m2)) return 0;
        route_fwd_t f = {c, {0}};
        if (p->queue.n) route_fwd_add_queue(&f, p->queue);
        route_send_rmsg(w, &f, &m2, (slice_t){NULL, 0});
        buf_free(&f.queues);
        return 1;
    }
    return deliver_sub(w, p, &m2) ? 1 : 0;
}

#define REQUEST_INFO "Nats-Request-Info"

/* Copies a ClientInfo member by member, with "svc" (the account the request crosses
 * now) put after "acc" as the reference's struct orders it. */
typedef struct svc_ctx {
    jw_t *w;
    const char *svc;
} svc_ctx_t;

static int svc_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    (void)t;
    svc_ctx_t *x = ctx;
    if (json_key_is(key, "svc")) return 0;
    char k[32];
    long kn = json_unquote(key, k, sizeof k);
    if (kn <= 0) return 0;
    jw_raw(x->w, k, raw.p, raw.n);
    if (json_key_is(key, "acc")) jw_str(x->w, "svc", x->svc);
    return 0;
}

/* The requester's details for the responder, as the reference adds them to a request
 * crossing a service import: header Nats-Request-Info (at the first import: the
 * requester's ClientInfo, detailed if shared, with this server for the system
 * account's services; further on: the same with "svc" naming the importer). Builds
 * the new message into nb and points m2 at it; false: m2 stays as it is. */
static bool add_request_info(const import_rt_t *im, const msg_t *m, msg_t *m2, buf_t *nb)
{
    buf_t ci = {0};
    jw_t j;
    jw_init(&j, &ci, false);
    if (m->depth == 0) {
        client_extra_t x = {.rtt_ns = atomic_load_explicit(&m->from->rtt_ns, memory_order_relaxed),
                            .server = im->share || im->exp == account_system()};
        client_info_write(&j, NULL, m->from, im->share, NULL, &x);
    } else {
        slice_t v =
            m->hdr > 0 ? msghdr_get(m->payload, (size_t)m->hdr, REQUEST_INFO) : (slice_t){NULL, 0};
        svc_ctx_t x = {&j, im->imp->name};
        jw_obj_begin(&j, NULL);
        if (!v.n || json_parse_object(v.p, v.n, svc_member, &x) != 0) {
            buf_free(&ci);
            return false; /* the reference adds nothing when it cannot read the one there */
        }
        jw_obj_end(&j);
    }
    size_t hn =
        msghdr_set(m->payload, m->hdr > 0 ? (size_t)m->hdr : 0, REQUEST_INFO, ci.p, ci.len, nb);
    buf_free(&ci);
    size_t body = (size_t)(m->size - (m->hdr > 0 ? m->hdr : 0));
    buf_append(nb, m->payload + (m->hdr > 0 ? m->hdr : 0), body);
    m2->payload = nb->p;
    m2->hdr = (int64_t)hn;
    m2->size = (int64_t)(hn + body);
    return true;
}

static int deliver_service(worker_t *w, const import_rt_t *im, const msg_t *m)
{
    /* a routed request was imported on the server its requester is on (a gateway's, in
     * the requester's cluster) */
    if (m->from_route | m->from_gw) return 0;
    msg_t m2 = *m;
    char subj[SUBJ_MAX], reply[64];
    if (!im->use_pub) {
        size_t n =
            subject_transform(im->to, im->from, m->subject.p, m->subject.n, subj, sizeof subj);
        if (!n) return 0;
        m2.subject = (slice_t){subj, n};
    }
    m2.acc = im->exp;
    m2.queues = (slice_t){NULL, 0};
    /* a new request in the exporter's account: a leaf that connected to us asked it like
     * a client, so the exporter's queue groups may take it */
    if (m2.from_leaf == MSG_LEAF_HUB) m2.from_leaf = 0;
    m2.depth = m->depth + 1;
    m2.origin = im->imp;
    slice_t key = {NULL, 0};
    /* a tracked export: is this request measured (docs/accounts.md "Service latency") */
    const imports_latency_ops_t *lat = NULL;
    char *hdr = NULL;
    if (unlikely(im->lat_subject != NULL)) {
        lat = atomic_load_explicit(&lat_ops, memory_order_acquire);
        if (lat && !lat->sample(w, im->lat_sampling, m, &hdr)) lat = NULL;
    }
    if (m->reply.n) {
        resp_sub_make(w, im->exp);
        static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        uint64_t r1 = worker_rand(w), r2 = worker_rand(w);
        int n = snprintf(reply, sizeof reply, "_R_.%s.", resp_tag);
        for (int i = 0; i < 12; i++, r1 /= 62)
            reply[n++] = b62[(i < 10 ? r1 : r2) % 62];
        reply[n] = 0;
        if (lat) lat->tag(reply + n, sizeof reply - (size_t)n);
        key = (slice_t){reply, strlen(reply)};
        /* before the request goes out: a local responder may answer at once */
        respmap_add(im->exp->resp->map, key, im->imp, m->reply, im->thresh_ns,
                    im->resp == ACCT_RESP_SINGLETON, w->now_ns);
        if (lat) lat->request(w, key, im->exp, im->lat_subject, m, im->share, hdr, im->thresh_ns);
        m2.reply = key;
    } else if (lat) {
        lat->bad_request(w, im->exp, im->lat_subject, m, im->share, hdr);
    }
    buf_t nb = {0};
    if (m->from) add_request_info(im, m, &m2, &nb);
    const sl_result_t *r = sublist_match(im->exp->sl, m2.subject.p, m2.subject.n);
    if (lat) lat->probe(w, r);
    int got = deliver_all(w, r, &m2);
    buf_free(&nb);
    /* nobody to answer: nothing pending (the reference keeps no entry either) */
    if (!got && key.n) {
        respmap_remove(im->exp->resp->map, key);
        if (lat) lat->no_delivery(w, key);
    }
    return got;
}

static int deliver_response(worker_t *w, const sub_import_t *si, const msg_t *m)
{
    account_t *to;
    char reply[SUBJ_MAX];
    size_t rn;
    if (!si->acc->resp ||
        !respmap_take(si->acc->resp->map, m->subject, w->now_ns, &to, reply, sizeof reply, &rn))
        return 0;
    /* an empty message ends a streamed or chunked response (the reference's EOF) */
    if (m->size == 0) respmap_remove(si->acc->resp->map, m->subject);
    msg_t m2 = *m;
    m2.acc = to;
    m2.subject = (slice_t){reply, rn};
    m2.from_route = false;
    m2.from_gw = false;
    m2.queues = (slice_t){NULL, 0};
    m2.depth = m->depth + 1;
    m2.origin = NULL;
    const sl_result_t *r = sublist_match(to->sl, reply, rn);
    /* a measured request ("....T"): its latency, before the answer goes out */
    if (unlikely(m->subject.n > 2 && m->subject.p[m->subject.n - 1] == 'T' &&
                 m->subject.p[m->subject.n - 2] == '.')) {
        const imports_latency_ops_t *lat = atomic_load_explicit(&lat_ops, memory_order_acquire);
        if (lat) lat->response(w, m->subject, m, r);
    }
    int got = deliver_all(w, r, &m2);
    /* the requester's reply subscription may have ended with this response (an
     * auto-unsubscribe its owner sweeps only later): nothing left to answer */
    if (m->size && !still_wanted(to, m2.subject)) respmap_remove(si->acc->resp->map, m->subject);
    return got;
}

sub_t *internal_sub_add(account_t *a, const char *subject, internal_msg_fn fn, void *arg,
                        bool announce)
{
    hook_delivery();
    sub_import_t *si = xcalloc(1, sizeof *si);
    si->kind = SI_FUNC;
    si->fn = fn;
    si->arg = arg;
    si->announced = announce;
    sub_t *s = internal_sub(subject, si);
    if (sublist_insert(a->sl, s) != 0) {
        sub_free(s);
        return NULL;
    }
    if (announce) route_local_sub_added(NULL, s);
    return s;
}

void internal_sub_remove(sub_t *s)
{
    if (!s || atomic_exchange(&s->closed, true)) return;
    sublist_remove(s->sl, s);
    if (s->imp->announced) route_local_sub_removed(NULL, s);
    qsbr_retire(s, sub_free);
}

void imports_describe(const account_t *a, import_desc_fn fn, void *arg)
{
    const acct_imports_t *set = atomic_load_explicit(&a->imports, memory_order_acquire);
    for (size_t k = 0; set && k < set->n; k++) {
        const import_rt_t *r = &set->v[k];
        import_desc_t d = {r->service, r->share,       r->exp,         r->from,
                           r->to,      r->lat_subject, r->lat_sampling};
        fn(arg, &d);
    }
}

void imports_responses(account_t *a, int64_t now_ns,
                       void (*fn)(void *arg, slice_t key, const struct account *to, slice_t reply),
                       void *arg)
{
    if (a->resp) respmap_list(a->resp->map, now_ns, fn, arg);
}

int imports_deliver(worker_t *w, sub_t *s, const msg_t *m)
{
    const sub_import_t *si = s->imp;
    if (atomic_load_explicit(&s->closed, memory_order_relaxed) || m->depth >= IMPORT_MAX_DEPTH)
        return 0;
    switch (si->kind) {
    case SI_SHADOW:
        return deliver_shadow(w, si, m);
    case SI_SERVICE:
        return deliver_service(w, si->im, m);
    case SI_RESP:
        return deliver_response(w, si, m);
    case SI_FUNC:
        return si->fn(w, m, si->arg);
    }
    return 0;
}
