/* ratelim.h: a token bucket: at most `limit` events per second, in bursts of at most
 * `limit`; after a burst, one more each 1/limit s. It is the shape of the reference's
 * connection_rate_limit (a Go rate.Limiter whose burst is the limit, full at first).
 * Counted per calendar second instead, twice the limit went through across a second's
 * edge (docs/performance.md, eleventh pass).
 *
 * Contract: ratelim_take says whether one event may happen now (and takes its token);
 * limit <= 0 allows everything. Thread-safe (a mutex: it runs per accepted TLS
 * connection, next to a handshake's ~1 ms). A zeroed ratelim_t with its mutex
 * initialised (RATELIM_INIT) is a full bucket. */
#ifndef GNATSD_RATELIM_H
#define GNATSD_RATELIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ratelim {
    pthread_mutex_t mu;
    bool started;
    double tokens;
    int64_t last_ns;
} ratelim_t;

#define RATELIM_INIT                                                                               \
    {                                                                                              \
        .mu = PTHREAD_MUTEX_INITIALIZER                                                            \
    }

bool ratelim_take(ratelim_t *r, int64_t limit, int64_t now_ns);

#endif
