/* latency.h: service latency tracking (docs/accounts.md "Service latency").
 *
 * A service export with `latency` (config, or an account JWT's
 * service_latency) has requests through its imports measured: sampled by
 * percent, or by tracing headers (sampling "headers"; a percentage also lets a
 * header decide when the dice say no). For each measured request the
 * requester's server publishes one result in the exporting account on the
 * results subject: io.nats.server.metric.v1.service_latency JSON with status 200
 * (a response: service, system and total time, the requester's and responder's
 * client info and round trips), or 400 (no reply subject), 503 (nobody took the
 * request), 504 (no response within the export's threshold), 408 (the
 * requester stopped waiting). The requester's details are shared only if its
 * import says `share: true`.
 *
 * Across routes (the reference's scheme, so mixed clusters work both ways): a
 * measured request's reply ends in ".<hash>.T" (hash: 8 characters from this
 * server's name); the responder's server remembers such a request delivered to
 * a client of its own and, when that client answers, publishes its own
 * measurement ("m2") on $SYS.LATENCY.M2.<hash> in the system account; the
 * requester's server merges it with what it measured ("m1") and publishes.
 *
 * Both tables (requests measured here; requests answered here for another
 * server) are bounded (LATENCY_MAX entries each, the oldest dropped first) and
 * swept on the workers' ticks. Any worker thread; one mutex. */
#ifndef GNATSD_LATENCY_H
#define GNATSD_LATENCY_H

#include "core/core.h"

#define LATENCY_MAX 65536

/* Control plane, after the accounts and the system account: the imports' hooks, the
 * $SYS.LATENCY.M2 subscription, the routed-request hook. Nothing without a system
 * account (the reference refuses tracking then). */
void latency_start(void);
/* Shutdown: no new measurements (before the workers stop); then, after they stopped,
 * latency_free. */
void latency_stop(void);
void latency_free(void);

/* Requests this server delivered for another server's measurement, still waiting for
 * their answer: the PUB path checks this before latency_answered. */
extern _Atomic int64_t latency_remote_live;
/* Owner: client c published on subject; if it answers such a request, the
 * measurement goes to the requester's server. */
void latency_answered(worker_t *w, conn_t *c, slice_t subject);

#endif
