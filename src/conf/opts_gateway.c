/* opts_gateway.c: the gateway {} block (docs/gateways.md "Configuration"): this
 * cluster's gateway name and port, the credentials other gateways must present,
 * its TLS (read as a cluster's: the peer's certificate is always verified), and the
 * remote gateways to dial, each with its own TLS if it says so. A running server
 * cannot change its gateway block: a reload that does is refused, as the reference
 * refuses it. */
#include "conf/opts_impl.h"

#include <ctype.h>

void gateway_free(gateway_opts_t *g)
{
    free(g->name);
    free(g->host);
    free(g->advertise);
    free(g->user);
    free(g->password);
    for (size_t i = 0; i < g->nremotes; i++) {
        free(g->remotes[i].name);
        strv_free(&g->remotes[i].urls, &g->remotes[i].nurls);
        tls_free(&g->remotes[i].tls);
    }
    free(g->remotes);
    tls_free(&g->tls);
    memset(g, 0, sizeof *g);
    tls_defaults(&g->tls);
}

static void push_url(cfg_ctx_t *c, const conf_val_t *v, gateway_remote_t *r)
{
    if (!want(c, valpos(v), v, CONF_STRING)) return;
    const char *s = v->u.str.s;
    while (isspace((unsigned char)*s))
        s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1]))
        l--;
    if (!l) {
        cfg_err(c, valpos(v), "error parsing gateway url [\"\"]");
        return;
    }
    strv_push(&r->urls, &r->nurls, xstrndup(s, l));
}

static void parse_remote(cfg_ctx_t *c, const conf_val_t *e, gateway_opts_t *g)
{
    if (e->type != CONF_MAP) {
        cfg_err(c, valpos(e), "Expected gateway entry to be a map/struct, got %s", tname(e->type));
        return;
    }
    gateway_remote_t r = {0};
    tls_defaults(&r.tls);
    for (size_t i = 0; i < e->u.map.n; i++) {
        const conf_kv_t *kv = &e->u.map.items[i];
        if (KEYIS(kv->key, "name")) {
            get_str(c, kv, &r.name);
        } else if (KEYIS(kv->key, "url")) {
            push_url(c, kv->val, &r);
        } else if (KEYIS(kv->key, "urls")) {
            if (!want(c, kvpos(kv), kv->val, CONF_ARRAY)) continue;
            strv_free(&r.urls, &r.nurls);
            for (size_t j = 0; j < kv->val->u.arr.n; j++)
                push_url(c, kv->val->u.arr.items[j], &r);
        } else if (KEYIS(kv->key, "tls")) {
            parse_tls(c, kv, &r.tls, false);
        } else {
            unknown_field(c, kv);
        }
    }
    g->remotes = xrealloc(g->remotes, (g->nremotes + 1) * sizeof *g->remotes);
    g->remotes[g->nremotes++] = r;
}

static void gateway_authorization(cfg_ctx_t *c, const conf_kv_t *kv, gateway_opts_t *g)
{
    if (!want(c, kvpos(kv), kv->val, CONF_MAP)) return;
    auth_block_t a = {0};
    parse_auth_block(c, kv->val, &a);
    if (a.has_users) {
        cfg_err(c, kvpos(kv), "Gateway authorization does not allow multiple users");
    } else if (a.token) {
        cfg_err(c, kvpos(kv), "Gateway authorization does not support tokens");
    } else {
        set_str(&g->user, a.user);
        set_str(&g->password, a.pass);
        g->auth_timeout_ns = a.timeout_ns;
    }
    auth_block_free(&a);
}

void parse_gateway(cfg_ctx_t *c, const conf_kv_t *gkv, opts_t *o)
{
    if (gkv->val->type != CONF_MAP) {
        cfg_err(c, kvpos(gkv), "Expected gateway to be a map, got %s", tname(gkv->val->type));
        return;
    }
    gateway_opts_t *g = &o->gateway;
    const conf_val_t *v = gkv->val;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (KEYIS(kv->key, "name")) {
            get_str(c, kv, &g->name);
        } else if (KEYIS(kv->key, "listen")) {
            parse_listen(c, kvpos(kv), kv->val, &g->host, &g->port);
        } else if (KEYIS(kv->key, "port")) {
            get_int(c, kv, &g->port);
        } else if (KEYIS(kv->key, "host") || KEYIS(kv->key, "net")) {
            get_str(c, kv, &g->host);
        } else if (KEYIS(kv->key, "authorization")) {
            gateway_authorization(c, kv, g);
        } else if (KEYIS(kv->key, "tls")) {
            parse_tls(c, kv, &g->tls, false);
        } else if (KEYIS(kv->key, "advertise")) {
            get_str(c, kv, &g->advertise);
        } else if (KEYIS(kv->key, "connect_retries")) {
            get_int(c, kv, &g->connect_retries);
        } else if (KEYIS(kv->key, "gateways")) {
            if (kv->val->type != CONF_ARRAY) {
                cfg_err(c, kvpos(kv), "Expected gateways field to be an array, got %s",
                        tname(kv->val->type));
                continue;
            }
            for (size_t j = 0; j < g->nremotes; j++) {
                free(g->remotes[j].name);
                strv_free(&g->remotes[j].urls, &g->remotes[j].nurls);
                tls_free(&g->remotes[j].tls);
            }
            g->nremotes = 0;
            for (size_t j = 0; j < kv->val->u.arr.n; j++)
                parse_remote(c, kv->val->u.arr.items[j], g);
        } else if (KEYIS(kv->key, "reject_unknown") || KEYIS(kv->key, "reject_unknown_cluster")) {
            get_bool(c, kv, &g->reject_unknown);
        } else {
            unknown_field(c, kv);
        }
    }
}

/* The reference's validateGatewayOptions, same texts. */
int gateway_validate(const opts_t *o, char *err, size_t n)
{
    const gateway_opts_t *g = &o->gateway;
    bool named = g->name && *g->name;
    if (!named && g->port == 0) return 0;
    if (named && o->cluster.name && *o->cluster.name && strcmp(o->cluster.name, g->name) != 0) {
        snprintf(err, n, "cluster name conflicts between cluster and gateway definitions");
        return -1;
    }
    if ((o->leaf.port || o->leaf.nremotes) && (!o->system_account || !*o->system_account)) {
        snprintf(err, n,
                 "leaf nodes and gateways (both being defined) require a system account to also "
                 "be configured");
        return -1;
    }
    if (!named) {
        snprintf(err, n, "gateway has no name");
        return -1;
    }
    if (g->port == 0) {
        snprintf(err, n, "gateway \"%s\" has no port specified (select -1 for random port)",
                 g->name);
        return -1;
    }
    for (size_t i = 0; i < g->nremotes; i++) {
        if (!g->remotes[i].name || !*g->remotes[i].name) {
            snprintf(err, n, "gateway in the list %zu has no name", i);
            return -1;
        }
        if (!g->remotes[i].nurls) {
            snprintf(err, n, "gateway \"%s\" has no URL", g->remotes[i].name);
            return -1;
        }
    }
    return 0;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool gateway_equal(const gateway_opts_t *a, const gateway_opts_t *b)
{
    if (!str_eq(a->name, b->name) || !str_eq(a->host, b->host) || a->port != b->port ||
        !str_eq(a->advertise, b->advertise) || a->connect_retries != b->connect_retries ||
        a->reject_unknown != b->reject_unknown || !str_eq(a->user, b->user) ||
        !str_eq(a->password, b->password) || a->auth_timeout_ns != b->auth_timeout_ns ||
        a->nremotes != b->nremotes || opts_tls_changed(&a->tls, &b->tls))
        return false;
    for (size_t i = 0; i < a->nremotes; i++) {
        const gateway_remote_t *x = &a->remotes[i], *y = &b->remotes[i];
        if (!str_eq(x->name, y->name) || x->nurls != y->nurls || opts_tls_changed(&x->tls, &y->tls))
            return false;
        for (size_t j = 0; j < x->nurls; j++)
            if (!str_eq(x->urls[j], y->urls[j])) return false;
    }
    return true;
}

/* A reload may not change the gateway block (the reference: "config reload not
 * supported for Gateway: old=..., new=..."; its values are Go struct dumps, here the
 * gateway names). */
const char *gateway_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n)
{
    if (gateway_equal(&a->gateway, &b->gateway)) return NULL;
    snprintf(buf, n, "config reload not supported for Gateway: old={Name:%s}, new={Name:%s}",
             a->gateway.name ? a->gateway.name : "", b->gateway.name ? b->gateway.name : "");
    return buf;
}
