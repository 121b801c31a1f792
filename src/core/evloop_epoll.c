/* evloop_epoll.c: the event loop's mechanics on Linux: an epoll set and an eventfd
 * (evloop.h is the contract, evloop_ev_epoll.h the backend's block). */
#ifndef _WIN32
#include "core/evloop.h"
#include "base/common.h"
#include "base/qsbr.h"

#include <sys/eventfd.h>
#include <unistd.h>

int evloop_init(evloop_t *l)
{
    l->next_deadline_ns = 0;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->evfd < 0) return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev);
}

void evloop_free(evloop_t *l)
{
    if (l->epfd > 0) close(l->epfd);
    if (l->evfd > 0) close(l->evfd);
    l->epfd = l->evfd = 0;
}

static const uint32_t mode_events[] = {
    [EVLOOP_STREAM] = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
    [EVLOOP_ACCEPT] = EPOLLIN,
    [EVLOOP_ACCEPT_SHARED] = EPOLLIN | EPOLLEXCLUSIVE,
};

void evloop_add(evloop_t *l, int fd, void *tag, enum evloop_mode mode)
{
    struct epoll_event ev = {.events = mode_events[mode], .data.ptr = tag};
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void evloop_del(evloop_t *l, int fd)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void evloop_rearm(evloop_t *l, int fd, void *tag)
{
    /* Modifying an edge-triggered registration reports what is ready now. */
    struct epoll_event ev = {.events = mode_events[EVLOOP_STREAM], .data.ptr = tag};
    epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void evloop_wake(evloop_t *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->evfd, &one, sizeof one);
    (void)r;
}

void evloop_woken(evloop_t *l)
{
    uint64_t v;
    ssize_t r = read(l->evfd, &v, sizeof v);
    (void)r;
}

int evloop_wait(evloop_t *l, evloop_event_t *evs, int max, int max_ms)
{
    int timeout = evloop_timeout_ms(l, max_ms);
    qsbr_offline();
    int n = epoll_wait(l->epfd, evs, max, timeout);
    qsbr_online();
    return n;
}
#endif
