/* metrics.c: /metrics, the server's counters and gauges in the Prometheus
 * text exposition format 0.0.4 (names documented in docs/monitoring.md).
 *
 * Not in the reference. The server-wide values are read from atomics, the
 * sublist statistics and the monitor's own counters, so a scrape is cheap
 * enough to be polled every few seconds under load. The per-route families
 * come from the same snapshot /routez uses (each worker describes its routes
 * between two batches); it is taken only while routes exist, and a family is
 * declared only when it has a sample. */
#include "nats/account.h"
#include "conf/opts_table.h"
#include "core/core.h"
#include "nats/auth.h"
#include "monitor/monitor.h"
#include "nats/route.h"
#include "core/server.h"

#include <unistd.h>

/* Prometheus label value escaping: backslash, double quote and newline. */
static void put_label_value(buf_t *b, const char *s)
{
    buf_putc(b, '"');
    for (; s && *s; s++) {
        if (*s == '\\')
            buf_puts(b, "\\\\");
        else if (*s == '"')
            buf_puts(b, "\\\"");
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static void family(buf_t *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u(buf_t *b, const char *name, uint64_t v)
{
    buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Option values are signed: max_connections: -1 is a configured value and
 * shows as -1, as in /varz. */
static void sample_i(buf_t *b, const char *name, int64_t v)
{
    buf_printf(b, "%s %lld\n", name, (long long)v);
}

static void sample_f(buf_t *b, const char *name, double v)
{
    buf_printf(b, "%s ", name);
    json_put_float(b, v);
    buf_putc(b, '\n');
}

static void metric_u(buf_t *b, const char *name, const char *type, const char *help, uint64_t v)
{
    family(b, name, type, help);
    sample_u(b, name, v);
}

static void metric_f(buf_t *b, const char *name, const char *type, const char *help, double v)
{
    family(b, name, type, help);
    sample_f(b, name, v);
}

static void req_stat(const char *path, uint64_t n, void *arg)
{
    buf_t *b = arg;
    buf_puts(b, "gnatsd_http_requests_total{path=");
    put_label_value(b, path);
    buf_printf(b, "} %llu\n", (unsigned long long)n);
}

typedef struct route_family {
    const char *name, *help;
} route_family_t;

static const route_family_t route_fams[] = {
    {"gnatsd_route_pending_bytes", "Bytes queued to a route."},
    {"gnatsd_route_subscriptions", "Interest registered by a route's peer."},
    {"gnatsd_route_in_msgs", "Messages received from a route."},
    {"gnatsd_route_out_msgs", "Messages sent to a route."},
    {"gnatsd_route_in_bytes", "Payload bytes received from a route."},
    {"gnatsd_route_out_bytes", "Payload bytes sent to a route."},
    {"gnatsd_route_rtt_seconds", "Last measured round-trip time of a route."},
};

/* Value of family f for route ci (the RTT in ns); false when it has none
 * (RTT not measured yet). */
static bool route_value(size_t f, const conn_info_t *ci, uint64_t *v)
{
    const uint64_t vals[] = {ci->pending_bytes,
                             ci->num_subs,
                             ci->in_msgs,
                             ci->out_msgs,
                             ci->in_bytes,
                             ci->out_bytes,
                             (uint64_t)(ci->rtt_ns > 0 ? ci->rtt_ns : 0)};
    *v = vals[f];
    return f + 1 < ARRAY_LEN(vals) || ci->rtt_ns > 0;
}

/* One sample per route, labelled rid and remote_id, under each family that
 * has at least one. */
static void route_families(buf_t *b)
{
    if (route_count() <= 0) return;
    conn_info_t *v = NULL;
    size_t n = server_snapshot_routes(&v, false);
    for (size_t f = 0; f < ARRAY_LEN(route_fams); f++) {
        bool declared = false;
        for (size_t i = 0; i < n; i++) {
            uint64_t x;
            if (!route_value(f, &v[i], &x)) continue;
            if (!declared) family(b, route_fams[f].name, "gauge", route_fams[f].help);
            declared = true;
            buf_printf(b, "%s{rid=\"%llu\",remote_id=", route_fams[f].name,
                       (unsigned long long)v[i].cid);
            put_label_value(b, v[i].remote_id);
            buf_puts(b, "} ");
            if (f == ARRAY_LEN(route_fams) - 1) /* seconds */
                json_put_float(b, (double)x / 1e9);
            else
                buf_printf(b, "%llu", (unsigned long long)x);
            buf_putc(b, '\n');
        }
    }
    conn_infos_free(v, n);
}

/* The option rows with a gauge (conf/opts_table.h, .metric), in table order. */
static void option_gauges(buf_t *b, const opts_t *o)
{
    for (size_t i = 0; i < opt_nrows; i++) {
        const opt_def_t *d = &opt_rows[i];
        if (!d->metric) continue;
        char help[128];
        snprintf(help, sizeof help, "Configured %s.", d->key);
        family(b, d->metric, "gauge", help);
        sample_i(b, d->metric, opt_int(d, o));
    }
}

int handle_metrics(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)req;
    rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
    rep->no_jsonp = true;
    buf_t *b = body;

    family(b, "gnatsd_info", "gauge", "Server identity; the value is always 1.");
    buf_puts(b, "gnatsd_info{server_id=");
    put_label_value(b, srv->server_id);
    buf_puts(b, ",server_name=");
    put_label_value(b, srv->server_name);
    buf_puts(b, ",version=");
    put_label_value(b, SERVER_VERSION);
    buf_puts(b, "} 1\n");

    metric_f(b, "gnatsd_start_time_seconds", "gauge", "Server start, Unix time in seconds.",
             (double)srv->start_wall_ns / 1e9);
    metric_f(b, "gnatsd_uptime_seconds", "gauge", "Seconds since the server started.",
             (double)(now_mono_ns() - srv->start_mono_ns) / 1e9);
    metric_f(b, "gnatsd_config_load_time_seconds", "gauge",
             "Last successful configuration load (start or reload), Unix time in seconds.",
             (double)atomic_load(&srv->config_load_ns) / 1e9);
    metric_u(b, "gnatsd_mem_bytes", "gauge", "Resident set size of the process in bytes.",
             (uint64_t)process_rss_bytes());
    metric_f(b, "gnatsd_cpu_percent", "gauge", "Process CPU usage in percent of one core.",
             process_cpu_percent());
    metric_u(b, "gnatsd_cores", "gauge", "CPUs online.", (uint64_t)os_ncpus());
    metric_u(b, "gnatsd_workers", "gauge", "Worker threads serving connections.",
             (uint64_t)srv->nworkers);

    int64_t nc = atomic_load(&srv->num_clients);
    metric_u(b, "gnatsd_connections", "gauge", "Open client connections.",
             nc < 0 ? 0 : (uint64_t)nc);
    metric_u(b, "gnatsd_connections_total", "counter", "Client connections accepted since start.",
             atomic_load(&srv->total_conns));
    option_gauges(b, srv->opts);
    metric_u(b, "gnatsd_slow_consumers_total", "counter",
             "Connections closed or flagged as slow consumers since start.",
             atomic_load(&srv->slow_consumers));

    server_stats_t st;
    server_stats(&st);
    metric_u(b, "gnatsd_in_msgs_total", "counter", "Messages received from connections.",
             st.in_msgs);
    metric_u(b, "gnatsd_out_msgs_total", "counter", "Messages delivered to connections.",
             st.out_msgs);
    metric_u(b, "gnatsd_in_bytes_total", "counter", "Payload bytes received from connections.",
             st.in_bytes);
    metric_u(b, "gnatsd_out_bytes_total", "counter", "Payload bytes delivered to connections.",
             st.out_bytes);

    sublist_stats_t ss;
    accounts_sublist_stats(NULL, &ss);
    metric_u(b, "gnatsd_subscriptions", "gauge", "Subscriptions in the server.", ss.num_subs);
    metric_u(b, "gnatsd_sublist_inserts_total", "counter", "Subscriptions ever inserted.",
             ss.num_inserts);
    metric_u(b, "gnatsd_sublist_removes_total", "counter", "Subscriptions ever removed.",
             ss.num_removes);
    metric_u(b, "gnatsd_sublist_matches_total", "counter", "Subject match lookups.",
             ss.num_matches);
    metric_u(b, "gnatsd_sublist_cache_hits_total", "counter",
             "Match lookups answered from the cache.", ss.cache_hits);
    metric_u(b, "gnatsd_sublist_cache_entries", "gauge", "Cached match results.", ss.num_cache);
    metric_u(b, "gnatsd_sublist_max_fanout", "gauge",
             "Largest result size among cached match results.", ss.max_fanout);
    metric_f(b, "gnatsd_sublist_avg_fanout", "gauge", "Mean result size of cached match results.",
             ss.avg_fanout);

    metric_u(b, "gnatsd_routes", "gauge", "Route connections.", (uint64_t)route_count());
    metric_u(b, "gnatsd_remotes", "gauge", "Distinct remote servers connected over routes.",
             (uint64_t)route_remotes());
    route_families(b);

    /* the scrape in progress is counted once it is answered */
    family(b, "gnatsd_http_requests_total", "counter", "Monitoring requests by endpoint path.");
    monitor_foreach_req_stat(req_stat, b);
    metric_u(b, "gnatsd_http_connections", "gauge", "Open monitoring (HTTP/HTTPS) connections.",
             (uint64_t)monitor_num_conns());
    return 200;
}
