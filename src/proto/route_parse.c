/* route_parse.c: see route_parse.h. */
#include "proto/route_parse.h"
#include "base/json.h"
#include "base/pct.h"

#include <openssl/evp.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

/* The URL for log lines: a password shows as xxxxx. */
void route_url_redacted(const char *url, char *out, size_t n)
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
int route_url_split(const char *url, char *host, size_t hn, int *port, char *user, size_t un,
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
        /* percent-encoded ("T0PS3cr3T%21"); a bad escape is kept as written */
        if (user) pct_decode((slice_t){hostport, strlen(hostport)}, user, un, 0);
        if (pass && colon) pct_decode((slice_t){colon + 1, strlen(colon + 1)}, pass, pn, 0);
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

void route_info_msg_free(route_info_msg_t *r)
{
    for (size_t i = 0; i < r->nurls; i++)
        free(r->urls[i]);
    free(r->urls);
    for (size_t i = 0; i < r->ngw_urls; i++)
        free(r->gw_urls[i]);
    free(r->gw_urls);
    for (size_t i = 0; i < r->nlurls; i++)
        free(r->lurls[i]);
    free(r->lurls);
}

#define MAX_INFO_URLS 1024

typedef struct strv_ctx {
    char ***v;
    size_t *n;
} strv_ctx_t;

static int collect_one(void *ctx, json_type_t t, slice_t raw)
{
    strv_ctx_t *x = ctx;
    char tmp[512];
    /* at most MAX_INFO_URLS from one list: what a peer can make us hold and dial */
    if (*x->n < MAX_INFO_URLS && t == JSON_STRING && json_unquote(raw, tmp, sizeof tmp) >= 0) {
        *x->v = xrealloc(*x->v, (*x->n + 1) * sizeof(char *));
        (*x->v)[(*x->n)++] = xstrdup(tmp);
    }
    return 0;
}

/* raw is a JSON array: its strings are appended to *v (others are skipped) */
static int collect_urls(char ***v, size_t *n, slice_t raw)
{
    strv_ctx_t x = {v, n};
    json_parse_array(raw.p, raw.n, collect_one, &x);
    return 0;
}

static int rinfo_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    route_info_msg_t *r = ctx;
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
    BOOL("lnoc", lnoc);
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
        if (t == JSON_STRING && json_unquote(raw, r->gw_name, sizeof r->gw_name) < 0)
            r->gw_name[0] = 0;
        return 0;
    }
    STR("gateway_url", gw_url);
    BOOL("gateway_iom", gw_iom);
    BOOL("gateway_nrp", gw_nrp);
    if (json_key_is(key, "gateway_cmd") && t == JSON_NUMBER) {
        r->gw_cmd = strtoll(raw.p, NULL, 10);
        return 0;
    }
    if (json_key_is(key, "gateway_cmd_payload") && t == JSON_STRING) {
        char b64[400];
        if (json_unquote(raw, b64, sizeof b64) < 0) return 0;
        size_t n = strlen(b64);
        if (n % 4 || n / 4 * 3 >= sizeof r->gw_payload) return 0;
        int got =
            EVP_DecodeBlock((unsigned char *)r->gw_payload, (const unsigned char *)b64, (int)n);
        if (got < 0) return 0;
        while (n && b64[n - 1] == '=')
            n--, got--;
        r->gw_payload[got] = 0;
        r->has_gw_payload = true;
        return 0;
    }
    if (json_key_is(key, "gateway_urls") && t == JSON_ARRAY)
        return collect_urls(&r->gw_urls, &r->ngw_urls, raw);
    if (json_key_is(key, "port") && t == JSON_NUMBER) {
        r->port = strtoll(raw.p, NULL, 10);
        return 0;
    }
    if (json_key_is(key, "connect_urls") && t == JSON_ARRAY)
        return collect_urls(&r->urls, &r->nurls, raw);
    if (json_key_is(key, "leafnode_urls") && t == JSON_ARRAY)
        return collect_urls(&r->lurls, &r->nlurls, raw);
    return 0;
#undef STR
#undef BOOL
}

int route_info_parse(const char *json, size_t n, route_info_msg_t *out)
{
    return json_parse_object(json, n, rinfo_member, out);
}

size_t route_interest_line(char *out, size_t cap, const char *key, size_t len, size_t subj_end,
                           int64_t weight, bool add)
{
    if (len == subj_end || !add)
        return (size_t)snprintf(out, cap, "%s %.*s\r\n", add ? "RS+" : "RS-", (int)len, key);
    return (size_t)snprintf(out, cap, "RS+ %.*s %lld\r\n", (int)len, key, (long long)weight);
}

size_t route_leaf_interest_line(char *out, size_t cap, slice_t origin, const char *key, size_t len,
                                size_t subj_end, int64_t weight, bool add)
{
    if (!add) return (size_t)snprintf(out, cap, "LS- %.*s\r\n", (int)len, key);
    if (len == subj_end)
        return (size_t)snprintf(out, cap, "LS+ %.*s %.*s\r\n", (int)origin.n, origin.p, (int)len,
                                key);
    return (size_t)snprintf(out, cap, "LS+ %.*s %.*s %lld\r\n", (int)origin.n, origin.p, (int)len,
                            key, (long long)weight);
}
