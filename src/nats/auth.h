/* auth.h: client authentication (user/password, token, users list; plain or
 * bcrypt) and authorization (publish/subscribe allow/deny, allow_responses).
 *
 * Permissions: at CONNECT (and after a reload) the authenticated user's
 * permissions are compiled into an immutable auth_perms_t and published in
 * c->perms with one atomic store; the set it replaces is retired through
 * qsbr, because deliverers on other workers read c->perms without a lock
 * during their batch. Connections with no permissions have c->perms NULL and
 * pay one load on the delivery path.
 *
 * Reply permissions (allow_responses): every reply subject delivered to such
 * a connection is remembered in a per-connection map (c->resp, created once by
 * the owner and freed with the connection) that the connection may then
 * publish to, max times (default 1) within expires (default 2 min). The map
 * is bounded: at most RESP_MAX_ENTRIES subjects and RESP_MAX_BYTES of subject
 * text; beyond that the oldest entry is forgotten first. Lookups and inserts
 * are O(1) (keyed hash) under the map's mutex.
 *
 * Password checks: bcrypt is slow on purpose (~0.1 s at cost 11), so it never
 * runs on a worker. auth_check answers AUTH_PENDING and queues the check on a
 * small pool of auth threads (AUTH_THREADS, at most AUTH_QUEUE_MAX waiting);
 * the verdict comes back to the connection's owner worker (WCMD_AUTH). A CONNECT
 * that waits (client or route: c->auth_wait, the connection reads nothing meanwhile)
 * goes on in its kind's connect_verdict (the conn_ops_t row), then the bytes the peer
 * sent after it are processed (conn_resume); else a reload's re-check does (the row's
 * command, WCMD_REAUTH). The same check then finds the verdict cached on the connection. A
 * connection remembers the bcrypt hash its credentials were verified against, so a reload that
 * keeps the hash does not check again. */
#ifndef GNATSD_AUTH_H
#define GNATSD_AUTH_H

#include "core/server.h"

struct worker;

#define RESP_MAX_ENTRIES 4096    /* reply subjects remembered per connection */
#define RESP_MAX_BYTES (1 << 20) /* their total length */
#define AUTH_THREADS_MAX 4       /* password-check threads: min(this, cores/2), at least 1 */
#define AUTH_QUEUE_MAX 1024      /* checks waiting for a thread; more are refused */

typedef struct auth_perms auth_perms_t;

typedef enum auth_rc { AUTH_OK = 0, AUTH_FAIL, AUTH_PENDING, AUTH_BUSY } auth_rc_t;

bool auth_required(void);
/* nkey users are configured: every client's INFO carries a nonce for them to sign. */
bool auth_nonce_required(void);
/* Checks credentials against the current options; on success sets c->user and
 * c->perms. No user, password or token at all means the no_auth_user, if any
 * (with its configured password, as the reference substitutes it). Logs failures without the
 * secret. AUTH_PENDING: a password check runs on the auth pool, the CONNECT's continuation is
 * called on the owner when it is done (call auth_check again then). AUTH_BUSY: the pool's queue is
 * full (logged; treat as a failure). Owner only. */
auth_rc_t auth_check(conn_t *c, const char *user, const char *pass, const char *token,
                     bool connect);
/* Owner, before any CONNECT: logs c in as the no_auth_user (no password, as the
 * reference does), if one is configured and exists. False otherwise. */
bool auth_login_no_auth_user(conn_t *c);
/* The one password comparison, for every connection kind: plain texts compared in
 * constant time, a bcrypt hash on the pool (AUTH_PENDING until its verdict for exactly
 * this hash and secret is back; `connect`: a CONNECT waits for it, else a reload's
 * re-check). AUTH_BUSY: the pool's queue is full (logged). Owner only. */
auth_rc_t auth_secret_check(conn_t *c, const char *configured, const char *given, bool connect);
/* Owner: the connection closes; a check in flight is abandoned. */
void auth_conn_closed(conn_t *c);
/* No password check or account lookup of c's is in flight (its verdict goes back to the
 * worker that asked: c may not move to another one meanwhile). */
bool auth_settled(const conn_t *c);
/* Freeing the connection (no reader left): permissions, reply map, cache. */
void auth_conn_free(conn_t *c);
/* Owner: drop the permissions (auth turned off by a reload). */
void auth_conn_clear(conn_t *c);
/* Owner worker: verdicts the auth pool sent back (WCMD_AUTH). */
void auth_run_verdicts(struct worker *w);
/* Logs an authentication failure as the reference does:
 * "authentication error" or, with a users list,
 * "authentication error - User \"name\"" (name from CONNECT, "" if none). */
void auth_violation_log(const conn_t *c, const char *user);

/* Deny-filter at delivery time (and allow_responses bookkeeping). Any thread,
 * during a batch (p is c->perms as loaded by the caller). */
bool auth_deliver_slow(conn_t *c, const auth_perms_t *p, slice_t subject, slice_t reply);
static inline bool auth_can_deliver(conn_t *c, slice_t subject, slice_t reply)
{
    const auth_perms_t *p = atomic_load_explicit(&c->perms, memory_order_acquire);
    return p == NULL || auth_deliver_slow(c, p, subject, reply);
}
/* Owner only: check and, when denied, send the -ERR and log. */
bool auth_can_publish(struct worker *w, conn_t *c, slice_t subject);
/* The same for a SUB, with its sid in the log line as the reference writes it
 * ("Subscription Violation - User \"u\", Subject \"foo\", SID 6"). */
bool auth_can_subscribe_sid(struct worker *w, conn_t *c, slice_t subject, slice_t queue,
                            slice_t sid);
/* The same verdict without replying or logging (reload re-checks). */
bool auth_sub_allowed(const conn_t *c, slice_t subject, slice_t queue);
/* A leaf node's permissions (docs/leafnodes.md §4): does c's publish (publish) or
 * subscribe list allow subject, its tokens taken literally (wildcards included)? True
 * without permissions. Any thread. */
bool auth_perm_allows(const conn_t *c, bool publish, slice_t subject);
/* c's publish or subscribe list as the reference's SubjectPermission JSON ({"allow":
 * [...],"deny":[...]}) under key; nothing without one. */
struct jw;
void auth_perm_json(struct jw *j, const char *key, const conn_t *c, bool publish);
/* Owner: c's permissions become p (compiled; NULL: none). */
void auth_set_perms(conn_t *c, const permissions_t *p);
/* False only when a users list is configured and `name` is not in it (the
 * reload pass then closes the client silently). */
bool auth_user_exists(const char *name);

#endif
