/* session.h: what the client and route connection kinds share on a connection
 * (session.c), on its owner worker unless said otherwise. Each kind's handler
 * table row (client.c, route.c) calls these and adds its own part. */
#ifndef GNATSD_SESSION_H
#define GNATSD_SESSION_H

#include "core/core.h"
#include "nats/subs.h"

struct jw;

/* -ERR 'text' (the reference's quoting): both kinds' send_err. */
void session_send_err(worker_t *w, conn_t *c, const char *text);
/* A server peer (route, gateway, leaf node) is closed for reason r after this batch
 * (the first reason given stays, as the reference's); session_err_close sends
 * -ERR 'text' first. */
void session_close(conn_t *c, close_reason_t r);
void session_err_close(worker_t *w, conn_t *c, const char *text, close_reason_t r);
/* c (a client or a leaf node) is over its account's connection limit: logged, -ERR
 * 'maximum account active connections exceeded', closed. */
void session_conns_exceeded(worker_t *w, conn_t *c);
/* A server peer's timer while its TLS handshake runs (route, gateway, leaf node): closes
 * it once the handshake's deadline passed ("TLS <kind> handshake error: timeout"), else
 * keeps the deadline noted. True while the handshake is not done (the timer stops). */
bool session_tls_wait(worker_t *w, conn_t *c);
/* A server peer's PING (answered with PONG) and PONG (the round trip it ends). */
void session_peer_ping(worker_t *w, conn_t *c);
void session_peer_pong(worker_t *w, conn_t *c);
/* A server peer's bytes did not parse: an unknown operation is logged as the
 * reference's "<Kind> parser ERROR" (kind: "Route", "Gateway", "Leafnode") and answered
 * with -ERR 'Unknown Protocol Operation'; anything else closes as a protocol
 * violation. */
void session_peer_parse_error(worker_t *w, conn_t *c, parse_rc_t rc, const op_t *op,
                              const char *kind);
/* Queues bytes for c from any thread: staged on w (c's owner or not), or written
 * under c's lock when w is NULL (a thread that is no worker). */
bool session_send(worker_t *w, conn_t *c, const char *p, size_t n);
/* The identity fields every INFO starts with (client and route INFO). */
void info_identity(struct jw *w, int proto);
/* Closing: an auth check in flight abandoned, every sub removed (`removed` told of each). */
void session_closed(conn_t *c, sub_removed_fn removed);
/* qsbr, no reader left: the sid map, the partial read, the auth state. */
void session_free(conn_t *c);
/* Queues bytes for c from any thread: staged on w (c's owner or not), or written under
 * c's lock when w is NULL (a thread that is no worker). False if c is closed. */
bool session_send(worker_t *w, conn_t *c, const char *p, size_t n);
/* The snapshot fields every kind has (counters, TLS, subs), for monitoring. */
void session_fill_info(conn_t *c, conn_info_t *ci, bool with_subs);

#endif
