/* opts_jwt.c: operator, account and user JWT claims as option structures (see
 * conf/claims.h; the fields are listed in docs/operator.md "What the JWTs say"). */
#include "base/json.h"
#include "base/subject.h"
#include "conf/claims.h"
#include "conf/opts_impl.h"

/* ---- small JSON readers --------------------------------------------------- */

static char *jdup(slice_t raw)
{
    char *s = xmalloc(raw.n + 1);
    if (json_unquote(raw, s, raw.n + 1) < 0) s[0] = 0;
    return s;
}

static int64_t jint(slice_t raw)
{
    char b[40];
    if (raw.n >= sizeof b) return 0;
    memcpy(b, raw.p, raw.n);
    b[raw.n] = 0;
    /* a duration or limit may be written as a float; one beyond int64 is clamped (a cast
     * would be undefined: found by fuzz_claims) */
    double d = strtod(b, NULL);
    if (!(d == d)) return 0;
    if (d >= 9.2e18) return INT64_MAX;
    if (d <= -9.2e18) return INT64_MIN;
    return (int64_t)d;
}

typedef struct strv_ctx {
    char ***v;
    size_t *n;
} strv_ctx_t;

static int strv_elem(void *ctx, json_type_t t, slice_t raw)
{
    strv_ctx_t *c = ctx;
    if (t == JSON_STRING) strv_push(c->v, c->n, jdup(raw));
    return 0;
}

/* A JSON array of strings (or one string) appended to v. */
static void jstrv(json_type_t t, slice_t raw, char ***v, size_t *n)
{
    if (t == JSON_STRING) {
        strv_push(v, n, jdup(raw));
    } else if (t == JSON_ARRAY) {
        strv_ctx_t c = {v, n};
        json_parse_array(raw.p, raw.n, strv_elem, &c);
    }
}

/* ---- permissions: {"pub": {"allow": [...], "deny": [...]}, "sub": ..., "resp": ...} ----- */

typedef struct plist_ctx {
    perm_list_t *l;
    bool *has;
} plist_ctx_t;

static int plist_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    plist_ctx_t *c = ctx;
    if (json_key_is(key, "allow")) {
        jstrv(t, raw, &c->l->allow, &c->l->nallow);
        if (c->l->nallow) c->l->has_allow = *c->has = true;
    } else if (json_key_is(key, "deny")) {
        jstrv(t, raw, &c->l->deny, &c->l->ndeny);
        if (c->l->ndeny) *c->has = true;
    }
    return 0;
}

static int resp_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    permissions_t *p = ctx;
    if (t != JSON_NUMBER) return 0;
    /* 0 keeps the defaults (1 response, 2 minutes), as the reference */
    int64_t v = jint(raw);
    if (json_key_is(key, "max") && v != 0) p->resp_max = v;
    if (json_key_is(key, "ttl") && v != 0) p->resp_expires_ns = dur_clamp(v);
    return 0;
}

/* Reads a permissions member of an object into *pp (made on first use). True if key was one. */
static bool perm_member(permissions_t **pp, slice_t key, json_type_t t, slice_t raw)
{
    bool pub = json_key_is(key, "pub"), sub = json_key_is(key, "sub"),
         resp = json_key_is(key, "resp");
    if (!pub && !sub && !resp) return false;
    if (t != JSON_OBJECT) return true;
    if (!*pp) *pp = permissions_new();
    permissions_t *p = *pp;
    if (resp) {
        p->allow_responses = true;
        json_parse_object(raw.p, raw.n, resp_member, p);
    } else {
        plist_ctx_t c = {pub ? &p->publish : &p->subscribe,
                         pub ? &p->has_publish : &p->has_subscribe};
        json_parse_object(raw.p, raw.n, plist_member, &c);
    }
    return true;
}

/* After all members: responses allowed with no publish allow list allow nothing else
 * (the same rule as a config's allow_responses); nothing set at all = no permissions. */
static void perm_finish(permissions_t **pp)
{
    permissions_t *p = *pp;
    if (!p) return;
    if (p->allow_responses) {
        p->has_publish = true;
        p->publish.has_allow = true;
    }
    if (!p->has_publish && !p->has_subscribe && !p->allow_responses) {
        permissions_free(p);
        *pp = NULL;
    }
}

/* ---- user claims ------------------------------------------------------------ */

static int conn_type_elem(void *ctx, json_type_t t, slice_t raw)
{
    user_claims_t *u = ctx;
    char b[32];
    if (t == JSON_STRING && json_unquote(raw, b, sizeof b) > 0 && strcasecmp(b, "STANDARD") == 0)
        u->allow_standard = true;
    return 0;
}

static int nonempty_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    (void)key;
    if (t != JSON_NULL && !(t == JSON_ARRAY && !memchr(raw.p, '"', raw.n))) *(bool *)ctx = true;
    return 0;
}

/* A member of the user's permissions and limits that is not the zero value (the JWT
 * library's "empty permissions" test, which a scoped signing key's user must pass). */
static bool set_value(slice_t key, json_type_t t, slice_t raw)
{
    static const char *const keys[] = {"pub",
                                       "sub",
                                       "resp",
                                       "src",
                                       "times",
                                       "locale",
                                       "subs",
                                       "data",
                                       "payload",
                                       "bearer_token",
                                       "allowed_connection_types"};
    bool known = false;
    for (size_t i = 0; i < ARRAY_LEN(keys) && !known; i++)
        known = json_key_is(key, keys[i]);
    if (!known || t == JSON_NULL) return false;
    if (t == JSON_NUMBER) return jint(raw) != 0;
    if (t == JSON_BOOL) return raw.p[0] == 't';
    if (t == JSON_STRING) return raw.n > 2;
    if (t == JSON_ARRAY) return memchr(raw.p, '"', raw.n) || memchr(raw.p, '{', raw.n - 1);
    if (t == JSON_OBJECT && !json_key_is(key, "resp")) {
        bool any = false; /* {"allow": [], "deny": []} is still empty */
        json_parse_object(raw.p, raw.n, nonempty_member, &any);
        return any;
    }
    return true; /* resp, even empty, is a value */
}

static int user_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    user_claims_t *u = ctx;
    if (set_value(key, t, raw)) u->own_perms_limits = true;
    if (perm_member(&u->perms, key, t, raw)) return 0;
    if (json_key_is(key, "issuer_account") && t == JSON_STRING)
        json_unquote(raw, u->issuer_account, sizeof u->issuer_account);
    else if (json_key_is(key, "bearer_token") && t == JSON_BOOL)
        u->bearer = raw.p[0] == 't';
    else if (json_key_is(key, "subs") && t == JSON_NUMBER)
        u->max_subs = jint(raw);
    else if (json_key_is(key, "payload") && t == JSON_NUMBER)
        u->max_payload = jint(raw);
    else if (json_key_is(key, "allowed_connection_types") && t == JSON_ARRAY) {
        u->restrict_conn_types = raw.n > 2;
        json_parse_array(raw.p, raw.n, conn_type_elem, u);
    }
    return 0;
}

static void user_init(user_claims_t *u)
{
    memset(u, 0, sizeof *u);
    u->max_subs = u->max_payload = -1;
}

/* The nats part of a user JWT, or of a scoped signing key's template. */
static void user_fields(user_claims_t *u, slice_t nats)
{
    if (nats.n) json_parse_object(nats.p, nats.n, user_member, u);
    perm_finish(&u->perms);
}

int claims_user(const char *tok, size_t n, user_claims_t *out, char *err, size_t errlen)
{
    user_init(out);
    if (jwt_decode(tok, n, &out->j, err, errlen) != 0) return -1;
    if (strcmp(out->j.type, "user") != 0 || out->j.sub[0] != 'U') {
        snprintf(err, errlen, "not a user JWT");
        claims_user_free(out);
        return -1;
    }
    user_fields(out, out->j.nats);
    return 0;
}

void claims_user_free(user_claims_t *c)
{
    jwt_free(&c->j);
    permissions_free(c->perms);
    c->perms = NULL;
}

/* ---- operator claims ---------------------------------------------------------- */

static int op_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    op_claims_t *o = ctx;
    if (json_key_is(key, "signing_keys"))
        jstrv(t, raw, &o->signing_keys, &o->nsigning_keys);
    else if (json_key_is(key, "strict_signing_key_usage") && t == JSON_BOOL)
        o->strict = raw.p[0] == 't';
    else if (json_key_is(key, "system_account") && t == JSON_STRING && raw.n > 2) {
        free(o->system_account); /* a repeated key: the last one (found by fuzz_claims) */
        o->system_account = jdup(raw);
    }
    return 0;
}

static int op_top(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    op_claims_t *o = ctx;
    if (json_key_is(key, "aud") && t == JSON_STRING) json_unquote(raw, o->aud, sizeof o->aud);
    return 0;
}

/* A token inside a file: the first run of JWT characters that starts with "eyJ". */
static char *token_in_file(const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, 1 << 20, &len, err, errlen); /* "open X: no such file..." */
    if (!text) return NULL;
    /* the text is not NUL-terminated: every scan is bounded by len */
    const char *s = memmem(text, len, "eyJ", 3);
    char *tok = NULL;
    if (s) {
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/";
        size_t l = 0, rest = len - (size_t)(s - text);
        while (l < rest && s[l] && strchr(b64, s[l]))
            l++;
        tok = xmalloc(l + 1);
        memcpy(tok, s, l);
        tok[l] = 0;
    } else {
        snprintf(err, errlen, "no JWT found in %s", path);
    }
    free(text);
    return tok;
}

int claims_operator(const char *src, op_claims_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->token = strncmp(src, "eyJ", 3) == 0 ? xstrdup(src) : token_in_file(src, err, errlen);
    if (!out->token) return -1;
    if (jwt_decode(out->token, strlen(out->token), &out->j, err, errlen) != 0) {
        claims_operator_free(out);
        return -1;
    }
    if (strcmp(out->j.type, "operator") != 0 || out->j.sub[0] != 'O') {
        snprintf(err, errlen, "not operator claim"); /* the reference's words */
        claims_operator_free(out);
        return -1;
    }
    json_parse_object(out->j.payload, out->j.payload_len, op_top, out);
    if (out->j.nats.n) json_parse_object(out->j.nats.p, out->j.nats.n, op_member, out);
    return 0;
}

void claims_operator_free(op_claims_t *c)
{
    free(c->token);
    jwt_free(&c->j);
    strv_free(&c->signing_keys, &c->nsigning_keys);
    free(c->system_account);
    memset(c, 0, sizeof *c);
}

/* ---- account claims ------------------------------------------------------------ */

/* An export's "service_latency": {"sampling": 1-100 | "headers", "results": subject}. */
static int latency_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    acct_export_t *e = ctx;
    char b[32];
    if (json_key_is(key, "results") && t == JSON_STRING) {
        free(e->lat_subject);
        e->lat_subject = jdup(raw);
    } else if (json_key_is(key, "sampling") && t == JSON_NUMBER) {
        int64_t v = jint(raw);
        e->lat_sampling = v >= 1 && v <= 100 ? (int)v : 100;
    } else if (json_key_is(key, "sampling") && t == JSON_STRING) {
        json_unquote(raw, b, sizeof b);
        e->lat_sampling = strcasecmp(b, "headers") == 0 ? 0 : 100;
    }
    return 0;
}

static int export_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    acct_export_t *e = ctx;
    char b[32];
    if (json_key_is(key, "subject") && t == JSON_STRING) {
        free(e->subject);
        e->subject = jdup(raw);
    } else if (json_key_is(key, "type") && t == JSON_STRING) {
        e->service = json_unquote(raw, b, sizeof b) > 0 && strcasecmp(b, "service") == 0;
    } else if (json_key_is(key, "response_type") && t == JSON_STRING) {
        json_unquote(raw, b, sizeof b);
        e->resp_type = strcasecmp(b, "Stream") == 0    ? ACCT_RESP_STREAM
                       : strcasecmp(b, "Chunked") == 0 ? ACCT_RESP_CHUNKED
                                                       : ACCT_RESP_SINGLETON;
    } else if (json_key_is(key, "response_threshold") && t == JSON_NUMBER) {
        e->resp_threshold_ns = dur_clamp(jint(raw));
    } else if (json_key_is(key, "token_req") && t == JSON_BOOL) {
        e->token_req = raw.p[0] == 't';
    } else if (json_key_is(key, "service_latency") && t == JSON_OBJECT) {
        e->lat_sampling = 100;
        json_parse_object(raw.p, raw.n, latency_member, e);
    } else if (json_key_is(key, "account_token_position") && t == JSON_NUMBER) {
        int64_t v = jint(raw);
        e->token_pos = v > 0 && v < 256 ? (int)v : 0;
    }
    return 0;
}

typedef struct imp_tmp {
    acct_import_t im;
    char *local; /* local_subject (v2) */
    char *to;    /* to (v1 streams: a prefix; services: the local name) */
} imp_tmp_t;

static int import_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    imp_tmp_t *it = ctx;
    char b[32];
    if (t == JSON_STRING && json_key_is(key, "type")) {
        it->im.service = json_unquote(raw, b, sizeof b) > 0 && strcasecmp(b, "service") == 0;
    } else if (t == JSON_STRING) {
        char **dst = NULL;
        if (json_key_is(key, "subject"))
            dst = &it->im.subject;
        else if (json_key_is(key, "account"))
            dst = &it->im.account;
        else if (json_key_is(key, "token"))
            dst = &it->im.token;
        else if (json_key_is(key, "local_subject"))
            dst = &it->local;
        else if (json_key_is(key, "to"))
            dst = &it->to;
        if (dst) {
            free(*dst);
            *dst = jdup(raw);
        }
    } else if (t == JSON_BOOL && json_key_is(key, "share")) {
        it->im.share = raw.p[0] == 't';
    }
    return 0;
}

static int export_elem(void *ctx, json_type_t t, slice_t raw)
{
    account_opts_t *ao = ctx;
    if (t != JSON_OBJECT) return 0;
    acct_export_t e = {0};
    json_parse_object(raw.p, raw.n, export_member, &e);
    if (!e.subject || !*e.subject) {
        free(e.subject);
        free(e.lat_subject);
        return 0;
    }
    /* tracking the reference would refuse (it logs that at debug level): none */
    if (e.lat_subject && (!e.service || e.resp_type != ACCT_RESP_SINGLETON ||
                          !subject_valid_literal(e.lat_subject, strlen(e.lat_subject)))) {
        free(e.lat_subject);
        e.lat_subject = NULL;
    }
    ao->exports = xrealloc(ao->exports, (ao->nexports + 1) * sizeof *ao->exports);
    ao->exports[ao->nexports++] = e;
    return 0;
}

static int import_elem(void *ctx, json_type_t t, slice_t raw)
{
    account_opts_t *ao = ctx;
    if (t != JSON_OBJECT) return 0;
    imp_tmp_t it = {0};
    json_parse_object(raw.p, raw.n, import_member, &it);
    acct_import_t im = it.im;
    if (!im.subject || !*im.subject || !im.account || !*im.account) {
        free(im.subject);
        free(im.account);
        free(im.token);
        free(it.local);
        free(it.to);
        return 0;
    }
    /* local_subject, when given, is the local name of either kind. Without it the JWT
     * library's older form applies: a stream's "to" is a prefix; a service's "subject" is
     * the importer's local name and its "to" the exporter's subject (as the reference
     * reads them) */
    if (it.local && *it.local) {
        im.to = it.local;
        free(it.to);
    } else if (it.to && *it.to && !im.service) {
        im.prefix = it.to;
        free(it.local);
    } else if (it.to && *it.to) {
        im.to = im.subject;
        im.subject = it.to;
        free(it.local);
    } else {
        free(it.to);
        free(it.local);
    }
    ao->imports = xrealloc(ao->imports, (ao->nimports + 1) * sizeof *ao->imports);
    ao->imports[ao->nimports++] = im;
    return 0;
}

static int limits_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    acct_claims_t *a = ctx;
    if (t == JSON_BOOL && json_key_is(key, "disallow_bearer")) a->disallow_bearer = raw.p[0] == 't';
    if (t != JSON_NUMBER) return 0;
    int64_t v = jint(raw);
    int iv = v < 0 ? -1 : v > INT32_MAX ? INT32_MAX : (int)v;
    if (json_key_is(key, "conn")) a->ao.max_conns = iv;
    if (json_key_is(key, "subs")) a->ao.max_subs = iv;
    if (json_key_is(key, "payload")) a->ao.max_payload = iv;
    if (json_key_is(key, "leaf")) a->ao.max_leafs = iv;
    return 0;
}

typedef struct signer_ctx {
    acct_claims_t *a;
    acct_signer_t cur;
} signer_ctx_t;

static int scope_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    signer_ctx_t *s = ctx;
    if (json_key_is(key, "key") && t == JSON_STRING)
        json_unquote(raw, s->cur.key, sizeof s->cur.key);
    else if (json_key_is(key, "template") && t == JSON_OBJECT) {
        if (!s->cur.scope) {
            s->cur.scope = xmalloc(sizeof *s->cur.scope);
            user_init(s->cur.scope);
        }
        user_fields(s->cur.scope, raw);
    }
    return 0;
}

static int signer_elem(void *ctx, json_type_t t, slice_t raw)
{
    signer_ctx_t *s = ctx;
    memset(&s->cur, 0, sizeof s->cur);
    if (t == JSON_STRING) {
        json_unquote(raw, s->cur.key, sizeof s->cur.key);
    } else if (t == JSON_OBJECT) {
        json_parse_object(raw.p, raw.n, scope_member, s);
        /* a scope without a template still replaces the user's permissions: with none */
        if (!s->cur.scope) {
            s->cur.scope = xmalloc(sizeof *s->cur.scope);
            user_init(s->cur.scope);
        }
    }
    if (!s->cur.key[0]) {
        if (s->cur.scope) claims_user_free(s->cur.scope);
        free(s->cur.scope);
        return 0;
    }
    acct_claims_t *a = s->a;
    a->signers = xrealloc(a->signers, (a->nsigners + 1) * sizeof *a->signers);
    a->signers[a->nsigners++] = s->cur;
    return 0;
}

static int revocation_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    acct_claims_t *a = ctx;
    if (t != JSON_NUMBER) return 0;
    acct_revocation_t r = {.at = jint(raw)};
    if (json_unquote(key, r.key, sizeof r.key) <= 0) return 0;
    a->revs = xrealloc(a->revs, (a->nrevs + 1) * sizeof *a->revs);
    a->revs[a->nrevs++] = r;
    return 0;
}

typedef struct map_ctx {
    mapping_t *m;
} map_ctx_t;

static int dest_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    mapping_dest_t *d = ctx;
    if (json_key_is(key, "subject") && t == JSON_STRING) {
        free(d->subject);
        d->subject = jdup(raw);
    } else if (json_key_is(key, "weight") && t == JSON_NUMBER) {
        d->weight = (int)jint(raw);
    } else if (json_key_is(key, "cluster") && t == JSON_STRING && raw.n > 2) {
        free(d->cluster);
        d->cluster = jdup(raw);
    }
    return 0;
}

static int dest_elem(void *ctx, json_type_t t, slice_t raw)
{
    mapping_t *m = ctx;
    if (t != JSON_OBJECT) return 0;
    mapping_dest_t d = {0};
    json_parse_object(raw.p, raw.n, dest_member, &d);
    if (!d.subject) {
        free(d.cluster);
        return 0;
    }
    if (d.weight <= 0 || d.weight > 100) d.weight = 100;
    m->dests = xrealloc(m->dests, (m->ndests + 1) * sizeof *m->dests);
    m->dests[m->ndests++] = d;
    return 0;
}

static int mapping_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    account_opts_t *ao = ctx;
    if (t != JSON_ARRAY) return 0;
    mapping_t m = {.src = jdup(key)};
    json_parse_array(raw.p, raw.n, dest_elem, &m);
    if (!m.ndests) {
        free(m.src);
        return 0;
    }
    ao->mappings = xrealloc(ao->mappings, (ao->nmappings + 1) * sizeof *ao->mappings);
    ao->mappings[ao->nmappings++] = m;
    return 0;
}

static int dperm_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    perm_member(ctx, key, t, raw);
    return 0;
}

static int acct_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    acct_claims_t *a = ctx;
    if (json_key_is(key, "exports") && t == JSON_ARRAY) {
        json_parse_array(raw.p, raw.n, export_elem, &a->ao);
    } else if (json_key_is(key, "imports") && t == JSON_ARRAY) {
        json_parse_array(raw.p, raw.n, import_elem, &a->ao);
    } else if (json_key_is(key, "limits") && t == JSON_OBJECT) {
        json_parse_object(raw.p, raw.n, limits_member, a);
    } else if (json_key_is(key, "signing_keys") && t == JSON_ARRAY) {
        signer_ctx_t s = {.a = a};
        json_parse_array(raw.p, raw.n, signer_elem, &s);
    } else if (json_key_is(key, "revocations") && t == JSON_OBJECT) {
        json_parse_object(raw.p, raw.n, revocation_member, a);
    } else if (json_key_is(key, "mappings") && t == JSON_OBJECT) {
        json_parse_object(raw.p, raw.n, mapping_member, &a->ao);
    } else if (json_key_is(key, "default_permissions") && t == JSON_OBJECT) {
        json_parse_object(raw.p, raw.n, dperm_member, &a->ao.default_perms);
        perm_finish(&a->ao.default_perms);
    }
    return 0;
}

int claims_account(const char *tok, size_t n, acct_claims_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->ao.max_conns = out->ao.max_subs = out->ao.max_payload = out->ao.max_leafs = -1;
    if (jwt_decode(tok, n, &out->j, err, errlen) != 0) return -1;
    if (strcmp(out->j.type, "account") != 0 || out->j.sub[0] != 'A') {
        snprintf(err, errlen, "not an account JWT");
        jwt_free(&out->j);
        return -1;
    }
    out->token = xmalloc(n + 1);
    memcpy(out->token, tok, n);
    out->token[n] = 0;
    out->ao.name = xstrdup(out->j.sub);
    if (out->j.nats.n) json_parse_object(out->j.nats.p, out->j.nats.n, acct_member, out);
    return 0;
}

void claims_account_free(acct_claims_t *c)
{
    free(c->token);
    jwt_free(&c->j);
    /* the account options' parts, as accounts_free frees an array of them */
    account_opts_t *ao = xmalloc(sizeof *ao);
    *ao = c->ao;
    accounts_free(ao, 1);
    for (size_t i = 0; i < c->nsigners; i++) {
        if (c->signers[i].scope) claims_user_free(c->signers[i].scope);
        free(c->signers[i].scope);
    }
    free(c->signers);
    free(c->revs);
    memset(c, 0, sizeof *c);
}

/* ---- checks ------------------------------------------------------------------------- */

const acct_signer_t *claims_signer(const acct_claims_t *a, const char *key)
{
    for (size_t i = 0; i < a->nsigners; i++)
        if (strcmp(a->signers[i].key, key) == 0) return &a->signers[i];
    return NULL;
}

bool claims_user_revoked(const acct_claims_t *a, const char *user, int64_t iat)
{
    for (size_t i = 0; i < a->nrevs; i++) {
        const acct_revocation_t *r = &a->revs[i];
        if ((strcmp(r->key, user) == 0 || strcmp(r->key, "*") == 0) && iat <= r->at) return true;
    }
    return false;
}

typedef struct act_ctx {
    char subject[512];
} act_ctx_t;

static int act_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    act_ctx_t *a = ctx;
    if (json_key_is(key, "subject") && t == JSON_STRING)
        json_unquote(raw, a->subject, sizeof a->subject);
    return 0;
}

bool claims_activation_ok(const char *tok, const acct_claims_t *exporter, const char *importer,
                          const char *subject, int64_t now)
{
    jwt_t j;
    char err[128];
    if (!tok || jwt_decode(tok, strlen(tok), &j, err, sizeof err) != 0) return false;
    act_ctx_t a = {{0}};
    if (j.nats.n) json_parse_object(j.nats.p, j.nats.n, act_member, &a);
    bool ok = strcmp(j.type, "activation") == 0 && strcmp(j.sub, importer) == 0 &&
              !jwt_expired(&j, now) &&
              (strcmp(j.iss, exporter->j.sub) == 0 || claims_signer(exporter, j.iss)) &&
              subject_is_subset(subject, strlen(subject), a.subject, strlen(a.subject));
    jwt_free(&j);
    return ok;
}

void claims_fuzz_nats(const char *json, size_t n)
{
    user_claims_t u;
    user_init(&u);
    user_fields(&u, (slice_t){json, n});
    claims_user_free(&u);
    acct_claims_t a;
    memset(&a, 0, sizeof a);
    json_parse_object(json, n, acct_member, &a);
    claims_account_free(&a);
    op_claims_t o;
    memset(&o, 0, sizeof o);
    json_parse_object(json, n, op_top, &o);
    json_parse_object(json, n, op_member, &o);
    claims_operator_free(&o);
    act_ctx_t x = {{0}};
    json_parse_object(json, n, act_member, &x);
}
