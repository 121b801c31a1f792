/* dial.c: see dial.h. */
#include "nats/dial.h"
#include "proto/route_parse.h"
#include "base/os.h"
#include "core/core.h"

#include <errno.h>
#include <time.h>

#include <stdio.h>
#include <string.h>

bool url_has_port(const char *url)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t n = strcspn(h, "/?#");
    const char *at = NULL;
    for (const char *q = h; q < h + n; q++)
        if (*q == '@') at = q;
    if (at) {
        n -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    if (n && h[0] == '[') {
        const char *rb = memchr(h, ']', n);
        return rb && rb + 1 < h + n && rb[1] == ':';
    }
    return memchr(h, ':', n) != NULL;
}

int dial_url(const char *url, int default_port, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (route_url_split(url, host, sizeof host, &port, NULL, 0, NULL, 0) != 0) {
        snprintf(err, errlen, "bad route URL");
        return -1;
    }
    if (!url_has_port(url)) port = default_port;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "dial tcp: lookup %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = os_socket(ai->ai_family, ai->ai_socktype);
        if (fd < 0) continue;
        os_set_nonblock(fd);
        int e = os_connect_wait(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen, 1000);
        if (e != 0) {
            char why[128];
            snprintf(err, errlen, "dial tcp %s:%d: connect: %s", host, port,
                     e < 0 ? "i/o timeout" : os_strerror(e, why, sizeof why));
            os_sock_close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) os_setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    return fd;
}

bool dial_wait(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *stop, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec += (long)(ns % 1000000000LL);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(mu);
    while (!*stop && !atomic_load(&srv->shutting_down))
        if (pthread_cond_timedwait(cv, mu, &ts) == ETIMEDOUT) break;
    bool out = *stop || atomic_load(&srv->shutting_down);
    pthread_mutex_unlock(mu);
    return out;
}
