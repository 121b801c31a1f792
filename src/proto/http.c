/* http.c: see http.h. Only what a monitoring client needs: the request line,
 * Connection and Content-Length headers; everything else is skipped. */
#include "proto/http.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

static const char *find_head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n') {
            if (buf[i + 1] == '\n') return buf + i + 2;
            if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') return buf + i + 3;
        }
    }
    return NULL;
}

long http_parse(const char *buf, size_t len, size_t max_head, http_req_t *req)
{
    memset(req, 0, sizeof *req);
    const char *end = find_head_end(buf, len < max_head ? len : max_head);
    if (!end) return len >= max_head ? -2 : 0;
    const char *p = buf, *le = memchr(buf, '\n', (size_t)(end - buf));
    const char *lend = le > buf && le[-1] == '\r' ? le - 1 : le;
    const char *sp1 = memchr(p, ' ', (size_t)(lend - p));
    if (!sp1 || sp1 == p) return -1;
    req->method = (slice_t){p, (size_t)(sp1 - p)};
    const char *u = sp1 + 1;
    const char *sp2 = memchr(u, ' ', (size_t)(lend - u));
    if (!sp2 || sp2 == u) return -1;
    /* Go refuses control bytes anywhere in the request target (400): they
     * would otherwise reach a redirect's Location header. */
    for (const char *c = u; c < sp2; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return -1;
    if (!(sp2 - u == 1 && *u == '*') && *u != '/') {
        /* absolute form (scheme://authority/path): the path is what follows the
         * authority; any other target that does not start with '/' is refused */
        const char *c = u;
        if (!isalpha((unsigned char)*c)) return -1;
        while (c < sp2 && (isalnum((unsigned char)*c) || *c == '+' || *c == '-' || *c == '.'))
            c++;
        if (sp2 - c < 3 || memcmp(c, "://", 3) != 0) return -1;
        c += 3;
        while (c < sp2 && *c != '/' && *c != '?')
            c++;
        u = c;
    }
    const char *q = memchr(u, '?', (size_t)(sp2 - u));
    req->path = (slice_t){u, (size_t)((q ? q : sp2) - u)};
    if (q) req->query = (slice_t){q + 1, (size_t)(sp2 - q - 1)};
    req->version = (slice_t){sp2 + 1, (size_t)(lend - sp2 - 1)};
    if (req->version.n < 8 || memcmp(req->version.p, "HTTP/1.", 7) != 0) return -1;
    for (size_t i = 0; i < req->method.n; i++)
        if (!isupper((unsigned char)req->method.p[i])) return -1;
    req->keep_alive = req->version.p[7] == '1';
    /* headers */
    p = le + 1;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) break;
        const char *he = e > p && e[-1] == '\r' ? e - 1 : e;
        const char *colon = memchr(p, ':', (size_t)(he - p));
        if (colon) {
            size_t kl = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < he && (*v == ' ' || *v == '\t'))
                v++;
            size_t vl = (size_t)(he - v);
            if (kl == 10 && strncasecmp(p, "connection", 10) == 0) {
                if (vl == 5 && strncasecmp(v, "close", 5) == 0)
                    req->keep_alive = false;
                else if (vl == 10 && strncasecmp(v, "keep-alive", 10) == 0)
                    req->keep_alive = true;
            } else if (kl == 14 && strncasecmp(p, "content-length", 14) == 0) {
                size_t n = 0;
                for (size_t i = 0; i < vl && i < 12 && isdigit((unsigned char)v[i]); i++)
                    n = n * 10 + (size_t)(v[i] - '0');
                req->content_length = n;
            }
        }
        p = e + 1;
    }
    return (long)(end - buf);
}

bool http_query_get(slice_t query, const char *name, slice_t *val)
{
    if (!query.p) return false; /* no query: NULL, and NULL + 0 is undefined */
    size_t nl = strlen(name);
    const char *p = query.p, *end = query.p + query.n;
    bool found = false;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0 && !found) {
            *val = eq ? (slice_t){eq + 1, (size_t)(pe - eq - 1)} : (slice_t){pe, 0};
            found = true; /* first occurrence wins, as Go's Query().Get */
        }
        p = amp ? amp + 1 : NULL;
    }
    return found;
}
