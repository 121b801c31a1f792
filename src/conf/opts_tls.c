/* opts_tls.c: the tls {} block (client port and cluster), with the reference's
 * cipher and curve names, and the --help_tls text that lists them. Like the
 * reference, the first problem aborts the block; certificate files are only
 * checked for presence here (loading them is core/tls.c's job). */
#include "conf/opts_impl.h"

#include <ctype.h>
#include <stddef.h>

void tls_defaults(tls_opts_t *t)
{
    memset(t, 0, sizeof(*t));
    t->timeout_ns = DEFAULT_TLS_TIMEOUT_NS;
}

void tls_free(tls_opts_t *t)
{
    free(t->cert_file);
    free(t->key_file);
    free(t->ca_file);
    strv_free(&t->cipher_suites, &t->ncipher_suites);
    strv_free(&t->curve_prefs, &t->ncurve_prefs);
    strv_free(&t->pinned_certs, &t->npinned_certs);
    tls_defaults(t);
}

/* ------------------------------------------------------------------------- */
/* tls (docs/config.md §7.5)                                                 */

static const char *const cipher_names[] = {
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
};
static const char *const curve_names[] = {"X25519", "CurveP256", "CurveP384", "CurveP521"};

static bool tls_name_list(cfg_ctx_t *c, const conf_kv_t *kv, const char *what, const char *unrec,
                          const char *const *names, size_t nnames, char ***out, size_t *nout)
{
    if (!want(c, kvpos(kv), kv->val, CONF_ARRAY)) return false;
    const conf_val_t *v = kv->val;
    if (v->u.arr.n == 0) {
        cfg_err(c, kvpos(kv), "error parsing tls config, '%s' cannot be empty", what);
        return false;
    }
    char **l = NULL;
    size_t n = 0;
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const conf_val_t *e = v->u.arr.items[i];
        if (!want(c, valpos(e), e, CONF_STRING)) {
            strv_free(&l, &n);
            return false;
        }
        bool ok = false;
        for (size_t k = 0; k < nnames && !ok; k++)
            ok = strcmp(names[k], e->u.str.s) == 0;
        if (!ok) {
            cfg_err(c, valpos(e), "%s %s", unrec, e->u.str.s);
            strv_free(&l, &n);
            return false;
        }
        strv_push(&l, &n, xstrdup(e->u.str.s));
    }
    strv_free(out, nout);
    *out = l;
    *nout = n;
    return true;
}

static bool tls_bool(cfg_ctx_t *c, const conf_kv_t *kv, bool *dst)
{
    if (kv->val->type != CONF_BOOL) {
        cfg_err(c, kvpos(kv), "error parsing tls config, expected '%s' to be a boolean", kv->key);
        return false;
    }
    *dst = kv->val->u.b;
    return true;
}

static bool tls_file(cfg_ctx_t *c, const conf_kv_t *kv, char **dst)
{
    if (kv->val->type != CONF_STRING) {
        cfg_err(c, kvpos(kv), "error parsing tls config, expected '%s' to be filename", kv->key);
        return false;
    }
    set_str(dst, kv->val->u.str.s);
    return true;
}

static bool is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n])) return false;
    return n == 64;
}

static bool tk_verify_and_map(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx)
{
    (void)client_ctx;
    bool b = false;
    bool ok = tls_bool(c, kv, &b);
    if (b) t->verify = true;
    t->verify_and_map = b;
    return ok;
}

static bool tk_verify_known_urls(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx)
{
    bool b = false;
    bool ok = tls_bool(c, kv, &b);
    if (ok && b && client_ctx) {
        cfg_err(c, kvpos(kv), "verify_cert_and_check_known_urls not supported in this context");
        ok = false;
    }
    if (b) t->verify = true;
    return ok;
}

static bool tk_ciphers(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx)
{
    (void)client_ctx;
    return tls_name_list(c, kv, "cipher_suites", "unrecognized cipher", cipher_names,
                         ARRAY_LEN(cipher_names), &t->cipher_suites, &t->ncipher_suites);
}

static bool tk_curves(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx)
{
    (void)client_ctx;
    return tls_name_list(c, kv, "curve_preferences", "unrecognized curve preference", curve_names,
                         ARRAY_LEN(curve_names), &t->curve_prefs, &t->ncurve_prefs);
}

static bool tk_timeout(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx)
{
    (void)client_ctx;
    const conf_val_t *tv = kv->val;
    if (tv->type == CONF_INT) {
        t->timeout_ns = secs_to_ns(tv->u.i);
    } else if (tv->type == CONF_FLOAT) {
        t->timeout_ns = fsecs_to_ns(tv->u.f);
    } else if (tv->type == CONF_STRING) {
        char e[300];
        int64_t ns;
        if (opts_parse_duration(tv->u.str.s, &ns, e, sizeof(e)) != 0) {
            cfg_err(c, kvpos(kv), "error parsing tls config, 'timeout' %s", e);
            return false;
        }
        t->timeout_ns = dur_clamp(ns);
    } else {
        cfg_err(c, kvpos(kv), "error parsing tls config, 'timeout' wrong type");
        return false;
    }
    return true;
}

static bool tk_rate_limit(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx)
{
    (void)client_ctx;
    if (kv->val->type != CONF_INT) {
        cfg_err(c, kvpos(kv), "error parsing tls config, 'connection_rate_limit' wrong type");
        return false;
    }
    t->connection_rate_limit = kv->val->u.i;
    return true;
}

static bool tk_pinned(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx)
{
    (void)client_ctx;
    if (kv->val->type != CONF_ARRAY) {
        cfg_err(c, kvpos(kv),
                "error parsing tls config, expected 'pinned_certs' to be a list of "
                "hex-encoded sha256 of DER encoded SubjectPublicKeyInfo");
        return false;
    }
    strv_free(&t->pinned_certs, &t->npinned_certs);
    for (size_t j = 0; j < kv->val->u.arr.n; j++) {
        const conf_val_t *e = kv->val->u.arr.items[j];
        if (!want(c, valpos(e), e, CONF_STRING)) return false;
        char *low = xstrdup(e->u.str.s);
        for (char *q = low; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (!is_hex64(low)) {
            cfg_err(c, valpos(e),
                    "error parsing tls config, 'pinned_certs' key %s does not look "
                    "like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
                    low);
            free(low);
            return false;
        }
        strv_push(&t->pinned_certs, &t->npinned_certs, low);
    }
    return true;
}

/* The tls block's keys: a file name or a boolean read by type, or a parser of
 * its own; `off` is the key's field (a list: its array, `noff` its count).
 * `cmp`: a change is one a reload applies (opts_tls_changed). verify_and_map
 * and connection_rate_limit are not: the top-level rows refuse their change
 * for the client port (TLSMap, TLSRateLimit), and the cluster block keeps
 * what it started with. */
typedef bool tls_key_fn(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx);
typedef enum tls_ftype { TF_NONE, TF_FILE, TF_BOOL, TF_I64, TF_LIST } tls_ftype_t;
#define TOFF(f) offsetof(tls_opts_t, f)
static const struct tls_key {
    const char *key;
    tls_ftype_t type;
    size_t off, noff;
    tls_key_fn *fn; /* NULL: read by type */
    bool cmp;
} tls_keys[] = {
    {"cert_file", TF_FILE, TOFF(cert_file), 0, NULL, true},
    {"key_file", TF_FILE, TOFF(key_file), 0, NULL, true},
    {"ca_file", TF_FILE, TOFF(ca_file), 0, NULL, true},
    {"insecure", TF_BOOL, TOFF(insecure), 0, NULL, true},
    {"verify", TF_BOOL, TOFF(verify), 0, NULL, true},
    {"verify_and_map", TF_BOOL, TOFF(verify_and_map), 0, tk_verify_and_map, false},
    {"verify_cert_and_check_known_urls", TF_NONE, 0, 0, tk_verify_known_urls, false},
    {"cipher_suites", TF_LIST, TOFF(cipher_suites), TOFF(ncipher_suites), tk_ciphers, true},
    {"curve_preferences", TF_LIST, TOFF(curve_prefs), TOFF(ncurve_prefs), tk_curves, true},
    {"timeout", TF_I64, TOFF(timeout_ns), 0, tk_timeout, true},
    {"connection_rate_limit", TF_I64, TOFF(connection_rate_limit), 0, tk_rate_limit, false},
    {"pinned_certs", TF_LIST, TOFF(pinned_certs), TOFF(npinned_certs), tk_pinned, true},
};

static bool tls_field_eq(const struct tls_key *k, const tls_opts_t *a, const tls_opts_t *b)
{
    const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
    switch (k->type) {
    case TF_FILE:
        return str_same(*(char *const *)(const void *)fa, *(char *const *)(const void *)fb);
    case TF_BOOL:
        return *(const bool *)fa == *(const bool *)fb;
    case TF_I64:
        return *(const int64_t *)(const void *)fa == *(const int64_t *)(const void *)fb;
    case TF_LIST:
        return strv_eq(*(char **const *)(const void *)fa,
                       *(const size_t *)(const void *)((const char *)a + k->noff),
                       *(char **const *)(const void *)fb,
                       *(const size_t *)(const void *)((const char *)b + k->noff));
    case TF_NONE:
        break;
    }
    return true;
}

bool opts_tls_changed(const tls_opts_t *a, const tls_opts_t *b)
{
    if (a->enabled != b->enabled) return true;
    for (size_t i = 0; i < ARRAY_LEN(tls_keys); i++)
        if (tls_keys[i].cmp && !tls_field_eq(&tls_keys[i], a, b)) return true;
    return false;
}

static bool tls_key(cfg_ctx_t *c, const conf_kv_t *kv, tls_opts_t *t, bool client_ctx)
{
    for (size_t i = 0; i < ARRAY_LEN(tls_keys); i++) {
        const struct tls_key *k = &tls_keys[i];
        if (strcasecmp(kv->key, k->key) != 0) continue;
        if (k->fn) return k->fn(c, kv, t, client_ctx);
        void *f = (char *)t + k->off;
        return k->type == TF_BOOL ? tls_bool(c, kv, f) : tls_file(c, kv, f);
    }
    char q[300];
    quote_go_str(q, sizeof(q), kv->key);
    cfg_err(c, kvpos(kv), "error parsing tls config, unknown field [%s]", q);
    return false;
}

/* Like the reference, the first problem aborts the block. Certificate files
 * are only checked for presence here; loading them is the TLS layer's job. */
bool parse_tls(cfg_ctx_t *c, const conf_kv_t *tkv, tls_opts_t *t, bool client_ctx)
{
    if (!want(c, kvpos(tkv), tkv->val, CONF_MAP)) return false;
    tls_free(t);
    t->enabled = true;
    const conf_val_t *v = tkv->val;
    for (size_t i = 0; i < v->u.map.n; i++)
        if (!tls_key(c, &v->u.map.items[i], t, client_ctx)) return false;
    if (t->cert_file && !t->key_file) {
        cfg_err(c, kvpos(tkv), "missing 'key_file' in TLS configuration");
        return false;
    }
    if (!t->cert_file && t->key_file) {
        cfg_err(c, kvpos(tkv), "missing 'cert_file' in TLS configuration");
        return false;
    }
    return true;
}

void opts_print_tls_help(FILE *out)
{
    fputs("\n"
          "TLS configuration is specified in the tls section of a configuration file:\n"
          "\n"
          "e.g.\n"
          "\n"
          "    tls {\n"
          "        cert_file:      \"./certs/server-cert.pem\"\n"
          "        key_file:       \"./certs/server-key.pem\"\n"
          "        ca_file:        \"./certs/ca.pem\"\n"
          "        verify:         true\n"
          "        verify_and_map: true\n"
          "\n"
          "        cipher_suites: [\n"
          "            \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\",\n"
          "            \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"\n"
          "        ]\n"
          "        curve_preferences: [\n"
          "            \"CurveP256\",\n"
          "            \"CurveP384\",\n"
          "            \"CurveP521\"\n"
          "        ]\n"
          "    }\n"
          "\n"
          "Available cipher suites include:\n",
          out);
    for (size_t i = 0; i < ARRAY_LEN(cipher_names); i++)
        fprintf(out, "    %s\n", cipher_names[i]);
    fputs("\nAvailable curve preferences include:\n", out);
    for (size_t i = 0; i < ARRAY_LEN(curve_names); i++)
        fprintf(out, "    %s\n", curve_names[i]);
    fflush(out);
}
