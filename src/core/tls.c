/* tls.c: see tls.h. Defaults follow the reference (docs/config.md §7.5): TLS 1.2
 * minimum, server cipher preference with the six ECDHE AEAD suites, groups
 * X25519, P-256, P-384, P-521. */
#include "core/tls.h"
#include "base/common.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "core/core.h"
#include "core/tlsrec.h"

#include <ctype.h>
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

/* Appends name to a ':'-separated OpenSSL list unless it is already there: a
 * config may repeat entries (the reference accepts that) and OpenSSL refuses a
 * groups list that names a group twice. The list grows with the config, so no
 * number of entries can overflow it. */
static void list_add(buf_t *l, const char *name)
{
    size_t n = strlen(name);
    if (l->len) {
        for (const char *p = l->p, *end = l->p + l->len; p < end;) {
            const char *c = memchr(p, ':', (size_t)(end - p));
            if (!c) c = end;
            if ((size_t)(c - p) == n && memcmp(p, name, n) == 0) return;
            p = c + 1;
        }
        buf_putc(l, ':');
    }
    buf_append(l, name, n);
}

/* Go's crypto/tls words the usual handshake failures differently from OpenSSL;
 * the reference's log lines are the spec, so the common ones are translated. */
void tls_handshake_error(const SSL *ssl, char *out, size_t n)
{
    unsigned long e = ERR_peek_error();
    int reason = e ? ERR_GET_REASON(e) : 0;
    const char *go = NULL;
    switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
        go = "tls: first record does not look like a TLS handshake";
        break;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        go = "EOF";
        break;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        go = "tls: client didn't provide a certificate";
        break;
    case SSL_R_CERTIFICATE_VERIFY_FAILED: {
        long v = SSL_get_verify_result(ssl);
        const char *x = X509_verify_cert_error_string(v);
        if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
            v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
            v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
            v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
            v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)
            x = "certificate signed by unknown authority";
        snprintf(out, n, "%sx509: %s",
                 SSL_is_server(ssl) ? "tls: failed to verify client certificate: " : "", x);
        ERR_clear_error();
        return;
    }
    }
    if (go) {
        snprintf(out, n, "%s", go);
        ERR_clear_error();
        return;
    }
    tls_last_error(out, n);
}

static int set_ciphers(SSL_CTX *ctx, const tls_opts_t *o, char *err, size_t errlen)
{
    if (o->ncipher_suites == 0) return SSL_CTX_set_cipher_list(ctx, default_ciphers) == 1 ? 0 : -1;
    buf_t list = {0};
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
            buf_free(&list);
            return -1;
        }
        if (m) list_add(&list, m); /* TLS 1.3 suites are not configurable, as in Go */
    }
    int rc = 0;
    if (!list.len) {
        rc = SSL_CTX_set_cipher_list(ctx, default_ciphers) == 1 ? 0 : -1;
    } else {
        buf_putc(&list, 0);
        /* Old suites (RC4, 3DES, ...) may be compiled out of OpenSSL: keep what exists. */
        ERR_clear_error();
        if (SSL_CTX_set_cipher_list(ctx, list.p) != 1) {
            snprintf(err, errlen, "error parsing tls config, no usable cipher suites");
            rc = -1;
        }
    }
    buf_free(&list);
    return rc;
}

static int set_curves(SSL_CTX *ctx, const tls_opts_t *o, char *err, size_t errlen)
{
    if (o->ncurve_prefs == 0)
        return SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384:P-521") == 1 ? 0 : -1;
    buf_t list = {0};
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
            buf_free(&list);
            return -1;
        }
        list_add(&list, m);
    }
    buf_putc(&list, 0);
    int rc = SSL_CTX_set1_groups_list(ctx, list.p) == 1 ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "error parsing tls config, unusable curve preferences %s", list.p);
    buf_free(&list);
    return rc;
}

static tls_ctx_t *ctx_new(const tls_opts_t *o, bool server, bool require_peer, char *err,
                          size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "unable to create TLS context");
        return NULL;
    }
    if (errlen) err[0] = 0;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    /* Our outbound buffer may move between retries of a partial write.
     * NO_AUTO_CHAIN: the handshake carries exactly what cert_file holds, as the
     * reference's does; otherwise OpenSSL completes the chain from the trust
     * store (ca_file), and a peer then sees the CA itself in the chain. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    if (server) {
        /* No server-side session cache (every handshake's session was kept, up to
         * 20,480 of them: memory per connection) and one TLS 1.3 ticket, as Go's
         * server sends (OpenSSL sends two): resumption stays possible through the
         * stateless ticket, and each handshake builds one ticket less. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 1);
    }
    /* One read() brings every record the socket holds (up to 64 KiB), not one read for
     * a record's header and one for its body: half the syscalls on a busy stream. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    tlsrec_ctx_setup(ctx);
    /* TLS 1.3 suites are not configurable; Go (on AES hardware) prefers AES-128. */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                  "TLS_CHACHA20_POLY1305_SHA256");
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
        /* A certificate request names the acceptable CAs, as Go's does from ClientCAs. */
        if (server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
            if (names) SSL_CTX_set_client_CA_list(ctx, names);
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
    t->timeout_ns = tls_opts_timeout_ns(o);
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
    if (errlen && !err[0]) {
        char why[200];
        tls_last_error(why, sizeof why);
        snprintf(err, errlen, "error configuring TLS: %s", why);
    }
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

static void unref_cb(void *p)
{
    tls_ctx_unref(p);
}

void tls_ctx_retire(tls_ctx_t *t)
{
    qsbr_retire(t, unref_cb);
}

/* Lower-case hex SHA-256 of der (65 bytes with the NUL). */
static void sha256_hex(const unsigned char *der, int len, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + i * 2, 3, "%02x", md[i]);
}

/* Hex SHA-256 of x's SubjectPublicKeyInfo (or of the whole certificate); false if it
 * cannot be encoded. */
static bool cert_sha256(X509 *x, bool spki, char hex[65])
{
    unsigned char *der = NULL;
    int len = spki ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : i2d_X509(x, &der);
    if (len <= 0) return false;
    sha256_hex(der, len, hex);
    OPENSSL_free(der);
    return true;
}

static bool pinned_ok(const tls_ctx_t *t, X509 *cert)
{
    if (!t->npinned) return true;
    if (!cert) return false;
    char hex[65];
    if (!cert_sha256(cert, true, hex)) return false;
    for (size_t i = 0; i < t->npinned; i++)
        if (strcmp(t->pinned[i], hex) == 0) return true;
    return false;
}

/* The leaf and the chain the peer sent, from its SSL or from what tlsrec took over. */
static X509 *conn_leaf(const conn_t *c)
{
    return c->trec ? tlsrec_peer(c->trec) : c->ssl ? SSL_get0_peer_certificate(c->ssl) : NULL;
}

static STACK_OF(X509) * conn_chain(const conn_t *c)
{
    return c->trec ? tlsrec_peer_chain(c->trec) : c->ssl ? SSL_get_peer_cert_chain(c->ssl) : NULL;
}

bool tls_conn_pinned_ok(const tls_ctx_t *t, const conn_t *c)
{
    return pinned_ok(t, conn_leaf(c));
}

/* Go's pkix.Name.String(): its nine named attributes in a fixed order (each type one
 * RDN, values joined by '+'; CN and SERIALNUMBER only the last value), any other
 * attribute first as OID=#hex of its value re-encoded as Go's asn1.Marshal does (a
 * PrintableString if it can be, else a UTF8String); the sequence is then printed
 * last to first, with Go's escaping. */
static const struct {
    int nid;
    const char *name;
    bool last_only;
} GO_NAMES[] = {
    {NID_countryName, "C", false},
    {NID_stateOrProvinceName, "ST", false},
    {NID_localityName, "L", false},
    {NID_streetAddress, "STREET", false},
    {NID_postalCode, "POSTALCODE", false},
    {NID_organizationName, "O", false},
    {NID_organizationalUnitName, "OU", false},
    {NID_commonName, "CN", true},
    {NID_serialNumber, "SERIALNUMBER", true},
};

static void go_escape(buf_t *b, const char *v, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char c = v[k];
        bool esc = strchr(",+\"\\<>;", c) != NULL && c != 0;
        if (c == ' ') esc = k == 0 || k == n - 1;
        if (c == '#') esc = k == 0;
        if (esc) buf_putc(b, '\\');
        buf_putc(b, c);
    }
}

static bool go_printable(const unsigned char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = v[i];
        if (!(isalnum(c) || strchr(" '()+,-./:=?", c)) || c == 0) return false;
    }
    return true;
}

static void go_rdn_other(buf_t *b, const X509_NAME_ENTRY *e)
{
    char oid[128];
    OBJ_obj2txt(oid, sizeof oid, X509_NAME_ENTRY_get_object(e), 1);
    unsigned char *u = NULL;
    int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));
    if (n < 0) return;
    buf_printf(b, "%s=#%02x", oid, go_printable(u, (size_t)n) ? 0x13 : 0x0c);
    if (n < 128)
        buf_printf(b, "%02x", n);
    else if (n < 256)
        buf_printf(b, "81%02x", n);
    else
        buf_printf(b, "82%02x%02x", n >> 8, n & 0xff);
    for (int i = 0; i < n; i++)
        buf_printf(b, "%02x", u[i]);
    OPENSSL_free(u);
}

static char *go_name_string(const X509_NAME *name)
{
    buf_t b = {0};
    int count = X509_NAME_entry_count(name);
    bool first = true;
    /* printed last to first: the named attributes from the end of the list... */
    for (int t = (int)ARRAY_LEN(GO_NAMES) - 1; t >= 0; t--) {
        int last = -1, nvals = 0;
        for (int i = 0; i < count; i++)
            if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, i))) ==
                GO_NAMES[t].nid) {
                last = i;
                nvals++;
            }
        if (last < 0) continue;
        if (!first) buf_putc(&b, ',');
        first = false;
        bool firstval = true;
        for (int i = GO_NAMES[t].last_only ? last : 0; i < count; i++) {
            const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
            if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != GO_NAMES[t].nid) continue;
            unsigned char *u = NULL;
            int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));
            if (n < 0) continue;
            if (!firstval) buf_putc(&b, '+');
            firstval = false;
            buf_printf(&b, "%s=", GO_NAMES[t].name);
            go_escape(&b, (const char *)u, (size_t)n);
            OPENSSL_free(u);
        }
    }
    /* ...then the others, last first */
    for (int i = count - 1; i >= 0; i--) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        bool named = false;
        for (size_t t = 0; t < ARRAY_LEN(GO_NAMES) && !named; t++)
            named = GO_NAMES[t].nid == nid;
        if (named) continue;
        if (!first) buf_putc(&b, ',');
        first = false;
        go_rdn_other(&b, e);
    }
    buf_putc(&b, 0);
    return b.p;
}

static void peer_cert_add(tls_peer_cert_t **v, size_t *n, X509 *x)
{
    tls_peer_cert_t pc = {0};
    if (!cert_sha256(x, true, pc.spki_sha256) || !cert_sha256(x, false, pc.cert_sha256)) return;
    pc.subject = go_name_string(X509_get_subject_name(x));
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = pc;
}

size_t tls_conn_peer_certs(const conn_t *c, tls_peer_cert_t **out)
{
    tls_peer_cert_t *v = NULL;
    size_t n = 0;
    X509 *leaf = conn_leaf(c);
    if (leaf) {
        peer_cert_add(&v, &n, leaf);
        /* on the accepting side the chain the peer sent excludes its leaf */
        STACK_OF(X509) *chain = conn_chain(c);
        for (int i = 0; chain && i < sk_X509_num(chain); i++) {
            X509 *x = sk_X509_value(chain, i);
            if (X509_cmp(x, leaf) != 0) peer_cert_add(&v, &n, x);
        }
    }
    *out = v;
    return n;
}

void tls_peer_certs_free(tls_peer_cert_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].subject);
    free(v);
}

const char *tls_conn_version(const conn_t *c)
{
    if (c->trec) return "1.3";
    switch (c->ssl ? SSL_version(c->ssl) : 0) {
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

bool tls_has_pending(const SSL *ssl)
{
    return SSL_has_pending(ssl) != 0;
}

bool tls_conn_pending(const conn_t *c)
{
    return c->trec ? tlsrec_has_plain(c->trec) : c->ssl && tls_has_pending(c->ssl);
}

void tls_conn_cipher(const conn_t *c, char *out, size_t n)
{
    if (c->trec) {
        snprintf(out, n, "%s", tlsrec_cipher_name(c->trec));
        return;
    }
    const SSL_CIPHER *ci = c->ssl ? SSL_get_current_cipher(c->ssl) : NULL;
    const char *std = ci ? SSL_CIPHER_standard_name(ci) : NULL;
    if (!std) {
        snprintf(out, n, "Unknown [0x%x]", ci ? (unsigned)(SSL_CIPHER_get_id(ci) & 0xffff) : 0);
        return;
    }
    /* Go names CHACHA20 suites without the _SHA256 suffix (TLS 1.2). */
    snprintf(out, n, "%s", std);
    char *p = strstr(out, "_CHACHA20_POLY1305_SHA256");
    if (p && strncmp(out, "TLS_ECDHE", 9) == 0) p[strlen("_CHACHA20_POLY1305")] = 0;
}

/* The socket BIO's callback: after each read, whether it was short. */
static long rd_watch(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                     size_t *processed)
{
    (void)argp, (void)argi, (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
        bool *short_read = (bool *)BIO_get_callback_arg(b);
        if (ret > 0 && processed && *processed < len) *short_read = true;
    }
    return oper & BIO_CB_RETURN ? ret : 1;
}

SSL *tls_ssl_new(tls_ctx_t *t, int fd, bool *short_read)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl) return NULL;
    SSL_set_fd(ssl, fd);
    BIO *b = SSL_get_rbio(ssl);
    if (b) {
        BIO_set_callback_arg(b, (char *)short_read);
        BIO_set_callback_ex(b, rd_watch);
    }
    tlsrec_watch(ssl);
    return ssl;
}

void tls_conn_begin(worker_t *w, conn_t *c, tls_ctx_t *t, bool client, const char *host,
                    bool verify_name, const char *what)
{
    c->tls = t;
    c->ssl = tls_ssl_new(t, c->fd, &c->tls_short_read);
    if (client) {
        SSL_set_connect_state(c->ssl);
        bool ip = strchr(host, ':') || (host[0] && isdigit((unsigned char)host[0]) &&
                                        strspn(host, "0123456789.") == strlen(host));
        if (!ip && host[0]) SSL_set_tlsext_host_name(c->ssl, host);
        if (verify_name) {
            if (ip)
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
            else
                SSL_set1_host(c->ssl, host);
        }
    } else {
        SSL_set_accept_state(c->ssl);
    }
    DEBUG("%sStarting TLS %s %s handshake", c->prefix, what, client ? "client" : "server");
    c->tls_due_ns = deadline_after(w->now_ns, t->timeout_ns);
    worker_note_deadline(w, c->tls_due_ns);
    /* the client side speaks first */
    if (client) conn_flush_handshake(w, c);
}
