/* conf_scan.c: the configuration language's tokens (conf_impl.h): byte and
 * rune access, line/column positions, errors in the reference's wording, the
 * byte budget, comments, and the scalar values: quoted and unquoted strings
 * with their escapes, block strings, integers with size suffixes, floats and
 * datetimes. Where a token ends follows the reference lexer's states. */
#include "conf/conf_impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Positions are asked for in nearly increasing order (a key's after its
 * value's, at worst), so walk from the last answer rather than from the start:
 * large files stay linear. */
void linecol(parser_t *p, size_t pos, int *line, int *col)
{
    if (pos > p->n) pos = p->n;
    if (pos < p->lc_pos) {
        bool crossed = false;
        for (size_t i = pos; i < p->lc_pos; i++) {
            if (p->s[i] == '\n') {
                p->lc_line--;
                crossed = true;
            }
        }
        if (crossed) {
            size_t i = pos;
            while (i > 0 && p->s[i - 1] != '\n')
                i--;
            p->lc_lstart = i;
        }
        p->lc_pos = pos;
    }
    for (size_t i = p->lc_pos; i < pos; i++) {
        if (p->s[i] == '\n') {
            p->lc_line++;
            p->lc_lstart = i + 1;
        }
    }
    p->lc_pos = pos;
    *line = p->lc_line;
    *col = (int)(pos - p->lc_lstart + 1);
}

/* Decodes one UTF-8 rune; invalid input is U+FFFD of width 1, as in Go. */
int32_t rune_at(const parser_t *p, size_t pos, size_t *w)
{
    if (pos >= p->n) {
        *w = 0;
        return R_EOF;
    }
    const unsigned char *s = (const unsigned char *)p->s + pos;
    size_t left = p->n - pos;
    unsigned c = s[0];
    size_t need;
    uint32_t r, min;
    if (c < 0x80) {
        *w = 1;
        return (int32_t)c;
    } else if ((c & 0xE0) == 0xC0) {
        need = 1, r = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        need = 2, r = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        need = 3, r = c & 0x07, min = 0x10000;
    } else {
        goto bad;
    }
    if (left <= need) goto bad;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) goto bad;
        r = r << 6 | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) goto bad;
    *w = need + 1;
    return (int32_t)r;
bad:
    *w = 1;
    return 0xFFFD;
}

/* Renders the character at pos for an error message the way the reference
 * does, except that EOF and NUL (which Go prints as a raw NUL byte) read \x00. */
const char *show_at(const parser_t *p, size_t pos, char buf[8])
{
    size_t w;
    int32_t r = rune_at(p, pos, &w);
    if (r == R_EOF || r == 0) return "\\x00";
    if (r == '\n') return "\\n";
    memcpy(buf, p->s + pos, w);
    buf[w] = 0;
    return buf;
}

void *fail_at(parser_t *p, size_t pos, bool lexical, const char *fmt, ...)
{
    perr_t *e = p->err;
    if (e->set) return NULL;
    e->set = true;
    e->lexical = lexical;
    e->file = p->file;
    linecol(p, pos, &e->line, &e->col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return NULL;
}

bool charge(parser_t *p, size_t n, size_t pos)
{
    if (n > CONF_MAX_BYTES - p->sh->used) {
        fail_at(p, pos, false, "configuration too large (over %zu MiB after variable expansion)",
                CONF_MAX_BYTES >> 20);
        return false;
    }
    p->sh->used += n;
    return true;
}

/* ---- scalars ----------------------------------------------------------- */

void skip_comment(parser_t *p)
{
    while (p->pos < p->n && !is_nl(p->s[p->pos]))
        p->pos++;
}

/* At '#' or "//": a comment. A lone '/' is not one. */
bool at_comment(const parser_t *p)
{
    int c = peekb(p);
    return c == '#' || (c == '/' && byte_at(p, p->pos + 1) == '/');
}

/* After a backslash: appends the escaped byte to b. */
static bool scan_escape(parser_t *p, sbuf_t *b)
{
    char sh[8];
    size_t epos = p->pos, w;
    int32_t r = rune_at(p, epos, &w);
    p->pos += w;
    switch (r) {
    case 't':
        sbuf_add(b, "\t", 1);
        return true;
    case 'n':
        sbuf_add(b, "\n", 1);
        return true;
    case 'r':
        sbuf_add(b, "\r", 1);
        return true;
    case '"':
        sbuf_add(b, "\"", 1);
        return true;
    case '\\':
        sbuf_add(b, "\\", 1);
        return true;
    case 'x': {
        int c1 = peekb(p), c2 = byte_at(p, p->pos + 1);
        if (c1 == R_EOF || is_nl(c1) || c2 == R_EOF || is_nl(c2)) {
            fail_at(p, p->pos, true,
                    "Expected two hexadecimal digits after '\\x', but hit end of line");
            return false;
        }
        if (hex_val(c1) < 0 || hex_val(c2) < 0) {
            fail_at(p, p->pos, true, "Expected two hexadecimal digits after '\\x', but got '%c%c'",
                    c1, c2);
            return false;
        }
        char byte = (char)(hex_val(c1) << 4 | hex_val(c2));
        sbuf_add(b, &byte, 1);
        p->pos += 2;
        return true;
    }
    }
    fail_at(p, epos, true,
            "Invalid escape character '%s'. Only the following escape characters are allowed: "
            "\\xXX, \\t, \\n, \\r, \\\", \\\\.",
            show_at(p, epos, sh));
    return false;
}

/* An unquoted string whose text starts at ts; scanning resumes at p->pos (the
 * number scanner hands over mid-token, after the character that made it give
 * up, exactly as the reference does). */
conf_val_t *scan_unquoted(parser_t *p, size_t ts)
{
    sbuf_t b = {0};
    bool esc = false;
    size_t seg = ts;
    conf_val_t *v;
    for (;;) {
        int c = peekb(p);
        if (c == '\\') {
            sbuf_add(&b, p->s + seg, p->pos - seg);
            p->pos++;
            if (!scan_escape(p, &b)) {
                free(b.p);
                return NULL;
            }
            esc = true;
            seg = p->pos;
            continue;
        }
        if (c == R_EOF || is_nl(c) || is_blank(c) || c == ';' || c == ',' || c == ']' || c == '}')
            break;
        if (c == '\'') {
            /* The reference ends the string here and drops the quote, without
             * checking for booleans or variables. */
            sbuf_add(&b, p->s + seg, p->pos - seg);
            p->pos++;
            v = new_str(p, ts, b.p ? b.p : "", b.n);
            free(b.p);
            return v;
        }
        p->pos++;
    }
    if (esc) {
        sbuf_add(&b, p->s + seg, p->pos - seg);
        v = new_str(p, ts, b.p, b.n);
        free(b.p);
        return v;
    }
    const char *t = p->s + ts;
    size_t tl = p->pos - ts;
    static const char *const trues[] = {"true", "yes", "on"}, *const falses[] = {"false", "no",
                                                                                 "off"};
    for (size_t i = 0; i < 3; i++) {
        if ((tl == strlen(trues[i]) && strncasecmp(t, trues[i], tl) == 0) ||
            (tl == strlen(falses[i]) && strncasecmp(t, falses[i], tl) == 0)) {
            v = new_val(p, CONF_BOOL, ts);
            if (v) v->u.b = tl == strlen(trues[i]) && strncasecmp(t, trues[i], tl) == 0;
            return v;
        }
    }
    if (tl > 0 && t[0] == '$') return resolve_var(p, t + 1, tl - 1, ts);
    return new_str(p, ts, t, tl);
}

conf_val_t *scan_dq(parser_t *p, size_t ts)
{
    sbuf_t b = {0};
    size_t seg = ts;
    for (;;) {
        int c = peekb(p);
        if (c == R_EOF) {
            free(b.p);
            return fail_at(p, p->pos, true, "Unexpected EOF.");
        }
        if (c == '\\') {
            sbuf_add(&b, p->s + seg, p->pos - seg);
            p->pos++;
            if (!scan_escape(p, &b)) {
                free(b.p);
                return NULL;
            }
            seg = p->pos;
            continue;
        }
        if (c == '"') break;
        p->pos++;
    }
    sbuf_add(&b, p->s + seg, p->pos - seg);
    p->pos++;
    conf_val_t *v = new_str(p, ts, b.p, b.n);
    free(b.p);
    return v;
}

conf_val_t *scan_sq(parser_t *p, size_t ts)
{
    const char *q = memchr(p->s + ts, '\'', p->n - ts);
    if (!q) {
        p->pos = p->n;
        return fail_at(p, p->n, true, "Unexpected EOF.");
    }
    p->pos = (size_t)(q - p->s) + 1;
    return new_str(p, ts, p->s + ts, (size_t)(q - p->s) - ts);
}

/* A block ends at a ')' alone on its line; the text keeps the newlines
 * around it except the one before the ')'... which it keeps too. */
conf_val_t *scan_block(parser_t *p, size_t ts)
{
    for (size_t i = ts; i < p->n; i++) {
        if (p->s[i] == ')' && p->s[i - 1] == '\n' && (i + 1 == p->n || p->s[i + 1] == '\n')) {
            p->pos = i + 1;
            return new_str(p, ts, p->s + ts, i - ts);
        }
    }
    p->pos = p->n;
    return fail_at(p, p->n, true, "Unexpected EOF processing block.");
}

static bool num_term(int c)
{
    return c == R_EOF || is_nl(c) || is_blank(c) || c == '}' || c == ';' || c == ',';
}

static bool is_size_letter(int c)
{
    return c > 0 && strchr("kKmMgGtTpPeE", c) != NULL;
}

static conf_val_t *make_int(parser_t *p, size_t ts, size_t te)
{
    const char *t = p->s + ts;
    int tl = (int)(te - ts);
    size_t k = ts;
    bool neg = p->s[k] == '-';
    if (neg) k++;
    uint64_t mag = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; k < te && is_digit(p->s[k]); k++) {
        unsigned d = (unsigned)(p->s[k] - '0');
        if (mag > (lim - d) / 10)
            return fail_at(p, ts, false, "integer '%.*s' is out of the range", tl, t);
        mag = mag * 10 + d;
    }
    char suf[4] = {0};
    size_t sl = te - k;
    if (sl > 3) return fail_at(p, ts, false, "expected integer, but got '%.*s'", tl, t);
    for (size_t i = 0; i < sl; i++)
        suf[i] = (char)tolower((unsigned char)p->s[k + i]);
    static const struct {
        const char *s;
        int64_t mul;
    } sufs[] = {
        {"", 1},
        {"k", 1000LL},
        {"kb", 1LL << 10},
        {"ki", 1LL << 10},
        {"kib", 1LL << 10},
        {"m", 1000000LL},
        {"mb", 1LL << 20},
        {"mi", 1LL << 20},
        {"mib", 1LL << 20},
        {"g", 1000000000LL},
        {"gb", 1LL << 30},
        {"gi", 1LL << 30},
        {"gib", 1LL << 30},
        {"t", 1000000000000LL},
        {"tb", 1LL << 40},
        {"ti", 1LL << 40},
        {"tib", 1LL << 40},
        {"p", 1000000000000000LL},
        {"pb", 1LL << 50},
        {"pi", 1LL << 50},
        {"pib", 1LL << 50},
        {"e", 1000000000000000000LL},
        {"eb", 1LL << 60},
        {"ei", 1LL << 60},
        {"eib", 1LL << 60},
    };
    int64_t num = neg ? (int64_t)(0 - mag) : (int64_t)mag, res = 0;
    for (size_t i = 0; i < ARRAY_LEN(sufs); i++) {
        if (strcmp(suf, sufs[i].s) != 0) continue;
        if (__builtin_mul_overflow(num, sufs[i].mul, &res))
            return fail_at(p, ts, false, "integer '%.*s' is out of the range", tl, t);
        conf_val_t *v = new_val(p, CONF_INT, ts);
        if (v) v->u.i = res;
        return v;
    }
    return fail_at(p, ts, false, "expected integer, but got '%.*s'", tl, t);
}

static conf_val_t *make_float(parser_t *p, size_t ts, size_t te)
{
    char *t = xstrndup(p->s + ts, te - ts);
    double d = strtod(t, NULL);
    conf_val_t *v = NULL;
    if (isinf(d))
        fail_at(p, ts, false, "float '%s' is out of the range", t);
    else if ((v = new_val(p, CONF_FLOAT, ts)))
        v->u.f = d;
    free(t);
    return v;
}

/* After "<digit>." (or "-<digits>."): a float, or an IP-like string. */
static conf_val_t *scan_float(parser_t *p, size_t ts)
{
    char sh[8];
    if (!is_digit(peekb(p)))
        return fail_at(p, p->pos, true,
                       "Floats must have a digit after the '.', but got '%s' instead.",
                       show_at(p, p->pos, sh));
    while (is_digit(peekb(p)))
        p->pos++;
    if (peekb(p) != '.') return make_float(p, ts, p->pos);
    p->pos++;
    for (int c = peekb(p); is_digit(c) || c == '.' || c == ':' || c == '-'; c = peekb(p))
        p->pos++;
    return new_str(p, ts, p->s + ts, p->pos - ts);
}

/* After the size letter of "<digits><letter>": "1k", "2MiB", else a string. */
static conf_val_t *scan_size(parser_t *p, size_t ts)
{
    int c;
    while ((c = peekb(p)) == 'b' || c == 'B' || c == 'i' || c == 'I')
        p->pos++;
    if (num_term(c) || is_digit(c)) return make_int(p, ts, p->pos);
    return scan_unquoted(p, ts);
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* After "YYYY-": the rest of YYYY-MM-DDTHH:MM:SSZ, exactly. */
static conf_val_t *scan_datetime(parser_t *p, size_t ts)
{
    static const char fmt[] = "00-00T00:00:00Z";
    char sh[8];
    for (const char *f = fmt; *f; f++) {
        size_t cpos = p->pos, w;
        int c = peekb(p);
        rune_at(p, cpos, &w);
        p->pos += w;
        if (*f == '0' && !is_digit(c))
            return fail_at(p, cpos, true,
                           "Expected digit in ISO8601 datetime, but found '%s' instead.",
                           show_at(p, cpos, sh));
        if (*f != '0' && c != *f)
            return fail_at(p, cpos, true,
                           "Expected '%c' in ISO8601 datetime, but found '%s' instead.", *f,
                           show_at(p, cpos, sh));
    }
    const char *t = p->s + ts;
#define D2(i) ((t[i] - '0') * 10 + (t[i + 1] - '0'))
    int year = D2(0) * 100 + D2(2), mon = D2(5), day = D2(8), hh = D2(11), mm = D2(14), ss = D2(17);
#undef D2
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] + (mon == 2 && leap) || hh > 23 ||
        mm > 59 || ss > 59)
        return fail_at(p, ts, false, "expected Zulu formatted DateTime, but got '%.*s'",
                       (int)(p->pos - ts), t);
    conf_val_t *v = new_val(p, CONF_DATETIME, ts);
    if (v) v->u.i = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss;
    return v;
}

/* A value starting with a digit: integer, size, float, datetime, IP-like
 * string, or an unquoted string that happens to start with a digit. */
conf_val_t *scan_number(parser_t *p, size_t ts, enum ctx ctx)
{
    p->pos++;
    for (;;) {
        int c = peekb(p);
        if (is_digit(c)) {
            p->pos++;
        } else if (c == '-') {
            p->pos++;
            if (p->pos - ts != 5)
                return fail_at(p, p->pos - 1, true, "All ISO8601 dates must be in full Zulu form.");
            return scan_datetime(p, ts);
        } else if (c == '.') {
            p->pos++;
            return scan_float(p, ts);
        } else if (is_size_letter(c)) {
            p->pos++;
            return scan_size(p, ts);
        } else if (num_term(c) || (c == ']' && ctx == CTX_ARRAY)) {
            /* ']' ending an integer is ours: see the header. */
            return make_int(p, ts, p->pos);
        } else {
            p->pos++;
            return scan_unquoted(p, ts);
        }
    }
}

conf_val_t *scan_negative(parser_t *p, size_t ts)
{
    char sh[8];
    int c = peekb(p);
    if (!is_digit(c)) {
        if (c == '.') return fail_at(p, p->pos, true, "Floats must start with a digit, not '.'.");
        return fail_at(p, p->pos, true, "Expected a digit but got '%s'.", show_at(p, p->pos, sh));
    }
    while (is_digit(peekb(p)))
        p->pos++;
    c = peekb(p);
    if (c == '.') {
        p->pos++;
        return scan_float(p, ts);
    }
    if (is_size_letter(c)) {
        p->pos++;
        return scan_size(p, ts);
    }
    return make_int(p, ts, p->pos);
}
