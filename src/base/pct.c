#include "base/pct.h"

long pct_decode(slice_t in, char *out, size_t outsz, unsigned flags)
{
    size_t o = 0;
    long rc = 0;
    for (size_t i = 0; i < in.n; i++) {
        char c = in.p[i];
        if (c == '+' && (flags & PCT_PLUS)) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < in.n ? hex_val(in.p[i + 1]) : -1;
            int lo = i + 2 < in.n ? hex_val(in.p[i + 2]) : -1;
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
