/* sysreq.c: the monitoring endpoints as the system account's requests
 * ($SYS.REQ.SERVER.PING.<EP>, $SYS.REQ.SERVER.<id>.<EP>, $SYS.REQ.ACCOUNT.<acc>.<EP>;
 * docs/accounts.md "The system account"), registered with nats/sys.c.
 *
 * A request's JSON payload holds the endpoint's options under the reference's
 * JSON names ("subscriptions", "offset", "acc", ...) and the event filter
 * ("server_name", "cluster", "host": a server that does not match stays
 * silent). They become the query of the HTTP handler, which runs as for
 * /connz and friends on this (the system) thread; its indented body is
 * compacted, as the reference's replies are. */
#include "monitor/monitor.h"
#include "monitor/sysreq.h"
#include "nats/account.h"
#include "nats/gateway.h"
#include "nats/route.h"
#include "nats/sys.h"
#include "core/core.h"

#include <stdio.h>
#include <string.h>

typedef struct req_opts {
    buf_t query;
    bool filtered_out;
    bool include_unused; /* account STATZ: accounts without connections too */
} req_opts_t;

/* JSON option name -> query parameter (NULL: not an option of these endpoints). */
static const struct {
    const char *json, *param;
} opt_map[] = {
    {"sort", "sort"},   {"auth", "auth"}, {"subscriptions", "subs"}, {"offset", "offset"},
    {"limit", "limit"}, {"cid", "cid"},   {"user", "user"},          {"acc", "acc"},
    {"account", "acc"}, {"test", "test"}, {"filter_subject", NULL},
};

static void add_param(buf_t *q, const char *name, const char *v, size_t n)
{
    if (q->len) buf_putc(q, '&');
    buf_puts(q, name);
    buf_putc(q, '=');
    for (size_t i = 0; i < n; i++) { /* percent-encode what a query cannot hold */
        unsigned char ch = (unsigned char)v[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '.' || ch == '-' || ch == '_' || ch == '*' || ch == '>')
            buf_putc(q, (char)ch);
        else
            buf_printf(q, "%%%02X", ch);
    }
}

static int opt_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    req_opts_t *o = ctx;
    char val[512];
    size_t vn;
    if (t == JSON_STRING) {
        long n = json_unquote(raw, val, sizeof val);
        if (n < 0) return 0;
        vn = (size_t)n;
    } else if (t == JSON_NUMBER || t == JSON_BOOL) {
        vn = raw.n < sizeof val ? raw.n : sizeof val - 1;
        memcpy(val, raw.p, vn);
        val[vn] = 0;
    } else {
        return 0;
    }
    /* the event filter: this server answers only if it matches */
    if (json_key_is(key, "server_name")) {
        if (vn && strcmp(val, srv->server_name) != 0) o->filtered_out = true;
        return 0;
    }
    if (json_key_is(key, "host")) {
        const char *h = srv->opts->host ? srv->opts->host : "";
        if (vn && strcmp(val, h) != 0) o->filtered_out = true;
        return 0;
    }
    if (json_key_is(key, "cluster")) {
        const char *c = srv->opts->cluster.name ? srv->opts->cluster.name : "";
        if (vn && strcmp(val, c) != 0) o->filtered_out = true;
        return 0;
    }
    if (json_key_is(key, "include_unused")) {
        o->include_unused = strcmp(val, "true") == 0;
        return 0;
    }
    if (json_key_is(key, "subscriptions_detail")) {
        if (strcmp(val, "true") == 0) add_param(&o->query, "subs", "detail", 6);
        return 0;
    }
    if (json_key_is(key, "state")) { /* the reference's ConnState numbers */
        static const char *names[] = {"open", "closed", "all"};
        int s = atoi(val);
        if (s >= 0 && s <= 2) add_param(&o->query, "state", names[s], strlen(names[s]));
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(opt_map); i++) {
        if (!json_key_is(key, opt_map[i].json) || !opt_map[i].param) continue;
        if (t == JSON_BOOL && strcmp(val, "false") == 0) return 0;
        if (t == JSON_NUMBER && strcmp(val, "0") == 0) return 0;
        add_param(&o->query, opt_map[i].param, val, vn);
    }
    return 0;
}

/* A request's options into o: SYS_EP_DATA; SYS_EP_SILENT when the event filter leaves
 * this server out; SYS_EP_BAD_REQUEST (its description in out) when they are not one
 * JSON object (an empty payload has none). */
static int parse_opts(const char *opts, size_t n, req_opts_t *o, buf_t *out)
{
    if (!json_blank(opts, n) && json_parse_object(opts, n, opt_member, o) != 0) {
        buf_puts(out, "invalid JSON options: expected one JSON object");
        return SYS_EP_BAD_REQUEST;
    }
    return o->filtered_out ? SYS_EP_SILENT : SYS_EP_DATA;
}

/* The HTTP handler h with the request's options (and acc, for an account's request):
 * one of SYS_EP_* (sys.h); a handler's refusal becomes the reference's 500 with its
 * text, options that are no JSON object its 400. */
static int run(monitor_fn h, const char *acc, const char *opts, size_t optsn, buf_t *out)
{
    req_opts_t o = {0};
    int rc = parse_opts(opts, optsn, &o, out);
    if (rc != SYS_EP_DATA) {
        buf_free(&o.query);
        return rc;
    }
    if (acc) add_param(&o.query, "acc", acc, strlen(acc));
    http_req_t req = {0};
    req.method = (slice_t){"GET", 3};
    req.query = (slice_t){o.query.p ? o.query.p : "", o.query.len};
    buf_t body = {0};
    monitor_reply_t rep = {0};
    int status = h(&req, &body, &rep);
    buf_free(&o.query);
    if (status != 200) {
        buf_append(out, body.p ? body.p : "", body.len);
        buf_free(&body);
        return SYS_EP_FAILED;
    }
    json_compact(out, body.p ? body.p : "{}", body.len);
    buf_free(&body);
    return SYS_EP_DATA;
}

/* The endpoints that are an HTTP handler with the request's options. */
#define HTTP_EP(name, handler)                                                                     \
    static int name(const char *acc, const char *o, size_t n, buf_t *out)                          \
    {                                                                                              \
        return run(handler, acc, o, n, out);                                                       \
    }
HTTP_EP(ep_varz, handle_varz)
HTTP_EP(ep_connz, handle_connz)
HTTP_EP(ep_subsz, handle_subsz)
HTTP_EP(ep_routez, handle_routez)
HTTP_EP(ep_gatewayz, handle_gatewayz)
HTTP_EP(ep_leafz, handle_leafz)
HTTP_EP(ep_accountz, handle_accountz)
HTTP_EP(ep_healthz, handle_healthz)
HTTP_EP(ep_jsz, handle_jsz)

/* Options of a request that is not an HTTP handler's: only the event filter counts. */
static int filter_only(const char *o, size_t n, buf_t *out)
{
    req_opts_t ro = {0};
    int rc = parse_opts(o, n, &ro, out);
    buf_free(&ro.query);
    return rc;
}

/* $SYS.REQ.ACCOUNT.<acc>.INFO: the account's detail (loaded accounts only). */
static int ep_acc_info(const char *acc, const char *o, size_t n, buf_t *out)
{
    int rc = filter_only(o, n, out);
    if (rc != SYS_EP_DATA) return rc;
    return accountz_info(acc, out) == 200 ? SYS_EP_DATA : SYS_EP_FAILED;
}

/* $SYS.REQ.ACCOUNT.<acc>.JSZ: the reference's answer without JetStream. */
static int ep_acc_jsz(const char *acc, const char *o, size_t n, buf_t *out)
{
    (void)acc;
    int rc = filter_only(o, n, out);
    if (rc != SYS_EP_DATA) return rc;
    buf_puts(out, "jetstream not enabled");
    return SYS_EP_FAILED;
}

static bool count_active(account_t *a, void *arg)
{
    if (atomic_load(&a->nconns) > 0) ++*(int *)arg;
    return true;
}

/* statsz "routes" (one per route) and "gateways" (one per outbound gateway, with what
 * its inbound connections received), as the reference's; omitted when empty. */
static void statsz_peers(jw_t *w)
{
    conn_info_t *v = NULL;
    size_t n = server_snapshot_routes(&v, false);
    if (n) jw_arr_begin(w, "routes");
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(w, NULL);
        jw_uint(w, "rid", v[i].cid);
        if (v[i].peer_name[0]) jw_str(w, "name", v[i].peer_name);
        data_stats_write(w, "sent", v[i].out_msgs, v[i].out_bytes);
        data_stats_write(w, "received", v[i].in_msgs, v[i].in_bytes);
        jw_uint(w, "pending", v[i].pending_bytes);
        jw_obj_end(w);
    }
    if (n) jw_arr_end(w);
    conn_infos_free(v, n);
    v = NULL;
    n = conn_snapshot(&gateway_conn_ops, &v, false);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].did_solicit || !v[i].peer_name[0]) continue;
        if (!any) jw_arr_begin(w, "gateways");
        any = true;
        uint64_t in_msgs = 0, in_bytes = 0;
        int64_t inbound = 0;
        for (size_t k = 0; k < n; k++) {
            if (v[k].did_solicit || strcmp(v[k].peer_name, v[i].peer_name) != 0) continue;
            in_msgs += v[k].in_msgs, in_bytes += v[k].in_bytes, inbound++;
        }
        jw_obj_begin(w, NULL);
        jw_uint(w, "gwid", v[i].cid);
        jw_str(w, "name", v[i].peer_name);
        data_stats_write(w, "sent", v[i].out_msgs, v[i].out_bytes);
        data_stats_write(w, "received", in_msgs, in_bytes);
        jw_int(w, "inbound_connections", inbound);
        jw_obj_end(w);
    }
    if (any) jw_arr_end(w);
    conn_infos_free(v, n);
}

/* The "statsz" of $SYS.REQ.SERVER.PING and the heartbeat. */
static int ep_statsz(const char *acc, const char *o, size_t n, buf_t *out)
{
    (void)acc;
    int rc = filter_only(o, n, out);
    if (rc != SYS_EP_DATA) return rc;
    server_stats_t st;
    server_stats(&st);
    int active = 0;
    accounts_foreach(count_active, &active);
    jw_t w;
    jw_init(&w, out, false);
    jw_obj_begin(&w, NULL);
    jw_time(&w, "start", srv->start_wall_ns);
    jw_int(&w, "mem", process_rss_bytes());
    jw_int(&w, "cores", os_ncpus());
    jw_float(&w, "cpu", process_cpu_percent());
    jw_int(&w, "connections", atomic_load(&srv->num_clients));
    jw_uint(&w, "total_connections", atomic_load(&srv->total_conns));
    jw_int(&w, "active_accounts", active);
    jw_uint(&w, "subscriptions", accounts_num_subs());
    data_stats_write(&w, "sent", st.out_msgs, st.out_bytes);
    data_stats_write(&w, "received", st.in_msgs, st.in_bytes);
    jw_uint(&w, "slow_consumers", atomic_load(&srv->slow_consumers));
    statsz_peers(&w);
    jw_int(&w, "active_servers", 1 + route_count());
    jw_obj_end(&w);
    return SYS_EP_DATA;
}

/* $SYS.REQ.ACCOUNT.<acc>.STATZ (and .PING.STATZ through every account's import). */
static int ep_acc_statz(const char *acc, const char *o, size_t n, buf_t *out)
{
    req_opts_t ro = {0};
    int rc = parse_opts(o, n, &ro, out);
    buf_free(&ro.query);
    if (rc != SYS_EP_DATA) return rc;
    if (acc && strcmp(acc, "PING") == 0) return SYS_EP_SILENT; /* the account ping's own */
    /* one account (asked for, or through its import), or every one (the account ping in
     * the system account: acc NULL); those without connections only if include_unused,
     * and a server with no row to give stays silent (the reference's rules) */
    size_t at = out->len;
    accstatz_write(out, false, acc, ro.include_unused);
    if (!ro.include_unused && !memmem(out->p + at, out->len - at, "\"acc\"", 5)) {
        out->len = at;
        return SYS_EP_SILENT;
    }
    return SYS_EP_DATA;
}

void sysreq_register(void)
{
    sys_register_endpoint("STATZ", false, true, ep_acc_statz);
    sys_register_endpoint("STATSZ", true, false, ep_statsz);
    sys_register_endpoint("VARZ", true, false, ep_varz);
    sys_register_endpoint("CONNZ", true, true, ep_connz);
    sys_register_endpoint("SUBSZ", true, true, ep_subsz);
    sys_register_endpoint("ROUTEZ", true, false, ep_routez);
    sys_register_endpoint("GATEWAYZ", true, false, ep_gatewayz);
    sys_register_endpoint("HEALTHZ", true, false, ep_healthz);
    sys_register_endpoint("LEAFZ", true, true, ep_leafz);
    sys_register_endpoint("ACCOUNTZ", true, false, ep_accountz);
    sys_register_endpoint("JSZ", true, false, ep_jsz);
    sys_register_endpoint("JSZ", false, true, ep_acc_jsz); /* (found per kind: sys.c) */
    sys_register_endpoint("INFO", false, true, ep_acc_info);
}
