/* opts.c: command line (Go `flag` rules), config-file application and the
 * merge defaults < file < flags, as nats-server 2.9.10 does it.
 *
 * The config tree comes from conf.c; this file only knows option names. Every
 * semantic problem is collected (not just the first) so the output matches the
 * reference: warnings first, then errors, each "file:line:col: reason". Flags
 * are kept as the raw argv so a reload can re-apply exactly the same ones. */
#include "conf/opts.h"

#include "base/common.h"
#include "base/gofmt.h"
#include "base/pct.h"
#include "conf/conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_PER_SEC 1000000000LL
#define DEFAULT_CONNECT_ERROR_REPORTS 3600
#define DEFAULT_RECONNECT_ERROR_REPORTS 1
#define DEFAULT_RESP_EXPIRES_NS (2 * 60 * NS_PER_SEC)

/* ------------------------------------------------------------------------- */
/* small helpers                                                             */

/* Durations from a config are kept within +-DUR_MAX_NS (about 73 years): a
 * deadline is "now + duration", and a huge value must mean "practically never",
 * not a signed overflow (undefined in C; found by fuzz_opts). */
#define DUR_MAX_NS (INT64_MAX / 4)

static int64_t dur_clamp(int64_t ns)
{
    return ns > DUR_MAX_NS ? DUR_MAX_NS : ns < -DUR_MAX_NS ? -DUR_MAX_NS : ns;
}

static int64_t secs_to_ns(int64_t s)
{
    int64_t ns;
    if (__builtin_mul_overflow(s, NS_PER_SEC, &ns)) return s < 0 ? -DUR_MAX_NS : DUR_MAX_NS;
    return dur_clamp(ns);
}

static int64_t fsecs_to_ns(double s)
{
    double ns = s * (double)NS_PER_SEC;
    if (ns != ns) return 0; /* NaN: the config language cannot write one */
    if (ns >= (double)DUR_MAX_NS) return DUR_MAX_NS;
    if (ns <= -(double)DUR_MAX_NS) return -DUR_MAX_NS;
    return (int64_t)ns;
}

static void strv_push(char ***v, size_t *n, char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(char *));
    (*v)[(*n)++] = s;
}

static void strv_free(char ***v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*v)[i]);
    free(*v);
    *v = NULL;
    *n = 0;
}

static char **strv_dup(char **v, size_t n)
{
    if (!n) return NULL;
    char **r = xmalloc(n * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        r[i] = xstrdup(v[i]);
    return r;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    return s;
}

static bool streq_any(const char *k, ...)
{
    va_list ap;
    va_start(ap, k);
    const char *c;
    bool r = false;
    while ((c = va_arg(ap, const char *)) != NULL) {
        if (strcasecmp(k, c) == 0) {
            r = true;
            break;
        }
    }
    va_end(ap);
    return r;
}
#define KEYIS(k, ...) streq_any((k), __VA_ARGS__, (const char *)NULL)

/* ------------------------------------------------------------------------- */
/* defaults / free                                                           */

static void tls_defaults(tls_opts_t *t)
{
    memset(t, 0, sizeof(*t));
    t->timeout_ns = DEFAULT_TLS_TIMEOUT_NS;
}

static void tls_free(tls_opts_t *t)
{
    free(t->cert_file);
    free(t->key_file);
    free(t->ca_file);
    strv_free(&t->cipher_suites, &t->ncipher_suites);
    strv_free(&t->curve_prefs, &t->ncurve_prefs);
    strv_free(&t->pinned_certs, &t->npinned_certs);
    tls_defaults(t);
}

static void perm_list_free(perm_list_t *l)
{
    strv_free(&l->allow, &l->nallow);
    strv_free(&l->deny, &l->ndeny);
    l->has_allow = false;
}

void permissions_free(permissions_t *p)
{
    if (!p) return;
    perm_list_free(&p->publish);
    perm_list_free(&p->subscribe);
    free(p);
}

static permissions_t *permissions_new(void)
{
    permissions_t *p = xcalloc(1, sizeof(*p));
    p->resp_max = 1;
    p->resp_expires_ns = DEFAULT_RESP_EXPIRES_NS;
    return p;
}

static void perm_list_copy(perm_list_t *d, const perm_list_t *s)
{
    d->allow = strv_dup(s->allow, s->nallow);
    d->nallow = s->nallow;
    d->has_allow = s->has_allow;
    d->deny = strv_dup(s->deny, s->ndeny);
    d->ndeny = s->ndeny;
}

static permissions_t *permissions_dup(const permissions_t *s)
{
    if (!s) return NULL;
    permissions_t *p = xmalloc(sizeof(*p));
    *p = *s;
    perm_list_copy(&p->publish, &s->publish);
    perm_list_copy(&p->subscribe, &s->subscribe);
    return p;
}

static void users_free(user_t *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(u[i].name);
        free(u[i].password);
        permissions_free(u[i].perms);
    }
    free(u);
}

static void cluster_free(cluster_opts_t *c)
{
    free(c->name);
    free(c->host);
    free(c->advertise);
    free(c->user);
    free(c->password);
    strv_free(&c->routes, &c->nroutes);
    permissions_free(c->perms);
    tls_free(&c->tls);
    memset(c, 0, sizeof(*c));
    tls_defaults(&c->tls);
}

void opts_defaults(opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->host = xstrdup(DEFAULT_HOST);
    o->port = DEFAULT_PORT;
    o->logtime = true;
    o->max_connections = DEFAULT_MAX_CONNECTIONS;
    o->max_control_line = DEFAULT_MAX_CONTROL_LINE;
    o->max_payload = DEFAULT_MAX_PAYLOAD;
    o->max_pending = DEFAULT_MAX_PENDING;
    o->ping_interval_ns = DEFAULT_PING_INTERVAL_NS;
    o->ping_max = DEFAULT_PING_MAX;
    o->write_deadline_ns = DEFAULT_WRITE_DEADLINE_NS;
    o->lame_duck_duration_ns = DEFAULT_LAME_DUCK_DURATION_NS;
    o->lame_duck_grace_ns = DEFAULT_LAME_DUCK_GRACE_NS;
    o->connect_error_reports = DEFAULT_CONNECT_ERROR_REPORTS;
    o->reconnect_error_reports = DEFAULT_RECONNECT_ERROR_REPORTS;
    tls_defaults(&o->tls);
    tls_defaults(&o->cluster.tls);
}

void opts_free(opts_t *o)
{
    free(o->config_file);
    free(o->host);
    free(o->server_name);
    free(o->client_advertise);
    free(o->pid_file);
    free(o->ports_file_dir);
    free(o->http_host);
    free(o->http_base_path);
    free(o->log_file);
    free(o->remote_syslog);
    free(o->username);
    free(o->password);
    free(o->token);
    users_free(o->users, o->nusers);
    permissions_free(o->default_perms);
    free(o->no_auth_user);
    tls_free(&o->tls);
    cluster_free(&o->cluster);
    strv_free(&o->warnings, &o->nwarnings);
    for (int i = 0; i < o->ncli_args; i++)
        free(o->cli_args[i]);
    free(o->cli_args);
    memset(o, 0, sizeof(*o));
}

int64_t opts_auth_timeout_ns(const opts_t *o)
{
    if (o->auth_timeout_ns > 0) return o->auth_timeout_ns;
    if (o->tls.enabled) {
        int64_t t = o->tls.timeout_ns > 0 ? o->tls.timeout_ns : DEFAULT_TLS_TIMEOUT_NS;
        return t + NS_PER_SEC;
    }
    return DEFAULT_AUTH_TIMEOUT_NS;
}

/* ------------------------------------------------------------------------- */
/* Go durations                                                              */

int opts_parse_duration(const char *orig, int64_t *out, char *err, size_t errlen)
{
    char q[256];
    quote_go_str(q, sizeof(q), orig);
    const char *s = orig;
    bool neg = false;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (!*s) goto invalid;
    /* Accumulate in long double-free integer math like Go: whole part and a
     * scaled fraction per unit, with overflow checks on the total. */
    uint64_t total = 0;
    while (*s) {
        if (!(*s == '.' || isdigit((unsigned char)*s))) goto invalid;
        uint64_t v = 0;
        const char *p = s;
        bool ovf = false;
        while (isdigit((unsigned char)*s)) {
            if (v > (UINT64_MAX - 9) / 10)
                ovf = true;
            else
                v = v * 10 + (uint64_t)(*s - '0');
            s++;
        }
        bool pre = s != p;
        uint64_t f = 0, scale = 1;
        bool post = false;
        if (*s == '.') {
            s++;
            const char *fp = s;
            while (isdigit((unsigned char)*s)) {
                if (scale <= UINT64_MAX / 10 / 10) {
                    f = f * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
            }
            post = s != fp;
        }
        if (!pre && !post) goto invalid;
        if (ovf) goto invalid;
        const char *us = s;
        while (*s && *s != '.' && !isdigit((unsigned char)*s))
            s++;
        size_t ul = (size_t)(s - us);
        if (ul == 0) {
            snprintf(err, errlen, "time: missing unit in duration %s", q);
            return -1;
        }
        uint64_t unit;
        if (ul == 2 && !strncmp(us, "ns", 2))
            unit = 1;
        else if ((ul == 2 && !strncmp(us, "us", 2)) || (ul == 3 && !strncmp(us, "\xc2\xb5s", 3)) ||
                 (ul == 3 && !strncmp(us, "\xce\xbcs", 3)))
            unit = 1000;
        else if (ul == 2 && !strncmp(us, "ms", 2))
            unit = 1000000;
        else if (ul == 1 && *us == 's')
            unit = NS_PER_SEC;
        else if (ul == 1 && *us == 'm')
            unit = 60 * NS_PER_SEC;
        else if (ul == 1 && *us == 'h')
            unit = 3600 * NS_PER_SEC;
        else {
            char uq[128], ub[64];
            snprintf(ub, sizeof(ub), "%.*s", (int)(ul < 60 ? ul : 60), us);
            quote_go_str(uq, sizeof(uq), ub);
            snprintf(err, errlen, "time: unknown unit %s in duration %s", uq, q);
            return -1;
        }
        if (v > (uint64_t)INT64_MAX / unit) goto invalid;
        v *= unit;
        if (f) {
            v += (uint64_t)((long double)f * (long double)unit / (long double)scale);
            if (v > (uint64_t)INT64_MAX) goto invalid;
        }
        total += v;
        if (total > (uint64_t)INT64_MAX) goto invalid;
    }
    *out = neg ? -(int64_t)total : (int64_t)total;
    return 0;
invalid:
    snprintf(err, errlen, "time: invalid duration %s", q);
    return -1;
}

/* ------------------------------------------------------------------------- */
/* config application context                                                */

typedef struct pos {
    const char *file;
    int line, col;
} pos_t;

typedef struct cfg_ctx {
    char **errs;
    size_t nerrs;
    char **warns; /* the reference's warnings: fatal under -t */
    size_t nwarns;
    char **notes; /* "X is not supported by this server, ignoring" */
    size_t nnotes;
    /* text of every file of the tree, to tell variable definitions (keys
     * referenced as $NAME somewhere) from unknown keys */
    char **texts;
    size_t ntexts;
    const char **files;
    size_t nfiles;
} cfg_ctx_t;

static pos_t kvpos(const conf_kv_t *kv)
{
    return (pos_t){kv->file, kv->line, kv->col};
}

static pos_t valpos(const conf_val_t *v)
{
    return (pos_t){v->file, v->line, v->col};
}

/* Reference quirk (config.md §6.2): on line 1 the column is 0-based. */
static char *pos_prefix(pos_t p)
{
    int col = p.line == 1 ? p.col - 1 : p.col;
    return xasprintf("%s:%d:%d", p.file ? p.file : "", p.line, col < 0 ? 0 : col);
}

static void cfg_err(cfg_ctx_t *c, pos_t p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cfg_err(cfg_ctx_t *c, pos_t p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0) abort();
    va_end(ap);
    char *pp = pos_prefix(p);
    strv_push(&c->errs, &c->nerrs, xasprintf("%s: %s", pp, m));
    free(pp);
    free(m);
}

static void cfg_warn(cfg_ctx_t *c, pos_t p, const char *field, const char *reason)
{
    char *pp = pos_prefix(p);
    strv_push(&c->warns, &c->nwarns,
              xasprintf("%s: invalid use of field \"%s\": %s", pp, field, reason));
    free(pp);
}

static void cfg_note(cfg_ctx_t *c, pos_t p, const char *what)
{
    char *pp = pos_prefix(p);
    strv_push(&c->notes, &c->nnotes,
              xasprintf("%s: %s is not supported by this server, ignoring", pp, what));
    free(pp);
}

static void cfg_ctx_free(cfg_ctx_t *c)
{
    strv_free(&c->errs, &c->nerrs);
    strv_free(&c->warns, &c->nwarns);
    strv_free(&c->notes, &c->nnotes);
    strv_free(&c->texts, &c->ntexts);
    free(c->files);
}

static void collect_files(cfg_ctx_t *c, const conf_val_t *v)
{
    if (!v) return;
    const char *f = v->file;
    if (f) {
        bool seen = false;
        for (size_t i = 0; i < c->nfiles && !seen; i++)
            seen = c->files[i] == f || strcmp(c->files[i], f) == 0;
        if (!seen) {
            c->files = xrealloc(c->files, (c->nfiles + 1) * sizeof(char *));
            c->files[c->nfiles++] = f;
            FILE *fp = fopen(f, "rb");
            if (fp) {
                char *buf = NULL;
                size_t n = 0;
                FILE *ms = open_memstream(&buf, &n);
                char chunk[4096];
                size_t r;
                while ((r = fread(chunk, 1, sizeof(chunk), fp)) > 0)
                    fwrite(chunk, 1, r, ms);
                fclose(ms);
                fclose(fp);
                strv_push(&c->texts, &c->ntexts, buf);
            }
        }
    }
    if (v->type == CONF_MAP) {
        for (size_t i = 0; i < v->u.map.n; i++) {
            const conf_kv_t *kv = &v->u.map.items[i];
            if (kv->file) {
                /* keys of included files carry their own file */
                conf_val_t tmp = {.type = CONF_INT, .file = kv->file};
                collect_files(c, &tmp);
            }
            collect_files(c, kv->val);
        }
    } else if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++)
            collect_files(c, v->u.arr.items[i]);
    }
}

/* Was `name` referenced as $name anywhere (case-insensitively, as variable
 * lookup is)? The value tree does not record this, so look at the sources. */
static bool used_as_variable(const cfg_ctx_t *c, const char *name)
{
    size_t nl = strlen(name);
    if (!nl) return false;
    for (size_t t = 0; t < c->ntexts; t++) {
        for (const char *p = strchr(c->texts[t], '$'); p; p = strchr(p + 1, '$')) {
            if (strncasecmp(p + 1, name, nl) != 0) continue;
            char e = p[1 + nl];
            if (e == 0 || strchr(" \t\r\n;,]}#", e)) return true;
        }
    }
    return false;
}

/* A key repeated in one map: only the last occurrence counts (no merging). */
static bool shadowed(const conf_val_t *map, size_t i)
{
    for (size_t j = i + 1; j < map->u.map.n; j++)
        if (strcasecmp(map->u.map.items[j].key, map->u.map.items[i].key) == 0) return true;
    return false;
}

static void unknown_field(cfg_ctx_t *c, const conf_kv_t *kv)
{
    if (!used_as_variable(c, kv->key)) cfg_err(c, kvpos(kv), "unknown field \"%s\"", kv->key);
}

static const char *tname(conf_type_t t)
{
    return conf_type_name(t);
}

/* The reference's type errors are Go runtime panics. */
static bool want(cfg_ctx_t *c, pos_t p, const conf_val_t *v, conf_type_t t)
{
    if (v->type == t) return true;
    cfg_err(c, p, "interface conversion: interface {} is %s, not %s", tname(v->type), tname(t));
    return false;
}

static bool get_str(cfg_ctx_t *c, const conf_kv_t *kv, char **dst)
{
    if (!want(c, kvpos(kv), kv->val, CONF_STRING)) return false;
    set_str(dst, kv->val->u.str.s);
    return true;
}

static bool get_bool(cfg_ctx_t *c, const conf_kv_t *kv, bool *dst)
{
    if (!want(c, kvpos(kv), kv->val, CONF_BOOL)) return false;
    *dst = kv->val->u.b;
    return true;
}

static bool get_i64(cfg_ctx_t *c, const conf_kv_t *kv, int64_t *dst)
{
    if (!want(c, kvpos(kv), kv->val, CONF_INT)) return false;
    *dst = kv->val->u.i;
    return true;
}

static bool get_int(cfg_ctx_t *c, const conf_kv_t *kv, int *dst)
{
    int64_t v;
    if (!get_i64(c, kv, &v)) return false;
    *dst = (int)v;
    return true;
}

/* Go's %v of a scalar, for "got %v" messages. */
static char *val_plain(const conf_val_t *v)
{
    switch (v->type) {
    case CONF_STRING:
        return xstrdup(v->u.str.s);
    case CONF_INT:
        return xasprintf("%lld", (long long)v->u.i);
    case CONF_FLOAT:
        return xasprintf("%g", v->u.f);
    case CONF_BOOL:
        return xstrdup(v->u.b ? "true" : "false");
    case CONF_MAP:
        return xstrdup("map[...]");
    case CONF_ARRAY:
        return xstrdup("[...]");
    case CONF_DATETIME:
        return xasprintf("%lld", (long long)v->u.i);
    }
    return xstrdup("?");
}

/* listen/http/https: port or "host:port" (Go net.SplitHostPort + Atoi). */
static bool parse_listen(cfg_ctx_t *c, pos_t p, const conf_val_t *v, char **host, int *port)
{
    if (v->type == CONF_INT) {
        free(*host);
        *host = NULL;
        *port = (int)v->u.i;
        return true;
    }
    if (v->type != CONF_STRING) {
        cfg_err(c, p, "expected port or host:port, got %s", tname(v->type));
        return false;
    }
    const char *s = v->u.str.s;
    char hq[300];
    quote_go_str(hq, sizeof(hq), s);
    const char *h, *hend, *ps;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') {
            cfg_err(c, p, "could not parse address string %s", hq);
            return false;
        }
        h = s + 1;
        hend = rb;
        ps = rb + 2;
    } else {
        const char *col = strrchr(s, ':');
        if (!col || memchr(s, ':', (size_t)(col - s))) {
            cfg_err(c, p, "could not parse address string %s", hq);
            return false;
        }
        h = s;
        hend = col;
        ps = col + 1;
    }
    char *end = NULL;
    errno = 0;
    long pv = strtol(ps, &end, 10);
    if (!*ps || *end || errno || isspace((unsigned char)*ps) || pv > INT_MAX || pv < INT_MIN) {
        char pq[300];
        quote_go_str(pq, sizeof(pq), ps);
        cfg_err(c, p, "could not parse port %s", pq);
        return false;
    }
    free(*host);
    *host = xstrndup(h, (size_t)(hend - h));
    *port = (int)pv;
    return true;
}

/* ping_interval / write_deadline: duration string, or integer seconds + warning. */
static void parse_duration_field(cfg_ctx_t *c, const conf_kv_t *kv, const char *field, int64_t *dst)
{
    const conf_val_t *v = kv->val;
    if (v->type == CONF_STRING) {
        char e[300];
        int64_t ns;
        if (opts_parse_duration(v->u.str.s, &ns, e, sizeof(e)) != 0) {
            cfg_err(c, kvpos(kv), "error parsing %s: %s", field, e);
            return;
        }
        *dst = dur_clamp(ns);
        return;
    }
    if (!want(c, kvpos(kv), v, CONF_INT)) return;
    char reason[128];
    snprintf(reason, sizeof(reason), "%s should be converted to a duration", field);
    cfg_warn(c, kvpos(kv), field, reason);
    *dst = secs_to_ns(v->u.i);
}

/* ------------------------------------------------------------------------- */
/* permissions (config.md §7.4)                                              */

/* Go IsValidSubject. */
static bool valid_subject(const char *s, size_t n)
{
    if (n == 0) return false;
    bool sfwc = false;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '.')
            j++;
        size_t tl = j - i;
        if (tl == 0 || sfwc) return false;
        if (tl > 1) {
            for (size_t k = i; k < j; k++)
                if (strchr("\t\n\f\r ", s[k])) return false;
        } else {
            char ch = s[i];
            if (ch == '>')
                sfwc = true;
            else if (strchr(" \t\n\r\f", ch))
                return false;
        }
        i = j + 1;
    }
    return true;
}

static bool check_perm_subject(cfg_ctx_t *c, pos_t p, const char *s)
{
    if (valid_subject(s, strlen(s))) return true;
    /* "subject queue" pairs (strings.Fields) */
    const char *f[3];
    size_t fl[3];
    int nf = 0;
    for (const char *q = s; *q;) {
        while (*q && isspace((unsigned char)*q))
            q++;
        if (!*q) break;
        const char *st = q;
        while (*q && !isspace((unsigned char)*q))
            q++;
        if (nf < 3) {
            f[nf] = st;
            fl[nf] = (size_t)(q - st);
        }
        nf++;
    }
    char qb[600];
    if (nf != 2) {
        quote_go_str(qb, sizeof(qb), s);
        cfg_err(c, p, "subject %s is not a valid subject", qb);
        return false;
    }
    if (!valid_subject(f[0], fl[0])) {
        char *t = xstrndup(f[0], fl[0]);
        quote_go_str(qb, sizeof(qb), t);
        free(t);
        cfg_err(c, p, "subject %s is not a valid subject", qb);
        return false;
    }
    return true;
}

/* string | [strings] -> list; returns false on error (already reported). */
static bool parse_perm_subjects(cfg_ctx_t *c, pos_t p, const conf_val_t *v, char ***out,
                                size_t *nout)
{
    char **l = NULL;
    size_t n = 0;
    if (v->type == CONF_STRING) {
        strv_push(&l, &n, xstrdup(v->u.str.s));
    } else if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const conf_val_t *e = v->u.arr.items[i];
            if (e->type != CONF_STRING) {
                cfg_err(c, valpos(e), "Subject in permissions array cannot be cast to string");
                strv_free(&l, &n);
                return false;
            }
            strv_push(&l, &n, xstrdup(e->u.str.s));
        }
    } else {
        cfg_err(c, p, "Expected subject permissions to be a subject, or array of subjects, got %s",
                tname(v->type));
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!check_perm_subject(c, p, l[i])) {
            strv_free(&l, &n);
            return false;
        }
    }
    *out = l;
    *nout = n;
    return true;
}

/* publish/subscribe value: old style (string/array = allow) or {allow, deny}.
 * *given is false when the value means "no restriction" (empty map). */
static bool parse_subject_perm(cfg_ctx_t *c, pos_t p, const conf_val_t *v, perm_list_t *out,
                               bool *given)
{
    perm_list_free(out);
    *given = false;
    if (v->type != CONF_MAP) {
        if (!parse_perm_subjects(c, p, v, &out->allow, &out->nallow)) return false;
        out->has_allow = out->nallow > 0;
        *given = true;
        return true;
    }
    if (v->u.map.n == 0) return true;
    *given = true;
    bool ok = true;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (KEYIS(kv->key, "allow")) {
            strv_free(&out->allow, &out->nallow);
            if (parse_perm_subjects(c, kvpos(kv), kv->val, &out->allow, &out->nallow))
                out->has_allow = out->nallow > 0;
            else
                ok = false;
        } else if (KEYIS(kv->key, "deny")) {
            strv_free(&out->deny, &out->ndeny);
            if (!parse_perm_subjects(c, kvpos(kv), kv->val, &out->deny, &out->ndeny)) ok = false;
        } else if (!used_as_variable(c, kv->key)) {
            cfg_err(c, kvpos(kv),
                    "Unknown field name \"%s\" parsing subject permissions, only 'allow' or "
                    "'deny' are permitted",
                    kv->key);
            ok = false;
        }
    }
    return ok;
}

static bool parse_allow_responses(cfg_ctx_t *c, pos_t p, const conf_val_t *v, permissions_t *perm)
{
    if (v->type == CONF_BOOL) {
        perm->allow_responses = v->u.b;
        return true;
    }
    if (v->type != CONF_MAP) {
        cfg_err(c, p, "error parsing response permissions, expected a boolean or a map");
        return false;
    }
    perm->allow_responses = true;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (KEYIS(kv->key, "max", "max_msgs", "max_messages", "max_responses")) {
            int64_t m;
            if (!get_i64(c, kv, &m)) return false;
            if (m != 0) perm->resp_max = m;
        } else if (KEYIS(kv->key, "expires", "expiration", "ttl")) {
            if (kv->val->type != CONF_STRING) {
                cfg_err(c, kvpos(kv), "error parsing expires, not a duration string");
                perm->allow_responses = false;
                return false;
            }
            char e[300];
            int64_t ns;
            if (opts_parse_duration(kv->val->u.str.s, &ns, e, sizeof(e)) != 0) {
                cfg_err(c, kvpos(kv), "error parsing expires: %s", e);
                perm->allow_responses = false;
                return false;
            }
            if (ns != 0) perm->resp_expires_ns = dur_clamp(ns);
        } else if (!used_as_variable(c, kv->key)) {
            cfg_err(c, kvpos(kv), "Unknown field \"%s\" parsing permissions", kv->key);
        }
    }
    return true;
}

/* Returns NULL on a fatal error (reported). */
static permissions_t *parse_permissions(cfg_ctx_t *c, pos_t p, const conf_val_t *v)
{
    if (v->type != CONF_MAP) {
        char *pv = val_plain(v);
        cfg_err(c, p, "Expected permissions to be a map/struct, got %s", pv);
        free(pv);
        return NULL;
    }
    permissions_t *perm = permissions_new();
    const conf_kv_t *resp = NULL;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (KEYIS(kv->key, "pub", "publish", "import")) {
            parse_subject_perm(c, kvpos(kv), kv->val, &perm->publish, &perm->has_publish);
        } else if (KEYIS(kv->key, "sub", "subscribe", "export")) {
            parse_subject_perm(c, kvpos(kv), kv->val, &perm->subscribe, &perm->has_subscribe);
        } else if (KEYIS(kv->key, "publish_allow_responses", "allow_responses")) {
            resp = kv;
        } else if (!used_as_variable(c, kv->key)) {
            cfg_err(c, kvpos(kv), "Unknown field \"%s\" parsing permissions", kv->key);
        }
    }
    /* After publish so that "turn off the blanket allow" sees the final list. */
    if (resp && parse_allow_responses(c, kvpos(resp), resp->val, perm) && perm->allow_responses) {
        perm->has_publish = true;
        if (!perm->publish.has_allow) perm->publish.has_allow = true;
    }
    return perm;
}

/* ------------------------------------------------------------------------- */
/* authorization (config.md §7.2, §7.3)                                      */

typedef struct auth_block {
    char *user, *pass, *token;
    int64_t timeout_ns;
    bool has_users;
    user_t *users;
    size_t nusers;
    permissions_t *default_perms;
} auth_block_t;

static void auth_block_free(auth_block_t *a)
{
    free(a->user);
    free(a->pass);
    free(a->token);
    users_free(a->users, a->nusers);
    permissions_free(a->default_perms);
    memset(a, 0, sizeof(*a));
}

static bool parse_conn_types(cfg_ctx_t *c, const conf_kv_t *kv, user_t *u)
{
    const conf_val_t *v = kv->val;
    const conf_val_t *single[1] = {v};
    const conf_val_t *const *items;
    size_t n;
    if (v->type == CONF_STRING) {
        items = single;
        n = 1;
    } else if (v->type == CONF_ARRAY) {
        items = (const conf_val_t *const *)v->u.arr.items;
        n = v->u.arr.n;
    } else {
        cfg_err(c, kvpos(kv), "error parsing allowed connection types: unsupported type %s",
                tname(v->type));
        return false;
    }
    static const char *known[] = {"STANDARD",    "WEBSOCKET", "LEAFNODE",
                                  "LEAFNODE_WS", "MQTT",      "MQTT_WS"};
    char *bad = NULL;
    size_t nvalid = 0;
    bool std = false;
    for (size_t i = 0; i < n; i++) {
        if (items[i]->type != CONF_STRING) {
            cfg_err(c, valpos(items[i]),
                    "error parsing allowed connection types: unsupported type in array %s",
                    tname(items[i]->type));
            continue;
        }
        const char *s = items[i]->u.str.s;
        bool ok = false;
        for (size_t k = 0; k < ARRAY_LEN(known); k++)
            ok = ok || strcasecmp(s, known[k]) == 0;
        if (!ok) {
            char q[300];
            quote_go_str(q, sizeof(q), s);
            char *nb = xasprintf("%s%s%s", bad ? bad : "", bad ? " " : "", q);
            free(bad);
            bad = nb;
            continue;
        }
        nvalid++;
        if (strcasecmp(s, "STANDARD") == 0) std = true;
    }
    if (bad) {
        cfg_err(c, kvpos(kv), "invalid connection types [%s]", bad);
        free(bad);
        return false;
    }
    u->restrict_conn_types = nvalid > 0;
    u->allow_standard = std;
    return true;
}

/* Returns false when the users array is unusable (reference returns early). */
static bool parse_users(cfg_ctx_t *c, pos_t p, const conf_val_t *v, auth_block_t *a)
{
    if (v->type != CONF_ARRAY) {
        char *pv = val_plain(v);
        cfg_err(c, p, "Expected users field to be an array, got %s", pv);
        free(pv);
        return false;
    }
    a->has_users = true;
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const conf_val_t *e = v->u.arr.items[i];
        if (e->type != CONF_MAP) {
            char *pv = val_plain(e);
            cfg_err(c, valpos(e), "Expected user entry to be a map/struct, got %s", pv);
            free(pv);
            continue;
        }
        user_t u = {0};
        bool has_nkey = false;
        pos_t nkey_pos = valpos(e);
        for (size_t k = 0; k < e->u.map.n; k++) {
            const conf_kv_t *kv = &e->u.map.items[k];
            if (KEYIS(kv->key, "nkey")) {
                has_nkey = true;
                nkey_pos = kvpos(kv);
            } else if (KEYIS(kv->key, "user", "username")) {
                get_str(c, kv, &u.name);
            } else if (KEYIS(kv->key, "pass", "password")) {
                get_str(c, kv, &u.password);
            } else if (KEYIS(kv->key, "permission", "permissions", "authorization")) {
                permissions_free(u.perms);
                u.perms = parse_permissions(c, kvpos(kv), kv->val);
            } else if (KEYIS(kv->key, "allowed_connection_types", "connection_types", "clients")) {
                parse_conn_types(c, kv, &u);
            } else {
                unknown_field(c, kv);
            }
        }
        if (has_nkey) {
            /* Dropping an nkey user would leave the account reachable some
             * other way or not at all; refuse rather than guess. */
            cfg_err(c, nkey_pos, "nkey users are not supported by this server");
            free(u.name);
            free(u.password);
            permissions_free(u.perms);
            continue;
        }
        if (!u.name) {
            /* the reference points at the entry's last key */
            pos_t up = e->u.map.n ? kvpos(&e->u.map.items[e->u.map.n - 1]) : valpos(e);
            cfg_err(c, up, "User entry requires a user");
            free(u.password);
            permissions_free(u.perms);
            return false;
        }
        if (!u.password) u.password = xstrdup("");
        a->users = xrealloc(a->users, (a->nusers + 1) * sizeof(user_t));
        a->users[a->nusers++] = u;
    }
    return true;
}

/* Shared by the top-level and the cluster authorization blocks. */
static void parse_auth_block(cfg_ctx_t *c, const conf_val_t *v, auth_block_t *a)
{
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (shadowed(v, i)) continue;
        if (KEYIS(kv->key, "user", "username")) {
            get_str(c, kv, &a->user);
        } else if (KEYIS(kv->key, "pass", "password")) {
            get_str(c, kv, &a->pass);
        } else if (KEYIS(kv->key, "token")) {
            get_str(c, kv, &a->token);
        } else if (KEYIS(kv->key, "timeout")) {
            /* reference: any non-number silently means 1 second */
            a->timeout_ns = kv->val->type == CONF_INT     ? secs_to_ns(kv->val->u.i)
                            : kv->val->type == CONF_FLOAT ? fsecs_to_ns(kv->val->u.f)
                                                          : NS_PER_SEC;
        } else if (KEYIS(kv->key, "users")) {
            users_free(a->users, a->nusers);
            a->users = NULL;
            a->nusers = 0;
            a->has_users = false;
            parse_users(c, kvpos(kv), kv->val, a);
        } else if (KEYIS(kv->key, "default_permission", "default_permissions", "permissions")) {
            permissions_t *p = parse_permissions(c, kvpos(kv), kv->val);
            if (p) {
                permissions_free(a->default_perms);
                a->default_perms = p;
            }
        } else {
            unknown_field(c, kv);
        }
    }
}

static void apply_authorization(cfg_ctx_t *c, const conf_kv_t *akv, opts_t *o)
{
    pos_t p = kvpos(akv);
    if (!want(c, p, akv->val, CONF_MAP)) return;
    auth_block_t a = {0};
    parse_auth_block(c, akv->val, &a);

    set_str(&o->username, a.user);
    set_str(&o->password, a.pass);
    set_str(&o->token, a.token);
    o->auth_timeout_ns = a.timeout_ns;
    if ((a.user || a.pass) && a.token) {
        cfg_err(c, p, "Cannot have a user/pass and token");
        goto out;
    }
    if (a.has_users) {
        if (a.user) {
            cfg_err(c, p, "Can not have a single user/pass and a users array");
            goto out;
        }
        if (a.token) {
            cfg_err(c, p, "Can not have a token and a users array");
            goto out;
        }
        for (size_t i = 0; i < a.nusers; i++) {
            for (size_t j = 0; j < i; j++) {
                if (strcmp(a.users[i].name, a.users[j].name) == 0) {
                    char q[300];
                    quote_go_str(q, sizeof(q), a.users[i].name);
                    cfg_err(c, p, "Duplicate user %s detected", q);
                    goto out;
                }
            }
        }
        for (size_t i = 0; i < a.nusers; i++)
            if (!a.users[i].perms && a.default_perms)
                a.users[i].perms = permissions_dup(a.default_perms);
        users_free(o->users, o->nusers);
        o->users = a.users;
        o->nusers = a.nusers;
        a.users = NULL;
        a.nusers = 0;
    }
    permissions_free(o->default_perms);
    o->default_perms = a.default_perms;
    a.default_perms = NULL;
out:
    auth_block_free(&a);
}

/* ------------------------------------------------------------------------- */
/* tls (config.md §7.5)                                                      */

static const char *const cipher_names[] = {
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
};
static const char *const curve_names[] = {"X25519", "CurveP256", "CurveP384", "CurveP521"};

static bool tls_name_list(cfg_ctx_t *c, const conf_kv_t *kv, const char *what, const char *unrec,
                          const char *const *names, size_t nnames, char ***out, size_t *nout)
{
    if (!want(c, kvpos(kv), kv->val, CONF_ARRAY)) return false;
    const conf_val_t *v = kv->val;
    if (v->u.arr.n == 0) {
        cfg_err(c, kvpos(kv), "error parsing tls config, '%s' cannot be empty", what);
        return false;
    }
    char **l = NULL;
    size_t n = 0;
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const conf_val_t *e = v->u.arr.items[i];
        if (!want(c, valpos(e), e, CONF_STRING)) {
            strv_free(&l, &n);
            return false;
        }
        bool ok = false;
        for (size_t k = 0; k < nnames && !ok; k++)
            ok = strcmp(names[k], e->u.str.s) == 0;
        if (!ok) {
            cfg_err(c, valpos(e), "%s %s", unrec, e->u.str.s);
            strv_free(&l, &n);
            return false;
        }
        strv_push(&l, &n, xstrdup(e->u.str.s));
    }
    strv_free(out, nout);
    *out = l;
    *nout = n;
    return true;
}

static bool tls_bool(cfg_ctx_t *c, const conf_kv_t *kv, bool *dst)
{
    if (kv->val->type != CONF_BOOL) {
        cfg_err(c, kvpos(kv), "error parsing tls config, expected '%s' to be a boolean", kv->key);
        return false;
    }
    *dst = kv->val->u.b;
    return true;
}

static bool tls_file(cfg_ctx_t *c, const conf_kv_t *kv, char **dst)
{
    if (kv->val->type != CONF_STRING) {
        cfg_err(c, kvpos(kv), "error parsing tls config, expected '%s' to be filename", kv->key);
        return false;
    }
    set_str(dst, kv->val->u.str.s);
    return true;
}

static bool is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n])) return false;
    return n == 64;
}

/* Like the reference, the first problem aborts the block. Certificate files
 * are only checked for presence here; loading them is the TLS layer's job. */
static bool parse_tls(cfg_ctx_t *c, const conf_kv_t *tkv, tls_opts_t *t, bool client_ctx)
{
    if (!want(c, kvpos(tkv), tkv->val, CONF_MAP)) return false;
    tls_free(t);
    t->enabled = true;
    const conf_val_t *v = tkv->val;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        const char *k = kv->key;
        bool ok = true;
        if (KEYIS(k, "cert_file")) {
            ok = tls_file(c, kv, &t->cert_file);
        } else if (KEYIS(k, "key_file")) {
            ok = tls_file(c, kv, &t->key_file);
        } else if (KEYIS(k, "ca_file")) {
            ok = tls_file(c, kv, &t->ca_file);
        } else if (KEYIS(k, "insecure")) {
            ok = tls_bool(c, kv, &t->insecure);
        } else if (KEYIS(k, "verify")) {
            ok = tls_bool(c, kv, &t->verify);
        } else if (KEYIS(k, "verify_and_map")) {
            bool b = false;
            ok = tls_bool(c, kv, &b);
            if (b) t->verify = true;
            t->verify_and_map = b;
        } else if (KEYIS(k, "verify_cert_and_check_known_urls")) {
            bool b = false;
            ok = tls_bool(c, kv, &b);
            if (ok && b && client_ctx) {
                cfg_err(c, kvpos(kv),
                        "verify_cert_and_check_known_urls not supported in this context");
                ok = false;
            }
            if (b) t->verify = true;
        } else if (KEYIS(k, "cipher_suites")) {
            ok = tls_name_list(c, kv, "cipher_suites", "unrecognized cipher", cipher_names,
                               ARRAY_LEN(cipher_names), &t->cipher_suites, &t->ncipher_suites);
        } else if (KEYIS(k, "curve_preferences")) {
            ok = tls_name_list(c, kv, "curve_preferences", "unrecognized curve preference",
                               curve_names, ARRAY_LEN(curve_names), &t->curve_prefs,
                               &t->ncurve_prefs);
        } else if (KEYIS(k, "timeout")) {
            const conf_val_t *tv = kv->val;
            if (tv->type == CONF_INT) {
                t->timeout_ns = secs_to_ns(tv->u.i);
            } else if (tv->type == CONF_FLOAT) {
                t->timeout_ns = fsecs_to_ns(tv->u.f);
            } else if (tv->type == CONF_STRING) {
                char e[300];
                int64_t ns;
                if (opts_parse_duration(tv->u.str.s, &ns, e, sizeof(e)) != 0) {
                    cfg_err(c, kvpos(kv), "error parsing tls config, 'timeout' %s", e);
                    ok = false;
                } else {
                    t->timeout_ns = dur_clamp(ns);
                }
            } else {
                cfg_err(c, kvpos(kv), "error parsing tls config, 'timeout' wrong type");
                ok = false;
            }
        } else if (KEYIS(k, "connection_rate_limit")) {
            if (kv->val->type != CONF_INT) {
                cfg_err(c, kvpos(kv),
                        "error parsing tls config, 'connection_rate_limit' wrong type");
                ok = false;
            } else {
                t->connection_rate_limit = kv->val->u.i;
            }
        } else if (KEYIS(k, "pinned_certs")) {
            if (kv->val->type != CONF_ARRAY) {
                cfg_err(c, kvpos(kv),
                        "error parsing tls config, expected 'pinned_certs' to be a list of "
                        "hex-encoded sha256 of DER encoded SubjectPublicKeyInfo");
                ok = false;
            } else {
                strv_free(&t->pinned_certs, &t->npinned_certs);
                for (size_t j = 0; ok && j < kv->val->u.arr.n; j++) {
                    const conf_val_t *e = kv->val->u.arr.items[j];
                    if (!want(c, valpos(e), e, CONF_STRING)) {
                        ok = false;
                        break;
                    }
                    char *low = xstrdup(e->u.str.s);
                    for (char *q = low; *q; q++)
                        *q = (char)tolower((unsigned char)*q);
                    if (!is_hex64(low)) {
                        cfg_err(c, valpos(e),
                                "error parsing tls config, 'pinned_certs' key %s does not look "
                                "like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
                                low);
                        free(low);
                        ok = false;
                        break;
                    }
                    strv_push(&t->pinned_certs, &t->npinned_certs, low);
                }
            }
        } else {
            char q[300];
            quote_go_str(q, sizeof(q), k);
            cfg_err(c, kvpos(kv), "error parsing tls config, unknown field [%s]", q);
            ok = false;
        }
        if (!ok) return false;
    }
    if (t->cert_file && !t->key_file) {
        cfg_err(c, kvpos(tkv), "missing 'key_file' in TLS configuration");
        return false;
    }
    if (!t->cert_file && t->key_file) {
        cfg_err(c, kvpos(tkv), "missing 'cert_file' in TLS configuration");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------- */
/* cluster (config.md §7.6)                                                  */

/* Go's url.Parse is lenient; reject only what it would reject in practice. */
static bool url_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) return false;
        if (*p == '%' && !(isxdigit(p[1]) && isxdigit(p[2]))) return false;
    }
    const char *h = strstr(s, "://");
    if (h) {
        h += 3;
        const char *end = h + strcspn(h, "/?#");
        const char *at = NULL;
        for (const char *q = h; q < end; q++)
            if (*q == '@') at = q;
        const char *host = at ? at + 1 : h;
        for (const char *q = host; q < end; q++)
            if (*q == ' ') return false;
    }
    return true;
}

static void parse_cluster(cfg_ctx_t *c, const conf_kv_t *ckv, opts_t *o)
{
    if (ckv->val->type != CONF_MAP) {
        cfg_err(c, kvpos(ckv), "Expected map to define cluster, got %s", tname(ckv->val->type));
        return;
    }
    cluster_opts_t *cl = &o->cluster;
    const conf_val_t *v = ckv->val;
    permissions_t *auth_perms = NULL;
    pos_t auth_pos = {0};
    bool top_perms = false;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        const char *k = kv->key;
        if (KEYIS(k, "name")) {
            get_str(c, kv, &cl->name);
        } else if (KEYIS(k, "listen")) {
            parse_listen(c, kvpos(kv), kv->val, &cl->host, &cl->port);
        } else if (KEYIS(k, "port")) {
            get_int(c, kv, &cl->port);
        } else if (KEYIS(k, "host", "net")) {
            get_str(c, kv, &cl->host);
        } else if (KEYIS(k, "authorization")) {
            if (!want(c, kvpos(kv), kv->val, CONF_MAP)) continue;
            auth_block_t a = {0};
            parse_auth_block(c, kv->val, &a);
            if (a.has_users) {
                cfg_err(c, kvpos(kv), "Cluster authorization does not allow multiple users");
            } else if (a.token) {
                cfg_err(c, kvpos(kv), "Cluster authorization does not support tokens");
            } else {
                set_str(&cl->user, a.user);
                set_str(&cl->password, a.pass);
                cl->auth_timeout_ns = a.timeout_ns;
                if (a.default_perms) {
                    cfg_warn(c, kvpos(kv), kv->key,
                             "setting \"permissions\" within cluster authorization block is "
                             "deprecated");
                    permissions_free(auth_perms);
                    auth_perms = a.default_perms;
                    a.default_perms = NULL;
                    auth_pos = kvpos(kv);
                }
            }
            auth_block_free(&a);
        } else if (KEYIS(k, "routes")) {
            if (!want(c, kvpos(kv), kv->val, CONF_ARRAY)) continue;
            char **r = NULL;
            size_t nr = 0;
            bool ok = true;
            for (size_t j = 0; j < kv->val->u.arr.n; j++) {
                const conf_val_t *e = kv->val->u.arr.items[j];
                if (!want(c, valpos(e), e, CONF_STRING)) {
                    ok = false;
                    break;
                }
                const char *u = e->u.str.s;
                bool dup = false;
                for (size_t d = 0; d < nr && !dup; d++)
                    dup = strcmp(r[d], u) == 0;
                if (dup) {
                    cfg_warn(c, valpos(e), u, "Duplicate route entry detected");
                    continue;
                }
                /* trimmed like the reference's parseURL */
                const char *b = u;
                while (isspace((unsigned char)*b))
                    b++;
                size_t l = strlen(b);
                while (l && isspace((unsigned char)b[l - 1]))
                    l--;
                char *t = xstrndup(b, l);
                if (!url_ok(t)) {
                    char q[600];
                    quote_go_str(q, sizeof(q), t);
                    cfg_err(c, valpos(e), "error parsing route url [%s]", q);
                    free(t);
                    ok = false;
                    continue;
                }
                free(t);
                strv_push(&r, &nr, xstrdup(u));
            }
            if (ok) {
                strv_free(&cl->routes, &cl->nroutes);
                cl->routes = r;
                cl->nroutes = nr;
            } else {
                strv_free(&r, &nr);
            }
        } else if (KEYIS(k, "tls")) {
            parse_tls(c, kv, &cl->tls, false);
        } else if (KEYIS(k, "cluster_advertise", "advertise")) {
            get_str(c, kv, &cl->advertise);
        } else if (KEYIS(k, "no_advertise")) {
            get_bool(c, kv, &cl->no_advertise);
        } else if (KEYIS(k, "connect_retries")) {
            get_int(c, kv, &cl->connect_retries);
        } else if (KEYIS(k, "permissions")) {
            permissions_t *p = parse_permissions(c, kvpos(kv), kv->val);
            if (!p) continue;
            if (p->allow_responses) {
                cfg_err(c, kvpos(kv), "Cluster permissions do not support dynamic responses");
                permissions_free(p);
                continue;
            }
            permissions_free(cl->perms);
            cl->perms = p;
            top_perms = true;
        } else {
            unknown_field(c, kv);
        }
    }
    (void)auth_pos;
    if (auth_perms && !top_perms) {
        permissions_free(cl->perms);
        cl->perms = auth_perms;
        auth_perms = NULL;
    }
    permissions_free(auth_perms);
}

/* ------------------------------------------------------------------------- */
/* top level (config.md §7.1)                                                */

static void check_lame_duck(cfg_ctx_t *c, const conf_kv_t *kv, const char *field, bool grace,
                            int64_t *dst)
{
    if (!want(c, kvpos(kv), kv->val, CONF_STRING)) return;
    char e[300];
    int64_t ns;
    if (opts_parse_duration(kv->val->u.str.s, &ns, e, sizeof(e)) != 0) {
        cfg_err(c, kvpos(kv), "error parsing %s: %s", field, e);
        return;
    }
    if (grace && ns < 0) {
        cfg_err(c, kvpos(kv), "invalid lame_duck_grace_period, needs to be positive");
        return;
    }
    if (!grace && ns < 30 * NS_PER_SEC) {
        char d[64];
        go_duration(d, sizeof(d), ns);
        cfg_err(c, kvpos(kv), "invalid lame_duck_duration of %s, minimum is 30 seconds", d);
        return;
    }
    *dst = dur_clamp(ns);
}

static void apply_top(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o)
{
    const char *k = kv->key;
    const conf_val_t *v = kv->val;
    pos_t p = kvpos(kv);
    int64_t i64;

    if (KEYIS(k, "listen")) {
        parse_listen(c, p, v, &o->host, &o->port);
    } else if (KEYIS(k, "client_advertise")) {
        get_str(c, kv, &o->client_advertise);
    } else if (KEYIS(k, "port")) {
        get_int(c, kv, &o->port);
    } else if (KEYIS(k, "server_name")) {
        get_str(c, kv, &o->server_name);
    } else if (KEYIS(k, "host", "net")) {
        get_str(c, kv, &o->host);
    } else if (KEYIS(k, "debug")) {
        get_bool(c, kv, &o->debug);
    } else if (KEYIS(k, "trace")) {
        get_bool(c, kv, &o->trace);
    } else if (KEYIS(k, "trace_verbose")) {
        if (get_bool(c, kv, &o->trace_verbose)) o->trace = o->trace_verbose;
    } else if (KEYIS(k, "logtime")) {
        get_bool(c, kv, &o->logtime);
    } else if (KEYIS(k, "disable_sublist_cache", "no_sublist_cache")) {
        get_bool(c, kv, &o->disable_sublist_cache);
    } else if (KEYIS(k, "authorization")) {
        apply_authorization(c, kv, o);
    } else if (KEYIS(k, "http")) {
        parse_listen(c, p, v, &o->http_host, &o->http_port);
    } else if (KEYIS(k, "https")) {
        parse_listen(c, p, v, &o->http_host, &o->https_port);
    } else if (KEYIS(k, "http_port", "monitor_port")) {
        get_int(c, kv, &o->http_port);
    } else if (KEYIS(k, "https_port")) {
        get_int(c, kv, &o->https_port);
    } else if (KEYIS(k, "http_base_path")) {
        get_str(c, kv, &o->http_base_path);
    } else if (KEYIS(k, "cluster")) {
        parse_cluster(c, kv, o);
    } else if (KEYIS(k, "logfile", "log_file")) {
        get_str(c, kv, &o->log_file);
    } else if (KEYIS(k, "logfile_size_limit", "log_size_limit")) {
        get_i64(c, kv, &o->log_size_limit);
    } else if (KEYIS(k, "syslog")) {
        get_bool(c, kv, &o->syslog);
    } else if (KEYIS(k, "remote_syslog")) {
        get_str(c, kv, &o->remote_syslog);
    } else if (KEYIS(k, "pidfile", "pid_file")) {
        get_str(c, kv, &o->pid_file);
    } else if (KEYIS(k, "ports_file_dir")) {
        get_str(c, kv, &o->ports_file_dir);
    } else if (KEYIS(k, "prof_port")) {
        if (get_int(c, kv, &o->prof_port)) cfg_note(c, p, "prof_port (profiling)");
    } else if (KEYIS(k, "max_control_line", "max_payload")) {
        if (!get_i64(c, kv, &i64)) return;
        if (i64 > INT32_MAX) {
            cfg_err(c, p, "%s value is too big", k);
            return;
        }
        if (KEYIS(k, "max_payload"))
            o->max_payload = (int)i64;
        else
            o->max_control_line = (int)i64;
    } else if (KEYIS(k, "max_pending")) {
        get_i64(c, kv, &o->max_pending);
    } else if (KEYIS(k, "max_connections", "max_conn")) {
        get_int(c, kv, &o->max_connections);
    } else if (KEYIS(k, "max_traced_msg_len")) {
        get_i64(c, kv, &o->max_traced_msg_len);
    } else if (KEYIS(k, "max_subscriptions", "max_subs")) {
        get_int(c, kv, &o->max_subscriptions);
    } else if (KEYIS(k, "max_sub_tokens", "max_subscription_tokens")) {
        if (!get_i64(c, kv, &i64)) return;
        if (i64 > 255)
            cfg_err(c, p, "%s value is too big", k);
        else if (i64 <= 0)
            cfg_err(c, p, "%s value can not be negative", k);
        else
            o->max_sub_tokens = (int)i64;
    } else if (KEYIS(k, "ping_interval")) {
        parse_duration_field(c, kv, "ping_interval", &o->ping_interval_ns);
    } else if (KEYIS(k, "ping_max")) {
        get_int(c, kv, &o->ping_max);
    } else if (KEYIS(k, "tls")) {
        parse_tls(c, kv, &o->tls, true);
    } else if (KEYIS(k, "allow_non_tls")) {
        get_bool(c, kv, &o->allow_non_tls);
    } else if (KEYIS(k, "write_deadline")) {
        parse_duration_field(c, kv, "write_deadline", &o->write_deadline_ns);
    } else if (KEYIS(k, "lame_duck_duration")) {
        check_lame_duck(c, kv, "lame_duck_duration", false, &o->lame_duck_duration_ns);
    } else if (KEYIS(k, "lame_duck_grace_period")) {
        check_lame_duck(c, kv, "lame_duck_grace_period", true, &o->lame_duck_grace_ns);
    } else if (KEYIS(k, "no_auth_user")) {
        get_str(c, kv, &o->no_auth_user);
    } else if (KEYIS(k, "no_system_account", "no_system", "no_sys_acc")) {
        get_bool(c, kv, &o->no_sys_acc);
    } else if (KEYIS(k, "no_header_support")) {
        get_bool(c, kv, &o->no_header_support);
    } else if (KEYIS(k, "connect_error_reports")) {
        get_i64(c, kv, &o->connect_error_reports);
    } else if (KEYIS(k, "reconnect_error_reports")) {
        get_i64(c, kv, &o->reconnect_error_reports);
    } else if (KEYIS(k, "accounts", "operator", "operators", "root", "roots", "root_operator",
                     "root_operators", "resolver", "account_resolver", "accounts_resolver",
                     "resolver_tls", "resolver_preload", "resolver_pinned_accounts", "trusted",
                     "trusted_keys", "mappings", "maps")) {
        /* Each of these restricts who may do what, or (mappings) changes where
         * messages go; silently ignoring one would run the server more open, or
         * deliver elsewhere, than its configuration says. */
        if (KEYIS(k, "mappings", "maps"))
            cfg_err(c, p,
                    "%s is not supported by this server (refusing to run without the subject "
                    "mappings it configures)",
                    k);
        else
            cfg_err(c, p,
                    "%s is not supported by this server (refusing to run without the access "
                    "restrictions it configures)",
                    k);
    } else if (KEYIS(k, "jetstream", "store_dir", "storedir", "gateway", "leaf", "leafnodes",
                     "websocket", "ws", "mqtt", "server_tags", "default_js_domain", "ocsp",
                     "system_account", "system")) {
        cfg_note(c, p, k);
    } else {
        unknown_field(c, kv);
    }
}

/* Loads `path` into o. Returns -1 on a parse error (message in perr) and
 * leaves the semantic report in c. */
static int load_config(const char *path, opts_t *o, cfg_ctx_t *c, char *perr, size_t perrlen)
{
    conf_val_t *root = conf_parse_file(path, perr, perrlen);
    if (!root) return -1;
    set_str(&o->config_file, path);
    collect_files(c, root);
    if (root->type == CONF_MAP) {
        for (size_t i = 0; i < root->u.map.n; i++)
            if (!shadowed(root, i)) apply_top(c, &root->u.map.items[i], o);
    }
    conf_free(root);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* command line (cli.md §2, §3)                                              */

typedef enum ftype { FT_BOOL, FT_INT, FT_INT64, FT_STR } ftype_t;

typedef enum fid {
    F_HELP,
    F_PORT,
    F_NAME,
    F_HOST,
    F_CLIENT_ADV,
    F_D,
    F_V,
    F_VV,
    F_DV,
    F_DVV,
    F_T,
    F_USER,
    F_PASS,
    F_AUTH,
    F_HTTP,
    F_HTTPS,
    F_CONFIG,
    F_CHECK,
    F_SIGNAL,
    F_PID,
    F_PORTS_DIR,
    F_LOG,
    F_LOG_SIZE,
    F_SYSLOG,
    F_RSYSLOG,
    F_VERSION,
    F_ROUTES,
    F_CLUSTER,
    F_CLUSTER_ADV,
    F_NO_ADV,
    F_CONN_RETRIES,
    F_CLUSTER_NAME,
    F_HELP_TLS,
    F_TLS,
    F_TLSVERIFY,
    F_TLSCERT,
    F_TLSKEY,
    F_TLSCACERT,
    F_MAX_TRACED,
    F_WORKERS,
    F__N
} fid_t;

static const struct flagdef {
    const char *name;
    fid_t id;
    ftype_t t;
} flagdefs[] = {
    {"h", F_HELP, FT_BOOL},
    {"help", F_HELP, FT_BOOL},
    {"port", F_PORT, FT_INT},
    {"p", F_PORT, FT_INT},
    {"n", F_NAME, FT_STR},
    {"name", F_NAME, FT_STR},
    {"server_name", F_NAME, FT_STR},
    {"addr", F_HOST, FT_STR},
    {"a", F_HOST, FT_STR},
    {"net", F_HOST, FT_STR},
    {"client_advertise", F_CLIENT_ADV, FT_STR},
    {"D", F_D, FT_BOOL},
    {"debug", F_D, FT_BOOL},
    {"V", F_V, FT_BOOL},
    {"trace", F_V, FT_BOOL},
    {"VV", F_VV, FT_BOOL},
    {"DV", F_DV, FT_BOOL},
    {"DVV", F_DVV, FT_BOOL},
    {"T", F_T, FT_BOOL},
    {"logtime", F_T, FT_BOOL},
    {"user", F_USER, FT_STR},
    {"pass", F_PASS, FT_STR},
    {"auth", F_AUTH, FT_STR},
    {"m", F_HTTP, FT_INT},
    {"http_port", F_HTTP, FT_INT},
    {"ms", F_HTTPS, FT_INT},
    {"https_port", F_HTTPS, FT_INT},
    {"c", F_CONFIG, FT_STR},
    {"config", F_CONFIG, FT_STR},
    {"t", F_CHECK, FT_BOOL},
    {"sl", F_SIGNAL, FT_STR},
    {"signal", F_SIGNAL, FT_STR},
    {"P", F_PID, FT_STR},
    {"pid", F_PID, FT_STR},
    {"ports_file_dir", F_PORTS_DIR, FT_STR},
    {"l", F_LOG, FT_STR},
    {"log", F_LOG, FT_STR},
    {"log_size_limit", F_LOG_SIZE, FT_INT64},
    {"s", F_SYSLOG, FT_BOOL},
    {"syslog", F_SYSLOG, FT_BOOL},
    {"r", F_RSYSLOG, FT_STR},
    {"remote_syslog", F_RSYSLOG, FT_STR},
    {"version", F_VERSION, FT_BOOL},
    {"v", F_VERSION, FT_BOOL},
    {"routes", F_ROUTES, FT_STR},
    {"cluster", F_CLUSTER, FT_STR},
    {"cluster_listen", F_CLUSTER, FT_STR},
    {"cluster_advertise", F_CLUSTER_ADV, FT_STR},
    {"no_advertise", F_NO_ADV, FT_BOOL},
    {"connect_retries", F_CONN_RETRIES, FT_INT},
    {"cluster_name", F_CLUSTER_NAME, FT_STR},
    {"help_tls", F_HELP_TLS, FT_BOOL},
    {"tls", F_TLS, FT_BOOL},
    {"tlsverify", F_TLSVERIFY, FT_BOOL},
    {"tlscert", F_TLSCERT, FT_STR},
    {"tlskey", F_TLSKEY, FT_STR},
    {"tlscacert", F_TLSCACERT, FT_STR},
    {"max_traced_msg_len", F_MAX_TRACED, FT_INT},
    {"workers", F_WORKERS, FT_INT},
};

/* Aliases share one variable, so the last occurrence of any alias wins. */
typedef struct flagvals {
    bool set[F__N];
    bool b[F__N];
    int64_t i[F__N];
    const char *s[F__N]; /* borrowed from the argv copy */
    int first_pos;       /* index of the first non-flag argument, or -1 */
} flagvals_t;

/* Go strconv.ParseBool. */
static bool parse_go_bool(const char *s, bool *out)
{
    static const char *t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < ARRAY_LEN(t); i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Go strconv.ParseInt(s, 0, 64): returns NULL or "parse error"/"value out of range". */
static const char *parse_go_int(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    int base = 10;
    bool prefixed = false;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
        prefixed = true;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        base = 8;
        p += 2;
        prefixed = true;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        p += 2;
        prefixed = true;
    } else if (p[0] == '0' && p[1]) {
        base = 8;
        p += 1;
        prefixed = true;
    }
    if (!*p) return "parse error";
    uint64_t v = 0;
    bool range = false, last_us = prefixed, any = false;
    for (; *p; p++) {
        if (*p == '_') {
            /* underscores only between digits or after a base prefix */
            if (last_us && !(prefixed && !any)) return "parse error";
            if (p[1] == 0) return "parse error";
            last_us = true;
            continue;
        }
        int d;
        if (isdigit((unsigned char)*p))
            d = *p - '0';
        else if (isxdigit((unsigned char)*p))
            d = tolower((unsigned char)*p) - 'a' + 10;
        else
            return "parse error";
        if (d >= base) return "parse error";
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            range = true;
        else
            v = v * (uint64_t)base + (uint64_t)d;
        last_us = false;
        any = true;
    }
    if (!any) return "parse error";
    if (range || (!neg && v > (uint64_t)INT64_MAX) || (neg && v > (uint64_t)INT64_MAX + 1))
        return "value out of range";
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NULL;
}

/* Go flag.FlagSet.Parse. Returns 0, or -1 with the message in err. */
static int parse_flags(int n, char **args, flagvals_t *fv, char *err, size_t errlen)
{
    memset(fv, 0, sizeof(*fv));
    fv->first_pos = -1;
    int i = 0;
    while (i < n) {
        const char *s = args[i];
        if (strlen(s) < 2 || s[0] != '-') break;
        int minuses = 1;
        if (s[1] == '-') {
            minuses = 2;
            if (s[2] == 0) {
                i++;
                break;
            }
        }
        const char *name = s + minuses;
        if (!*name || *name == '-' || *name == '=') {
            snprintf(err, errlen, "bad flag syntax: %s", s);
            return -1;
        }
        i++;
        const char *eq = strchr(name + 1, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        const struct flagdef *fd = NULL;
        for (size_t k = 0; k < ARRAY_LEN(flagdefs) && !fd; k++)
            if (strlen(flagdefs[k].name) == nl && strncmp(flagdefs[k].name, name, nl) == 0)
                fd = &flagdefs[k];
        if (!fd) {
            snprintf(err, errlen, "flag provided but not defined: -%.*s", (int)nl, name);
            return -1;
        }
        char vq[512];
        if (fd->t == FT_BOOL) {
            bool b = true;
            if (value && !parse_go_bool(value, &b)) {
                quote_go_str(vq, sizeof(vq), value);
                snprintf(err, errlen, "invalid boolean value %s for -%s: parse error", vq,
                         fd->name);
                return -1;
            }
            fv->b[fd->id] = b;
        } else {
            if (!value && i < n) value = args[i++];
            if (!value) {
                snprintf(err, errlen, "flag needs an argument: -%s", fd->name);
                return -1;
            }
            if (fd->t == FT_STR) {
                fv->s[fd->id] = value;
            } else {
                int64_t v = 0;
                const char *e = parse_go_int(value, &v);
                if (!e && fd->t == FT_INT && (v > INT_MAX || v < INT_MIN)) e = "value out of range";
                if (e) {
                    quote_go_str(vq, sizeof(vq), value);
                    snprintf(err, errlen, "invalid value %s for flag -%s: %s", vq, fd->name, e);
                    return -1;
                }
                fv->i[fd->id] = v;
            }
        }
        fv->set[fd->id] = true;
    }
    if (i < n) fv->first_pos = i;
    return 0;
}

/* --cluster nats://[user:pass@]host:port (Go overrideCluster). */
static int override_cluster(opts_t *o, const char *listen, char *err, size_t errlen)
{
    cluster_opts_t *cl = &o->cluster;
    if (!listen || !*listen) {
        cl->port = 0;
        return 0;
    }
    size_t l = strlen(listen);
    bool random = l >= 3 && strcmp(listen + l - 3, ":-1") == 0;
    const char *auth = strstr(listen, "://");
    auth = auth ? auth + 3 : listen + l;
    size_t alen = strcspn(auth, "/?#");
    char *a = xstrndup(auth, alen);
    char *hostport = a, *userinfo = NULL;
    char *at = strrchr(a, '@');
    if (at) {
        *at = 0;
        userinfo = a;
        hostport = at + 1;
    }
    if (random) hostport[strlen(hostport) - 2] = 0, strcat(hostport, "0");
    /* net.SplitHostPort */
    char *h, *ps;
    const char *why = NULL;
    if (hostport[0] == '[') {
        char *rb = strchr(hostport, ']');
        if (!rb)
            why = "missing ']' in address";
        else if (rb[1] != ':')
            why = "missing port in address";
        else {
            *rb = 0;
            h = hostport + 1;
            ps = rb + 2;
        }
    } else {
        char *c = strrchr(hostport, ':');
        if (!c)
            why = "missing port in address";
        else if (memchr(hostport, ':', (size_t)(c - hostport)))
            why = "too many colons in address";
        else {
            *c = 0;
            h = hostport;
            ps = c + 1;
        }
    }
    if (why) {
        if (*hostport)
            snprintf(err, errlen, "address %s: %s", hostport, why);
        else
            snprintf(err, errlen, "%s", why);
        free(a);
        return -1;
    }
    char *end;
    errno = 0;
    long pv = strtol(ps, &end, 10);
    if (end == ps || errno || pv > INT_MAX || pv < INT_MIN) {
        snprintf(err, errlen, "expected integer");
        free(a);
        return -1;
    }
    set_str(&cl->host, h);
    cl->port = random ? -1 : (int)pv;
    if (userinfo) {
        char *colon = strchr(userinfo, ':');
        if (!colon) {
            snprintf(err, errlen, "expected cluster password to be set");
            free(a);
            return -1;
        }
        *colon = 0;
        /* decoded in place, a bad escape kept as written */
        pct_decode((slice_t){userinfo, strlen(userinfo)}, userinfo, strlen(userinfo) + 1, 0);
        pct_decode((slice_t){colon + 1, strlen(colon + 1)}, colon + 1, strlen(colon + 1) + 1, 0);
        set_str(&cl->user, userinfo);
        set_str(&cl->password, colon + 1);
    } else {
        set_str(&cl->user, NULL);
        set_str(&cl->password, NULL);
    }
    free(a);
    return 0;
}

/* Second pass of the reference: explicitly given flags overwrite whatever
 * the file said, then the flags with side effects are post-processed. */
static int apply_flags(const flagvals_t *fv, opts_t *o, char *err, size_t errlen)
{
#define MARK(f) (o->flag_set |= OPTS_FLAG_BIT(f))
    if (fv->set[F_PORT]) o->port = (int)fv->i[F_PORT], MARK(OPTF_PORT);
    if (fv->set[F_NAME]) set_str_nonempty(&o->server_name, fv->s[F_NAME]), MARK(OPTF_SERVER_NAME);
    if (fv->set[F_HOST]) set_str_nonempty(&o->host, fv->s[F_HOST]), MARK(OPTF_HOST);
    if (fv->set[F_CLIENT_ADV])
        set_str_nonempty(&o->client_advertise, fv->s[F_CLIENT_ADV]), MARK(OPTF_CLIENT_ADVERTISE);
    if (fv->set[F_D]) o->debug = fv->b[F_D], MARK(OPTF_DEBUG);
    if (fv->set[F_V]) o->trace = fv->b[F_V], MARK(OPTF_TRACE);
    if (fv->set[F_T]) o->logtime = fv->b[F_T], MARK(OPTF_LOGTIME);
    if (fv->set[F_USER]) set_str_nonempty(&o->username, fv->s[F_USER]), MARK(OPTF_USER);
    if (fv->set[F_PASS]) set_str_nonempty(&o->password, fv->s[F_PASS]), MARK(OPTF_PASS);
    if (fv->set[F_AUTH]) set_str_nonempty(&o->token, fv->s[F_AUTH]), MARK(OPTF_AUTH);
    if (fv->set[F_HTTP]) o->http_port = (int)fv->i[F_HTTP], MARK(OPTF_HTTP_PORT);
    if (fv->set[F_HTTPS]) o->https_port = (int)fv->i[F_HTTPS], MARK(OPTF_HTTPS_PORT);
    if (fv->set[F_PID]) set_str_nonempty(&o->pid_file, fv->s[F_PID]), MARK(OPTF_PID_FILE);
    if (fv->set[F_PORTS_DIR])
        set_str_nonempty(&o->ports_file_dir, fv->s[F_PORTS_DIR]), MARK(OPTF_PORTS_FILE_DIR);
    if (fv->set[F_LOG]) set_str_nonempty(&o->log_file, fv->s[F_LOG]), MARK(OPTF_LOG_FILE);
    if (fv->set[F_LOG_SIZE]) o->log_size_limit = fv->i[F_LOG_SIZE], MARK(OPTF_LOG_SIZE_LIMIT);
    if (fv->set[F_SYSLOG]) o->syslog = fv->b[F_SYSLOG], MARK(OPTF_SYSLOG);
    if (fv->set[F_RSYSLOG])
        set_str_nonempty(&o->remote_syslog, fv->s[F_RSYSLOG]), MARK(OPTF_REMOTE_SYSLOG);
    if (fv->set[F_CLUSTER_ADV])
        set_str_nonempty(&o->cluster.advertise, fv->s[F_CLUSTER_ADV]), MARK(OPTF_CLUSTER_ADVERTISE);
    if (fv->set[F_NO_ADV]) o->cluster.no_advertise = fv->b[F_NO_ADV], MARK(OPTF_NO_ADVERTISE);
    if (fv->set[F_CONN_RETRIES])
        o->cluster.connect_retries = (int)fv->i[F_CONN_RETRIES], MARK(OPTF_CONNECT_RETRIES);
    if (fv->set[F_CLUSTER_NAME])
        set_str_nonempty(&o->cluster.name, fv->s[F_CLUSTER_NAME]), MARK(OPTF_CLUSTER_NAME);
    if (fv->set[F_MAX_TRACED])
        o->max_traced_msg_len = fv->i[F_MAX_TRACED], MARK(OPTF_MAX_TRACED_MSG_LEN);
    if (fv->set[F_WORKERS]) o->workers = (int)fv->i[F_WORKERS], MARK(OPTF_WORKERS);

    /* in the reference's Visit order (sorted names): DV, DVV, VV */
    if (fv->set[F_DV]) {
        o->debug = o->trace = fv->b[F_DV];
        MARK(OPTF_DEBUG), MARK(OPTF_TRACE);
    }
    if (fv->set[F_DVV]) {
        o->debug = o->trace = o->trace_verbose = fv->b[F_DVV];
        MARK(OPTF_DEBUG), MARK(OPTF_TRACE), MARK(OPTF_TRACE_VERBOSE);
    }
    if (fv->set[F_VV]) {
        o->trace = o->trace_verbose = fv->b[F_VV];
        MARK(OPTF_TRACE), MARK(OPTF_TRACE_VERBOSE);
    }
    if (fv->set[F_CLUSTER]) {
        MARK(OPTF_CLUSTER);
        if (override_cluster(o, fv->s[F_CLUSTER], err, errlen) != 0) return -1;
    }
    const char *routes = fv->set[F_ROUTES] ? fv->s[F_ROUTES] : NULL;
    if (fv->set[F_ROUTES]) {
        MARK(OPTF_ROUTES);
        strv_free(&o->cluster.routes, &o->cluster.nroutes);
        if (*routes) {
            const char *p = routes;
            for (;;) {
                const char *c = strchr(p, ',');
                size_t l = c ? (size_t)(c - p) : strlen(p);
                const char *b = p;
                while (l && isspace((unsigned char)*b))
                    b++, l--;
                while (l && isspace((unsigned char)b[l - 1]))
                    l--;
                strv_push(&o->cluster.routes, &o->cluster.nroutes, xstrndup(b, l));
                if (!c) break;
                p = c + 1;
            }
        }
    }

    bool tls_disabled = fv->set[F_TLS] && !fv->b[F_TLS];
    bool tls_override =
        !tls_disabled && (fv->set[F_TLS] || fv->set[F_TLSVERIFY] || fv->set[F_TLSCERT] ||
                          fv->set[F_TLSKEY] || fv->set[F_TLSCACERT]);
    if (tls_disabled) {
        MARK(OPTF_TLS);
        tls_free(&o->tls);
        o->tls.enabled = false;
    } else if (tls_override) {
        MARK(OPTF_TLS);
        const char *cert = fv->s[F_TLSCERT], *key = fv->s[F_TLSKEY];
        if (!cert || !*cert) {
            snprintf(err, errlen, "TLS Server certificate must be present and valid");
            return -1;
        }
        if (!key || !*key) {
            snprintf(err, errlen, "TLS Server private key must be present and valid");
            return -1;
        }
        int64_t timeout = o->tls.timeout_ns;
        tls_free(&o->tls);
        o->tls.enabled = true;
        o->tls.timeout_ns = timeout;
        o->tls.cert_file = xstrdup(cert);
        o->tls.key_file = xstrdup(key);
        set_str_nonempty(&o->tls.ca_file, fv->s[F_TLSCACERT]);
        o->tls.verify = fv->set[F_TLSVERIFY] && fv->b[F_TLSVERIFY];
        o->tls_from_flags = true;
    }

    if (routes && *routes && !(fv->set[F_CLUSTER] && fv->s[F_CLUSTER] && *fv->s[F_CLUSTER]) &&
        !o->cluster.host && o->cluster.port == 0) {
        snprintf(err, errlen, "solicited routes require cluster capabilities, e.g. --cluster");
        return -1;
    }
#undef MARK
    return 0;
}

/* Defaults for values still unset/zero after file and flags (the reference's
 * setBaselineOptions). */
static void apply_baseline(opts_t *o)
{
    if (o->port == 0) o->port = DEFAULT_PORT;
    if (!o->host || !*o->host) set_str(&o->host, DEFAULT_HOST);
    if (!o->http_host || !*o->http_host) set_str(&o->http_host, o->host);
    if (o->max_connections == 0) o->max_connections = DEFAULT_MAX_CONNECTIONS;
    if (o->max_control_line == 0) o->max_control_line = DEFAULT_MAX_CONTROL_LINE;
    if (o->max_payload == 0) o->max_payload = DEFAULT_MAX_PAYLOAD;
    if (o->max_pending == 0) o->max_pending = DEFAULT_MAX_PENDING;
    if (o->ping_interval_ns == 0) o->ping_interval_ns = DEFAULT_PING_INTERVAL_NS;
    if (o->ping_max == 0) o->ping_max = DEFAULT_PING_MAX;
    if (o->write_deadline_ns == 0) o->write_deadline_ns = DEFAULT_WRITE_DEADLINE_NS;
    if (o->lame_duck_duration_ns == 0) o->lame_duck_duration_ns = DEFAULT_LAME_DUCK_DURATION_NS;
    if (o->lame_duck_grace_ns == 0) o->lame_duck_grace_ns = DEFAULT_LAME_DUCK_GRACE_NS;
    if (o->tls.timeout_ns == 0) o->tls.timeout_ns = DEFAULT_TLS_TIMEOUT_NS;
    if (o->cluster.tls.timeout_ns == 0) o->cluster.tls.timeout_ns = DEFAULT_TLS_TIMEOUT_NS;
    if (o->cluster.port != 0 && (!o->cluster.host || !*o->cluster.host))
        set_str(&o->cluster.host, DEFAULT_HOST);
    if (o->connect_error_reports == 0) o->connect_error_reports = DEFAULT_CONNECT_ERROR_REPORTS;
    if (o->reconnect_error_reports == 0)
        o->reconnect_error_reports = DEFAULT_RECONNECT_ERROR_REPORTS;
}

int opts_validate(const opts_t *o, char *err, size_t errlen)
{
    if (o->lame_duck_duration_ns > 0 && o->lame_duck_grace_ns >= o->lame_duck_duration_ns) {
        char a[64], b[64];
        go_duration(a, sizeof(a), o->lame_duck_grace_ns);
        go_duration(b, sizeof(b), o->lame_duck_duration_ns);
        snprintf(err, errlen,
                 "lame duck grace period (%s) should be strictly lower than lame duck duration "
                 "(%s)",
                 a, b);
        return -1;
    }
    if ((int64_t)o->max_payload > o->max_pending) {
        snprintf(err, errlen, "max_payload (%d) cannot be higher than max_pending (%lld)",
                 o->max_payload, (long long)o->max_pending);
        return -1;
    }
    /* Certificate-mapped identities are not implemented: running without them would
     * accept the mapped users without their certificates. */
    if (o->tls.enabled && o->tls.verify_and_map) {
        snprintf(err, errlen,
                 "tls verify_and_map is not supported by this server (refusing to run "
                 "without the certificate identity checks it configures)");
        return -1;
    }
    if (o->no_auth_user && *o->no_auth_user) {
        char q[300];
        quote_go_str(q, sizeof(q), o->no_auth_user);
        if (o->nusers == 0) {
            snprintf(err, errlen, "no_auth_user: %s present, but users are not defined", q);
            return -1;
        }
        bool found = false;
        for (size_t i = 0; i < o->nusers && !found; i++)
            found = strcmp(o->users[i].name, o->no_auth_user) == 0;
        if (!found) {
            snprintf(err, errlen,
                     "no_auth_user: %s not present as user in authorization block or account "
                     "configuration",
                     q);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* usage, version, tls help                                                  */

static const char usage_body[] =
    "Server Options:\n"
    "    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)\n"
    "    -p, --port <port>                Use port for clients (default: 4222)\n"
    "    -n, --name\n"
    "        --server_name <server_name>  Server name (default: auto)\n"
    "    -P, --pid <file>                 File to store PID\n"
    "    -m, --http_port <port>           Use port for http monitoring\n"
    "    -ms,--https_port <port>          Use port for https monitoring\n"
    "    -c, --config <file>              Configuration file\n"
    "    -t                               Test configuration and exit\n"
    "    -sl,--signal <signal>[=<pid>]    Send signal to nats-server process (ldm, stop, quit, "
    "term, reopen, reload)\n"
    "                                     pid> can be either a PID (e.g. 1) or the path to a PID "
    "file (e.g. /var/run/nats-server.pid)\n"
    "        --client_advertise <string>  Client URL to advertise to other servers\n"
    "        --ports_file_dir <dir>       Creates a ports file in the specified directory "
    "(<executable_name>_<pid>.ports).\n"
    "        --workers <n>                Worker threads (default: 0, one per CPU core)\n"
    "\n"
    "Logging Options:\n"
    "    -l, --log <file>                 File to redirect log output\n"
    "    -T, --logtime                    Timestamp log entries (default: true)\n"
    "    -s, --syslog                     Log to syslog or windows event log\n"
    "    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)\n"
    "    -D, --debug                      Enable debugging output\n"
    "    -V, --trace                      Trace the raw protocol\n"
    "    -VV                              Verbose trace (traces system account as well)\n"
    "    -DV                              Debug and trace\n"
    "    -DVV                             Debug and verbose trace (traces system account as "
    "well)\n"
    "        --log_size_limit <limit>     Logfile size limit (default: auto)\n"
    "        --max_traced_msg_len <len>   Maximum printable length for traced messages "
    "(default: unlimited)\n"
    "\n"
    "Authorization Options:\n"
    "        --user <user>                User required for connections\n"
    "        --pass <password>            Password required for connections\n"
    "        --auth <token>               Authorization token required for connections\n"
    "\n"
    "TLS Options:\n"
    "        --tls                        Enable TLS, do not verify clients (default: false)\n"
    "        --tlscert <file>             Server certificate file\n"
    "        --tlskey <file>              Private key for server certificate\n"
    "        --tlsverify                  Enable TLS, verify client certificates\n"
    "        --tlscacert <file>           Client certificate CA for verification\n"
    "\n"
    "Cluster Options:\n"
    "        --routes <rurl-1, rurl-2>    Routes to solicit and connect\n"
    "        --cluster <cluster-url>      Cluster URL for solicited routes\n"
    "        --cluster_name <string>      Cluster Name, if not set one will be dynamically "
    "generated\n"
    "        --no_advertise <bool>        Do not advertise known cluster information to "
    "clients\n"
    "        --cluster_advertise <string> Cluster URL to advertise to other servers\n"
    "        --connect_retries <number>   For implicit routes, number of connect retries\n"
    "        --cluster_listen <url>       Cluster url from which members can solicit routes\n"
    "\n"
    "Common Options:\n"
    "    -h, --help                       Show this message\n"
    "    -v, --version                    Show version\n"
    "        --help_tls                   TLS help\n"
    "\n";

void opts_print_usage(FILE *out, const char *prog)
{
    fprintf(out, "\nUsage: %s [options]\n\n%s", prog, usage_body);
    fflush(out);
}

void opts_print_tls_help(FILE *out)
{
    fputs("\n"
          "TLS configuration is specified in the tls section of a configuration file:\n"
          "\n"
          "e.g.\n"
          "\n"
          "    tls {\n"
          "        cert_file:      \"./certs/server-cert.pem\"\n"
          "        key_file:       \"./certs/server-key.pem\"\n"
          "        ca_file:        \"./certs/ca.pem\"\n"
          "        verify:         true\n"
          "        verify_and_map: true\n"
          "\n"
          "        cipher_suites: [\n"
          "            \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\",\n"
          "            \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"\n"
          "        ]\n"
          "        curve_preferences: [\n"
          "            \"CurveP256\",\n"
          "            \"CurveP384\",\n"
          "            \"CurveP521\"\n"
          "        ]\n"
          "    }\n"
          "\n"
          "Available cipher suites include:\n",
          out);
    for (size_t i = 0; i < ARRAY_LEN(cipher_names); i++)
        fprintf(out, "    %s\n", cipher_names[i]);
    fputs("\nAvailable curve preferences include:\n", out);
    for (size_t i = 0; i < ARRAY_LEN(curve_names); i++)
        fprintf(out, "    %s\n", curve_names[i]);
    fflush(out);
}

/* ------------------------------------------------------------------------- */
/* entry points                                                              */

static void print_lines(FILE *f, char **v, size_t n, const char *prog, bool *first)
{
    for (size_t i = 0; i < n; i++) {
        if (*first && prog) fprintf(f, "%s: ", prog);
        *first = false;
        fprintf(f, "%s\n", v[i]);
    }
}

static void keep_warnings(opts_t *o, const cfg_ctx_t *c)
{
    strv_free(&o->warnings, &o->nwarnings);
    for (size_t i = 0; i < c->nnotes; i++)
        strv_push(&o->warnings, &o->nwarnings, xstrdup(c->notes[i]));
    for (size_t i = 0; i < c->nwarns; i++)
        strv_push(&o->warnings, &o->nwarnings, xstrdup(c->warns[i]));
}

opts_action_t opts_from_args_io(int argc, char **argv, opts_t *o, opts_cli_t *cli, FILE *out,
                                FILE *err)
{
    const char *prog = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
    prog = prog ? prog + 1 : (argc > 0 && argv[0] && *argv[0] ? argv[0] : "nats-server");
    cli->prog = prog;
    cli->signal_cmd = NULL;
    cli->exit_code = 0;

    opts_defaults(o);
    o->ncli_args = argc > 1 ? argc - 1 : 0;
    o->cli_args = xcalloc((size_t)o->ncli_args + 1, sizeof(char *));
    for (int i = 0; i < o->ncli_args; i++)
        o->cli_args[i] = xstrdup(argv[i + 1]);

    flagvals_t fv;
    char msg[1024];
    if (parse_flags(o->ncli_args, o->cli_args, &fv, msg, sizeof(msg)) != 0) {
        fprintf(err, "%s\n", msg);
        fflush(err);
        opts_print_usage(out, prog);
        return OPTS_EXIT_OK;
    }
    if (fv.b[F_VERSION]) {
        fprintf(out, "nats-server: v%s\n", SERVER_VERSION); /* the form tools parse */
        return OPTS_EXIT_OK;
    }
    if (fv.b[F_HELP]) {
        opts_print_usage(out, prog);
        return OPTS_EXIT_OK;
    }
    if (fv.b[F_HELP_TLS]) {
        opts_print_tls_help(out);
        return OPTS_EXIT_OK;
    }
    if (fv.first_pos >= 0) {
        const char *a = o->cli_args[fv.first_pos];
        if (strcasecmp(a, "version") == 0) {
            fprintf(out, "nats-server: v%s\n", SERVER_VERSION);
            return OPTS_EXIT_OK;
        }
        if (strcasecmp(a, "help") == 0) {
            opts_print_usage(out, prog);
            return OPTS_EXIT_OK;
        }
        char q[600];
        quote_go_str(q, sizeof(q), a);
        fprintf(err, "%s: unrecognized command: %s\n", prog, q);
        return OPTS_EXIT_FAIL;
    }
    if (fv.set[F_SIGNAL] && fv.s[F_SIGNAL] && *fv.s[F_SIGNAL]) {
        cli->signal_cmd = xstrdup(fv.s[F_SIGNAL]);
        return OPTS_SIGNAL;
    }

    bool check = fv.b[F_CHECK];
    const char *cfile = fv.set[F_CONFIG] ? fv.s[F_CONFIG] : NULL;
    if (cfile && *cfile) {
        cfg_ctx_t c = {0};
        char perr[2048];
        if (load_config(cfile, o, &c, perr, sizeof(perr)) != 0) {
            fprintf(err, "%s: %s\n", prog, perr);
            cfg_ctx_free(&c);
            cli->exit_code = 1;
            return check ? OPTS_CHECK_CONFIG : OPTS_EXIT_FAIL;
        }
        keep_warnings(o, &c);
        bool first = true;
        if (c.nerrs || (check && c.nwarns)) {
            print_lines(err, c.notes, c.nnotes, prog, &first);
            print_lines(err, c.warns, c.nwarns, prog, &first);
            print_lines(err, c.errs, c.nerrs, prog, &first);
            fputc('\n', err);
            cfg_ctx_free(&c);
            cli->exit_code = 1;
            return check ? OPTS_CHECK_CONFIG : OPTS_EXIT_FAIL;
        }
        print_lines(err, c.notes, c.nnotes, NULL, &first);
        print_lines(err, c.warns, c.nwarns, NULL, &first);
        cfg_ctx_free(&c);
        if (check) {
            fprintf(err, "%s: configuration file %s is valid\n", prog, cfile);
            cli->exit_code = 0;
            return OPTS_CHECK_CONFIG;
        }
    } else if (check) {
        fprintf(err, "%s: must specify [-c, --config] option to check configuration file syntax\n",
                prog);
        cli->exit_code = 1;
        return OPTS_CHECK_CONFIG;
    }

    if (apply_flags(&fv, o, msg, sizeof(msg)) != 0) {
        fprintf(err, "%s: %s\n", prog, msg);
        return OPTS_EXIT_FAIL;
    }
    apply_baseline(o);
    return OPTS_RUN;
}

opts_action_t opts_from_args(int argc, char **argv, opts_t *o, opts_cli_t *cli)
{
    return opts_from_args_io(argc, argv, o, cli, stdout, stderr);
}

int opts_reload(const opts_t *running, opts_t *out, char *err, size_t errlen)
{
    opts_defaults(out);
    out->ncli_args = running->ncli_args;
    out->cli_args = xcalloc((size_t)out->ncli_args + 1, sizeof(char *));
    for (int i = 0; i < out->ncli_args; i++)
        out->cli_args[i] = xstrdup(running->cli_args[i]);
    if (!running->config_file || !*running->config_file) {
        snprintf(err, errlen,
                 "can only reload config when a file is provided using -c or --config");
        return -1;
    }
    cfg_ctx_t c = {0};
    if (load_config(running->config_file, out, &c, err, errlen) != 0) {
        cfg_ctx_free(&c);
        return -1;
    }
    if (c.nerrs) {
        size_t o = 0;
        err[0] = 0;
        for (size_t i = 0; i < c.nerrs && o < errlen; i++)
            o += (size_t)snprintf(err + o, errlen - o, "%s%s", i ? "\n" : "", c.errs[i]);
        cfg_ctx_free(&c);
        return -1;
    }
    keep_warnings(out, &c);
    cfg_ctx_free(&c);
    flagvals_t fv;
    if (parse_flags(out->ncli_args, out->cli_args, &fv, err, errlen) != 0 ||
        apply_flags(&fv, out, err, errlen) != 0)
        return -1;
    apply_baseline(out);
    return 0;
}
