/* session.c: what every protocol connection kind (client, route) shares on its
 * owner worker, beyond the byte loop (proto_loop.h): -ERR, the identity INFO
 * starts with, the subs and auth state dropped at close and free, and the
 * monitoring snapshot's common fields. Each kind's row (client.c, route.c)
 * calls these and adds its own part; nothing here knows a kind. */
#include "nats/session.h"
#include "nats/auth.h"
#include "nats/subs.h"
#include "core/core.h"
#include "core/tls.h"
#include "base/json.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>

/* -ERR 'text' (the reference's quoting). */
void session_send_err(worker_t *w, conn_t *c, const char *text)
{
    /* Any length, whole: one conn_send, so the line is never cut or split. */
    size_t tn = strlen(text), n = tn + 9;
    char stack[1024];
    char *line = n <= sizeof stack ? stack : xmalloc(n);
    memcpy(line, "-ERR '", 6);
    memcpy(line + 6, text, tn);
    memcpy(line + 6 + tn, "'\r\n", 3);
    conn_send(w, c, line, n);
    if (line != stack) free(line);
    TRACE("%s->> [-ERR %s]", c->prefix, text);
}

void session_close(conn_t *c, close_reason_t r)
{
    if (!c->closing) c->reason = r;
    c->closing = true;
}

bool session_tls_wait(worker_t *w, conn_t *c)
{
    if (!c->ssl || c->tls_done) return false;
    if (c->tls_due_ns && w->now_ns >= c->tls_due_ns) {
        ERROR("%sTLS %shandshake error: timeout", c->prefix, c->ops->tls_word);
        session_close(c, CR_TLS_HANDSHAKE);
        return true;
    }
    worker_note_deadline(w, c->tls_due_ns);
    return true;
}

void session_err_close(worker_t *w, conn_t *c, const char *text, close_reason_t r)
{
    session_send_err(w, c, text);
    session_close(c, r);
}

void session_conns_exceeded(worker_t *w, conn_t *c)
{
    ERROR("%smaximum account active connections exceeded", c->prefix);
    session_err_close(w, c, "maximum account active connections exceeded",
                      CR_MAX_ACCOUNT_CONNECTIONS);
}

void session_peer_ping(worker_t *w, conn_t *c)
{
    TRACE("%s<<- [PING]", c->prefix);
    conn_send(w, c, "PONG\r\n", 6);
}

void session_peer_pong(worker_t *w, conn_t *c)
{
    TRACE("%s<<- [PONG]", c->prefix);
    c->ping_out = 0;
    c->rtt_pending = false;
    if (c->last_ping_sent_ns && !c->rtt_ns) c->rtt_ns = w->now_ns - c->last_ping_sent_ns;
}

void session_peer_parse_error(worker_t *w, conn_t *c, parse_rc_t rc, const op_t *op,
                              const char *kind)
{
    if (rc == PARSE_ERR_UNKNOWN_OP) {
        ERROR("%s%s parser ERROR, state=%d, i=%zu", c->prefix, kind, op->err_state, op->err_offset);
        session_err_close(w, c, "Unknown Protocol Operation", CR_PARSE_ERROR);
    } else {
        session_close(c, CR_PROTOCOL_VIOLATION);
    }
}

void info_identity(jw_t *w, int proto)
{
    jw_str(w, "server_id", srv->server_id);
    jw_str(w, "server_name", srv->server_name);
    jw_str(w, "version", SERVER_VERSION);
    jw_int(w, "proto", proto);
    jw_str(w, "go", SERVER_GO_VERSION);
}

void session_closed(conn_t *c, sub_removed_fn removed)
{
    auth_conn_closed(c);
    /* Those a deliverer closed are in the map too: the loop discards them, and each
     * discard then finds an empty dead list instead of searching it. */
    uint32_t ndead;
    free(sub_take_dead(c, &ndead));
    for (uint32_t i = 0; i < c->subs.cap; i++) {
        sub_t *s = c->subs.slots[i];
        if (s && s != SID_TOMB) sub_discard(c, s, removed);
    }
    sidmap_free(&c->subs);
}

void session_free(conn_t *c)
{
    sidmap_free(&c->subs);
    free(c->part);
    auth_conn_free(c);
}

void session_fill_info(conn_t *c, conn_info_t *ci, bool with_subs)
{
    memset(ci, 0, sizeof *ci);
    ci->cid = c->cid;
    ci->kind = c->kind;
    memcpy(ci->ip, c->ip, sizeof ci->ip);
    ci->port = c->port;
    ci->start_wall_ns = c->start_wall_ns;
    int64_t last = atomic_load_explicit(&c->last_activity_ns, memory_order_relaxed);
    ci->last_activity_wall_ns = srv->start_wall_ns + (last - srv->start_mono_ns);
    if (ci->last_activity_wall_ns < c->start_wall_ns) ci->last_activity_wall_ns = c->start_wall_ns;
    ci->rtt_ns = c->rtt_ns;
    spin_lock(&c->out_lock);
    ci->pending_bytes = conn_out_pending(c);
    ci->out_msgs = c->out_msgs;
    ci->out_bytes = c->out_bytes;
    spin_unlock(&c->out_lock);
    ci->in_msgs = c->in_msgs;
    ci->in_bytes = c->in_bytes;
    if (conn_tls_on(c) && c->tls_done) {
        snprintf(ci->tls_version, sizeof ci->tls_version, "%s", tls_conn_version(c));
        tls_conn_cipher(c, ci->tls_cipher, sizeof ci->tls_cipher);
    }
    uint32_t live = 0;
    for (uint32_t i = 0; i < c->subs.cap; i++) {
        sub_t *s = c->subs.slots[i];
        if (s && s != SID_TOMB && !atomic_load(&s->closed)) live++;
    }
    ci->num_subs = live;
    if (!with_subs || !live) return;
    ci->subs = xcalloc(live, sizeof *ci->subs);
    for (uint32_t i = 0; i < c->subs.cap && ci->nsubs < live; i++) {
        sub_t *s = c->subs.slots[i];
        if (!s || s == SID_TOMB || atomic_load(&s->closed)) continue;
        sub_info_t *si = &ci->subs[ci->nsubs++];
        si->subject = xstrndup(s->subject.p, s->subject.n);
        si->queue = s->queue.n ? xstrndup(s->queue.p, s->queue.n) : NULL;
        si->sid = xstrndup(s->sid.p, s->sid.n);
        si->msgs = (uint64_t)atomic_load(&s->delivered);
        si->max = atomic_load(&s->max);
    }
}

bool session_send(worker_t *w, conn_t *c, const char *p, size_t n)
{
    if (w) return conn_send(w, c, p, n);
    spin_lock(&c->out_lock);
    if (c->out_closed) {
        spin_unlock(&c->out_lock);
        return false;
    }
    buf_append_out(&c->out, p, n);
    spin_unlock(&c->out_lock);
    conn_flush(c);
    return true;
}
