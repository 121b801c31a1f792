/* route.c: see route.h.
 *
 * Threads: route connections live on workers like clients. Dialling is done
 * by one small thread per route URL (blocking connect with a timeout, then
 * the socket is handed to a worker), which sleeps while its connection is
 * up and redials when it drops: at most one per host:port, at most
 * MAX_IMPLICIT_DIALERS started by gossip, joined and freed after they end
 * (reap_dialers_locked). Shared state (registered routes, the local
 * interest map, learnt connect_urls, the cluster name) sits under R.mu; lock
 * order is R.mu before any connection's out_lock. */
#include "nats/route.h"
#include "nats/route_int.h"
#include "nats/auth.h"
#include "nats/deliver.h"
#include "base/json.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "core/tls.h"

#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int route_listen_fd = -1;

/* Gossip (an INFO naming a server we have no route to) starts an implicit
 * dialer; the reference starts a goroutine per such INFO with no bound. Here
 * there is at most one dialer per host:port, and at most this many implicit
 * ones alive at a time (each is a thread that stays while its route is up, to
 * redial it): more than the full mesh of any cluster the route protocol is
 * meant for, few enough that a peer gossiping made-up URLs cannot exhaust
 * threads. Gossip beyond it is dropped with a warning (the gossiped server
 * may still dial us, as it hears of us too). */
#define MAX_IMPLICIT_DIALERS 256
#define DIALER_STACK (512 * 1024)

/* Freed (by reap_dialers_locked) once its thread has ended and been joined and
 * no connection refers to it: a connection's route_info_t holds a reference
 * from the hand-off until route_conn_closed. */
typedef struct dialer {
    char *url;
    char key[300]; /* lower-case host:port, for the one-dialer-per-URL rule */
    bool implicit;
    bool auth;   /* implicit: the gossiped INFO had auth_required (send the cluster user) */
    int retries; /* implicit routes: attempts left */
    pthread_t th;
    bool started;
    bool joined; /* R.mu */
    int refs;    /* R.mu: connections (and hand-offs in flight) using it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool connected; /* a connection from this dialer is alive */
    bool stop;      /* give up (self route, shutdown) */
    bool quick;     /* redial after a short jitter only */
    bool done;      /* d->mu: the thread has left its loop */
    struct dialer *next;
} dialer_t;

struct route_info {
    bool solicited, registered, got_connect;
    char *url; /* owned */
    dialer_t *dialer;
    char remote_id[64];
    char remote_name[128];
    char *remote_host; /* INFO host, owned */
    int remote_port;
    char *remote_ip_url; /* INFO ip (advertise), owned */
    bool headers;
    char **curls; /* connect_urls the peer announced (owned) */
    size_t ncurls;
    bool curls_counted; /* added to the client URL pool */
    char *info_json;    /* the peer's INFO, for gossip (owned) */
    int64_t start_wall_ns;
    char *connect_line; /* the CONNECT waiting for its password check (owned, wiped) */
    size_t connect_len;
};

/* Local interest key: subject or "subject queue", with a count (the weight). */
typedef struct ikey {
    struct ikey *next;
    uint64_t h;
    int64_t count;
    uint32_t subj_len, len;
    char key[]; /* subject [SP queue] */
} ikey_t;

/* A learnt client URL with the number of routes that announced it. */
typedef struct curl {
    struct curl *next;
    int refs;
    char url[];
} curl_t;

static struct {
    pthread_mutex_t mu;
    conn_t **routes; /* registered */
    size_t nroutes, caproutes;
    ikey_t **ibuckets;
    size_t ibcap, icount;
    curl_t *curls;
    bool urls_active; /* some route brought connect_urls: clients see the list */
    char name[64];
    bool dynamic;
    dialer_t *dialers;
    bool dialer_cap_warned; /* MAX_IMPLICIT_DIALERS reached and logged */
    char **own_urls;        /* our client URLs */
    size_t nown;
    _Atomic int nregistered;
    tls_ctx_t *tls_accept, *tls_dial; /* cluster TLS: both directions verify the peer */
    /* connect_error_reports / reconnect_error_reports, copied here at start and reload:
     * dialer threads are not qsbr readers and may not hold srv->opts. */
    _Atomic int64_t connect_reports, reconnect_reports;
    bool no_dialing; /* route_set_dialing(false): fuzzing */
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

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

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static void gen_name(char *out, size_t n)
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

/* URL userinfo is percent-encoded ("T0PS3cr3T%21"). */
static void pct_decode(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < n; i++) {
        if (in[i] == '%' && isxdigit((unsigned char)in[i + 1]) &&
            isxdigit((unsigned char)in[i + 2])) {
            char h[3] = {in[i + 1], in[i + 2], 0};
            out[o++] = (char)strtol(h, NULL, 16);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    if (n) out[o] = 0;
}

/* The URL for log lines: a password shows as xxxxx. */
static void url_redacted(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    const char *start = p ? p + 3 : url;
    const char *at = strchr(start, '@');
    const char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
    if (!colon) {
        snprintf(out, n, "%s", url);
        return;
    }
    snprintf(out, n, "%.*s:xxxxx%s", (int)(colon - url), url, at);
}

/* host and port of a URL like nats-route://user:pass@host:port/ */
static int url_split(const char *url, char *host, size_t hn, int *port, char *user, size_t un,
                     char *pass, size_t pn)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    char hostport[512];
    if (len >= sizeof hostport) return -1;
    memcpy(hostport, p, len);
    hostport[len] = 0;
    if (user) user[0] = 0;
    if (pass) pass[0] = 0;
    char *hp = hostport;
    char *at = strrchr(hostport, '@');
    if (at) {
        *at = 0;
        char *colon = strchr(hostport, ':');
        if (colon) *colon = 0;
        if (user) pct_decode(hostport, user, un);
        if (pass && colon) pct_decode(colon + 1, pass, pn);
        hp = at + 1;
    }
    char *colon = strrchr(hp, ':');
    if (hp[0] == '[') {
        char *rb = strchr(hp, ']');
        if (!rb) return -1;
        *rb = 0;
        snprintf(host, hn, "%s", hp + 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        if (colon) *colon = 0;
        snprintf(host, hn, "%s", hp);
    }
    *port = colon ? atoi(colon + 1) : 4222;
    return 0;
}

static bool r_send(worker_t *w, conn_t *c, const char *p, size_t n)
{
    if (w) return conn_send(w, c, p, n);
    spin_lock(&c->out_lock);
    if (c->out_closed) {
        spin_unlock(&c->out_lock);
        return false;
    }
    buf_append(&c->out, p, n);
    spin_unlock(&c->out_lock);
    conn_flush(c);
    return true;
}

/* ---- client URLs (connect_urls) -------------------------------------------------- */

static void compute_own_urls(void)
{
    opts_t *o = srv->opts;
    for (size_t i = 0; i < R.nown; i++)
        free(R.own_urls[i]);
    free(R.own_urls);
    R.own_urls = NULL;
    R.nown = 0;
    char buf[300];
    if (o->client_advertise && *o->client_advertise) {
        const char *ca = o->client_advertise;
        if (strrchr(ca, ':') && (ca[0] != '[' || strstr(ca, "]:")))
            snprintf(buf, sizeof buf, "%s", ca);
        else
            snprintf(buf, sizeof buf, "%s:%d", ca, srv->port);
        R.own_urls = xcalloc(1, sizeof(char *));
        R.own_urls[R.nown++] = xstrdup(buf);
        return;
    }
    const char *h = o->host;
    bool any = !h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
    if (!any) {
        snprintf(buf, sizeof buf, strchr(h, ':') ? "[%s]:%d" : "%s:%d", h, srv->port);
        R.own_urls = xcalloc(1, sizeof(char *));
        R.own_urls[R.nown++] = xstrdup(buf);
        return;
    }
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0) return;
    size_t cap = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK)) continue;
        char ip[INET6_ADDRSTRLEN];
        if (i->ifa_addr->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip, sizeof ip);
            snprintf(buf, sizeof buf, "%s:%d", ip, srv->port);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_LOOPBACK(a)) continue;
            inet_ntop(AF_INET6, a, ip, sizeof ip);
            snprintf(buf, sizeof buf, "[%s]:%d", ip, srv->port);
        } else {
            continue;
        }
        if (R.nown == cap) {
            cap = cap ? cap * 2 : 4;
            R.own_urls = xrealloc(R.own_urls, cap * sizeof(char *));
        }
        R.own_urls[R.nown++] = xstrdup(buf);
    }
    freeifaddrs(ifa);
}

/* Caller holds R.mu. */
static char *urls_json_locked(void)
{
    if (!R.urls_active) return NULL;
    buf_t b = {0};
    buf_putc(&b, '[');
    bool first = true;
    for (size_t i = 0; i < R.nown; i++) {
        if (!first) buf_putc(&b, ',');
        first = false;
        json_put_string(&b, R.own_urls[i], strlen(R.own_urls[i]));
    }
    for (curl_t *u = R.curls; u; u = u->next) {
        bool dup = false;
        for (size_t i = 0; i < R.nown; i++)
            if (strcmp(R.own_urls[i], u->url) == 0) dup = true;
        if (dup) continue;
        if (!first) buf_putc(&b, ',');
        first = false;
        json_put_string(&b, u->url, strlen(u->url));
    }
    buf_putc(&b, ']');
    buf_putc(&b, 0);
    return b.p;
}

char *route_client_urls_json(void)
{
    pthread_mutex_lock(&R.mu);
    char *s = urls_json_locked();
    pthread_mutex_unlock(&R.mu);
    return s;
}

/* The per-connection INFO suffix for clients: cluster name and connect_urls.
 * Frozen once shutting down, as in the reference (no INFO updates then): the
 * routes may close before the clients, and a last INFO without the other
 * members makes clients that honour connect_urls (libnats) forget the servers
 * they should fail over to. */
static void rebuild_client_info_locked(void)
{
    if (atomic_load(&srv->shutting_down)) return;
    buf_t b = {0};
    if (R.name[0]) {
        buf_puts(&b, ",\"cluster\":");
        json_put_string(&b, R.name, strlen(R.name));
    }
    char *u = urls_json_locked();
    if (u) {
        buf_puts(&b, ",\"connect_urls\":");
        buf_puts(&b, u);
        free(u);
    }
    buf_putc(&b, 0);
    char *cur = atomic_load(&srv->info_suffix);
    if (cur && strcmp(cur, b.p) == 0) {
        buf_free(&b); /* unchanged: clients must not get a spurious INFO */
        return;
    }
    char *old = atomic_exchange(&srv->info_suffix, b.p);
    atomic_fetch_add(&srv->info_gen, 1);
    if (old) qsbr_retire(old, free);
}

static void add_curls_locked(route_info_t *ri)
{
    opts_t *o = srv->opts;
    if (o->cluster.no_advertise || ri->curls_counted || ri->ncurls == 0) return;
    ri->curls_counted = true;
    for (size_t i = 0; i < ri->ncurls; i++) {
        curl_t *u;
        for (u = R.curls; u; u = u->next)
            if (strcmp(u->url, ri->curls[i]) == 0) break;
        if (!u) {
            size_t l = strlen(ri->curls[i]);
            u = xcalloc(1, sizeof *u + l + 1);
            memcpy(u->url, ri->curls[i], l);
            u->next = R.curls;
            R.curls = u;
        }
        u->refs++;
    }
    R.urls_active = true;
}

static void drop_curls_locked(route_info_t *ri)
{
    if (!ri->curls_counted) return;
    ri->curls_counted = false;
    for (size_t i = 0; i < ri->ncurls; i++) {
        for (curl_t **pp = &R.curls; *pp; pp = &(*pp)->next) {
            if (strcmp((*pp)->url, ri->curls[i]) == 0) {
                if (--(*pp)->refs == 0) {
                    curl_t *dead = *pp;
                    *pp = dead->next;
                    free(dead);
                }
                break;
            }
        }
    }
}

/* ---- local interest ------------------------------------------------------------- */

static ikey_t *ikey_find(const char *k, size_t n, uint64_t h, ikey_t ***slot)
{
    if (!R.ibcap) return NULL;
    ikey_t **pp = &R.ibuckets[h & (R.ibcap - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->h == h && (*pp)->len == n && memcmp((*pp)->key, k, n) == 0) {
            if (slot) *slot = pp;
            return *pp;
        }
    }
    if (slot) *slot = pp;
    return NULL;
}

static void ikey_grow(void)
{
    size_t ncap = R.ibcap ? R.ibcap * 2 : 1024;
    ikey_t **nb = xcalloc(ncap, sizeof *nb);
    for (size_t i = 0; i < R.ibcap; i++) {
        for (ikey_t *k = R.ibuckets[i], *next; k; k = next) {
            next = k->next;
            k->next = nb[k->h & (ncap - 1)];
            nb[k->h & (ncap - 1)] = k;
        }
    }
    free(R.ibuckets);
    R.ibuckets = nb;
    R.ibcap = ncap;
}

/* Does a cluster permission list (allow, then deny) let subj through? */
static bool list_permits(bool has, const perm_list_t *l, const char *subj, size_t n)
{
    if (!has) return true;
    bool ok = !(l->has_allow && l->nallow);
    for (size_t i = 0; !ok && i < l->nallow; i++)
        ok = subject_matches(l->allow[i], strlen(l->allow[i]), subj, n);
    for (size_t i = 0; ok && i < l->ndeny; i++)
        ok = !subject_matches(l->deny[i], strlen(l->deny[i]), subj, n);
    return ok;
}

/* Our import permission: may we ask peers for this subject? */
static bool import_ok(const char *subj, size_t n)
{
    permissions_t *p = srv->opts->cluster.perms;
    return !p || list_permits(p->has_publish, &p->publish, subj, n);
}

/* Their subscription may take our messages: our export permission. */
static bool export_ok(const char *subj, size_t n)
{
    permissions_t *p = srv->opts->cluster.perms;
    return !p || list_permits(p->has_subscribe, &p->subscribe, subj, n);
}

static size_t interest_line(char *out, size_t cap, const ikey_t *k, bool add)
{
    if (k->len == k->subj_len)
        return (size_t)snprintf(out, cap, "%s $G %.*s\r\n", add ? "RS+" : "RS-", (int)k->len,
                                k->key);
    if (add)
        return (size_t)snprintf(out, cap, "RS+ $G %.*s %lld\r\n", (int)k->len, k->key,
                                (long long)k->count);
    return (size_t)snprintf(out, cap, "RS- $G %.*s\r\n", (int)k->len, k->key);
}

static void broadcast_locked(worker_t *w, const char *line, size_t n)
{
    for (size_t i = 0; i < R.nroutes; i++)
        r_send(w, R.routes[i], line, n);
    if (log_trace_on && R.nroutes) TRACE("->> [%.*s] to %zu routes", (int)(n - 2), line, R.nroutes);
}

static void interest_change(worker_t *w, const sub_t *s, int delta)
{
    size_t n = s->subject.n + (s->queue.n ? 1 + s->queue.n : 0);
    char stack[512];
    char *k = n < sizeof stack ? stack : xmalloc(n + 1);
    memcpy(k, s->subject.p, s->subject.n);
    if (s->queue.n) {
        k[s->subject.n] = ' ';
        memcpy(k + s->subject.n + 1, s->queue.p, s->queue.n);
    }
    uint64_t h = fnv(k, n);
    pthread_mutex_lock(&R.mu);
    ikey_t **slot = NULL;
    ikey_t *e = ikey_find(k, n, h, &slot);
    if (!e && delta > 0) {
        if (R.icount + 1 > R.ibcap) ikey_grow(), ikey_find(k, n, h, &slot);
        e = xcalloc(1, sizeof *e + n + 1);
        e->h = h;
        e->len = (uint32_t)n;
        e->subj_len = (uint32_t)s->subject.n;
        memcpy(e->key, k, n);
        *slot = e;
        R.icount++;
    }
    if (e) {
        int64_t before = e->count;
        e->count += delta;
        bool queue = e->len != e->subj_len;
        bool send = queue ? true : (before == 0 && e->count > 0) || (before > 0 && e->count <= 0);
        if (send && R.nroutes && import_ok(s->subject.p, s->subject.n)) {
            char line[1100];
            char *lp = e->len + 64 < sizeof line ? line : xmalloc(e->len + 64);
            size_t ln = interest_line(lp, e->len + 64, e, e->count > 0);
            broadcast_locked(w, lp, ln);
            if (lp != line) free(lp);
        }
        if (e->count <= 0) {
            ikey_find(k, n, h, &slot);
            *slot = e->next;
            free(e);
            R.icount--;
        }
    }
    pthread_mutex_unlock(&R.mu);
    if (k != stack) free(k);
}

void route_local_sub_added(worker_t *w, const sub_t *s)
{
    if (route_listen_fd >= 0) interest_change(w, s, 1);
}

void route_local_sub_removed(worker_t *w, const sub_t *s)
{
    if (route_listen_fd >= 0) interest_change(w, s, -1);
}

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
        url_split(o->cluster.advertise, advhost, sizeof advhost, &p, NULL, 0, NULL, 0);
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
    r_send(w, c, b.p, b.len);
    buf_free(&b);
}

static void send_connect(worker_t *w, conn_t *c)
{
    route_info_t *ri = c->route;
    char host[256], user[256], pass[256];
    int port;
    url_split(ri->url ? ri->url : "", host, sizeof host, &port, user, sizeof user, pass,
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
    r_send(w, c, b.p, b.len);
    buf_free(&b);
    DEBUG("%sRoute connect msg sent", c->prefix);
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
        c->tls = t;
        c->ssl = SSL_new(t->ctx);
        SSL_set_fd(c->ssl, c->fd);
        if (solicited) {
            char host[256];
            int port;
            url_split(ri->url ? ri->url : "", host, sizeof host, &port, NULL, 0, NULL, 0);
            SSL_set_connect_state(c->ssl);
            if (!isdigit((unsigned char)host[0]) && !strchr(host, ':'))
                SSL_set_tlsext_host_name(c->ssl, host);
            if (!srv->opts->cluster.tls.insecure) SSL_set1_host(c->ssl, host);
        } else {
            SSL_set_accept_state(c->ssl);
        }
        DEBUG("%sStarting TLS route %s handshake", c->prefix, solicited ? "client" : "server");
        c->tls_due_ns = w->now_ns + t->timeout_ns;
        worker_note_deadline(w, c->tls_due_ns);
        /* the client side speaks first */
        if (solicited) conn_flush_handshake(w, c);
        return;
    }
    route_start_protocol(w, c);
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
        int64_t t = o->cluster.auth_timeout_ns ? o->cluster.auth_timeout_ns : 2000000000LL;
        c->auth_due_ns = w->now_ns + t;
        worker_note_deadline(w, c->auth_due_ns);
        if (!o->cluster.user || !*o->cluster.user) c->auth_ok = true;
    }
    /* First PING about a second after the route is up. */
    c->ping_due_ns = w->now_ns + 1000000000LL + (int64_t)(worker_rand(w) % 200000000ULL);
    c->rtt_pending = true;
    worker_note_deadline(w, c->ping_due_ns);
    conn_flush_owned(w, c);
}

static void reap_dialers_locked(void);

static void dialer_notify_closed(dialer_t *d, bool stop, bool quick)
{
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->connected = false;
    if (stop) d->stop = true;
    d->quick = quick;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void route_conn_closed(conn_t *c)
{
    route_info_t *ri = c->route;
    if (!ri) return;
    bool still_connected = false;
    bool changed = false;
    pthread_mutex_lock(&R.mu);
    if (ri->registered) {
        for (size_t i = 0; i < R.nroutes; i++) {
            if (R.routes[i] == c) {
                R.routes[i] = R.routes[--R.nroutes];
                break;
            }
        }
        atomic_fetch_sub(&R.nregistered, 1);
        ri->registered = false;
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
    size_t nsubs = c->subs.n;
    if (nsubs) DEBUG("%sRemoving %zu subscriptions for account \"$G\"", c->prefix, nsubs);
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
    for (size_t i = 0; i < ri->ncurls; i++)
        free(ri->curls[i]);
    free(ri->curls);
    free(ri->info_json);
    wipe_connect_line(ri);
    free(ri);
    c->route = NULL;
}

/* ---- receiving ---------------------------------------------------------------------- */

typedef struct rinfo {
    char id[64], name[128], host[256], ip[300], cluster[128];
    char user[256], pass[256], lang[64];
    int64_t port;
    bool headers, dynamic, ldm, auth_required, gateway, has_cluster;
    char **urls;
    size_t nurls;
} rinfo_t;

static void rinfo_free(rinfo_t *r)
{
    for (size_t i = 0; i < r->nurls; i++)
        free(r->urls[i]);
    free(r->urls);
}

static int collect_urls(rinfo_t *r, slice_t raw)
{
    /* raw is a JSON array of strings */
    const char *p = raw.p + 1, *e = raw.p + raw.n - 1;
    while (p < e) {
        while (p < e && (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t' || *p == '\r'))
            p++;
        if (p >= e || *p != '"') break;
        const char *q = p + 1;
        while (q < e && *q != '"') {
            if (*q == '\\') q++;
            q++;
        }
        char tmp[512];
        if (json_unquote((slice_t){p, (size_t)(q + 1 - p)}, tmp, sizeof tmp) >= 0) {
            r->urls = xrealloc(r->urls, (r->nurls + 1) * sizeof(char *));
            r->urls[r->nurls++] = xstrdup(tmp);
        }
        p = q + 1;
    }
    return 0;
}

static int rinfo_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    rinfo_t *r = ctx;
#define STR(name, field)                                                                           \
    if (json_key_is(key, name)) {                                                                  \
        if (t == JSON_STRING && json_unquote(raw, r->field, sizeof r->field) < 0) r->field[0] = 0; \
        return 0;                                                                                  \
    }
#define BOOL(name, field)                                                                          \
    if (json_key_is(key, name)) {                                                                  \
        r->field = t == JSON_BOOL && raw.p[0] == 't';                                              \
        return 0;                                                                                  \
    }
    STR("server_id", id);
    STR("name", id); /* CONNECT carries the id as name */
    STR("server_name", name);
    STR("host", host);
    STR("ip", ip);
    STR("user", user);
    STR("pass", pass);
    STR("lang", lang);
    BOOL("headers", headers);
    BOOL("cluster_dynamic", dynamic);
    BOOL("ldm", ldm);
    BOOL("auth_required", auth_required);
    if (json_key_is(key, "cluster")) {
        r->has_cluster = true;
        if (t == JSON_STRING && json_unquote(raw, r->cluster, sizeof r->cluster) < 0)
            r->cluster[0] = 0;
        return 0;
    }
    if (json_key_is(key, "gateway")) {
        r->gateway = t != JSON_NULL;
        return 0;
    }
    if (json_key_is(key, "port") && t == JSON_NUMBER) {
        r->port = strtoll(raw.p, NULL, 10);
        return 0;
    }
    if (json_key_is(key, "connect_urls") && t == JSON_ARRAY) return collect_urls(r, raw);
    return 0;
#undef STR
#undef BOOL
}

static void close_route(conn_t *c, close_reason_t r)
{
    c->closing = true;
    c->reason = r;
}

static void route_err_close(worker_t *w, conn_t *c, const char *text, close_reason_t r)
{
    client_send_err(w, c, text);
    close_route(c, r);
}

/* Name negotiation (§6.3). Returns true if the connection may proceed. */
static bool cluster_name_ok(worker_t *w, conn_t *c, const rinfo_t *ri, bool accept_side)
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
        route_err_close(w, c, text, CR_CLUSTER_NAME_CONFLICT);
    } else {
        close_route(c, CR_CLUSTER_NAME_CONFLICT);
    }
    return false;
}

static void process_connect(worker_t *w, conn_t *c, const op_t *op)
{
    rinfo_t ri = {0};
    if (json_parse_object(op->line.p, op->line.n, rinfo_member, &ri) != 0) {
        close_route(c, CR_PROTOCOL_VIOLATION);
        rinfo_free(&ri);
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
            rinfo_free(&ri);
            return;
        }
        if (rc != AUTH_OK) {
            if (rc == AUTH_FAIL) ERROR("%sauthentication error", c->prefix); /* BUSY: logged */
            route_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
            rinfo_free(&ri);
            return;
        }
    }
    explicit_bzero(ri.pass, sizeof ri.pass);
    c->auth_ok = true;
    if (ri.lang[0]) {
        ERROR("%sattempted to connect to route port", c->prefix);
        route_err_close(w, c, "attempted to connect to route port", CR_PROTOCOL_VIOLATION);
        rinfo_free(&ri);
        return;
    }
    if (ri.gateway) {
        route_err_close(w, c, "Rejecting connection from gateway on the Route port",
                        CR_PROTOCOL_VIOLATION);
        rinfo_free(&ri);
        return;
    }
    if (!cluster_name_ok(w, c, &ri, true)) {
        rinfo_free(&ri);
        return;
    }
    c->route->got_connect = true;
    c->route->headers = ri.headers;
    if (ri.id[0] && !c->route->remote_id[0])
        snprintf(c->route->remote_id, sizeof c->route->remote_id, "%s", ri.id);
    rinfo_free(&ri);
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

static void send_interest_dump_locked(worker_t *w, conn_t *c)
{
    buf_t b = {0};
    for (size_t i = 0; i < R.ibcap; i++) {
        for (ikey_t *k = R.ibuckets[i]; k; k = k->next) {
            if (k->count <= 0 || !import_ok(k->key, k->subj_len)) continue;
            buf_reserve(&b, k->len + 64);
            b.len += interest_line(b.p + b.len, k->len + 64, k, true);
            if (b.len > 60000) {
                r_send(w, c, b.p, b.len);
                b.len = 0;
            }
        }
    }
    if (b.len) r_send(w, c, b.p, b.len);
    buf_free(&b);
}

static void gossip_dial(const rinfo_t *ri, const char *remote_ip);

static void register_route(worker_t *w, conn_t *c, rinfo_t *info, slice_t raw_info)
{
    route_info_t *ri = c->route;
    opts_t *o = srv->opts;
    if (strcmp(info->id, srv->server_id) == 0) {
        if (ri->url) DEBUG("Detected route to self, ignoring \"%s\"", ri->url);
        close_route(c, CR_DUPLICATE_ROUTE);
        snprintf(ri->remote_id, sizeof ri->remote_id, "%s", info->id);
        return;
    }
    if (ri->solicited && info->has_cluster && !cluster_name_ok(w, c, info, false)) return;
    if (!ri->solicited && info->name[0] && strcmp(info->name, srv->server_name) == 0) {
        ERROR("%sRemote server has a duplicate name: \"%s\"", c->prefix, info->name);
        close_route(c, CR_DUPLICATE_SERVER_NAME);
        return;
    }
    snprintf(ri->remote_id, sizeof ri->remote_id, "%s", info->id);
    snprintf(ri->remote_name, sizeof ri->remote_name, "%s", info->name);
    free(ri->remote_host);
    ri->remote_host = xstrdup(info->host);
    ri->remote_port = (int)info->port;
    if (info->ip[0]) ri->remote_ip_url = xstrdup(info->ip);
    ri->headers = info->headers;
    ri->curls = info->urls;
    ri->ncurls = info->nurls;
    info->urls = NULL;
    info->nurls = 0;
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
            r_send(w, R.routes[i], g.p, g.len);
        if (R.nroutes == R.caproutes) {
            R.caproutes = R.caproutes ? R.caproutes * 2 : 8;
            R.routes = xrealloc(R.routes, R.caproutes * sizeof *R.routes);
        }
        R.routes[R.nroutes++] = c;
        ri->registered = true;
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
        close_route(c, CR_DUPLICATE_ROUTE);
        return;
    }
    if (urls_changed) worker_command(WCMD_INFO);
}

static void process_info(worker_t *w, conn_t *c, const op_t *op)
{
    route_info_t *ri = c->route;
    rinfo_t info = {0};
    if (json_parse_object(op->line.p, op->line.n, rinfo_member, &info) != 0 || !info.id[0]) {
        rinfo_free(&info);
        return;
    }
    if (!ri->registered && !c->closing) {
        if (!ri->solicited && !ri->got_connect) {
            route_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
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
    rinfo_free(&info);
}

static void process_rsub(worker_t *w, conn_t *c, const op_t *op, bool add)
{
    (void)w;
    if (!slice_eq_str(op->account, "$G")) return;
    if (!subject_valid(op->subject.p, op->subject.n)) {
        if (add) client_send_err(w, c, "Invalid Subscription");
        return;
    }
    /* The key is "subject[ queue]"; kept as the sid of the remote sub. */
    size_t kn = op->subject.n + (op->queue.n ? 1 + op->queue.n : 0);
    char stack[512];
    char *k = kn < sizeof stack ? stack : xmalloc(kn);
    memcpy(k, op->subject.p, op->subject.n);
    if (op->queue.n) {
        k[op->subject.n] = ' ';
        memcpy(k + op->subject.n + 1, op->queue.p, op->queue.n);
    }
    slice_t key = {k, kn};
    if (add && !export_ok(op->subject.p, op->subject.n)) {
        DEBUG("%sCan not export \"%.*s\", ignoring remote subscription request", c->prefix,
              (int)op->subject.n, op->subject.p);
    } else {
        route_remote_interest(c, key, op->subject, op->queue, add,
                              op->queue.n ? (op->max > 0 ? (int32_t)op->max : 1) : 1);
    }
    if (k != stack) free(k);
}

/* RMSG: delivered to local subscribers and the queue groups it names, never forwarded. */
static void deliver_routed(worker_t *w, conn_t *c, const op_t *op)
{
    count_in(w, c, op->size);
    msg_t m = {c, op->subject, op->reply, op->hdr, op->payload, op->size, true, op->queues};
    const sl_result_t *r = sublist_match(srv->sl, op->subject.p, op->subject.n);
    deliver_all(w, r, &m);
}

size_t route_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need)
{
    parse_limits_t lim = {PARSE_ROUTE, 0, 0};
    size_t pos = 0;
    *need = 0;
    while (pos < len && !c->closing && !conn_read_paused(c)) {
        op_t op;
        parse_rc_t rc = parse_op(&lim, buf + pos, len - pos, &op);
        if (rc == PARSE_NEED_MORE) {
            *need = op.need;
            break;
        }
        if (rc != PARSE_OK) {
            if (rc == PARSE_ERR_UNKNOWN_OP) {
                ERROR("%sRoute parser ERROR, state=%d, i=%zu", c->prefix, op.err_state,
                      op.err_offset);
                route_err_close(w, c, "Unknown Protocol Operation", CR_PARSE_ERROR);
            } else {
                close_route(c, CR_PROTOCOL_VIOLATION);
            }
            break;
        }
        pos += op.consumed;
        if (!c->auth_ok && op.type != OP_CONNECT) {
            route_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
            break;
        }
        atomic_store_explicit(&c->last_activity_ns, w->now_ns, memory_order_relaxed);
        switch (op.type) {
        case OP_CONNECT:
            if (log_trace_on) TRACE("%s<<- [CONNECT ...]", c->prefix);
            process_connect(w, c, &op);
            break;
        case OP_INFO:
            process_info(w, c, &op);
            break;
        case OP_PING:
            TRACE("%s<<- [PING]", c->prefix);
            conn_send(w, c, "PONG\r\n", 6);
            break;
        case OP_PONG:
            TRACE("%s<<- [PONG]", c->prefix);
            c->ping_out = 0;
            c->rtt_pending = false;
            if (c->last_ping_sent_ns && !c->rtt_ns) c->rtt_ns = w->now_ns - c->last_ping_sent_ns;
            break;
        case OP_RSUB:
            TRACE("%s<<- [RS+ %.*s]", c->prefix, (int)op.line.n, op.line.p);
            process_rsub(w, c, &op, true);
            break;
        case OP_RUNSUB:
            TRACE("%s<<- [RS- %.*s]", c->prefix, (int)op.line.n, op.line.p);
            process_rsub(w, c, &op, false);
            break;
        case OP_RMSG:
            if (log_trace_on) {
                TRACE("%s<<- [RMSG %.*s]", c->prefix, (int)op.line.n, op.line.p);
                TRACE("%s<<- MSG_PAYLOAD: [\"%.*s\"]", c->prefix, (int)op.size, op.payload);
            }
            if (slice_eq_str(op.account, "$G")) deliver_routed(w, c, &op);
            break;
        case OP_ERR:
            ERROR("%sRoute Error %.*s", c->prefix, (int)op.line.n, op.line.p);
            close_route(c, CR_CLIENT_ERR);
            break;
        default: /* +OK, LS+/LS-/LMSG: not advertised, ignored */
            break;
        }
    }
    return pos;
}

void route_timer(worker_t *w, conn_t *c)
{
    opts_t *o = srv->opts;
    int64_t now = w->now_ns;
    if (c->ssl && !c->tls_done) {
        if (c->tls_due_ns && now >= c->tls_due_ns) {
            ERROR("%sTLS route handshake error: timeout", c->prefix);
            close_route(c, CR_TLS_HANDSHAKE);
            return;
        }
        worker_note_deadline(w, c->tls_due_ns);
        return;
    }
    if (c->auth_due_ns && now >= c->auth_due_ns) { /* CONNECT clears it */
        route_err_close(w, c, "Authentication Timeout", CR_AUTH_TIMEOUT);
        return;
    }
    if (c->ping_due_ns && now >= c->ping_due_ns) {
        int64_t last = atomic_load_explicit(&c->last_activity_ns, memory_order_relaxed);
        if (!c->rtt_pending && now - last < o->ping_interval_ns) {
            /* traffic: no PING needed */
        } else if (c->ping_out + 1 > o->ping_max) {
            route_err_close(w, c, "Stale Connection", CR_STALE);
            return;
        } else {
            DEBUG("%sRouter Ping Timer", c->prefix);
            conn_send(w, c, "PING\r\n", 6);
            c->ping_out++;
            c->last_ping_sent_ns = now;
        }
        c->ping_due_ns = now + o->ping_interval_ns;
    }
    worker_note_deadline(w, c->ping_due_ns);
    worker_note_deadline(w, c->auth_due_ns);
}

/* ---- dialling ----------------------------------------------------------------------- */

static int dial(const char *url, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (url_split(url, host, sizeof host, &port, NULL, 0, NULL, 0) != 0) {
        snprintf(err, errlen, "bad route URL");
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "dial tcp: lookup %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            snprintf(err, errlen, "dial tcp %s:%d: connect: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd pfd = {fd, POLLOUT, 0};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (poll(&pfd, 1, 1000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
            soerr != 0) {
            snprintf(err, errlen, "dial tcp %s:%d: connect: %s", host, port,
                     soerr ? strerror(soerr) : "i/o timeout");
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static bool sleep_or_stop(dialer_t *d, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec += (long)(ns % 1000000000LL);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&d->mu);
    while (!d->stop && !atomic_load(&srv->shutting_down))
        if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) == ETIMEDOUT) break;
    bool stop = d->stop || atomic_load(&srv->shutting_down);
    pthread_mutex_unlock(&d->mu);
    return stop;
}

static void *dialer_main(void *arg)
{
    dialer_t *d = arg;
    int attempt = 0;
    bool reconnect = false;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (d->connected && !d->stop && !atomic_load(&srv->shutting_down))
            pthread_cond_wait(&d->cv, &d->mu);
        bool stop = d->stop || atomic_load(&srv->shutting_down);
        bool quick = d->quick;
        d->quick = false;
        pthread_mutex_unlock(&d->mu);
        if (stop) break;
        if (reconnect) {
            int64_t jitter = (int64_t)(now_mono_ns() % 100000000LL);
            if (sleep_or_stop(d, (quick || d->implicit ? 0 : 1000000000LL) + jitter)) break;
            char shown[600];
            url_redacted(d->url, shown, sizeof shown);
            DEBUG("Attempting reconnect for solicited route \"%s\"", shown);
        }
        char err[300], shown[600];
        url_redacted(d->url, shown, sizeof shown);
        DEBUG("Trying to connect to route on %s", shown);
        int fd = dial(d->url, err, sizeof err);
        if (fd < 0) {
            attempt++;
            /* As the reference: the first failure, then every Nth (connect_error_reports
             * before the route was ever up, reconnect_error_reports after) at error level. */
            int64_t every = atomic_load(reconnect ? &R.reconnect_reports : &R.connect_reports);
            if (attempt == 1 || (every > 0 && attempt % every == 0))
                ERROR("Error trying to connect to route (attempt %d): %s", attempt, err);
            else
                DEBUG("Error trying to connect to route (attempt %d): %s", attempt, err);
            if (d->implicit && attempt > d->retries) break;
            if (sleep_or_stop(d, 1000000000LL)) break;
            continue;
        }
        attempt = 0;
        pthread_mutex_lock(&d->mu);
        d->connected = true;
        pthread_mutex_unlock(&d->mu);
        pthread_mutex_lock(&R.mu);
        d->refs++; /* the connection's, from here until route_conn_closed */
        pthread_mutex_unlock(&R.mu);
        inq_item_t it = {
            .fd = fd, .kind = CONN_ROUTE, .solicited = true, .url = xstrdup(d->url), .dialer = d};
        server_hand_off(&it);
        reconnect = true;
    }
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    d->done = true; /* joined and freed by the next reap; no R.mu from here on */
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* The key of the one-dialer-per-URL rule: lower-case host:port. False for a URL
 * that cannot be dialled, or holds blanks or control bytes (a gossiped URL shows
 * in log lines). */
static bool dialer_key(const char *url, char *key, size_t n)
{
    for (const char *q = url; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f) return false;
    char h[256];
    int p;
    if (url_split(url, h, sizeof h, &p, NULL, 0, NULL, 0) != 0) return false;
    for (char *q = h; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    snprintf(key, n, "%s:%d", h, p);
    return true;
}

static bool dialer_done(dialer_t *d)
{
    pthread_mutex_lock(&d->mu);
    bool done = d->done;
    pthread_mutex_unlock(&d->mu);
    return done;
}

/* Joins dialer threads that have ended (quick: they take no R.mu after setting done),
 * and frees those no connection refers to. Caller holds R.mu. */
static void reap_dialers_locked(void)
{
    for (dialer_t **pp = &R.dialers; *pp;) {
        dialer_t *d = *pp;
        if (!d->joined && (!d->started || dialer_done(d))) {
            if (d->started) pthread_join(d->th, NULL);
            d->joined = true;
        }
        if (d->joined && d->refs == 0) {
            *pp = d->next;
            pthread_mutex_destroy(&d->mu);
            pthread_cond_destroy(&d->cv);
            free(d->url);
            free(d);
            continue;
        }
        pp = &d->next;
    }
}

/* Caller holds R.mu (so a check for an existing dialer and the start are one step). */
static void start_dialer_locked(const char *url, const char *key, bool implicit, bool auth,
                                int retries)
{
    dialer_t *d = xcalloc(1, sizeof *d);
    d->url = xstrdup(url);
    snprintf(d->key, sizeof d->key, "%s", key);
    d->implicit = implicit;
    d->auth = auth;
    d->retries = retries;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->next = R.dialers;
    R.dialers = d;
    if (R.no_dialing) return; /* never started: reaped as ended */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    /* A dialer only resolves, connects and waits: a small stack keeps up to
     * MAX_IMPLICIT_DIALERS of them cheap in address space too. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, DIALER_STACK);
    d->started = pthread_create(&d->th, &attr, dialer_main, d) == 0;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!d->started) ERROR("Error starting a route dialer for %s", key);
}

/* Explicit (configured) routes: one dialer each, however many the config lists. */
static void start_dialer(const char *url)
{
    char key[300];
    if (!dialer_key(url, key, sizeof key)) snprintf(key, sizeof key, "%s", url);
    pthread_mutex_lock(&R.mu);
    reap_dialers_locked();
    start_dialer_locked(url, key, false, false, 0);
    pthread_mutex_unlock(&R.mu);
}

static void gossip_dial(const rinfo_t *ri, const char *remote_ip)
{
    if (strcmp(ri->id, srv->server_id) == 0) return;
    char url[400];
    if (ri->ip[0])
        snprintf(url, sizeof url, "%s", ri->ip);
    else
        snprintf(url, sizeof url, "nats-route://%s:%lld/", ri->host[0] ? ri->host : remote_ip,
                 (long long)ri->port);
    char key[300];
    if (!dialer_key(url, key, sizeof key)) return;
    opts_t *o = srv->opts;
    pthread_mutex_lock(&R.mu);
    reap_dialers_locked();
    bool known = false;
    for (size_t i = 0; i < R.nroutes; i++)
        if (strcmp(R.routes[i]->route->remote_id, ri->id) == 0) known = true;
    for (size_t i = 0; !known && i < o->cluster.nroutes; i++) {
        char k2[300];
        known = dialer_key(o->cluster.routes[i], k2, sizeof k2) && strcmp(k2, key) == 0;
    }
    size_t nimplicit = 0;
    for (dialer_t *d = R.dialers; d; d = d->next) {
        if (d->joined) continue; /* ended: the URL may be dialled again */
        if (strcmp(d->key, key) == 0) known = true;
        if (d->implicit) nimplicit++;
    }
    if (!known && nimplicit >= MAX_IMPLICIT_DIALERS) {
        if (!R.dialer_cap_warned)
            WARN("Not connecting to gossiped route %s: %d implicit route dialers already running",
                 key, MAX_IMPLICIT_DIALERS);
        R.dialer_cap_warned = true;
        known = true;
    } else if (nimplicit < MAX_IMPLICIT_DIALERS / 2) {
        R.dialer_cap_warned = false; /* warn again on the next crossing */
    }
    if (!known) start_dialer_locked(url, key, true, ri->auth_required, o->cluster.connect_retries);
    pthread_mutex_unlock(&R.mu);
}

/* ---- start / stop ----------------------------------------------------------------- */

int listen_on(const char *host, int port, int *bound_port, char *err, size_t errlen);

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
    pthread_mutex_lock(&R.mu);
    if (o->cluster.name && *o->cluster.name) {
        snprintf(R.name, sizeof R.name, "%s", o->cluster.name);
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
    pthread_mutex_lock(&R.mu);
    dialer_t *list = R.dialers;
    R.dialers = NULL;
    pthread_mutex_unlock(&R.mu);
    for (dialer_t *d = list; d; d = d->next) {
        pthread_mutex_lock(&d->mu);
        d->stop = true;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
    for (dialer_t *d = list, *next; d; d = next) {
        next = d->next;
        if (d->started && !d->joined) pthread_join(d->th, NULL);
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        free(d->url);
        free(d);
    }
    if (route_listen_fd >= 0) {
        close(route_listen_fd);
        route_listen_fd = -1;
    }
}

bool route_peer_headers(const conn_t *c)
{
    return c->route && c->route->headers;
}

/* ---- monitoring ------------------------------------------------------------------ */

void route_fill_info(conn_t *c, conn_info_t *ci)
{
    route_info_t *ri = c->route;
    if (!ri) return;
    pthread_mutex_lock(&R.mu); /* solicited/dialer may be handed over by a duplicate */
    snprintf(ci->remote_id, sizeof ci->remote_id, "%s", ri->remote_id);
    ci->did_solicit = ri->solicited;
    ci->is_configured = ri->solicited && ri->dialer && !ri->dialer->implicit;
    pthread_mutex_unlock(&R.mu);
}

/* ---- reload ---------------------------------------------------------------------- */

static void ctx_unref_cb(void *p)
{
    tls_ctx_unref(p);
}

static bool url_listed(const char *url, char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], url) == 0) return true;
    return false;
}

void route_reload(const opts_t *old, const opts_t *no)
{
    if (route_listen_fd < 0) return;
    atomic_store(&R.connect_reports, no->connect_error_reports);
    atomic_store(&R.reconnect_reports, no->reconnect_error_reports);
    const char *oname = old->cluster.name ? old->cluster.name : "";
    const char *nname = no->cluster.name ? no->cluster.name : "";
    if (strcmp(oname, nname) != 0 && *nname) {
        pthread_mutex_lock(&R.mu);
        snprintf(R.name, sizeof R.name, "%s", nname);
        R.dynamic = false;
        rebuild_client_info_locked();
        pthread_mutex_unlock(&R.mu);
        NOTICE("Cluster name updated to %s", nname);
        worker_command(WCMD_INFO);
    }
    const tls_opts_t *ot = &old->cluster.tls, *nt = &no->cluster.tls;
    bool tls_changed = ot->enabled != nt->enabled || ot->npinned_certs != nt->npinned_certs;
    for (size_t i = 0; !tls_changed && i < nt->npinned_certs; i++)
        tls_changed = strcmp(ot->pinned_certs[i], nt->pinned_certs[i]) != 0;
    pthread_mutex_lock(&R.mu);
    bool have_tls = R.tls_accept != NULL;
    pthread_mutex_unlock(&R.mu);
    if (tls_changed && nt->enabled && have_tls) {
        /* New contexts for new routes; routes whose peer key is no longer pinned go. */
        char err[300];
        tls_ctx_t *acc = tls_ctx_server(nt, true, err, sizeof err);
        tls_ctx_t *dial = acc ? tls_ctx_client(nt, err, sizeof err) : NULL;
        if (!acc || !dial) {
            ERROR("Route TLS not reloaded: %s", err);
            tls_ctx_unref(acc);
        } else {
            pthread_mutex_lock(&R.mu);
            tls_ctx_t *oa = R.tls_accept, *od = R.tls_dial;
            R.tls_accept = acc;
            R.tls_dial = dial;
            for (size_t k = 0; k < R.nroutes; k++) {
                conn_t *rc = R.routes[k];
                spin_lock(&rc->out_lock);
                bool ok = !rc->ssl || !rc->tls_done || tls_pinned_ok(acc, rc->ssl);
                spin_unlock(&rc->out_lock);
                if (!ok) conn_request_close(rc, CR_TLS_HANDSHAKE);
            }
            pthread_mutex_unlock(&R.mu);
            qsbr_retire(oa, ctx_unref_cb);
            qsbr_retire(od, ctx_unref_cb);
        }
    }
    bool changed = false;
    for (size_t i = 0; i < old->cluster.nroutes; i++) {
        const char *url = old->cluster.routes[i];
        if (url_listed(url, no->cluster.routes, no->cluster.nroutes)) continue;
        changed = true;
        char shown[600];
        url_redacted(url, shown, sizeof shown);
        NOTICE("Removed route %s", shown);
        pthread_mutex_lock(&R.mu);
        for (dialer_t *d = R.dialers; d; d = d->next) {
            if (d->implicit || strcmp(d->url, url) != 0) continue;
            pthread_mutex_lock(&d->mu);
            d->stop = true;
            pthread_cond_broadcast(&d->cv);
            pthread_mutex_unlock(&d->mu);
        }
        for (size_t k = 0; k < R.nroutes; k++) {
            route_info_t *ri = R.routes[k]->route;
            if (ri->solicited && ri->url && strcmp(ri->url, url) == 0)
                conn_request_close(R.routes[k], CR_ROUTE_REMOVED);
        }
        pthread_mutex_unlock(&R.mu);
    }
    for (size_t i = 0; i < no->cluster.nroutes; i++) {
        if (url_listed(no->cluster.routes[i], old->cluster.routes, old->cluster.nroutes)) continue;
        changed = true;
        start_dialer(no->cluster.routes[i]);
    }
    if (changed) NOTICE("Reloaded: cluster routes");
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
    for (size_t i = 0; i < R.ibcap; i++) {
        for (ikey_t *k = R.ibuckets[i], *next; k; k = next) {
            next = k->next;
            free(k);
        }
    }
    free(R.ibuckets);
    R.ibuckets = NULL;
    R.ibcap = R.icount = 0;
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
