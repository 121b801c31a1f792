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
