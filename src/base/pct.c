#include "base/pct.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long pct_decode(slice_t in, char *out, size_t outsz, unsigned flags)
{
    size_t o = 0;
    long rc = 0;
    for (size_t i = 0; i < in.n; i++) {
        char c = in.p[i];
        if (c == '+' && (flags & PCT_PLUS)) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < in.n ? hexval(in.p[i + 1]) : -1;
            int lo = i + 2 < in.n ? hexval(in.p[i + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi << 4 | lo);
                i += 2;
            } else if (flags & PCT_STRICT) {
                rc = -1;
                break;
            }
        }
        if (o + 1 >= outsz) {
            rc = -1;
            break;
        }
        out[o++] = c;
    }
    if (outsz) out[o] = 0;
    return rc < 0 ? -1 : (long)o;
}
