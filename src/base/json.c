/* json.c: see json.h. The writer keeps one "has members" flag per nesting
 * level to place commas and, when pretty, newlines + two-space indents. The
 * reader is a recursive-descent validator over the caller's bytes. */
#include "base/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void jw_init(jw_t *w, buf_t *b, bool pretty)
{
    memset(w, 0, sizeof *w);
    w->b = b;
    w->pretty = pretty;
}

void jw_resume(jw_t *w, buf_t *b)
{
    jw_init(w, b, false);
    w->depth = 1;
    w->nonempty[1] = true;
}

static void jw_indent(jw_t *w)
{
    buf_putc(w->b, '\n');
    for (int i = 0; i < w->depth; i++)
        buf_append(w->b, "  ", 2);
}

/* Starts a member (key may be NULL inside arrays / at the root). */
static void jw_member(jw_t *w, const char *key)
{
    if (w->depth > 0) {
        if (w->nonempty[w->depth]) buf_putc(w->b, ',');
        w->nonempty[w->depth] = true;
        if (w->pretty) jw_indent(w);
    }
    if (key) {
        json_put_string(w->b, key, strlen(key));
        buf_putc(w->b, ':');
        if (w->pretty) buf_putc(w->b, ' ');
    }
}

static void jw_open(jw_t *w, const char *key, char c)
{
    jw_member(w, key);
    buf_putc(w->b, c);
    if (w->depth + 1 < JW_MAX_DEPTH) w->depth++;
    w->nonempty[w->depth] = false;
}

static void jw_close(jw_t *w, char c)
{
    bool had = w->nonempty[w->depth];
    if (w->depth > 0) w->depth--;
    if (had && w->pretty) jw_indent(w);
    buf_putc(w->b, c);
}

void jw_obj_begin(jw_t *w, const char *key)
{
    jw_open(w, key, '{');
}
void jw_obj_end(jw_t *w)
{
    jw_close(w, '}');
}
void jw_arr_begin(jw_t *w, const char *key)
{
    jw_open(w, key, '[');
}
void jw_arr_end(jw_t *w)
{
    jw_close(w, ']');
}

void jw_str(jw_t *w, const char *key, const char *s)
{
    jw_strn(w, key, s ? s : "", s ? strlen(s) : 0);
}

void jw_strn(jw_t *w, const char *key, const char *s, size_t n)
{
    jw_member(w, key);
    json_put_string(w->b, s, n);
}

void jw_int(jw_t *w, const char *key, int64_t v)
{
    jw_member(w, key);
    buf_put_i64(w->b, v);
}

void jw_uint(jw_t *w, const char *key, uint64_t v)
{
    jw_member(w, key);
    buf_put_u64(w->b, v);
}

void jw_bool(jw_t *w, const char *key, bool v)
{
    jw_member(w, key);
    buf_puts(w->b, v ? "true" : "false");
}

void jw_raw(jw_t *w, const char *key, const char *json, size_t n)
{
    jw_member(w, key);
    buf_append(w->b, json, n);
}

void jw_null(jw_t *w, const char *key)
{
    jw_member(w, key);
    buf_puts(w->b, "null");
}

void jw_float(jw_t *w, const char *key, double v)
{
    jw_member(w, key);
    json_put_float(w->b, v);
}

void jw_time(jw_t *w, const char *key, int64_t wall_ns)
{
    time_t secs = (time_t)(wall_ns / 1000000000LL);
    long ns = (long)(wall_ns % 1000000000LL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char tmp[64];
    int n = (int)strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ns) {
        char frac[16];
        snprintf(frac, sizeof frac, ".%09ld", ns);
        int fl = 10;
        while (frac[fl - 1] == '0')
            fl--;
        memcpy(tmp + n, frac, (size_t)fl);
        n += fl;
    }
    tmp[n++] = 'Z';
    jw_member(w, key);
    buf_putc(w->b, '"');
    buf_append(w->b, tmp, (size_t)n);
    buf_putc(w->b, '"');
}

/* Length of a valid UTF-8 sequence at s (max n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0xC2) return 0;
    if (c < 0xE0) {
        len = 2;
        cp = c & 0x1F;
    } else if (c < 0xF0) {
        len = 3;
        cp = c & 0x0F;
    } else if (c < 0xF5) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

void json_put_string(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            i++;
            continue;
        }
        buf_append(b, s + start, i - start);
        if (c < 0x80) {
            switch (c) {
            case '"':
                buf_append(b, "\\\"", 2);
                break;
            case '\\':
                buf_append(b, "\\\\", 2);
                break;
            case '\n':
                buf_append(b, "\\n", 2);
                break;
            case '\r':
                buf_append(b, "\\r", 2);
                break;
            case '\t':
                buf_append(b, "\\t", 2);
                break;
            default: {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(b, e, 6);
            }
            }
            i++;
        } else {
            size_t l = utf8_len(u + i, n - i);
            if (l == 0) {
                buf_append(b, "\\ufffd", 6);
                i++;
            } else if (l == 3 && u[i] == 0xE2 && u[i + 1] == 0x80 && (u[i + 2] & 0xFE) == 0xA8) {
                buf_append(b, u[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
                i += 3;
            } else {
                buf_append(b, s + i, l);
                i += l;
            }
        }
        start = i;
    }
    buf_append(b, s + start, n - start);
    buf_putc(b, '"');
}

void json_put_float(buf_t *b, double v)
{
    if (isnan(v) || isinf(v)) {
        buf_puts(b, "0");
        return;
    }
    if (v == 0) {
        buf_puts(b, "0");
        return;
    }
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    char *e = strchr(tmp, 'e');
    int exp = e ? atoi(e + 1) : 0;
    if (exp < -6 || exp >= 21) {
        /* Go: mantissa then e-07 / e+21 with at least two exponent digits. */
        *e = 0;
        buf_puts(b, tmp);
        buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return;
    }
    int decimals = prec - 1 - exp;
    if (decimals < 0) decimals = 0;
    snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
    buf_puts(b, tmp);
}

/* ---- reader ------------------------------------------------------------ */

typedef struct jr {
    const char *s;
    size_t n, i;
    int depth;
} jr_t;

static void jr_ws(jr_t *r)
{
    while (r->i < r->n) {
        char c = r->s[r->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        r->i++;
    }
}

static int jr_value(jr_t *r, json_type_t *t);

static int jr_string(jr_t *r)
{
    if (r->i >= r->n || r->s[r->i] != '"') return -1;
    r->i++;
    while (r->i < r->n) {
        unsigned char c = (unsigned char)r->s[r->i++];
        if (c == '"') return 0;
        if (c < 0x20) return -1;
        if (c == '\\') {
            if (r->i >= r->n) return -1;
            char e = r->s[r->i++];
            if (e == 'u') {
                if (r->n - r->i < 4) return -1;
                for (int k = 0; k < 4; k++) {
                    char h = r->s[r->i++];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
                          (h >= 'A' && h <= 'F')))
                        return -1;
                }
            } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
                return -1;
            }
        }
    }
    return -1;
}

static int jr_number(jr_t *r)
{
    size_t st = r->i;
    if (r->i < r->n && r->s[r->i] == '-') r->i++;
    if (r->i >= r->n) return -1;
    if (r->s[r->i] == '0') {
        r->i++;
    } else if (r->s[r->i] >= '1' && r->s[r->i] <= '9') {
        while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
    } else {
        return -1;
    }
    if (r->i < r->n && r->s[r->i] == '.') {
        r->i++;
        size_t d = r->i;
        while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
        if (r->i == d) return -1;
    }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-')) r->i++;
        size_t d = r->i;
        while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
        if (r->i == d) return -1;
    }
    return r->i > st ? 0 : -1;
}

static int jr_lit(jr_t *r, const char *lit)
{
    size_t l = strlen(lit);
    if (r->n - r->i < l || memcmp(r->s + r->i, lit, l) != 0) return -1;
    r->i += l;
    return 0;
}

static int jr_container(jr_t *r, char close, bool obj)
{
    if (++r->depth > 64) return -1;
    r->i++;
    jr_ws(r);
    if (r->i < r->n && r->s[r->i] == close) {
        r->i++;
        r->depth--;
        return 0;
    }
    for (;;) {
        json_type_t t;
        jr_ws(r);
        if (obj) {
            if (jr_string(r)) return -1;
            jr_ws(r);
            if (r->i >= r->n || r->s[r->i] != ':') return -1;
            r->i++;
            jr_ws(r);
        }
        if (jr_value(r, &t)) return -1;
        jr_ws(r);
        if (r->i >= r->n) return -1;
        char c = r->s[r->i++];
        if (c == close) break;
        if (c != ',') return -1;
    }
    r->depth--;
    return 0;
}

static int jr_value(jr_t *r, json_type_t *t)
{
    if (r->i >= r->n) return -1;
    switch (r->s[r->i]) {
    case '"':
        *t = JSON_STRING;
        return jr_string(r);
    case '{':
        *t = JSON_OBJECT;
        return jr_container(r, '}', true);
    case '[':
        *t = JSON_ARRAY;
        return jr_container(r, ']', false);
    case 't':
        *t = JSON_BOOL;
        return jr_lit(r, "true");
    case 'f':
        *t = JSON_BOOL;
        return jr_lit(r, "false");
    case 'n':
        *t = JSON_NULL;
        return jr_lit(r, "null");
    default:
        *t = JSON_NUMBER;
        return jr_number(r);
    }
}

bool json_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

int json_parse_object(const char *s, size_t n, json_member_fn fn, void *ctx)
{
    jr_t r = {s, n, 0, 0};
    jr_ws(&r);
    if (r.i >= n || s[r.i] != '{') return -1;
    r.i++;
    jr_ws(&r);
    if (r.i < n && s[r.i] == '}') {
        r.i++;
    } else {
        for (;;) {
            jr_ws(&r);
            size_t ks = r.i;
            if (jr_string(&r)) return -1;
            slice_t key = {s + ks, r.i - ks};
            jr_ws(&r);
            if (r.i >= n || s[r.i] != ':') return -1;
            r.i++;
            jr_ws(&r);
            size_t vs = r.i;
            json_type_t t;
            if (jr_value(&r, &t)) return -1;
            slice_t val = {s + vs, r.i - vs};
            int rc = fn ? fn(ctx, key, t, val) : 0;
            if (rc) return rc;
            jr_ws(&r);
            if (r.i >= n) return -1;
            char c = s[r.i++];
            if (c == '}') break;
            if (c != ',') return -1;
        }
    }
    jr_ws(&r);
    return r.i == n ? 0 : -1;
}

int json_parse_array(const char *s, size_t n, json_elem_fn fn, void *ctx)
{
    jr_t r = {s, n, 0, 0};
    jr_ws(&r);
    if (r.i >= n || s[r.i] != '[') return -1;
    r.i++;
    jr_ws(&r);
    if (r.i < n && s[r.i] == ']') {
        r.i++;
    } else {
        for (;;) {
            jr_ws(&r);
            size_t vs = r.i;
            json_type_t t;
            if (jr_value(&r, &t)) return -1;
            int rc = fn ? fn(ctx, t, (slice_t){s + vs, r.i - vs}) : 0;
            if (rc) return rc;
            jr_ws(&r);
            if (r.i >= n) return -1;
            char c = s[r.i++];
            if (c == ']') break;
            if (c != ',') return -1;
        }
    }
    jr_ws(&r);
    return r.i == n ? 0 : -1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

long json_unquote(slice_t raw, char *out, size_t outsz)
{
    if (raw.n < 2 || raw.p[0] != '"' || raw.p[raw.n - 1] != '"' || outsz == 0) return -1;
    size_t o = 0;
    for (size_t i = 1; i + 1 < raw.n;) {
        char c = raw.p[i++];
        char tmp[4];
        size_t tl = 1;
        tmp[0] = c;
        if (c == '\\') {
            char e = raw.p[i++];
            switch (e) {
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'u': {
                if (i + 4 > raw.n - 1) return -1;
                uint32_t cp = 0;
                for (int k = 0; k < 4; k++) {
                    int h = hex_val(raw.p[i++]);
                    if (h < 0) return -1;
                    cp = cp << 4 | (uint32_t)h;
                }
                if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= raw.n - 1 && raw.p[i] == '\\' &&
                    raw.p[i + 1] == 'u') {
                    uint32_t lo = 0;
                    bool ok = true;
                    for (int k = 0; k < 4; k++) {
                        int h = hex_val(raw.p[i + 2 + k]);
                        if (h < 0) ok = false;
                        lo = lo << 4 | (uint32_t)(h < 0 ? 0 : h);
                    }
                    if (ok && lo >= 0xDC00 && lo < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
                tl = put_utf8(tmp, cp);
                break;
            }
            default:
                tmp[0] = e;
            }
        }
        if (o + tl >= outsz) return -1;
        memcpy(out + o, tmp, tl);
        o += tl;
    }
    out[o] = 0;
    return (long)o;
}

bool json_key_is(slice_t key_raw, const char *name)
{
    size_t l = strlen(name);
    return key_raw.n == l + 2 && memcmp(key_raw.p + 1, name, l) == 0;
}

void json_compact(buf_t *out, const char *s, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            buf_putc(out, ch);
            if (ch == '\\' && i + 1 < n)
                buf_putc(out, s[++i]);
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
            buf_putc(out, ch);
        } else if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') {
            buf_putc(out, ch);
        }
    }
}
