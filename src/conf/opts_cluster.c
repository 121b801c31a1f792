/* opts_cluster.c: the cluster {} block and the --cluster URL flag, which set
 * the same fields (listen address, route credentials, routes, permissions). */
#include "conf/opts_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>

void cluster_free(cluster_opts_t *c)
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

/* ------------------------------------------------------------------------- */
/* cluster (docs/config.md §7.6)                                             */

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

static void p_listen(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_listen(c, kvpos(kv), kv->val, &o->cluster.host, &o->cluster.port);
}

static void p_routes(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    cluster_opts_t *cl = &o->cluster;
    if (!want(c, kvpos(kv), kv->val, CONF_ARRAY)) return;
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
        for (size_t k = 0; k < nr && !dup; k++)
            dup = strcmp(r[k], u) == 0;
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
}

static void p_tls(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_tls(c, kv, &o->cluster.tls, false);
}

#define OFF(field) offsetof(opts_t, cluster.field)

/* The cluster block's flat keys (authorization and permissions interact, so
 * parse_cluster reads those two itself). A change of a row with reload
 * OR_EFFECT is one of the cluster effect's ("Reloaded: cluster", app/reload.c);
 * the address is refused (cluster_refusal) and the routes are dialed or
 * dropped by the route files. */
const opt_def_t opt_cluster_rows[] = {
    {.key = "name",
     .type = OT_STR,
     .off = OFF(name),
     .reload = OR_EFFECT,
     .reload_text = "cluster",
     .flag = {"    --cluster_name <string>",
              "Cluster Name, if not set one will be dynamically generated", OS_CLUSTER, 30}},
    {.key = "listen", .parse = p_listen},
    {.key = "port", .type = OT_INT, .off = OFF(port)},
    {.key = "host", .aliases = "net", .type = OT_STR, .off = OFF(host)},
    {.key = "routes", .parse = p_routes},
    {.key = "tls", .parse = p_tls},
    {.key = "cluster_advertise",
     .aliases = "advertise",
     .type = OT_STR,
     .off = OFF(advertise),
     .reload = OR_EFFECT,
     .reload_text = "cluster",
     .flag = {"    --cluster_advertise <string>", "Cluster URL to advertise to other servers",
              OS_CLUSTER, 50}},
    {.key = "no_advertise",
     .type = OT_BOOL,
     .off = OFF(no_advertise),
     .reload = OR_EFFECT,
     .reload_text = "cluster",
     .flag = {"    --no_advertise <bool>", "Do not advertise known cluster information to clients",
              OS_CLUSTER, 40}},
    {.key = "connect_retries",
     .type = OT_INT,
     .off = OFF(connect_retries),
     .reload = OR_EFFECT,
     .reload_text = "cluster",
     .flag = {"    --connect_retries <number>", "For implicit routes, number of connect retries",
              OS_CLUSTER, 60}},
    /* set by the block's authorization {} (cluster_authorization) */
    {.type = OT_STR, .off = OFF(user), .reload = OR_EFFECT, .reload_text = "cluster"},
    {.type = OT_STR, .off = OFF(password), .reload = OR_EFFECT, .reload_text = "cluster"},
    {.type = OT_DUR, .off = OFF(auth_timeout_ns), .reload = OR_EFFECT, .reload_text = "cluster"},
};
const size_t opt_cluster_nrows = ARRAY_LEN(opt_cluster_rows);

/* authorization {} inside cluster: one user, no token; permissions there are
 * deprecated and yield to a cluster-level permissions key (*auth_perms). */
static void cluster_authorization(cfg_ctx_t *c, const conf_kv_t *kv, cluster_opts_t *cl,
                                  permissions_t **auth_perms)
{
    if (!want(c, kvpos(kv), kv->val, CONF_MAP)) return;
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
            permissions_free(*auth_perms);
            *auth_perms = a.default_perms;
            a.default_perms = NULL;
        }
    }
    auth_block_free(&a);
}

/* Returns true when the key set the cluster's permissions. */
static bool cluster_permissions(cfg_ctx_t *c, const conf_kv_t *kv, cluster_opts_t *cl)
{
    permissions_t *p = parse_permissions(c, kvpos(kv), kv->val);
    if (!p) return false;
    if (p->allow_responses) {
        cfg_err(c, kvpos(kv), "Cluster permissions do not support dynamic responses");
        permissions_free(p);
        return false;
    }
    permissions_free(cl->perms);
    cl->perms = p;
    return true;
}

void parse_cluster(cfg_ctx_t *c, const conf_kv_t *ckv, opts_t *o)
{
    if (ckv->val->type != CONF_MAP) {
        cfg_err(c, kvpos(ckv), "Expected map to define cluster, got %s", tname(ckv->val->type));
        return;
    }
    cluster_opts_t *cl = &o->cluster;
    const conf_val_t *v = ckv->val;
    permissions_t *auth_perms = NULL;
    bool top_perms = false;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (KEYIS(kv->key, "authorization"))
            cluster_authorization(c, kv, cl, &auth_perms);
        else if (KEYIS(kv->key, "permissions"))
            top_perms = cluster_permissions(c, kv, cl) || top_perms;
        else
            opt_apply(c, kv, o, opt_cluster_rows, opt_cluster_nrows);
    }
    if (auth_perms && !top_perms) {
        permissions_free(cl->perms);
        cl->perms = auth_perms;
        auth_perms = NULL;
    }
    permissions_free(auth_perms);
}

/* The cluster's address cannot change on reload (the listener stays). */
const char *cluster_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n)
{
    const char *ah = a->cluster.host ? a->cluster.host : "";
    const char *bh = b->cluster.host ? b->cluster.host : "";
    if (strcmp(ah, bh) != 0 || (a->cluster.port == 0) != (b->cluster.port == 0)) {
        snprintf(buf, n, "config reload not supported for cluster host: old=%s, new=%s", ah, bh);
        return buf;
    }
    if (a->cluster.port != b->cluster.port) {
        snprintf(buf, n, "config reload not supported for cluster port: old=%d, new=%d",
                 a->cluster.port, b->cluster.port);
        return buf;
    }
    return NULL;
}

bool opts_cluster_changed(const opts_t *a, const opts_t *b)
{
    for (size_t i = 0; i < opt_cluster_nrows; i++)
        if (opt_cluster_rows[i].reload == OR_EFFECT && opt_changed(&opt_cluster_rows[i], a, b))
            return true;
    return !permissions_equal(a->cluster.perms, b->cluster.perms) ||
           opts_tls_changed(&a->cluster.tls, &b->cluster.tls);
}

/* --cluster nats://[user:pass@]host:port (Go overrideCluster). */
int override_cluster(opts_t *o, const char *listen, char *err, size_t errlen)
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
