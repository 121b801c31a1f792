/* opts_cfg.c: what every option parser shares (opts_impl.h): the context that
 * collects errors, warnings and notes with their "file:line:col", the typed
 * getters that fail with the reference's type-conversion text, and the value
 * forms several keys accept (port or host:port, duration or seconds). */
#include "conf/opts_impl.h"
#include "base/buf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

/* ------------------------------------------------------------------------- */
/* config application context                                                */

pos_t kvpos(const conf_kv_t *kv)
{
    return (pos_t){kv->file, kv->line, kv->col};
}

pos_t valpos(const conf_val_t *v)
{
    return (pos_t){v->file, v->line, v->col};
}

/* Reference quirk (docs/config.md §6.2): on line 1 the column is 0-based. */
static char *pos_prefix(pos_t p)
{
    int col = p.line == 1 ? p.col - 1 : p.col;
    return xasprintf("%s:%d:%d", p.file ? p.file : "", p.line, col < 0 ? 0 : col);
}

void cfg_err(cfg_ctx_t *c, pos_t p, const char *fmt, ...)
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

void cfg_warn(cfg_ctx_t *c, pos_t p, const char *field, const char *reason)
{
    char *pp = pos_prefix(p);
    strv_push(&c->warns, &c->nwarns,
              xasprintf("%s: invalid use of field \"%s\": %s", pp, field, reason));
    free(pp);
}

void cfg_note(cfg_ctx_t *c, pos_t p, const char *what)
{
    char *pp = pos_prefix(p);
    strv_push(&c->notes, &c->nnotes,
              xasprintf("%s: %s is not supported by this server, ignoring", pp, what));
    free(pp);
}

void cfg_ctx_free(cfg_ctx_t *c)
{
    strv_free(&c->errs, &c->nerrs);
    strv_free(&c->warns, &c->nwarns);
    strv_free(&c->notes, &c->nnotes);
    strv_free(&c->texts, &c->ntexts);
    free(c->files);
}

void collect_files(cfg_ctx_t *c, const conf_val_t *v)
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
                buf_t text = {0};
                char chunk[4096];
                size_t r;
                while ((r = fread(chunk, 1, sizeof(chunk), fp)) > 0)
                    buf_append(&text, chunk, r);
                buf_append(&text, "", 1); /* searched as a string below */
                fclose(fp);
                strv_push(&c->texts, &c->ntexts, text.p);
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
bool used_as_variable(const cfg_ctx_t *c, const char *name)
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
bool shadowed(const conf_val_t *map, size_t i)
{
    for (size_t j = i + 1; j < map->u.map.n; j++)
        if (strcasecmp(map->u.map.items[j].key, map->u.map.items[i].key) == 0) return true;
    return false;
}

void unknown_field(cfg_ctx_t *c, const conf_kv_t *kv)
{
    if (!used_as_variable(c, kv->key)) cfg_err(c, kvpos(kv), "unknown field \"%s\"", kv->key);
}

const char *tname(conf_type_t t)
{
    return conf_type_name(t);
}

/* The reference's type errors are Go runtime panics. */
bool want(cfg_ctx_t *c, pos_t p, const conf_val_t *v, conf_type_t t)
{
    if (v->type == t) return true;
    cfg_err(c, p, "interface conversion: interface {} is %s, not %s", tname(v->type), tname(t));
    return false;
}

bool get_str(cfg_ctx_t *c, const conf_kv_t *kv, char **dst)
{
    if (!want(c, kvpos(kv), kv->val, CONF_STRING)) return false;
    set_str(dst, kv->val->u.str.s);
    return true;
}

bool get_bool(cfg_ctx_t *c, const conf_kv_t *kv, bool *dst)
{
    if (!want(c, kvpos(kv), kv->val, CONF_BOOL)) return false;
    *dst = kv->val->u.b;
    return true;
}

bool get_i64(cfg_ctx_t *c, const conf_kv_t *kv, int64_t *dst)
{
    if (!want(c, kvpos(kv), kv->val, CONF_INT)) return false;
    *dst = kv->val->u.i;
    return true;
}

bool get_int(cfg_ctx_t *c, const conf_kv_t *kv, int *dst)
{
    int64_t v;
    if (!get_i64(c, kv, &v)) return false;
    *dst = (int)v;
    return true;
}

/* Go's %v of a scalar, for "got %v" messages. */
char *val_plain(const conf_val_t *v)
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
bool parse_listen(cfg_ctx_t *c, pos_t p, const conf_val_t *v, char **host, int *port)
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
void parse_duration_field(cfg_ctx_t *c, const conf_kv_t *kv, const char *field, int64_t *dst)
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
