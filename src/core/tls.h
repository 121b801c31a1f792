/* tls.h: OpenSSL contexts built from tls_opts_t, and the few helpers the
 * connection layer needs (pinned certificate check, names for log lines).
 *
 * A tls_ctx_t is reference counted: the server holds one for new
 * connections, every TLS connection holds one for its lifetime, so a reload
 * can swap the server's context while old connections keep theirs. */
#ifndef GNATSD_TLS_H
#define GNATSD_TLS_H

#include "conf/opts.h"

#include <openssl/ssl.h>
#include <stdatomic.h>

typedef struct tls_ctx {
    SSL_CTX *ctx;
    _Atomic int refs;
    char **pinned; /* lower-case hex SHA-256 of SubjectPublicKeyInfo; owned */
    size_t npinned;
    int64_t timeout_ns;
    bool verify;
} tls_ctx_t;

/* Server side (client port, accepted routes, HTTPS). require_peer forces
 * client-certificate verification (routes). NULL with err on failure. */
tls_ctx_t *tls_ctx_server(const tls_opts_t *o, bool require_peer, char *err, size_t errlen);
/* Dialing side (solicited routes). */
tls_ctx_t *tls_ctx_client(const tls_opts_t *o, char *err, size_t errlen);
tls_ctx_t *tls_ctx_ref(tls_ctx_t *t);
/* TLS first on a connection (nothing in plaintext before): c takes t (a reference the
 * caller gave it), the client side (we dialled) sends SNI for a name and checks the
 * peer's certificate for host (a name or an IP) when verify_name, the handshake
 * deadline is t's timeout; what names the kind in the debug line ("route"). */
struct worker;
struct conn;
void tls_conn_begin(struct worker *w, struct conn *c, tls_ctx_t *t, bool client, const char *host,
                    bool verify_name, const char *what);
void tls_ctx_unref(tls_ctx_t *t);
/* A context swapped out by a reload: unreferenced once no worker can still be between
 * loading it and taking its reference (QSBR). NULL: nothing. */
void tls_ctx_retire(tls_ctx_t *t);

/* A connection's TLS facts, from its SSL or, once tlsrec took the connection over
 * (core/tlsrec.h), from what it kept. */
bool tls_conn_pinned_ok(const tls_ctx_t *t, const struct conn *c);
const char *tls_conn_version(const struct conn *c);              /* "1.2", "1.3" */
void tls_conn_cipher(const struct conn *c, char *out, size_t n); /* IANA name */
/* Whether OpenSSL holds bytes read from the socket but not yet returned by SSL_read. */
bool tls_has_pending(const SSL *ssl);
/* The same for a connection: its SSL's, or plaintext tlsrec holds back. */
bool tls_conn_pending(const struct conn *c);
/* A connection's SSL on its socket. *short_read (the connection's, used under its out_lock
 * like the SSL) is set when a socket read OpenSSL makes returns less than it asked for,
 * which drained the socket as a short plain read does. */
SSL *tls_ssl_new(tls_ctx_t *t, int fd, bool *short_read);
/* After an SSL_read that returned data (*short_read cleared before it): the socket was
 * drained and OpenSSL holds nothing more, so the next bytes bring a new edge and reading on
 * would only find "would block" (one failed read() per wake-up saved, two with the read
 * loop's). */
static inline bool tls_drained(const SSL *ssl, bool short_read)
{
    return short_read && !tls_has_pending(ssl);
}
/* A certificate the peer sent, as the reference's /connz shows it (auth=true). */
typedef struct tls_peer_cert {
    char *subject;        /* owned; Go's pkix.Name form: "CN=x,O=y,C=z" */
    char spki_sha256[65]; /* hex SHA-256 of the SubjectPublicKeyInfo */
    char cert_sha256[65]; /* hex SHA-256 of the whole certificate */
} tls_peer_cert_t;
/* The peer's certificates, leaf first; count returned, *out owned by the caller. */
size_t tls_conn_peer_certs(const struct conn *c, tls_peer_cert_t **out);
void tls_peer_certs_free(tls_peer_cert_t *v, size_t n);
/* The reason of the last OpenSSL error (or errno), for "TLS handshake error: ..." */
void tls_last_error(char *out, size_t n);
/* The same for a failed handshake on ssl, in the reference's words where they differ. */
void tls_handshake_error(const SSL *ssl, char *out, size_t n);

#endif
