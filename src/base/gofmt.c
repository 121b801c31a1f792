#include "base/gofmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* snprintf's return is what would have been written: the length actually written. */
static size_t clamp(int n, size_t cap)
{
    if (n < 0 || cap == 0) return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

static size_t put(char *out, size_t cap, const char *s)
{
    return clamp(snprintf(out, cap, "%s", s), cap);
}

/* ---- strconv.Quote ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (n bytes left) and its rune, 0 if invalid. */
static size_t utf8_rune(const unsigned char *p, size_t n, uint32_t *r)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *r = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *r = v;
    return len;
}

/* unicode.IsPrint, for the runes that matter in logs (controls, separators, BOM). */
static bool rune_printable(uint32_t r)
{
    if (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xad) return false;
    if (r == 0x2028 || r == 0x2029 || r == 0xfeff || (r >= 0x200b && r <= 0x200f)) return false;
    if ((r >= 0x202a && r <= 0x202e) || (r >= 0x2060 && r <= 0x206f)) return false;
    return true;
}

size_t quote_go(char *out, size_t cap, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t o = 0;
    out[o++] = '"';
    while (p < end) {
        char tmp[12];
        size_t tl;
        uint32_t r;
        size_t rl = utf8_rune(p, (size_t)(end - p), &r);
        if (rl == 0) {
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", *p);
            rl = 1;
        } else if (r == '"' || r == '\\') {
            tmp[0] = '\\', tmp[1] = (char)r, tl = 2;
        } else if (rune_printable(r)) {
            memcpy(tmp, p, rl);
            tl = rl;
        } else {
            const char *esc = r == '\a'   ? "\\a"
                              : r == '\b' ? "\\b"
                              : r == '\f' ? "\\f"
                              : r == '\n' ? "\\n"
                              : r == '\r' ? "\\r"
                              : r == '\t' ? "\\t"
                              : r == '\v' ? "\\v"
                                          : NULL;
            if (esc)
                tl = (size_t)snprintf(tmp, sizeof tmp, "%s", esc);
            else if (r < 0x80)
                tl = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned)r);
            else if (r < 0x10000)
                tl = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)r);
            else
                tl = (size_t)snprintf(tmp, sizeof tmp, "\\U%08x", (unsigned)r);
        }
        if (o + tl + 2 > cap) break; /* room for the closing quote and the NUL */
        memcpy(out + o, tmp, tl);
        o += tl;
        p += rl;
    }
    out[o++] = '"';
    out[o] = 0;
    return o;
}

size_t quote_go_str(char *out, size_t cap, const char *s)
{
    if (cap < 3) {
        if (cap) out[0] = 0;
        return 0;
    }
    return quote_go(out, cap, s, strlen(s));
}

/* ---- time.Duration.String ----------------------------------------------------- */

/* Digits are written backwards from the end of tmp, as Go's Duration.String does. */
size_t go_duration(char *out, size_t cap, int64_t d)
{
    char tmp[40];
    int w = (int)sizeof(tmp) - 1;
    tmp[w] = 0;
    uint64_t u = d < 0 ? (uint64_t)(-(d + 1)) + 1 : (uint64_t)d;
    bool neg = d < 0;
#define PUTC(c) (tmp[--w] = (c))
    if (u < (uint64_t)1000000000) {
        int prec = 0;
        const char *unit;
        if (u == 0) {
            return put(out, cap, "0s");
        } else if (u < 1000) {
            unit = "ns";
        } else if (u < 1000000) {
            prec = 3;
            unit = "\xc2\xb5s";
        } else {
            prec = 6;
            unit = "ms";
        }
        for (int i = (int)strlen(unit) - 1; i >= 0; i--)
            PUTC(unit[i]);
        /* fractional part */
        bool print = false;
        for (int i = 0; i < prec; i++) {
            int digit = (int)(u % 10);
            print = print || digit != 0;
            if (print) PUTC((char)('0' + digit));
            u /= 10;
        }
        if (print) PUTC('.');
        if (u == 0) PUTC('0');
        while (u > 0) {
            PUTC((char)('0' + u % 10));
            u /= 10;
        }
    } else {
        PUTC('s');
        bool print = false;
        for (int i = 0; i < 9; i++) {
            int digit = (int)(u % 10);
            print = print || digit != 0;
            if (print) PUTC((char)('0' + digit));
            u /= 10;
        }
        if (print) PUTC('.');
        uint64_t secs = u % 60;
        u /= 60;
        if (secs == 0) PUTC('0');
        while (secs > 0) {
            PUTC((char)('0' + secs % 10));
            secs /= 10;
        }
        if (u > 0) {
            PUTC('m');
            uint64_t mins = u % 60;
            u /= 60;
            if (mins == 0) PUTC('0');
            while (mins > 0) {
                PUTC((char)('0' + mins % 10));
                mins /= 10;
            }
            if (u > 0) {
                PUTC('h');
                while (u > 0) {
                    PUTC((char)('0' + u % 10));
                    u /= 10;
                }
            }
        }
    }
    if (neg) PUTC('-');
#undef PUTC
    return put(out, cap, tmp + w);
}

/* ---- uptime (the reference's myUptime) ---------------------------------------- */

size_t go_uptime(char *out, size_t cap, int64_t ns)
{
    int64_t s = ns / 1000000000LL;
    int64_t y = s / (365 * 86400);
    s -= y * 365 * 86400;
    int64_t d = s / 86400;
    s -= d * 86400;
    int64_t h = s / 3600;
    s -= h * 3600;
    int64_t m = s / 60;
    s -= m * 60;
    int n;
    if (y)
        n = snprintf(out, cap, "%lldy%lldd%lldh%lldm%llds", (long long)y, (long long)d,
                     (long long)h, (long long)m, (long long)s);
    else if (d)
        n = snprintf(out, cap, "%lldd%lldh%lldm%llds", (long long)d, (long long)h, (long long)m,
                     (long long)s);
    else if (h)
        n = snprintf(out, cap, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)s);
    else if (m)
        n = snprintf(out, cap, "%lldm%llds", (long long)m, (long long)s);
    else
        n = snprintf(out, cap, "%llds", (long long)s);
    return clamp(n, cap);
}
