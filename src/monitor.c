/* monitor.c: the HTTP monitoring port (/varz, /healthz, / ...).
 *
 * One thread with its own epoll loop: monitoring is off the message path, so
 * a slow or hostile HTTP client can only slow other HTTP clients. Every
 * connection's buffered request head is bounded (1 MiB, as the reference),
 * the number of HTTP connections is bounded, and idle ones time out. */
#include "core.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "monitor.h"
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_HEAD (1024 * 1024)
#define HTTP_MAX_CONNS 1024
#define HTTP_IDLE_NS (30LL * 1000000000LL)

typedef struct hconn {
    int fd;
    buf_t in;
    buf_t out;
    size_t out_off;
    int64_t last_ns;
    bool close_after;
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
} mon;

static const struct monitor_route *find_route(slice_t path);

static void count_request(const char *path)
{
    pthread_mutex_lock(&mon.stats_lock);
    for (int i = 0; i < mon.nreq_stats; i++) {
        if (strcmp(mon.req_stats[i].path, path) == 0) {
            mon.req_stats[i].n++;
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
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
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
    if (auth_required())
        jw_bool(&w, "auth_required", true);
    jw_int(&w, "max_connections", o->max_connections);
    if (o->max_subscriptions)
        jw_int(&w, "max_subscriptions", o->max_subscriptions);
    jw_int(&w, "ping_interval", o->ping_interval_ns);
    jw_int(&w, "ping_max", o->ping_max);
    jw_str(&w, "http_host", o->http_host && *o->http_host ? o->http_host : o->host);
    jw_int(&w, "http_port", srv->http_port);
    jw_str(&w, "http_base_path", o->http_base_path ? o->http_base_path : "");
    jw_int(&w, "https_port", o->https_port);
    jw_float(&w, "auth_timeout", secs(opts_auth_timeout_ns(o)));
    jw_int(&w, "max_control_line", o->max_control_line);
    jw_int(&w, "max_payload", o->max_payload);
    jw_int(&w, "max_pending", o->max_pending);
    jw_obj_begin(&w, "cluster");
    if (o->cluster.name && *o->cluster.name)
        jw_str(&w, "name", o->cluster.name);
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
    jw_float(&w, "tls_timeout", secs(o->tls.timeout_ns ? o->tls.timeout_ns : DEFAULT_TLS_TIMEOUT_NS));
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
    jw_int(&w, "routes", 0);
    jw_int(&w, "remotes", 0);
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
    (void)req;
    (void)rep;
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
    {"/", handle_root},
    {"/varz", handle_varz},
    {"/healthz", handle_healthz},
    MONITOR_EXTRA_ROUTES
};

static const struct monitor_route *find_route(slice_t path)
{
    for (size_t i = 0; i < ARRAY_LEN(routes); i++)
        if (routes[i].path && slice_eq_str(path, routes[i].path))
            return &routes[i];
    return NULL;
}

/* ---- HTTP plumbing -------------------------------------------------------------- */

static void hconn_close(hconn_t *h)
{
    epoll_ctl(mon.epfd, EPOLL_CTL_DEL, h->fd, NULL);
    close(h->fd);
    buf_free(&h->in);
    buf_free(&h->out);
    if (h->prev)
        h->prev->next = h->next;
    else
        mon.conns = h->next;
    if (h->next)
        h->next->prev = h->prev;
    mon.nconns--;
    free(h);
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
    buf_printf(&h->out,
               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nDate: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
               status, text, ctype, date, body->len, extra_headers ? extra_headers : "",
               h->close_after ? "Connection: close\r\n" : "");
    if (!head)
        buf_append(&h->out, body->p, body->len);
}

static bool valid_jsonp(slice_t cb)
{
    return cb.n > 0;
}

static void serve(hconn_t *h, const http_req_t *req)
{
    buf_t body = {0};
    bool head = slice_eq_str(req->method, "HEAD");
    const char *base = srv->opts->http_base_path;
    slice_t path = req->path;
    size_t bl = base ? strlen(base) : 0;
    while (bl && base[bl - 1] == '/')
        bl--;
    if (bl) {
        if (path.n < bl || memcmp(path.p, base, bl) != 0) {
            path = (slice_t){"", 0};
        } else {
            path.p += bl;
            path.n -= bl;
            if (path.n == 0)
                path = (slice_t){"/", 1};
        }
    }
    const struct monitor_route *r = find_route(path);
    if (!r) {
        buf_puts(&body, "404 page not found\n");
        respond(h, 404, "text/plain; charset=utf-8", &body, head,
                "X-Content-Type-Options: nosniff\r\n");
        buf_free(&body);
        return;
    }
    char pathz[32];
    snprintf(pathz, sizeof pathz, "%s", r->path);
    count_request(pathz);
    monitor_reply_t rep = {.content_type = "application/json"};
    int status = r->fn(req, &body, &rep);
    if (status != 200 && rep.content_type && strcmp(rep.content_type, "application/json") == 0 &&
        status == 400)
        rep.content_type = "text/plain; charset=utf-8";
    slice_t cb;
    if (status == 200 && !rep.no_jsonp && http_query_get(req->query, "callback", &cb) &&
        valid_jsonp(cb)) {
        buf_t wrapped = {0};
        char name[256];
        long n = http_unescape(cb, name, sizeof name);
        if (n < 0)
            n = 0;
        buf_append(&wrapped, name, (size_t)n);
        buf_putc(&wrapped, '(');
        buf_append(&wrapped, body.p, body.len);
        buf_putc(&wrapped, ')');
        respond(h, status, "application/javascript", &wrapped, head, NULL);
        buf_free(&wrapped);
    } else {
        respond(h, status, rep.content_type, &body, head,
                status == 400 ? "X-Content-Type-Options: nosniff\r\n" : NULL);
    }
    buf_free(&body);
}

static void hconn_flush(hconn_t *h)
{
    while (h->out_off < h->out.len) {
        ssize_t n = send(h->fd, h->out.p + h->out_off, h->out.len - h->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            h->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        hconn_close(h);
        return;
    }
    h->out.len = h->out_off = 0;
    if (h->close_after)
        hconn_close(h);
}

static void hconn_read(hconn_t *h)
{
    for (;;) {
        buf_reserve(&h->in, 4096);
        ssize_t n = recv(h->fd, h->in.p + h->in.len, h->in.cap - h->in.len, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            hconn_close(h);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        h->in.len += (size_t)n;
        h->last_ns = now_mono_ns();
        if (h->in.len > HTTP_MAX_HEAD + 4096)
            break;
    }
    /* Serve every complete request (pipelining). */
    size_t off = 0;
    while (off < h->in.len && !h->close_after) {
        http_req_t req;
        long n = http_parse(h->in.p + off, h->in.len - off, HTTP_MAX_HEAD, &req);
        if (n == 0)
            break;
        if (n < 0) {
            buf_t body = {0};
            h->close_after = true;
            if (n == -2) {
                buf_puts(&body, "431 Request Header Fields Too Large");
                respond(h, 431, "text/plain; charset=utf-8", &body, false, NULL);
            } else {
                buf_puts(&body, "400 Bad Request");
                respond(h, 400, "text/plain; charset=utf-8", &body, false, NULL);
            }
            buf_free(&body);
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
        if (!req.keep_alive)
            h->close_after = true;
        serve(h, &req);
        off += total;
    }
    if (off) {
        memmove(h->in.p, h->in.p + off, h->in.len - off);
        h->in.len -= off;
    }
    if (h->in.cap > 64 * 1024 && h->in.len < 4096) {
        buf_t nb = {0};
        buf_append(&nb, h->in.p, h->in.len);
        buf_free(&h->in);
        h->in = nb;
    }
    hconn_flush(h);
}

static void accept_http(void)
{
    for (;;) {
        int fd = accept4(srv->http_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (mon.nconns >= HTTP_MAX_CONNS) {
            /* Drop the oldest idle connection to make room: a flood cannot lock operators out. */
            hconn_t *oldest = NULL;
            for (hconn_t *h = mon.conns; h; h = h->next)
                if (!oldest || h->last_ns < oldest->last_ns)
                    oldest = h;
            if (oldest)
                hconn_close(oldest);
        }
        hconn_t *h = xcalloc(1, sizeof *h);
        h->fd = fd;
        h->last_ns = now_mono_ns();
        h->next = mon.conns;
        if (mon.conns)
            mon.conns->prev = h;
        mon.conns = h;
        mon.nconns++;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = h};
        epoll_ctl(mon.epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

static void *monitor_main(void *arg)
{
    (void)arg;
    struct epoll_event evs[64];
    while (!atomic_load(&mon.stop)) {
        int n = epoll_wait(mon.epfd, evs, ARRAY_LEN(evs), 1000);
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
            hconn_t *h = p;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                hconn_read(h);
            else if (evs[i].events & EPOLLOUT)
                hconn_flush(h);
        }
        int64_t now = now_mono_ns();
        for (hconn_t *h = mon.conns, *next; h; h = next) {
            next = h->next;
            if (now - h->last_ns > HTTP_IDLE_NS)
                hconn_close(h);
        }
    }
    while (mon.conns)
        hconn_close(mon.conns);
    return NULL;
}

int listen_on(const char *host, int port, int *bound_port, char *err, size_t errlen);

int monitor_start(void)
{
    opts_t *o = srv->opts;
    const char *host = o->http_host && *o->http_host ? o->http_host : o->host;
    char err[256];
    pthread_mutex_init(&mon.stats_lock, NULL);
    srv->http_fd = listen_on(host, o->http_port, &srv->http_port, err, sizeof err);
    if (srv->http_fd < 0) {
        log_msg(LOG_FTL, "Can't start monitoring: can't listen to the monitor port: %s", err);
        return -1;
    }
    NOTICE("Starting http monitor on %s:%d", host, srv->http_port);
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
    if (!mon.running)
        return;
    atomic_store(&mon.stop, true);
    uint64_t one = 1;
    ssize_t r = write(mon.evfd, &one, sizeof one);
    (void)r;
    pthread_join(mon.th, NULL);
    close(srv->http_fd);
    close(mon.epfd);
    close(mon.evfd);
    mon.running = false;
}
