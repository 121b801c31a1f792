/* params.c: the query-parameter decoders the endpoints share (mon_*).
 * A value is percent-decoded like Go's url.Query().Get, then parsed like
 * strconv's ParseBool / Atoi / ParseUint; a bad value is a 400 whose text is
 * the reference's, byte for byte ("Error decoding boolean for 'subs':
 * strconv.ParseBool: parsing \"x\": invalid syntax"). */
#include "base/gofmt.h"
#include "base/pct.h"
#include "monitor/monitor.h"
#include "proto/http.h"

#include <strings.h>

bool mon_param(const http_req_t *req, const char *name, char *out, size_t outsz)
{
    slice_t v;
    out[0] = 0;
    if (!http_query_get(req->query, name, &v) || v.n == 0) return false;
    /* Go drops a malformed pair from url.Query(): treat it as absent. */
    if (pct_decode(v, out, outsz, PCT_PLUS | PCT_STRICT) <= 0) {
        out[0] = 0;
        return false;
    }
    return true;
}

static int bad_param(buf_t *err, const char *type, const char *name, const char *fn,
                     const char *val, const char *why)
{
    char q[4 * 256 + 3]; /* the callers' values fit in 256 bytes */
    quote_go_str(q, sizeof q, val);
    buf_printf(err, "Error decoding %s for '%s': %s: parsing %s: %s", type, name, fn, q, why);
    return 400;
}

int mon_bool(const http_req_t *req, const char *name, bool *v, buf_t *err)
{
    char s[256];
    *v = false;
    if (!mon_param(req, name, s, sizeof s)) return 0;
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < ARRAY_LEN(t); i++) {
        if (strcmp(s, t[i]) == 0) {
            *v = true;
            return 0;
        }
        if (strcmp(s, f[i]) == 0) return 0;
    }
    return bad_param(err, "boolean", name, "strconv.ParseBool", s, "invalid syntax");
}

/* strconv.ParseUint base 10 digits (no sign): 0 ok, -1 syntax, -2 range. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t n = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        if (n > UINT64_MAX / 10) return -2;
        uint64_t n1 = n * 10 + (uint64_t)(*s - '0');
        if (n1 < n * 10) return -2;
        n = n1;
    }
    *out = n;
    return 0;
}

int mon_int(const http_req_t *req, const char *name, int64_t *v, buf_t *err)
{
    char s[256];
    *v = 0;
    if (!mon_param(req, name, s, sizeof s)) return 0;
    const char *d = s;
    bool neg = false;
    if (*d == '+' || *d == '-') neg = *d++ == '-';
    uint64_t u = 0;
    int rc = parse_u64(d, &u);
    if (rc == 0 && u > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) rc = -2;
    if (rc)
        return bad_param(err, "int", name, "strconv.Atoi", s,
                         rc == -1 ? "invalid syntax" : "value out of range");
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

int mon_uint64(const http_req_t *req, const char *name, uint64_t *v, buf_t *err)
{
    char s[256];
    *v = 0;
    if (!mon_param(req, name, s, sizeof s)) return 0;
    int rc = parse_u64(s, v);
    if (rc)
        return bad_param(err, "uint64", name, "strconv.ParseUint", s,
                         rc == -1 ? "invalid syntax" : "value out of range");
    return 0;
}

int mon_subs(const http_req_t *req, bool *subs, bool *detail, buf_t *err)
{
    char s[256];
    *subs = *detail = false;
    if (mon_param(req, "subs", s, sizeof s) && strcasecmp(s, "detail") == 0) {
        *detail = true;
        return 0;
    }
    return mon_bool(req, "subs", subs, err);
}
