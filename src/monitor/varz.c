/* varz.c: /varz (the server's configuration and counters), /healthz and
 * the HTML index page at /. /varz writes its fields in the reference's order
 * and with its rules for what is shown (a field the reference omits when
 * empty is omitted here too). */
#include "nats/account.h"
#include "nats/resolver.h"
#include "base/gofmt.h"
#include "base/json.h"
#include "base/version.h"
#include "conf/opts_table.h"
#include "core/server.h"
#include "monitor/monitor.h"
#include "nats/auth.h"
#include "nats/route.h"
#include "nats/leaf.h"
#include "nats/dial.h"
#include "proto/route_parse.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

/* A route URL as the reference lists it: host:port, no scheme or user info. */
static void jw_str_url_hostport(jw_t *w, const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strrchr(p, '@');
    if (at) p = at + 1;
    size_t n = strcspn(p, "/");
    jw_strn(w, NULL, p, n);
}

/* Writes key: [...] from a JSON array of strings as route_urls.c renders it (the
 * clients' connect_urls), re-indented like the rest of the document. */
static void jw_str_array_json(jw_t *w, const char *key, const char *arr)
{
    jw_arr_begin(w, key);
    for (const char *p = arr; (p = strchr(p, '"')) != NULL;) {
        const char *e = p + 1;
        while (*e && *e != '"')
            e += *e == '\\' && e[1] ? 2 : 1;
        if (!*e) break;
        char v[1024];
        long n = json_unquote((slice_t){p, (size_t)(e - p + 1)}, v, sizeof v);
        if (n >= 0) jw_strn(w, NULL, v, (size_t)n);
        p = e + 1;
    }
    jw_arr_end(w);
}

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

/* The "cluster" object: the cluster block as configured and its listener. */
static void write_cluster(jw_t *w, const opts_t *o)
{
    jw_obj_begin(w, "cluster");
    if (o->cluster.name && *o->cluster.name) jw_str(w, "name", o->cluster.name);
    if (o->cluster.port) {
        if (o->cluster.host && *o->cluster.host) jw_str(w, "addr", o->cluster.host);
        jw_int(w, "cluster_port", srv->cluster_port ? srv->cluster_port : o->cluster.port);
        jw_float(w, "auth_timeout", secs(opts_cluster_auth_timeout_ns(o)));
        if (o->cluster.nroutes) {
            jw_arr_begin(w, "urls");
            for (size_t i = 0; i < o->cluster.nroutes; i++)
                jw_str_url_hostport(w, o->cluster.routes[i]);
            jw_arr_end(w);
        }
        jw_float(w, "tls_timeout", secs(tls_opts_timeout_ns(&o->cluster.tls)));
        if (o->cluster.tls.enabled) {
            jw_bool(w, "tls_required", true);
            jw_bool(w, "tls_verify", true);
        }
    }
    jw_obj_end(w);
}

/* The "gateway" object: the gateway block as configured and its listener (empty when
 * there is none). */
static void write_gateway(jw_t *w, const opts_t *o)
{
    const gateway_opts_t *g = &o->gateway;
    jw_obj_begin(w, "gateway");
    if (g->port && g->name && *g->name) {
        jw_str(w, "name", g->name);
        jw_str(w, "host", g->host && *g->host ? g->host : "0.0.0.0");
        jw_int(w, "port", srv->gateway_port ? srv->gateway_port : g->port);
        jw_float(w, "auth_timeout",
                 secs(g->auth_timeout_ns ? g->auth_timeout_ns : DEFAULT_AUTH_TIMEOUT_NS));
        jw_float(w, "tls_timeout", 2);
        if (g->advertise && *g->advertise) jw_str(w, "advertise", g->advertise);
        if (g->connect_retries) jw_int(w, "connect_retries", g->connect_retries);
        if (g->nremotes) {
            jw_arr_begin(w, "gateways");
            for (size_t i = 0; i < g->nremotes; i++) {
                jw_obj_begin(w, NULL);
                jw_str(w, "name", g->remotes[i].name);
                jw_arr_begin(w, "urls");
                for (size_t k = 0; k < g->remotes[i].nurls; k++)
                    jw_str_url_hostport(w, g->remotes[i].urls[k]);
                jw_arr_end(w);
                jw_obj_end(w);
            }
            jw_arr_end(w);
        }
        if (g->reject_unknown) jw_bool(w, "reject_unknown", true);
    }
    jw_obj_end(w);
}

/* ---- the fields that are not an option row, in parts ---------------------- */

static void v_identity(jw_t *w, const opts_t *o)
{
    (void)o;
    jw_str(w, "server_id", srv->server_id);
    jw_str(w, "server_name", srv->server_name);
    jw_str(w, "version", SERVER_VERSION);
    jw_int(w, "proto", 1);
    /* the reference's field for its own commit (omitted when not set); ours is
     * gnatsd-c's, and gnatsd_c_version names the build beside "version", which
     * stays the protocol level tools parse */
    if (gnatsd_c_git[0]) jw_str(w, "git_commit", gnatsd_c_git);
    jw_str(w, "go", SERVER_GO_VERSION);
    jw_str(w, "gnatsd_c_version", gnatsd_c_version);
}

/* the port as bound (the option may ask for a random one) */
static void v_port(jw_t *w, const opts_t *o)
{
    (void)o;
    jw_int(w, "port", srv->port);
}

/* as the client INFO says (the reference copies its INFO's fields) */
static void v_client_info(jw_t *w, const opts_t *o)
{
    if (auth_required()) jw_bool(w, "auth_required", true);
    if (o->tls.enabled && !o->allow_non_tls) jw_bool(w, "tls_required", true);
    if (o->tls.enabled && (o->tls.verify || o->tls.verify_and_map)) jw_bool(w, "tls_verify", true);
    char *curls = route_client_urls_json();
    if (curls) {
        jw_str_array_json(w, "connect_urls", curls);
        free(curls);
    }
}

/* the reference's baseline: the client host when http_host is not set */
static void v_http_host(jw_t *w, const opts_t *o)
{
    jw_str(w, "http_host", o->http_host && *o->http_host ? o->http_host : o->host);
}

/* the monitoring port as bound, under the field of its scheme */
static void v_http_port(jw_t *w, const opts_t *o)
{
    (void)o;
    jw_int(w, "http_port", monitor_https() ? 0 : srv->http_port);
}

static void v_https_port(jw_t *w, const opts_t *o)
{
    (void)o;
    jw_int(w, "https_port", monitor_https() ? srv->http_port : 0);
}

/* cluster {} as configured; the blocks this server does not have are empty */
static void empty_block(jw_t *w, const char *name)
{
    jw_obj_begin(w, name);
    jw_obj_end(w);
}

/* leaf {} (docs/leafnodes.md §8): with a listener its host (0.0.0.0 by default), the
 * bound port, the auth and TLS timeouts as the reference resolves them (2 s each without
 * TLS), tls_required/tls_verify with TLS; the remotes with their account, TLS timeout
 * (with tls {}) and URLs */
static void write_leaf(jw_t *w, const opts_t *o)
{
    const leaf_opts_t *lo = &o->leaf;
    jw_obj_begin(w, "leaf");
    if (lo->port) {
        jw_str(w, "host", lo->host && *lo->host ? lo->host : "0.0.0.0");
        if (leaf_port()) jw_int(w, "port", leaf_port());
        jw_float(w, "auth_timeout", (double)opts_leaf_auth_timeout_ns(lo) / 1e9);
        jw_float(w, "tls_timeout", (double)tls_opts_timeout_ns(&lo->tls) / 1e9);
        if (lo->tls.enabled) {
            jw_bool(w, "tls_required", true);
            if (lo->tls.verify) jw_bool(w, "tls_verify", true);
        }
    }
    if (lo->nremotes) {
        jw_arr_begin(w, "remotes");
        for (size_t i = 0; i < lo->nremotes; i++) {
            jw_obj_begin(w, NULL);
            if (lo->remotes[i].account) jw_str(w, "local_account", lo->remotes[i].account);
            if (lo->remotes[i].tls.enabled)
                jw_float(w, "tls_timeout", (double)tls_opts_timeout_ns(&lo->remotes[i].tls) / 1e9);
            if (lo->remotes[i].nurls) {
                jw_arr_begin(w, "urls");
                for (size_t k = 0; k < lo->remotes[i].nurls; k++) {
                    /* host:port, as the reference shows a remote's URL (7422 by default) */
                    const char *u = lo->remotes[i].urls[k];
                    char host[256], hp[300];
                    int port = 0;
                    route_url_split(u, host, sizeof host, &port, NULL, 0, NULL, 0);
                    if (!url_has_port(u)) port = 7422;
                    snprintf(hp, sizeof hp, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
                    jw_str(w, NULL, hp);
                }
                jw_arr_end(w);
            }
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static void v_blocks(jw_t *w, const opts_t *o)
{
    write_cluster(w, o);
    write_gateway(w, o);
    write_leaf(w, o);
    static const char *const none[] = {"mqtt", "websocket", "jetstream"};
    for (size_t i = 0; i < ARRAY_LEN(none); i++)
        empty_block(w, none[i]);
}

/* ---- operator mode: trusted_operators_jwt / _claim ------------------------------- */

typedef struct opfield_ctx {
    jw_t *w;
    const char *want;
    bool is_list;
} opfield_ctx_t;

static int opfield_elem(void *ctx, json_type_t t, slice_t raw)
{
    char v[1024];
    if (t == JSON_STRING && json_unquote(raw, v, sizeof v) >= 0) jw_str(ctx, NULL, v);
    return 0;
}

static int opfield_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    opfield_ctx_t *x = ctx;
    char v[1024];
    if (!json_key_is(key, x->want)) return 0;
    if (x->is_list && t == JSON_ARRAY && raw.n > 2) {
        jw_arr_begin(x->w, x->want);
        json_parse_array(raw.p, raw.n, opfield_elem, x->w);
        jw_arr_end(x->w);
    } else if (t == JSON_STRING && raw.n > 2 && json_unquote(raw, v, sizeof v) >= 0) {
        jw_str(x->w, x->want, v);
    } else if (t == JSON_BOOL && raw.p[0] == 't') {
        jw_bool(x->w, x->want, true);
    }
    return 0;
}

/* The claims as the reference shows them: its JWT library's operator claims (version 2
 * field order, empty fields left out), also for a version 1 token. */
static void write_operator_claim(jw_t *w, const op_claims_t *oc)
{
    const jwt_t *j = &oc->j;
    jw_obj_begin(w, NULL);
    if (oc->aud[0]) jw_str(w, "aud", oc->aud);
    if (j->exp) jw_int(w, "exp", j->exp);
    if (j->jti[0]) jw_str(w, "jti", j->jti);
    if (j->iat) jw_int(w, "iat", j->iat);
    if (j->iss[0]) jw_str(w, "iss", j->iss);
    if (j->name[0]) jw_str(w, "name", j->name);
    if (j->nbf) jw_int(w, "nbf", j->nbf);
    if (j->sub[0]) jw_str(w, "sub", j->sub);
    jw_obj_begin(w, "nats");
    static const struct {
        const char *key;
        bool list;
    } fields[] = {{"signing_keys", true},
                  {"account_server_url", false},
                  {"operator_service_urls", true},
                  {"system_account", false},
                  {"assert_server_version", false},
                  {"strict_signing_key_usage", false},
                  {"tags", true}};
    for (size_t i = 0; i < ARRAY_LEN(fields) && j->nats.n; i++) {
        opfield_ctx_t x = {w, fields[i].key, fields[i].list};
        json_parse_object(j->nats.p, j->nats.n, opfield_member, &x);
    }
    jw_str(w, "type", "operator");
    jw_int(w, "version", j->version);
    jw_obj_end(w);
    jw_obj_end(w);
}

static void write_operators(jw_t *w)
{
    const op_claims_t *ops;
    size_t n = resolver_operators(&ops);
    if (!n) return;
    jw_arr_begin(w, "trusted_operators_jwt");
    for (size_t i = 0; i < n; i++)
        jw_str(w, NULL, ops[i].token);
    jw_arr_end(w);
    jw_arr_begin(w, "trusted_operators_claim");
    for (size_t i = 0; i < n; i++)
        write_operator_claim(w, &ops[i]);
    jw_arr_end(w);
}

static void v_state(jw_t *w, const opts_t *o)
{
    (void)o;
    jw_time(w, "start", srv->start_wall_ns);
    int64_t now = now_wall_ns();
    jw_time(w, "now", now);
    char up[GO_UPTIME_MAX];
    size_t upn = go_uptime(up, sizeof up, now_mono_ns() - srv->start_mono_ns);
    jw_strn(w, "uptime", up, upn);
    jw_int(w, "mem", process_rss_bytes());
    long cores = os_ncpus();
    jw_int(w, "cores", cores);
    jw_int(w, "gomaxprocs", srv->nworkers);
    jw_float(w, "cpu", process_cpu_percent());
    jw_int(w, "connections", atomic_load(&srv->num_clients));
    jw_uint(w, "total_connections", atomic_load(&srv->total_conns));
    jw_int(w, "routes", route_count());
    jw_int(w, "remotes", route_remotes());
    jw_int(w, "leafnodes", leaf_count());
    server_stats_t st;
    server_stats(&st);
    jw_uint(w, "in_msgs", st.in_msgs);
    jw_uint(w, "out_msgs", st.out_msgs);
    jw_uint(w, "in_bytes", st.in_bytes);
    jw_uint(w, "out_bytes", st.out_bytes);
    jw_uint(w, "slow_consumers", atomic_load(&srv->slow_consumers));
    jw_uint(w, "subscriptions", accounts_num_subs());
    monitor_write_req_stats(w);
    jw_time(w, "config_load_time", atomic_load(&srv->config_load_ns));
    write_operators(w);
    const account_t *sys = account_system();
    if (sys) jw_str(w, "system_account", sys->name);
}

/* Each part's rank is that of its first field (conf/opts_table.h: the
 * reference's Varz field order, by tens); the option rows with a /varz field
 * go between the parts by their own rank (host 70, max_connections 150, ...). */
static const struct varz_part {
    unsigned rank;
    void (*write)(jw_t *w, const opts_t *o);
} varz_parts[] = {
    {10, v_identity},    /* server_id .. go, gnatsd_c_version */
    {80, v_port},        /* port */
    {90, v_client_info}, /* auth_required, tls_required, tls_verify, connect_urls */
    {190, v_http_host},  /* http_host */
    {200, v_http_port},  /* http_port */
    {220, v_https_port}, /* https_port */
    {270, v_blocks},     /* cluster .. jetstream */
    {350, v_state},      /* start .. config_load_time */
};

/* ---- the option rows ------------------------------------------------------ */

static void write_row(jw_t *w, const opt_def_t *d, const opts_t *o)
{
    const char *name = d->varz.name;
    bool omit_empty = d->varz.show == VZ_OMITEMPTY;
    if (d->type == OT_STR) {
        const char *s = opt_str(d, o);
        if (*s || !omit_empty) jw_str(w, name, s);
        return;
    }
    int64_t v = opt_int(d, o);
    if (v == 0 && omit_empty) return;
    if (d->varz.show == VZ_SECS)
        jw_float(w, name, secs(v));
    else if (d->type == OT_BOOL)
        jw_bool(w, name, v != 0);
    else
        jw_int(w, name, v);
}

/* A field's place: a part of rank r sits at r * ROW_SLOTS, a row of rank r
 * after it, by table position (equal ranks keep table order). */
#define ROW_SLOTS 1024L
static long row_place(const opt_def_t *d)
{
    return d->varz.rank * ROW_SLOTS + 1 + (d - opt_rows);
}

/* Writes the rows placed after *at and before `before`, in place order. */
static void write_rows(jw_t *w, const opts_t *o, long *at, long before)
{
    for (;;) {
        const opt_def_t *next = NULL;
        for (size_t i = 0; i < opt_nrows; i++) {
            const opt_def_t *d = &opt_rows[i];
            long p = row_place(d);
            if (d->varz.name && p > *at && p < before && (!next || p < row_place(next))) next = d;
        }
        if (!next) return;
        write_row(w, next, o);
        *at = row_place(next);
    }
}

int handle_varz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)req;
    (void)rep;
    opts_t *o = srv->opts;
    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);
    long at = -1;
    for (size_t i = 0; i < ARRAY_LEN(varz_parts); i++) {
        long place = varz_parts[i].rank * ROW_SLOTS;
        write_rows(&w, o, &at, place);
        varz_parts[i].write(&w, o);
        at = place;
    }
    write_rows(&w, o, &at, LONG_MAX);
    jw_obj_end(&w);
    return 200;
}

int handle_healthz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)rep;
    /* JetStream-only switches: nothing to check here, but validated (and the
     * request counted first) as the reference does. */
    static const char *const flags[] = {"js-enabled", "js-enabled-only", "js-server-only"};
    for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
        bool v;
        if (mon_bool(req, flags[i], &v, body)) return 400;
    }
    buf_puts(body, "{\"status\":\"ok\"}");
    return 200;
}

static const char root_html[] =
    "<html lang=\"en\">\n"
    "   <head>\n"
    "    <link rel=\"shortcut icon\" href=\"https://nats.io/favicon.ico\">\n"
    "    <style type=\"text/css\">\n"
    "      body { font-family: ui-sans-serif,system-ui,-apple-system,sans-serif; font-size: 18; "
    "font-weight: light-bold; margin-left: 32px }\n"
    "      a { display:block; margin-left: 7px; padding-bottom: 6px; color: rgb(72 72 92); "
    "text-decoration: none }\n"
    "      a:hover { font-weight: 600; color: rgb(59 50 202) }\n"
    "      a.help { display:inline; font-weight: 600; color: rgb(59 50 202); font-size: 20}\n"
    "      a.last { padding-bottom: 16px }\n"
    "      a.version { font-size: 14; font-weight: 400; width: 312px; text-align: right; "
    "margin-top: -2rem }\n"
    "    </style>\n"
    "  </head>\n"
    "  <body>\n"
    "    <h1>NATS</h1>\n"
    "    <a href=https://github.com/nats-io/nats-server class='version'>v" SERVER_VERSION "</a>\n"
    "\n"
    "    <a href=./varz>General</a>\n"
    "    <a href=./jsz>JetStream</a>\n"
    "    <a href=./connz>Connections</a>\n"
    "    <a href=./accountz>Accounts</a>\n"
    "    <a href=./accstatz>Account Stats</a>\n"
    "    <a href=./subsz>Subscriptions</a>\n"
    "    <a href=./routez>Routes</a>\n"
    "    <a href=./leafz>LeafNodes</a>\n"
    "    <a href=./gatewayz>Gateways</a>\n"
    "    <a href=./healthz class=last>Health Probe</a>\n"
    "    <a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring "
    "class=\"help\">Help</a>\n"
    "  </body>\n"
    "</html>\n";

int handle_root(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)req;
    rep->content_type = "text/html; charset=utf-8";
    rep->no_jsonp = true;
    buf_append(body, root_html, sizeof root_html - 1);
    return 200;
}
