/* listen.c: the listeners the workers accept on (one registered row per port:
 * its fd, its name in log lines, the handler table of the connections it
 * accepts), binding, accepting and spreading the sockets round-robin, and the
 * accept back-off on temporary errors that the monitoring port shares. */
#include "core/loop.h"
#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct listener listeners[MAX_LISTENERS];

/* ---- accepting ------------------------------------------------------------ */

bool accept_error_temporary(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

int64_t accept_backoff_begin(accept_backoff_t *b, const char *name, int lfd, int err,
                             int64_t now_ns)
{
    int64_t idle = 0, d = atomic_load(&b->delay_ns);
    int64_t min = b->min_ns ? b->min_ns : ACCEPT_MIN_SLEEP_NS;
    if (d < min) d = min;
    /* One back-off at a time: the thread that starts it logs it and resumes the listener. */
    if (!atomic_compare_exchange_strong(&b->resume_ns, &idle, now_ns + d)) return 0;
    atomic_store(&b->delay_ns, d * 2 < ACCEPT_MAX_SLEEP_NS ? d * 2 : ACCEPT_MAX_SLEEP_NS);
    char addr[INET6_ADDRSTRLEN + 8] = "";
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "";
        int port = 0;
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            snprintf(addr, sizeof addr, "[%s]:%d", ip, port);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            snprintf(addr, sizeof addr, "%s:%d", ip, port);
        }
    }
    /* The reference's line, Go's error text (lower-case strerror) included. */
    char why[128];
    snprintf(why, sizeof why, "%s", strerror(err));
    why[0] = (char)tolower((unsigned char)why[0]);
    if (b->log)
        b->log(addr, why, d);
    else
        ERROR("Temporary %s Accept Error(accept tcp %s: accept4: %s), sleeping %lldms", name, addr,
              why, (long long)(d / 1000000));
    return d;
}

void accept_backoff_ok(accept_backoff_t *b)
{
    if (unlikely(atomic_load_explicit(&b->delay_ns, memory_order_relaxed)))
        atomic_store_explicit(&b->delay_ns, 0, memory_order_relaxed);
}
static int nlisteners;

void listener_add(int fd, const char *name, const conn_ops_t *ops)
{
    if (nlisteners == MAX_LISTENERS) abort();
    struct listener *l = &listeners[nlisteners++];
    pthread_rwlock_init(&l->lock, NULL);
    atomic_store(&l->fd, fd);
    l->name = name;
    l->ops = ops;
    atomic_store(&l->owner, -1);
    for (int i = 0; i < srv->nworkers; i++)
        evloop_add(&srv->workers[i].loop, fd, l, EVLOOP_ACCEPT_SHARED);
}

void listener_remove(int fd)
{
    struct listener *l = NULL;
    for (int k = 0; k < nlisteners && fd >= 0 && !l; k++)
        if (atomic_load(&listeners[k].fd) == fd) l = &listeners[k];
    if (l) pthread_rwlock_wrlock(&l->lock);
    if (l) atomic_store(&l->fd, -1);
    for (int i = 0; i < srv->nworkers; i++)
        evloop_del(&srv->workers[i].loop, fd);
    os_sock_close(fd);
    if (l) pthread_rwlock_unlock(&l->lock);
}

/* A temporary accept error (out of descriptors or memory) on a level-triggered listener
 * would wake every worker again at once (137,000 log lines a second): the listener leaves
 * every worker's loop for the back-off, connections already open are served
 * meanwhile, and the worker that paused it puts it back (run_listeners). l->lock read-held. */
static void listener_pause(worker_t *self, struct listener *l, int lfd, int err)
{
    int64_t d = accept_backoff_begin(&l->bo, l->name, lfd, err, self->now_ns);
    if (!d) return;
    l->paused_fd = lfd;
    atomic_store(&l->owner, self->id);
    for (int i = 0; i < srv->nworkers; i++)
        evloop_del(&srv->workers[i].loop, lfd);
    self->listener_paused = true;
    worker_note_deadline(self, self->now_ns + d);
}

/* Owner of a paused listener: back in every worker's loop once its back-off is over. */
void run_listeners(worker_t *w)
{
    bool left = false;
    for (int k = 0; k < nlisteners; k++) {
        struct listener *l = &listeners[k];
        if (atomic_load(&l->owner) != w->id) continue;
        int64_t due = atomic_load(&l->bo.resume_ns);
        if (w->now_ns < due) {
            worker_note_deadline(w, due);
            left = true;
            continue;
        }
        pthread_rwlock_rdlock(&l->lock);
        if (atomic_load(&l->fd) == l->paused_fd) /* not closed meanwhile (lame duck, shutdown) */
            for (int i = 0; i < srv->nworkers; i++)
                evloop_add(&srv->workers[i].loop, l->paused_fd, l, EVLOOP_ACCEPT_SHARED);
        pthread_rwlock_unlock(&l->lock);
        atomic_store(&l->owner, -1);
        atomic_store(&l->bo.resume_ns, 0);
    }
    w->listener_paused = left;
}

static void accept_locked(worker_t *self, struct listener *l)
{
    int lfd = atomic_load(&l->fd);
    if (lfd < 0) return; /* removed since the event (lame duck, shutdown) */
    for (;;) {
        int fd = os_accept(lfd);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED) continue;
            if (e == EAGAIN || e == EWOULDBLOCK) return;
            if (accept_error_temporary(e)) {
                listener_pause(self, l, lfd, e);
            } else {
                ERROR("Error accepting %s connection: %s", l->ops->name, strerror(e));
            }
            return;
        }
        accept_backoff_ok(&l->bo);
        os_setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
        uint32_t k = atomic_fetch_add(&srv->rr, 1) % (uint32_t)srv->nworkers;
        inq_item_t it = {.fd = fd, .ops = l->ops};
        hand_to(self, &srv->workers[k], &it);
    }
}

/* Accepts everything pending on l and spreads the sockets round-robin; the read
 * lock keeps the descriptor open meanwhile. */
void do_accept(worker_t *self, struct listener *l)
{
    pthread_rwlock_rdlock(&l->lock);
    accept_locked(self, l);
    pthread_rwlock_unlock(&l->lock);
}

/* Binds host:port; port -1 picks a free one. Returns fd or -1 with err. */
int listen_on(const char *host, int port, int *bound_port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port < 0 ? 0 : port);
    const char *h = host && *host ? host : NULL;
    int rc = getaddrinfo(h, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen tcp %s:%d: %s", host ? host : "", port, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    int saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = os_socket(ai->ai_family, ai->ai_socktype);
        if (fd < 0) continue;
        os_set_reuseaddr(fd);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
        saved = os_sock_errno();
        os_sock_close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "listen tcp %s:%d: bind: %s", host ? host : "", port,
                 saved == EADDRINUSE ? "address already in use" : strerror(saved));
        return -1;
    }
    os_set_nonblock(fd);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}
