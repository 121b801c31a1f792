/* sys_subs.c: the system account's subscriber count service (docs/accounts.md "The
 * system account"), as the reference answers it.
 *
 * $SYS.DEBUG.SUBSCRIBERS (a subscription of this server only, reached through an
 * import of the system account's export): the body is "subject [queue]", asked for
 * the requester's account (its Nats-Request-Info header, else the system account).
 * The answer is the number of client subscriptions (and of leaf nodes that connected
 * to us) matching it here, plus what every other server with connections in that
 * account answers to $SYS.REQ.ACCOUNT.NSUBS ({"acc","subject","queue"(base64)}),
 * collected on an inbox of ours for at most 500 ms or until all have answered. The
 * servers with connections per account are learnt from their
 * $SYS.SERVER.ACCOUNT.<acc>.CONNS events (forgotten at their SHUTDOWN event); their
 * counts of client and leaf node connections are kept too, summed into the account's
 * nrconns/nrleafs, which its connection limits count (docs/accounts.md).
 * Bounded: SUBS_PENDING_MAX requests waiting, SUBS_REMOTE_MAX (account, server)
 * pairs. Callbacks run on the deliverer's worker; a pending request ends on a
 * worker's tick at its deadline. */
#include "nats/sys_subs.h"
#include "nats/account.h"
#include "nats/deliver.h"
#include "nats/imports.h"
#include "nats/leaf_fwd.h"
#include "nats/sys.h"
#include "proto/msghdr.h"
#include "base/json.h"
#include "base/log.h"
#include "base/subject.h"
#include "index/sublist.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define SUBS_PENDING_MAX 1024
#define SUBS_REMOTE_MAX 65536
#define SUBS_WAIT_NS (500LL * 1000000LL)

typedef struct remote {
    struct remote *next;
    char *acc, *server;
    account_t *a;         /* the account here, if it is known (never freed while we run) */
    int32_t conns, leafs; /* added to a's nrconns, nrleafs */
} remote_t;

/* A CONNS event's counts are another server's own word: bounded, not trusted to sum. */
#define REMOTE_COUNT_MAX (1 << 24)

typedef struct pending {
    struct pending *next;
    uint64_t id;
    char *reply;
    int64_t count;
    int expected, got;
    int64_t deadline_ns;
} pending_t;

static struct {
    pthread_mutex_t mu;
    bool on;
    account_t *sys;
    char inbox[64]; /* "$SYS._INBOX.<hash>.ds" (+ a request number) */
    uint64_t next_id;
    pending_t *pending;
    _Atomic size_t npending; /* D.mu; read without it by the ticks */
    remote_t *remotes;
    size_t nremotes;
    sub_t *subs[4];
} D = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- counting here ---------------------------------------------------------------- */

/* A client's subscription, or a leaf node's that connected to us (what the reference
 * counts). */
static bool counted(const sub_t *s)
{
    if (s->imp || !s->conn || atomic_load_explicit(&s->closed, memory_order_relaxed)) return false;
    if (s->conn->leaf) return !s->conn->leaf->spoke;
    return !s->remote;
}

typedef struct count_ctx {
    slice_t subject, queue;
    int64_t n;
} count_ctx_t;

static void count_one(sub_t *s, void *arg)
{
    count_ctx_t *x = arg;
    if (!counted(s)) return;
    if (x->queue.n && !slice_eq(s->queue, x->queue)) return;
    if (subject_is_subset(s->subject.p, s->subject.n, x->subject.p, x->subject.n)) x->n++;
}

static int64_t count_local(account_t *a, slice_t subject, slice_t queue)
{
    if (subject_has_wildcard(subject.p, subject.n)) {
        count_ctx_t x = {subject, queue, 0};
        sublist_foreach(a->sl, count_one, &x);
        return x.n;
    }
    const sl_result_t *r = sublist_match(a->sl, subject.p, subject.n);
    int64_t n = 0;
    if (!queue.n)
        for (uint32_t i = 0; i < r->nplain; i++)
            n += counted(r->plain[i]);
    for (uint32_t g = 0; g < r->nqgroups; g++) {
        if (queue.n && !slice_eq(r->qgroups[g].queue, queue)) continue;
        for (uint32_t k = 0; k < r->qgroups[g].n; k++)
            n += counted(r->qgroups[g].subs[k]);
    }
    return n;
}

/* "subject [queue]" (blanks around and between) */
static bool parse_body(const char *p, size_t n, slice_t *subject, slice_t *queue)
{
    const char *e = p + n;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    const char *s = p;
    while (p < e && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
        p++;
    *subject = (slice_t){s, (size_t)(p - s)};
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    const char *q = p;
    while (p < e && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
        p++;
    *queue = (slice_t){q, (size_t)(p - q)};
    return subject->n && subject_valid(subject->p, subject->n);
}

static void reply_count(worker_t *w, const char *reply, size_t rn, int64_t n)
{
    char subj[512], num[24];
    if (rn >= sizeof subj) return;
    memcpy(subj, reply, rn);
    subj[rn] = 0;
    int k = snprintf(num, sizeof num, "%lld", (long long)n);
    deliver_publish(w, D.sys, subj, NULL, num, (size_t)k);
}

/* ---- servers with connections per account ------------------------------------------ */

static int remotes_of(const char *acc)
{
    int n = 0;
    for (remote_t *r = D.remotes; r; r = r->next)
        n += strcmp(r->acc, acc) == 0;
    return n;
}

typedef struct conns_ev {
    char server[64], acc[256];
    int64_t conns, leafs;
} conns_ev_t;

static int server_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    conns_ev_t *e = ctx;
    if (json_key_is(key, "id") && t == JSON_STRING &&
        json_unquote(raw, e->server, sizeof e->server) < 0)
        e->server[0] = 0;
    return 0;
}

static int conns_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    conns_ev_t *e = ctx;
    if (json_key_is(key, "server") && t == JSON_OBJECT)
        json_parse_object(raw.p, raw.n, server_member, e);
    else if (json_key_is(key, "acc") && t == JSON_STRING &&
             json_unquote(raw, e->acc, sizeof e->acc) < 0)
        e->acc[0] = 0;
    else if (json_key_is(key, "conns") && t == JSON_NUMBER)
        e->conns = strtoll(raw.p, NULL, 10);
    else if (json_key_is(key, "leafnodes") && t == JSON_NUMBER)
        e->leafs = strtoll(raw.p, NULL, 10);
    return 0;
}

static slice_t body_of(const msg_t *m)
{
    int64_t h = m->hdr > 0 ? m->hdr : 0;
    return (slice_t){m->payload + h, (size_t)(m->size - h)};
}

/* r's counts become conns, leafs (and its account's sums with them). D.mu. */
static void remote_counts_locked(remote_t *r, int64_t conns, int64_t leafs)
{
    conns = conns < 0 ? 0 : conns > REMOTE_COUNT_MAX ? REMOTE_COUNT_MAX : conns;
    leafs = leafs < 0 ? 0 : leafs > REMOTE_COUNT_MAX ? REMOTE_COUNT_MAX : leafs;
    if (r->a) {
        atomic_fetch_add(&r->a->nrconns, (int32_t)conns - r->conns);
        atomic_fetch_add(&r->a->nrleafs, (int32_t)leafs - r->leafs);
    }
    r->conns = (int32_t)conns;
    r->leafs = (int32_t)leafs;
}

static void forget_locked(const char *acc, const char *server)
{
    for (remote_t **pp = &D.remotes; *pp;) {
        remote_t *r = *pp;
        if ((!acc || strcmp(r->acc, acc) == 0) && strcmp(r->server, server) == 0) {
            remote_counts_locked(r, 0, 0);
            *pp = r->next;
            free(r->acc), free(r->server), free(r);
            D.nremotes--;
        } else {
            pp = &r->next;
        }
    }
}

/* $SYS.SERVER.ACCOUNT.<acc>.CONNS from another server: whether it has connections. */
static int on_conns(worker_t *w, const msg_t *m, void *arg)
{
    (void)w, (void)arg;
    slice_t b = body_of(m);
    conns_ev_t e = {0};
    if (json_parse_object(b.p, b.n, conns_member, &e) != 0 || !e.server[0] || !e.acc[0]) return 1;
    if (strcmp(e.server, srv->server_id) == 0) return 1;
    account_t *a = account_lookup(e.acc, strlen(e.acc));
    pthread_mutex_lock(&D.mu);
    remote_t *r = D.remotes;
    while (r && (strcmp(r->acc, e.acc) != 0 || strcmp(r->server, e.server) != 0))
        r = r->next;
    if (e.conns + e.leafs <= 0) {
        if (r) forget_locked(e.acc, e.server);
    } else if (r) {
        if (!r->a && a) { /* loaded here since: its sums start now */
            r->a = a;
            r->conns = r->leafs = 0;
        }
        remote_counts_locked(r, e.conns, e.leafs);
    } else if (D.nremotes < SUBS_REMOTE_MAX) {
        r = xcalloc(1, sizeof *r);
        r->acc = xstrdup(e.acc);
        r->server = xstrdup(e.server);
        r->a = a;
        remote_counts_locked(r, e.conns, e.leafs);
        r->next = D.remotes;
        D.remotes = r;
        D.nremotes++;
    }
    pthread_mutex_unlock(&D.mu);
    if (a) account_check_limits(a);
    return 1;
}

/* $SYS.SERVER.<id>.SHUTDOWN: that server has no connections any more. */
static int on_shutdown(worker_t *w, const msg_t *m, void *arg)
{
    (void)w, (void)arg;
    slice_t s = m->subject; /* $SYS.SERVER.<id>.SHUTDOWN */
    if (s.n <= 21) return 1;
    char id[128];
    size_t n = s.n - 12 - 9;
    if (n >= sizeof id) return 1;
    memcpy(id, s.p + 12, n);
    id[n] = 0;
    pthread_mutex_lock(&D.mu);
    forget_locked(NULL, id);
    pthread_mutex_unlock(&D.mu);
    return 1;
}

/* ---- the request and its remote parts ----------------------------------------------- */

typedef struct nsubs_req {
    char acc[256], subject[512], queue[256];
} nsubs_req_t;

static int nsubs_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    nsubs_req_t *q = ctx;
    if (t != JSON_STRING) return 0;
    if (json_key_is(key, "acc") && json_unquote(raw, q->acc, sizeof q->acc) < 0)
        q->acc[0] = 0;
    else if (json_key_is(key, "subject") && json_unquote(raw, q->subject, sizeof q->subject) < 0)
        q->subject[0] = 0;
    else if (json_key_is(key, "queue")) {
        char b64[400];
        size_t n;
        if (json_unquote(raw, b64, sizeof b64) < 0 || (n = strlen(b64)) % 4 ||
            n / 4 * 3 >= sizeof q->queue)
            return 0;
        int got = EVP_DecodeBlock((unsigned char *)q->queue, (const unsigned char *)b64, (int)n);
        if (got < 0) return 0;
        while (n && b64[n - 1] == '=')
            n--, got--;
        q->queue[got] = 0;
    }
    return 0;
}

/* $SYS.REQ.ACCOUNT.NSUBS from the server asked: our count, if the account has
 * connections here. */
static int on_nsubs(worker_t *w, const msg_t *m, void *arg)
{
    (void)arg;
    if (!m->reply.n) return 1;
    /* our own request, delivered here too: our count is in already */
    size_t pl = strlen(D.inbox);
    if (m->reply.n > pl && memcmp(m->reply.p, D.inbox, pl) == 0) return 1;
    slice_t b = body_of(m);
    nsubs_req_t q = {0};
    if (!b.n || json_parse_object(b.p, b.n, nsubs_member, &q) != 0 || !q.acc[0] || !q.subject[0])
        return 1;
    account_t *a = account_lookup(q.acc, strlen(q.acc));
    if (!a || atomic_load(&a->nconns) + atomic_load(&a->nleafs) == 0) return 1;
    slice_t subject = {q.subject, strlen(q.subject)}, queue = {q.queue, strlen(q.queue)};
    if (!subject_valid(subject.p, subject.n)) return 1;
    reply_count(w, m->reply.p, m->reply.n, count_local(a, subject, queue));
    return 1;
}

static void finish(worker_t *w, pending_t *p)
{
    reply_count(w, p->reply, strlen(p->reply), p->count);
    free(p->reply);
    free(p);
}

/* An answer to one of our NSUBS requests. */
static int on_answer(worker_t *w, const msg_t *m, void *arg)
{
    (void)arg;
    size_t pl = strlen(D.inbox);
    if (m->subject.n <= pl) return 1;
    uint64_t id = strtoull(m->subject.p + pl, NULL, 10);
    slice_t b = body_of(m);
    char num[24];
    size_t n = b.n < sizeof num - 1 ? b.n : sizeof num - 1;
    memcpy(num, b.p, n);
    num[n] = 0;
    pending_t *done = NULL;
    pthread_mutex_lock(&D.mu);
    for (pending_t **pp = &D.pending; *pp; pp = &(*pp)->next) {
        pending_t *p = *pp;
        if (p->id != id) continue;
        p->count += strtoll(num, NULL, 10);
        if (++p->got >= p->expected) {
            *pp = p->next;
            D.npending--;
            done = p;
        }
        break;
    }
    pthread_mutex_unlock(&D.mu);
    if (done) finish(w, done);
    return 1;
}

/* The requester's account: its Nats-Request-Info header ({"acc":...}), or ours. */
static int info_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    if (json_key_is(key, "acc") && t == JSON_STRING && json_unquote(raw, ctx, 256) < 0)
        ((char *)ctx)[0] = 0;
    return 0;
}

static int on_debug(worker_t *w, const msg_t *m, void *arg)
{
    (void)arg;
    if (!m->reply.n || m->from_route || m->from_gw) return 1; /* a client's, as the reference */
    account_t *a = D.sys;
    if (m->hdr > 0) {
        slice_t v = msghdr_get(m->payload, (size_t)m->hdr, "Nats-Request-Info");
        char acc[256] = "";
        if (v.n) json_parse_object(v.p, v.n, info_member, acc);
        if (acc[0]) a = account_lookup(acc, strlen(acc));
        if (!a) return 1;
    }
    slice_t body = body_of(m), subject, queue;
    if (!parse_body(body.p, body.n, &subject, &queue)) {
        reply_count(w, m->reply.p, m->reply.n, 0);
        return 1;
    }
    int64_t n = count_local(a, subject, queue);
    pthread_mutex_lock(&D.mu);
    int expected = remotes_of(a->name);
    if (!expected || D.npending >= SUBS_PENDING_MAX) {
        pthread_mutex_unlock(&D.mu);
        reply_count(w, m->reply.p, m->reply.n, n);
        return 1;
    }
    pending_t *p = xcalloc(1, sizeof *p);
    p->id = ++D.next_id;
    p->reply = xstrndup(m->reply.p, m->reply.n);
    p->count = n;
    p->expected = expected;
    p->deadline_ns = now_mono_ns() + SUBS_WAIT_NS;
    p->next = D.pending;
    D.pending = p;
    D.npending++;
    char inbox[96];
    snprintf(inbox, sizeof inbox, "%s%llu", D.inbox, (unsigned long long)p->id);
    pthread_mutex_unlock(&D.mu);
    buf_t req = {0};
    jw_t j;
    jw_init(&j, &req, false);
    jw_obj_begin(&j, NULL);
    jw_strn(&j, "acc", a->name, a->name_len);
    jw_strn(&j, "subject", subject.p, subject.n);
    if (queue.n && queue.n < 200) {
        char b64[300];
        int k = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)queue.p, (int)queue.n);
        jw_strn(&j, "queue", b64, (size_t)k);
    }
    jw_obj_end(&j);
    deliver_publish(w, D.sys, "$SYS.REQ.ACCOUNT.NSUBS", inbox, req.p, req.len);
    buf_free(&req);
    worker_note_deadline(w, now_mono_ns() + SUBS_WAIT_NS);
    return 1;
}

/* A worker's tick: requests whose wait is over are answered with what came. */
static void sweep(worker_t *w)
{
    if (!atomic_load_explicit(&D.npending, memory_order_relaxed)) return;
    int64_t now = now_mono_ns();
    pending_t *due = NULL;
    pthread_mutex_lock(&D.mu);
    for (pending_t **pp = &D.pending; *pp;) {
        pending_t *p = *pp;
        if (p->deadline_ns <= now) {
            *pp = p->next;
            D.npending--;
            p->next = due;
            due = p;
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&D.mu);
    while (due) {
        pending_t *next = due->next;
        finish(w, due);
        due = next;
    }
}

/* ---- start / stop ----------------------------------------------------------------- */

void sys_subs_start(void)
{
    account_t *sys = account_system();
    if (!sys || D.on) return;
    D.sys = sys;
    sys_inbox_subject("ds", D.inbox, sizeof D.inbox); /* + the request's number */
    D.subs[0] = internal_sub_add(sys, "$SYS.DEBUG.SUBSCRIBERS", on_debug, NULL, false);
    D.subs[1] = internal_sub_add(sys, "$SYS.REQ.ACCOUNT.NSUBS", on_nsubs, NULL, true);
    D.subs[2] = internal_sub_add(sys, "$SYS.SERVER.ACCOUNT.*.CONNS", on_conns, NULL, true);
    D.subs[3] = internal_sub_add(sys, "$SYS.SERVER.*.SHUTDOWN", on_shutdown, NULL, true);
    sys_register_inbox_handler("ds", on_answer, NULL);
    worker_on_tick(sweep);
    D.on = true;
}

void sys_subs_stop(void)
{
    if (!D.on) return;
    for (size_t i = 0; i < ARRAY_LEN(D.subs); i++)
        internal_sub_remove(D.subs[i]);
    D.on = false;
}

void sys_subs_free(void)
{
    pthread_mutex_lock(&D.mu);
    for (pending_t *p = D.pending, *n; p; p = n) {
        n = p->next;
        free(p->reply), free(p);
    }
    D.pending = NULL;
    D.npending = 0;
    for (remote_t *r = D.remotes, *n; r; r = n) {
        n = r->next;
        free(r->acc), free(r->server), free(r);
    }
    D.remotes = NULL;
    D.nremotes = 0;
    pthread_mutex_unlock(&D.mu);
}
