/* gateway.c: see gateway.h; the module's files are listed in gateway_int.h.
 *
 * This one holds the module's state, the remote gateways and their dialer threads
 * (one per remote cluster: it keeps one outbound connection up), a gateway
 * connection's lifecycle, start and stop of the gateway port, and /gatewayz. */
#include "nats/gateway.h"
#include "nats/gateway_int.h"
#include "nats/route.h"
#include "nats/dial.h"
#include "nats/deliver.h"
#include "nats/account.h"
#include "index/sublist.h"
#include "nats/session.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/log.h"
#include "core/tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Remote gateways learnt from INFOs (each a dialer thread) are bounded: far more
 * clusters than a super-cluster has, few enough that a peer announcing made-up
 * gateways cannot exhaust threads. Beyond it, new names are ignored with a warning. */
#define GW_MAX_REMOTES 64
#define GW_DIALER_STACK (512 * 1024)

_Atomic bool gateway_on;
gw_state_t G = {.mu = PTHREAD_MUTEX_INITIALIZER};
static int gw_listen_fd = -1;
static bool cap_warned;
static bool no_dialing; /* gateway_set_dialing(false): fuzzing */

void gateway_set_dialing(bool on)
{
    pthread_mutex_lock(&G.mu);
    no_dialing = !on;
    pthread_mutex_unlock(&G.mu);
}

const char *gateway_name(void)
{
    return atomic_load(&gateway_on) ? G.name : "";
}

/* ---- INFO ------------------------------------------------------------------------- */

void gw_info_json(buf_t *b)
{
    opts_t *o = srv->opts;
    jw_t w;
    jw_init(&w, b, false);
    jw_obj_begin(&w, NULL);
    jw_str(&w, "server_id", srv->server_id);
    jw_str(&w, "server_name", srv->server_name);
    jw_str(&w, "version", SERVER_VERSION);
    jw_int(&w, "proto", 0);
    jw_str(&w, "go", "");
    char host[256];
    int port = 0;
    route_url_split(G.url, host, sizeof host, &port, NULL, 0, NULL, 0);
    jw_str(&w, "host", host);
    jw_int(&w, "port", port);
    jw_bool(&w, "headers", true);
    if (o->gateway.user && *o->gateway.user) jw_bool(&w, "auth_required", true);
    if (o->gateway.tls.enabled) {
        jw_bool(&w, "tls_required", true);
        jw_bool(&w, "tls_verify", true);
    }
    jw_int(&w, "max_payload", o->max_payload);
    jw_str(&w, "gateway", G.name);
    jw_arr_begin(&w, "gateway_urls");
    for (size_t i = 0; i < G.nurls; i++)
        jw_str(&w, NULL, G.urls[i]);
    jw_arr_end(&w);
    jw_str(&w, "gateway_url", G.url);
    jw_bool(&w, "gateway_nrp", true);
    jw_bool(&w, "gateway_iom", true);
    jw_obj_end(&w);
}

void gw_gossip_info(buf_t *b, const char *name, char *const *urls, size_t nurls)
{
    jw_t w;
    buf_puts(b, "INFO ");
    jw_init(&w, b, false);
    jw_obj_begin(&w, NULL);
    char id[80];
    snprintf(id, sizeof id, "GW%s", srv->server_id);
    jw_str(&w, "server_id", id);
    jw_str(&w, "server_name", srv->server_name);
    jw_str(&w, "gateway", name);
    jw_arr_begin(&w, "gateway_urls");
    for (size_t i = 0; i < nurls; i++)
        jw_str(&w, NULL, urls[i]);
    jw_arr_end(&w);
    jw_int(&w, "gateway_cmd", 1);
    jw_obj_end(&w);
    buf_puts(b, "\r\n");
}

const char *gateway_url(void)
{
    return G.url;
}

/* The address set changed: every inbound gateway gets our INFO again. */
static void send_info_all_locked(void)
{
    buf_t b = {0};
    buf_puts(&b, "INFO ");
    gw_info_json(&b);
    buf_puts(&b, "\r\n");
    for (size_t i = 0; i < G.nin; i++)
        session_send(NULL, G.in[i], b.p, b.len);
    buf_free(&b);
}

void gateway_url_ref(const char *url, int delta)
{
    if (!atomic_load(&gateway_on) || !url || !*url) return;
    pthread_mutex_lock(&G.mu);
    size_t i = 0;
    while (i < G.nurls && strcmp(G.urls[i], url) != 0)
        i++;
    bool changed = false;
    if (i == G.nurls) {
        if (delta > 0 && G.nurls < 1024) {
            G.urls = xrealloc(G.urls, (G.nurls + 1) * sizeof *G.urls);
            G.url_refs = xrealloc(G.url_refs, (G.nurls + 1) * sizeof *G.url_refs);
            G.urls[G.nurls] = xstrdup(url);
            G.url_refs[G.nurls++] = delta;
            changed = true;
        }
    } else if ((G.url_refs[i] += delta) <= 0 && i > 0) {
        free(G.urls[i]);
        G.urls[i] = G.urls[G.nurls - 1];
        G.url_refs[i] = G.url_refs[G.nurls - 1];
        G.nurls--;
        changed = true;
    }
    if (changed) send_info_all_locked();
    pthread_mutex_unlock(&G.mu);
}

/* ---- remotes and their dialers ------------------------------------------------------ */

gw_remote_t *gw_remote_find_locked(const char *name)
{
    for (gw_remote_t *r = G.remotes; r; r = r->next)
        if (strcmp(r->name, name) == 0) return r;
    return NULL;
}

static bool has_inbound_locked(const char *name)
{
    for (size_t i = 0; i < G.nin; i++)
        if (strcmp(G.in[i]->gw->name, name) == 0) return true;
    return false;
}

static void *dialer_main(void *arg)
{
    gw_remote_t *r = arg;
    const char *kind = r->implicit ? "implicit" : "explicit";
    /* the reference waits a second before soliciting configured gateways */
    if (dial_wait(&r->mu, &r->cv, &r->stop,
                  r->implicit ? (int64_t)(now_mono_ns() % 50000000LL) : 1000000000LL))
        return NULL;
    int attempts = 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->connected && !r->stop && !atomic_load(&srv->shutting_down))
            pthread_cond_wait(&r->cv, &r->mu);
        bool stop = r->stop || atomic_load(&srv->shutting_down);
        pthread_mutex_unlock(&r->mu);
        if (stop) break;
        pthread_mutex_lock(&G.mu);
        size_t n = r->nurls;
        char **urls = xcalloc(n ? n : 1, sizeof *urls);
        for (size_t i = 0; i < n; i++)
            urls[i] = xstrdup(r->urls[i]);
        pthread_mutex_unlock(&G.mu);
        attempts++;
        int64_t every = srv->opts->connect_error_reports;
        bool report = attempts == 1 || (every > 0 && attempts % every == 0);
        int fd = -1;
        char used[300] = "";
        size_t first = n ? (size_t)(now_mono_ns() % n) : 0; /* random order, as the reference */
        for (size_t k = 0; k < n && fd < 0; k++) {
            const char *u = urls[(first + k) % n];
            char host[256];
            int port = 0;
            route_url_split(u, host, sizeof host, &port, NULL, 0, NULL, 0);
            snprintf(used, sizeof used, "%s:%d", host, port);
            log_msg(report ? LOG_INF : LOG_DBG,
                    "Connecting to %s gateway \"%s\" (%s) at %s (attempt %d)", kind, r->name, used,
                    used, attempts);
            char err[300];
            fd = dial_url(u, 7222, err, sizeof err);
            if (fd < 0)
                log_msg(report ? LOG_ERR : LOG_DBG,
                        "Error connecting to %s gateway \"%s\" (%s) at %s (attempt %d): %s", kind,
                        r->name, used, used, attempts, err);
            else {
                inq_item_t it = {.fd = fd,
                                 .ops = &gateway_conn_ops,
                                 .solicited = true,
                                 .url = xstrdup(u),
                                 .dialer = r};
                pthread_mutex_lock(&r->mu);
                r->connected = true;
                pthread_mutex_unlock(&r->mu);
                server_hand_off(&it);
                attempts = 0;
            }
        }
        for (size_t i = 0; i < n; i++)
            free(urls[i]);
        free(urls);
        if (fd >= 0) continue;
        if (r->implicit) {
            int retries = srv->opts->gateway.connect_retries;
            pthread_mutex_lock(&G.mu);
            bool inbound = has_inbound_locked(r->name);
            pthread_mutex_unlock(&G.mu);
            if (!inbound && (retries == 0 || attempts > retries)) break;
        }
        if (dial_wait(&r->mu, &r->cv, &r->stop, 1000000000LL)) break;
    }
    return NULL;
}

static void start_dialer(gw_remote_t *r)
{
    if (no_dialing) return; /* recorded, never dialled */
    os_sigs_t old = os_block_signals();
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, GW_DIALER_STACK);
    r->started = pthread_create(&r->th, &attr, dialer_main, r) == 0;
    pthread_attr_destroy(&attr);
    os_restore_signals(old);
    if (!r->started) ERROR("Error starting a dialer for gateway \"%s\"", r->name);
}

/* host:port of a URL, lower-cased: two spellings of one address are one URL */
static void url_key(const char *u, char *out, size_t n)
{
    char host[256];
    int port = 0;
    route_url_split(u, host, sizeof host, &port, NULL, 0, NULL, 0);
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(out, n, "%s:%d", host, port);
}

void gw_add_url_locked(gw_remote_t *r, const char *u)
{
    char k[300], k2[300];
    url_key(u, k, sizeof k);
    for (size_t i = 0; i < r->nurls; i++) {
        url_key(r->urls[i], k2, sizeof k2);
        if (strcmp(k, k2) == 0) return;
    }
    if (r->nurls >= 64) return; /* bounded: URLs of one cluster */
    strv_push(&r->urls, &r->nurls, xstrdup(u));
}

static gw_remote_t *remote_new_locked(const char *name, bool implicit)
{
    gw_remote_t *r = xcalloc(1, sizeof *r);
    r->name = xstrdup(name);
    hash_name_b62(name, r->hash, 6);
    r->implicit = implicit;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->tls = G.tls_dial ? tls_ctx_ref(G.tls_dial) : NULL;
    r->next = G.remotes;
    G.remotes = r;
    G.nremotes++;
    return r;
}

void gw_implicit(const char *name, char **urls, size_t nurls, const char *url)
{
    if (!name || !*name || !atomic_load(&gateway_on) || atomic_load(&srv->shutting_down)) return;
    pthread_mutex_lock(&G.mu);
    if (strcmp(name, G.name) == 0) {
        pthread_mutex_unlock(&G.mu);
        return;
    }
    gw_remote_t *r = gw_remote_find_locked(name);
    bool start = false;
    if (!r) {
        if (srv->opts->gateway.reject_unknown) {
            pthread_mutex_unlock(&G.mu);
            return;
        }
        if (G.nremotes >= GW_MAX_REMOTES) {
            if (!cap_warned)
                WARN("Not connecting to gateway \"%s\": %d gateways known", name, GW_MAX_REMOTES);
            cap_warned = true;
            pthread_mutex_unlock(&G.mu);
            return;
        }
        r = remote_new_locked(name, true);
        start = true;
    }
    for (size_t i = 0; i < nurls; i++)
        gw_add_url_locked(r, urls[i]);
    if (url && *url) gw_add_url_locked(r, url);
    if (start && !r->nurls) start = false; /* nothing to dial: kept, dialled if an URL comes */
    if (start) start_dialer(r);
    pthread_mutex_unlock(&G.mu);
}

void gateway_route_gossip(const route_info_msg_t *info)
{
    gw_implicit(info->gw_name, info->gw_urls, info->ngw_urls, NULL);
}

void gateway_route_registered(worker_t *w, conn_t *route)
{
    if (!atomic_load(&gateway_on)) return;
    buf_t b = {0};
    pthread_mutex_lock(&G.mu);
    for (gw_remote_t *r = G.remotes; r; r = r->next)
        if (r->out && r->nurls) gw_gossip_info(&b, r->name, r->urls, r->nurls);
    pthread_mutex_unlock(&G.mu);
    if (b.len) session_send(w, route, b.p, b.len);
    buf_free(&b);
}

void *gateway_fuzz_remote(const char *name)
{
    pthread_mutex_lock(&G.mu);
    gw_remote_t *r = gw_remote_find_locked(name);
    if (!r) r = remote_new_locked(name, false);
    pthread_mutex_unlock(&G.mu);
    return r;
}

/* ---- connection lifecycle --------------------------------------------------------- */

static void gw_init_op(worker_t *w, conn_t *c, const inq_item_t *it)
{
    struct gw_info *gi = xcalloc(1, sizeof *gi);
    c->gw = gi;
    gi->outbound = it->solicited;
    gi->remote = it->dialer;
    gi->url = it->url ? xstrdup(it->url) : NULL;
    gi->start_wall_ns = now_wall_ns();
    c->start_wall_ns = gi->start_wall_ns;
    c->verbose = c->pedantic = false;
    c->echo = false;
    c->headers = true;
    if (gi->outbound) {
        snprintf(gi->name, sizeof gi->name, "%s", gi->remote->name);
        NOTICE("%sCreating outbound gateway connection to \"%s\"", c->prefix, gi->name);
    } else {
        NOTICE("%sProcessing inbound gateway connection", c->prefix);
    }
    tls_ctx_t *t = gi->outbound ? gi->remote->tls : G.tls_accept;
    if (t) { /* TLS first: nothing in plaintext */
        char host[256] = "";
        int port;
        if (gi->outbound) route_url_split(gi->url, host, sizeof host, &port, NULL, 0, NULL, 0);
        bool insecure = srv->opts->gateway.tls.insecure;
        tls_conn_begin(w, c, tls_ctx_ref(t), gi->outbound, host, !insecure, "gateway");
        return;
    }
    gw_start_protocol(w, c);
}

static void gw_closed_op(conn_t *c)
{
    struct gw_info *gi = c->gw;
    if (gi) {
        pthread_mutex_lock(&G.mu);
        if (gi->registered) {
            if (gi->outbound) {
                if (gi->remote && gi->remote->out == c) gi->remote->out = NULL;
            } else {
                for (size_t i = 0; i < G.nin; i++)
                    if (G.in[i] == c) {
                        G.in[i] = G.in[--G.nin];
                        break;
                    }
            }
            gi->registered = false;
        }
        pthread_mutex_unlock(&G.mu);
        if (gi->outbound && gi->remote) {
            gw_remote_t *r = gi->remote;
            pthread_mutex_lock(&r->mu);
            r->connected = false;
            if (gi->wrong_name) r->stop = true;
            pthread_cond_signal(&r->cv);
            pthread_mutex_unlock(&r->mu);
        }
    }
    session_closed(c, gw_sub_removed); /* the interest it held: nobody to tell */
}

static void gw_gone_op(conn_t *c)
{
    NOTICE("%sGateway connection closed: %s", c->prefix, close_reason_str(c->reason));
}

static void gw_free_op(conn_t *c)
{
    session_free(c);
    struct gw_info *gi = c->gw;
    if (!gi) return;
    free(gi->url);
    if (gi->connect_line) {
        explicit_bzero(gi->connect_line, strlen(gi->connect_line));
        free(gi->connect_line);
    }
    for (size_t i = 0; i < gi->naccs; i++)
        free(gi->accs[i]);
    free(gi->accs);
    free(gi);
    c->gw = NULL;
}

static void gw_fill_info_op(conn_t *c, conn_info_t *ci, bool with_subs)
{
    session_fill_info(c, ci, with_subs);
    if (!c->gw) return;
    snprintf(ci->remote_id, sizeof ci->remote_id, "%s", c->gw->remote_id);
    snprintf(ci->peer_name, sizeof ci->peer_name, "%s", c->gw->name);
    ci->did_solicit = c->gw->outbound;
    ci->is_configured = c->gw->outbound && c->gw->remote && !c->gw->remote->implicit;
}

/* ---- start / stop ----------------------------------------------------------------- */

int gateway_start(void)
{
    opts_t *o = srv->opts;
    const gateway_opts_t *g = &o->gateway;
    if (!g->port || !g->name || !*g->name) return 0;
    const char *host = g->host && *g->host ? g->host : "0.0.0.0";
    char err[300];
    gw_listen_fd = listen_on(host, g->port, &srv->gateway_port, err, sizeof err);
    if (gw_listen_fd < 0) {
        log_msg(LOG_FTL, "Error listening on gateway port: %d - %s", g->port, err);
        return -1;
    }
    if (g->tls.enabled) {
        G.tls_accept = tls_ctx_server(&g->tls, true, err, sizeof err);
        G.tls_dial = G.tls_accept ? tls_ctx_client(&g->tls, err, sizeof err) : NULL;
        if (!G.tls_accept || !G.tls_dial) {
            log_msg(LOG_FTL, "Error configuring gateway TLS: %s", err);
            return -1;
        }
    }
    for (size_t i = 0; i < g->nremotes; i++)
        if (g->remotes[i].tls.insecure || (g->tls.enabled && g->tls.insecure)) {
            WARN("TLS certificate chain and hostname of solicited gateways will not be verified. "
                 "DO NOT USE IN PRODUCTION!");
            break;
        }
    listener_add(gw_listen_fd, "Gateway", &gateway_conn_ops);
    pthread_mutex_lock(&G.mu);
    snprintf(G.name, sizeof G.name, "%s", g->name);
    hash_name_b62(G.name, G.hash, 6);
    hash_name_b62(srv->server_id, G.sid_hash, 6);
    snprintf(G.prefix, sizeof G.prefix, "_GR_.%s.%s.", G.hash, G.sid_hash);
    if (g->advertise && *g->advertise)
        snprintf(G.url, sizeof G.url, "%s", g->advertise);
    else
        snprintf(G.url, sizeof G.url, "%s:%d", strcmp(host, "0.0.0.0") ? host : "127.0.0.1",
                 srv->gateway_port);
    G.urls = xcalloc(1, sizeof *G.urls);
    G.url_refs = xcalloc(1, sizeof *G.url_refs);
    G.urls[0] = xstrdup(G.url);
    G.url_refs[0] = 1;
    G.nurls = 1;
    for (size_t i = 0; i < g->nremotes; i++) {
        if (strcmp(g->remotes[i].name, G.name) == 0) continue; /* our own cluster's URLs */
        gw_remote_t *r = gw_remote_find_locked(g->remotes[i].name);
        if (!r) r = remote_new_locked(g->remotes[i].name, false);
        if (g->remotes[i].tls.enabled) {
            tls_ctx_unref(r->tls);
            r->tls = tls_ctx_client(&g->remotes[i].tls, err, sizeof err);
            if (!r->tls) {
                pthread_mutex_unlock(&G.mu);
                log_msg(LOG_FTL, "Error configuring TLS of gateway \"%s\": %s", r->name, err);
                return -1;
            }
        }
        for (size_t j = 0; j < g->remotes[i].nurls; j++)
            gw_add_url_locked(r, g->remotes[i].urls[j]);
    }
    pthread_mutex_unlock(&G.mu);
    atomic_store(&gateway_on, true);
    static const route_gw_hooks_t rh = {gateway_interest, gateway_url_ref, gateway_route_registered,
                                        gateway_route_gossip, gateway_url};
    static deliver_gw_ops_t dh = {gateway_deliver_reply, {NULL, 0}};
    dh.reply_prefix = (slice_t){G.prefix, GW_PREFIX_LEN};
    atomic_store(&route_gw, &rh);
    atomic_store(&deliver_gw, &dh);
    NOTICE("Gateway name is %s", G.name);
    NOTICE("Listening for gateways connections on %s:%d", host, srv->gateway_port);
    if (g->advertise && *g->advertise)
        NOTICE("Advertise address for gateway \"%s\" is set to %s", G.name, G.url);
    else
        NOTICE("Address for gateway \"%s\" is %s", G.name, G.url);
    return 0;
}

void gateway_announce(void)
{
    if (gw_listen_fd < 0) return;
    pthread_mutex_lock(&G.mu);
    for (gw_remote_t *r = G.remotes; r; r = r->next)
        if (!r->implicit && !r->started) start_dialer(r);
    pthread_mutex_unlock(&G.mu);
}

void gateway_shutdown(void)
{
    if (!atomic_load(&gateway_on)) return;
    pthread_mutex_lock(&G.mu);
    gw_remote_t *list = G.remotes;
    pthread_mutex_unlock(&G.mu);
    for (gw_remote_t *r = list; r; r = r->next) {
        if (!r->started) continue;
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    for (gw_remote_t *r = list; r; r = r->next)
        if (r->started) pthread_join(r->th, NULL), r->started = false;
    if (gw_listen_fd >= 0) {
        os_sock_close(gw_listen_fd);
        gw_listen_fd = -1;
    }
}

void gateway_free_all(void)
{
    pthread_mutex_lock(&G.mu);
    for (gw_remote_t *r = G.remotes, *next; r; r = next) {
        next = r->next;
        free(r->name);
        strv_free(&r->urls, &r->nurls);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        tls_ctx_unref(r->tls);
        free(r);
    }
    G.remotes = NULL;
    G.nremotes = 0;
    strv_free(&G.urls, &G.nurls);
    free(G.url_refs);
    G.url_refs = NULL;
    free(G.in);
    G.in = NULL;
    G.nin = G.capin = 0;
    ikmap_free(&G.interest);
    tls_ctx_unref(G.tls_accept);
    tls_ctx_unref(G.tls_dial);
    G.tls_accept = G.tls_dial = NULL;
    pthread_mutex_unlock(&G.mu);
}

/* ---- monitoring ----------------------------------------------------------------- */

int gateway_outbound_count(void)
{
    int n = 0;
    pthread_mutex_lock(&G.mu);
    for (gw_remote_t *r = G.remotes; r; r = r->next)
        n += r->out != NULL;
    pthread_mutex_unlock(&G.mu);
    return n;
}

int gateway_inbound_count(void)
{
    pthread_mutex_lock(&G.mu);
    int n = (int)G.nin;
    pthread_mutex_unlock(&G.mu);
    return n;
}

/* ---- the gateway connection kind --------------------------------------------------- */

/* Accepted on the gateway port or dialled. Lines are bounded like a route's (an INFO
 * lists the gateway URLs of a cluster, an RMSG every queue group that won). */
const conn_ops_t gateway_conn_ops = {
    .kind = CONN_GATEWAY,
    .name = "gateway",
    .tag = "gid",
    .tls_word = "gateway ",
    .line_min = 64 * 1024,
    .deadline_from_progress = true,
    .pausable = false,
    .init = gw_init_op,
    .process = gw_process,
    .timer = gw_timer,
    .tls_done = gw_start_protocol,
    .send_err = session_send_err,
    .closed = gw_closed_op,
    .gone = gw_gone_op,
    .free = gw_free_op,
    .fill_info = gw_fill_info_op,
    .command = NULL,
    .connect_verdict = gw_connect_verdict,
};
