/* tlsrec.h: TLS 1.3's record layer (RFC 8446 §5 records, §4.6.3 KeyUpdate, §7.1-7.3
 * keys) for a connection whose handshake OpenSSL finished, so that the connection no
 * longer holds an SSL (OpenSSL keeps ~11.8 KB per SSL; this keeps ~300 bytes: the two
 * traffic secrets, keys, IVs and sequence numbers; docs/internals.md "TLS after the
 * handshake").
 *
 * The handshake stays OpenSSL's: tlsrec_watch on the SSL before it records the two
 * application traffic secrets (the keylog callback, which tlsrec_ctx_setup installs on
 * the context) and counts the tickets the server writes under them; reads do not go
 * past a record during it (no read-ahead), so when SSL_do_handshake returns 1 nothing
 * of the peer's application data is inside OpenSSL. tlsrec_take then builds the state
 * (TLS 1.3 with AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305; NULL for anything else,
 * which keeps its SSL) and the caller frees the SSL.
 *
 * After that, tlsrec_recv and tlsrec_send follow transport.h's convention (> 0 bytes,
 * 0 end, -1 would block, -2 error). The caller serialises receives among themselves
 * and sends among themselves; a receive and a send may run at once on two threads (the
 * read and write states are apart: they share only atomics). Bounds: a record not complete yet (at
 * most 16 KiB + 261 bytes), the plaintext of one record the caller had no room for,
 * and the ciphertext of one send the socket did not take (at most TLSREC_SEND_MAX of
 * plaintext, sealed) are each held only until used. A record that fails to decrypt, an
 * alert other than close_notify, a handshake message other than KeyUpdate (or, when we
 * are the client, NewSessionTicket, which is ignored: we never resume) or one split
 * across records ends the connection, as RFC 8446 requires; so do more than 32 records in a
 * row that carry no application data. Our own KeyUpdate goes out
 * before the next data record when the peer asks for one, and after 2^24 records under
 * one key (RFC 8446 §5.5's margin for AES-GCM). */
#ifndef GNATSD_TLSREC_H
#define GNATSD_TLSREC_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tlsrec tlsrec_t;

/* Plaintext sealed per tlsrec_send call (four full records): one send for them all. */
#define TLSREC_SEND_MAX (4 * 16384)

void tlsrec_ctx_setup(SSL_CTX *ctx);
/* On a new SSL, before its handshake. */
void tlsrec_watch(SSL *ssl);
/* After SSL_do_handshake returned 1: the record state, or NULL (keep using ssl; its
 * read-ahead is switched back on). */
tlsrec_t *tlsrec_take(SSL *ssl);
void tlsrec_free(tlsrec_t *r);

/* One read: plaintext into buf (up to room). *drained: the socket read came back short
 * and no plaintext is held back, so the next bytes bring a new edge. */
ssize_t tlsrec_recv(tlsrec_t *r, int fd, char *buf, size_t room, bool *drained);
/* One write of up to TLSREC_SEND_MAX of p: the count of p's bytes taken (sealed; what
 * the socket did not take yet goes out first at the next call). With len 0 it only
 * sends what is held: 0 once all of it went, -1 if some is still held. */
ssize_t tlsrec_send(tlsrec_t *r, int fd, const char *p, size_t len);
/* Sealed bytes the socket did not take yet are held (the caller's buffer is empty of
 * them, but the flush is not done: call tlsrec_send again when the socket has room). */
bool tlsrec_holds(const tlsrec_t *r);
/* Plaintext held back for the next tlsrec_recv. */
bool tlsrec_has_plain(const tlsrec_t *r);

/* What the handshake established. */
const char *tlsrec_cipher_name(const tlsrec_t *r); /* IANA name */
X509 *tlsrec_peer(const tlsrec_t *r);              /* leaf the peer sent, or NULL */
STACK_OF(X509) * tlsrec_peer_chain(const tlsrec_t *r);

/* For tests and fuzzing: a state built from the traffic secrets directly (suite: the
 * IANA id, 0x1301-0x1303), reading with rd and writing with wr. NULL if unknown. */
tlsrec_t *tlsrec_from_secrets(uint16_t suite, bool server, const uint8_t *rd, const uint8_t *wr,
                              size_t len);
/* One record of any inner type (content p[0..k), then pad zero bytes), as a peer could
 * send it: its size at out (room for k + pad + 22), 0 if too big. */
size_t tlsrec_seal_record(tlsrec_t *r, uint8_t type, const char *p, size_t k, size_t pad,
                          char *out);
bool tlsrec_eof(const tlsrec_t *r); /* close_notify came */

#endif
