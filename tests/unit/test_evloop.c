/* test_evloop.c: the platform seams, on whichever backend the build has: evloop.h's
 * contract (edge-triggered streams re-armed by evloop_blocked, level-triggered
 * listeners, coalesced wake-ups, deletion with a poll pending) and os.h's socket
 * errno values, randomness, interface addresses and process statistics. Runs natively
 * on Linux (epoll) and, cross-built, under wine (AFD polls; tests/wine.sh unit). */
#include "test.h"

#include "base/common.h"
#include "base/os.h"
#include "core/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define SHORT_MS 150 /* "nothing happens": long enough for a poll to complete under wine */

/* A loopback listener (non-blocking) on a free port. */
static int listener(int *port)
{
    int fd = os_socket(AF_INET, SOCK_STREAM);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) return -1;
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    os_set_nonblock(fd);
    return fd;
}

static int dial(int port)
{
    int fd = os_socket(AF_INET, SOCK_STREAM);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    os_set_nonblock(fd);
    if (os_connect_wait(fd, (struct sockaddr *)&a, sizeof a, 5000) != 0) {
        os_sock_close(fd);
        return -1;
    }
    return fd;
}

/* Waits up to ms for events; returns the EVLOOP bits reported for tag (0: none), and
 * counts every event in *n when n is given. */
static uint32_t wait_for(evloop_t *l, void *tag, int ms, int *n)
{
    evloop_event_t evs[16];
    uint32_t what = 0;
    int64_t until = now_mono_ns() + (int64_t)ms * 1000000;
    for (;;) {
        int64_t left = (until - now_mono_ns()) / 1000000;
        int k = evloop_wait(l, evs, 16, left > 0 ? (int)left : 0);
        for (int i = 0; i < k; i++) {
            if (n) (*n)++;
            if (evloop_tag(&evs[i]) == tag) what |= evloop_what(&evs[i]);
        }
        if (what || left <= 0) return what;
    }
}

static int accept_wait(int lfd)
{
    for (int i = 0; i < 500; i++) {
        int fd = os_accept(lfd);
        if (fd >= 0) return fd;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Reads until the socket would block; returns the bytes read. */
static int drain(int fd)
{
    char buf[65536];
    int total = 0;
    for (;;) {
        ssize_t n = os_recv(fd, buf, sizeof buf);
        if (n <= 0) return total;
        total += (int)n;
    }
}

TEST(os_socket_errno)
{
    int port;
    int lfd = listener(&port);
    CHECK(lfd >= 0);
    int c = dial(port);
    CHECK(c >= 0);
    int s = accept_wait(lfd);
    CHECK(s >= 0);
    char b[4];
    CHECK_EQ_INT(os_recv(s, b, sizeof b), -1);
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    /* a port in use: the second bind fails with EADDRINUSE (reuse only for TIME_WAIT) */
    int d = os_socket(AF_INET, SOCK_STREAM);
    os_set_reuseaddr(d);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(d, (struct sockaddr *)&a, sizeof a) != 0);
    CHECK_EQ_INT(os_sock_errno(), EADDRINUSE);
    os_sock_close(d);
    os_sock_close(c);
    os_sock_close(s);
    os_sock_close(lfd);
    /* nobody listens there any more: refused */
    int e = os_socket(AF_INET, SOCK_STREAM);
    os_set_nonblock(e);
    CHECK_EQ_INT(os_connect_wait(e, (struct sockaddr *)&a, sizeof a, 5000), ECONNREFUSED);
    os_sock_close(e);
}

TEST(os_random_addrs_proc)
{
    unsigned char a[32] = {0}, b[32] = {0};
    CHECK_EQ_INT(os_random(a, sizeof a), 0);
    CHECK_EQ_INT(os_random(b, sizeof b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    os_ifaddr_t *ifa = NULL;
    int n = os_if_addrs(&ifa);
    CHECK(n > 0);
    bool lo = false;
    for (int i = 0; i < n; i++)
        if (ifa[i].addr.ss_family == AF_INET &&
            ((struct sockaddr_in *)&ifa[i].addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
            lo = ifa[i].loopback;
    CHECK(lo); /* 127.0.0.1, marked loopback */
    free(ifa);
    int64_t cpu0 = os_proc_cpu_ns();
    volatile uint64_t x = 0;
    for (int64_t until = now_mono_ns() + 50000000; now_mono_ns() < until;)
        x += 1;
    CHECK(os_proc_cpu_ns() > cpu0);
    CHECK(os_proc_rss_bytes() > 1024 * 1024);
    CHECK(os_ncpus() >= 1);
    char buf[64];
    CHECK(strlen(os_strerror(ECONNREFUSED, buf, sizeof buf)) > 0);
}

TEST(listener_is_level_triggered)
{
    evloop_t l;
    CHECK_EQ_INT(evloop_init(&l), 0);
    int port, tag;
    int lfd = listener(&port);
    evloop_add(&l, lfd, &tag, EVLOOP_ACCEPT);
    CHECK_EQ_INT(wait_for(&l, &tag, SHORT_MS, NULL), 0);
    int c1 = dial(port), c2 = dial(port);
    CHECK(wait_for(&l, &tag, 5000, NULL) & EVLOOP_READ);
    int s1 = accept_wait(lfd);
    CHECK(s1 >= 0);
    /* one still waits: reported again without a new connection */
    CHECK(wait_for(&l, &tag, 5000, NULL) & EVLOOP_READ);
    int s2 = accept_wait(lfd);
    CHECK(s2 >= 0);
    CHECK_EQ_INT(os_accept(lfd), -1);
    CHECK_EQ_INT(wait_for(&l, &tag, SHORT_MS, NULL), 0);
    evloop_del(&l, lfd);
    os_sock_close(lfd);
    int fds[] = {c1, c2, s1, s2};
    for (int i = 0; i < 4; i++)
        os_sock_close(fds[i]);
    evloop_free(&l);
}

TEST(stream_is_edge_triggered)
{
    evloop_t l;
    CHECK_EQ_INT(evloop_init(&l), 0);
    int port, tag;
    int lfd = listener(&port);
    int c = dial(port);
    int s = accept_wait(lfd);
    evloop_add(&l, s, &tag, EVLOOP_STREAM);
    os_send(c, "a", 1);
    CHECK(wait_for(&l, &tag, 5000, NULL) & EVLOOP_READ);
    /* not read (a paused owner): no new edge, no new event */
    CHECK_EQ_INT(wait_for(&l, &tag, SHORT_MS, NULL) & EVLOOP_READ, 0);
    /* the owner stops early with data left: evloop_rearm reports it again */
    evloop_rearm(&l, s, &tag);
    CHECK(wait_for(&l, &tag, 5000, NULL) & EVLOOP_READ);
    CHECK_EQ_INT(drain(s), 1);
    evloop_blocked(&l, s, EVLOOP_READ);
    CHECK_EQ_INT(wait_for(&l, &tag, SHORT_MS, NULL) & EVLOOP_READ, 0);
    /* new bytes: a new edge */
    os_send(c, "bc", 2);
    CHECK(wait_for(&l, &tag, 5000, NULL) & EVLOOP_READ);
    CHECK_EQ_INT(drain(s), 2);
    evloop_blocked(&l, s, EVLOOP_READ);
    /* a write that would block resumes on EVLOOP_WRITE once the peer reads */
    static char big[65536];
    int sent = 0;
    for (int i = 0; i < 10000; i++) {
        ssize_t n = os_send(s, big, sizeof big);
        if (n < 0) break;
        sent += (int)n;
    }
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    evloop_blocked(&l, s, EVLOOP_WRITE);
    CHECK_EQ_INT(wait_for(&l, &tag, SHORT_MS, NULL) & EVLOOP_WRITE, 0);
    int got = 0;
    uint32_t what = 0;
    for (int64_t until = now_mono_ns() + 5000000000LL; !what && now_mono_ns() < until;) {
        got += drain(c);
        what = wait_for(&l, &tag, 20, NULL) & EVLOOP_WRITE;
    }
    CHECK(what);
    CHECK(got > 0 && got <= sent);
    /* the peer's end: read readiness with the hang-up bit */
    os_sock_close(c);
    CHECK(wait_for(&l, &tag, 5000, NULL) & EVLOOP_HUP);
    evloop_del(&l, s);
    os_sock_close(s);
    os_sock_close(lfd);
    evloop_free(&l);
}

TEST(del_with_poll_pending)
{
    evloop_t l;
    CHECK_EQ_INT(evloop_init(&l), 0);
    int port, tag, tag2;
    int lfd = listener(&port);
    int c = dial(port);
    int s = accept_wait(lfd);
    evloop_add(&l, s, &tag, EVLOOP_STREAM); /* its read poll is out */
    evloop_blocked(&l, s, EVLOOP_WRITE);
    evloop_del(&l, s);
    os_sock_close(s);
    os_send(c, "x", 1);
    /* another socket takes the loop meanwhile; only its events come */
    int c2 = dial(port);
    int s2 = accept_wait(lfd);
    evloop_add(&l, s2, &tag2, EVLOOP_STREAM);
    os_send(c2, "y", 1);
    int n = 0;
    CHECK(wait_for(&l, &tag2, 5000, &n) & EVLOOP_READ);
    CHECK_EQ_INT(wait_for(&l, &tag, SHORT_MS, NULL), 0);
    evloop_del(&l, s2);
    int fds[] = {c, c2, s2, lfd};
    for (int i = 0; i < 4; i++)
        os_sock_close(fds[i]);
    evloop_free(&l);
}

static void *waker(void *arg)
{
    for (int i = 0; i < 100; i++)
        evloop_wake(arg);
    return NULL;
}

TEST(wake_ups_coalesce)
{
    evloop_t l;
    CHECK_EQ_INT(evloop_init(&l), 0);
    pthread_t th;
    pthread_create(&th, NULL, waker, &l);
    pthread_join(th, NULL);
    evloop_event_t evs[256];
    int n = evloop_wait(&l, evs, 256, 5000);
    CHECK(n >= 1 && n < 100);
    CHECK(evloop_tag(&evs[0]) == NULL);
    evloop_woken(&l);
    CHECK_EQ_INT(evloop_wait(&l, evs, 256, SHORT_MS), 0);
    evloop_wake(&l);
    CHECK_EQ_INT(evloop_wait(&l, evs, 256, 5000), 1);
    evloop_woken(&l);
    evloop_free(&l);
}

TEST(shared_listener_wakes_a_loop)
{
    evloop_t a, b;
    CHECK_EQ_INT(evloop_init(&a), 0);
    CHECK_EQ_INT(evloop_init(&b), 0);
    int port, tag;
    int lfd = listener(&port);
    evloop_add(&a, lfd, &tag, EVLOOP_ACCEPT_SHARED);
    evloop_add(&b, lfd, &tag, EVLOOP_ACCEPT_SHARED);
    int c = dial(port);
    uint32_t wa = wait_for(&a, &tag, 2000, NULL), wb = wait_for(&b, &tag, SHORT_MS, NULL);
    CHECK((wa | wb) & EVLOOP_READ);
    int s = accept_wait(lfd);
    CHECK(s >= 0);
    CHECK_EQ_INT(wait_for(&a, &tag, SHORT_MS, NULL) | wait_for(&b, &tag, SHORT_MS, NULL), 0);
    /* one loop lets it go: the other still accepts */
    evloop_del(&a, lfd);
    int c2 = dial(port);
    uint32_t w = 0;
    for (int i = 0; i < 20 && !w; i++)
        w = wait_for(&b, &tag, 100, NULL) | wait_for(&a, &tag, 0, NULL);
    CHECK(w & EVLOOP_READ);
    int s2 = accept_wait(lfd);
    CHECK(s2 >= 0);
    evloop_del(&b, lfd);
    int fds[] = {c, c2, s, s2, lfd};
    for (int i = 0; i < 5; i++)
        os_sock_close(fds[i]);
    evloop_free(&a);
    evloop_free(&b);
}

int main(void)
{
    RUN(os_socket_errno);
    RUN(os_random_addrs_proc);
    RUN(listener_is_level_triggered);
    RUN(stream_is_edge_triggered);
    RUN(del_with_poll_pending);
    RUN(wake_ups_coalesce);
    RUN(shared_listener_wakes_a_loop);
    return test_summary();
}
