/* route_proto.c: the route protocol on one connection, on its owner worker.
 *
 * Sending our INFO and (when we dialled) CONNECT; reading the peer's CONNECT
 * (cluster authorization, a bcrypt check on the auth pool, cluster name
 * negotiation) and INFO (registration, duplicates, gossip of other servers,
 * lame duck mode); RS+/RS- (route_interest.c), RMSG (delivered locally only:
 * one hop), PING/PONG and -ERR; and the route's timers (TLS handshake,
 * CONNECT due, PINGs). */
#include "nats/route.h"
#include "nats/account.h"
#include "nats/route_int.h"
#include "nats/leaf.h"
#include "nats/auth.h"
#include "nats/deliver.h"
#include "nats/proto_loop.h"
#include "nats/session.h"
#include "base/json.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- INFO / CONNECT we send ------------------------------------------------------- */

static void route_info_json(buf_t *b, bool ldm)
{
    opts_t *o = srv->opts;
    jw_t w;
    jw_init(&w, b, false);
    jw_obj_begin(&w, NULL);
    info_identity(&w, 2);
    char advhost[256] = "";
    int advport = srv->cluster_port;
    if (o->cluster.advertise && *o->cluster.advertise) {
        int p = 0;
        route_url_split(o->cluster.advertise, advhost, sizeof advhost, &p, NULL, 0, NULL, 0);
        if (strchr(o->cluster.advertise, ':')) advport = p;
    }
    jw_str(&w, "host", advhost[0] ? advhost : (o->cluster.host ? o->cluster.host : "0.0.0.0"));
    jw_int(&w, "port", advport);
    jw_bool(&w, "headers", true);
    if (o->cluster.user && *o->cluster.user) jw_bool(&w, "auth_required", true);
    if (o->cluster.tls.enabled) {
        jw_bool(&w, "tls_required", true);
        jw_bool(&w, "tls_verify", true);
    }
    jw_int(&w, "max_payload", o->max_payload);
    char nonce[16];
    gen_name(nonce, sizeof nonce);
    jw_str(&w, "nonce", nonce);
    if (advhost[0]) {
        char ip[300];
        snprintf(ip, sizeof ip, "nats-route://%s:%d/", advhost, advport);
        jw_str(&w, "ip", ip);
    }
    jw_str(&w, "cluster", R.name);
    if (R.dynamic) jw_bool(&w, "cluster_dynamic", true);
    if (!o->cluster.no_advertise && R.nown) {
        jw_arr_begin(&w, "connect_urls");
        for (size_t i = 0; i < R.nown; i++)
            jw_str(&w, NULL, R.own_urls[i]);
        jw_arr_end(&w);
    }
    if (ldm) jw_bool(&w, "ldm", true);
    const route_gw_hooks_t *gw = atomic_load(&route_gw);
    if (gw) jw_str(&w, "gateway_url", gw->url());
    /* leaf origin: peers may send LS+/LS-/LMSG with the origin cluster of their leaf
     * nodes' interest; taken as RS+/RS-/RMSG (docs/routes.md §4.3) */
    jw_bool(&w, "lnoc", true);
    char lurl[300];
    if (leaf_own_url(lurl, sizeof lurl)) { /* docs/leafnodes.md §2 */
        jw_arr_begin(&w, "leafnode_urls");
        jw_str(&w, NULL, lurl);
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
}

static void send_info(worker_t *w, conn_t *c)
{
    buf_t b = {0};
    buf_puts(&b, "INFO ");
    pthread_mutex_lock(&R.mu);
    route_info_json(&b, false);
    pthread_mutex_unlock(&R.mu);
    buf_puts(&b, " \r\n");
    session_send(w, c, b.p, b.len);
    buf_free(&b);
}

static void send_connect(worker_t *w, conn_t *c)
{
    route_info_t *ri = c->route;
    char host[256], user[256], pass[256];
    int port;
    route_url_split(ri->url ? ri->url : "", host, sizeof host, &port, user, sizeof user, pass,
                    sizeof pass);
    opts_t *o = srv->opts;
    /* As the reference: an explicit route sends the user info of its configured URL; an
     * implicit one the cluster authorization's credentials, and only when the gossiped
     * INFO said that server requires auth (the gossip comes from an authorized peer). */
    pthread_mutex_lock(&R.mu); /* ri->dialer may be handed over by a duplicate */
    bool implicit_auth = ri->dialer && ri->dialer->implicit && ri->dialer->auth;
    pthread_mutex_unlock(&R.mu);
    if (implicit_auth) {
        snprintf(user, sizeof user, "%s", o->cluster.user ? o->cluster.user : "");
        snprintf(pass, sizeof pass, "%s", o->cluster.password ? o->cluster.password : "");
    }
    buf_t b = {0};
    jw_t j;
    buf_puts(&b, "CONNECT ");
    jw_init(&j, &b, false);
    jw_obj_begin(&j, NULL);
    jw_bool(&j, "echo", true);
    jw_bool(&j, "verbose", false);
    jw_bool(&j, "pedantic", false);
    if (user[0]) {
        jw_str(&j, "user", user);
        jw_str(&j, "pass", pass);
    }
    jw_bool(&j, "tls_required", o->cluster.tls.enabled);
    jw_bool(&j, "headers", true);
    jw_str(&j, "name", srv->server_id);
    pthread_mutex_lock(&R.mu);
    jw_str(&j, "cluster", R.name);
    if (R.dynamic) jw_bool(&j, "cluster_dynamic", true);
    pthread_mutex_unlock(&R.mu);
    jw_obj_end(&j);
    buf_puts(&b, "\r\n");
    session_send(w, c, b.p, b.len);
    buf_free(&b);
    DEBUG("%sRoute connect msg sent", c->prefix);
}

/* After the TCP (and TLS) set-up: INFO/CONNECT, auth timer, first PING. */
void route_start_protocol(worker_t *w, conn_t *c)
{
    route_info_t *ri = c->route;
    bool solicited = ri->solicited;
    NOTICE("%sRoute connection created", c->prefix);
    if (solicited) {
        send_connect(w, c);
        send_info(w, c);
        c->auth_ok = true;
    } else {
        send_info(w, c);
        opts_t *o = srv->opts;
        /* A peer must send CONNECT within the auth timeout, with cluster authorization or
         * without (the reference times out only the former; a silent socket would be
         * kept until its PINGs went stale, minutes later). */
        int64_t t = opts_cluster_auth_timeout_ns(o);
        c->auth_due_ns = deadline_after(w->now_ns, t);
        worker_note_deadline(w, c->auth_due_ns);
        if (!o->cluster.user || !*o->cluster.user) c->auth_ok = true;
    }
    /* First PING about a second after the route is up. */
    c->ping_due_ns = deadline_after(w->now_ns, 1000000000LL);
    c->rtt_pending = true;
    worker_note_deadline(w, c->ping_due_ns);
    conn_flush_owned(w, c);
}

/* ---- receiving ---------------------------------------------------------------------- */

/* Name negotiation (docs/routes.md §5.3). Returns true if the connection may proceed. */
static bool cluster_name_ok(worker_t *w, conn_t *c, const route_info_msg_t *ri, bool accept_side)
{
    (void)w;
    bool adopted = false;
    pthread_mutex_lock(&R.mu);
    if (strcmp(ri->cluster, R.name) == 0) {
        pthread_mutex_unlock(&R.mu);
        return true;
    }
    if (R.dynamic && (!ri->dynamic || strcmp(R.name, ri->cluster) < 0) && ri->cluster[0]) {
        snprintf(R.name, sizeof R.name, "%s", ri->cluster);
        R.dynamic = ri->dynamic;
        adopted = true;
        for (size_t i = 0; i < R.nroutes; i++)
            if (R.routes[i] != c) conn_request_close(R.routes[i], CR_CLUSTER_NAME_CONFLICT);
        rebuild_client_info_locked();
    }
    char ours[64];
    snprintf(ours, sizeof ours, "%s", R.name);
    pthread_mutex_unlock(&R.mu);
    if (adopted) {
        NOTICE("Cluster name updated to %s", ri->cluster);
        return true;
    }
    if (accept_side) {
        char text[400];
        snprintf(text, sizeof text,
                 "Rejecting connection, cluster name \"%s\" does not match \"%s\"", ri->cluster,
                 ours);
        ERROR("%s%s", c->prefix, text);
        session_err_close(w, c, text, CR_CLUSTER_NAME_CONFLICT);
    } else {
        session_close(c, CR_CLUSTER_NAME_CONFLICT);
    }
    return false;
}

static void process_connect(worker_t *w, conn_t *c, const op_t *op)
{
    route_info_msg_t ri = {0};
    if (route_info_parse(op->line.p, op->line.n, &ri) != 0) {
        session_close(c, CR_PROTOCOL_VIOLATION);
        route_info_msg_free(&ri);
        return;
    }
    opts_t *o = srv->opts;
    c->auth_due_ns = 0;
    if (o->cluster.user && *o->cluster.user && !c->route->solicited) {
        /* A bcrypt password is checked on the auth pool, never here (it would stall every
         * connection of this worker): the route reads nothing until the verdict, then
         * route_connect_verdict runs this CONNECT again and finds the verdict cached. */
        auth_rc_t rc = strcmp(ri.user, o->cluster.user) == 0
                           ? auth_secret_check(c, o->cluster.password, ri.pass, true)
                           : AUTH_FAIL;
        explicit_bzero(ri.pass, sizeof ri.pass);
        if (rc == AUTH_PENDING) {
            if (!c->route->connect_line) {
                c->route->connect_line = xstrndup(op->line.p, op->line.n);
                c->route->connect_len = op->line.n;
            }
            c->auth_wait = true;
            route_info_msg_free(&ri);
            return;
        }
        if (rc != AUTH_OK) {
            if (rc == AUTH_FAIL) ERROR("%sauthentication error", c->prefix); /* BUSY: logged */
            session_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
            route_info_msg_free(&ri);
            return;
        }
    }
    explicit_bzero(ri.pass, sizeof ri.pass);
    c->auth_ok = true;
    if (ri.lang[0]) {
        ERROR("%sattempted to connect to route port", c->prefix);
        session_err_close(w, c, "attempted to connect to route port", CR_PROTOCOL_VIOLATION);
        route_info_msg_free(&ri);
        return;
    }
    if (ri.gateway) {
        session_err_close(w, c, "Rejecting connection from gateway on the Route port",
                          CR_PROTOCOL_VIOLATION);
        route_info_msg_free(&ri);
        return;
    }
    if (!cluster_name_ok(w, c, &ri, true)) {
        route_info_msg_free(&ri);
        return;
    }
    c->route->got_connect = true;
    c->route->headers = ri.headers;
    if (ri.id[0] && !c->route->remote_id[0])
        snprintf(c->route->remote_id, sizeof c->route->remote_id, "%s", ri.id);
    route_info_msg_free(&ri);
}

void route_connect_verdict(worker_t *w, conn_t *c)
{
    route_info_t *ri = c->route;
    char *line = ri->connect_line;
    size_t n = ri->connect_len;
    if (!line) return;
    ri->connect_line = NULL; /* kept again if a reload changed the hash meanwhile */
    ri->connect_len = 0;
    op_t op = {.type = OP_CONNECT, .line = {line, n}};
    process_connect(w, c, &op);
    explicit_bzero(line, n);
    free(line);
}

static void register_route(worker_t *w, conn_t *c, route_info_msg_t *info, slice_t raw_info)
{
    route_info_t *ri = c->route;
    opts_t *o = srv->opts;
    if (strcmp(info->id, srv->server_id) == 0) {
        if (ri->url) DEBUG("Detected route to self, ignoring \"%s\"", ri->url);
        session_close(c, CR_DUPLICATE_ROUTE);
        snprintf(ri->remote_id, sizeof ri->remote_id, "%s", info->id);
        return;
    }
    if (ri->solicited && info->has_cluster && !cluster_name_ok(w, c, info, false)) return;
    if (!ri->solicited && info->name[0] && strcmp(info->name, srv->server_name) == 0) {
        ERROR("%sRemote server has a duplicate name: \"%s\"", c->prefix, info->name);
        session_close(c, CR_DUPLICATE_SERVER_NAME);
        return;
    }
    snprintf(ri->remote_id, sizeof ri->remote_id, "%s", info->id);
    snprintf(ri->remote_name, sizeof ri->remote_name, "%s", info->name);
    free(ri->remote_host);
    ri->remote_host = xstrdup(info->host);
    ri->remote_port = (int)info->port;
    if (info->ip[0]) ri->remote_ip_url = xstrdup(info->ip);
    ri->headers = info->headers;
    ri->lnoc = info->lnoc;
    ri->curls = info->urls;
    ri->ncurls = info->nurls;
    info->urls = NULL;
    info->nurls = 0;
    ri->lurls = info->lurls;
    ri->nlurls = info->nlurls;
    info->lurls = NULL;
    info->nlurls = 0;
    if (!ri->url) {
        char u[400];
        snprintf(u, sizeof u, "nats-route://%s:%d/", ri->remote_host, ri->remote_port);
        ri->url = xstrdup(u);
    }
    /* gossip form of this peer's INFO: "ip" added when missing */
    char ipurl[400];
    if (info->ip[0])
        snprintf(ipurl, sizeof ipurl, "%s", info->ip);
    else
        snprintf(ipurl, sizeof ipurl,
                 strchr(c->ip, ':') ? "nats-route://[%s]:%d/" : "nats-route://%s:%d/", c->ip,
                 ri->remote_port);
    buf_t g = {0};
    buf_puts(&g, "INFO ");
    if (!info->ip[0] && raw_info.n > 1) {
        buf_append(&g, raw_info.p, raw_info.n - 1);
        buf_puts(&g, ",\"ip\":");
        json_put_string(&g, ipurl, strlen(ipurl));
        buf_putc(&g, '}');
    } else {
        buf_append(&g, raw_info.p, raw_info.n);
    }
    buf_puts(&g, "\r\n");

    bool dup = false, urls_changed = false;
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < R.nroutes; i++) {
        route_info_t *e = R.routes[i]->route;
        if (strcmp(e->remote_id, info->id) != 0) continue;
        dup = true;
        /* Keep the registered connection, but it inherits "we dialled this URL" so it is
         * redialled if it drops (and reported as configured). */
        if (ri->solicited && !e->solicited) {
            e->solicited = true;
            e->dialer = ri->dialer;
            free(e->url);
            e->url = ri->url ? xstrdup(ri->url) : NULL;
            ri->dialer = NULL;
            ri->solicited = false;
        }
    }
    if (!dup) {
        DEBUG("%sRegistering remote route \"%s\"", c->prefix, info->id);
        send_interest_dump_locked(w, c);
        DEBUG("%sSent local subscriptions to route", c->prefix);
        for (size_t i = 0; i < R.nroutes; i++)
            session_send(w, R.routes[i], g.p, g.len);
        if (R.nroutes == R.caproutes) {
            R.caproutes = R.caproutes ? R.caproutes * 2 : 8;
            R.routes = xrealloc(R.routes, R.caproutes * sizeof *R.routes);
        }
        R.routes[R.nroutes++] = c;
        ri->registered = true;
        const route_gw_hooks_t *gw = atomic_load(&route_gw);
        if (info->gw_url[0] && gw) {
            ri->gw_url = xstrdup(info->gw_url);
            gw->url_ref(ri->gw_url, 1);
        }
        atomic_fetch_add(&R.nregistered, 1);
        if (!o->cluster.no_advertise && ri->ncurls) {
            add_curls_locked(ri);
            urls_changed = true;
        }
        rebuild_client_info_locked();
    }
    pthread_mutex_unlock(&R.mu);
    buf_free(&g);
    if (dup) {
        DEBUG("%sDetected duplicate remote route \"%s\"", c->prefix, info->id);
        session_close(c, CR_DUPLICATE_ROUTE);
        return;
    }
    const route_gw_hooks_t *gw = atomic_load(&route_gw);
    if (gw) gw->registered(w, c);
    if (urls_changed) worker_command(WCMD_INFO);
    if (ri->nlurls) leaf_peer_urls(ri->lurls, ri->nlurls, true);
}

static void process_info(worker_t *w, conn_t *c, const op_t *op)
{
    route_info_t *ri = c->route;
    route_info_msg_t info = {0};
    if (route_info_parse(op->line.p, op->line.n, &info) != 0 || !info.id[0]) {
        route_info_msg_free(&info);
        return;
    }
    if (ri->registered && info.gw_name[0]) { /* a peer's word about a gateway */
        const route_gw_hooks_t *gw = atomic_load(&route_gw);
        if (!gw)
            ERROR("Received information about gateway \"%s\" from %s, but gateway is not "
                  "configured",
                  info.gw_name, ri->remote_id);
        else if (info.gw_cmd == 1)
            gw->gossip(&info);
        route_info_msg_free(&info);
        return;
    }
    if (!ri->registered && !c->closing) {
        if (!ri->solicited && !ri->got_connect) {
            session_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        } else {
            register_route(w, c, &info, op->line);
        }
    } else if (strcmp(info.id, ri->remote_id) == 0) {
        if (info.ldm) {
            pthread_mutex_lock(&R.mu);
            bool had = ri->curls_counted;
            drop_curls_locked(ri);
            rebuild_client_info_locked();
            pthread_mutex_unlock(&R.mu);
            if (had) worker_command(WCMD_INFO);
        }
    } else {
        gossip_dial(&info, c->ip);
    }
    route_info_msg_free(&info);
}

/* RMSG: delivered to local subscribers and the queue groups it names, never forwarded. */
static void deliver_routed(worker_t *w, conn_t *c, const op_t *op)
{
    count_in(w, c, op->size);
    /* an account not here: dropped as before, but looked up (full or cache resolver) so that it
     * exists for the next one */
    account_t *acc = account_fetch_or_ask_slice(op->account);
    if (!acc) return; /* not ours to deliver: we never asked for it */
    msg_t m = {.from = c,
               .acc = acc,
               .subject = op->subject,
               .reply = op->reply,
               .hdr = op->hdr,
               .payload = op->payload,
               .size = op->size,
               .from_route = true,
               .queues = op->queues,
               .leaf_origin = op->origin};
    const sl_result_t *r = sublist_match(acc->sl, op->subject.p, op->subject.n);
    deliver_all(w, r, &m);
}

static void route_parse_error(worker_t *w, conn_t *c, parse_rc_t rc, const op_t *op,
                              const char *buf, size_t len)
{
    (void)buf, (void)len;
    session_peer_parse_error(w, c, rc, op, "Route");
}

/* Inlined into the loop (proto_loop.h), as the loop body it was. */
static inline __attribute__((always_inline)) proto_next_t route_handle(worker_t *w, conn_t *c,
                                                                       const op_t *op)
{
    if (!c->auth_ok && op->type != OP_CONNECT) {
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
        TRACE("%s<<- [RS+ %.*s]", c->prefix, (int)op->line.n, op->line.p);
        process_rsub(w, c, op, true);
        break;
    case OP_RUNSUB:
        TRACE("%s<<- [RS- %.*s]", c->prefix, (int)op->line.n, op->line.p);
        process_rsub(w, c, op, false);
        break;
    case OP_RMSG:
        if (log_trace_on) {
            TRACE("%s<<- [RMSG %.*s]", c->prefix, (int)op->line.n, op->line.p);
            TRACE("%s<<- MSG_PAYLOAD: [\"%.*s\"]", c->prefix, (int)op->size, op->payload);
        }
        deliver_routed(w, c, op);
        break;
    case OP_LSUB: /* a peer's leaf interest, with its origin cluster: as RS+ */
        TRACE("%s<<- [LS+ %.*s]", c->prefix, (int)op->line.n, op->line.p);
        process_rsub(w, c, op, true);
        break;
    case OP_LUNSUB:
        TRACE("%s<<- [LS- %.*s]", c->prefix, (int)op->line.n, op->line.p);
        process_rsub(w, c, op, false);
        break;
    case OP_LMSG: /* a message from a peer's leaf node: as RMSG */
        if (log_trace_on) {
            TRACE("%s<<- [LMSG %.*s]", c->prefix, (int)op->line.n, op->line.p);
            TRACE("%s<<- MSG_PAYLOAD: [\"%.*s\"]", c->prefix, (int)op->size, op->payload);
        }
        deliver_routed(w, c, op);
        break;
    case OP_ERR:
        ERROR("%sRoute Error %.*s", c->prefix, (int)op->line.n, op->line.p);
        session_close(c, CR_CLIENT_ERR);
        break;
    default: /* +OK */
        break;
    }
    return PROTO_NEXT;
}

static const proto_kind_t route_kind = {NULL, route_parse_error, route_handle};

size_t route_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need)
{
    parse_limits_t lim = {PARSE_ROUTE, 0, 0};
    return proto_loop(w, c, &route_kind, &lim, buf, len, need);
}

void route_timer(worker_t *w, conn_t *c)
{
    int64_t now = w->now_ns;
    if (session_tls_wait(w, c)) return;
    if (c->auth_due_ns && now >= c->auth_due_ns) { /* CONNECT clears it */
        session_err_close(w, c, "Authentication Timeout", CR_AUTH_TIMEOUT);
        return;
    }
    switch (conn_ping_tick(w, c, NULL)) {
    case PING_STALE:
        session_err_close(w, c, "Stale Connection", CR_STALE);
        return;
    case PING_SENT:
        DEBUG("%sRouter Ping Timer", c->prefix);
        break;
    case PING_NOT_DUE:
    case PING_DELAYED: /* traffic: no PING needed */
        break;
    }
    worker_note_deadline(w, c->ping_due_ns);
    worker_note_deadline(w, c->auth_due_ns);
}
