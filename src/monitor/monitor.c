/* monitor.c: the HTTP(S) monitoring port (/varz, /healthz, / ...), the
 * route table and the query-parameter decoders the endpoints share.
 *
 * One thread with its own epoll loop: monitoring is off the message path, so
 * a slow or hostile HTTP client can only slow other HTTP clients. Every
 * connection's buffered request head is bounded (1 MiB, as the reference),
 * so is the sum over all connections, the number of HTTP connections is
 * bounded, and idle ones time out. Unsent answers are bounded per connection
 * and in total by backpressure (HTTP_OUT_PAUSE, HTTP_MAX_OUT_TOTAL). HTTPS
 * runs on the same loop with non-blocking OpenSSL calls (handshake, reads and
 * writes all resume on the next epoll event). */
#include "core/core.h"
#include "proto/http.h"
#include "base/json.h"
#include "base/log.h"
#include "monitor/monitor.h"
#include "base/qsbr.h"
#include "nats/auth.h"
#include "nats/route.h"
#include "core/server.h"
#include "core/tls.h"

#include <openssl/err.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_HEAD (1024 * 1024)
#define HTTP_MAX_CONNS 1024
#define HTTP_IDLE_NS (30LL * 1000000000LL)
/* All connections together may buffer this much request data; beyond it the
 * connection that pushed the total over is dropped, so many slow clients
 * with huge headers cannot make the process grow without bound. */
#define HTTP_MAX_BUFFERED (32u * 1024 * 1024)
/* Output backpressure. Go's net/http answers one request at a time per
 * connection and blocks writing it, so what it holds per connection is about
 * one response. Here a connection stops taking requests (and reading the
 * socket) while more than HTTP_OUT_PAUSE of its answers are unsent, and
 * resumes once they drained below it: a client that pipelines requests and
 * never reads holds at most that plus one response. All connections together
 * stop taking requests while HTTP_MAX_OUT_TOTAL is unsent. A connection that
 * makes no progress either way for HTTP_IDLE_NS is closed. */
#define HTTP_OUT_PAUSE (64u * 1024)
#define HTTP_MAX_OUT_TOTAL (64u * 1024 * 1024)

typedef struct hconn {
    int fd;
    SSL *ssl;     /* HTTPS only */
    bool tls_up;  /* handshake complete */
    bool sniffed; /* first bytes checked for a plain HTTP request */
    buf_t in;
    buf_t out;
    size_t out_off;
    int64_t last_ns;
    bool close_after;
    bool stalled; /* stopped taking requests until its output drains */
    bool eof;     /* the client finished sending: answer what it sent, then close */
    struct hconn *next, *prev;
} hconn_t;

static struct {
    pthread_t th;
    int epfd, evfd;
    hconn_t *conns;
    int nconns;
    _Atomic bool stop;
    bool running;
    pthread_mutex_t stats_lock;
    /* http_req_stats: path -> count, in first-seen order is not needed: Go sorts map keys */
    struct {
        char path[32];
        uint64_t n;
    } req_stats[16];
    int nreq_stats;
    /* CPU% sampling */
    int64_t last_cpu_ns, last_sample_ns;
    double cpu;
    /* HTTPS: built from the client tls block; rebuilt when a reload swaps the
     * server's client context (tls_src is the one it was built after). */
    bool https;
    tls_ctx_t *tls;
    void *tls_src;
    size_t buffered; /* request bytes held by all connections */
    size_t unsent;   /* response bytes not yet written, all connections */
    bool any_stalled;
    /* Accept back-off after a temporary error (out of descriptors or memory):
     * the level-triggered listener leaves the epoll set until accept_resume_ns
     * instead of waking the loop again at once. */
    int64_t accept_delay_ns, accept_resume_ns;
    _Atomic int nconns_pub;
} mon;

static const struct monitor_route *find_route(slice_t path);

static void count_request(const char *path, int delta)
{
    pthread_mutex_lock(&mon.stats_lock);
    for (int i = 0; i < mon.nreq_stats; i++) {
        if (strcmp(mon.req_stats[i].path, path) == 0) {
            mon.req_stats[i].n += (uint64_t)(int64_t)delta;
            if (mon.req_stats[i].n == 0) /* a path never counted is not listed */
                mon.req_stats[i] = mon.req_stats[--mon.nreq_stats];
            pthread_mutex_unlock(&mon.stats_lock);
            return;
        }
    }
    if (mon.nreq_stats < (int)ARRAY_LEN(mon.req_stats)) {
        snprintf(mon.req_stats[mon.nreq_stats].path, sizeof mon.req_stats[0].path, "%s", path);
        mon.req_stats[mon.nreq_stats++].n = 1;
    }
    pthread_mutex_unlock(&mon.stats_lock);
}

static int cmp_stat(const void *a, const void *b)
{
    return strcmp(((const char *)a), ((const char *)b));
}

void monitor_write_req_stats(jw_t *w)
{
    pthread_mutex_lock(&mon.stats_lock);
    qsort(mon.req_stats, (size_t)mon.nreq_stats, sizeof mon.req_stats[0], cmp_stat);
    jw_obj_begin(w, "http_req_stats");
    for (int i = 0; i < mon.nreq_stats; i++)
        jw_uint(w, mon.req_stats[i].path, mon.req_stats[i].n);
    jw_obj_end(w);
    pthread_mutex_unlock(&mon.stats_lock);
}

int64_t process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

double process_cpu_percent(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t cpu = (int64_t)ru.ru_utime.tv_sec * 1000000000LL + ru.ru_utime.tv_usec * 1000LL +
                  (int64_t)ru.ru_stime.tv_sec * 1000000000LL + ru.ru_stime.tv_usec * 1000LL;
    int64_t now = now_mono_ns();
    pthread_mutex_lock(&mon.stats_lock);
    if (mon.last_sample_ns == 0) {
        /* First sample: average since start. */
        int64_t el = now - srv->start_mono_ns;
        mon.cpu = el > 0 ? 100.0 * (double)cpu / (double)el : 0;
    } else if (now - mon.last_sample_ns > 100000000LL) {
        mon.cpu = 100.0 * (double)(cpu - mon.last_cpu_ns) / (double)(now - mon.last_sample_ns);
    }
    if (now - mon.last_sample_ns > 100000000LL) {
        mon.last_sample_ns = now;
        mon.last_cpu_ns = cpu;
    }
    double v = mon.cpu;
    pthread_mutex_unlock(&mon.stats_lock);
    /* Go rounds to one decimal in varz */
    return (double)((int64_t)(v * 10 + 0.5)) / 10.0;
}

void format_uptime(buf_t *b, int64_t ns)
{
    int64_t s = ns / 1000000000LL;
    int64_t y = s / (365 * 86400);
    s -= y * 365 * 86400;
    int64_t d = s / 86400;
    s -= d * 86400;
    int64_t h = s / 3600;
    s -= h * 3600;
    int64_t m = s / 60;
    s -= m * 60;
    if (y)
        buf_printf(b, "%lldy%lldd%lldh%lldm%llds", (long long)y, (long long)d, (long long)h,
                   (long long)m, (long long)s);
    else if (d)
        buf_printf(b, "%lldd%lldh%lldm%llds", (long long)d, (long long)h, (long long)m,
                   (long long)s);
    else if (h)
        buf_printf(b, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)s);
    else if (m)
        buf_printf(b, "%lldm%llds", (long long)m, (long long)s);
    else
        buf_printf(b, "%llds", (long long)s);
}

/* Go's fmtFrac: the fraction of v below 10^prec, trailing zeros dropped. */
static void put_frac(buf_t *b, uint64_t frac, int prec)
{
    char d[16];
    int n = 0;
    bool print = false;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(frac % 10);
        print = print || digit != 0;
        if (print) d[n++] = (char)('0' + digit);
        frac /= 10;
    }
    if (!print) return;
    buf_putc(b, '.');
    while (n > 0)
        buf_putc(b, d[--n]);
}

void format_duration(buf_t *b, int64_t ns)
{
    uint64_t u = ns < 0 ? (uint64_t)(-ns) : (uint64_t)ns;
    if (ns < 0) buf_putc(b, '-');
    if (u == 0) {
        buf_puts(b, "0s");
    } else if (u < 1000) {
        buf_printf(b, "%lluns", (unsigned long long)u);
    } else if (u < 1000000) {
        buf_printf(b, "%llu", (unsigned long long)(u / 1000));
        put_frac(b, u % 1000, 3);
        buf_puts(b, "\xc2\xb5s");
    } else if (u < 1000000000) {
        buf_printf(b, "%llu", (unsigned long long)(u / 1000000));
        put_frac(b, u % 1000000, 6);
        buf_puts(b, "ms");
    } else {
        uint64_t s = u / 1000000000ULL, m = s / 60, h = m / 60;
        if (h) buf_printf(b, "%lluh", (unsigned long long)h);
        if (m) buf_printf(b, "%llum", (unsigned long long)(m % 60));
        buf_printf(b, "%llu", (unsigned long long)(s % 60));
        put_frac(b, u % 1000000000ULL, 9);
        buf_putc(b, 's');
    }
}

void monitor_foreach_req_stat(void (*fn)(const char *path, uint64_t n, void *arg), void *arg)
{
    pthread_mutex_lock(&mon.stats_lock);
    qsort(mon.req_stats, (size_t)mon.nreq_stats, sizeof mon.req_stats[0], cmp_stat);
    for (int i = 0; i < mon.nreq_stats; i++)
        fn(mon.req_stats[i].path, mon.req_stats[i].n, arg);
    pthread_mutex_unlock(&mon.stats_lock);
}

/* ---- query parameters -------------------------------------------------------------- */

bool mon_param(const http_req_t *req, const char *name, char *out, size_t outsz)
{
    slice_t v;
    out[0] = 0;
    if (!http_query_get(req->query, name, &v) || v.n == 0) return false;
    /* Go drops a malformed pair from url.Query(): treat it as absent. */
    if (http_unescape(v, out, outsz) <= 0) {
        out[0] = 0;
        return false;
    }
    return true;
}

/* strconv.Quote of s (the value echoed in strconv error texts). */
static void go_quote(buf_t *b, const char *s)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        switch (c) {
        case '"':
            buf_puts(b, "\\\"");
            continue;
        case '\\':
            buf_puts(b, "\\\\");
            continue;
        case '\a':
            buf_puts(b, "\\a");
            continue;
        case '\b':
            buf_puts(b, "\\b");
            continue;
        case '\f':
            buf_puts(b, "\\f");
            continue;
        case '\n':
            buf_puts(b, "\\n");
            continue;
        case '\r':
            buf_puts(b, "\\r");
            continue;
        case '\t':
            buf_puts(b, "\\t");
            continue;
        case '\v':
            buf_puts(b, "\\v");
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            buf_printf(b, "\\x%02x", c);
        } else if (c < 0x80) {
            buf_putc(b, (char)c);
        } else {
            /* keep a well-formed multi-byte sequence, escape a stray byte */
            int n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            int k = 1;
            while (n && k < n && (p[k] & 0xc0) == 0x80)
                k++;
            if (n && k == n) {
                buf_append(b, (const char *)p, (size_t)n);
                p += n - 1;
            } else {
                buf_printf(b, "\\x%02x", c);
            }
        }
    }
    buf_putc(b, '"');
}

static int bad_param(buf_t *err, const char *type, const char *name, const char *fn,
                     const char *val, const char *why)
{
    buf_printf(err, "Error decoding %s for '%s': %s: parsing ", type, name, fn);
    go_quote(err, val);
    buf_printf(err, ": %s", why);
    return 400;
}

int mon_bool(const http_req_t *req, const char *name, bool *v, buf_t *err)
{
    char s[256];
    *v = false;
    if (!mon_param(req, name, s, sizeof s)) return 0;
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < ARRAY_LEN(t); i++) {
        if (strcmp(s, t[i]) == 0) {
            *v = true;
            return 0;
        }
        if (strcmp(s, f[i]) == 0) return 0;
    }
    return bad_param(err, "boolean", name, "strconv.ParseBool", s, "invalid syntax");
}

/* strconv.ParseUint base 10 digits (no sign): 0 ok, -1 syntax, -2 range. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t n = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        if (n > UINT64_MAX / 10) return -2;
        uint64_t n1 = n * 10 + (uint64_t)(*s - '0');
        if (n1 < n * 10) return -2;
        n = n1;
    }
    *out = n;
    return 0;
}

int mon_int(const http_req_t *req, const char *name, int64_t *v, buf_t *err)
{
    char s[256];
    *v = 0;
    if (!mon_param(req, name, s, sizeof s)) return 0;
    const char *d = s;
    bool neg = false;
    if (*d == '+' || *d == '-') neg = *d++ == '-';
    uint64_t u = 0;
    int rc = parse_u64(d, &u);
    if (rc == 0 && u > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) rc = -2;
    if (rc)
        return bad_param(err, "int", name, "strconv.Atoi", s,
                         rc == -1 ? "invalid syntax" : "value out of range");
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

int mon_uint64(const http_req_t *req, const char *name, uint64_t *v, buf_t *err)
{
    char s[256];
    *v = 0;
    if (!mon_param(req, name, s, sizeof s)) return 0;
    int rc = parse_u64(s, v);
    if (rc)
        return bad_param(err, "uint64", name, "strconv.ParseUint", s,
                         rc == -1 ? "invalid syntax" : "value out of range");
    return 0;
}

int mon_subs(const http_req_t *req, bool *subs, bool *detail, buf_t *err)
{
    char s[256];
    *subs = *detail = false;
    if (mon_param(req, "subs", s, sizeof s) && strcasecmp(s, "detail") == 0) {
        *detail = true;
        return 0;
    }
    return mon_bool(req, "subs", subs, err);
}

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

/* Writes key: [...] from a JSON array of strings as route.c renders it (the
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

int handle_varz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)req;
    (void)rep;
    opts_t *o = srv->opts;
    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);
    jw_str(&w, "server_id", srv->server_id);
    jw_str(&w, "server_name", srv->server_name);
    jw_str(&w, "version", SERVER_VERSION);
    jw_int(&w, "proto", 1);
    jw_str(&w, "go", SERVER_GO_VERSION);
    jw_str(&w, "host", o->host);
    jw_int(&w, "port", srv->port);
    if (auth_required()) jw_bool(&w, "auth_required", true);
    /* as the client INFO says (the reference copies its INFO's fields) */
    if (o->tls.enabled && !o->allow_non_tls) jw_bool(&w, "tls_required", true);
    if (o->tls.enabled && (o->tls.verify || o->tls.verify_and_map)) jw_bool(&w, "tls_verify", true);
    char *curls = route_client_urls_json();
    if (curls) {
        jw_str_array_json(&w, "connect_urls", curls);
        free(curls);
    }
    jw_int(&w, "max_connections", o->max_connections);
    if (o->max_subscriptions) jw_int(&w, "max_subscriptions", o->max_subscriptions);
    jw_int(&w, "ping_interval", o->ping_interval_ns);
    jw_int(&w, "ping_max", o->ping_max);
    jw_str(&w, "http_host", o->http_host && *o->http_host ? o->http_host : o->host);
    jw_int(&w, "http_port", mon.https ? 0 : srv->http_port);
    jw_str(&w, "http_base_path", o->http_base_path ? o->http_base_path : "");
    jw_int(&w, "https_port", mon.https ? srv->http_port : 0);
    jw_float(&w, "auth_timeout", secs(opts_auth_timeout_ns(o)));
    jw_int(&w, "max_control_line", o->max_control_line);
    jw_int(&w, "max_payload", o->max_payload);
    jw_int(&w, "max_pending", o->max_pending);
    jw_obj_begin(&w, "cluster");
    if (o->cluster.name && *o->cluster.name) jw_str(&w, "name", o->cluster.name);
    if (o->cluster.port) {
        if (o->cluster.host && *o->cluster.host) jw_str(&w, "addr", o->cluster.host);
        jw_int(&w, "cluster_port", srv->cluster_port ? srv->cluster_port : o->cluster.port);
        jw_float(&w, "auth_timeout",
                 secs(o->cluster.auth_timeout_ns ? o->cluster.auth_timeout_ns : 2000000000LL));
        if (o->cluster.nroutes) {
            jw_arr_begin(&w, "urls");
            for (size_t i = 0; i < o->cluster.nroutes; i++)
                jw_str_url_hostport(&w, o->cluster.routes[i]);
            jw_arr_end(&w);
        }
        jw_float(
            &w, "tls_timeout",
            secs(o->cluster.tls.timeout_ns ? o->cluster.tls.timeout_ns : DEFAULT_TLS_TIMEOUT_NS));
        if (o->cluster.tls.enabled) {
            jw_bool(&w, "tls_required", true);
            jw_bool(&w, "tls_verify", true);
        }
    }
    jw_obj_end(&w);
    jw_obj_begin(&w, "gateway");
    jw_obj_end(&w);
    jw_obj_begin(&w, "leaf");
    jw_obj_end(&w);
    jw_obj_begin(&w, "mqtt");
    jw_obj_end(&w);
    jw_obj_begin(&w, "websocket");
    jw_obj_end(&w);
    jw_obj_begin(&w, "jetstream");
    jw_obj_end(&w);
    jw_float(&w, "tls_timeout",
             secs(o->tls.timeout_ns ? o->tls.timeout_ns : DEFAULT_TLS_TIMEOUT_NS));
    jw_int(&w, "write_deadline", o->write_deadline_ns);
    jw_time(&w, "start", srv->start_wall_ns);
    int64_t now = now_wall_ns();
    jw_time(&w, "now", now);
    buf_t up = {0};
    format_uptime(&up, now_mono_ns() - srv->start_mono_ns);
    jw_strn(&w, "uptime", up.p, up.len);
    buf_free(&up);
    jw_int(&w, "mem", process_rss_bytes());
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    jw_int(&w, "cores", cores);
    jw_int(&w, "gomaxprocs", srv->nworkers);
    jw_float(&w, "cpu", process_cpu_percent());
    jw_int(&w, "connections", atomic_load(&srv->num_clients));
    jw_uint(&w, "total_connections", atomic_load(&srv->total_conns));
    jw_int(&w, "routes", route_count());
    jw_int(&w, "remotes", route_remotes());
    jw_int(&w, "leafnodes", 0);
    server_stats_t st;
    server_stats(&st);
    jw_uint(&w, "in_msgs", st.in_msgs);
    jw_uint(&w, "out_msgs", st.out_msgs);
    jw_uint(&w, "in_bytes", st.in_bytes);
    jw_uint(&w, "out_bytes", st.out_bytes);
    jw_uint(&w, "slow_consumers", atomic_load(&srv->slow_consumers));
    jw_uint(&w, "subscriptions", sublist_count(srv->sl));
    monitor_write_req_stats(&w);
    jw_time(&w, "config_load_time", atomic_load(&srv->config_load_ns));
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

static int handle_root(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)req;
    rep->content_type = "text/html; charset=utf-8";
    rep->no_jsonp = true;
    buf_append(body, root_html, sizeof root_html - 1);
    return 200;
}

static const struct monitor_route routes[] = {
    {"/", handle_root}, {"/varz", handle_varz}, {"/healthz", handle_healthz}, MONITOR_EXTRA_ROUTES};

/* The http_req_stats key of a route: the first path served by its handler
 * (/subscriptionsz counts as /subsz). */
static const char *stat_path(const struct monitor_route *r)
{
    for (size_t i = 0; i < ARRAY_LEN(routes); i++)
        if (routes[i].fn == r->fn) return routes[i].path;
    return r->path;
}

static const struct monitor_route *find_route(slice_t path)
{
    for (size_t i = 0; i < ARRAY_LEN(routes); i++)
        if (routes[i].path && slice_eq_str(path, routes[i].path)) return &routes[i];
    return NULL;
}

/* ---- HTTP plumbing -------------------------------------------------------------- */

static void hconn_close(hconn_t *h)
{
    epoll_ctl(mon.epfd, EPOLL_CTL_DEL, h->fd, NULL);
    if (h->ssl) SSL_free(h->ssl);
    close(h->fd);
    mon.buffered -= h->in.len;
    mon.unsent -= h->out.len - h->out_off;
    buf_free(&h->in);
    buf_free(&h->out);
    if (h->prev)
        h->prev->next = h->next;
    else
        mon.conns = h->next;
    if (h->next) h->next->prev = h->prev;
    mon.nconns--;
    atomic_store(&mon.nconns_pub, mon.nconns);
    free(h);
}

int monitor_num_conns(void)
{
    return atomic_load(&mon.nconns_pub);
}

static void http_date(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void respond(hconn_t *h, int status, const char *ctype, const buf_t *body, bool head,
                    const char *extra_headers)
{
    const char *text = status == 200   ? "OK"
                       : status == 301 ? "Moved Permanently"
                       : status == 400 ? "Bad Request"
                       : status == 404 ? "Not Found"
                       : status == 431 ? "Request Header Fields Too Large"
                       : status == 503 ? "Service Unavailable"
                                       : "Internal Server Error";
    char date[64];
    http_date(date, sizeof date);
    buf_printf(&h->out, "HTTP/1.1 %d %s\r\n", status, text);
    if (ctype) buf_printf(&h->out, "Content-Type: %s\r\n", ctype);
    buf_printf(&h->out, "Date: %s\r\nContent-Length: %zu\r\n%s%s\r\n", date, body->len,
               extra_headers ? extra_headers : "", h->close_after ? "Connection: close\r\n" : "");
    if (!head) buf_append(&h->out, body->p, body->len);
}

static bool valid_jsonp(slice_t cb)
{
    return cb.n > 0;
}

/* Go's path.Clean plus ServeMux's trailing-slash rule (cleanPath in net/http):
 * the canonical form a non-canonical request path is redirected to. */
static void clean_path(slice_t p, buf_t *out)
{
    buf_putc(out, '/');
    size_t i = 0;
    while (i < p.n) {
        while (i < p.n && p.p[i] == '/')
            i++;
        size_t s = i;
        while (i < p.n && p.p[i] != '/')
            i++;
        size_t n = i - s;
        if (n == 0 || (n == 1 && p.p[s] == '.')) continue;
        if (n == 2 && p.p[s] == '.' && p.p[s + 1] == '.') {
            /* drop the last element */
            while (out->len > 1 && out->p[out->len - 1] != '/')
                out->len--;
            if (out->len > 1) out->len--;
            continue;
        }
        if (out->len > 1) buf_putc(out, '/');
        buf_append(out, p.p + s, n);
    }
    if (p.n && p.p[p.n - 1] == '/' && out->len > 1) buf_putc(out, '/');
}

/* Go's answer to a request it cannot parse: fixed bytes, then close. */
static void bad_request(hconn_t *h, const char *status)
{
    buf_printf(&h->out,
               "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: "
               "close\r\n\r\n%s",
               status, status);
    h->close_after = true;
}

/* url.PathEscape-style escaping of a decoded path (Go's shouldEscape with
 * encodePath): unreserved characters and $&+,/:;=@ stay, the rest is %XX. */
static void put_path_escaped(buf_t *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            (c != 0 && strchr("-_.~$&+,/:;=@", c) != NULL))
            buf_putc(b, (char)c);
        else
            buf_printf(b, "%%%02X", c);
    }
}

/* Location header value: bytes >= 0x80 as %xx (Go's hexEscapeNonASCII); the
 * parser already refused control bytes, so nothing can end the header line. */
static void put_non_ascii_escaped(buf_t *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x80)
            buf_printf(b, "%%%02x", c);
        else
            buf_putc(b, (char)c);
    }
}

/* The redirect body's href: Go's htmlEscape. */
static void put_html_escaped(buf_t *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '"':
            buf_puts(b, "&#34;");
            break;
        case '\'':
            buf_puts(b, "&#39;");
            break;
        default:
            buf_putc(b, p[i]);
        }
    }
}

/* 301 to the canonical form of the request path, as Go's ServeMux: the
 * cleaned decoded path escaped again, the raw query kept. Whatever the client
 * sent reaches the header and the HTML only escaped. */
static void redirect(hconn_t *h, const http_req_t *req, const buf_t *clean, bool head)
{
    bool get = slice_eq_str(req->method, "GET");
    buf_t url = {0}, hdr = {0}, body = {0};
    put_path_escaped(&url, clean->p, clean->len);
    if (req->query.n) {
        buf_putc(&url, '?');
        buf_append(&url, req->query.p, req->query.n);
    }
    buf_puts(&hdr, "Location: ");
    put_non_ascii_escaped(&hdr, url.p, url.len);
    buf_puts(&hdr, "\r\n");
    buf_putc(&hdr, 0);
    if (get) {
        buf_puts(&body, "<a href=\"");
        put_html_escaped(&body, url.p, url.len);
        buf_puts(&body, "\">Moved Permanently</a>.\n\n");
    }
    respond(h, 301, get || head ? "text/html; charset=utf-8" : NULL, &body, head, hdr.p);
    buf_free(&url);
    buf_free(&hdr);
    buf_free(&body);
}

static void serve(hconn_t *h, const http_req_t *req)
{
    buf_t body = {0};
    bool head = slice_eq_str(req->method, "HEAD");
    /* Routing sees the decoded path (Go's r.URL.Path); a bad escape is a 400. */
    char *dp = xmalloc(req->path.n + 1);
    long dn = http_unescape_path(req->path, dp, req->path.n + 1);
    if (dn < 0) {
        free(dp);
        bad_request(h, "400 Bad Request");
        return;
    }
    slice_t path = {dp, (size_t)dn};
    if (slice_eq_str(path, "*")) {
        /* Go: OPTIONS * is answered empty, anything else on * is a 400 */
        bool opt = slice_eq_str(req->method, "OPTIONS");
        if (!opt) h->close_after = true;
        respond(h, opt ? 200 : 400, NULL, &body, head, NULL);
        free(dp);
        return;
    }
    if (!slice_eq_str(req->method, "CONNECT")) {
        buf_t clean = {0};
        clean_path(path, &clean);
        if (clean.len != path.n || memcmp(clean.p, path.p, clean.len) != 0) {
            redirect(h, req, &clean, head);
            buf_free(&clean);
            free(dp);
            return;
        }
        buf_free(&clean);
    }
    const char *base = srv->opts->http_base_path;
    size_t bl = base ? strlen(base) : 0;
    while (bl && base[bl - 1] == '/')
        bl--;
    if (bl) {
        if (path.n < bl || memcmp(path.p, base, bl) != 0) {
            path = (slice_t){"", 0};
        } else {
            path.p += bl;
            path.n -= bl;
            if (path.n == 0) path = (slice_t){"/", 1};
        }
    }
    const struct monitor_route *r = find_route(path);
    if (!r) {
        buf_puts(&body, "404 page not found\n");
        respond(h, 404, "text/plain; charset=utf-8", &body, head,
                "X-Content-Type-Options: nosniff\r\n");
        buf_free(&body);
        free(dp);
        return;
    }
    /* Counted before the handler runs: /varz shows the request it answers. */
    count_request(stat_path(r), 1);
    monitor_reply_t rep = {.content_type = "application/json"};
    int status = r->fn(req, &body, &rep);
    if (rep.uncounted) count_request(stat_path(r), -1);
    if (status != 200 && rep.content_type && strcmp(rep.content_type, "application/json") == 0 &&
        status == 400)
        rep.content_type = "text/plain; charset=utf-8";
    slice_t cb;
    if (status == 200 && !rep.no_jsonp && http_query_get(req->query, "callback", &cb) &&
        valid_jsonp(cb)) {
        buf_t wrapped = {0};
        char name[256];
        long n = http_unescape(cb, name, sizeof name);
        if (n < 0) n = 0;
        buf_append(&wrapped, name, (size_t)n);
        buf_putc(&wrapped, '(');
        buf_append(&wrapped, body.p, body.len);
        buf_putc(&wrapped, ')');
        respond(h, status, "application/javascript", &wrapped, head, NULL);
        buf_free(&wrapped);
    } else {
        respond(h, status, rep.content_type, &body, head, NULL);
    }
    buf_free(&body);
    free(dp);
}

/* Returns false if h was closed. */
static bool hconn_flush(hconn_t *h)
{
    while (h->out_off < h->out.len) {
        size_t left = h->out.len - h->out_off;
        if (h->ssl) {
            ERR_clear_error();
            int n =
                SSL_write(h->ssl, h->out.p + h->out_off, left > INT32_MAX ? INT32_MAX : (int)left);
            if (n > 0) {
                h->out_off += (size_t)n;
                mon.unsent -= (size_t)n;
                h->last_ns = now_mono_ns();
                continue;
            }
            int e = SSL_get_error(h->ssl, n);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return true;
            hconn_close(h);
            return false;
        }
        ssize_t n = send(h->fd, h->out.p + h->out_off, left, MSG_NOSIGNAL);
        if (n > 0) {
            h->out_off += (size_t)n;
            mon.unsent -= (size_t)n;
            h->last_ns = now_mono_ns();
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        hconn_close(h);
        return false;
    }
    h->out.len = h->out_off = 0;
    if (h->out.cap > 256 * 1024) /* a big reply (connz) was sent: give the memory back */
        buf_free(&h->out);
    if (h->close_after) {
        hconn_close(h);
        return false;
    }
    return true;
}

/* Go's TLS server answers a plain HTTP request with this raw reply
 * (tlsRecordHeaderLooksLikeHTTP in net/http). */
static bool looks_like_http(const unsigned char *b)
{
    static const char *const pre[] = {"GET /", "HEAD ", "POST ", "PUT /", "OPTIO"};
    for (size_t i = 0; i < ARRAY_LEN(pre); i++)
        if (memcmp(b, pre[i], 5) == 0) return true;
    return false;
}

/* HTTPS before the request: sniff, then drive the handshake. Returns 1 when the
 * TLS session is up, 0 to wait for more events, -1 if h was closed. */
static int hconn_tls_step(hconn_t *h)
{
    if (!h->sniffed) {
        unsigned char b[5];
        ssize_t n;
        do
            n = recv(h->fd, b, sizeof b, MSG_PEEK);
        while (n < 0 && errno == EINTR);
        /* b holds nothing unless recv returned bytes: decide on n first */
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n <= 0) {
            hconn_close(h);
            return -1;
        }
        if (n < (ssize_t)sizeof b && b[0] != 0x16) {
            /* a few bytes of something that is not a TLS record: wait for 5 */
            if (!memchr("GHPO", b[0], 4)) {
                hconn_close(h);
                return -1;
            }
            return 0;
        }
        h->sniffed = true;
        if (b[0] != 0x16 && n == (ssize_t)sizeof b && looks_like_http(b)) {
            static const char msg[] = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP "
                                      "request to an HTTPS server.\n";
            ssize_t w = send(h->fd, msg, sizeof msg - 1, MSG_NOSIGNAL);
            (void)w;
            /* consume the request so the close is a FIN, not a reset that could
             * destroy the reply before the client reads it */
            char junk[4096];
            for (int i = 0; i < 16 && recv(h->fd, junk, sizeof junk, 0) > 0; i++)
                ;
            shutdown(h->fd, SHUT_WR);
            hconn_close(h);
            return -1;
        }
    }
    ERR_clear_error();
    int rc = SSL_accept(h->ssl);
    if (rc == 1) {
        h->tls_up = true;
        return 1;
    }
    int e = SSL_get_error(h->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    char why[256];
    tls_last_error(why, sizeof why);
    DEBUG("HTTPS monitor: TLS handshake error: %s", why);
    hconn_close(h);
    return -1;
}

/* One read from the socket or TLS session: >0 bytes, 0 would block, -1
 * error, -2 orderly end of the client's data. */
static ssize_t hconn_recv(hconn_t *h, char *p, size_t n)
{
    if (h->ssl) {
        ERR_clear_error();
        int r = SSL_read(h->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0) return r;
        int e = SSL_get_error(h->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
        return e == SSL_ERROR_ZERO_RETURN ? -2 : -1;
    }
    for (;;) {
        ssize_t r = recv(h->fd, p, n, 0);
        if (r > 0) return r;
        if (r == 0) return -2;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

/* True while h may not take another request: too much of its own output,
 * or of everybody's, is unsent. */
static bool out_blocked(const hconn_t *h)
{
    return h->out.len - h->out_off >= HTTP_OUT_PAUSE || mon.unsent >= HTTP_MAX_OUT_TOTAL;
}

/* Reads what the socket has (edge-triggered: until it would block, or until
 * a request head's worth is buffered). Returns -1 if h was closed, else 1 if
 * the socket was drained, 0 if bytes may be left in it. */
static int hconn_fill(hconn_t *h)
{
    for (;;) {
        buf_reserve(&h->in, 4096);
        ssize_t n = hconn_recv(h, h->in.p + h->in.len, h->in.cap - h->in.len);
        if (n == -1) {
            hconn_close(h);
            return -1;
        }
        if (n == 0) return 1;
        if (n == -2) {
            h->eof = true;
            return 1;
        }
        h->in.len += (size_t)n;
        mon.buffered += (size_t)n;
        h->last_ns = now_mono_ns();
        if (mon.buffered > HTTP_MAX_BUFFERED) {
            hconn_close(h);
            return -1;
        }
        if (h->in.len > HTTP_MAX_HEAD + 4096) return 0;
    }
}

/* Answers the complete requests in h->in (pipelining) until the output
 * bound is reached; returns true if it stopped for that bound. */
static bool hconn_serve_buffered(hconn_t *h)
{
    size_t off = 0;
    bool blocked = false;
    size_t out0 = h->out.len; /* the answers appended here are counted once, below */
    while (off < h->in.len && !h->close_after) {
        if (out_blocked(h)) {
            blocked = true;
            break;
        }
        http_req_t req;
        long n = http_parse(h->in.p + off, h->in.len - off, HTTP_MAX_HEAD, &req);
        if (n == 0) break;
        if (n < 0) {
            bad_request(h, n == -2 ? "431 Request Header Fields Too Large" : "400 Bad Request");
            off = h->in.len;
            break;
        }
        size_t total = (size_t)n + req.content_length;
        if (h->in.len - off < total) {
            if (req.content_length > HTTP_MAX_HEAD) {
                h->close_after = true;
                off = h->in.len;
            }
            break;
        }
        if (!req.keep_alive) h->close_after = true;
        serve(h, &req);
        off += total;
    }
    mon.unsent += h->out.len - out0;
    if (off) {
        memmove(h->in.p, h->in.p + off, h->in.len - off);
        h->in.len -= off;
        mon.buffered -= off;
    }
    if (h->in.cap > 64 * 1024 && h->in.len < 4096) {
        buf_t nb = {0};
        buf_append(&nb, h->in.p, h->in.len);
        buf_free(&h->in);
        h->in = nb;
    }
    return blocked;
}

size_t monitor_answer_buffer(const char *in, size_t len, buf_t *out, bool *close_after)
{
    hconn_t h = {.fd = -1};
    buf_append(&h.in, in, len);
    mon.buffered += len;
    for (;;) {
        bool blocked = hconn_serve_buffered(&h);
        /* what a socket would have taken (none: h.out.p may be NULL) */
        if (h.out.len > h.out_off) buf_append(out, h.out.p + h.out_off, h.out.len - h.out_off);
        mon.unsent -= h.out.len - h.out_off;
        h.out.len = h.out_off = 0;
        if (!blocked) break;
    }
    size_t left = h.in.len;
    mon.buffered -= left;
    buf_free(&h.in);
    buf_free(&h.out);
    *close_after = h.close_after;
    return len - left;
}

/* Reads, answers and writes until h would block on the socket or on the
 * output bound. A stalled connection reads nothing more (the client's
 * further requests wait in the kernel, which pushes back on it); it is
 * resumed when its output drains (EPOLLOUT) or, if the total bound stalled
 * it, when the total drains (monitor_main). */
static void hconn_read(hconn_t *h)
{
    if (h->ssl && !h->tls_up) {
        int st = hconn_tls_step(h);
        if (st <= 0) return;
    }
    for (;;) {
        if (!hconn_flush(h)) return;
        if (out_blocked(h)) {
            h->stalled = true;
            mon.any_stalled = true;
            return;
        }
        h->stalled = false;
        int drained = h->close_after || h->eof ? 1 : hconn_fill(h);
        if (drained < 0) return;
        bool blocked = hconn_serve_buffered(h);
        if (h->eof && !blocked) h->close_after = true; /* all it sent is answered */
        if (!hconn_flush(h)) return;
        if (h->close_after) return; /* the flush closes it once everything is out */
        /* Go on while something is left that no event will announce: requests
         * held back by the bound (the loop's top stalls h if it still holds),
         * bytes left in the socket, or decrypted bytes OpenSSL holds
         * (edge-triggered epoll). */
        if (!blocked && drained && !(h->ssl && SSL_pending(h->ssl) > 0)) return;
    }
}

/* The HTTPS context for new connections; rebuilt after a reload changed the
 * client TLS configuration. Monitoring never asks for a client certificate. */
static tls_ctx_t *https_ctx(void)
{
    void *cur = (void *)atomic_load(&srv->tls_ctx);
    if (mon.tls && cur == mon.tls_src) return mon.tls;
    char err[256];
    tls_ctx_t *t =
        srv->opts->tls.enabled ? tls_ctx_server(&srv->opts->tls, false, err, sizeof err) : NULL;
    if (t) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
        tls_ctx_unref(mon.tls);
        mon.tls = t;
    }
    mon.tls_src = cur;
    return mon.tls;
}

/* Go's net/http after a temporary accept error: 5 ms, doubling up to 1 s while
 * the errors last, one log line per pause, in its words. Open connections are
 * served meanwhile. The workers' listeners share accept_backoff_begin(), which
 * writes the reference's line for the client and route ports; the reference's
 * monitor port logs net/http's line and schedule instead, hence this one. */
static void accept_pause(int err)
{
    int64_t d = mon.accept_delay_ns ? mon.accept_delay_ns * 2 : 5000000LL;
    if (d > 1000000000LL) d = 1000000000LL;
    mon.accept_delay_ns = d;
    mon.accept_resume_ns = now_mono_ns() + d;
    epoll_ctl(mon.epfd, EPOLL_CTL_DEL, srv->http_fd, NULL);
    char addr[INET6_ADDRSTRLEN + 8] = "";
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(srv->http_fd, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "";
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
            snprintf(addr, sizeof addr, "[%s]:%d", ip,
                     ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
            snprintf(addr, sizeof addr, "%s:%d", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
        }
    }
    char why[128];
    snprintf(why, sizeof why, "%s", strerror(err));
    why[0] = (char)tolower((unsigned char)why[0]); /* Go's error text */
    buf_t dur = {0};
    format_duration(&dur, d);
    buf_putc(&dur, 0);
    log_msg(LOG_ERR, "monitoring: Accept error: accept tcp %s: accept4: %s; retrying in %s", addr,
            why, dur.p);
    buf_free(&dur);
}

/* The pause is over: the listener goes back into the epoll set. */
static void accept_resume(void)
{
    mon.accept_resume_ns = 0;
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = (void *)&srv->http_fd};
    epoll_ctl(mon.epfd, EPOLL_CTL_ADD, srv->http_fd, &lev);
}

static void accept_http(void)
{
    for (;;) {
        int fd = accept4(srv->http_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED) continue;
            if (accept_error_temporary(e)) accept_pause(e);
            return;
        }
        mon.accept_delay_ns = 0;
        SSL *ssl = NULL;
        if (mon.https) {
            tls_ctx_t *t = https_ctx();
            ssl = t ? SSL_new(t->ctx) : NULL;
            if (!ssl) {
                close(fd);
                continue;
            }
            SSL_set_fd(ssl, fd);
            SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        }
        if (mon.nconns >= HTTP_MAX_CONNS) {
            /* Drop the oldest idle connection to make room: a flood cannot lock operators out. */
            hconn_t *oldest = NULL;
            for (hconn_t *h = mon.conns; h; h = h->next)
                if (!oldest || h->last_ns < oldest->last_ns) oldest = h;
            if (oldest) hconn_close(oldest);
        }
        hconn_t *h = xcalloc(1, sizeof *h);
        h->fd = fd;
        h->ssl = ssl;
        h->last_ns = now_mono_ns();
        h->next = mon.conns;
        if (mon.conns) mon.conns->prev = h;
        mon.conns = h;
        mon.nconns++;
        atomic_store(&mon.nconns_pub, mon.nconns);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = h};
        epoll_ctl(mon.epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

static void *monitor_main(void *arg)
{
    (void)arg;
    struct epoll_event evs[64];
    /* Handlers read the options and sublist results, which reload and the workers
     * retire through qsbr: this thread takes part like a worker. */
    qsbr_register();
    while (!atomic_load(&mon.stop)) {
        qsbr_quiescent();
        int timeout_ms = 1000;
        if (mon.accept_resume_ns) {
            int64_t left = mon.accept_resume_ns - now_mono_ns();
            timeout_ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        }
        qsbr_offline();
        int n = epoll_wait(mon.epfd, evs, ARRAY_LEN(evs), timeout_ms);
        qsbr_online();
        if (mon.accept_resume_ns && now_mono_ns() >= mon.accept_resume_ns) accept_resume();
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == NULL) {
                uint64_t v;
                ssize_t r = read(mon.evfd, &v, sizeof v);
                (void)r;
                continue;
            }
            if (p == (void *)&srv->http_fd) {
                accept_http();
                continue;
            }
            /* A connection closed earlier in this batch (evicted by accept_http) may
             * still have an event here: only touch live ones. */
            hconn_t *h = NULL;
            for (hconn_t *x = mon.conns; x; x = x->next)
                if (x == p) {
                    h = x;
                    break;
                }
            if (!h) continue;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                hconn_read(h);
            else if (evs[i].events & EPOLLOUT) {
                if (h->ssl && !h->tls_up)
                    hconn_read(h); /* the handshake wanted to write */
                else if (hconn_flush(h) && h->stalled && !out_blocked(h))
                    hconn_read(h); /* its output drained: take requests again */
            }
        }
        if (mon.any_stalled && mon.unsent < HTTP_MAX_OUT_TOTAL) {
            /* the total bound released: resume who it held back */
            mon.any_stalled = false;
            for (hconn_t *h = mon.conns, *next; h; h = next) {
                next = h->next;
                if (h->stalled && !out_blocked(h)) hconn_read(h);
            }
        }
        int64_t now = now_mono_ns();
        for (hconn_t *h = mon.conns, *next; h; h = next) {
            next = h->next;
            if (now - h->last_ns > HTTP_IDLE_NS) hconn_close(h);
        }
    }
    while (mon.conns)
        hconn_close(mon.conns);
    qsbr_unregister();
    return NULL;
}

int listen_on(const char *host, int port, int *bound_port, char *err, size_t errlen);

int monitor_start(void)
{
    opts_t *o = srv->opts;
    const char *host = o->http_host && *o->http_host ? o->http_host : o->host;
    char err[256];
    pthread_mutex_init(&mon.stats_lock, NULL);
    if (o->http_port && o->https_port) {
        log_msg(LOG_FTL,
                "Can't start monitoring: can't specify both HTTP (%d) and HTTPs (%d) ports",
                o->http_port, o->https_port);
        return -1;
    }
    if (!o->http_port && !o->https_port) return 0;
    mon.https = o->http_port == 0;
    if (mon.https) {
        if (!o->tls.enabled) {
            log_msg(LOG_FTL, "Can't start monitoring: TLS cert and key required for HTTPS");
            return -1;
        }
        mon.tls_src = (void *)atomic_load(&srv->tls_ctx);
        mon.tls = tls_ctx_server(&o->tls, false, err, sizeof err);
        if (!mon.tls) {
            log_msg(LOG_FTL, "Can't start monitoring: %s", err);
            return -1;
        }
        SSL_CTX_set_verify(mon.tls->ctx, SSL_VERIFY_NONE, NULL);
    }
    srv->http_fd =
        listen_on(host, mon.https ? o->https_port : o->http_port, &srv->http_port, err, sizeof err);
    if (srv->http_fd < 0) {
        log_msg(LOG_FTL, "Can't start monitoring: can't listen to the monitor port: %s", err);
        return -1;
    }
    NOTICE("Starting %s monitor on %s:%d", mon.https ? "https" : "http", host, srv->http_port);
    mon.epfd = epoll_create1(EPOLL_CLOEXEC);
    mon.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(mon.epfd, EPOLL_CTL_ADD, mon.evfd, &ev);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = (void *)&srv->http_fd};
    epoll_ctl(mon.epfd, EPOLL_CTL_ADD, srv->http_fd, &lev);
    pthread_create(&mon.th, NULL, monitor_main, NULL);
    mon.running = true;
    return 0;
}

void monitor_stop(void)
{
    if (!mon.running) return;
    atomic_store(&mon.stop, true);
    uint64_t one = 1;
    ssize_t r = write(mon.evfd, &one, sizeof one);
    (void)r;
    pthread_join(mon.th, NULL);
    close(srv->http_fd);
    srv->http_fd = -1;
    close(mon.epfd);
    close(mon.evfd);
    tls_ctx_unref(mon.tls);
    mon.tls = NULL;
    mon.running = false;
}
