/* evloop_ev_epoll.h: evloop.h's backend block on Linux: the loop is an epoll set and an
 * eventfd, an event is epoll's own (evloop.h is the contract). */
#ifndef GNATSD_EVLOOP_EPOLL_H
#define GNATSD_EVLOOP_EPOLL_H

#include <stdint.h>
#include <sys/epoll.h>

/* A descriptor may leave one loop's set and join another's while the tag's owner
 * changes (core/affinity.c): after epoll_ctl(DEL) no event of it comes from the old set. */
#define EVLOOP_CAN_MOVE 1

typedef struct evloop {
    int epfd;                 /* the watched set */
    int evfd;                 /* the wake-up: its events carry the tag NULL */
    int64_t next_deadline_ns; /* monotonic; 0 = none */
} evloop_t;

typedef struct epoll_event evloop_event_t;
#define EVLOOP_READ EPOLLIN
#define EVLOOP_WRITE EPOLLOUT
#define EVLOOP_HUP (EPOLLRDHUP | EPOLLHUP | EPOLLERR) /* the peer's FIN, a hang-up, an error */
static inline void *evloop_tag(const evloop_event_t *e)
{
    return e->data.ptr;
}
static inline uint32_t evloop_what(const evloop_event_t *e)
{
    return e->events;
}
/* Edge-triggered both ways since evloop_add: the next edge comes by itself. */
static inline void evloop_blocked(evloop_t *l, int fd, uint32_t what)
{
    (void)l;
    (void)fd;
    (void)what;
}

#endif
