/* auth.h: client authentication (user/password, token, users list; plain or
 * bcrypt) and authorization (publish/subscribe allow/deny, allow_responses).
 *
 * At CONNECT the authenticated user's permissions are compiled into a
 * per-connection conn_auth (owned by the conn, freed by auth_conn_free), so
 * a reload that changes the options never leaves a connection pointing at
 * freed option memory. Connections with no permissions have c->auth NULL and
 * pay nothing on the delivery path. */
#ifndef GNATSD_AUTH_H
#define GNATSD_AUTH_H

#include "server.h"

struct worker;

bool auth_required(void);
/* Checks CONNECT credentials against the current options; on success sets
 * c->user and c->auth. Logs failures without the secret. */
bool auth_check(conn_t *c, const char *user, const char *pass, const char *token);
void auth_conn_free(conn_t *c);
/* Logs an authentication failure as the reference does:
 * "authentication error" or, with a users list,
 * "authentication error - User \"name\"" (name from CONNECT, "" if none). */
void auth_violation_log(const conn_t *c, const char *user);

/* Deny-filter at delivery time (and allow_responses bookkeeping). Any thread. */
bool auth_deliver_slow(conn_t *c, slice_t subject, slice_t reply);
static inline bool auth_can_deliver(conn_t *c, slice_t subject, slice_t reply)
{
    return c->auth == NULL || auth_deliver_slow(c, subject, reply);
}
/* Owner only: check and, when denied, send the -ERR and log. */
bool auth_can_publish(struct worker *w, conn_t *c, slice_t subject);
bool auth_can_subscribe(struct worker *w, conn_t *c, slice_t subject, slice_t queue);
/* The same, with the SUB's sid in the log line as the reference writes it
 * ("Subscription Violation - User \"u\", Subject \"foo\", SID 6"). */
bool auth_can_subscribe_sid(struct worker *w, conn_t *c, slice_t subject, slice_t queue,
                            slice_t sid);
/* The same verdict without replying or logging (reload re-checks). */
bool auth_sub_allowed(const conn_t *c, slice_t subject, slice_t queue);
/* False only when a users list is configured and `name` is not in it (the
 * reload pass then closes the client silently). */
bool auth_user_exists(const char *name);

/* -ERR helper from client.c */
void client_send_err(struct worker *w, conn_t *c, const char *text);

#endif
