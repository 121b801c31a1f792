/* route.c: see route.h; the files of the module are listed in route_int.h.
 *
 * This one holds the module's state, a route connection's lifecycle (set-up
 * with its TLS, close, free), start and shutdown of the cluster port, and
 * small helpers the other route files share.
 *
 * Threads: route connections live on workers like clients. Dialling is done
 * by one small thread per route URL (route_dial.c). Shared state sits under
 * R.mu; lock order is R.mu before any connection's out_lock. */
#include "nats/route.h"
#include "nats/route_int.h"
#include "base/hash.h"
#include "nats/leaf.h"
#include "nats/session.h"
#include "nats/subs.h"
#include "base/log.h"
#include "core/tls.h"

#include <openssl/ssl.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int route_listen_fd = -1;
const route_gw_hooks_t *_Atomic route_gw;

route_state_t R = {.mu = PTHREAD_MUTEX_INITIALIZER};

void route_set_dialing(bool on)
{
    pthread_mutex_lock(&R.mu);
    R.no_dialing = !on;
    pthread_mutex_unlock(&R.mu);
}

int route_count(void)
{
    return atomic_load(&R.nregistered);
}

int route_remotes(void)
{
    return atomic_load(&R.nregistered);
}

/* ---- helpers ------------------------------------------------------------------ */

void gen_name(char *out, size_t n)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[22];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd)
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(now_mono_ns() >> (i % 8));
    if (f) fclose(f);
    size_t k = 0;
    for (; k < sizeof rnd && k + 1 < n; k++)
        out[k] = alpha[rnd[k] % (sizeof alpha - 1)];
    out[k] = 0;
}

/* ---- connection lifecycle ----------------------------------------------------------- */

void route_conn_init(worker_t *w, conn_t *c, bool solicited, const char *url, void *dialer)
{
    route_info_t *ri = xcalloc(1, sizeof *ri);
    c->route = ri;
    ri->solicited = solicited;
    ri->url = url ? xstrdup(url) : NULL;
    ri->dialer = dialer;
    ri->start_wall_ns = now_wall_ns();
    c->verbose = false;
    c->pedantic = false;
    c->echo = true;
    c->headers = true;
    c->start_wall_ns = ri->start_wall_ns;
    pthread_mutex_lock(&R.mu); /* reload may swap the contexts */
    tls_ctx_t *t = tls_ctx_ref(solicited ? R.tls_dial : R.tls_accept);
    pthread_mutex_unlock(&R.mu);
    if (t) {
        /* Route TLS comes first on the connection: nothing is sent in plaintext. */
        char host[256] = "";
        int port;
        if (solicited)
            route_url_split(ri->url ? ri->url : "", host, sizeof host, &port, NULL, 0, NULL, 0);
        tls_conn_begin(w, c, t, solicited, host, !srv->opts->cluster.tls.insecure, "route");
        return;
    }
    route_start_protocol(w, c);
}

/* One debug line per account of the interest the peer had registered here (its sid
 * keys start with the account's name). */
static void log_removed_subs(const conn_t *c)
{
    struct {
        slice_t acc;
        size_t n;
    } seen[16];
    size_t nseen = 0, other = 0;
    for (uint32_t i = 0; i < c->subs.cap; i++) {
        const sub_t *s = c->subs.slots[i];
        if (!s || s == SID_TOMB) continue;
        const char *sp = memchr(s->sid.p, ' ', s->sid.n);
        slice_t acc = {s->sid.p, sp ? (size_t)(sp - s->sid.p) : s->sid.n};
        size_t k = 0;
        while (k < nseen && !slice_eq(seen[k].acc, acc))
            k++;
        if (k == nseen) {
            if (nseen == ARRAY_LEN(seen)) {
                other++;
                continue;
            }
            seen[nseen++] = (typeof(seen[0])){acc, 0};
        }
        seen[k].n++;
    }
    for (size_t k = 0; k < nseen; k++)
        DEBUG("%sRemoving %zu subscriptions for account \"%.*s\"", c->prefix, seen[k].n,
              (int)seen[k].acc.n, seen[k].acc.p);
    if (other) DEBUG("%sRemoving %zu subscriptions for other accounts", c->prefix, other);
}

void route_conn_closed(conn_t *c)
{
    route_info_t *ri = c->route;
    if (!ri) return;
    bool still_connected = false;
    bool changed = false;
    pthread_mutex_lock(&R.mu);
    bool leaf_urls = ri->registered && ri->nlurls;
    if (ri->registered) {
        for (size_t i = 0; i < R.nroutes; i++) {
            if (R.routes[i] == c) {
                R.routes[i] = R.routes[--R.nroutes];
                break;
            }
        }
        atomic_fetch_sub(&R.nregistered, 1);
        ri->registered = false;
        const route_gw_hooks_t *gw = atomic_load(&route_gw);
        if (ri->gw_url && gw) gw->url_ref(ri->gw_url, -1);
        if (ri->curls_counted) {
            drop_curls_locked(ri);
            changed = true;
        }
        rebuild_client_info_locked();
    }
    if (ri->remote_id[0]) {
        for (size_t i = 0; i < R.nroutes; i++)
            if (strcmp(R.routes[i]->route->remote_id, ri->remote_id) == 0) still_connected = true;
    }
    bool solicited = ri->solicited;
    dialer_t *dialer = ri->dialer;
    ri->dialer = NULL; /* nothing reads it after this: the reference is dropped below */
    if (solicited && dialer) {
        bool self = c->reason == CR_DUPLICATE_ROUTE && strcmp(ri->remote_id, srv->server_id) == 0;
        if (still_connected)
            DEBUG("%sNot attempting reconnect for solicited route, already connected to \"%s\"",
                  c->prefix, ri->remote_id);
        bool shutdown = atomic_load(&srv->shutting_down) || c->reason == CR_SHUTDOWN;
        dialer_notify_closed(dialer, self || shutdown || (still_connected && dialer->implicit),
                             still_connected);
    }
    if (dialer) {
        dialer->refs--;
        reap_dialers_locked();
    }
    pthread_mutex_unlock(&R.mu);
    if (changed && !atomic_load(&srv->shutting_down)) worker_command(WCMD_INFO);
    if (leaf_urls) leaf_peer_urls(ri->lurls, ri->nlurls, false);
    if (c->subs.n && log_debug_on) log_removed_subs(c);
}

/* The kept CONNECT holds the peer's password. */
static void wipe_connect_line(route_info_t *ri)
{
    if (!ri->connect_line) return;
    explicit_bzero(ri->connect_line, ri->connect_len);
    free(ri->connect_line);
    ri->connect_line = NULL;
    ri->connect_len = 0;
}

void route_conn_free(conn_t *c)
{
    route_info_t *ri = c->route;
    if (!ri) return;
    free(ri->url);
    free(ri->remote_host);
    free(ri->remote_ip_url);
    free(ri->gw_url);
    for (size_t i = 0; i < ri->ncurls; i++)
        free(ri->curls[i]);
    free(ri->curls);
    for (size_t i = 0; i < ri->nlurls; i++)
        free(ri->lurls[i]);
    free(ri->lurls);
    free(ri->info_json);
    wipe_connect_line(ri);
    free(ri);
    c->route = NULL;
}

/* ---- start / stop ----------------------------------------------------------------- */

int route_start(void)
{
    opts_t *o = srv->opts;
    if (!o->cluster.port) return 0;
    const char *host = o->cluster.host && *o->cluster.host ? o->cluster.host : "0.0.0.0";
    char err[300];
    if (o->cluster.tls.enabled) {
        R.tls_accept = tls_ctx_server(&o->cluster.tls, true, err, sizeof err);
        R.tls_dial = R.tls_accept ? tls_ctx_client(&o->cluster.tls, err, sizeof err) : NULL;
        if (!R.tls_accept || !R.tls_dial) {
            log_msg(LOG_FTL, "Error configuring route TLS: %s", err);
            return -1;
        }
        if (o->cluster.tls.insecure)
            WARN("TLS certificate chain and hostname of solicited routes will not be verified. "
                 "DO NOT USE IN PRODUCTION!");
    }
    route_listen_fd = listen_on(host, o->cluster.port, &srv->cluster_port, err, sizeof err);
    if (route_listen_fd < 0) {
        log_msg(LOG_FTL, "Error listening on router port: %d - %s", o->cluster.port, err);
        return -1;
    }
    listener_add(route_listen_fd, "Route", &route_conn_ops);
    pthread_mutex_lock(&R.mu);
    if (o->cluster.name && *o->cluster.name) {
        snprintf(R.name, sizeof R.name, "%s", o->cluster.name);
    } else if (o->gateway.name && *o->gateway.name) {
        /* the gateway's name is the cluster's (not dynamic), as the reference has it */
        snprintf(R.name, sizeof R.name, "%s", o->gateway.name);
    } else {
        gen_name(R.name, sizeof R.name);
        R.dynamic = true;
    }
    compute_own_urls();
    rebuild_client_info_locked();
    pthread_mutex_unlock(&R.mu);
    atomic_store(&R.connect_reports, o->connect_error_reports);
    atomic_store(&R.reconnect_reports, o->reconnect_error_reports);
    return 0;
}

/* After "Server is ready": the reference logs these and starts dialling then. */
void route_announce(void)
{
    if (route_listen_fd < 0) return;
    opts_t *o = srv->opts;
    NOTICE("Cluster name is %s", R.name);
    if (R.dynamic) WARN("Cluster name was dynamically generated, consider setting one");
    NOTICE("Listening for route connections on %s:%d",
           o->cluster.host && *o->cluster.host ? o->cluster.host : "0.0.0.0", srv->cluster_port);
    for (size_t i = 0; i < o->cluster.nroutes; i++)
        start_dialer(o->cluster.routes[i]);
}

void route_shutdown(void)
{
    dialers_stop_all();
    if (route_listen_fd >= 0) {
        os_sock_close(route_listen_fd);
        route_listen_fd = -1;
    }
}

void route_cluster_name(char *out, size_t n)
{
    pthread_mutex_lock(&R.mu);
    snprintf(out, n, "%s", route_listen_fd >= 0 ? R.name : "");
    pthread_mutex_unlock(&R.mu);
}

bool route_peer_headers(const conn_t *c)
{
    return c->route && c->route->headers;
}

bool route_peer_lnoc(const conn_t *c)
{
    return c->route && c->route->lnoc;
}

void route_broadcast(worker_t *w, const char *p, size_t n)
{
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < R.nroutes; i++)
        session_send(w, R.routes[i], p, n);
    pthread_mutex_unlock(&R.mu);
}

conn_t *route_by_hash(const char *hash6)
{
    conn_t *found = NULL;
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < R.nroutes && !found; i++) {
        route_info_t *ri = R.routes[i]->route;
        if (!ri->id_hash[0]) hash_name_b62(ri->remote_id, ri->id_hash, 6);
        if (memcmp(ri->id_hash, hash6, 6) == 0) found = R.routes[i];
    }
    pthread_mutex_unlock(&R.mu);
    return found;
}

/* ---- monitoring ------------------------------------------------------------------ */

/* Owner worker: the route fields of a connection snapshot (/routez, /connz). */
static void route_fill_info(conn_t *c, conn_info_t *ci)
{
    route_info_t *ri = c->route;
    if (!ri) return;
    pthread_mutex_lock(&R.mu); /* solicited/dialer may be handed over by a duplicate */
    snprintf(ci->remote_id, sizeof ci->remote_id, "%s", ri->remote_id);
    snprintf(ci->peer_name, sizeof ci->peer_name, "%s", ri->remote_name);
    ci->did_solicit = ri->solicited;
    ci->is_configured = ri->solicited && ri->dialer && !ri->dialer->implicit;
    pthread_mutex_unlock(&R.mu);
}

void route_free_all(void)
{
    tls_ctx_unref(R.tls_accept);
    tls_ctx_unref(R.tls_dial);
    R.tls_accept = R.tls_dial = NULL;
    pthread_mutex_lock(&R.mu);
    free(R.routes);
    R.routes = NULL;
    R.nroutes = R.caproutes = 0;
    ikmap_free(&R.interest);
    for (curl_t *u = R.curls, *next; u; u = next) {
        next = u->next;
        free(u);
    }
    R.curls = NULL;
    for (size_t i = 0; i < R.nown; i++)
        free(R.own_urls[i]);
    free(R.own_urls);
    R.own_urls = NULL;
    R.nown = 0;
    pthread_mutex_unlock(&R.mu);
}

/* ---- the route connection kind --------------------------------------------------- */

static void route_init_op(worker_t *w, conn_t *c, const inq_item_t *it)
{
    route_conn_init(w, c, it->solicited, it->url, it->dialer);
}

static void route_closed_op(conn_t *c)
{
    route_conn_closed(c);
    /* the remote interest (subs) it held: gone from what gateways were told */
    session_closed(c, route_remote_sub_removed);
}

static void route_gone_op(conn_t *c)
{
    NOTICE("%sRouter connection closed: %s", c->prefix, close_reason_str(c->reason));
}

static void route_free_op(conn_t *c)
{
    session_free(c);
    route_conn_free(c);
}

static void route_fill_info_op(conn_t *c, conn_info_t *ci, bool with_subs)
{
    session_fill_info(c, ci, with_subs);
    route_fill_info(c, ci);
}

/* Accepted on the cluster port or dialled. Its lines are bounded at 64 KiB at least: the
 * reference does not bound them (an INFO lists every client URL of the cluster, an RMSG
 * every queue group that won). */
const conn_ops_t route_conn_ops = {
    .kind = CONN_ROUTE,
    .name = "route",
    .tag = "rid",
    .tls_word = "route ",
    .line_min = 64 * 1024,
    .deadline_from_progress = true,
    .pausable = false,
    .init = route_init_op,
    .process = route_process,
    .timer = route_timer,
    .tls_done = route_start_protocol,
    .send_err = session_send_err,
    .closed = route_closed_op,
    .gone = route_gone_op,
    .free = route_free_op,
    .fill_info = route_fill_info_op,
    .command = NULL,
    .connect_verdict = route_connect_verdict,
};

size_t server_snapshot_routes(conn_info_t **out, bool with_subs)
{
    return conn_snapshot(&route_conn_ops, out, with_subs);
}
