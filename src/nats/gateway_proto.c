/* gateway_proto.c: the gateway protocol on one connection, on its owner worker, and
 * what crosses gateways (docs/gateways.md).
 *
 * Inbound (a remote server dialled us): our INFO first; its CONNECT (the gateway's
 * name, our gateway authorization) and INFO register it; it then gets this cluster's
 * interest: every queue group (RS+ ... 1), and per account the start command, the
 * account's plain subscriptions and the end command (the interest-only mode); later
 * changes as RS+/RS-. It sends us messages (RMSG/HMSG), delivered to local
 * subscribers and routes. It may not send RS+/RS- (closed, as the reference does).
 *
 * Outbound (we dialled): its INFO first, answered with CONNECT and our INFO; its
 * RS+/RS- become subs of this connection in the account's index (sub_remote_set),
 * which is how delivery finds it; its gossip INFOs name other gateways to dial.
 *
 * Replies: a message's reply crosses as "_GR_.<our cluster>.<our server>.reply". A
 * subscriber in the other cluster is given the plain reply, and its answer on it is
 * mapped back to the prefixed form (nats/gwreply.h),
 * which goes straight to the cluster and server it names. */
#include "nats/gateway.h"
#include "nats/gateway_int.h"
#include "nats/account.h"
#include "nats/auth.h"
#include "nats/deliver.h"
#include "nats/proto_loop.h"
#include "nats/route.h"
#include "nats/leaf.h"
#include "nats/route_fwd.h"
#include "nats/session.h"
#include "nats/subs.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/log.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- sending ------------------------------------------------------------------ */

static void send_info(worker_t *w, conn_t *c)
{
    buf_t b = {0};
    buf_puts(&b, "INFO ");
    pthread_mutex_lock(&G.mu);
    gw_info_json(&b);
    pthread_mutex_unlock(&G.mu);
    buf_puts(&b, "\r\n");
    session_send(w, c, b.p, b.len);
    buf_free(&b);
}

static void send_connect(worker_t *w, conn_t *c)
{
    opts_t *o = srv->opts;
    char host[256], user[256], pass[256];
    int port;
    route_url_split(c->gw->url ? c->gw->url : "", host, sizeof host, &port, user, sizeof user, pass,
                    sizeof pass);
    if (!user[0] && o->gateway.user) {
        snprintf(user, sizeof user, "%s", o->gateway.user);
        snprintf(pass, sizeof pass, "%s", o->gateway.password ? o->gateway.password : "");
    }
    buf_t b = {0};
    jw_t j;
    buf_puts(&b, "CONNECT ");
    jw_init(&j, &b, false);
    jw_obj_begin(&j, NULL);
    jw_bool(&j, "echo", false);
    jw_bool(&j, "verbose", false);
    jw_bool(&j, "pedantic", false);
    if (user[0]) {
        jw_str(&j, "user", user);
        jw_str(&j, "pass", pass);
    }
    jw_bool(&j, "tls_required", conn_tls_on(c));
    jw_bool(&j, "headers", false);
    jw_str(&j, "name", srv->server_id);
    jw_str(&j, "cluster", "");
    jw_str(&j, "gateway", G.name);
    jw_obj_end(&j);
    buf_puts(&b, "\r\n");
    session_send(w, c, b.p, b.len);
    explicit_bzero(b.p, b.len);
    buf_free(&b);
    explicit_bzero(pass, sizeof pass);
    DEBUG("%sGateway connect protocol sent to \"%s\"", c->prefix, c->gw->name);
}

/* INFO with a gateway command (2: an account's interest starts, 3: it is complete),
 * in the reference's bare form. */
static void send_cmd(worker_t *w, conn_t *c, int cmd, const char *acc, size_t acc_len)
{
    char b64[400];
    if (acc_len > 280) return; /* names are bounded far below */
    int n = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)acc, (int)acc_len);
    char line[700];
    int ln = snprintf(line, sizeof line,
                      "INFO {\"server_id\":\"\",\"server_name\":\"\",\"version\":\"\",\"proto\":0,"
                      "\"go\":\"\",\"host\":\"\",\"port\":0,\"headers\":false,\"max_payload\":0,"
                      "\"gateway\":\"%s\",\"gateway_cmd\":%d,\"gateway_cmd_payload\":\"%.*s\"}\r\n",
                      G.name, cmd, n, b64);
    if (ln > 0 && (size_t)ln < sizeof line) session_send(w, c, line, (size_t)ln);
}

static bool acc_given(const struct gw_info *gi, const char *acc, size_t n)
{
    for (size_t i = 0; i < gi->naccs; i++)
        if (strlen(gi->accs[i]) == n && memcmp(gi->accs[i], acc, n) == 0) return true;
    return false;
}

void gw_send_account_locked(worker_t *w, conn_t *in, const char *acc, size_t acc_len)
{
    struct gw_info *gi = in->gw;
    if (acc_given(gi, acc, acc_len)) return;
    if (gi->naccs == gi->capaccs) {
        gi->capaccs = gi->capaccs ? gi->capaccs * 2 : 8;
        gi->accs = xrealloc(gi->accs, gi->capaccs * sizeof *gi->accs);
    }
    gi->accs[gi->naccs++] = xstrndup(acc, acc_len);
    DEBUG("%sGateway \"%s\": switching account \"%.*s\" to Interest-Only mode", in->prefix,
          gi->name, (int)acc_len, acc);
    send_cmd(w, in, 2, acc, acc_len);
    buf_t b = {0};
    for (IKMAP_EACH(&G.interest, i, k)) {
        if (k->len != k->subj_end || k->acc_len != acc_len || memcmp(k->key, acc, acc_len) != 0)
            continue;
        buf_reserve(&b, k->len + 16);
        b.len +=
            route_interest_line(b.p + b.len, k->len + 16, k->key, k->len, k->subj_end, 1, true);
        if (b.len > 60000) {
            session_send(w, in, b.p, b.len);
            b.len = 0;
        }
    }
    if (b.len) session_send(w, in, b.p, b.len);
    buf_free(&b);
    send_cmd(w, in, 3, acc, acc_len);
}

/* A newly registered inbound: every queue group, then every account's interest. */
static void send_interest_locked(worker_t *w, conn_t *in)
{
    buf_t b = {0};
    for (IKMAP_EACH(&G.interest, i, k)) {
        if (k->len == k->subj_end) continue;
        buf_reserve(&b, k->len + 16);
        b.len +=
            route_interest_line(b.p + b.len, k->len + 16, k->key, k->len, k->subj_end, 1, true);
        if (b.len > 60000) {
            session_send(w, in, b.p, b.len);
            b.len = 0;
        }
    }
    if (b.len) session_send(w, in, b.p, b.len);
    buf_free(&b);
    DEBUG("%sSent queue subscriptions to gateway", in->prefix);
    for (IKMAP_EACH(&G.interest, i, k))
        if (k->len == k->subj_end) gw_send_account_locked(w, in, k->key, k->acc_len);
}

void gateway_interest(worker_t *w, const char *acc, size_t acc_len, slice_t subject, slice_t queue,
                      int delta)
{
    if (!atomic_load_explicit(&gateway_on, memory_order_relaxed)) return;
    char stack[512];
    size_t n;
    char *k = ikey_build(stack, sizeof stack, acc, acc_len, subject, queue, &n);
    size_t subj_end = acc_len + 1 + subject.n;
    pthread_mutex_lock(&G.mu);
    int64_t after;
    int64_t before = ikmap_add(&G.interest, k, n, acc_len, subj_end, delta, &after);
    bool first = before <= 0 && after > 0, last = before > 0 && after <= 0;
    if ((first || last) && G.nin) {
        char line[1100];
        char *lp = n + 32 < sizeof line ? line : xmalloc(n + 32);
        size_t ln = route_interest_line(lp, n + 32, k, n, subj_end, 1, first);
        for (size_t i = 0; i < G.nin; i++) {
            conn_t *in = G.in[i];
            if (queue.n || acc_given(in->gw, acc, acc_len))
                session_send(w, in, lp, ln);
            else if (first)
                gw_send_account_locked(w, in, acc, acc_len); /* holds this key already */
        }
        if (lp != line) free(lp);
    }
    pthread_mutex_unlock(&G.mu);
    if (k != stack) free(k);
}

/* ---- messages ---------------------------------------------------------------- */

int gateway_deliver_reply(worker_t *w, const msg_t *m)
{
    const char *s = m->subject.p;
    const char *ch = s + 5, *sh = s + 12;
    if (s[11] != '.' || s[18] != '.') return 0;
    if (memcmp(ch, G.hash, 6) != 0) {
        /* another cluster's: only what is published here goes there */
        if (m->from_gw || m->from_route) return 0;
        int sent = 0;
        pthread_mutex_lock(&G.mu);
        for (gw_remote_t *r = G.remotes; r; r = r->next) {
            if (!r->out || memcmp(r->hash, ch, 6) != 0) continue;
            route_fwd_t f = {r->out, {0}};
            route_send_rmsg(w, &f, m, (slice_t){G.prefix, GW_PREFIX_LEN});
            sent = 1;
            break;
        }
        pthread_mutex_unlock(&G.mu);
        return sent;
    }
    /* ours: the server it names gets it (through its route), or we deliver it */
    if (memcmp(sh, G.sid_hash, 6) != 0 && !m->from_route) {
        conn_t *rc = route_by_hash(sh); /* qsbr keeps it: we are on a worker */
        if (rc) {
            route_fwd_t f = {rc, {0}};
            route_send_rmsg(w, &f, m, (slice_t){NULL, 0});
            return 1;
        }
    }
    msg_t m2 = *m;
    m2.subject = (slice_t){s + GW_PREFIX_LEN, m->subject.n - GW_PREFIX_LEN};
    m2.from_gw = true; /* not out to the gateways again */
    const sl_result_t *r = sublist_match(m->acc->sl, m2.subject.p, m2.subject.n);
    return deliver_all(w, r, &m2);
}

/* An outbound's sub (another cluster's interest) left the index: uncounted. */
void gw_sub_removed(worker_t *w, const sub_t *s)
{
    account_t *acc = s->sl ? sublist_owner(s->sl) : NULL;
    if (acc) atomic_fetch_sub(&acc->gw_subs, 1);
    leaf_sub_removed(w, s);
}

/* ---- receiving ---------------------------------------------------------------- */

void gw_start_protocol(worker_t *w, conn_t *c)
{
    if (!c->gw->outbound) {
        send_info(w, c);
        opts_t *o = srv->opts;
        int64_t t =
            o->gateway.auth_timeout_ns ? o->gateway.auth_timeout_ns : DEFAULT_AUTH_TIMEOUT_NS;
        c->auth_due_ns = deadline_after(w->now_ns, t);
        worker_note_deadline(w, c->auth_due_ns);
    }
    c->auth_ok = true; /* CONNECT is checked by its handler (and required before INFO) */
    conn_flush_owned(w, c);
}

/* Gateways PING regardless of traffic, the first about a second after the CONNECT
 * (an inbound one's, or ours). */
static void first_ping(worker_t *w, conn_t *c)
{
    c->ping_due_ns = deadline_after(w->now_ns, 1000000000LL);
    c->rtt_pending = true;
    worker_note_deadline(w, c->ping_due_ns);
}

static void process_connect(worker_t *w, conn_t *c, const op_t *op)
{
    struct gw_info *gi = c->gw;
    route_info_msg_t ri = {0};
    if (gi->outbound || route_info_parse(op->line.p, op->line.n, &ri) != 0) {
        session_close(c, CR_PROTOCOL_VIOLATION);
        route_info_msg_free(&ri);
        return;
    }
    opts_t *o = srv->opts;
    if (!ri.gw_name[0]) {
        ERROR("%sattempted to connect to gateway port", c->prefix);
        session_err_close(w, c, "attempted to connect to gateway port", CR_WRONG_PORT);
        goto out;
    }
    if (o->gateway.reject_unknown) {
        pthread_mutex_lock(&G.mu);
        bool known = gw_remote_find_locked(ri.gw_name) != NULL;
        pthread_mutex_unlock(&G.mu);
        if (!known) {
            ERROR("%sRejecting connection from gateway \"%s\"", c->prefix, ri.gw_name);
            char text[300];
            snprintf(text, sizeof text, "Connection to gateway \"%s\" rejected", G.name);
            session_err_close(w, c, text, CR_WRONG_GATEWAY);
            goto out;
        }
    }
    if (o->gateway.user && *o->gateway.user) {
        auth_rc_t rc = strcmp(ri.user, o->gateway.user) == 0
                           ? auth_secret_check(c, o->gateway.password, ri.pass, true)
                           : AUTH_FAIL;
        if (rc == AUTH_PENDING) { /* a bcrypt check on the auth pool: CONNECT again later */
            c->auth_wait = true;
            if (!gi->connect_line) gi->connect_line = xstrndup(op->line.p, op->line.n);
            goto out;
        }
        if (rc != AUTH_OK) {
            if (rc == AUTH_FAIL) ERROR("%sauthentication error", c->prefix);
            session_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
            goto out;
        }
    }
    c->auth_due_ns = 0;
    gi->got_connect = true;
    first_ping(w, c);
    snprintf(gi->name, sizeof gi->name, "%s", ri.gw_name);
    if (ri.id[0]) snprintf(gi->remote_id, sizeof gi->remote_id, "%s", ri.id);
out:
    explicit_bzero(ri.pass, sizeof ri.pass);
    route_info_msg_free(&ri);
}

void gw_connect_verdict(worker_t *w, conn_t *c)
{
    struct gw_info *gi = c->gw;
    char *line = gi->connect_line;
    if (!line) return;
    gi->connect_line = NULL;
    op_t op = {.type = OP_CONNECT, .line = {line, strlen(line)}};
    process_connect(w, c, &op);
    explicit_bzero(line, strlen(line));
    free(line);
}

/* Tell the routes of this cluster about a gateway we are connected to: they make sure
 * they have an outbound connection to it too. */
static void gossip_to_routes(const char *name, char *const *urls, size_t nurls)
{
    buf_t b = {0};
    gw_gossip_info(&b, name, urls, nurls);
    route_broadcast(NULL, b.p, b.len);
    buf_free(&b);
}

static void register_outbound(worker_t *w, conn_t *c, route_info_msg_t *info)
{
    struct gw_info *gi = c->gw;
    gw_remote_t *r = gi->remote;
    send_connect(w, c);
    send_info(w, c);
    c->headers = info->headers;
    snprintf(gi->remote_id, sizeof gi->remote_id, "%s", info->id);
    snprintf(gi->remote_name, sizeof gi->remote_name, "%s", info->name);
    bool dup = false;
    size_t nurls = 0;
    char **urls = NULL;
    pthread_mutex_lock(&G.mu);
    for (size_t i = 0; i < info->ngw_urls; i++)
        gw_add_url_locked(r, info->gw_urls[i]);
    if (r->out && r->out != c) {
        dup = true;
    } else {
        r->out = c;
        gi->registered = true;
        for (size_t i = 0; i < r->nurls; i++)
            strv_push(&urls, &nurls, xstrdup(r->urls[i]));
    }
    pthread_mutex_unlock(&G.mu);
    if (dup) {
        session_close(c, CR_WRONG_GATEWAY);
        return;
    }
    NOTICE("%sOutbound gateway connection to \"%s\" (%s) registered", c->prefix, gi->name,
           info->id);
    first_ping(w, c);
    gossip_to_routes(gi->name, urls, nurls);
    strv_free(&urls, &nurls);
}

static void register_inbound(worker_t *w, conn_t *c, route_info_msg_t *info)
{
    struct gw_info *gi = c->gw;
    if (info->id[0]) snprintf(gi->remote_id, sizeof gi->remote_id, "%s", info->id);
    snprintf(gi->remote_name, sizeof gi->remote_name, "%s", info->name);
    c->headers = info->headers;
    pthread_mutex_lock(&G.mu);
    if (G.nin == G.capin) {
        G.capin = G.capin ? G.capin * 2 : 8;
        G.in = xrealloc(G.in, G.capin * sizeof *G.in);
    }
    G.in[G.nin++] = c;
    gi->registered = true;
    NOTICE("%sInbound gateway connection from \"%s\" (%s) registered", c->prefix, gi->name,
           gi->remote_id);
    send_interest_locked(w, c);
    /* the other gateways we know, so the peer's cluster reaches them too */
    buf_t b = {0};
    for (gw_remote_t *r = G.remotes; r; r = r->next)
        if (strcmp(r->name, gi->name) != 0 && r->nurls)
            gw_gossip_info(&b, r->name, r->urls, r->nurls);
    if (b.len) session_send(w, c, b.p, b.len);
    buf_free(&b);
    pthread_mutex_unlock(&G.mu);
    gw_implicit(gi->name, info->gw_urls, info->ngw_urls, info->gw_url);
}

static void process_info(worker_t *w, conn_t *c, const op_t *op)
{
    struct gw_info *gi = c->gw;
    route_info_msg_t info = {0};
    if (route_info_parse(op->line.p, op->line.n, &info) != 0) {
        route_info_msg_free(&info);
        return;
    }
    bool first = !gi->got_info;
    gi->got_info = true;
    if (gi->outbound) {
        if (!info.gw_name[0]) {
            char text[300];
            snprintf(text, sizeof text, "Attempt to connect to gateway \"%s\" using wrong port",
                     gi->name);
            ERROR("%s%s", c->prefix, text);
            session_err_close(w, c, text, CR_WRONG_PORT);
        } else if (strcmp(info.gw_name, gi->name) != 0) {
            if (!first && info.gw_cmd == 1) {
                gw_implicit(info.gw_name, info.gw_urls, info.ngw_urls, NULL);
            } else {
                ERROR("%sFailing connection to gateway \"%s\", remote gateway name is \"%s\"",
                      c->prefix, gi->name, info.gw_name);
                char text[600];
                snprintf(text, sizeof text,
                         "Connection from \"%s\" rejected, wanted to connect to \"%s\", this is "
                         "\"%s\"",
                         G.name, gi->name, info.gw_name);
                gi->wrong_name = true;
                session_err_close(w, c, text, CR_WRONG_GATEWAY);
            }
        } else if (first) {
            register_outbound(w, c, &info);
        } else if (info.gw_cmd == 2 || info.gw_cmd == 3) {
            /* the account's interest starts / is complete: we only ever send on interest */
            if (!info.has_gw_payload) {
                char text[120];
                snprintf(text, sizeof text,
                         "Account absent from receive-all-subscriptions-%s command",
                         info.gw_cmd == 2 ? "start" : "complete");
                ERROR("%s%s", c->prefix, text);
                session_err_close(w, c, text, CR_PROTOCOL_VIOLATION);
            } else {
                DEBUG("%sGateway \"%s\": switching account \"%s\" to Interest-Only mode%s",
                      c->prefix, info.gw_name, info.gw_payload,
                      info.gw_cmd == 3 ? " complete" : "");
            }
        } else if (info.gw_cmd == 1 && info.ngw_urls) {
            gw_implicit(info.gw_name, info.gw_urls, info.ngw_urls, NULL);
        }
    } else if (first) {
        if (!gi->got_connect) {
            session_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        } else {
            if (info.gw_name[0]) snprintf(gi->name, sizeof gi->name, "%s", info.gw_name);
            register_inbound(w, c, &info);
        }
    }
    route_info_msg_free(&info);
}

static void process_rs(worker_t *w, conn_t *c, const op_t *op, bool add)
{
    if (!c->gw->outbound) {
        ERROR("%sReceived %s from gateway on inbound connection", c->prefix, add ? "RS+" : "RS-");
        session_close(c, CR_PROTOCOL_VIOLATION);
        return;
    }
    account_t *acc = account_fetch_slice(op->account);
    if (!acc) return;
    if (!subject_valid(op->subject.p, op->subject.n)) {
        if (add) session_send_err(w, c, "Invalid Subscription");
        return;
    }
    char stack[512];
    size_t kn;
    char *k =
        ikey_build(stack, sizeof stack, acc->name, acc->name_len, op->subject, op->queue, &kn);
    sub_t *s =
        sub_remote_set(c, acc->sl, (slice_t){k, kn}, op->subject, op->queue, (slice_t){NULL, 0},
                       add, op->queue.n ? (op->max > 0 ? (int32_t)op->max : 1) : 1, gw_sub_removed);
    if (s) {
        atomic_fetch_add(&acc->gw_subs, 1);
        leaf_sub_added(w, s); /* leaf nodes hear of other clusters' interest too */
    }
    if (k != stack) free(k);
}

static void deliver_inbound(worker_t *w, conn_t *c, const op_t *op)
{
    count_in(w, c, op->size);
    account_t *acc = account_fetch_or_ask_slice(op->account);
    if (!acc) {
        DEBUG("%sUnknown account \"%.*s\" for gateway message on subject: \"%.*s\"", c->prefix,
              (int)op->account.n, op->account.p, (int)op->subject.n, op->subject.p);
        return;
    }
    msg_t m = {.from = c,
               .acc = acc,
               .subject = op->subject,
               .reply = op->reply,
               .hdr = op->hdr,
               .payload = op->payload,
               .size = op->size,
               .from_gw = true,
               .queues = op->queues};
    const sl_result_t *r = sublist_match(acc->sl, op->subject.p, op->subject.n);
    deliver_all(w, r, &m);
}

static void gw_parse_error(worker_t *w, conn_t *c, parse_rc_t rc, const op_t *op, const char *buf,
                           size_t len)
{
    (void)buf, (void)len;
    session_peer_parse_error(w, c, rc, op, "Gateway");
}

static inline __attribute__((always_inline)) proto_next_t gw_handle(worker_t *w, conn_t *c,
                                                                    const op_t *op)
{
    struct gw_info *gi = c->gw;
    /* an inbound peer says CONNECT first, then INFO, then anything */
    if (!gi->outbound && !gi->got_connect && op->type != OP_CONNECT) {
        session_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        return PROTO_STOP;
    }
    atomic_store_explicit(&c->last_activity_ns, w->now_ns, memory_order_relaxed);
    switch (op->type) {
    case OP_CONNECT:
        if (log_trace_on) TRACE("%s<<- [CONNECT ...]", c->prefix);
        process_connect(w, c, op);
        break;
    case OP_INFO:
        process_info(w, c, op);
        break;
    case OP_PING:
        session_peer_ping(w, c);
        break;
    case OP_PONG:
        session_peer_pong(w, c);
        break;
    case OP_RSUB:
    case OP_RUNSUB:
        TRACE("%s<<- [%s %.*s]", c->prefix, op->type == OP_RSUB ? "RS+" : "RS-", (int)op->line.n,
              op->line.p);
        process_rs(w, c, op, op->type == OP_RSUB);
        break;
    case OP_RMSG:
        if (log_trace_on) TRACE("%s<<- [RMSG %.*s]", c->prefix, (int)op->line.n, op->line.p);
        if (!gi->registered) {
            session_close(c, CR_PROTOCOL_VIOLATION);
            return PROTO_STOP;
        }
        deliver_inbound(w, c, op);
        break;
    case OP_ERR:
        ERROR("%sGateway Error %.*s", c->prefix, (int)op->line.n, op->line.p);
        session_close(c, CR_CLIENT_ERR);
        break;
    default: /* +OK */
        break;
    }
    return c->closing ? PROTO_STOP : PROTO_NEXT;
}

static const proto_kind_t gw_kind = {NULL, gw_parse_error, gw_handle};

size_t gw_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need)
{
    parse_limits_t lim = {PARSE_ROUTE, 0, 0};
    return proto_loop(w, c, &gw_kind, &lim, buf, len, need);
}

void gw_timer(worker_t *w, conn_t *c)
{
    int64_t now = w->now_ns;
    if (session_tls_wait(w, c)) return;
    if (c->auth_due_ns && now >= c->auth_due_ns) {
        ERROR("%sGateway authentication timeout", c->prefix);
        session_err_close(w, c, "Authentication Timeout", CR_AUTH_TIMEOUT);
        return;
    }
    switch (conn_ping_tick(w, c, NULL)) {
    case PING_STALE:
        session_err_close(w, c, "Stale Connection", CR_STALE);
        return;
    case PING_SENT:
        DEBUG("%sGateway Ping Timer", c->prefix);
        break;
    default:
        break;
    }
    worker_note_deadline(w, c->ping_due_ns);
    worker_note_deadline(w, c->auth_due_ns);
}
