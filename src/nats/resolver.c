/* resolver.c: operator mode's trust, account resolver and claims view (see
 * resolver.h and docs/operator.md). */
#include "nats/resolver.h"
#include "base/gofmt.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "base/subject.h"
#include "base/json.h"
#include "base/jwtcache.h"
#include "base/jwtstore.h"
#include "nats/acct_lookup.h"
#include "nats/imports.h"
#include "nats/mappings.h"
#include "nats/sys.h"

#include <errno.h>
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
/* the directory resolvers: the directory (NULL: MEMORY), whether deletes are allowed, the
 * full resolver's limit; the cache resolver's expiry and LRU bound (NULL: full) */
static char *rdir;
static bool rdel;
static long rlimit;
static jwtcache_t *rcache;
static char op_key[NKEY_PUBLIC_LEN + 1]; /* the first operator's key (strict signing) */
static bool op_strict;
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

/* Lookups miss it from now on; its claims are about to be retired. */
static void account_drop(account_t *a)
{
    atomic_store_explicit(&a->gone, true, memory_order_release);
    atomic_store_explicit(&a->claims, NULL, memory_order_release);
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

/* Under res_mu: a new entry for pub with the claims of tok (NULL if tok is no account JWT). */
static entry_t *entry_add(const char *pub, const char *tok)
{
    acct_claims_t *cl = xmalloc(sizeof *cl);
    char err[256];
    if (claims_account(tok, strlen(tok), cl, err, sizeof err) != 0) {
        WARN("Account [%s]: stored JWT not valid: %s", pub, err);
        free(cl);
        return NULL;
    }
    store = xrealloc(store, (nstore + 1) * sizeof *store);
    entry_t *e = &store[nstore++];
    e->pub = xstrdup(pub);
    e->cl = cl;
    e->trusted = is_trusted(cl->j.iss) && strcmp(cl->j.sub, pub) == 0;
    if (!e->trusted) DEBUG("Account %s: JWT not issued by a trusted operator", pub);
    return e;
}

/* Under res_mu, full resolver: the stored JWT of a name not read yet. */
static entry_t *dir_fetch(const char *name, size_t n)
{
    if (!rdir || n > NKEY_PUBLIC_LEN) return NULL;
    char pub[NKEY_PUBLIC_LEN + 1];
    memcpy(pub, name, n);
    pub[n] = 0;
    char *tok = jwtstore_load(rdir, pub);
    if (!tok) return NULL;
    if (rcache) jwtcache_used(rcache, pub); /* the reference's load refreshes its ttl */
    entry_t *e = entry_add(pub, tok);
    free(tok);
    return e;
}

/* ---- loading ---------------------------------------------------------------------- */

/* Under res_mu: the accounts fetch_locked loaded that the next view_rebuild completes
 * (until then the fetches of other threads wait for res_mu, account_t.loading). */
static account_t **fresh;
static size_t nfresh, capfresh;

/* Under res_mu: the account, loaded if its JWT is in the store and trusted, with the
 * exporters it imports from. A configured account ($G) is returned as it is. */
static account_t *fetch_locked(const char *name, size_t n, int depth, bool warn)
{
    account_t *a = account_lookup(name, n);
    if (a && atomic_load(&a->claims)) return a;
    entry_t *e = store_find(store, nstore, name, n);
    if (!e) e = dir_fetch(name, n);
    if (!e && a) return a; /* a configured one ($G) */
    if (!e && !warn) return NULL;
    if (!e) {
        /* the reference's warning, also for a name that is no account key */
        WARN("Account fetch failed: %s", nkey_decode_public(name, n, NKEY_ACCOUNT, NULL, NULL)
                                             ? "account missing"
                                             : "will only fetch valid account keys");
        return NULL;
    }
    if (!e->trusted) return a;
    a = account_ensure(e->pub); /* loading: the fetches wait for view_rebuild's end */
    atomic_store_explicit(&a->claims, e->cl, memory_order_release);
    if (nfresh == capfresh) {
        capfresh = capfresh ? 2 * capfresh : 8;
        fresh = xrealloc(fresh, capfresh * sizeof *fresh);
    }
    fresh[nfresh++] = a;
    DEBUG("Account [%s] loaded from the resolver", e->pub);
    const account_opts_t *ao = &e->cl->ao;
    for (size_t i = 0; i < ao->nimports && depth < IMPORT_MAX_DEPTH; i++)
        fetch_locked(ao->imports[i].account, strlen(ao->imports[i].account), depth + 1, true);
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
    for (size_t i = 0; i < nfresh; i++)
        account_loaded(fresh[i]);
    nfresh = 0;
}

/* The accounts' loader (account_set_loader): known, or loaded now from the resolver if
 * its JWT is there and trusted. */
static account_t *load_account(const char *name, size_t n, bool warn)
{
    account_t *a = account_lookup(name, n);
    if ((a && !account_loading(a)) || !active) return a;
    pthread_mutex_lock(&res_mu); /* another thread's load of it ends first */
    a = fetch_locked(name, n, 0, warn);
    if (nfresh) view_rebuild();
    pthread_mutex_unlock(&res_mu);
    return a;
}

const opts_t *accounts_opts(const opts_t *o)
{
    view_t *v = active ? atomic_load_explicit(&view, memory_order_acquire) : NULL;
    return v ? &v->o : o;
}

/* ---- the full resolver ------------------------------------------------------------------ */

/* Under res_mu: the entries read from the directory again; an account whose file
 * changed takes its new claims, one whose file went is dropped, unless keep_missing (a
 * cache's file that expired or was evicted: the reference keeps such an account loaded).
 * True if any changed (its clients are then checked again). */
static bool dir_refresh(bool keep_missing)
{
    bool changed = false;
    for (size_t i = 0; i < nstore;) {
        entry_t *e = &store[i];
        char *tok = jwtstore_load(rdir, e->pub);
        if ((tok && strcmp(tok, e->cl->token) == 0) || (!tok && keep_missing)) {
            free(tok);
            i++;
            continue;
        }
        changed = true;
        account_t *a = account_lookup(e->pub, strlen(e->pub));
        bool loaded = a && atomic_load(&a->claims) == e->cl;
        acct_claims_t *old = e->cl;
        char *pub = e->pub;
        store[i] = store[--nstore]; /* the entry goes; a new one is read when needed */
        entry_t *ne = tok ? entry_add(pub, tok) : NULL;
        free(tok);
        if (loaded) {
            if (ne && ne->trusted) {
                atomic_store(&a->claims, ne->cl);
                NOTICE("Account [%s] updated from its new JWT", pub);
            } else if (!sys_name || strcmp(pub, sys_name) != 0) {
                account_drop(a);
                NOTICE("Account [%s] removed: its JWT is no longer in the resolver", pub);
            }
        }
        qsbr_retire(old, claims_free_cb);
        free(pub);
    }
    return changed;
}

/* The reference's reply to an update or delete: {"data":{"account","code","message"},
 * "server":{...}}, or "error" with "description" = "<message> - <err>". The messages
 * of the two directory resolvers differ ("jwt updated" / "jwt updated cache", ...):
 * the cache's are the full's with " cache" put in (upd_msg). */
static void respond(buf_t *out, const char *acc, const char *message, const char *err)
{
    if (err)
        ERROR("%s%s%s - %s", message, acc ? " - " : "", acc ? acc : "", err);
    else
        DEBUG("%s%s%s", message, acc ? " - " : "", acc ? acc : "");
    jw_t w;
    jw_init(&w, out, false);
    jw_obj_begin(&w, NULL);
    jw_obj_begin(&w, err ? "error" : "data");
    if (acc) jw_str(&w, "account", acc);
    jw_int(&w, "code", err ? 500 : 200);
    if (err) {
        char d[600];
        snprintf(d, sizeof d, "%s - %s", message, err);
        jw_str(&w, "description", d);
    } else {
        jw_str(&w, "message", message);
    }
    jw_obj_end(&w);
    buf_putc(out, ',');
    sys_server_info(out); /* "server":{...} */
    buf_putc(out, '}');
}

/* The account of "$SYS.REQ.ACCOUNT.<acc>.CLAIMS.UPDATE" / "$SYS.ACCOUNT.<acc>.CLAIMS.UPDATE". */
static bool subject_account(const char *subj, char *acc, size_t cap)
{
    const char *p = strncmp(subj, "$SYS.REQ.ACCOUNT.", 17) == 0 ? subj + 17
                    : strncmp(subj, "$SYS.ACCOUNT.", 13) == 0   ? subj + 13
                                                                : NULL;
    if (!p) return false;
    const char *dot = strchr(p, '.');
    if (!dot || (size_t)(dot - p) >= cap) return false;
    memcpy(acc, p, (size_t)(dot - p));
    acc[dot - p] = 0;
    return true;
}

/* The update replies' messages, by resolver: [0] full, [1] cache. */
enum { UPD_ERROR, UPD_INVALID, UPD_OK, UPD_SKIPPED };
static const char *const upd_msgs[][2] = {
    [UPD_ERROR] = {"jwt update resulted in error", "jwt update cache resulted in error"},
    [UPD_INVALID] = {"jwt validation failed", "jwt update cache validation failed"},
    [UPD_OK] = {"jwt updated", "jwt updated cache"},
    [UPD_SKIPPED] = {NULL, "jwt update cache skipped"},
};

static const char *upd_msg(int which)
{
    return upd_msgs[which][rcache != NULL];
}

/* Whether pub is an account loaded here (the cache updates only those). */
static bool is_loaded(const char *pub)
{
    account_t *a = account_lookup(pub, strlen(pub));
    return a && atomic_load(&a->claims) != NULL;
}

/* The strict signing rule (*msg: the reply's message), or NULL. */
static const char *strict_refusal(const acct_claims_t *cl, const char **msg)
{
    *msg = upd_msg(UPD_ERROR);
    if (op_strict && strcmp(cl->j.iss, op_key) == 0)
        return "operator requires issuer to be a signing key";
    return NULL;
}

/* The claim's validation (*msg: the reply's message), or NULL. */
static const char *validate_refusal(const acct_claims_t *cl, int64_t now, const char **msg)
{
    *msg = upd_msg(UPD_INVALID);
    if (jwt_expired(&cl->j, now)) return "validation errors: [claim is expired]";
    return NULL;
}

/* Why an account JWT pushed or fetched may not be stored, or NULL (*msg: the reply's
 * message): the reference's checks of an update after its subject's. */
static const char *claims_refusal(const acct_claims_t *cl, int64_t now, const char **msg)
{
    const char *why = strict_refusal(cl, msg);
    return why ? why : validate_refusal(cl, now, msg);
}

/* Under res_mu: tok written as pub's JWT (newer_only: when newer than the stored one;
 * else when different, the reference's save; limit: the full resolver's, or 0). A cache
 * makes room first (its own limit) and tracks it. */
static int dir_save_locked(const char *pub, const char *tok, bool newer_only, long limit, char *err,
                           size_t errlen)
{
    if (rcache) jwtcache_make_room(rcache, pub, NULL, 0);
    int rc = jwtstore_save(rdir, pub, tok, rcache ? 0 : limit, newer_only, err, errlen);
    if (rcache && rc > 0) jwtcache_stored(rcache, pub, tok);
    if (rcache && rc == 0) jwtcache_used(rcache, pub);
    return rc;
}

/* tok stored as pub's JWT (dir_save_locked: 1; 0 kept the stored one; -1 with err): a
 * loaded account takes its new claims, its clients are checked again. */
static int store_save(const char *pub, const char *tok, bool newer_only, char *err, size_t errlen)
{
    pthread_mutex_lock(&res_mu);
    int rc = dir_save_locked(pub, tok, newer_only, rlimit, err, errlen);
    bool changed = rc > 0 && dir_refresh(rcache != NULL);
    if (changed) view_rebuild();
    pthread_mutex_unlock(&res_mu);
    if (changed) worker_command(WCMD_REAUTH); /* limits, revocations: checked again */
    return rc;
}

/* The three update subjects. The cache resolver (the reference's CacheDirAccResolver)
 * takes updates of loaded accounts only ("skipped" for the others, checked after the
 * strict rule and before the validation), writes them whatever their iat, and names the
 * subject's account in a per-account subject's decode error (the full resolver: "n/a"). */
static bool on_claims_update(const char *subject, const char *reply, const char *payload, size_t n,
                             buf_t *out)
{
    (void)reply;
    char want[NKEY_PUBLIC_LEN + 8] = "";
    bool per_account = strcmp(subject, "$SYS.REQ.CLAIMS.UPDATE") != 0;
    if (per_account && !subject_account(subject, want, sizeof want)) return false;
    char *tok = xstrndup(payload, n), err[256];
    acct_claims_t cl;
    if (claims_account(tok, n, &cl, err, sizeof err) != 0) {
        respond(out, rcache && per_account ? want : "n/a", upd_msg(UPD_ERROR), err);
        free(tok);
        return true;
    }
    const char *msg, *why = NULL;
    int64_t now = (int64_t)time(NULL);
    if (per_account && strcmp(cl.j.sub, want) != 0) {
        respond(out, want, upd_msg(UPD_ERROR), "subject does not match jwt content");
    } else if ((why = strict_refusal(&cl, &msg)) != NULL) {
        respond(out, cl.j.sub, msg, why);
    } else if (rcache && !is_loaded(cl.j.sub)) {
        respond(out, cl.j.sub, upd_msg(UPD_SKIPPED), NULL);
    } else if ((why = validate_refusal(&cl, now, &msg)) != NULL) {
        respond(out, cl.j.sub, msg, why);
    } else if (store_save(cl.j.sub, tok, rcache == NULL, err, sizeof err) < 0) {
        respond(out, cl.j.sub, upd_msg(UPD_ERROR), err);
    } else {
        respond(out, cl.j.sub, upd_msg(UPD_OK), NULL);
    }
    claims_account_free(&cl);
    free(tok);
    return true;
}

static bool on_claims_lookup(const char *subject, const char *reply, const char *payload, size_t n,
                             buf_t *out)
{
    (void)reply;
    (void)payload, (void)n;
    char acc[NKEY_PUBLIC_LEN + 8];
    if (!reply || acct_lookup_own_inbox(reply) || !subject_account(subject, acc, sizeof acc))
        return false;
    char *tok = jwtstore_load(rdir, acc);
    if (!tok) {
        /* the reference answers nothing (the requester times out) and logs its load's
         * error: os.ReadFile's on the path it joined, or its key check's */
        if (!nkey_decode_public(acc, strlen(acc), NKEY_ACCOUNT, NULL, NULL)) {
            ERROR("Merging resulted in error: invalid public key");
        } else {
            size_t dl = strlen(rdir);
            while (dl > 1 && rdir[dl - 1] == '/')
                dl--;
            ERROR("Merging resulted in error: open %.*s/%s.jwt: no such file or directory", (int)dl,
                  rdir, acc);
        }
        return false;
    }
    buf_puts(out, tok);
    free(tok);
    return true;
}

/* acct_lookup's store: another server's answer to our lookup of pub, kept when it is a
 * valid JWT of pub issued by a trusted key (the checks of an update, then the save). */
static bool lookup_store(const char *pub, const char *jwt, size_t n)
{
    char *tok = xstrndup(jwt, n), err[256];
    acct_claims_t cl;
    const char *msg, *why = NULL;
    if (claims_account(tok, n, &cl, err, sizeof err) != 0) {
        DEBUG("Account [%s] lookup answer refused: %s", pub, err);
        free(tok);
        return false;
    }
    if (strcmp(cl.j.sub, pub) != 0)
        why = "jwt subject nkey and provided nkey do not match";
    else if (!is_trusted(cl.j.iss))
        why = "account not issued by a trusted operator";
    else
        why = claims_refusal(&cl, (int64_t)time(NULL), &msg);
    claims_account_free(&cl);
    if (!why && store_save(pub, tok, true, err, sizeof err) < 0) why = err;
    if (why) DEBUG("Account [%s] lookup answer refused: %s", pub, why);
    free(tok);
    return why == NULL;
}

static void list_one(void *arg, const char *pub)
{
    jw_str(arg, NULL, pub);
}

static bool on_claims_list(const char *subject, const char *reply, const char *payload, size_t n,
                           buf_t *out)
{
    (void)reply;
    (void)subject, (void)payload, (void)n;
    jw_t w;
    jw_init(&w, out, false);
    jw_obj_begin(&w, NULL);
    jw_arr_begin(&w, "data");
    jwtstore_list(rdir, list_one, &w);
    jw_arr_end(&w);
    buf_putc(out, ',');
    sys_server_info(out); /* "server":{...} */
    buf_putc(out, '}');
    return true;
}

typedef struct del_ctx {
    char **keys;
    size_t n;
    bool bad;
} del_ctx_t;

static int del_elem(void *ctx, json_type_t t, slice_t raw)
{
    del_ctx_t *d = ctx;
    char k[NKEY_PUBLIC_LEN + 8];
    if (t != JSON_STRING || json_unquote(raw, k, sizeof k) <= 0 ||
        !nkey_decode_public(k, strlen(k), NKEY_ACCOUNT, NULL, NULL)) {
        d->bad = true;
        return 0;
    }
    d->keys = xrealloc(d->keys, (d->n + 1) * sizeof *d->keys);
    d->keys[d->n++] = xstrdup(k);
    return 0;
}

static int del_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    if (json_key_is(key, "accounts")) {
        if (t != JSON_ARRAY)
            ((del_ctx_t *)ctx)->bad = true;
        else
            json_parse_array(raw.p, raw.n, del_elem, ctx);
    }
    return 0;
}

/* $SYS.REQ.CLAIMS.DELETE: a generic JWT self-signed by a trusted operator key naming the
 * accounts ("nats":{"accounts":[...]}), allowed by allow_delete. */
static bool on_claims_delete(const char *subject, const char *reply, const char *payload, size_t n,
                             buf_t *out)
{
    (void)reply;
    (void)subject;
    jwt_t j;
    char err[256], msg[160];
    const char *why = NULL;
    del_ctx_t d = {0};
    bool decoded = jwt_decode(payload, n, &j, err, sizeof err) == 0;
    if (!decoded) {
        why = err;
    } else if (!rdel) {
        why = "delete must be enabled in server config";
    } else if (strcmp(j.sub, j.iss) != 0) {
        why = "not self signed";
    } else if (!is_trusted(j.iss)) {
        why = "not trusted";
    } else {
        if (j.nats.n) json_parse_object(j.nats.p, j.nats.n, del_member, &d);
        if (d.bad || !d.n) why = "malformed request";
        for (size_t i = 0; !why && i < d.n; i++)
            if (sys_name && strcmp(d.keys[i], sys_name) == 0)
                why = "not allowed to delete system account";
    }
    snprintf(msg, sizeof msg, "delete accounts request by %s failed", decoded ? j.sub : "");
    if (why) {
        respond(out, NULL, msg, why);
    } else {
        size_t ok = 0, bad = 0;
        buf_t errs = {0};
        pthread_mutex_lock(&res_mu);
        for (size_t i = 0; i < d.n; i++) {
            if (jwtstore_delete(rdir, d.keys[i], err, sizeof err) == 0) {
                if (rcache) jwtcache_forget(rcache, d.keys[i]);
                ok++;
            } else {
                if (bad++) buf_putc(&errs, '\n');
                buf_puts(&errs, err);
            }
        }
        bool changed = dir_refresh(false); /* deleted: dropped, also by a cache */
        if (changed) view_rebuild();
        pthread_mutex_unlock(&res_mu);
        buf_putc(&errs, 0);
        if (!bad) {
            snprintf(msg, sizeof msg, "deleted %zu accounts", ok);
            respond(out, NULL, msg, NULL);
        } else {
            snprintf(msg, sizeof msg, "deleted %zu accounts, failed for %zu", ok, bad);
            respond(out, NULL, msg, errs.p);
        }
        buf_free(&errs);
        if (changed) worker_command(WCMD_REAUTH);
    }
    for (size_t i = 0; i < d.n; i++)
        free(d.keys[i]);
    free(d.keys);
    if (decoded) jwt_free(&j);
    return true;
}

/* ---- the full resolver's sync ($SYS.REQ.CLAIMS.PACK) ---------------------------------------
 * Every interval a server asks the others for their JWTs; each answers one message
 * "<key>|<jwt>" per stored JWT, then an empty one, and the asker keeps each one that is
 * newer than its own. The reference sends its store's hash so an equal store answers at
 * once; its hash is not reproduced here, so our requests carry none (a reference
 * server then sends its JWTs) and we always answer with ours: more bytes, same result. */

static char pack_inbox[128];

static void pack_one(void *arg, const char *pub)
{
    const char *reply = arg;
    char *tok = jwtstore_load(rdir, pub);
    if (!tok) return;
    buf_t b = {0};
    buf_printf(&b, "%s|%s", pub, tok);
    sys_publish(reply, NULL, b.p, b.len);
    buf_free(&b);
    free(tok);
}

static bool on_pack_request(const char *subject, const char *reply, const char *payload, size_t n,
                            buf_t *out)
{
    (void)subject, (void)payload, (void)n, (void)out;
    if (!reply) return false;
    pthread_mutex_lock(&res_mu);
    jwtstore_list(rdir, pack_one, (void *)reply);
    pthread_mutex_unlock(&res_mu);
    sys_publish(reply, NULL, "", 0);
    return false;
}

static bool on_pack_response(const char *subject, const char *reply, const char *payload, size_t n,
                             buf_t *out)
{
    (void)subject, (void)reply, (void)out;
    if (n == 0) {
        DEBUG("Merging Finished");
        return false;
    }
    const char *bar = memchr(payload, '|', n);
    if (!bar || bar == payload || (size_t)(bar - payload) > NKEY_PUBLIC_LEN) return false;
    char pub[NKEY_PUBLIC_LEN + 1], err[256];
    memcpy(pub, payload, (size_t)(bar - payload));
    pub[bar - payload] = 0;
    char *tok = xstrndup(bar + 1, (size_t)(payload + n - bar - 1));
    acct_claims_t cl;
    bool ok = claims_account(tok, strlen(tok), &cl, err, sizeof err) == 0;
    if (ok) {
        ok = strcmp(cl.j.sub, pub) == 0;
        claims_account_free(&cl);
    }
    if (!ok) {
        ERROR("Merging resulted in error: not the account JWT of %s", pub);
        free(tok);
        return false;
    }
    if (store_save(pub, tok, true, err, sizeof err) < 0)
        ERROR("Merging resulted in error: %s", err);
    free(tok);
    return false;
}

static void pack_tick(void)
{
    DEBUG("Checking store state");
    sys_publish("$SYS.REQ.CLAIMS.PACK", pack_inbox, "", 0);
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

/* The cache resolver's expiry: the files go, the accounts loaded from them stay (the
 * reference's expiring store calls nothing back). */
static void cache_tick(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&res_mu);
    int n = jwtcache_expire(rcache, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    pthread_mutex_unlock(&res_mu);
    if (n) DEBUG("%d account JWTs expired from the cache", n);
}

/* Directory resolvers, under res_mu: the preloaded JWTs go into the directory (a newer
 * stored one stays). */
static void full_preload(const opts_t *o)
{
    char err[256];
    for (size_t i = 0; i < o->npreload; i++)
        if (dir_save_locked(o->preload_keys[i], o->preload_jwts[i], true, 0, err, sizeof err) < 0)
            ERROR("Account [%s]: preloaded JWT not stored: %s", o->preload_keys[i], err);
}

int resolver_start(const opts_t *o, const char **sys, char *err, size_t errlen)
{
    *sys = NULL;
    if (!opts_operator_mode(o)) return 0;
    active = true;
    account_set_loader(load_account);
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
    if (nops) {
        snprintf(op_key, sizeof op_key, "%s", ops[0].j.sub);
        op_strict = ops[0].strict;
    }
    pthread_mutex_lock(&res_mu);
    if (o->resolver == RESOLVER_FULL || o->resolver == RESOLVER_CACHE) {
        bool cache = o->resolver == RESOLVER_CACHE;
        rdir = xstrdup(o->resolver_dir);
        /* the reference's cache store deletes on request (HardDelete) without allow_delete */
        rdel = cache || o->resolver_allow_delete;
        rlimit = o->resolver_limit > 0 ? (long)o->resolver_limit : 0;
        if (os_mkdir_p(rdir) != 0) {
            snprintf(err, errlen, "dir %s: %s", rdir, strerror(errno));
            pthread_mutex_unlock(&res_mu);
            return -1;
        }
        if (cache) rcache = jwtcache_new(rdir, rlimit, o->resolver_ttl_ns);
        full_preload(o);
        sys_register_request("$SYS.REQ.CLAIMS.UPDATE", on_claims_update);
        sys_register_request("$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE", on_claims_update);
        sys_register_request("$SYS.ACCOUNT.*.CLAIMS.UPDATE", on_claims_update);
        sys_register_request("$SYS.REQ.CLAIMS.LIST", on_claims_list);
        sys_register_request("$SYS.REQ.CLAIMS.DELETE", on_claims_delete);
        if (cache) {
            /* a cache answers no lookups and takes part in no sync (the reference's
             * CacheDirAccResolver subscribes to neither) */
            sys_register_timer(jwtcache_check_interval_ns(o->resolver_ttl_ns), cache_tick);
        } else {
            sys_register_request("$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP", on_claims_lookup);
            sys_inbox_subject("pack", pack_inbox, sizeof pack_inbox);
            sys_register_request("$SYS.REQ.CLAIMS.PACK", on_pack_request);
            sys_register_inbox_request("pack", on_pack_response);
            sys_register_timer(o->resolver_interval_ns > 0 ? o->resolver_interval_ns
                                                           : 60LL * 1000000000LL,
                               pack_tick);
        }
        acct_lookup_init(o->resolver_timeout_ns, lookup_store);
        NOTICE("Managing %s jwt in exclusive directory %s", cache ? "some" : "all", rdir);
    } else {
        store = store_build(o, &nstore);
    }
    base_opts = o;
    pthread_mutex_unlock(&res_mu);
    const char *name = o->system_account && *o->system_account ? o->system_account : NULL;
    for (size_t i = 0; !name && i < nops; i++)
        name = ops[i].system_account;
    if (!name) {
        WARN("Trusted Operators should utilize a System Account");
        return 0;
    }
    pthread_mutex_lock(&res_mu);
    entry_t *e = store_find(store, nstore, name, strlen(name));
    if (!e) e = dir_fetch(name, strlen(name));
    bool trusted = e && e->trusted;
    pthread_mutex_unlock(&res_mu);
    if (!e && rdir) {
        /* the full resolver's system account may be pushed later */
        WARN("System account %s has no JWT in the resolver yet", name);
        sys_name = xstrdup(name);
        *sys = sys_name;
        return 0;
    }
    if (!e) {
        snprintf(err, errlen, "error resolving system account: account missing");
        return -1;
    }
    if (!trusted) {
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
    if (sys_name) fetch_locked(sys_name, strlen(sys_name), 0, true);
    view_rebuild();
    pthread_mutex_unlock(&res_mu);
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
    if (base_opts != o && rdir) {
        full_preload(o);
        dir_refresh(rcache != NULL);
    } else if (base_opts != o) {
        store_replace(o);
    }
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
    acct_lookup_free_all();
    for (size_t i = 0; i < nstore; i++) {
        claims_free_cb(store[i].cl);
        free(store[i].pub);
    }
    free(store);
    store = NULL;
    nstore = 0;
    free(fresh);
    fresh = NULL;
    nfresh = capfresh = 0;
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
    free(rdir);
    rdir = NULL;
    jwtcache_free(rcache);
    rcache = NULL;
    active = false;
    account_set_loader(NULL);
}
