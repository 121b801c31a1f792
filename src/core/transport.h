/* transport.h: one read or one write on a socket, plain or TLS, with one return
 * convention for every user (worker connections: conn_recv and flush_run; the
 * monitoring port's connections: monitor.c):
 *
 *   > 0  bytes read or written
 *     0  recv only: the peer's orderly end (EOF, a TLS close_notify, or a TLS peer
 *        that closed its socket without one: SSL_ERROR_SYSCALL with errno 0)
 *    -1  would block (EAGAIN/EWOULDBLOCK; a TLS call wanting to read or write): try
 *        again at the socket's next readiness
 *    -2  error: errno kept for a plain socket; the OpenSSL error queue is cleared
 *
 * Both retry EINTR themselves (an edge-triggered caller that took it for "would block"
 * would wait for an edge that already came; no thread here takes signals, so it is only
 * a guard) and send never raises SIGPIPE. A TLS call starts with an empty error queue,
 * as SSL_get_error requires. A TLS 1.3 connection past its handshake has no SSL:
 * tlsrec_recv/tlsrec_send (core/tlsrec.h) keep this convention for it. ssl NULL = plain; with ssl
 * the caller serialises every call on it (the core holds the connection's out_lock). Static inline:
 * these sit on the write path of every flush. */
#ifndef GNATSD_TRANSPORT_H
#define GNATSD_TRANSPORT_H

#include "base/os.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <limits.h>

static inline ssize_t transport_recv(int fd, SSL *ssl, char *buf, size_t room)
{
    if (!ssl) {
        for (;;) {
            ssize_t n = os_recv(fd, buf, room);
            if (n >= 0) return n;
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
        }
    }
    ERR_clear_error();
    int n = SSL_read(ssl, buf, room > INT_MAX ? INT_MAX : (int)room);
    if (n > 0) return n;
    int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -1;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    ERR_clear_error();
    return e == SSL_ERROR_SYSCALL && errno == 0 ? 0 : -2;
}

static inline ssize_t transport_send(int fd, SSL *ssl, const char *p, size_t len)
{
    if (!ssl) {
        for (;;) {
            ssize_t n = os_send(fd, p, len);
            if (n > 0) return n;
            if (n < 0 && errno == EINTR) continue;
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
        }
    }
    ERR_clear_error();
    int n = SSL_write(ssl, p, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0) return n;
    int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return -1;
    ERR_clear_error();
    return -2;
}

#endif
