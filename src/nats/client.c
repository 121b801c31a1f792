/* client.c: the client protocol on one connection, on its owner worker:
 * INFO, CONNECT, SUB/UNSUB, PUB (handed to delivery, deliver.c), PING/PONG,
 * timers, reload re-checks, and the client connection kind's handler row.
 * A client's subscriptions are local interest: each one added or removed is
 * told to the routes (route_local_sub_added/removed). */
#include "nats/client.h"
#include "nats/account.h"
#include "nats/imports.h"
#include "nats/latency.h"
#include "nats/mappings.h"
#include "nats/sys.h"
#include "nats/client_connect.h"
#include "nats/auth.h"
#include "core/core.h"
#include "base/json.h"
#include "base/nkeys.h"
#include "base/gofmt.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "core/tls.h"
#include "nats/deliver.h"
#include "nats/gwreply.h"
#include "nats/route.h"
#include "nats/session.h"
#include "nats/subs.h"
#include "nats/proto_loop.h"

#include <stdio.h>
#include <stdlib.h>

/* A client subscription left its account's index: the routes hear of it, and a
 * service response waiting for that subject is forgotten if nobody else wants it. */
static void client_sub_removed(worker_t *w, const sub_t *s)
{
    route_local_sub_removed(w, s);
    imports_sub_gone(s);
}

static void client_sweep_dead_subs(conn_t *c)
{
    uint32_t n;
    sub_t **v = sub_take_dead(c, &n);
    for (uint32_t i = 0; i < n; i++)
        sub_discard(c, v[i], client_sub_removed);
    free(v);
}

/* Secrets are wiped before their memory goes back to the allocator. */
static void set_secret(char **dst, const char *s)
{
    if (*dst) {
        explicit_bzero(*dst, strlen(*dst));
        free(*dst);
    }
    *dst = s ? xstrdup(s) : NULL;
}

static void client_free(conn_t *c)
{
    free(c->name);
    free(c->lang);
    free(c->version);
    free(c->user);
    set_secret(&c->cred_user, NULL);
    set_secret(&c->cred_pass, NULL);
    set_secret(&c->cred_token, NULL);
    set_secret(&c->cred_nkey, NULL);
    set_secret(&c->cred_sig, NULL);
    free(c->cred_jwt);
    free(c->jwt_issuer);
    free(c->jwt_name);
    free(c->nonce);
    gwreply_free(c);
    session_free(c);
}

/* ---- sending helpers ------------------------------------------------------ */

static void send_str(worker_t *w, conn_t *c, const char *s)
{
    conn_send(w, c, s, strlen(s));
}

static void send_ok(worker_t *w, conn_t *c)
{
    send_str(w, c, "+OK\r\n");
    TRACE("%s->> [OK]", c->prefix);
}

static void close_with_err(worker_t *w, conn_t *c, const char *text, close_reason_t r)
{
    session_send_err(w, c, text);
    c->closing = true;
    c->reason = r;
}

static void close_silent(conn_t *c, close_reason_t r)
{
    c->closing = true;
    c->reason = r;
}

/* The server's max_payload, or the account's limits {max_payload} when lower. */
static int max_payload(const conn_t *c)
{
    int mp = srv->opts->max_payload;
    int32_t am = c->acc ? atomic_load_explicit(&c->acc->max_payload, memory_order_relaxed) : -1;
    if (am > 0 && am < mp) mp = am;
    if (c->jwt_limits && c->jwt_max_payload >= 0 && c->jwt_max_payload < mp)
        mp = c->jwt_max_payload;
    return mp;
}

/* Logged in: c counts toward its account, or is closed at the account's limit. */
static bool bind_account(worker_t *w, conn_t *c)
{
    if (account_bind(c, conn_account(c))) {
        sys_client_connected(w, c);
        return true;
    }
    session_conns_exceeded(w, c);
    return false;
}

/* ---- INFO ------------------------------------------------------------------ */

void server_build_info(void)
{
    opts_t *o = srv->opts;
    buf_t prefix = {0};
    buf_t *b = &prefix;
    jw_t w;
    jw_init(&w, b, false);
    jw_obj_begin(&w, NULL);
    info_identity(&w, 1);
    const char *host = o->host;
    int port = srv->port;
    char advhost[256];
    if (o->client_advertise && *o->client_advertise) {
        const char *ca = o->client_advertise;
        const char *colon = strrchr(ca, ':');
        if (colon && (ca[0] != '[' || colon > strchr(ca, ']'))) {
            size_t hl = (size_t)(colon - ca);
            if (hl >= sizeof advhost) hl = sizeof advhost - 1;
            memcpy(advhost, ca, hl);
            advhost[hl] = 0;
            port = atoi(colon + 1);
        } else {
            snprintf(advhost, sizeof advhost, "%s", ca);
        }
        if (advhost[0] == '[') {
            size_t l = strlen(advhost);
            memmove(advhost, advhost + 1, l);
            if (l >= 2 && advhost[l - 2] == ']') advhost[l - 2] = 0;
        }
        host = advhost;
    }
    jw_str(&w, "host", host);
    jw_int(&w, "port", port);
    jw_bool(&w, "headers", !o->no_header_support);
    if (auth_required()) jw_bool(&w, "auth_required", true);
    if (o->tls.enabled) {
        if (!o->allow_non_tls) jw_bool(&w, "tls_required", true);
        if (o->tls.verify || o->tls.verify_and_map) jw_bool(&w, "tls_verify", true);
        if (o->allow_non_tls) jw_bool(&w, "tls_available", true);
    }
    jw_int(&w, "max_payload", o->max_payload);
    /* client_id and client_ip follow per connection: the object is left open. */
    buf_putc(b, 0);
    char *old = atomic_exchange(&srv->info_prefix, prefix.p);
    if (old) qsbr_retire(old, free);
}

static void send_info_ext(worker_t *w, conn_t *c, bool ldm)
{
    buf_t *b = &w->scratch;
    b->len = 0;
    buf_puts(b, "INFO ");
    buf_puts(b, atomic_load(&srv->info_prefix));
    buf_puts(b, ",\"client_id\":");
    buf_put_u64(b, c->cid);
    buf_puts(b, ",\"client_ip\":");
    json_put_string(b, c->ip, strlen(c->ip));
    /* nkey users sign this to log in (made once per connection, at its first INFO) */
    if (!c->nonce && auth_nonce_required()) {
        char n[NKEY_NONCE_LEN + 1];
        if (nkey_nonce(n)) c->nonce = xstrdup(n);
    }
    if (c->nonce) {
        buf_puts(b, ",\"nonce\":\"");
        buf_puts(b, c->nonce);
        buf_putc(b, '"');
    }
    c->info_gen = atomic_load(&srv->info_gen);
    const char *suffix = atomic_load(&srv->info_suffix);
    if (suffix) buf_puts(b, suffix);
    if (ldm) buf_puts(b, ",\"ldm\":true");
    buf_puts(b, "} \r\n");
    conn_send(w, c, b->p, b->len);
}

static void send_info(worker_t *w, conn_t *c)
{
    send_info_ext(w, c, false);
}

void client_send_info_update(worker_t *w, conn_t *c)
{
    if (c->protocol >= 1 && c->pong_sent && !c->closing &&
        c->info_gen != atomic_load(&srv->info_gen))
        send_info_ext(w, c, false);
}

void client_send_info_ldm(worker_t *w, conn_t *c)
{
    if (c->protocol >= 1 && c->pong_sent && !c->closing) send_info_ext(w, c, true);
}

void client_reauth(worker_t *w, conn_t *c)
{
    /* A CONNECT waiting for its password check is checked against the options
     * current when the verdict is back. */
    if (c->closing || c->auth_wait) return;
    if (!auth_required()) {
        auth_conn_clear(c);
        c->auth_ok = true;
        return;
    }
    if (c->user && !auth_user_exists(c->user)) {
        close_silent(c, CR_CLIENT_CLOSED);
        return;
    }
    if (!c->got_connect) {
        /* Not authenticated yet (accepted under auth, CONNECT still to come): its CONNECT
         * is checked against the new options when it arrives, within its auth timeout. */
        if (!c->auth_ok) {
            if (!c->auth_due_ns) {
                c->auth_due_ns = deadline_after(w->now_ns, opts_auth_timeout_ns(srv->opts));
                worker_note_deadline(w, c->auth_due_ns);
            }
            return;
        }
        /* Auth was just turned on for a client that never needed to authenticate. */
        auth_violation_log(c, NULL);
        close_with_err(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        return;
    }
    auth_rc_t rc = auth_check(c, c->cred_user, c->cred_pass, c->cred_token, false);
    if (rc == AUTH_PENDING) return; /* the old permissions hold until the verdict */
    if (rc != AUTH_OK) {
        close_with_err(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        return;
    }
    c->auth_ok = true;
    /* A reload may have changed what the account imports. */
    if (atomic_load(&conn_account(c)->imports)) imports_refresh_subs(w, c);
    /* Subscriptions the new permissions no longer allow are removed. */
    for (uint32_t i = 0; i < c->subs.cap; i++) {
        sub_t *s = c->subs.slots[i];
        if (!s || s == SID_TOMB || atomic_load(&s->closed)) continue;
        if (auth_sub_allowed(c, s->subject, s->queue)) continue;
        char text[1024];
        snprintf(text, sizeof text,
                 "Permissions Violation for Subscription to \"%.*s\" (sid \"%.*s\")",
                 (int)(s->subject.n > 400 ? 400 : s->subject.n), s->subject.p,
                 (int)(s->sid.n > 200 ? 200 : s->sid.n), s->sid.p);
        session_send_err(w, c, text);
        NOTICE("Removed sub \"%.*s\" (sid \"%.*s\") for User \"%s\" - not authorized",
               (int)s->subject.n, s->subject.p, (int)s->sid.n, s->sid.p, c->user ? c->user : "");
        sub_discard(c, s, client_sub_removed);
    }
}

void client_init(conn_t *c)
{
    worker_t *w = c->w;
    opts_t *o = srv->opts;
    c->verbose = true;
    c->pedantic = true;
    c->echo = true;
    DEBUG("%sClient connection created", c->prefix);
    send_info(w, c);
    int64_t maxc = o->max_connections;
    if (maxc > 0 && atomic_load(&srv->num_clients) > maxc) {
        ERROR("%smaximum connections exceeded", c->prefix);
        close_with_err(w, c, "maximum connections exceeded", CR_MAX_CONNECTIONS);
        return;
    }
    if (auth_required()) {
        /* With TLS the auth timer starts once the handshake is done. */
        if (!conn_tls_on(c)) {
            c->auth_due_ns = deadline_after(w->now_ns, opts_auth_timeout_ns(o));
            worker_note_deadline(w, c->auth_due_ns);
        }
    } else {
        c->auth_ok = true;
    }
    c->ping_due_ns = deadline_after(w->now_ns, o->ping_interval_ns);
    worker_note_deadline(w, c->ping_due_ns);
    conn_flush_owned(w, c);
}

void client_tls_done(worker_t *w, conn_t *c)
{
    if (!c->auth_ok) {
        c->auth_due_ns = deadline_after(w->now_ns, opts_auth_timeout_ns(srv->opts));
        worker_note_deadline(w, c->auth_due_ns);
    }
}

/* ---- CONNECT ------------------------------------------------------------- */

static void connect_finish(worker_t *w, conn_t *c);

static void process_connect(worker_t *w, conn_t *c, const op_t *op)
{
    if (log_trace_on) trace_connect(c, op->line);
    connect_info_t ci;
    memset(&ci, 0, sizeof ci);
    ci.c = c;
    ci.verbose = ci.pedantic = ci.echo = ci.headers = ci.no_responders = -1;
    c->auth_due_ns = 0;
    if (op->line.n == 0 || json_parse_object(op->line.p, op->line.n, connect_member, &ci) != 0) {
        ERROR("%sclient parser error: invalid CONNECT", c->prefix);
        close_silent(c, CR_PROTOCOL_VIOLATION);
        return;
    }
    if (ci.verbose >= 0) c->verbose = ci.verbose;
    if (ci.pedantic >= 0) c->pedantic = ci.pedantic;
    if (ci.echo >= 0) c->echo = ci.echo;
    if (ci.headers >= 0) c->headers = ci.headers && !srv->opts->no_header_support;
    if (ci.no_responders >= 0) c->no_responders = ci.no_responders;
    if (ci.has_protocol) c->protocol = ci.protocol < 0 || ci.protocol > 1 ? -1 : (int)ci.protocol;
    set_str_nonempty(&c->name, ci.name);
    set_str_nonempty(&c->lang, ci.lang);
    set_str_nonempty(&c->version, ci.version);
    client_update_prefix(c);
    c->got_connect = true;
    set_secret(&c->cred_user, ci.has_user ? ci.user : NULL);
    set_secret(&c->cred_pass, ci.has_pass ? ci.pass : NULL);
    set_secret(&c->cred_token, ci.has_token ? ci.token : NULL);
    set_secret(&c->cred_nkey, ci.has_nkey ? ci.nkey : NULL);
    set_secret(&c->cred_sig, ci.has_sig ? ci.sig : NULL);
    free(c->cred_jwt);
    c->cred_jwt = NULL;
    if (ci.jwt.n > 2) {
        c->cred_jwt = xmalloc(ci.jwt.n);
        if (json_unquote(ci.jwt, c->cred_jwt, ci.jwt.n) <= 0) c->cred_jwt[0] = 0;
    }
    explicit_bzero(ci.pass, sizeof ci.pass);
    explicit_bzero(ci.token, sizeof ci.token);
    if (ci.account) {
        /* Refused whatever the credentials (the reference checks them first, with
         * the same answer and log line either way). */
        if (auth_required()) auth_violation_log(c, c->cred_user);
        close_with_err(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        return;
    }
    connect_finish(w, c);
}

/* The rest of CONNECT, once the credentials are known: again after a password
 * check's verdict (the connection reads nothing meanwhile). */
static void connect_finish(worker_t *w, conn_t *c)
{
    if (auth_required()) {
        auth_rc_t rc = auth_check(c, c->cred_user, c->cred_pass, c->cred_token, true);
        if (rc == AUTH_PENDING) {
            c->auth_wait = true;
            return;
        }
        if (rc != AUTH_OK) {
            sys_client_auth_error(w, c, c->cred_user);
            close_with_err(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
            return;
        }
        c->auth_ok = true;
    }
    if (!bind_account(w, c)) return;
    if (c->protocol < 0) {
        close_with_err(w, c, "invalid client protocol", CR_BAD_PROTOCOL);
        return;
    }
    if (c->no_responders && !c->headers) {
        close_with_err(w, c, "no responders requires headers support", CR_NO_RESPONDERS_HEADERS);
        return;
    }
    if (c->verbose) send_ok(w, c);
    /* The round trip until the first PONG: the time from accept to CONNECT, as the
     * reference estimates it (service latency results need one at once). */
    int64_t est = now_wall_ns() - c->start_wall_ns;
    atomic_store_explicit(&c->rtt_ns, est > 0 ? est : 1, memory_order_relaxed);
    /* First PING soon after CONNECT to measure RTT: 2 s, up to 1/16 more to meet the
     * grid (the reference adds up to 20 % at random, to spread them; on the grid the
     * PINGs of connections that came together go out in one timer pass). */
    int64_t first = srv->opts->ping_interval_ns;
    if (first > 2000000000LL) first = 2000000000LL;
    c->ping_due_ns = deadline_after(w->now_ns, first);
    c->rtt_pending = true;
    worker_note_deadline(w, c->ping_due_ns);
}

static void no_responders(worker_t *w, conn_t *c, slice_t reply)
{
    const sl_result_t *r = sublist_match(conn_account(c)->sl, reply.p, reply.n);
    for (uint32_t i = 0; i < r->nplain; i++) {
        sub_t *s = r->plain[i];
        if (s->conn != c || atomic_load(&s->closed)) continue;
        char line[512];
        if (reply.n + s->sid.n + 40 > sizeof line) return;
        int n = snprintf(line, sizeof line, "HMSG %.*s %.*s 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
                         (int)reply.n, reply.p, (int)s->sid.n, s->sid.p);
        conn_send(w, c, line, (size_t)n);
        return;
    }
}

/* Reply subjects the reference reserves for its own internal use. */
static bool reserved_reply(slice_t r)
{
    return (r.n >= 4 && memcmp(r.p, "_R_.", 4) == 0) ||
           (r.n >= 8 && memcmp(r.p, "$JS.ACK.", 8) == 0) ||
           (r.n >= 5 && memcmp(r.p, "_GR_.", 5) == 0);
}

/* The gateway reply prefix is the server's own: a client may not publish on it (the
 * reference's permissions violation). */
static void gw_prefix_violation(worker_t *w, conn_t *c, slice_t subj)
{
    char text[1024];
    snprintf(text, sizeof text, "Permissions Violation for Publish to \"%.*s\"",
             (int)(subj.n > 900 ? 900 : subj.n), subj.p);
    ERROR("%sPublish Violation - User \"%s\", Subject \"%.*s\"", c->prefix,
          c->user ? c->user : "N/A", (int)subj.n, subj.p);
    session_send_err(w, c, text);
}

/* Inlined into the protocol loop: the PUB path has no call before delivery. */
static inline __attribute__((always_inline)) void process_pub(worker_t *w, conn_t *c,
                                                              const op_t *op)
{
    if (log_trace_on) {
        log_msg(LOG_TRC, "%s<<- [%s %.*s]", c->prefix, op->type == OP_HPUB ? "HPUB" : "PUB",
                (int)op->line.n, op->line.p);
        log_trace_payload(c->prefix, op->payload, (size_t)op->size, srv->opts->max_traced_msg_len);
    }
    if (op->type == OP_HPUB && !c->headers) {
        ERROR("%smessage headers not supported", c->prefix);
        close_silent(c, CR_PROTOCOL_VIOLATION);
        return;
    }
    count_in(w, c, op->size);
    if (c->pedantic && !subject_valid_literal(op->subject.p, op->subject.n))
        session_send_err(w, c, "Invalid Publish Subject");
    if (unlikely(op->reply.n && (op->reply.p[0] == '_' || op->reply.p[0] == '$')) &&
        reserved_reply(op->reply)) {
        char text[1024];
        snprintf(text, sizeof text, "Permissions Violation for Publish with Reply of \"%.*s\"",
                 (int)(op->reply.n > 900 ? 900 : op->reply.n), op->reply.p);
        ERROR("%sPublish Violation - User \"%s\", Reply \"%.*s\"", c->prefix,
              c->user ? c->user : "N/A", (int)op->reply.n, op->reply.p);
        session_send_err(w, c, text);
        return;
    }
    if (unlikely(op->subject.p[0] == '_') && op->subject.n > 5 &&
        memcmp(op->subject.p, "_GR_.", 5) == 0) {
        gw_prefix_violation(w, c, op->subject);
        return;
    }
    if (!auth_can_publish(w, c, op->subject)) return;
    if (c->verbose) send_ok(w, c);
    /* an answer to a request another server measures (nats/latency.h): its subject is
     * a "_R_." reply (the first byte is at hand; the counter is a shared load) */
    if (unlikely(op->subject.p[0] == '_') &&
        atomic_load_explicit(&latency_remote_live, memory_order_relaxed) > 0)
        latency_answered(w, c, op->subject);
    account_t *acc = conn_account(c);
    slice_t subj = op->subject;
    char mapped[1024];
    /* an answer to a request from another cluster: back to its prefixed reply */
    if (unlikely(atomic_load_explicit(&c->gw_mapped, memory_order_relaxed)) &&
        gwreply_mapped(c, op->subject, mapped, sizeof mapped, &subj)) {
    } else if (unlikely(atomic_load_explicit(&acc->maps, memory_order_relaxed) != NULL))
        mappings_map(acc, w, op->subject, mapped, sizeof mapped, &subj);
    msg_t m = {c,     acc,   subj, op->reply, op->hdr, op->payload, op->size,
               false, false, 0,    {NULL, 0}, 0,       NULL,        {NULL, 0}};
    const sl_result_t *r = sublist_match(acc->sl, subj.p, subj.n);
    int n = deliver_all(w, r, &m);
    if (n == 0 && c->no_responders && op->reply.n) no_responders(w, c, op->reply);
}

static bool too_many_tokens(slice_t subj, int max)
{
    int n = 1;
    for (const char *p = subj.p, *e = subj.p + subj.n; (p = memchr(p, '.', (size_t)(e - p))); p++)
        if (++n > max) return true;
    return false;
}

/* max_sub_tokens: the reference's texts; the subscription is refused, the connection stays. */
static void sub_tokens_violation(worker_t *w, conn_t *c, const op_t *op)
{
    size_t sn = op->subject.n > 400 ? 400 : op->subject.n;
    char subj[900], user[600], text[1000];
    quote_go(subj, sizeof subj, op->subject.p, sn);
    const char *name = c->user && *c->user ? c->user : c->cred_user;
    if (name && *name) {
        memcpy(user, "User ", 5);
        quote_go(user + 5, sizeof user - 5, name, strlen(name));
    } else {
        snprintf(user, sizeof user, "User \"N/A\"");
    }
    snprintf(text, sizeof text, "Permissions Violation for Subscription to %s, too many tokens",
             subj);
    session_send_err(w, c, text);
    ERROR("%sSubscription Violation Too Many Tokens - %s, Subject %s, SID %.*s", c->prefix, user,
          subj, (int)(op->sid.n > 200 ? 200 : op->sid.n), op->sid.p);
}

static void process_sub(worker_t *w, conn_t *c, const op_t *op)
{
    TRACE("%s<<- [SUB %.*s]", c->prefix, (int)op->line.n, op->line.p);
    if (!subject_valid(op->subject.p, op->subject.n)) {
        session_send_err(w, c, "Invalid Subject");
        return;
    }
    if (!auth_can_subscribe_sid(w, c, op->subject, op->queue, op->sid)) return;
    int maxt = srv->opts->max_sub_tokens;
    if (maxt > 0 && too_many_tokens(op->subject, maxt)) {
        sub_tokens_violation(w, c, op);
        return;
    }
    client_sweep_dead_subs(c);
    sub_t *old = sidmap_get(&c->subs, op->sid);
    if (old) {
        if (!atomic_load(&old->closed)) {
            if (c->verbose) send_ok(w, c);
            return;
        }
        sub_discard(c, old, client_sub_removed);
    }
    int maxs = srv->opts->max_subscriptions;
    account_t *acc = conn_account(c);
    int32_t amax = atomic_load_explicit(&acc->max_subs, memory_order_relaxed);
    if (amax >= 0 && (maxs <= 0 || amax < maxs)) maxs = amax == 0 ? -1 : amax;
    if (c->jwt_limits && c->jwt_max_subs >= 0 && (maxs <= 0 || c->jwt_max_subs < maxs))
        maxs = c->jwt_max_subs == 0 ? -1 : c->jwt_max_subs;
    if ((maxs > 0 && c->subs.n >= (uint32_t)maxs) || maxs < 0) {
        ERROR("%smaximum subscriptions exceeded", c->prefix);
        session_send_err(w, c, "maximum subscriptions exceeded");
        return;
    }
    sub_t *s = sub_new(c, op->subject, op->queue, op->sid);
    if (sublist_insert(acc->sl, s) != 0) {
        free(s);
        session_send_err(w, c, "Invalid Subject");
        return;
    }
    sidmap_put(&c->subs, s);
    route_local_sub_added(w, s);
    imports_sub_added(w, c, s);
    if (c->verbose) send_ok(w, c);
}

static void process_unsub(worker_t *w, conn_t *c, const op_t *op)
{
    TRACE("%s<<- [UNSUB %.*s]", c->prefix, (int)op->line.n, op->line.p);
    client_sweep_dead_subs(c);
    sub_t *s = sidmap_get(&c->subs, op->sid);
    if (s) {
        /* A worker may still hold deliveries staged for s: the next PING waits for them
         * (one worker commits its own before reading us). */
        if (srv->nworkers > 1) c->unsub_grace = true;
        int64_t max = op->max;
        if (max > 0) {
            atomic_store(&s->max, max);
            if (atomic_load(&s->delivered) >= max)
                sub_discard(c, s,
                            client_sub_removed); /* the limit is already reached: remove now */
        } else {
            TRACE("%s<-> [DELSUB %.*s]", c->prefix, (int)s->sid.n, s->sid.p);
            sub_discard(c, s, client_sub_removed);
        }
    }
    if (c->verbose) send_ok(w, c);
}

static void parse_error(worker_t *w, conn_t *c, parse_rc_t rc, const op_t *op, const char *buf,
                        size_t len)
{
    switch (rc) {
    case PARSE_ERR_UNKNOWN_OP: {
        size_t off = op->err_offset < len ? op->err_offset : 0;
        size_t sn = len - off > 32 ? 32 : len - off;
        ERROR("%sClient parser ERROR, state=%d, i=%zu: proto='\"%.*s\"...'", c->prefix,
              op->err_state, off, (int)sn, buf + off);
        close_with_err(w, c, "Unknown Protocol Operation", CR_PARSE_ERROR);
        break;
    }
    case PARSE_ERR_CONTROL_LINE:
        ERROR("%smaximum control line exceeded", c->prefix);
        close_with_err(w, c, "maximum control line exceeded", CR_MAX_CONTROL_LINE);
        break;
    case PARSE_ERR_MAX_PAYLOAD:
        ERROR("%smaximum payload exceeded: %lld vs %d", c->prefix, (long long)op->size,
              max_payload(c));
        close_with_err(w, c, "Maximum Payload Violation", CR_MAX_PAYLOAD);
        break;
    default: {
        const char *what = op->type == OP_SUB     ? "processSub Parse Error"
                           : op->type == OP_UNSUB ? "processUnsub Parse Error"
                                                  : "processPub Parse Error";
        ERROR("%s%s: \"%.*s\"", c->prefix, what, (int)op->line.n, op->line.p);
        close_silent(c, CR_PROTOCOL_VIOLATION);
    }
    }
}

/* Before CONNECT only CONNECT may come: judged on its first byte, as the reference
 * does, so nothing else is parsed or buffered first. With a no_auth_user the client
 * is that user from here on (the reference's telnet-friendly path). */
static inline __attribute__((always_inline)) bool client_before(worker_t *w, conn_t *c,
                                                                const char *at)
{
    if (likely(c->auth_ok) || *at == 'C' || *at == 'c') return true;
    if (!auth_login_no_auth_user(c)) {
        auth_violation_log(c, NULL);
        close_with_err(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        return false;
    }
    if (!bind_account(w, c)) return false;
    c->auth_ok = true;
    c->got_connect = true;
    c->auth_due_ns = 0;
    return true;
}

/* Inlined into the loop (proto_loop.h), as the loop body it was. */
static inline __attribute__((always_inline)) proto_next_t client_handle(worker_t *w, conn_t *c,
                                                                        const op_t *op)
{
    if (unlikely(!c->auth_ok) && op->type != OP_CONNECT) { /* "CONTINUE", "CONNECTX" */
        auth_violation_log(c, NULL);
        close_with_err(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        return PROTO_STOP;
    }
    switch (op->type) {
    case OP_PUB:
    case OP_HPUB:
        process_pub(w, c, op);
        break;
    case OP_SUB:
        process_sub(w, c, op);
        break;
    case OP_UNSUB:
        process_unsub(w, c, op);
        break;
    case OP_PING:
        if (unlikely(c->unsub_grace)) { /* read again once the grace period is over */
            conn_unsub_wait(w, c);
            atomic_store_explicit(&c->last_activity_ns, w->now_ns, memory_order_relaxed);
            return PROTO_UNREAD;
        }
        TRACE("%s<<- [PING]", c->prefix);
        send_str(w, c, "PONG\r\n");
        TRACE("%s->> [PONG]", c->prefix);
        if (c->got_connect && !c->pong_sent) {
            c->pong_sent = true;
            client_send_info_update(w, c);
        }
        break;
    case OP_PONG:
        TRACE("%s<<- [PONG]", c->prefix);
        c->ping_out = 0;
        conn_rtt_pong(w, c);
        if (c->rtt_pending && c->last_ping_sent_ns) {
            c->rtt_ns = w->now_ns - c->last_ping_sent_ns;
            c->rtt_pending = false;
        }
        break;
    case OP_CONNECT:
        process_connect(w, c, op);
        break;
    case OP_ERR:
        ERROR("%sClient Error %.*s", c->prefix, (int)op->line.n, op->line.p);
        close_silent(c, CR_CLIENT_ERR);
        break;
    default: /* INFO, +OK from a client: ignored */
        break;
    }
    if (op->type == OP_PUB || op->type == OP_HPUB || op->type == OP_SUB || op->type == OP_UNSUB ||
        op->type == OP_PING)
        atomic_store_explicit(&c->last_activity_ns, w->now_ns, memory_order_relaxed);
    /* A consumer fell behind (conn_read delivers, and pauses us if it still is), or this
     * pass staged its budget. */
    if (unlikely(worker_read_must_stop(w))) return PROTO_STOP;
    return PROTO_NEXT;
}

static const proto_kind_t client_kind = {client_before, parse_error, client_handle};

size_t client_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need)
{
    opts_t *o = srv->opts;
    parse_limits_t lim = {PARSE_CLIENT, o->max_control_line, max_payload(c)};
    client_sweep_dead_subs(c);
    return proto_loop(w, c, &client_kind, &lim, buf, len, need);
}

/* ---- timers ---------------------------------------------------------------- */

void client_timer(worker_t *w, conn_t *c)
{
    int64_t now = w->now_ns;
    client_sweep_dead_subs(c);
    if (c->ssl && !c->tls_done) {
        if (c->tls_due_ns && now >= c->tls_due_ns && c->tls_optional) {
            /* allow_non_tls and not a byte within the TLS timeout: the reference
             * takes such a client as plaintext (its auth timer starts now). */
            conn_tls_plain(w, c);
            return;
        }
        if (c->tls_due_ns && now >= c->tls_due_ns) {
            ERROR("%sTLS handshake timeout", c->prefix);
            close_with_err(w, c, "Secure Connection - TLS Required", CR_TLS_HANDSHAKE);
            return;
        }
        worker_note_deadline(w, c->tls_due_ns);
        return;
    }
    if (c->auth_due_ns && now >= c->auth_due_ns && !c->auth_ok) {
        DEBUG("%sAuthentication Timeout", c->prefix);
        close_with_err(w, c, "Authentication Timeout", CR_AUTH_TIMEOUT);
        return;
    }
    if (c->expires_ns && now >= c->expires_ns) {
        DEBUG("%sUser Authentication Expired", c->prefix);
        close_with_err(w, c, "User Authentication Expired", CR_AUTH_EXPIRED);
        return;
    }
    if (c->expires_ns) worker_note_deadline(w, c->expires_ns);
    int64_t idle = 0;
    switch (conn_ping_tick(w, c, &idle)) {
    case PING_DELAYED:
        DEBUG("%sDelaying PING due to client activity %lldms ago", c->prefix,
              (long long)(idle / 1000000));
        break;
    case PING_STALE:
        DEBUG("%sStale Client Connection - Closing", c->prefix);
        close_with_err(w, c, "Stale Connection", CR_STALE);
        return;
    case PING_SENT:
        DEBUG("%sClient Ping Timer", c->prefix);
        TRACE("%s->> [PING]", c->prefix);
        break;
    case PING_NOT_DUE:
        break;
    }
    /* write_deadline: server.c checks it for every connection kind */
    worker_note_deadline(w, c->ping_due_ns);
    if (c->auth_due_ns && !c->auth_ok) worker_note_deadline(w, c->auth_due_ns);
}

/* ---- monitoring -------------------------------------------------------------- */

static char *dup_opt(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void client_fill_info(conn_t *c, conn_info_t *ci, bool with_subs)
{
    session_fill_info(c, ci, with_subs);
    ci->name = dup_opt(c->name);
    ci->lang = dup_opt(c->lang);
    ci->version = dup_opt(c->version);
    ci->user = dup_opt(c->user);
    ci->jwt = dup_opt(c->cred_jwt);
    ci->issuer_key = dup_opt(c->jwt_issuer);
    ci->name_tag = dup_opt(c->jwt_name);
    ci->account = conn_account(c)->name;
    if (conn_tls_on(c) && c->tls_done) ci->ncerts = tls_conn_peer_certs(c, &ci->certs);
}

/* ---- the client connection kind ------------------------------------------------ */

/* Accepted on the client port: counted, TLS set up (throttled by connection_rate_limit),
 * INFO sent. */
static void client_accept(worker_t *w, conn_t *c, const inq_item_t *it)
{
    (void)it;
    atomic_fetch_add(&srv->num_clients, 1);
    atomic_fetch_add(&srv->total_conns, 1);
    tls_ctx_t *t = atomic_load(&srv->tls_ctx);
    if (t && !conn_tls_rate_ok()) {
        /* connection_rate_limit: handshakes beyond the per-second budget are refused */
        session_send_err(w, c, "Connection throttling is active. Please try again later.");
        c->closing = true;
        c->reason = CR_TLS_HANDSHAKE;
        return;
    }
    if (t) conn_tls_accept(w, c, t, srv->opts->allow_non_tls);
    client_init(c);
}

static void client_closed(conn_t *c)
{
    conn_remember_closed(c);
    session_closed(c, client_sub_removed);
    bool logged_in = c->acc_counted;
    account_unbind(c); /* first: its account's CONNS event counts it out */
    if (logged_in) sys_client_closed(c->w, c);
}

static void client_gone(conn_t *c)
{
    atomic_fetch_sub(&srv->num_clients, 1);
    DEBUG("%sClient connection closed: %s", c->prefix, close_reason_str(c->reason));
}

/* The control plane's commands (worker_command), in this order. */
static void client_command(worker_t *w, conn_t *c, uint32_t cmd)
{
    if (cmd & WCMD_LDM_INFO) client_send_info_ldm(w, c);
    if (cmd & WCMD_INFO) client_send_info_update(w, c);
    if ((cmd & WCMD_PINNED) && conn_tls_on(c) && c->tls_done && !c->closing) {
        tls_ctx_t *t = atomic_load(&srv->tls_ctx);
        if (t && !tls_conn_pinned_ok(t, c)) {
            NOTICE("%sDisconnect client due to pinned certs reload", c->prefix);
            c->closing = true;
            c->reason = CR_TLS_HANDSHAKE;
        }
    }
    if (cmd & WCMD_REAUTH) client_reauth(w, c);
    if ((cmd & WCMD_MAXCONN) && !c->closing && atomic_fetch_sub(&srv->conn_excess, 1) > 0) {
        session_send_err(w, c, "maximum connections exceeded");
        c->closing = true;
        c->reason = CR_MAX_CONNECTIONS;
    }
    if ((cmd & WCMD_ACC_LIMIT) && c->acc_counted && account_take_excess(c, false))
        session_conns_exceeded(w, c);
    if ((cmd & WCMD_LDM_CLOSE) && !c->closing && atomic_fetch_sub(&w->ldm_close_quota, 1) > 0) {
        c->closing = true;
        c->reason = CR_LAME_DUCK;
    }
}

const conn_ops_t client_conn_ops = {
    .kind = CONN_CLIENT,
    .name = "client",
    .tag = "cid",
    .tls_word = "",
    .line_min = 0,
    .deadline_from_progress = false,
    .pausable = true,
    .init = client_accept,
    .process = client_process,
    .timer = client_timer,
    .tls_done = client_tls_done,
    .send_err = session_send_err,
    .closed = client_closed,
    .gone = client_gone,
    .free = client_free,
    .fill_info = client_fill_info,
    .command = client_command,
    .connect_verdict = connect_finish,
    .can_move = auth_settled,
};

size_t server_snapshot_conns(conn_info_t **out, bool with_subs)
{
    return conn_snapshot(&client_conn_ops, out, with_subs);
}
