/* client.h: the client protocol (client.c): its connection kind (client_conn_ops,
 * the handler table the core's listener and loop use), INFO, and what the
 * control plane and the monitor take from it (re-checks after a reload,
 * monitoring info). */
#ifndef GNATSD_CLIENT_H
#define GNATSD_CLIENT_H

#include "core/core.h"

/* The client connection kind (accepted on the client port). */
extern const conn_ops_t client_conn_ops;

/* Open client connections, in cid order (conn_snapshot). */
size_t server_snapshot_conns(conn_info_t **out, bool with_subs);

void client_init(conn_t *c);                  /* sends INFO, arms timers */
void client_tls_done(worker_t *w, conn_t *c); /* handshake finished: start the auth timer */
/* Processes bytes; returns how many were consumed. Sets c->closing on errors. */
size_t client_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need);
void client_timer(worker_t *w, conn_t *c); /* owner's tick when a deadline passed */
void client_fill_info(conn_t *c, conn_info_t *ci, bool with_subs);
void client_send_info_update(worker_t *w, conn_t *c);
void server_build_info(void);
void client_send_info_ldm(worker_t *w, conn_t *c);
void client_reauth(worker_t *w, conn_t *c);

#endif
