/* leaf_parse.c: see leaf_parse.h. */
#include "proto/leaf_parse.h"
#include "base/json.h"

#include <string.h>

static void str_member(slice_t raw, json_type_t t, char *out, size_t n)
{
    if (t != JSON_STRING || json_unquote(raw, out, n) < 0) out[0] = 0;
}

static int connect_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    leaf_connect_t *ci = ctx;
    if (json_key_is(key, "lang"))
        ci->has_lang = t == JSON_STRING && raw.n > 2;
    else if (json_key_is(key, "name"))
        str_member(raw, t, ci->name, sizeof ci->name);
    else if (json_key_is(key, "server_id"))
        str_member(raw, t, ci->server_id, sizeof ci->server_id);
    else if (json_key_is(key, "cluster"))
        str_member(raw, t, ci->cluster, sizeof ci->cluster);
    else if (json_key_is(key, "gateway"))
        str_member(raw, t, ci->gateway, sizeof ci->gateway);
    else if (json_key_is(key, "user"))
        str_member(raw, t, ci->user, sizeof ci->user);
    else if (json_key_is(key, "pass"))
        str_member(raw, t, ci->pass, sizeof ci->pass);
    else if (json_key_is(key, "jwt"))
        str_member(raw, t, ci->jwt, sizeof ci->jwt);
    else if (json_key_is(key, "sig"))
        str_member(raw, t, ci->sig, sizeof ci->sig);
    else if (json_key_is(key, "auth_token"))
        str_member(raw, t, ci->token, sizeof ci->token);
    else if (json_key_is(key, "headers"))
        ci->headers = t == JSON_BOOL && raw.p[0] == 't';
    else if (json_key_is(key, "is_hub"))
        ci->hub = t == JSON_BOOL && raw.p[0] == 't';
    return 0;
}

/* A JSON number's leading decimal digits (the slice is not NUL-terminated). */
static uint64_t digits(slice_t raw)
{
    uint64_t v = 0;
    for (size_t i = 0; i < raw.n && i < 19 && raw.p[i] >= '0' && raw.p[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(raw.p[i] - '0');
    return v;
}

static int url_elem(void *ctx, json_type_t t, slice_t raw)
{
    leaf_info_msg_t *ii = ctx;
    if (t == JSON_STRING && ii->nurls < LEAF_INFO_URLS &&
        json_unquote(raw, ii->urls[ii->nurls], sizeof ii->urls[0]) > 0)
        ii->nurls++;
    return 0;
}

static void urls_member(leaf_info_msg_t *ii, json_type_t t, slice_t raw)
{
    ii->has_urls = t == JSON_ARRAY;
    ii->nurls = 0;
    if (ii->has_urls) json_parse_array(raw.p, raw.n, url_elem, ii);
}

static int info_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    leaf_info_msg_t *ii = ctx;
    if (json_key_is(key, "server_id"))
        str_member(raw, t, ii->id, sizeof ii->id);
    else if (json_key_is(key, "server_name"))
        str_member(raw, t, ii->name, sizeof ii->name);
    else if (json_key_is(key, "cluster"))
        str_member(raw, t, ii->cluster, sizeof ii->cluster);
    else if (json_key_is(key, "nonce"))
        str_member(raw, t, ii->nonce, sizeof ii->nonce);
    else if (json_key_is(key, "client_id"))
        ii->cid = t == JSON_NUMBER ? digits(raw) : 0;
    else if (json_key_is(key, "leafnode_urls"))
        urls_member(ii, t, raw);
    else if (json_key_is(key, "headers"))
        ii->headers = t == JSON_BOOL && raw.p[0] == 't';
    else if (json_key_is(key, "info_on_connect"))
        ii->info_on_connect = t == JSON_BOOL && raw.p[0] == 't';
    else if (json_key_is(key, "connect_info"))
        ii->connect_info = t == JSON_BOOL && raw.p[0] == 't';
    else if (json_key_is(key, "tls_required"))
        ii->tls_required = t == JSON_BOOL && raw.p[0] == 't';
    return 0;
}

int leaf_connect_parse(const char *json, size_t n, leaf_connect_t *out)
{
    memset(out, 0, sizeof *out);
    return json_parse_object(json, n, connect_member, out) == 0 ? 0 : -1;
}

int leaf_info_parse(const char *json, size_t n, leaf_info_msg_t *out)
{
    memset(out, 0, sizeof *out);
    return json_parse_object(json, n, info_member, out) == 0 ? 0 : -1;
}

/* The text between the first dashed line (3+ dashes) at or after p and the next one. */
static const char *block(const char *p, const char *end, const char **bs, const char **be)
{
    for (;;) {
        const char *d = p;
        while (d < end && !(d + 2 < end && d[0] == '-' && d[1] == '-' && d[2] == '-'))
            d++;
        if (d >= end) return NULL;
        const char *nl = memchr(d, '\n', (size_t)(end - d));
        if (!nl) return NULL;
        const char *b = nl + 1;
        const char *d2 = b;
        while (d2 < end && !(d2 + 2 < end && d2[0] == '-' && d2[1] == '-' && d2[2] == '-'))
            d2++;
        if (d2 >= end) return NULL;
        const char *nl2 = memchr(d2, '\n', (size_t)(end - d2));
        *bs = b;
        *be = d2;
        return nl2 ? nl2 + 1 : end;
    }
}

static int copy_trimmed(const char *b, const char *e, char *out, size_t cap)
{
    while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    size_t n = (size_t)(e - b);
    if (!n || n + 1 > cap || memchr(b, '\n', n)) return -1;
    memcpy(out, b, n);
    out[n] = 0;
    return 0;
}

int leaf_creds_parse(const char *text, size_t n, char *jwt, size_t jn, char *seed, size_t sn)
{
    const char *end = text + n, *b, *e;
    const char *next = block(text, end, &b, &e);
    if (!next || copy_trimmed(b, e, jwt, jn) != 0) return -1;
    if (!block(next, end, &b, &e) || copy_trimmed(b, e, seed, sn) != 0) return -1;
    return 0;
}
