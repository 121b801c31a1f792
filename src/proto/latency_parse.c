/* latency_parse.c: tracing headers and remote measurements (see latency_parse.h). */
#include "proto/latency_parse.h"
#include "base/buf.h"
#include "base/json.h"

#include <stdlib.h>
#include <string.h>

#define HDR_MAX 64

typedef struct hdr_kv {
    char key[64];
    slice_t val;
} hdr_kv_t;

/* Go's textproto.CanonicalMIMEHeaderKey for the usual keys (letters, digits, '-'):
 * upper case at the start and after each '-', lower case elsewhere; others unchanged. */
static void canonical_key(const char *k, size_t n, char *out, size_t cap)
{
    if (n >= cap) n = cap - 1;
    bool plain = true;
    for (size_t i = 0; i < n && plain; i++) {
        char ch = k[i];
        plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-';
    }
    bool up = true;
    for (size_t i = 0; i < n; i++) {
        char ch = k[i];
        if (plain) {
            if (up && ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
            if (!up && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
            up = ch == '-';
        }
        out[i] = ch;
    }
    out[n] = 0;
}

static size_t parse_headers(const char *hdr, size_t hn, hdr_kv_t *kv, size_t cap)
{
    const char *p = hdr, *end = hdr + hn;
    const char *nl = memchr(p, '\n', (size_t)(end - p)); /* the NATS/1.0 line */
    size_t n = 0;
    for (p = nl ? nl + 1 : end; p < end && n < cap;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *line_end = le > p && le[-1] == '\r' ? le - 1 : le;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && colon > p) {
            canonical_key(p, (size_t)(colon - p), kv[n].key, sizeof kv[n].key);
            const char *v = colon + 1, *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            kv[n].val = (slice_t){v, (size_t)(ve - v)};
            n++;
        }
        p = eol ? eol + 1 : end;
    }
    return n;
}

static const hdr_kv_t *first(const hdr_kv_t *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0) return &kv[i];
    return NULL;
}

/* The headers whose keys keep says, as Go marshals an http.Header: keys sorted, each
 * with the array of its values. */
static char *hdr_json(const hdr_kv_t *kv, size_t n, bool (*keep)(const char *key))
{
    bool done[HDR_MAX] = {0};
    buf_t b = {0};
    buf_putc(&b, '{');
    bool any = false;
    for (;;) {
        const char *next = NULL;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && keep(kv[i].key) && (!next || strcmp(kv[i].key, next) < 0))
                next = kv[i].key;
        if (!next) break;
        if (any) buf_putc(&b, ',');
        any = true;
        json_put_string(&b, next, strlen(next));
        buf_puts(&b, ":[");
        bool first_v = true;
        for (size_t i = 0; i < n; i++) {
            if (done[i] || strcmp(kv[i].key, next) != 0) continue;
            done[i] = true;
            if (!first_v) buf_putc(&b, ',');
            first_v = false;
            json_put_string(&b, kv[i].val.p, kv[i].val.n);
        }
        buf_putc(&b, ']');
    }
    buf_putc(&b, '}');
    buf_putc(&b, 0);
    return b.p;
}

static bool keep_uber(const char *k)
{
    return strcmp(k, "Uber-Trace-Id") == 0 || strncmp(k, "Uberctx-", 8) == 0;
}
static bool keep_b3(const char *k)
{
    return strcmp(k, "X-B3-Sampled") == 0 || strcmp(k, "X-B3-Traceid") == 0 ||
           strcmp(k, "X-B3-Parentspanid") == 0 || strcmp(k, "X-B3-Spanid") == 0;
}
static bool keep_b3_single(const char *k)
{
    return strcmp(k, "B3") == 0;
}
static bool keep_ctx(const char *k)
{
    return strcmp(k, "Traceparent") == 0 || strcmp(k, "Tracestate") == 0;
}

static size_t split(slice_t s, char sep, slice_t *tok, size_t cap)
{
    size_t n = 0;
    const char *p = s.p, *e = s.p + s.n;
    for (;;) {
        const char *q = memchr(p, sep, (size_t)(e - p));
        if (n < cap) tok[n] = (slice_t){p, (size_t)((q ? q : e) - p)};
        n++;
        if (!q) break;
        p = q + 1;
    }
    return n;
}

bool trace_headers_sampled(const char *block, size_t bn, char **hdr)
{
    *hdr = NULL;
    hdr_kv_t kv[HDR_MAX];
    size_t n = parse_headers(block, bn, kv, HDR_MAX);
    slice_t tk[8];
    const hdr_kv_t *h;
    if ((h = first(kv, n, "Uber-Trace-Id"))) {
        size_t nt = split(h->val, ':', tk, 8);
        if (nt == 4 && tk[3].n >= 1 && tk[3].n <= 2) {
            int v = hex_val(tk[3].p[tk[3].n == 2 ? 1 : 0]);
            if (v >= 0 && (v & 1)) {
                *hdr = hdr_json(kv, n, keep_uber);
                return true;
            }
        }
        return false;
    }
    const hdr_kv_t *sm = first(kv, n, "X-B3-Sampled");
    if (sm && slice_eq_str(sm->val, "1")) {
        *hdr = hdr_json(kv, n, keep_b3);
        return true;
    }
    if (sm && slice_eq_str(sm->val, "0")) return false;
    if (first(kv, n, "X-B3-Traceid")) {
        *hdr = hdr_json(kv, n, keep_b3);
        return true;
    }
    if ((h = first(kv, n, "B3"))) {
        size_t nt = split(h->val, '-', tk, 8);
        if (nt > 2 && slice_eq_str(tk[2], "0")) return false;
        if (nt == 1 && slice_eq_str(tk[0], "0")) return false;
        *hdr = hdr_json(kv, n, keep_b3_single);
        return true;
    }
    if ((h = first(kv, n, "Traceparent"))) {
        size_t nt = split(h->val, '-', tk, 8);
        if (nt == 4 && slice_eq_str(tk[3], "01")) {
            *hdr = hdr_json(kv, n, keep_ctx);
            return true;
        }
    }
    return false;
}

static int64_t num(slice_t raw)
{
    char b[32];
    size_t n = raw.n < sizeof b - 1 ? raw.n : sizeof b - 1;
    memcpy(b, raw.p, n);
    b[n] = 0;
    return strtoll(b, NULL, 10);
}

static int responder_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    if (t == JSON_NUMBER && json_key_is(key, "rtt")) *(int64_t *)ctx = num(raw);
    return 0;
}

static int m2_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    latency_m2_t *m = ctx;
    if (t == JSON_NUMBER && json_key_is(key, "service")) {
        m->service = num(raw);
    } else if (t == JSON_OBJECT && json_key_is(key, "responder")) {
        m->responder = raw;
        json_parse_object(raw.p, raw.n, responder_member, &m->resp_rtt);
    }
    return 0;
}

static int top_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    latency_m2_t *m = ctx;
    if (t == JSON_STRING && json_key_is(key, "req_id")) {
        m->req_id = (slice_t){raw.p + 1, raw.n - 2}; /* reply subjects need no unescaping */
    } else if (t == JSON_OBJECT && json_key_is(key, "m2")) {
        m->has_m2 = true;
        json_parse_object(raw.p, raw.n, m2_member, m);
    }
    return 0;
}

bool latency_m2_parse(const char *p, size_t n, latency_m2_t *out)
{
    memset(out, 0, sizeof *out);
    return json_parse_object(p, n, top_member, out) == 0 && out->has_m2 && out->req_id.n;
}
