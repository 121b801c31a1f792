/* resolver.c: operator mode's trust, account resolver and claims view (see
 * resolver.h and docs/operator.md). */
#include "nats/resolver.h"
#include "base/gofmt.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "base/subject.h"
#include "nats/imports.h"
#include "nats/mappings.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One preloaded account JWT. */
typedef struct entry {
    char *pub;
    acct_claims_t *cl;
    bool trusted; /* issued by a trusted operator key */
} entry_t;

/* The claims view: the options the accounts follow (resolver.h). The account options
 * are copies of the loaded claims' ones, their imports cut to the authorized ones. */
typedef struct view {
    opts_t o;
    acct_import_t **imps; /* per account: the authorized imports (shallow copies) */
} view_t;

static pthread_mutex_t res_mu = PTHREAD_MUTEX_INITIALIZER;
static bool active;
static op_claims_t *ops;
static size_t nops;
static char **trusted;
static size_t ntrusted;
static char *sys_name;
/* under res_mu */
static entry_t *store;
static size_t nstore;
static const opts_t *base_opts;
static view_t *_Atomic view;

bool resolver_active(void)
{
    return active;
}

static bool is_trusted(const char *key)
{
    for (size_t i = 0; i < ntrusted; i++)
        if (strcmp(trusted[i], key) == 0) return true;
    return false;
}

static void claims_free_cb(void *p)
{
    claims_account_free(p);
    free(p);
}

static void view_free_cb(void *p)
{
    view_t *v = p;
    for (size_t i = 0; i < v->o.naccounts; i++)
        free(v->imps[i]);
    free(v->imps);
    free(v->o.accounts);
    free(v);
}

/* ---- the store (the preloaded JWTs) ------------------------------------------ */

static entry_t *store_find(entry_t *s, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(s[i].pub) == len && memcmp(s[i].pub, name, len) == 0) return &s[i];
    return NULL;
}

/* o's preloaded JWTs, decoded (the config reader verified them already). */
static entry_t *store_build(const opts_t *o, size_t *n)
{
    entry_t *s = xcalloc(o->npreload ? o->npreload : 1, sizeof *s);
    size_t k = 0;
    for (size_t i = 0; i < o->npreload; i++) {
        acct_claims_t *cl = xmalloc(sizeof *cl);
        char err[256];
        const char *tok = o->preload_jwts[i];
        if (claims_account(tok, strlen(tok), cl, err, sizeof err) != 0) {
            free(cl);
            continue;
        }
        s[k].pub = xstrdup(o->preload_keys[i]);
        s[k].cl = cl;
        s[k].trusted = is_trusted(cl->j.iss) && strcmp(cl->j.sub, s[k].pub) == 0;
        if (!s[k].trusted) DEBUG("Account %s: JWT not issued by a trusted operator", s[k].pub);
        k++;
    }
    *n = k;
    return s;
}

/* ---- loading ---------------------------------------------------------------------- */

/* Under res_mu: the account, loaded if its JWT is in the store and trusted, with the
 * exporters it imports from. A configured account ($G) is returned as it is. */
static account_t *fetch_locked(const char *name, size_t n, int depth)
{
    account_t *a = account_lookup(name, n);
    if (a && atomic_load(&a->claims)) return a;
    entry_t *e = store_find(store, nstore, name, n);
    if (!e && a) return a; /* a configured one ($G) */
    if (!e) {
        /* the reference's warning, also for a name that is no account key */
        WARN("Account fetch failed: %s", nkey_decode_public(name, n, NKEY_ACCOUNT, NULL, NULL)
                                             ? "account missing"
                                             : "will only fetch valid account keys");
        return NULL;
    }
    if (!e->trusted) return a;
    a = account_ensure(e->pub);
    atomic_store_explicit(&a->claims, e->cl, memory_order_release);
    DEBUG("Account [%s] loaded from the resolver", e->pub);
    const account_opts_t *ao = &e->cl->ao;
    for (size_t i = 0; i < ao->nimports && depth < IMPORT_MAX_DEPTH; i++)
        fetch_locked(ao->imports[i].account, strlen(ao->imports[i].account), depth + 1);
    return a;
}

typedef struct collect {
    account_t **v;
    size_t n;
} collect_t;

static bool collect_loaded(account_t *a, void *arg)
{
    collect_t *c = arg;
    if (account_gone(a) || !atomic_load(&a->claims)) return true;
    c->v = xrealloc(c->v, (c->n + 1) * sizeof *c->v);
    c->v[c->n++] = a;
    return true;
}

/* An import of a JWT account stands when its exporter is loaded and exports it to this
 * importer: publicly, or privately with an activation token the exporter signed. */
static bool import_allowed(const acct_claims_t *imp, const acct_import_t *im, int64_t now)
{
    account_t *ea = account_lookup(im->account, strlen(im->account));
    const acct_claims_t *ex = ea ? atomic_load(&ea->claims) : NULL;
    if (!ex) return false;
    const acct_export_t *e = imports_find_export(&ex->ao, im);
    if (!e) return false;
    if (e->token_req && !claims_activation_ok(im->token, ex, imp->j.sub, im->subject, now)) {
        DEBUG("Account %s: import of %s from %s has no valid activation token", imp->j.sub,
              im->subject, im->account);
        return false;
    }
    return true;
}

/* Under res_mu: a new view of the loaded accounts, applied as a reload applies a
 * config's accounts. */
static void view_rebuild(void)
{
    collect_t c = {0};
    accounts_foreach(collect_loaded, &c);
    view_t *v = xcalloc(1, sizeof *v);
    v->o = *base_opts;
    v->o.accounts = xcalloc(c.n ? c.n : 1, sizeof *v->o.accounts);
    v->imps = xcalloc(c.n ? c.n : 1, sizeof *v->imps);
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < c.n; i++) {
        const acct_claims_t *cl = atomic_load(&c.v[i]->claims);
        account_opts_t *ao = &v->o.accounts[i];
        *ao = cl->ao;
        v->imps[i] = xcalloc(cl->ao.nimports ? cl->ao.nimports : 1, sizeof(acct_import_t));
        ao->imports = v->imps[i];
        ao->nimports = 0;
        for (size_t k = 0; k < cl->ao.nimports; k++)
            if (import_allowed(cl, &cl->ao.imports[k], now))
                ao->imports[ao->nimports++] = cl->ao.imports[k];
    }
    v->o.naccounts = c.n;
    free(c.v);
    view_t *old = atomic_exchange_explicit(&view, v, memory_order_acq_rel);
    if (old) qsbr_retire(old, view_free_cb);
    accounts_apply(&v->o);
    imports_apply(&v->o);
    mappings_apply(&v->o);
}

account_t *account_fetch(const char *name, size_t n)
{
    account_t *a = account_lookup(name, n);
    if (a || !active) return a;
    pthread_mutex_lock(&res_mu);
    a = fetch_locked(name, n, 0);
    if (a) view_rebuild();
    pthread_mutex_unlock(&res_mu);
    return a;
}

const opts_t *accounts_opts(const opts_t *o)
{
    view_t *v = active ? atomic_load_explicit(&view, memory_order_acquire) : NULL;
    return v ? &v->o : o;
}

/* ---- start, reload ------------------------------------------------------------------- */

static void log_time(const char *what, int64_t t)
{
    char b[64];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    NOTICE("  %s: %s", what, b);
}

int resolver_start(const opts_t *o, const char **sys, char *err, size_t errlen)
{
    *sys = NULL;
    if (!opts_operator_mode(o)) return 0;
    active = true;
    ops = xcalloc(o->noperators ? o->noperators : 1, sizeof *ops);
    for (size_t i = 0; i < o->noperators; i++) {
        if (claims_operator(o->operators[i], &ops[nops], err, errlen) != 0) return -1;
        op_claims_t *oc = &ops[nops++];
        trusted = xrealloc(trusted, (ntrusted + 1 + oc->nsigning_keys) * sizeof *trusted);
        trusted[ntrusted++] = xstrdup(oc->j.sub);
        for (size_t k = 0; k < oc->nsigning_keys; k++)
            trusted[ntrusted++] = xstrdup(oc->signing_keys[k]);
    }
    for (size_t i = 0; i < o->ntrusted_keys; i++) {
        trusted = xrealloc(trusted, (ntrusted + 1) * sizeof *trusted);
        trusted[ntrusted++] = xstrdup(o->trusted_keys[i]);
    }
    if (nops) NOTICE("Trusted Operators");
    for (size_t i = 0; i < nops; i++) {
        char q[600];
        quote_go_str(q, sizeof q, ops[i].aud);
        NOTICE("  System  : %s", q);
        quote_go_str(q, sizeof q, ops[i].j.name);
        NOTICE("  Operator: %s", q);
        log_time("Issued  ", ops[i].j.iat);
        if (ops[i].j.exp)
            log_time("Expires ", ops[i].j.exp);
        else
            NOTICE("  Expires : Never");
    }
    pthread_mutex_lock(&res_mu);
    store = store_build(o, &nstore);
    base_opts = o;
    pthread_mutex_unlock(&res_mu);
    const char *name = o->system_account && *o->system_account ? o->system_account : NULL;
    for (size_t i = 0; !name && i < nops; i++)
        name = ops[i].system_account;
    if (!name) {
        WARN("Trusted Operators should utilize a System Account");
        return 0;
    }
    entry_t *e = store_find(store, nstore, name, strlen(name));
    if (!e) {
        snprintf(err, errlen, "error resolving system account: account missing");
        return -1;
    }
    if (!e->trusted) {
        snprintf(err, errlen,
                 "error resolving system account: account not issued by a trusted "
                 "operator");
        return -1;
    }
    sys_name = xstrdup(name);
    *sys = sys_name;
    return 0;
}

void resolver_load_system(void)
{
    if (!active) return;
    pthread_mutex_lock(&res_mu);
    if (sys_name) fetch_locked(sys_name, strlen(sys_name), 0);
    view_rebuild();
    pthread_mutex_unlock(&res_mu);
}

/* Lookups miss it from now on; its claims are about to be retired. */
static void account_drop(account_t *a)
{
    atomic_store_explicit(&a->gone, true, memory_order_release);
    atomic_store_explicit(&a->claims, NULL, memory_order_release);
}

/* Under res_mu, reload: the new store replaces the old; an account whose JWT is the
 * same keeps its claims, a changed one takes the new claims, a removed one is gone. */
static void store_replace(const opts_t *o)
{
    size_t nn;
    entry_t *ns = store_build(o, &nn);
    for (size_t i = 0; i < nn; i++) {
        entry_t *old = store_find(store, nstore, ns[i].pub, strlen(ns[i].pub));
        if (old && strcmp(old->cl->token, ns[i].cl->token) == 0) {
            claims_account_free(ns[i].cl);
            free(ns[i].cl);
            ns[i].cl = old->cl;
            old->cl = NULL;
            continue;
        }
        account_t *a = account_lookup(ns[i].pub, strlen(ns[i].pub));
        if (a && atomic_load(&a->claims)) {
            if (ns[i].trusted) {
                atomic_store(&a->claims, ns[i].cl);
                NOTICE("Account [%s] updated from its new JWT", ns[i].pub);
            } else {
                account_drop(a);
            }
        }
    }
    for (size_t i = 0; i < nstore; i++) {
        if (!store[i].cl) {
            free(store[i].pub);
            continue;
        }
        if (!store_find(ns, nn, store[i].pub, strlen(store[i].pub)) &&
            (!sys_name || strcmp(store[i].pub, sys_name) != 0)) {
            account_t *a = account_lookup(store[i].pub, strlen(store[i].pub));
            if (a && atomic_load(&a->claims) == store[i].cl) {
                account_drop(a);
                NOTICE("Account [%s] removed: its JWT is no longer in the resolver", store[i].pub);
            }
        } else if (sys_name && strcmp(store[i].pub, sys_name) == 0 &&
                   !store_find(ns, nn, sys_name, strlen(sys_name))) {
            /* the system account stays loaded (its claims with it) */
            ns = xrealloc(ns, (nn + 1) * sizeof *ns);
            ns[nn++] = store[i];
            continue;
        }
        /* readers may still hold the old claims: they go after a grace period */
        qsbr_retire(store[i].cl, claims_free_cb);
        free(store[i].pub);
    }
    free(store);
    store = ns;
    nstore = nn;
}

void accounts_configure(const opts_t *o)
{
    if (!active) {
        accounts_apply(o); /* before the swap: a user's account exists when it logs in */
        imports_apply(o);
        mappings_apply(o);
        return;
    }
    pthread_mutex_lock(&res_mu);
    if (base_opts != o) store_replace(o);
    base_opts = o;
    view_rebuild();
    pthread_mutex_unlock(&res_mu);
}

size_t resolver_operators(const op_claims_t **v)
{
    *v = ops;
    return nops;
}

void resolver_free_all(void)
{
    for (size_t i = 0; i < nstore; i++) {
        claims_free_cb(store[i].cl);
        free(store[i].pub);
    }
    free(store);
    store = NULL;
    nstore = 0;
    view_t *v = atomic_exchange(&view, NULL);
    if (v) view_free_cb(v);
    for (size_t i = 0; i < nops; i++)
        claims_operator_free(&ops[i]);
    free(ops);
    ops = NULL;
    nops = 0;
    for (size_t i = 0; i < ntrusted; i++)
        free(trusted[i]);
    free(trusted);
    trusted = NULL;
    ntrusted = 0;
    free(sys_name);
    sys_name = NULL;
    active = false;
}
