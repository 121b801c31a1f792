/* ratelim.c: see ratelim.h. */
#include "base/ratelim.h"

bool ratelim_take(ratelim_t *r, int64_t limit, int64_t now_ns)
{
    if (limit <= 0) return true;
    pthread_mutex_lock(&r->mu);
    double cap = (double)limit;
    if (!r->started) {
        r->started = true;
        r->tokens = cap;
        r->last_ns = now_ns;
    } else if (now_ns > r->last_ns) {
        r->tokens += (double)(now_ns - r->last_ns) * cap / 1e9;
        if (r->tokens > cap) r->tokens = cap;
        r->last_ns = now_ns;
    }
    bool ok = r->tokens >= 1.0;
    if (ok) r->tokens -= 1.0;
    pthread_mutex_unlock(&r->mu);
    return ok;
}
