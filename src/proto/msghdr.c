/* msghdr.c: read and replace one header of a header block (see msghdr.h). */
#include "proto/msghdr.h"

#include <string.h>

#define HDR_LINE "NATS/1.0\r\n"

/* Where key's line starts in hdr (after a CRLF, followed by ':'), or NULL. */
static const char *find_line(const char *hdr, size_t n, const char *key)
{
    size_t kn = strlen(key);
    for (const char *p = hdr; n >= kn + 3;) {
        const char *q = memmem(p, n - (size_t)(p - hdr), key, kn);
        if (!q) return NULL;
        size_t at = (size_t)(q - hdr);
        if (at >= 2 && q[-1] == '\n' && q[-2] == '\r' && at + kn < n && q[kn] == ':') return q;
        p = q + 1;
        if ((size_t)(p - hdr) >= n) return NULL;
    }
    return NULL;
}

slice_t msghdr_get(const char *hdr, size_t n, const char *key)
{
    const char *q = find_line(hdr, n, key);
    if (!q) return (slice_t){NULL, 0};
    const char *v = q + strlen(key) + 1, *end = hdr + n;
    while (v < end && *v == ' ')
        v++;
    const char *e = v;
    while (e < end && *e != '\r' && *e != '\n')
        e++;
    return (slice_t){v, (size_t)(e - v)};
}

size_t msghdr_set(const char *hdr, size_t n, const char *key, const char *val, size_t vn,
                  buf_t *out)
{
    size_t start = out->len;
    /* the block without its closing CRLF, key's old line left out */
    if (n > 2 && hdr[n - 2] == '\r' && hdr[n - 1] == '\n') {
        size_t body = n - 2;
        const char *q = find_line(hdr, body, key);
        if (q) {
            const char *eol = memmem(q, body - (size_t)(q - hdr), "\r\n", 2);
            size_t cut_end = eol ? (size_t)(eol - hdr) + 2 : body;
            size_t left = (size_t)(q - hdr) + (body - cut_end);
            if (left <= strlen(HDR_LINE)) { /* nothing else was there */
                buf_puts(out, HDR_LINE);
            } else {
                buf_append(out, hdr, (size_t)(q - hdr));
                buf_append(out, hdr + cut_end, body - cut_end);
            }
        } else {
            buf_append(out, hdr, body);
        }
    } else {
        buf_puts(out, HDR_LINE);
    }
    buf_puts(out, key);
    buf_puts(out, ": ");
    buf_append(out, val, vn);
    buf_puts(out, "\r\n\r\n");
    return out->len - start;
}
