/* client_connect.c: a client's CONNECT as text (see client_connect.h): its JSON
 * members read into a connect_info_t, the log prefix built from the client's
 * name, lang and version, and the trace line with its secrets redacted. No
 * state and no reply: client.c acts on what is read. */
#include "nats/client_connect.h"
#include "core/core.h"
#include "base/gofmt.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>

static int get_bool(slice_t raw, json_type_t t, int *out)
{
    if (t != JSON_BOOL) return t == JSON_NULL ? 0 : -1;
    *out = raw.p[0] == 't';
    return 0;
}

static int get_str(slice_t raw, json_type_t t, char *out, size_t outsz, bool *has)
{
    if (t == JSON_NULL) return 0;
    if (t != JSON_STRING) return -1;
    if (json_unquote(raw, out, outsz) < 0) {
        /* too long for our buffer: keep a truncated copy (names, versions) */
        out[0] = 0;
    }
    if (has) *has = true;
    return 0;
}

int connect_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    connect_info_t *ci = ctx;
    int rc = 0;
    if (json_key_is(key, "verbose"))
        rc = get_bool(raw, t, &ci->verbose);
    else if (json_key_is(key, "pedantic"))
        rc = get_bool(raw, t, &ci->pedantic);
    else if (json_key_is(key, "echo"))
        rc = get_bool(raw, t, &ci->echo);
    else if (json_key_is(key, "headers"))
        rc = get_bool(raw, t, &ci->headers);
    else if (json_key_is(key, "no_responders"))
        rc = get_bool(raw, t, &ci->no_responders);
    else if (json_key_is(key, "tls_required")) {
        int dummy;
        rc = get_bool(raw, t, &dummy);
    } else if (json_key_is(key, "protocol")) {
        if (t == JSON_NUMBER) {
            char tmp[32];
            size_t n = raw.n < sizeof tmp - 1 ? raw.n : sizeof tmp - 1;
            memcpy(tmp, raw.p, n);
            tmp[n] = 0;
            if (strpbrk(tmp, ".eE")) return -1;
            ci->protocol = strtoll(tmp, NULL, 10);
            ci->has_protocol = true;
        } else if (t != JSON_NULL) {
            rc = -1;
        }
    } else if (json_key_is(key, "user"))
        rc = get_str(raw, t, ci->user, sizeof ci->user, &ci->has_user);
    else if (json_key_is(key, "pass"))
        rc = get_str(raw, t, ci->pass, sizeof ci->pass, &ci->has_pass);
    else if (json_key_is(key, "auth_token"))
        rc = get_str(raw, t, ci->token, sizeof ci->token, &ci->has_token);
    else if (json_key_is(key, "name"))
        rc = get_str(raw, t, ci->name, sizeof ci->name, NULL);
    else if (json_key_is(key, "lang"))
        rc = get_str(raw, t, ci->lang, sizeof ci->lang, NULL);
    else if (json_key_is(key, "version"))
        rc = get_str(raw, t, ci->version, sizeof ci->version, NULL);
    else if (json_key_is(key, "account")) {
        char tmp[256];
        bool has = false;
        rc = get_str(raw, t, tmp, sizeof tmp, &has);
        if (has && tmp[0]) ci->account = true;
    } else if (json_key_is(key, "new_account")) {
        int v = 0;
        rc = get_bool(raw, t, &v);
        if (v) ci->account = true;
    } else if (json_key_is(key, "nkey")) {
        rc = t == JSON_NULL ? 0 : get_str(raw, t, ci->nkey, sizeof ci->nkey, &ci->has_nkey);
    } else if (json_key_is(key, "sig")) {
        rc = t == JSON_NULL ? 0 : get_str(raw, t, ci->sig, sizeof ci->sig, &ci->has_sig);
    } else if (json_key_is(key, "jwt")) {
        if (t == JSON_STRING)
            ci->jwt = raw;
        else if (t != JSON_NULL)
            rc = -1;
    }
    return rc ? 1 : 0;
}

void client_update_prefix(conn_t *c)
{
    char tag[256];
    size_t n = 0;
    tag[0] = 0;
    if (c->version) n += (size_t)snprintf(tag + n, sizeof tag - n, "v%s", c->version);
    if (c->lang) n += (size_t)snprintf(tag + n, sizeof tag - n, "%s%s", n ? ":" : "", c->lang);
    if (c->name && n < sizeof tag)
        n += (size_t)snprintf(tag + n, sizeof tag - n, "%s%s", n ? ":" : "", c->name);
    const char *ipfmt = strchr(c->ip, ':') ? "[%s]:%d - cid:%llu - " : "%s:%d - cid:%llu - ";
    int k =
        snprintf(c->prefix, sizeof c->prefix, ipfmt, c->ip, c->port, (unsigned long long)c->cid);
    /* The reference's "%s - %q": the client's own strings are escaped, so a newline in
     * a name cannot start a forged log line. */
    if (n > sizeof tag - 1) n = sizeof tag - 1;
    if (n && k > 0 && (size_t)k + 6 < sizeof c->prefix) {
        size_t q = quote_go(c->prefix + k, sizeof c->prefix - (size_t)k - 3, tag, n);
        memcpy(c->prefix + k + q, " - ", 4);
    }
}

/* The CONNECT line with every "pass..." and "auth_token" string value replaced by
 * "[REDACTED]" (a text scan: it must also work on a line that is not valid JSON). */
static void connect_redact(slice_t line, buf_t *out)
{
    buf_t b = *out;
    const char *p = line.p, *end = line.p + line.n;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), "\"pass", 5);
        const char *t = memmem(p, (size_t)(end - p), "\"auth_token", 11);
        if (t && (!q || t < q)) q = t;
        if (!q) {
            buf_append(&b, p, (size_t)(end - p));
            break;
        }
        /* the key's closing quote (escapes skipped), then blanks, ':' and blanks */
        const char *v = q + 1;
        while (v < end && *v != '"')
            v += *v == '\\' && v + 1 < end ? 2 : 1;
        if (v < end) v++;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
            v++;
        if (v >= end || *v != ':') {
            buf_append(&b, p, (size_t)(q + 1 - p));
            p = q + 1;
            continue;
        }
        v++;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
            v++;
        buf_append(&b, p, (size_t)(v - p));
        if (v < end && *v == '"') { /* a secret is a string: anything else stays */
            buf_puts(&b, "\"[REDACTED]\"");
            v++;
            while (v < end && *v != '"')
                v += *v == '\\' && v + 1 < end ? 2 : 1;
            v++;
        }
        p = v < end ? v : end;
    }
    *out = b;
}

void trace_connect(conn_t *c, slice_t line)
{
    buf_t b = {0};
    connect_redact(line, &b);
    TRACE("%s<<- [CONNECT %.*s]", c->prefix, (int)b.len, b.p ? b.p : "");
    buf_free(&b);
}

static int connect_member_ok(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    (void)ctx, (void)key, (void)t, (void)raw;
    return 0;
}

static int redacted_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    bool *leak = ctx;
    bool secret = (key.n >= 5 && memcmp(key.p, "\"pass", 5) == 0) ||
                  (key.n >= 11 && memcmp(key.p, "\"auth_token", 11) == 0);
    if (secret && t == JSON_STRING && !slice_eq_str(raw, "\"[REDACTED]\"")) *leak = true;
    return 0;
}

bool client_fuzz_connect(const char *p, size_t n, char *prefix, size_t prefix_cap, buf_t *redacted)
{
    conn_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.ip, sizeof c.ip, "%s", n && (p[0] & 1) ? "::1" : "127.0.0.1");
    c.port = 4222;
    c.cid = 1;
    connect_info_t ci;
    memset(&ci, 0, sizeof ci);
    ci.c = &c;
    ci.verbose = ci.pedantic = ci.echo = ci.headers = ci.no_responders = -1;
    client_update_prefix(&c);
    if (json_parse_object(p, n, connect_member, &ci) == 0) {
        set_str_nonempty(&c.name, ci.name);
        set_str_nonempty(&c.lang, ci.lang);
        set_str_nonempty(&c.version, ci.version);
        client_update_prefix(&c);
    }
    size_t from = redacted->len;
    connect_redact((slice_t){p, n}, redacted);
    snprintf(prefix, prefix_cap, "%s", c.prefix);
    free(c.name);
    free(c.lang);
    free(c.version);
    /* A valid CONNECT stays valid once redacted, and no secret string survives. */
    bool leak = false;
    if (json_parse_object(p, n, connect_member_ok, NULL) == 0 &&
        json_parse_object(redacted->p + from, redacted->len - from, redacted_member, &leak) == 0)
        return !leak;
    return true;
}
