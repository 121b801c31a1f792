/* opts_cluster.c: the cluster {} block and the --cluster URL flag, which set
 * the same fields (listen address, route credentials, routes, permissions). */
#include "conf/opts_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

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

void parse_cluster(cfg_ctx_t *c, const conf_kv_t *ckv, opts_t *o)
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
