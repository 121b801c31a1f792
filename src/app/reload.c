/* reload.c: see reload.h.
 *
 * Reload builds a whole new opts_t off the hot path (opts_reload), refuses
 * it if a non-reloadable option changed, then publishes it with one pointer
 * swap; the old set is retired through qsbr because workers read options
 * without locks. Per-connection consequences (re-auth, max_connections) are
 * handed to the owning workers as commands. */
#include "nats/account.h"
#include "nats/imports.h"
#include "nats/resolver.h"
#include "nats/mappings.h"
#include "app/reload.h"
#include "conf/opts_table.h"
#include "nats/auth.h"
#include "nats/client.h"
#include "core/core.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "core/tls.h"
#include "nats/route.h"
#include "nats/leaf.h"
#include "base/json.h"
#include <time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *ports_path;

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void opts_free_cb(void *p)
{
    opts_free(p);
    free(p);
}

void reload_warn_plaintext(const opts_t *o)
{
    bool plain = false;
    if (o->password && *o->password && strncmp(o->password, "$2", 2) != 0) plain = true;
    for (size_t i = 0; i < o->nusers; i++)
        if (o->users[i].password && *o->users[i].password &&
            strncmp(o->users[i].password, "$2", 2) != 0)
            plain = true;
    if (plain) WARN("Plaintext passwords detected, use nkeys or bcrypt");
}

/* ---- what a reload changes ------------------------------------------------
 * The option table (conf/opts_table.h) says, per option, whether a change is
 * refused, logged, or has an effect; the effects are here, by name. */

typedef struct reload {
    opts_t *cur, *no;
    bool maxconn_shrank;
} reload_t;

static void fx_max_connections(reload_t *r)
{
    opts_t *cur = r->cur, *no = r->no;
    if (cur->max_connections == no->max_connections) return;
    int64_t excess =
        no->max_connections > 0 ? atomic_load(&srv->num_clients) - no->max_connections : 0;
    if (excess > 0) {
        NOTICE("Closed %lld connections to fall within max_connections", (long long)excess);
        atomic_store(&srv->conn_excess, excess);
        r->maxconn_shrank = true;
    }
    NOTICE("Reloaded: max_connections = %d", no->max_connections);
}

/* The reference logs these two and re-runs the authorization pass on every reload. */
static void fx_authorization(reload_t *r)
{
    (void)r;
    NOTICE("Reloaded: authorization users");
    NOTICE("Reloaded: accounts");
}

static void fx_auth_timeout(reload_t *r)
{
    if (r->cur->auth_timeout_ns == r->no->auth_timeout_ns) return;
    buf_t b = {0};
    json_put_float(&b, (double)opts_auth_timeout_ns(r->no) / 1e9);
    NOTICE("Reloaded: authorization timeout = %.*s", (int)b.len, b.p);
    buf_free(&b);
}

static void fx_cluster(reload_t *r)
{
    if (r->cur->cluster.port && opts_cluster_changed(r->cur, r->no)) NOTICE("Reloaded: cluster");
}

static void fx_pid_file(reload_t *r)
{
    const char *pf = r->no->pid_file;
    if (str_eq(r->cur->pid_file, pf) || !pf || !*pf) return;
    NOTICE("Reloaded: pid_file = %s", pf);
    int fd = open(pf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
    if (fd < 0) {
        ERROR("Failed to write pidfile: open %s: %s", pf, strerror(errno));
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%d", (int)getpid());
    if (write(fd, tmp, (size_t)n) != n) ERROR("Failed to write pidfile: %s", strerror(errno));
    close(fd);
}

static const struct effect {
    const char *name; /* the row's reload_text */
    void (*fn)(reload_t *r);
} effects[] = {
    {"max_connections", fx_max_connections},
    {"authorization users", fx_authorization},
    {"authorization timeout", fx_auth_timeout},
    {"cluster", fx_cluster},
    {"pid_file", fx_pid_file},
};

/* Logs (and applies the effects of) every change, in table order. */
static void log_changes(reload_t *r)
{
    char v[64];
    for (size_t i = 0; i < opt_nrows; i++) {
        const opt_def_t *d = &opt_rows[i];
        if (d->reload == OR_NOTICE && opt_changed(d, r->cur, r->no))
            NOTICE("%s = %s", d->reload_text, opt_format(d, r->no, v, sizeof v));
        else if (d->reload == OR_NOTE && opt_changed(d, r->cur, r->no))
            NOTICE("%s", d->reload_text);
        else if (d->reload == OR_EFFECT)
            for (size_t k = 0; k < ARRAY_LEN(effects); k++)
                if (strcmp(effects[k].name, d->reload_text) == 0) effects[k].fn(r);
    }
}

/* The new option set, loaded and checked; NULL (logged) when the reload is
 * refused. A changed client tls block is loaded here, so a bad certificate
 * refuses the reload too (*new_tls). */
static opts_t *load_new(opts_t *cur, bool *tls_changed, tls_ctx_t **new_tls)
{
    if (!cur->config_file) {
        ERROR("Failed to reload server configuration: can only reload config when a file is "
              "provided using -c or --config");
        return NULL;
    }
    opts_t *no = xcalloc(1, sizeof *no);
    char err[1024], rbuf[512];
    const char *why = NULL;
    if (opts_reload(cur, no, err, sizeof err) != 0) {
        why = err;
    } else {
        if (no->port == 0) no->port = cur->port;
        why = opts_reload_refusal(cur, no, rbuf, sizeof rbuf);
    }
    if (!why && opts_validate(no, err, sizeof err) != 0) why = err;
    if (!why && (*tls_changed = opts_tls_changed(&cur->tls, &no->tls)) && no->tls.enabled) {
        *new_tls = tls_ctx_server(&no->tls, false, err, sizeof err);
        if (!*new_tls) why = err;
    }
    if (!why) return no;
    ERROR("Failed to reload server configuration: %s", why);
    opts_free(no);
    free(no);
    return NULL;
}

void server_reload(void)
{
    opts_t *cur = srv->opts;
    bool tls_changed = false;
    tls_ctx_t *new_tls = NULL;
    opts_t *no = load_new(cur, &tls_changed, &new_tls);
    if (!no) return;
    reload_t r = {cur, no, false};
    log_changes(&r);
    bool ports_changed = !str_eq(cur->ports_file_dir, no->ports_file_dir);

    char err[1024];
    log_config_t lc = {.debug = no->debug,
                       .trace = no->trace,
                       .logtime = no->logtime,
                       .file = no->log_file,
                       .size_limit = no->log_size_limit,
                       .syslog = no->syslog,
                       .remote_syslog = no->remote_syslog,
                       .tag = gnatsd_prog};
    if (log_configure(&lc, err, sizeof err) != 0) ERROR("%s", err);
    if (ports_changed) ports_file_remove();
    accounts_configure(no); /* before the swap: a user's account exists when it logs in */
    srv->opts = no;
    server_build_info();
    route_reload(cur, no);
    leaf_reload_tls(cur, no);
    if (tls_changed) {
        tls_ctx_t *old = atomic_exchange(&srv->tls_ctx, new_tls);
        tls_ctx_retire(old);
        NOTICE("Reloaded: tls = %s", no->tls.enabled ? "enabled" : "disabled");
        if (no->tls.npinned_certs) NOTICE("Reloaded: %zu pinned_certs", no->tls.npinned_certs);
    }
    qsbr_retire(cur, opts_free_cb);
    if (ports_changed) ports_file_write();
    worker_command(WCMD_REAUTH | (r.maxconn_shrank ? WCMD_MAXCONN : 0) |
                   (tls_changed && no->tls.npinned_certs ? WCMD_PINNED : 0));
    atomic_store(&srv->config_load_ns, now_wall_ns());
    NOTICE("Reloaded server configuration");
}

/* ---- lame duck ------------------------------------------------------------ */

bool server_lame_duck(void)
{
    if (atomic_exchange(&srv->lame_duck, true)) return false;
    opts_t *o = srv->opts;
    NOTICE("Entering lame duck mode, stop accepting new clients");
    int lfd = srv->listen_fd;
    srv->listen_fd = -1;
    if (lfd >= 0) listener_remove(lfd); /* out of every worker's epoll set, closed */
    if (atomic_load(&srv->num_clients) == 0) return true;
    worker_command(WCMD_LDM_INFO);
    int64_t grace = o->lame_duck_grace_ns;
    struct timespec ts = {(time_t)(grace / 1000000000LL), (long)(grace % 1000000000LL)};
    nanosleep(&ts, NULL);
    NOTICE("Closing existing clients");
    int64_t n = atomic_load(&srv->num_clients);
    int64_t span = o->lame_duck_duration_ns - grace;
    int64_t pause = n > 0 ? span / n : 0;
    if (pause > 1000000000LL) pause = 1000000000LL;
    uint64_t rnd = (uint64_t)now_mono_ns();
    for (int guard = 0; atomic_load(&srv->num_clients) > 0 && guard < 1000000; guard++) {
        for (int i = 0; i < srv->nworkers; i++) {
            worker_t *w = &srv->workers[i];
            if (w->nconns == 0) continue;
            atomic_store(&w->ldm_close_quota, 1);
            worker_command_one(w, WCMD_LDM_CLOSE);
            break;
        }
        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t p = pause / 2 + (pause > 1 ? (int64_t)(rnd % (uint64_t)(pause / 2 + 1)) : 0);
        if (p < 1000000) p = 1000000;
        struct timespec pt = {(time_t)(p / 1000000000LL), (long)(p % 1000000000LL)};
        nanosleep(&pt, NULL);
    }
    return true;
}

/* ---- ports file ------------------------------------------------------------- */

static void add_urls(buf_t *b, const char *key, const char *scheme, const char *host, int port,
                     bool *first_key)
{
    if (port <= 0) return;
    buf_puts(b, *first_key ? "\"" : ",\"");
    *first_key = false;
    buf_puts(b, key);
    buf_puts(b, "\":[");
    bool wildcard = !host || !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    if (!wildcard) {
        buf_printf(b, strchr(host, ':') ? "\"%s://[%s]:%d\"" : "\"%s://%s:%d\"", scheme, host,
                   port);
    } else {
        /* Go lists addresses per interface (by index), IPv4 before IPv6 */
        os_ifaddr_t *ifa = NULL;
        int nifa = os_if_addrs(&ifa);
        if (nifa >= 0) {
            bool first = true;
            unsigned maxidx = 0;
            for (int k = 0; k < nifa; k++)
                if (ifa[k].index > maxidx) maxidx = ifa[k].index;
            for (unsigned idx = 0; idx <= maxidx; idx++) {
                for (int fam = 0; fam < 2; fam++) {
                    int want = fam == 0 ? AF_INET : AF_INET6;
                    for (int k = 0; k < nifa; k++) {
                        const os_ifaddr_t *i = &ifa[k];
                        if (i->addr.ss_family != want || i->index != idx) continue;
                        char ip[INET6_ADDRSTRLEN];
                        if (want == AF_INET)
                            inet_ntop(AF_INET, &((const struct sockaddr_in *)&i->addr)->sin_addr,
                                      ip, sizeof ip);
                        else
                            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&i->addr)->sin6_addr,
                                      ip, sizeof ip);
                        buf_printf(b, strchr(ip, ':') ? "%s\"%s://[%s]:%d\"" : "%s\"%s://%s:%d\"",
                                   first ? "" : ",", scheme, ip, port);
                        first = false;
                    }
                }
            }
            free(ifa);
        }
    }
    buf_putc(b, ']');
}

void ports_file_write(void)
{
    opts_t *o = srv->opts;
    if (!o->ports_file_dir || !*o->ports_file_dir) return;
    buf_t b = {0};
    bool first = true;
    buf_putc(&b, '{');
    add_urls(&b, "nats", o->tls.enabled ? "tls" : "nats", o->host, srv->port, &first);
    if (srv->http_fd >= 0)
        add_urls(&b, "monitoring", o->https_port ? "https" : "http",
                 o->http_host && *o->http_host ? o->http_host : o->host, srv->http_port, &first);
    if (srv->cluster_port > 0)
        add_urls(&b, "cluster", o->cluster.tls.enabled ? "tls" : "nats", o->cluster.host,
                 srv->cluster_port, &first);
    buf_putc(&b, '}');
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%d.ports", o->ports_file_dir, gnatsd_prog, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        ERROR("Error writing ports file (%s): %s", path, strerror(errno));
    } else {
        if (write(fd, b.p, b.len) != (ssize_t)b.len)
            ERROR("Error writing ports file (%s): %s", path, strerror(errno));
        close(fd);
        free(ports_path);
        ports_path = xstrdup(path);
    }
    buf_free(&b);
}

void ports_file_remove(void)
{
    if (!ports_path) return;
    if (unlink(ports_path) != 0)
        ERROR("Error cleaning up ports file %s: %s", ports_path, strerror(errno));
    free(ports_path);
    ports_path = NULL;
}
