/* router.c: answers one parsed request of the monitoring port with the
 * bytes of its response, as Go's net/http ServeMux does for the reference:
 * the decoded path, path cleaning and its 301 redirects, http_base_path, the
 * route table, the handler's status and body, JSONP wrapping, and the status
 * line and headers. It also keeps the http_req_stats counters (/varz,
 * /metrics). It never touches a socket: monitor.c feeds it requests and sends
 * what it appends. */
#include "base/json.h"
#include "base/pct.h"
#include "core/server.h"
#include "monitor/monitor.h"
#include "proto/http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* http_req_stats: path -> count. Go sorts map keys, so the order they were
 * first seen in does not matter. */
static struct {
    pthread_mutex_t lock;
    struct {
        char path[32];
        uint64_t n;
    } req_stats[16];
    int nreq_stats;
} rs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void count_request(const char *path, int delta)
{
    pthread_mutex_lock(&rs.lock);
    for (int i = 0; i < rs.nreq_stats; i++) {
        if (strcmp(rs.req_stats[i].path, path) == 0) {
            rs.req_stats[i].n += (uint64_t)(int64_t)delta;
            if (rs.req_stats[i].n == 0) /* a path never counted is not listed */
                rs.req_stats[i] = rs.req_stats[--rs.nreq_stats];
            pthread_mutex_unlock(&rs.lock);
            return;
        }
    }
    if (rs.nreq_stats < (int)ARRAY_LEN(rs.req_stats)) {
        snprintf(rs.req_stats[rs.nreq_stats].path, sizeof rs.req_stats[0].path, "%s", path);
        rs.req_stats[rs.nreq_stats++].n = 1;
    }
    pthread_mutex_unlock(&rs.lock);
}

static int cmp_stat(const void *a, const void *b)
{
    return strcmp(((const char *)a), ((const char *)b));
}

void monitor_write_req_stats(jw_t *w)
{
    pthread_mutex_lock(&rs.lock);
    qsort(rs.req_stats, (size_t)rs.nreq_stats, sizeof rs.req_stats[0], cmp_stat);
    jw_obj_begin(w, "http_req_stats");
    for (int i = 0; i < rs.nreq_stats; i++)
        jw_uint(w, rs.req_stats[i].path, rs.req_stats[i].n);
    jw_obj_end(w);
    pthread_mutex_unlock(&rs.lock);
}

void monitor_foreach_req_stat(void (*fn)(const char *path, uint64_t n, void *arg), void *arg)
{
    pthread_mutex_lock(&rs.lock);
    qsort(rs.req_stats, (size_t)rs.nreq_stats, sizeof rs.req_stats[0], cmp_stat);
    for (int i = 0; i < rs.nreq_stats; i++)
        fn(rs.req_stats[i].path, rs.req_stats[i].n, arg);
    pthread_mutex_unlock(&rs.lock);
}

/* The endpoints: adding one is a row here and its handler. /subscriptionsz
 * shares /subsz's handler and, as in the reference, its http_req_stats entry
 * (the first row with a handler names the counter). */
static const struct monitor_route {
    const char *path;
    monitor_fn fn;
} routes[] = {
    {"/", handle_root},           {"/varz", handle_varz},         {"/healthz", handle_healthz},
    {"/connz", handle_connz},     {"/routez", handle_routez},     {"/gatewayz", handle_gatewayz},
    {"/leafz", handle_leafz},     {"/subsz", handle_subsz},       {"/subscriptionsz", handle_subsz},
    {"/metrics", handle_metrics}, {"/accountz", handle_accountz}, {"/accstatz", handle_accstatz},
    {"/jsz", handle_jsz},
};

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

static void http_date(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void respond(buf_t *out, bool close_after, int status, const char *ctype, const buf_t *body,
                    bool head, const char *extra_headers)
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
    buf_printf(out, "HTTP/1.1 %d %s\r\n", status, text);
    if (ctype) buf_printf(out, "Content-Type: %s\r\n", ctype);
    buf_printf(out, "Date: %s\r\nContent-Length: %zu\r\n%s%s\r\n", date, body->len,
               extra_headers ? extra_headers : "", close_after ? "Connection: close\r\n" : "");
    if (!head) buf_append(out, body->p, body->len);
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

void monitor_bad_request(buf_t *out, bool *close_after, const char *status)
{
    buf_printf(out,
               "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: "
               "close\r\n\r\n%s",
               status, status);
    *close_after = true;
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
static void redirect(buf_t *out, bool close_after, const http_req_t *req, const buf_t *clean,
                     bool head)
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
    respond(out, close_after, 301, get || head ? "text/html; charset=utf-8" : NULL, &body, head,
            hdr.p);
    buf_free(&url);
    buf_free(&hdr);
    buf_free(&body);
}

void monitor_serve(const http_req_t *req, buf_t *out, bool *close_after)
{
    buf_t body = {0};
    bool head = slice_eq_str(req->method, "HEAD");
    /* Routing sees the decoded path (Go's r.URL.Path); a bad escape is a 400. */
    char *dp = xmalloc(req->path.n + 1);
    long dn = pct_decode(req->path, dp, req->path.n + 1, PCT_STRICT);
    if (dn < 0) {
        free(dp);
        monitor_bad_request(out, close_after, "400 Bad Request");
        return;
    }
    slice_t path = {dp, (size_t)dn};
    if (slice_eq_str(path, "*")) {
        /* Go: OPTIONS * is answered empty, anything else on * is a 400 */
        bool opt = slice_eq_str(req->method, "OPTIONS");
        if (!opt) *close_after = true;
        respond(out, *close_after, opt ? 200 : 400, NULL, &body, head, NULL);
        free(dp);
        return;
    }
    if (!slice_eq_str(req->method, "CONNECT")) {
        buf_t clean = {0};
        clean_path(path, &clean);
        if (clean.len != path.n || memcmp(clean.p, path.p, clean.len) != 0) {
            redirect(out, *close_after, req, &clean, head);
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
        respond(out, *close_after, 404, "text/plain; charset=utf-8", &body, head,
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
        long n = pct_decode(cb, name, sizeof name, PCT_PLUS | PCT_STRICT);
        if (n < 0) n = 0;
        buf_append(&wrapped, name, (size_t)n);
        buf_putc(&wrapped, '(');
        buf_append(&wrapped, body.p, body.len);
        buf_putc(&wrapped, ')');
        respond(out, *close_after, status, "application/javascript", &wrapped, head, NULL);
        buf_free(&wrapped);
    } else {
        respond(out, *close_after, status, rep.content_type, &body, head, NULL);
    }
    buf_free(&body);
    free(dp);
}
