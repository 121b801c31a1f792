/* opts_tls.c: the tls {} block (client port and cluster), with the reference's
 * cipher and curve names, and the --help_tls text that lists them. Like the
 * reference, the first problem aborts the block; certificate files are only
 * checked for presence here (loading them is core/tls.c's job). */
#include "conf/opts_impl.h"

#include <ctype.h>

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
/* tls (config.md §7.5)                                                      */

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

/* Like the reference, the first problem aborts the block. Certificate files
 * are only checked for presence here; loading them is the TLS layer's job. */
bool parse_tls(cfg_ctx_t *c, const conf_kv_t *tkv, tls_opts_t *t, bool client_ctx)
{
    if (!want(c, kvpos(tkv), tkv->val, CONF_MAP)) return false;
    tls_free(t);
    t->enabled = true;
    const conf_val_t *v = tkv->val;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        const char *k = kv->key;
        bool ok = true;
        if (KEYIS(k, "cert_file")) {
            ok = tls_file(c, kv, &t->cert_file);
        } else if (KEYIS(k, "key_file")) {
            ok = tls_file(c, kv, &t->key_file);
        } else if (KEYIS(k, "ca_file")) {
            ok = tls_file(c, kv, &t->ca_file);
        } else if (KEYIS(k, "insecure")) {
            ok = tls_bool(c, kv, &t->insecure);
        } else if (KEYIS(k, "verify")) {
            ok = tls_bool(c, kv, &t->verify);
        } else if (KEYIS(k, "verify_and_map")) {
            bool b = false;
            ok = tls_bool(c, kv, &b);
            if (b) t->verify = true;
            t->verify_and_map = b;
        } else if (KEYIS(k, "verify_cert_and_check_known_urls")) {
            bool b = false;
            ok = tls_bool(c, kv, &b);
            if (ok && b && client_ctx) {
                cfg_err(c, kvpos(kv),
                        "verify_cert_and_check_known_urls not supported in this context");
                ok = false;
            }
            if (b) t->verify = true;
        } else if (KEYIS(k, "cipher_suites")) {
            ok = tls_name_list(c, kv, "cipher_suites", "unrecognized cipher", cipher_names,
                               ARRAY_LEN(cipher_names), &t->cipher_suites, &t->ncipher_suites);
        } else if (KEYIS(k, "curve_preferences")) {
            ok = tls_name_list(c, kv, "curve_preferences", "unrecognized curve preference",
                               curve_names, ARRAY_LEN(curve_names), &t->curve_prefs,
                               &t->ncurve_prefs);
        } else if (KEYIS(k, "timeout")) {
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
                    ok = false;
                } else {
                    t->timeout_ns = dur_clamp(ns);
                }
            } else {
                cfg_err(c, kvpos(kv), "error parsing tls config, 'timeout' wrong type");
                ok = false;
            }
        } else if (KEYIS(k, "connection_rate_limit")) {
            if (kv->val->type != CONF_INT) {
                cfg_err(c, kvpos(kv),
                        "error parsing tls config, 'connection_rate_limit' wrong type");
                ok = false;
            } else {
                t->connection_rate_limit = kv->val->u.i;
            }
        } else if (KEYIS(k, "pinned_certs")) {
            if (kv->val->type != CONF_ARRAY) {
                cfg_err(c, kvpos(kv),
                        "error parsing tls config, expected 'pinned_certs' to be a list of "
                        "hex-encoded sha256 of DER encoded SubjectPublicKeyInfo");
                ok = false;
            } else {
                strv_free(&t->pinned_certs, &t->npinned_certs);
                for (size_t j = 0; ok && j < kv->val->u.arr.n; j++) {
                    const conf_val_t *e = kv->val->u.arr.items[j];
                    if (!want(c, valpos(e), e, CONF_STRING)) {
                        ok = false;
                        break;
                    }
                    char *low = xstrdup(e->u.str.s);
                    for (char *q = low; *q; q++)
                        *q = (char)tolower((unsigned char)*q);
                    if (!is_hex64(low)) {
                        cfg_err(c, valpos(e),
                                "error parsing tls config, 'pinned_certs' key %s does not look "
                                "like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
                                low);
                        free(low);
                        ok = false;
                        break;
                    }
                    strv_push(&t->pinned_certs, &t->npinned_certs, low);
                }
            }
        } else {
            char q[300];
            quote_go_str(q, sizeof(q), k);
            cfg_err(c, kvpos(kv), "error parsing tls config, unknown field [%s]", q);
            ok = false;
        }
        if (!ok) return false;
    }
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
