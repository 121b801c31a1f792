/* dial.h: one outbound TCP connection to a nats URL (host and port taken as a
 * route URL's, proto/route_parse.h), for the threads that dial routes and leaf
 * node remotes: name lookup, a 1 s connect timeout per address, TCP_NODELAY.
 * Blocking: dialer threads only. */
#ifndef GNATSD_DIAL_H
#define GNATSD_DIAL_H

#include <stdbool.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* A connected non-blocking socket, or -1 with err set to the reference's wording
 * ("dial tcp host:port: connect: connection refused"). default_port: a URL without a
 * port (4222 for routes, 7422 for leaf node remotes). */
int dial_url(const char *url, int default_port, char *err, size_t errlen);
/* Waits ns on cv (with mu) or until *stop or the server shuts down; true if it must
 * stop. The dialer threads' pause between attempts. */
bool dial_wait(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *stop, int64_t ns);
/* Does url name a port (host:port, [v6]:port)? */
bool url_has_port(const char *url);

#endif
