/* opts_operator.c: the keys of operator mode (docs/operator.md): `operator` (JWT
 * files or inline tokens), `trusted_keys`, `resolver` and `resolver_preload`, and
 * the start-up checks that go with them (the reference's texts).
 *
 * Every JWT is decoded and its signature verified while the file is read, so a bad
 * token is a config error at its position (a reload that brings one is refused);
 * which issuers are trusted is decided by the server (nats/resolver.c). */
#include "conf/claims.h"
#include "conf/opts_impl.h"

/* A string, or an array of strings: each handed to fn. */
static void each_string(cfg_ctx_t *c, const conf_kv_t *kv,
                        void (*fn)(cfg_ctx_t *c, pos_t p, const char *s, opts_t *o), opts_t *o)
{
    const conf_val_t *v = kv->val;
    if (v->type == CONF_STRING) {
        fn(c, valpos(v), v->u.str.s, o);
    } else if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const conf_val_t *e = v->u.arr.items[i];
            if (want(c, valpos(e), e, CONF_STRING)) fn(c, valpos(e), e->u.str.s, o);
        }
    } else {
        cfg_err(c, kvpos(kv), "error parsing %s: expected a string or an array of strings",
                kv->key);
    }
}

static void add_operator(cfg_ctx_t *c, pos_t p, const char *s, opts_t *o)
{
    op_claims_t oc;
    char err[512];
    if (claims_operator(s, &oc, err, sizeof err) != 0) {
        p.col = 0; /* the reference names the line only */
        cfg_err(c, p, "error parsing operator JWT: %s", err);
        return;
    }
    strv_push(&o->operators, &o->noperators, xstrdup(oc.token));
    claims_operator_free(&oc);
}

void p_operator(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    each_string(c, kv, add_operator, o);
}

static void add_trusted(cfg_ctx_t *c, pos_t p, const char *s, opts_t *o)
{
    if (!nkey_decode_public(s, strlen(s), NKEY_OPERATOR, NULL, NULL)) {
        cfg_err(c, p, "trusted key \"%s\" is not a valid public operator nkey", s);
        return;
    }
    strv_push(&o->trusted_keys, &o->ntrusted_keys, xstrdup(s));
}

void p_trusted_keys(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    each_string(c, kv, add_trusted, o);
}

/* A duration string as the reference reads the resolver's timeout and ttl: a number is
 * its type panic (at the key), a bad string Go's parse error (at the block). False when
 * refused. */
static bool resolver_duration(cfg_ctx_t *c, const conf_kv_t *kv, const conf_kv_t *e, int64_t *ns)
{
    char err[300];
    if (!want(c, kvpos(e), e->val, CONF_STRING)) return false;
    if (opts_parse_duration(e->val->u.str.s, ns, err, sizeof err) != 0) {
        cfg_err(c, kvpos(kv), "%s", err);
        return false;
    }
    return true;
}

/* resolver { type: full|cache, dir: ..., allow_delete, limit, interval, timeout, ttl }:
 * the reference's checks and texts, at the block's position. */
static void resolver_block(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o)
{
    const conf_val_t *v = kv->val;
    char *type = NULL;
    int64_t ttl = 0;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *e = &v->u.map.items[i];
        if (KEYIS(e->key, "dir")) {
            free(o->resolver_dir);
            o->resolver_dir = NULL;
            get_str(c, e, &o->resolver_dir);
        } else if (KEYIS(e->key, "type")) {
            free(type);
            type = NULL;
            get_str(c, e, &type);
        } else if (KEYIS(e->key, "allow_delete")) {
            get_bool(c, e, &o->resolver_allow_delete);
        } else if (KEYIS(e->key, "limit")) {
            get_i64(c, e, &o->resolver_limit);
        } else if (KEYIS(e->key, "interval")) {
            parse_duration_field(c, e, "interval", &o->resolver_interval_ns);
        } else if (KEYIS(e->key, "timeout")) {
            /* a non-positive timeout is refused by the reference's FetchTimeout option */
            int64_t ns;
            char d[64];
            if (!resolver_duration(c, kv, e, &ns)) continue;
            if (ns <= 0) {
                go_duration(d, sizeof d, ns);
                cfg_err(c, kvpos(kv), "Fetch timeout %s is too smal", d);
            } else {
                o->resolver_timeout_ns = ns;
            }
        } else if (KEYIS(e->key, "ttl")) {
            /* FULL refuses a ttl other than 0; for a cache 0 means the JWTs' own exp
             * (a negative one, which would stop the reference's ticker, is taken as 0) */
            if (resolver_duration(c, kv, e, &ttl)) o->resolver_ttl_ns = ttl > 0 ? ttl : 0;
        } else if (!used_as_variable(c, e->key)) {
            cfg_err(c, kvpos(e), "Unknown field \"%s\" parsing resolver", e->key);
        }
    }
    if (!o->resolver_dir || !*o->resolver_dir) {
        cfg_err(c, kvpos(kv), "dir has no value and needs to point to a directory");
    } else if (type && strcasecmp(type, "full") == 0) {
        if (ttl != 0) cfg_err(c, kvpos(kv), "FULL does not accept ttl");
        o->resolver = RESOLVER_FULL;
    } else if (type && strcasecmp(type, "cache") == 0) {
        /* the cache syncs nothing and deletes only on request (its texts) */
        if (o->resolver_interval_ns != 0) cfg_err(c, kvpos(kv), "CACHE does not accept sync");
        if (o->resolver_allow_delete) cfg_err(c, kvpos(kv), "CACHE does not accept allow_delete");
        o->resolver = RESOLVER_CACHE;
    } else {
        cfg_err(c, kvpos(kv),
                "error parsing account resolver, should be MEM or  URL(\"url\") or a map "
                "containing dir and type state=[FULL|CACHE])");
    }
    free(type);
}

void p_resolver(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    const conf_val_t *v = kv->val;
    if (v->type == CONF_STRING && (strncasecmp(v->u.str.s, "MEM", 3) == 0)) {
        o->resolver = RESOLVER_MEMORY;
        return;
    }
    if (v->type == CONF_MAP) {
        resolver_block(c, kv, o);
        return;
    }
    /* URL(...) fetches account JWTs over HTTP: not built yet, and running without the
     * accounts it would resolve is no use, so it is refused (docs/operator.md) */
    cfg_err(c, kvpos(kv),
            "resolver URL(...) is not supported by this server (MEMORY and the full "
            "directory resolver are)");
}

void p_resolver_preload(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    const conf_val_t *v = kv->val;
    if (!want(c, kvpos(kv), v, CONF_MAP)) return;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *e = &v->u.map.items[i];
        acct_claims_t ac;
        char err[256];
        if (e->val->type != CONF_STRING ||
            claims_account(e->val->u.str.s, e->val->u.str.len, &ac, err, sizeof err) != 0) {
            cfg_err(c, kvpos(e), "invalid account JWT");
            continue;
        }
        claims_account_free(&ac);
        strv_push(&o->preload_keys, &o->npreload, xstrdup(e->key));
        size_t n = o->npreload - 1;
        o->preload_jwts = xrealloc(o->preload_jwts, o->npreload * sizeof(char *));
        o->preload_jwts[n] = xstrdup(e->val->u.str.s);
    }
}

void operator_opts_free(opts_t *o)
{
    free(o->resolver_dir);
    strv_free(&o->operators, &o->noperators);
    strv_free(&o->trusted_keys, &o->ntrusted_keys);
    size_t n = o->npreload;
    strv_free(&o->preload_keys, &o->npreload);
    strv_free(&o->preload_jwts, &n);
}

int operator_validate(const opts_t *o, char *err, size_t errlen)
{
    if (!opts_operator_mode(o)) return 0;
    if (o->noperators && o->ntrusted_keys) {
        snprintf(err, errlen, "conflicting options for 'TrustedKeys' and 'TrustedOperators'");
        return -1;
    }
    if (o->naccounts) {
        snprintf(err, errlen, "operators do not allow Accounts to be configured directly");
        return -1;
    }
    if (o->nusers) {
        snprintf(err, errlen, "operators do not allow users to be configured directly");
        return -1;
    }
    if (o->no_auth_user && *o->no_auth_user) {
        snprintf(err, errlen, "no_auth_user not compatible with Trusted Operator");
        return -1;
    }
    /* the system account: named, or the operator's; it must be among the preloaded JWTs */
    const char *sys = o->system_account && *o->system_account ? o->system_account : NULL;
    op_claims_t oc = {0};
    char e2[256];
    if (!sys && o->noperators && claims_operator(o->operators[0], &oc, e2, sizeof e2) == 0)
        sys = oc.system_account;
    bool missing = false;
    if (sys && !nkey_decode_public(sys, strlen(sys), NKEY_ACCOUNT, NULL, NULL)) {
        claims_operator_free(&oc);
        snprintf(err, errlen, "error resolving system account: will only fetch valid account keys");
        return -1;
    }
    if (sys && o->resolver == RESOLVER_MEMORY) {
        missing = true;
        for (size_t i = 0; i < o->npreload && missing; i++)
            missing = strcmp(o->preload_keys[i], sys) != 0;
    }
    bool has_sys = sys != NULL;
    claims_operator_free(&oc);
    if (missing) {
        snprintf(err, errlen, "error resolving system account: account missing");
        return -1;
    }
    if ((o->resolver == RESOLVER_FULL || o->resolver == RESOLVER_CACHE) && !has_sys) {
        snprintf(err, errlen,
                 "using nats based account resolver - the system account needs to "
                 "be specified in configuration or the operator jwt");
        return -1;
    }
    if (o->resolver == RESOLVER_NONE) {
        /* the reference falls back to a URL resolver with no URL and fails to fetch */
        snprintf(err, errlen,
                 "could not fetch <\"/accounts/\">: Get \"/accounts/\": unsupported protocol "
                 "scheme \"\"");
        return -1;
    }
    return 0;
}
