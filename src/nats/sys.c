/* sys.c: the system account's events and requests (see sys.h). */
#include "nats/sys.h"
#include "nats/clientinfo.h"
#include "nats/deliver.h"
#include "nats/imports.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/log.h"
#include "base/qsbr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ENDPOINTS 24

typedef struct endpoint {
    char name[16];
    bool server, per_account;
    /* the reply's member holding the data ("data"; STATSZ's "statsz"), NULL: the data
     * is the whole reply (an account's CONNS) */
    const char *member;
    sys_endpoint_fn fn;
} endpoint_t;

/* A request subject of its own (sys_register_request: pattern), or replies to the
 * server's inbox whose token starts with prefix (sys_register_inbox_request: fn on the
 * system thread; sys_register_inbox_handler: wfn on the deliverer's worker). */
typedef struct custom {
    char *pattern, *prefix;
    sys_request_fn fn;
    internal_msg_fn wfn;
    void *warg;
} custom_t;

#define SYS_CUSTOM_MAX 16

/* Subjects the reference's system account also subscribes to, for what gnatsd-c learns
 * otherwise (other servers from routes, leaf node connects from its own leaf code, the
 * claim updates when no resolver takes them): subscribed here too, so that the
 * subscription counts (/varz, statsz, `nats server list`) and the interest the routes
 * carry are the reference's. Their messages are not used. */
static const char *const tracked[] = {"$SYS.SERVER.*.STATSZ", "$SYS.ACCOUNT.*.LEAFNODE.CONNECT",
                                      "$SYS._INBOX_.%s"};
static const char *const claims_updates[] = {"$SYS.ACCOUNT.*.CLAIMS.UPDATE",
                                             "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE"};
/* the subscriptions: PING, 2 per server endpoint, 1 per account endpoint, the account
 * ping, the inbox, what the reference also listens to (TRACKED), the customs */
#define SYS_SUBS_MAX (3 + 2 * MAX_ENDPOINTS + ARRAY_LEN(tracked) + 2 + SYS_CUSTOM_MAX)

typedef struct job {
    struct job *next;
    const endpoint_t *ep;
    const custom_t *custom; /* instead of ep: its handler, with the subject in acc */
    account_t *reply_acc;   /* where the requester is (the system account, or routed) */
    char *acc;              /* $SYS.REQ.ACCOUNT.<acc>: the account asked about */
    char *reply;
    char *opts;
    size_t optsn;
} job_t;

typedef struct pub {
    struct pub *next;
    account_t *acc;
    char *subject;
    char *reply; /* or NULL */
    buf_t payload;
    bool *delivered; /* or NULL: set under S.mu once delivered, S.pub_cv signalled */
} pub_t;

static struct {
    _Atomic bool on;
    account_t *sys;
    endpoint_t eps[MAX_ENDPOINTS];
    size_t neps;
    sub_t *subs[SYS_SUBS_MAX];
    size_t nsubs;
    custom_t custom[SYS_CUSTOM_MAX];
    char inbox[64]; /* "$SYS._INBOX.<hash of the server name>." */
    size_t ncustom;
    struct {
        int64_t every_ns, next_ns;
        void (*fn)(void);
    } timers[4];
    size_t ntimers;
    pthread_t thread;
    bool thread_up;
    pthread_mutex_t mu;
    pthread_cond_t cv, pub_cv;
    bool stop;
    job_t *jobs, **jobs_tail;
    size_t njobs;
    pub_t *pubs, **pubs_tail;
    size_t npubs;
    _Atomic uint64_t seq;
    _Atomic uint32_t rr;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER,
       .pub_cv = PTHREAD_COND_INITIALIZER};

static void add_endpoint(const char *name, bool server, bool per_account, const char *member,
                         sys_endpoint_fn fn)
{
    if (S.neps == MAX_ENDPOINTS) return;
    endpoint_t *e = &S.eps[S.neps++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->server = server;
    e->per_account = per_account;
    e->member = member;
    e->fn = fn;
}

void sys_register_endpoint(const char *name, bool server, bool per_account, sys_endpoint_fn fn)
{
    add_endpoint(name, server, per_account, strcmp(name, "STATSZ") == 0 ? "statsz" : "data", fn);
}

static const endpoint_t *find_ep(const char *name, size_t n, bool per_account)
{
    for (size_t i = 0; i < S.neps; i++)
        if (strlen(S.eps[i].name) == n && memcmp(S.eps[i].name, name, n) == 0 &&
            (per_account ? S.eps[i].per_account : S.eps[i].server))
            return &S.eps[i];
    return NULL;
}

/* ---- the JSON every event and reply shares --------------------------------- */

/* The reference's ServerInfo object, under key (NULL: bare). */
static void server_info(buf_t *b, const char *key)
{
    const opts_t *o = srv->opts;
    jw_t w;
    jw_init(&w, b, false);
    jw_obj_begin(&w, key);
    jw_str(&w, "name", srv->server_name);
    jw_str(&w, "host", o->host ? o->host : "");
    jw_str(&w, "id", srv->server_id);
    if (o->cluster.name && *o->cluster.name && o->cluster.port)
        jw_str(&w, "cluster", o->cluster.name);
    jw_str(&w, "ver", SERVER_VERSION);
    jw_uint(&w, "seq", atomic_fetch_add(&S.seq, 1) + 1);
    jw_bool(&w, "jetstream", false);
    jw_time(&w, "time", now_wall_ns());
    jw_obj_end(&w);
}

void sys_server_info(buf_t *b)
{
    server_info(b, "server");
}

/* An event's "type", "id" (22 random base62 characters, as the reference's) and
 * "timestamp", opening its object. */
static void event_head(buf_t *b, const char *type, uint64_t r1, uint64_t r2, int64_t ts)
{
    char id[23];
    event_id(r1, r2, id);
    buf_puts(b, "{\"type\":");
    json_put_string(b, type, strlen(type));
    buf_puts(b, ",\"id\":\"");
    buf_puts(b, id);
    buf_puts(b, "\",\"timestamp\":");
    jw_t w;
    buf_t t = {0};
    jw_init(&w, &t, false);
    jw_time(&w, NULL, ts);
    buf_append(b, t.p, t.len);
    buf_free(&t);
    buf_putc(b, ',');
    sys_server_info(b);
}

/* ---- publishing ------------------------------------------------------------------ */

static void publish_on(worker_t *w, account_t *acc, const char *subject, const char *reply,
                       const buf_t *payload)
{
    deliver_publish(w, acc, subject, reply, payload->p, payload->len);
}

/* WCMD_SYSPUB: what other threads queued. */
static void run_pubs(worker_t *w)
{
    pthread_mutex_lock(&S.mu);
    pub_t *p = S.pubs;
    S.pubs = NULL;
    S.pubs_tail = &S.pubs;
    S.npubs = 0;
    pthread_mutex_unlock(&S.mu);
    for (pub_t *next; p; p = next) {
        next = p->next;
        publish_on(w, p->acc, p->subject, p->reply, &p->payload);
        if (p->delivered) {
            /* in the buffers before the waiter goes on: it closes them next (shutdown),
             * and a stage committed after that close would be dropped */
            worker_commit(w);
            pthread_mutex_lock(&S.mu);
            *p->delivered = true;
            pthread_cond_broadcast(&S.pub_cv);
            pthread_mutex_unlock(&S.mu);
        }
        free(p->subject);
        free(p->reply);
        buf_free(&p->payload);
        free(p);
    }
}

/* Not on a worker: queued for one (the payload is taken over); delivered, if not NULL,
 * is set when a worker delivered it. */
static void publish_queued_ex(account_t *acc, const char *subject, const char *reply,
                              buf_t *payload, bool *delivered)
{
    pub_t *p = xcalloc(1, sizeof *p);
    p->delivered = delivered;
    p->acc = acc;
    p->subject = xstrdup(subject);
    p->reply = reply ? xstrdup(reply) : NULL;
    p->payload = *payload;
    *payload = (buf_t){0};
    pthread_mutex_lock(&S.mu);
    bool full = S.npubs >= SYS_PUBS_MAX;
    if (!full) {
        *S.pubs_tail = p;
        S.pubs_tail = &p->next;
        S.npubs++;
    }
    pthread_mutex_unlock(&S.mu);
    if (full) {
        WARN("System account publish queue full, dropping a message on \"%s\"", subject);
        free(p->subject);
        free(p->reply);
        buf_free(&p->payload);
        free(p);
        return;
    }
    uint32_t i = atomic_fetch_add(&S.rr, 1) % (uint32_t)srv->nworkers;
    worker_command_one(&srv->workers[i], WCMD_SYSPUB);
}

static void publish_queued_reply(account_t *acc, const char *subject, const char *reply,
                                 buf_t *payload)
{
    publish_queued_ex(acc, subject, reply, payload, NULL);
}

static void publish_queued(account_t *acc, const char *subject, buf_t *payload)
{
    publish_queued_reply(acc, subject, NULL, payload);
}

void sys_shutdown_event(void)
{
    if (!S.on) return;
    buf_t b = {0};
    server_info(&b, NULL);
    char subj[128];
    snprintf(subj, sizeof subj, "$SYS.SERVER.%s.SHUTDOWN", srv->server_id);
    /* a flag that outlives this call: a late worker may still set it */
    static bool delivered;
    pthread_mutex_lock(&S.mu);
    delivered = false;
    pthread_mutex_unlock(&S.mu);
    publish_queued_ex(S.sys, subj, NULL, &b, &delivered);
    /* the workers still run: wait (bounded) until one delivered it to the clients and
     * routes that are still there */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_mutex_lock(&S.mu);
    while (!delivered)
        if (pthread_cond_timedwait(&S.pub_cv, &S.mu, &ts) != 0) break;
    bool late = !delivered;
    pthread_mutex_unlock(&S.mu);
    if (late) WARN("Shutdown event not delivered within 1s");
}

void sys_publish(const char *subject, const char *reply, const void *data, size_t n)
{
    if (!S.on) return;
    buf_t b = {0};
    buf_append(&b, data, n);
    publish_queued_reply(S.sys, subject, reply, &b);
}

/* ---- events -------------------------------------------------------------------- */

static void client_info(buf_t *b, const conn_t *c, bool closed, int64_t stop_ns, const char *user)
{
    jw_t w;
    jw_init(&w, b, false);
    client_extra_t x = {.rtt_ns = closed ? atomic_load(&c->rtt_ns) : 0,
                        .stop_wall_ns = closed ? stop_ns : 0};
    client_info_write(&w, "client", c, true, user ? user : "", &x);
}

/* The two subjects of an account's connection count event. */
static const char *const conns_subjects[] = {"$SYS.SERVER.ACCOUNT.%s.CONNS",
                                             "$SYS.ACCOUNT.%s.SERVER.CONNS"};

/* a's account_connections event (r1, r2: random bits for its id), into b. */
static void conns_event(buf_t *b, account_t *a, uint64_t r1, uint64_t r2)
{
    event_head(b, "io.nats.server.advisory.v1.account_connections", r1, r2, now_wall_ns());
    jw_t jw;
    jw_resume(&jw, b);
    account_stat_write(&jw, a);
    buf_putc(b, '}');
}

/* At a client's connect and close, on its worker. */
static void account_conns(worker_t *w, account_t *a)
{
    buf_t b = {0};
    conns_event(&b, a, worker_rand(w), worker_rand(w));
    char subj[512];
    for (size_t i = 0; i < ARRAY_LEN(conns_subjects); i++) {
        snprintf(subj, sizeof subj, conns_subjects[i], a->name);
        publish_on(w, S.sys, subj, NULL, &b);
    }
    buf_free(&b);
}

/* The reference repeats an account's event every 30 s while it has connections; so does
 * the statsz heartbeat here, for at most HB_ACCOUNTS accounts a time (the system
 * thread's queue is bounded): the others at the next heartbeats, in turn. */
#define HB_ACCOUNTS 512
typedef struct hb_walk {
    size_t at, from, sent;
    bool stopped;
} hb_walk_t;

static bool hb_account(account_t *a, void *arg)
{
    hb_walk_t *h = arg;
    if (h->at++ < h->from || account_gone(a)) return true;
    if (!atomic_load(&a->nconns) && !atomic_load(&a->nleafs)) return true;
    if (h->sent == HB_ACCOUNTS) {
        h->from = h->at - 1, h->stopped = true;
        return false;
    }
    h->sent++;
    uint64_t r[2] = {0, 0};
    (void)os_random(r, sizeof r);
    buf_t ev = {0};
    conns_event(&ev, a, r[0], r[1]);
    for (size_t i = 0; i < ARRAY_LEN(conns_subjects); i++) {
        buf_t b = {0}; /* (each queued publish takes its payload over) */
        buf_append(&b, ev.p, ev.len);
        char subj[512];
        snprintf(subj, sizeof subj, conns_subjects[i], a->name);
        publish_queued(S.sys, subj, &b);
    }
    buf_free(&ev);
    return true;
}

static void accounts_heartbeat(void)
{
    static size_t from; /* the system thread's */
    hb_walk_t h = {.from = from};
    accounts_foreach(hb_account, &h);
    from = h.stopped ? h.from : 0;
}

/* $SYS.REQ.ACCOUNT.<acc>.CONNS: the account's CONNS event, from a server where it has
 * client connections (the others stay silent; an account not loaded here is not
 * looked up). A payload may name the account again ({"acc":...}): it must be the
 * subject's. */
static int acc_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    char **acc = ctx;
    if (t != JSON_STRING || !json_key_is(key, "acc") || *acc) return 0;
    char v[256];
    long n = json_unquote(raw, v, sizeof v);
    if (n >= 0) *acc = xstrndup(v, (size_t)n);
    return 0;
}

static int ep_conns(const char *acc, const char *o, size_t n, buf_t *out)
{
    if (!json_blank(o, n)) {
        char *named = NULL;
        if (json_parse_object(o, n, acc_member, &named) != 0) {
            ERROR("Error unmarshalling account connections request message: %.*s", (int)n, o);
            free(named);
            return SYS_EP_SILENT;
        }
        bool same = !named || strcmp(named, acc) == 0;
        free(named);
        if (!same) {
            ERROR("Error unmarshalled account does not match subject");
            return SYS_EP_SILENT;
        }
    }
    account_t *a = account_lookup(acc, strlen(acc));
    if (!a || atomic_load(&a->nconns) <= 0) return SYS_EP_SILENT;
    uint64_t r[2] = {0, 0};
    (void)os_random(r, sizeof r);
    conns_event(out, a, r[0], r[1]);
    return SYS_EP_DATA;
}

void sys_leaf_connected(worker_t *w, account_t *a)
{
    if (!S.on || !a) return;
    buf_t b = {0};
    buf_putc(&b, '{');
    sys_server_info(&b);
    buf_puts(&b, ",\"acc\":");
    json_put_string(&b, a->name, a->name_len);
    buf_putc(&b, '}');
    char subj[512];
    snprintf(subj, sizeof subj, "$SYS.ACCOUNT.%s.LEAFNODE.CONNECT", a->name);
    publish_on(w, S.sys, subj, NULL, &b);
    buf_free(&b);
}

void sys_client_connected(worker_t *w, conn_t *c)
{
    if (!S.on) return;
    account_t *a = conn_account(c);
    account_conns(w, a);
    buf_t b = {0};
    event_head(&b, "io.nats.server.advisory.v1.client_connect", worker_rand(w), worker_rand(w),
               now_wall_ns());
    buf_putc(&b, ',');
    client_info(&b, c, false, 0, c->user);
    buf_putc(&b, '}');
    char subj[512];
    snprintf(subj, sizeof subj, "$SYS.ACCOUNT.%s.CONNECT", a->name);
    publish_on(w, S.sys, subj, NULL, &b);
    buf_free(&b);
}

/* A client_disconnect event (a close, or a failed login) for c, into b. */
static void disconnect_event(worker_t *w, buf_t *b, conn_t *c, const char *user, const char *why)
{
    int64_t now = now_wall_ns();
    event_head(b, "io.nats.server.advisory.v1.client_disconnect", worker_rand(w), worker_rand(w),
               now);
    buf_putc(b, ',');
    client_info(b, c, true, now, user);
    /* the client's view, as the reference: what it sent, what it received */
    jw_t jw;
    jw_resume(&jw, b);
    data_stats_write(&jw, "sent", c->in_msgs, c->in_bytes);
    data_stats_write(&jw, "received", c->out_msgs, c->out_bytes);
    jw_str(&jw, "reason", why);
    buf_putc(b, '}');
}

void sys_client_auth_error(worker_t *w, conn_t *c, const char *user)
{
    if (!S.on) return;
    buf_t b = {0};
    disconnect_event(w, &b, c, user, "Authentication Failure");
    char subj[128];
    snprintf(subj, sizeof subj, "$SYS.SERVER.%s.CLIENT.AUTH.ERR", srv->server_id);
    publish_on(w, S.sys, subj, NULL, &b);
    buf_free(&b);
}

void sys_client_closed(worker_t *w, conn_t *c)
{
    if (!S.on) return;
    account_t *a = conn_account(c);
    account_conns(w, a);
    buf_t b = {0};
    disconnect_event(w, &b, c, c->user, close_reason_str(c->reason));
    char subj[512];
    snprintf(subj, sizeof subj, "$SYS.ACCOUNT.%s.DISCONNECT", a->name);
    publish_on(w, S.sys, subj, NULL, &b);
    buf_free(&b);
}

/* ---- requests -------------------------------------------------------------------- */

/* "$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.<EP>", "$SYS.REQ.SERVER.<id>.<EP>",
 * "$SYS.REQ.ACCOUNT.<acc>.<EP>": the endpoint and the account asked about. */
static bool parse_req(slice_t s, const endpoint_t **ep, slice_t *acc)
{
    static const char srvp[] = "$SYS.REQ.SERVER.", accp[] = "$SYS.REQ.ACCOUNT.";
    *acc = (slice_t){NULL, 0};
    const char *last = NULL;
    for (size_t i = s.n; i-- > 0 && !last;)
        if (s.p[i] == '.') last = s.p + i;
    if (!last) return false;
    slice_t tail = {last + 1, (size_t)(s.p + s.n - last - 1)};
    if (s.n > sizeof srvp - 1 && memcmp(s.p, srvp, sizeof srvp - 1) == 0) {
        slice_t mid = {s.p + sizeof srvp - 1, (size_t)(last - s.p) - (sizeof srvp - 1)};
        if (slice_eq_str((slice_t){s.p + sizeof srvp - 1, s.n - (sizeof srvp - 1)}, "PING")) {
            *ep = find_ep("STATSZ", 6, false);
            return *ep != NULL;
        }
        if (!slice_eq_str(mid, "PING") && !slice_eq_str(mid, srv->server_id)) return false;
        *ep = find_ep(tail.p, tail.n, false);
        return *ep != NULL;
    }
    if (s.n > sizeof accp - 1 && memcmp(s.p, accp, sizeof accp - 1) == 0) {
        const char *a = s.p + sizeof accp - 1;
        if (last <= a) return false;
        *acc = (slice_t){a, (size_t)(last - a)};
        if (memchr(acc->p, '.', acc->n)) return false;
        *ep = find_ep(tail.p, tail.n, true);
        return *ep != NULL;
    }
    return false;
}

/* On the deliverer's worker: a job with m's reply and payload for the system thread
 * (1), or 0 when the queue is full. */
static int enqueue(const msg_t *m, job_t *j)
{
    j->reply_acc = (account_t *)m->acc;
    j->reply = m->reply.n ? xstrndup(m->reply.p, m->reply.n) : NULL;
    int64_t body = m->hdr > 0 ? m->size - m->hdr : m->size;
    j->opts = xstrndup(m->payload + (m->hdr > 0 ? m->hdr : 0), (size_t)body);
    j->optsn = (size_t)body;
    pthread_mutex_lock(&S.mu);
    bool full = S.njobs >= SYS_JOBS_MAX || S.stop;
    if (!full) {
        *S.jobs_tail = j;
        S.jobs_tail = &j->next;
        S.njobs++;
        pthread_cond_signal(&S.cv);
    }
    pthread_mutex_unlock(&S.mu);
    if (full) {
        free(j->acc), free(j->reply), free(j->opts), free(j);
        return 0;
    }
    return 1;
}

/* A request for an endpoint (it must have a reply subject). arg: NULL, or the account
 * ping's endpoint ($SYS.REQ.ACCOUNT.PING.STATZ asked in the system account: every
 * account's, the account NULL). */
static int on_request(worker_t *w, const msg_t *m, void *arg)
{
    (void)w;
    const endpoint_t *ep = arg;
    slice_t acc = {NULL, 0};
    if (!m->reply.n || (!ep && !parse_req(m->subject, &ep, &acc))) return 0;
    job_t *j = xcalloc(1, sizeof *j);
    j->ep = ep;
    j->acc = acc.n ? xstrndup(acc.p, acc.n) : NULL;
    return enqueue(m, j);
}

static int on_tracked(worker_t *w, const msg_t *m, void *arg)
{
    (void)w, (void)m, (void)arg;
    return 0;
}

/* A message on a registered subject (with or without a reply). */
static int on_custom(worker_t *w, const msg_t *m, void *arg)
{
    (void)w;
    job_t *j = xcalloc(1, sizeof *j);
    j->custom = arg;
    j->acc = xstrndup(m->subject.p, m->subject.n);
    return enqueue(m, j);
}

void sys_register_timer(int64_t every_ns, void (*fn)(void))
{
    if (S.ntimers == ARRAY_LEN(S.timers) || every_ns <= 0) return;
    S.timers[S.ntimers].every_ns = every_ns;
    S.timers[S.ntimers].next_ns = now_mono_ns() + every_ns;
    S.timers[S.ntimers++].fn = fn;
}

void sys_register_request(const char *pattern, sys_request_fn fn)
{
    if (S.ncustom == SYS_CUSTOM_MAX) return;
    S.custom[S.ncustom].pattern = xstrdup(pattern);
    S.custom[S.ncustom++].fn = fn;
}

static const char *inbox_prefix(void)
{
    if (!S.inbox[0]) {
        char h[9];
        hash_name_b62(srv->server_name ? srv->server_name : srv->server_id, h, 8);
        snprintf(S.inbox, sizeof S.inbox, "$SYS._INBOX.%s.", h);
    }
    return S.inbox;
}

void sys_inbox_subject(const char *token, char *out, size_t n)
{
    snprintf(out, n, "%s%s", inbox_prefix(), token);
}

static void add_inbox(const char *prefix, sys_request_fn fn, internal_msg_fn wfn, void *warg)
{
    if (S.ncustom == SYS_CUSTOM_MAX) return;
    custom_t *c = &S.custom[S.ncustom];
    c->prefix = xstrdup(prefix);
    c->fn = fn, c->wfn = wfn, c->warg = warg;
    S.ncustom++;
}

void sys_register_inbox_request(const char *prefix, sys_request_fn fn)
{
    add_inbox(prefix, fn, NULL, NULL);
}

void sys_register_inbox_handler(const char *prefix, internal_msg_fn fn, void *arg)
{
    add_inbox(prefix, NULL, fn, arg);
}

/* $SYS._INBOX.<hash>.<token>: the handler whose prefix starts the token. */
static int on_inbox(worker_t *w, const msg_t *m, void *arg)
{
    (void)arg;
    size_t pn = strlen(S.inbox);
    if (m->subject.n <= pn) return 0;
    slice_t tok = {m->subject.p + pn, m->subject.n - pn};
    for (size_t i = 0; i < S.ncustom; i++) {
        const custom_t *c = &S.custom[i];
        size_t l = c->prefix ? strlen(c->prefix) : 0;
        if (!c->prefix || tok.n < l || memcmp(tok.p, c->prefix, l) != 0) continue;
        return c->wfn ? c->wfn(w, m, c->warg) : on_custom(w, m, (void *)c);
    }
    return 0;
}

static void answer(job_t *j)
{
    if (j->custom) {
        buf_t out = {0};
        bool reply = j->custom->fn(j->acc, j->reply, j->opts, j->optsn, &out);
        if (reply && j->reply) publish_queued(j->reply_acc, j->reply, &out);
        buf_free(&out);
        return;
    }
    buf_t data = {0};
    int rc = j->ep->fn(j->acc, j->opts, j->optsn, &data);
    if (rc == SYS_EP_SILENT || !j->reply) {
        buf_free(&data);
        return;
    }
    if (!j->ep->member) { /* the whole reply */
        publish_queued(j->reply_acc, j->reply, &data);
        return;
    }
    buf_t b = {0};
    buf_putc(&b, '{');
    sys_server_info(&b);
    if (rc == SYS_EP_DATA) {
        buf_printf(&b, ",\"%s\":", j->ep->member);
        buf_append(&b, data.p, data.len);
    } else {
        if (rc == SYS_EP_FAILED) buf_printf(&b, ",\"%s\":null", j->ep->member);
        buf_printf(&b, ",\"error\":{\"code\":%d,\"description\":", rc);
        json_put_string(&b, data.p ? data.p : "", data.len);
        buf_putc(&b, '}');
    }
    buf_putc(&b, '}');
    buf_free(&data);
    publish_queued(j->reply_acc, j->reply, &b);
}

static void heartbeat(void)
{
    const endpoint_t *ep = find_ep("STATSZ", 6, false);
    if (!ep) return;
    job_t j = {.ep = ep, .reply_acc = S.sys};
    char subj[128];
    snprintf(subj, sizeof subj, "$SYS.SERVER.%s.STATSZ", srv->server_id);
    j.reply = subj;
    answer(&j);
}

/* The system thread reads what reloads retire (the options, subscriptions in a
 * /subsz walk) like the monitor's: it is a qsbr reader, quiescent between jobs and
 * offline while it waits. */
static void *sys_main(void *arg)
{
    (void)arg;
    qsbr_register();
    int64_t next_hb = now_mono_ns() + 1000000000LL; /* the first soon after start */
    uint64_t hb_count = 0;
    pthread_mutex_lock(&S.mu);
    while (!S.stop) {
        job_t *j = S.jobs;
        if (j) {
            S.jobs = j->next;
            if (!S.jobs) S.jobs_tail = &S.jobs;
            S.njobs--;
            pthread_mutex_unlock(&S.mu);
            answer(j);
            free(j->acc), free(j->reply), free(j->opts), free(j);
            qsbr_quiescent();
            pthread_mutex_lock(&S.mu);
            continue;
        }
        int64_t now = now_mono_ns();
        bool ran = false;
        for (size_t i = 0; i < S.ntimers && !ran; i++) {
            if (now < S.timers[i].next_ns) continue;
            S.timers[i].next_ns = now + S.timers[i].every_ns;
            pthread_mutex_unlock(&S.mu);
            S.timers[i].fn();
            qsbr_quiescent();
            pthread_mutex_lock(&S.mu);
            ran = true;
        }
        if (ran) continue;
        if (now >= next_hb) {
            pthread_mutex_unlock(&S.mu);
            heartbeat();
            if (hb_count++) accounts_heartbeat(); /* 30 s after start, not 1 s */
            qsbr_quiescent();
            next_hb = now + SYS_STATSZ_INTERVAL_NS;
            pthread_mutex_lock(&S.mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = next_hb - now;
        for (size_t i = 0; i < S.ntimers; i++)
            if (S.timers[i].next_ns - now < wait) wait = S.timers[i].next_ns - now;
        ts.tv_sec += wait / 1000000000LL;
        ts.tv_nsec += wait % 1000000000LL;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        qsbr_offline();
        pthread_cond_timedwait(&S.cv, &S.mu, &ts);
        qsbr_online();
    }
    pthread_mutex_unlock(&S.mu);
    qsbr_unregister();
    return NULL;
}

static void add_sub(const char *subject, internal_msg_fn fn, void *arg)
{
    if (S.nsubs < ARRAY_LEN(S.subs))
        S.subs[S.nsubs++] = internal_sub_add(S.sys, subject, fn, arg, true);
}

static const custom_t *custom_for(const char *pattern)
{
    for (size_t i = 0; i < S.ncustom; i++)
        if (S.custom[i].pattern && strcmp(S.custom[i].pattern, pattern) == 0) return &S.custom[i];
    return NULL;
}

void sys_start(void)
{
    S.sys = account_system();
    if (!S.sys) return;
    if (!find_ep("CONNS", 5, true)) /* the event is the whole reply, as the reference's */
        add_endpoint("CONNS", false, true, NULL, ep_conns);
    S.jobs_tail = &S.jobs;
    S.pubs_tail = &S.pubs;
    worker_on_command(WCMD_SYSPUB, run_pubs);
    /* one subscription per subject, as the reference's (its counts and route interest) */
    char subj[192];
    add_sub("$SYS.REQ.SERVER.PING", on_request, NULL);
    for (size_t i = 0; i < S.neps; i++) {
        const endpoint_t *e = &S.eps[i];
        if (e->server) {
            snprintf(subj, sizeof subj, "$SYS.REQ.SERVER.PING.%s", e->name);
            add_sub(subj, on_request, NULL);
            snprintf(subj, sizeof subj, "$SYS.REQ.SERVER.%s.%s", srv->server_id, e->name);
            add_sub(subj, on_request, NULL);
        }
        if (e->per_account) {
            snprintf(subj, sizeof subj, "$SYS.REQ.ACCOUNT.*.%s", e->name);
            add_sub(subj, on_request, NULL);
        }
    }
    const endpoint_t *statz = find_ep("STATZ", 5, true);
    if (statz) add_sub("$SYS.REQ.ACCOUNT.PING.STATZ", on_request, (void *)statz);
    snprintf(subj, sizeof subj, "%s*", inbox_prefix());
    add_sub(subj, on_inbox, NULL);
    for (size_t i = 0; i < ARRAY_LEN(tracked); i++) {
        snprintf(subj, sizeof subj, tracked[i], srv->server_id);
        add_sub(subj, on_tracked, NULL);
    }
    for (size_t i = 0; i < ARRAY_LEN(claims_updates); i++)
        if (!custom_for(claims_updates[i])) add_sub(claims_updates[i], on_tracked, NULL);
    for (size_t i = 0; i < S.ncustom; i++)
        if (S.custom[i].pattern) add_sub(S.custom[i].pattern, on_custom, &S.custom[i]);
    S.on = true;
    if (pthread_create(&S.thread, NULL, sys_main, NULL) == 0) S.thread_up = true;
}

void sys_stop(void)
{
    if (!S.on) return;
    pthread_mutex_lock(&S.mu);
    S.stop = true;
    pthread_cond_signal(&S.cv);
    pthread_mutex_unlock(&S.mu);
    if (S.thread_up) pthread_join(S.thread, NULL);
    S.thread_up = false;
    for (size_t i = 0; i < S.nsubs; i++) {
        internal_sub_remove(S.subs[i]);
        S.subs[i] = NULL;
    }
    S.nsubs = 0;
    for (job_t *j = S.jobs, *n; j; j = n) {
        n = j->next;
        free(j->acc), free(j->reply), free(j->opts), free(j);
    }
    S.jobs = NULL;
    for (pub_t *p = S.pubs, *n; p; p = n) {
        n = p->next;
        free(p->subject);
        buf_free(&p->payload);
        free(p);
    }
    S.pubs = NULL;
    for (size_t i = 0; i < S.ncustom; i++)
        free(S.custom[i].pattern), free(S.custom[i].prefix);
    S.ncustom = 0;
    S.inbox[0] = 0;
    S.ntimers = 0;
    S.on = false;
}
