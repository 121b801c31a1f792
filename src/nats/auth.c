/* auth.c: see auth.h. Permission lists are short, so matching is a linear
 * scan with subject_matches (publish) or a token-literal cover test
 * (subscribe, docs/config.md §7.4). */
#include "nats/auth.h"
#include "nats/account.h"
#include "base/bcrypt.h"
#include "base/nkeys.h"
#include "conf/claims.h"
#include "base/gofmt.h"
#include "base/hash.h"
#include "base/json.h"
#include "core/core.h"
#include "base/log.h"
#include "base/qsbr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct pattern {
    char *subject;
    char *queue; /* NULL: plain entry */
} pattern_t;

typedef struct plist {
    pattern_t *allow;
    size_t nallow;
    bool has_allow;
    pattern_t *deny;
    size_t ndeny;
} plist_t;

/* Immutable once published in c->perms. */
struct auth_perms {
    plist_t pub, sub;
    bool allow_responses;
    int64_t resp_max, resp_expires_ns; /* <= 0: no limit */
};

/* ---- reply permissions: a bounded map of reply subjects ------------------------
 * Entries sit in a ring in insertion order (holes where one was removed) and are
 * found through an open-addressing table of ring indexes (backward-shift delete).
 * The oldest end is where expired entries are dropped and, when full, where the
 * oldest one is forgotten, so every operation is O(1) amortized. */

typedef struct resp_ent {
    char *subj; /* NULL: hole */
    uint32_t len;
    uint64_t hash;
    int64_t at_ns;
    int64_t count;
} resp_ent_t;

struct resp_map {
    pthread_mutex_t lock; /* deliverers (any worker) add, the owner consumes */
    resp_ent_t *ring;
    uint32_t rcap;       /* power of two */
    uint64_t tail, head; /* positions; [tail, head) holds the entries */
    uint32_t *tab;       /* 0 = empty, else ring index + 1; 2 * rcap slots */
    uint32_t n;
    size_t bytes;
};

static struct resp_map *resp_new(void)
{
    struct resp_map *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->rcap = 8;
    m->ring = xcalloc(m->rcap, sizeof *m->ring);
    m->tab = xcalloc(2 * m->rcap, sizeof *m->tab);
    return m;
}

static void resp_free(struct resp_map *m)
{
    if (!m) return;
    for (uint32_t i = 0; i < m->rcap; i++)
        free(m->ring[i].subj);
    free(m->ring);
    free(m->tab);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Table slot holding ring index ri (or the subject), -1 if none. */
static int64_t resp_slot(const struct resp_map *m, const char *subj, size_t len, uint64_t h)
{
    uint32_t mask = 2 * m->rcap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        uint32_t v = m->tab[i];
        if (!v) return -1;
        const resp_ent_t *e = &m->ring[v - 1];
        if (e->hash == h && e->len == len && memcmp(e->subj, subj, len) == 0) return i;
    }
}

static void tab_put(struct resp_map *m, uint64_t h, uint32_t ri)
{
    uint32_t mask = 2 * m->rcap - 1;
    uint32_t i = (uint32_t)h & mask;
    while (m->tab[i])
        i = (i + 1) & mask;
    m->tab[i] = ri + 1;
}

static void resp_del_slot(struct resp_map *m, uint32_t slot)
{
    uint32_t mask = 2 * m->rcap - 1;
    resp_ent_t *e = &m->ring[m->tab[slot] - 1];
    m->bytes -= e->len;
    m->n--;
    free(e->subj);
    e->subj = NULL;
    /* backward-shift delete: no tombstones */
    uint32_t i = slot;
    for (uint32_t j = (i + 1) & mask; m->tab[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)m->ring[m->tab[j] - 1].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->tab[i] = m->tab[j];
            i = j;
        }
    }
    m->tab[i] = 0;
}

static void resp_del_ent(struct resp_map *m, resp_ent_t *e)
{
    int64_t slot = resp_slot(m, e->subj, e->len, e->hash);
    if (slot >= 0) resp_del_slot(m, (uint32_t)slot);
}

/* Copies the entries, in order, into a ring of cap slots. */
static void resp_repack(struct resp_map *m, uint32_t cap)
{
    resp_ent_t *ring = xcalloc(cap, sizeof *ring);
    uint32_t k = 0;
    for (uint64_t pos = m->tail; pos < m->head; pos++) {
        resp_ent_t *e = &m->ring[pos & (m->rcap - 1)];
        if (e->subj) ring[k++] = *e;
    }
    free(m->ring);
    free(m->tab);
    m->ring = ring;
    m->rcap = cap;
    m->tab = xcalloc(2 * (size_t)cap, sizeof *m->tab);
    for (uint32_t i = 0; i < k; i++)
        tab_put(m, ring[i].hash, i);
    m->tail = 0;
    m->head = k;
}

static bool resp_expired(const resp_ent_t *e, int64_t expires, int64_t now)
{
    return expires > 0 && now - e->at_ns > expires;
}

/* A reply subject delivered to the connection: it may publish there (again from zero). */
static void resp_add(struct resp_map *m, slice_t subj, int64_t expires)
{
    if (subj.n > RESP_MAX_BYTES) return;
    uint64_t h = hash_bytes(subj.p, subj.n);
    pthread_mutex_lock(&m->lock);
    int64_t now = now_mono_ns();
    int64_t slot = resp_slot(m, subj.p, subj.n, h);
    if (slot >= 0) resp_del_slot(m, (uint32_t)slot); /* moves to the young end */
    while (m->tail < m->head) {                      /* holes and expired entries at the old end */
        resp_ent_t *e = &m->ring[m->tail & (m->rcap - 1)];
        if (e->subj && !resp_expired(e, expires, now)) break;
        if (e->subj) resp_del_ent(m, e);
        m->tail++;
    }
    while (m->head - m->tail == m->rcap || m->bytes + subj.n > RESP_MAX_BYTES ||
           m->n >= RESP_MAX_ENTRIES) {
        if (m->head - m->tail == m->rcap && m->n <= m->rcap / 2) {
            resp_repack(m, m->rcap); /* mostly holes */
        } else if (m->head - m->tail == m->rcap && m->rcap < RESP_MAX_ENTRIES) {
            resp_repack(m, m->rcap * 2);
        } else { /* full: forget the oldest */
            resp_ent_t *e = &m->ring[m->tail & (m->rcap - 1)];
            if (e->subj) resp_del_ent(m, e);
            m->tail++;
        }
    }
    uint32_t ri = (uint32_t)(m->head++ & (m->rcap - 1));
    m->ring[ri] = (resp_ent_t){xstrndup(subj.p, subj.n), (uint32_t)subj.n, h, now, 0};
    tab_put(m, h, ri);
    m->n++;
    m->bytes += subj.n;
    pthread_mutex_unlock(&m->lock);
}

/* Publishing to subj as a response: allowed while the entry is fresh and not used up. */
static bool resp_use(struct resp_map *m, slice_t subj, int64_t max, int64_t expires)
{
    uint64_t h = hash_bytes(subj.p, subj.n);
    bool ok = false;
    pthread_mutex_lock(&m->lock);
    int64_t slot = resp_slot(m, subj.p, subj.n, h);
    if (slot >= 0) {
        resp_ent_t *e = &m->ring[m->tab[slot] - 1];
        if (resp_expired(e, expires, now_mono_ns())) {
            resp_del_slot(m, (uint32_t)slot);
        } else {
            ok = true;
            if (max > 0 && ++e->count >= max) resp_del_slot(m, (uint32_t)slot);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return ok;
}

bool auth_nonce_required(void)
{
    const opts_t *o = srv->opts;
    if (accounts_from_jwts()) return true;
    for (size_t i = 0; i < o->nusers; i++)
        if (o->users[i].is_nkey) return true;
    return false;
}

bool auth_required(void)
{
    opts_t *o = srv->opts;
    return (o->username && *o->username) || (o->token && *o->token) || o->nusers > 0 ||
           accounts_from_jwts();
}

/* ---- the password-check pool ------------------------------------------------ */

struct auth_job {
    struct auth_job *next;
    conn_t *conn; /* owner only; NULL once the connection closed */
    worker_t *w;  /* the owner */
    char *hash;   /* the configured bcrypt hash */
    char *pass;   /* the given secret (wiped when freed) */
    size_t passlen;
    bool ok;          /* the verdict, written by the pool thread before handing back */
    bool done;        /* owner: the verdict is back */
    bool for_connect; /* owner: a CONNECT waits for it (reading paused) */
    bool for_reauth;  /* owner: a reload's re-check waits for it */
    /* or an account lookup (operator mode, the full resolver; no hash or secret) */
    char *lookup; /* the account asked of the other servers */
    char *err;    /* its verdict: NULL found (stored now), else why not */
};

static struct {
    pthread_once_t once;
    pthread_mutex_t lock; /* the queue and every worker's done list */
    pthread_cond_t cond;
    struct auth_job *head, *tail;
    size_t queued;
    struct auth_job *done[MAX_WORKERS];
} pool = {
    .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void job_free(struct auth_job *j)
{
    if (j->pass) explicit_bzero(j->pass, j->passlen);
    free(j->pass);
    free(j->hash);
    free(j->lookup);
    free(j->err);
    free(j);
}

/* Any thread: the verdict is in j; it goes back to its owner worker. */
static void job_hand_back(struct auth_job *j)
{
    worker_t *w = j->w;
    pthread_mutex_lock(&pool.lock);
    j->next = pool.done[w->id];
    pool.done[w->id] = j;
    pthread_mutex_unlock(&pool.lock);
    if (!atomic_load(&srv->shutting_down)) worker_command_one(w, WCMD_AUTH);
}

static void *auth_thread(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool.lock);
        while (!pool.head)
            pthread_cond_wait(&pool.cond, &pool.lock);
        struct auth_job *j = pool.head;
        pool.head = j->next;
        if (!pool.head) pool.tail = NULL;
        pool.queued--;
        pthread_mutex_unlock(&pool.lock);
        /* The job's strings are its own: this thread touches no connection or options. */
        j->ok = bcrypt_check(j->hash, j->pass, j->passlen);
        job_hand_back(j);
    }
    return NULL;
}

static void pool_start(void)
{
    long cpus = os_ncpus();
    int n = cpus > 1 ? (int)(cpus / 2) : 1;
    if (n > AUTH_THREADS_MAX) n = AUTH_THREADS_MAX;
    for (int i = 0; i < n; i++) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, auth_thread, NULL) != 0) abort();
        pthread_attr_destroy(&at);
    }
}

/* Queues a check of pass against hash for c; false when the queue is full. */
static bool job_submit(conn_t *c, const char *hash, const char *pass)
{
    pthread_once(&pool.once, pool_start);
    struct auth_job *j = xcalloc(1, sizeof *j);
    j->conn = c;
    j->w = c->w;
    j->hash = xstrdup(hash);
    j->passlen = strlen(pass);
    j->pass = xstrndup(pass, j->passlen);
    pthread_mutex_lock(&pool.lock);
    bool ok = pool.queued < AUTH_QUEUE_MAX;
    if (ok) {
        if (pool.tail)
            pool.tail->next = j;
        else
            pool.head = j;
        pool.tail = j;
        pool.queued++;
        pthread_cond_signal(&pool.cond);
    }
    pthread_mutex_unlock(&pool.lock);
    if (!ok) {
        job_free(j);
        return false;
    }
    c->auth_job = j;
    return true;
}

void auth_run_verdicts(worker_t *w)
{
    pthread_mutex_lock(&pool.lock);
    struct auth_job *list = pool.done[w->id];
    pool.done[w->id] = NULL;
    pthread_mutex_unlock(&pool.lock);
    while (list) {
        struct auth_job *j = list;
        list = j->next;
        j->next = NULL;
        if (!j->conn) { /* the connection closed meanwhile */
            job_free(j);
            continue;
        }
        j->done = true;
        conn_t *c = j->conn;
        bool fc = j->for_connect, fr = j->for_reauth;
        j->for_connect = j->for_reauth = false;
        /* The continuations may consume j, replace it, or close the connection (which
         * frees it). One pause/resume for every kind; only the CONNECT's rest differs. */
        if (fc && c->auth_wait) {
            c->auth_wait = false;
            c->ops->connect_verdict(w, c);
            if (c->closing)
                conn_close(c, c->reason);
            else if (!c->auth_wait)
                conn_resume(w, c); /* what the peer sent after CONNECT, in order */
        } else if (fr) {
            /* The reload's re-check again (the command that asked for it): it finds the
             * verdict cached. Only kinds that take WCMD_REAUTH start one. */
            if (c->ops->command) c->ops->command(w, c, WCMD_REAUTH);
            if (c->closing) conn_close(c, c->reason);
        }
    }
}

bool auth_settled(const conn_t *c)
{
    return !c->auth_job || c->auth_job->done;
}

void auth_conn_closed(conn_t *c)
{
    struct auth_job *j = c->auth_job;
    if (!j) return;
    c->auth_job = NULL;
    if (j->done)
        job_free(j);
    else
        j->conn = NULL; /* still queued or running: freed when it comes back */
}

/* Configured secret against the given one. bcrypt goes to the pool: PENDING until
 * the verdict for exactly this hash and secret is back, then that verdict. */
auth_rc_t auth_secret_check(conn_t *c, const char *configured, const char *given, bool connect)
{
    if (!configured) configured = "";
    if (!given) given = "";
    if (!bcrypt_is_hash(configured))
        return secret_equal(configured, strlen(configured), given, strlen(given)) ? AUTH_OK
                                                                                  : AUTH_FAIL;
    struct auth_job *j = c->auth_job;
    if (j) {
        bool same = strcmp(j->hash, configured) == 0 && j->passlen == strlen(given) &&
                    memcmp(j->pass, given, j->passlen) == 0;
        if (!j->done) { /* one check at a time: this one is asked again when that one ends */
            if (connect)
                j->for_connect = true;
            else
                j->for_reauth = true;
            return AUTH_PENDING;
        }
        if (same) return j->ok ? AUTH_OK : AUTH_FAIL;
        auth_conn_closed(c);
    }
    if (!job_submit(c, configured, given)) {
        ERROR("%sauthentication error - %d password checks waiting already", c->prefix,
              AUTH_QUEUE_MAX);
        return AUTH_BUSY;
    }
    if (connect)
        c->auth_job->for_connect = true;
    else
        c->auth_job->for_reauth = true;
    return AUTH_PENDING;
}

/* ---- permissions ------------------------------------------------------------ */

static void split_pattern(const char *in, pattern_t *out)
{
    const char *sp = strchr(in, ' ');
    if (sp) {
        out->subject = xstrndup(in, (size_t)(sp - in));
        while (*sp == ' ')
            sp++;
        out->queue = *sp ? xstrdup(sp) : NULL;
    } else {
        out->subject = xstrdup(in);
        out->queue = NULL;
    }
}

static void compile_list(const perm_list_t *in, plist_t *out)
{
    out->has_allow = in->has_allow && in->nallow > 0;
    out->nallow = in->nallow;
    out->allow = xcalloc(in->nallow, sizeof(pattern_t));
    for (size_t i = 0; i < in->nallow; i++)
        split_pattern(in->allow[i], &out->allow[i]);
    out->ndeny = in->ndeny;
    out->deny = xcalloc(in->ndeny, sizeof(pattern_t));
    for (size_t i = 0; i < in->ndeny; i++)
        split_pattern(in->deny[i], &out->deny[i]);
}

static void free_list(plist_t *l)
{
    for (size_t i = 0; i < l->nallow; i++) {
        free(l->allow[i].subject);
        free(l->allow[i].queue);
    }
    for (size_t i = 0; i < l->ndeny; i++) {
        free(l->deny[i].subject);
        free(l->deny[i].queue);
    }
    free(l->allow);
    free(l->deny);
}

static void perms_free(void *p)
{
    auth_perms_t *a = p;
    free_list(&a->pub);
    free_list(&a->sub);
    free(a);
}

static auth_perms_t *compile_perms(const permissions_t *p)
{
    if (!p) return NULL;
    auth_perms_t *a = xcalloc(1, sizeof *a);
    if (p->has_publish) compile_list(&p->publish, &a->pub);
    if (p->has_subscribe) compile_list(&p->subscribe, &a->sub);
    if (p->allow_responses) {
        a->allow_responses = true;
        a->resp_max = p->resp_max == 0 ? 1 : p->resp_max;
        a->resp_expires_ns = p->resp_expires_ns == 0 ? 120LL * 1000000000LL : p->resp_expires_ns;
        /* Responses-only: with no publish allow list, nothing else may be published. */
        if (!a->pub.has_allow) a->pub.has_allow = true;
    }
    return a;
}

/* Owner: publishes a new permission set; deliverers may still hold the old one
 * until their next quiescent point, so it is retired, not freed. */
static void set_perms(conn_t *c, auth_perms_t *a)
{
    if (a && a->allow_responses && !atomic_load_explicit(&c->resp, memory_order_relaxed))
        atomic_store_explicit(&c->resp, resp_new(), memory_order_release);
    auth_perms_t *old = atomic_exchange_explicit(&c->perms, a, memory_order_acq_rel);
    if (old) qsbr_retire(old, perms_free);
}

void auth_conn_clear(conn_t *c)
{
    set_perms(c, NULL);
}

void auth_conn_free(conn_t *c)
{
    /* The connection itself is being freed: nobody can hold these any more. */
    auth_perms_t *a = atomic_exchange(&c->perms, NULL);
    if (a) perms_free(a);
    resp_free(atomic_exchange(&c->resp, NULL));
    if (c->auth_job && c->auth_job->done) job_free(c->auth_job);
    c->auth_job = NULL;
}

void auth_violation_log(const conn_t *c, const char *user)
{
    /* The reference (client.authViolation) names the CONNECT's nkey when nkey users
     * exist, else its user when a users list is configured; never the secret. */
    if (accounts_from_jwts()) {
        ERROR("%sauthentication error", c->prefix);
    } else if (auth_nonce_required()) {
        const char *k = c->cred_nkey ? c->cred_nkey : "";
        char q[300];
        quote_go(q, sizeof q, k, strlen(k) > 200 ? 200 : strlen(k));
        ERROR("%sauthentication error - Nkey %s", c->prefix, q);
    } else if (srv->opts->nusers > 0) {
        char q[600]; /* the name is the client's: quoted as the reference's %q */
        quote_go(q, sizeof q, user ? user : "", user ? strlen(user) : 0);
        ERROR("%sauthentication error - User %s", c->prefix, q);
    } else {
        ERROR("%sauthentication error", c->prefix);
    }
}

/* The account a user logs in to: its own, or the global one. */
static account_t *user_account(const user_t *u)
{
    account_t *acc = u->account ? account_lookup(u->account, strlen(u->account)) : NULL;
    return acc ? acc : account_global();
}

static const user_t *no_auth_user(void)
{
    opts_t *o = srv->opts;
    if (!o->no_auth_user || !*o->no_auth_user) return NULL;
    for (size_t i = 0; i < o->nusers; i++)
        if (strcmp(o->users[i].name, o->no_auth_user) == 0) return &o->users[i];
    return NULL;
}

bool auth_login_no_auth_user(conn_t *c)
{
    const user_t *u = no_auth_user();
    if (!u || (u->restrict_conn_types && !u->allow_standard)) return false;
    c->acc = user_account(u);
    free(c->user);
    c->user = xstrdup(u->name);
    set_perms(c, compile_perms(u->perms ? u->perms : srv->opts->default_perms));
    return true;
}

/* A signature (base64url or standard) by the nkey `pub` of the nonce in our INFO. */
static bool nonce_signed(const conn_t *c, const char *pub, nkey_type_t type)
{
    uint8_t sig[64];
    if (!c->nonce || !c->cred_sig) return false;
    if (nkey_b64_decode(c->cred_sig, strlen(c->cred_sig), sig, sizeof sig) != 64) {
        DEBUG("%sSignature not valid base64", c->prefix);
        return false;
    }
    if (!nkey_verify_str(pub, strlen(pub), type, c->nonce, strlen(c->nonce), sig)) {
        DEBUG("%sSignature not verified", c->prefix);
        return false;
    }
    return true;
}

/* account_fetch_remote's callback (the lookup's thread): a verdict like the pool's. */
static void lookup_done(void *arg, const char *err)
{
    struct auth_job *j = arg;
    j->ok = err == NULL;
    j->err = err ? xstrdup(err) : NULL;
    job_hand_back(j);
}

/* The account of a CONNECT's user JWT: loaded here, or the verdict of the lookup this
 * CONNECT waited for, or a lookup of it starts (AUTH_PENDING: the CONNECT goes on when it
 * ends, the worker is not held). A reload's re-check never waits for one. */
static auth_rc_t user_account_jwt(conn_t *c, const char *acc, bool connect, account_t **out)
{
    char why[128] = "";
    bool looked_up = false;
    struct auth_job *j = c->auth_job;
    if (j && j->lookup) {
        if (!j->done) {
            if (connect) j->for_connect = true;
            return AUTH_PENDING;
        }
        looked_up = strcmp(j->lookup, acc) == 0;
        if (looked_up) snprintf(why, sizeof why, "%s", j->err ? j->err : "account missing");
        auth_conn_closed(c); /* done: freed */
    }
    *out = account_fetch_quiet(acc, strlen(acc));
    if (*out) return AUTH_OK;
    if (looked_up) { /* never a second lookup for one CONNECT; the lookup logged its end */
        DEBUG("%sAccount JWT lookup error: %s", c->prefix, why);
        return AUTH_FAIL;
    }
    if (connect) {
        j = xcalloc(1, sizeof *j);
        j->conn = c;
        j->w = c->w;
        j->lookup = xstrdup(acc);
        j->for_connect = true;
        c->auth_job = j; /* before: the verdict may come back at once */
        acct_remote_t r = account_fetch_remote(acc, strlen(acc), lookup_done, j);
        if (r == ACCT_REMOTE_STARTED) return AUTH_PENDING;
        c->auth_job = NULL;
        job_free(j);
        if (r == ACCT_REMOTE_BUSY) return AUTH_FAIL; /* logged */
    }
    *out = account_fetch(acc, strlen(acc)); /* not looked up: logs why it is not here */
    if (!*out) DEBUG("%sAccount JWT lookup error: %s", c->prefix, acc);
    return *out ? AUTH_OK : AUTH_FAIL;
}

/* Operator mode (docs/operator.md "Users"): the CONNECT's user JWT, issued by a loaded
 * account (or one of its signing keys), not expired nor revoked, and the nonce signed
 * by the user's key unless the JWT is a bearer token. Permissions come from a scoped
 * signing key's template, else the JWT, else the account's default_permissions. */
static auth_rc_t jwt_login(conn_t *c, bool connect)
{
    user_claims_t uc;
    char err[256];
    const char *jwt = c->cred_jwt;
    if (!jwt || !*jwt) {
        DEBUG("%sClient JWT missing", c->prefix);
        return AUTH_FAIL;
    }
    if (claims_user(jwt, strlen(jwt), &uc, err, sizeof err) != 0) {
        DEBUG("%sUser JWT not valid: %s", c->prefix, err);
        return AUTH_FAIL;
    }
    auth_rc_t rc = AUTH_FAIL;
    int64_t now = (int64_t)time(NULL);
    const char *acc_pub = uc.issuer_account[0] ? uc.issuer_account : uc.j.iss;
    account_t *a = NULL;
    const acct_claims_t *ac = NULL;
    const acct_signer_t *signer = NULL;
    if (jwt_expired(&uc.j, now)) {
        DEBUG("%sUser JWT expired", c->prefix);
        goto out;
    }
    rc = user_account_jwt(c, acc_pub, connect, &a);
    if (rc != AUTH_OK) goto out;
    rc = AUTH_FAIL;
    ac = a ? atomic_load_explicit(&a->claims, memory_order_acquire) : NULL;
    if (!ac) {
        DEBUG("%sAccount JWT lookup error: %s", c->prefix, acc_pub);
        goto out;
    }
    if (uc.issuer_account[0]) {
        signer = claims_signer(ac, uc.j.iss);
        if (!signer) {
            DEBUG("%sUser JWT issuer is not known", c->prefix);
            goto out;
        }
        if (signer->scope && uc.own_perms_limits) {
            DEBUG("%sUser JWT is not valid: scoped users require no permissions or limits set",
                  c->prefix);
            goto out;
        }
    } else if (strcmp(uc.j.iss, ac->j.sub) != 0) {
        DEBUG("%sUser JWT issuer is not its account", c->prefix);
        goto out;
    }
    if (jwt_expired(&ac->j, now)) {
        DEBUG("%sAccount JWT expired", c->prefix);
        goto out;
    }
    if (uc.bearer ? ac->disallow_bearer : !nonce_signed(c, uc.j.sub, NKEY_USER)) goto out;
    if (claims_user_revoked(ac, uc.j.sub, uc.j.iat)) {
        DEBUG("%sUser authentication revoked", c->prefix);
        goto out;
    }
    const user_claims_t *src = signer && signer->scope ? signer->scope : &uc;
    if (src->restrict_conn_types && !src->allow_standard) goto out;
    /* a reload that took the user to another account: it logs in again */
    if (c->acc_counted && c->acc != a) goto out;
    c->acc = a;
    free(c->user);
    c->user = xstrdup(uc.j.sub);
    set_perms(c, compile_perms(src->perms ? src->perms : ac->ao.default_perms));
    free(c->jwt_issuer);
    c->jwt_issuer = xstrdup(signer ? uc.j.iss : ac->j.sub);
    free(c->jwt_name);
    c->jwt_name = uc.j.name[0] ? xstrdup(uc.j.name) : NULL;
    c->jwt_limits = true;
    c->jwt_max_subs = src->max_subs > INT32_MAX ? INT32_MAX : (int32_t)src->max_subs;
    c->jwt_max_payload = src->max_payload > INT32_MAX ? INT32_MAX : (int32_t)src->max_payload;
    c->expires_ns = 0;
    if (uc.j.exp) {
        int64_t left = uc.j.exp - now;
        c->expires_ns = now_mono_ns() + (left > 0 ? left : 0) * 1000000000LL;
    }
    rc = AUTH_OK;
out:
    claims_user_free(&uc);
    return rc;
}

auth_rc_t auth_check(conn_t *c, const char *user, const char *pass, const char *token, bool connect)
{
    opts_t *o = srv->opts;
    auth_rc_t rc;
    if (accounts_from_jwts()) {
        rc = jwt_login(c, connect);
        if (rc == AUTH_OK || rc == AUTH_PENDING) return rc;
        auth_violation_log(c, user);
        return AUTH_FAIL;
    }
    if ((!user || !*user) && (!pass || !*pass) && (!token || !*token)) {
        const user_t *u = no_auth_user();
        if (u) {
            user = u->name;
            pass = u->password;
        }
    }
    if (o->token && *o->token) {
        rc = token ? auth_secret_check(c, o->token, token, connect) : AUTH_FAIL;
        if (rc == AUTH_FAIL) auth_violation_log(c, user);
        return rc;
    }
    if (o->nusers > 0) {
        /* a CONNECT naming an nkey logs in as that nkey user or not at all */
        bool by_nkey = c->cred_nkey && *c->cred_nkey && auth_nonce_required();
        for (size_t i = 0; i < o->nusers; i++) {
            user_t *u = &o->users[i];
            if (u->is_nkey != by_nkey) continue;
            if (by_nkey) {
                if (strcmp(u->name, c->cred_nkey) != 0) continue;
                if (!nonce_signed(c, u->name, NKEY_USER)) break;
            } else {
                if (!user || strcmp(u->name, user) != 0) continue;
                rc = auth_secret_check(c, u->password, pass, connect);
                if (rc == AUTH_PENDING || rc == AUTH_BUSY) return rc;
                if (rc != AUTH_OK) break;
            }
            /* allowed_connection_types without STANDARD: not on the client port */
            if (u->restrict_conn_types && !u->allow_standard) break;
            account_t *acc = user_account(u);
            /* A reload that moved the user to another account: its subscriptions live in
             * the old account's index, so it logs in again (the reference closes it too). */
            if (c->acc_counted && c->acc != acc) break;
            c->acc = acc;
            free(c->user);
            c->user = xstrdup(u->name);
            set_perms(c, compile_perms(u->perms ? u->perms : o->default_perms));
            return AUTH_OK;
        }
        auth_violation_log(c, user);
        return AUTH_FAIL;
    }
    if (o->username && *o->username) {
        rc = user && strcmp(user, o->username) == 0
                 ? auth_secret_check(c, o->password, pass, connect)
                 : AUTH_FAIL;
        if (rc == AUTH_OK) {
            free(c->user);
            c->user = xstrdup(user);
        } else if (rc == AUTH_FAIL) {
            auth_violation_log(c, user);
        }
        return rc;
    }
    return AUTH_OK;
}

/* Subscription subject `sub` covered by pattern `pat`, tokens of sub taken literally. */
static bool sub_covered(const char *pat, const char *sub, size_t subn)
{
    const char *p = pat, *s = sub, *se = sub + subn;
    for (;;) {
        const char *pe = strchr(p, '.');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        const char *te = memchr(s, '.', (size_t)(se - s));
        size_t tl = te ? (size_t)(te - s) : (size_t)(se - s);
        if (pl == 1 && p[0] == '>')
            return true; /* covers one or more remaining tokens, wildcards included */
        if (pl == 1 && p[0] == '*') {
            /* any one token, a literal `*` or `>` of the subscription included
             * (the reference matches the SUB subject through its sublist) */
        } else if (pl != tl || memcmp(p, s, pl) != 0) {
            return false;
        }
        if (!pe && !te) return true;
        if (!pe || !te) return false;
        p = pe + 1;
        s = te + 1;
    }
}

static bool pub_match(const pattern_t *ps, size_t n, slice_t subj)
{
    for (size_t i = 0; i < n; i++)
        if (subject_matches(ps[i].subject, strlen(ps[i].subject), subj.p, subj.n)) return true;
    return false;
}

static bool queue_match(const char *pat, slice_t q)
{
    return subject_matches(pat, strlen(pat), q.p, q.n);
}

/* How the reference names the user in a violation's log line (its getAuthUser): the
 * CONNECT's nkey, else the user name, else a JWT user's key. */
static const char *user_label(const conn_t *c, char *out, size_t n)
{
    if (c->cred_nkey && *c->cred_nkey)
        snprintf(out, n, "Nkey \"%s\"", c->cred_nkey);
    else if (c->cred_jwt && *c->cred_jwt && !(c->cred_user && *c->cred_user))
        snprintf(out, n, "JWT User \"%s\"", c->user ? c->user : "");
    else
        snprintf(out, n, "User \"%s\"", c->user ? c->user : "N/A");
    return out;
}

bool auth_can_publish(worker_t *w, conn_t *c, slice_t subject)
{
    const auth_perms_t *a = atomic_load_explicit(&c->perms, memory_order_relaxed);
    if (!a) return true;
    bool ok = true;
    if (a->pub.has_allow) ok = pub_match(a->pub.allow, a->pub.nallow, subject);
    if (ok && a->pub.ndeny) ok = !pub_match(a->pub.deny, a->pub.ndeny, subject);
    struct resp_map *m = atomic_load_explicit(&c->resp, memory_order_relaxed);
    if (!ok && a->allow_responses && m) ok = resp_use(m, subject, a->resp_max, a->resp_expires_ns);
    if (!ok) {
        char text[1024];
        snprintf(text, sizeof text, "Permissions Violation for Publish to \"%.*s\"",
                 (int)(subject.n > 900 ? 900 : subject.n), subject.p);
        char who[128];
        ERROR("%sPublish Violation - %s, Subject \"%.*s\"", c->prefix,
              user_label(c, who, sizeof who), (int)subject.n, subject.p);
        c->ops->send_err(w, c, text);
    }
    return ok;
}

bool auth_perm_allows(const conn_t *c, bool publish, slice_t subject)
{
    const auth_perms_t *a = atomic_load_explicit(&c->perms, memory_order_acquire);
    if (!a) return true;
    const plist_t *l = publish ? &a->pub : &a->sub;
    bool ok = !l->has_allow;
    for (size_t i = 0; !ok && i < l->nallow; i++)
        ok = sub_covered(l->allow[i].subject, subject.p, subject.n);
    /* a wildcard subject wider than an allowed one is allowed too: the other side prunes
     * what it sends by its own rights (the reference's ReverseMatch for leaf nodes) */
    if (!ok && memchr(subject.p, '*', subject.n) == NULL &&
        memchr(subject.p, '>', subject.n) == NULL)
        return false;
    for (size_t i = 0; !ok && i < l->nallow; i++) {
        char pat[1024];
        if (subject.n >= sizeof pat) break;
        memcpy(pat, subject.p, subject.n);
        pat[subject.n] = 0;
        ok = sub_covered(pat, l->allow[i].subject, strlen(l->allow[i].subject));
    }
    for (size_t i = 0; ok && i < l->ndeny; i++)
        ok = !sub_covered(l->deny[i].subject, subject.p, subject.n);
    return ok;
}

static void perm_names(jw_t *j, const char *key, const pattern_t *v, size_t n)
{
    if (!n) return;
    jw_arr_begin(j, key);
    for (size_t i = 0; i < n; i++) {
        char e[1024];
        snprintf(e, sizeof e, v[i].queue ? "%s %s" : "%s", v[i].subject, v[i].queue);
        jw_str(j, NULL, e);
    }
    jw_arr_end(j);
}

void auth_perm_json(jw_t *j, const char *key, const conn_t *c, bool publish)
{
    const auth_perms_t *a = atomic_load_explicit(&c->perms, memory_order_acquire);
    if (!a) return;
    const plist_t *l = publish ? &a->pub : &a->sub;
    if (!l->nallow && !l->ndeny) return;
    jw_obj_begin(j, key);
    perm_names(j, "allow", l->allow, l->nallow);
    perm_names(j, "deny", l->deny, l->ndeny);
    jw_obj_end(j);
}

void auth_set_perms(conn_t *c, const permissions_t *p)
{
    set_perms(c, compile_perms(p));
}

bool auth_sub_allowed(const conn_t *c, slice_t subject, slice_t queue)
{
    if (queue.n == 5 && memcmp(queue.p, "_sys_", 5) == 0) return false;
    const auth_perms_t *a = atomic_load_explicit(&c->perms, memory_order_relaxed);
    if (!a) return true;
    bool ok = true;
    if (a->sub.has_allow) {
        bool qmatched = false, qok = false, plain = false;
        for (size_t i = 0; i < a->sub.nallow; i++) {
            pattern_t *p = &a->sub.allow[i];
            if (!sub_covered(p->subject, subject.p, subject.n)) continue;
            if (p->queue) {
                qmatched = true;
                if (queue.n && queue_match(p->queue, queue)) qok = true;
            } else {
                plain = true;
            }
        }
        ok = (queue.n && qmatched) ? qok : plain;
    }
    if (ok && a->sub.ndeny) {
        bool qdeny_matched = false, qdenied = false;
        for (size_t i = 0; i < a->sub.ndeny; i++) {
            pattern_t *p = &a->sub.deny[i];
            if (!sub_covered(p->subject, subject.p, subject.n)) continue;
            if (p->queue) {
                qdeny_matched = true;
                if (queue.n && queue_match(p->queue, queue)) qdenied = true;
            } else {
                ok = false;
            }
        }
        if (queue.n && qdeny_matched) ok = !qdenied;
    }
    return ok;
}

bool auth_can_subscribe_sid(worker_t *w, conn_t *c, slice_t subject, slice_t queue, slice_t sid)
{
    bool ok = auth_sub_allowed(c, subject, queue);
    if (!ok) {
        char text[1024], sidtxt[256], who[128];
        /* reference log: ..., Subject "foo"[, Queue: "q"], SID 6 */
        sidtxt[0] = 0;
        if (sid.n)
            snprintf(sidtxt, sizeof sidtxt, ", SID %.*s", (int)(sid.n > 200 ? 200 : sid.n), sid.p);
        if (queue.n) {
            snprintf(text, sizeof text,
                     "Permissions Violation for Subscription to \"%.*s\" using queue \"%.*s\"",
                     (int)(subject.n > 400 ? 400 : subject.n), subject.p,
                     (int)(queue.n > 400 ? 400 : queue.n), queue.p);
            ERROR("%sSubscription Violation - %s, Subject \"%.*s\", Queue: \"%.*s\"%s", c->prefix,
                  user_label(c, who, sizeof who), (int)subject.n, subject.p, (int)queue.n, queue.p,
                  sidtxt);
        } else {
            snprintf(text, sizeof text, "Permissions Violation for Subscription to \"%.*s\"",
                     (int)(subject.n > 900 ? 900 : subject.n), subject.p);
            ERROR("%sSubscription Violation - %s, Subject \"%.*s\"%s", c->prefix,
                  user_label(c, who, sizeof who), (int)subject.n, subject.p, sidtxt);
        }
        c->ops->send_err(w, c, text);
    }
    return ok;
}

bool auth_deliver_slow(conn_t *c, const auth_perms_t *a, slice_t subject, slice_t reply)
{
    for (size_t i = 0; i < a->sub.ndeny; i++) {
        const pattern_t *p = &a->sub.deny[i];
        if (!p->queue && subject_matches(p->subject, strlen(p->subject), subject.p, subject.n))
            return false;
    }
    if (a->allow_responses && reply.n) {
        struct resp_map *m = atomic_load_explicit(&c->resp, memory_order_acquire);
        if (m) resp_add(m, reply, a->resp_expires_ns);
    }
    return true;
}

bool auth_user_exists(const char *name)
{
    /* Only a users list can "lose" a user (closed silently on reload, as the
     * reference does). A single user whose name or password changed is an
     * authentication failure instead (docs/config.md §8.3): the caller's re-check
     * sends -ERR 'Authorization Violation'. */
    opts_t *o = srv->opts;
    if (!name || o->nusers == 0) return true;
    for (size_t i = 0; i < o->nusers; i++)
        if (strcmp(o->users[i].name, name) == 0) return true;
    return false;
}
