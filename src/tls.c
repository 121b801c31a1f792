/* tls.c: see tls.h. Defaults follow the reference (security.md §9): TLS 1.2
 * minimum, server cipher preference with the six ECDHE AEAD suites, groups
 * X25519, P-256, P-384, P-521. */
#include "tls.h"
#include "common.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static const struct {
    const char *go, *ossl;
} cipher_map[] = {
    {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_AES_128_GCM_SHA256", NULL},
    {"TLS_AES_256_GCM_SHA384", NULL},
    {"TLS_CHACHA20_POLY1305_SHA256", NULL},
};

static const char default_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

void tls_last_error(char *out, size_t n)
{
    unsigned long e = ERR_get_error();
    if (e) {
        const char *r = ERR_reason_error_string(e);
        snprintf(out, n, "%s", r ? r : "unknown error");
        ERR_clear_error();
    } else {
        snprintf(out, n, "%s", errno ? strerror(errno) : "connection closed");
    }
}

static int set_ciphers(SSL_CTX *ctx, const tls_opts_t *o, char *err, size_t errlen)
{
    if (o->ncipher_suites == 0) return SSL_CTX_set_cipher_list(ctx, default_ciphers) == 1 ? 0 : -1;
    char list[2048] = "";
    size_t len = 0;
    for (size_t i = 0; i < o->ncipher_suites; i++) {
        const char *m = NULL;
        bool known = false;
        for (size_t k = 0; k < ARRAY_LEN(cipher_map); k++) {
            if (strcmp(cipher_map[k].go, o->cipher_suites[i]) == 0) {
                m = cipher_map[k].ossl;
                known = true;
                break;
            }
        }
        if (!known) {
            snprintf(err, errlen, "unrecognized cipher %s", o->cipher_suites[i]);
            return -1;
        }
        if (m) len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ":" : "", m);
    }
    if (!len) return SSL_CTX_set_cipher_list(ctx, default_ciphers) == 1 ? 0 : -1;
    /* Old suites (RC4, 3DES, ...) may be compiled out of OpenSSL: keep what exists. */
    ERR_clear_error();
    if (SSL_CTX_set_cipher_list(ctx, list) != 1) {
        snprintf(err, errlen, "error parsing tls config, no usable cipher suites");
        return -1;
    }
    return 0;
}

static int set_curves(SSL_CTX *ctx, const tls_opts_t *o, char *err, size_t errlen)
{
    if (o->ncurve_prefs == 0)
        return SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384:P-521") == 1 ? 0 : -1;
    char list[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < o->ncurve_prefs; i++) {
        const char *c = o->curve_prefs[i], *m = NULL;
        if (strcmp(c, "X25519") == 0)
            m = "X25519";
        else if (strcmp(c, "CurveP256") == 0)
            m = "P-256";
        else if (strcmp(c, "CurveP384") == 0)
            m = "P-384";
        else if (strcmp(c, "CurveP521") == 0)
            m = "P-521";
        if (!m) {
            snprintf(err, errlen, "unrecognized curve preference %s", c);
            return -1;
        }
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ":" : "", m);
    }
    return SSL_CTX_set1_groups_list(ctx, list) == 1 ? 0 : -1;
}

static tls_ctx_t *ctx_new(const tls_opts_t *o, bool server, bool require_peer, char *err,
                          size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "unable to create TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    /* Our outbound buffer may move between retries of a partial write. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (set_ciphers(ctx, o, err, errlen) != 0 || set_curves(ctx, o, err, errlen) != 0) goto fail;
    if (o->cert_file && *o->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
            snprintf(err, errlen, "error parsing X509 certificate/key pair: open %s: %s",
                     o->cert_file, strerror(errno ? errno : ENOENT));
            goto fail;
        }
    } else if (server) {
        snprintf(err, errlen, "missing 'cert_file' in TLS configuration");
        goto fail;
    }
    if (o->key_file && *o->key_file) {
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(err, errlen, "error parsing X509 certificate/key pair: open %s: %s",
                     o->key_file, strerror(errno ? errno : EINVAL));
            goto fail;
        }
    } else if (server) {
        snprintf(err, errlen, "missing 'key_file' in TLS configuration");
        goto fail;
    }
    if (o->ca_file && *o->ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
            snprintf(err, errlen, "failed to parse root ca certificate");
            goto fail;
        }
    } else {
        SSL_CTX_set_default_verify_paths(ctx);
    }
    bool verify = require_peer || o->verify || o->verify_and_map;
    if (server && verify)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (!server) SSL_CTX_set_verify(ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    ERR_clear_error();
    tls_ctx_t *t = xcalloc(1, sizeof *t);
    t->ctx = ctx;
    atomic_store(&t->refs, 1);
    t->verify = verify;
    t->timeout_ns = o->timeout_ns ? o->timeout_ns : 2000000000LL;
    if (o->npinned_certs) {
        t->pinned = xcalloc(o->npinned_certs, sizeof(char *));
        for (size_t i = 0; i < o->npinned_certs; i++) {
            t->pinned[i] = xstrdup(o->pinned_certs[i]);
            for (char *p = t->pinned[i]; *p; p++)
                if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
        }
        t->npinned = o->npinned_certs;
    }
    return t;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

tls_ctx_t *tls_ctx_server(const tls_opts_t *o, bool require_peer, char *err, size_t errlen)
{
    return ctx_new(o, true, require_peer, err, errlen);
}

tls_ctx_t *tls_ctx_client(const tls_opts_t *o, char *err, size_t errlen)
{
    return ctx_new(o, false, false, err, errlen);
}

tls_ctx_t *tls_ctx_ref(tls_ctx_t *t)
{
    if (t) atomic_fetch_add(&t->refs, 1);
    return t;
}

void tls_ctx_unref(tls_ctx_t *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
    SSL_CTX_free(t->ctx);
    for (size_t i = 0; i < t->npinned; i++)
        free(t->pinned[i]);
    free(t->pinned);
    free(t);
}

bool tls_pinned_ok(const tls_ctx_t *t, SSL *ssl)
{
    if (!t->npinned) return true;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return false;
    unsigned char *der = NULL;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    X509_free(cert);
    if (len <= 0) return false;
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + i * 2, 3, "%02x", md[i]);
    for (size_t i = 0; i < t->npinned; i++)
        if (strcmp(t->pinned[i], hex) == 0) return true;
    return false;
}

const char *tls_version_name(const SSL *ssl)
{
    switch (SSL_version(ssl)) {
    case TLS1_VERSION:
        return "1.0";
    case TLS1_1_VERSION:
        return "1.1";
    case TLS1_2_VERSION:
        return "1.2";
    case TLS1_3_VERSION:
        return "1.3";
    default:
        return "unknown";
    }
}

void tls_cipher_name(const SSL *ssl, char *out, size_t n)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    const char *std = c ? SSL_CIPHER_standard_name(c) : NULL;
    if (!std) {
        snprintf(out, n, "Unknown [0x%x]", c ? (unsigned)(SSL_CIPHER_get_id(c) & 0xffff) : 0);
        return;
    }
    /* Go names CHACHA20 suites without the _SHA256 suffix (TLS 1.2). */
    snprintf(out, n, "%s", std);
    char *p = strstr(out, "_CHACHA20_POLY1305_SHA256");
    if (p && strncmp(out, "TLS_ECDHE", 9) == 0) p[strlen("_CHACHA20_POLY1305")] = 0;
}
