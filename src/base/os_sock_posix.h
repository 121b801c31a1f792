/* os_sock_posix.h: the socket half of os.h on Linux, inline (os.h is the contract). */
#ifndef GNATSD_OS_POSIX_H
#define GNATSD_OS_POSIX_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

static inline int os_sock_close(int fd)
{
    return close(fd);
}
static inline ssize_t os_recv(int fd, void *buf, size_t n)
{
    return read(fd, buf, n);
}
static inline ssize_t os_peek(int fd, void *buf, size_t n)
{
    return recv(fd, buf, n, MSG_PEEK);
}
static inline ssize_t os_send(int fd, const void *p, size_t n)
{
    return send(fd, p, n, MSG_NOSIGNAL);
}
static inline int os_accept(int lfd)
{
    return accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
static inline int os_socket(int family, int type)
{
    return socket(family, type | SOCK_CLOEXEC, 0);
}
static inline int os_connect(int fd, const struct sockaddr *a, socklen_t len)
{
    return connect(fd, a, len);
}
static inline int os_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}
static inline int os_setsockopt_int(int fd, int level, int opt, int v)
{
    return setsockopt(fd, level, opt, &v, sizeof v);
}
static inline void *os_aligned_alloc(size_t align, size_t n)
{
    return aligned_alloc(align, (n + align - 1) / align * align);
}
static inline void os_aligned_free(void *p)
{
    free(p);
}
/* errno after a failed socket call that is not an os_* one (bind, listen, getsockname). */
static inline int os_sock_errno(void)
{
    return errno;
}
/* A listener rebinds a port whose old connections linger in TIME_WAIT. */
static inline int os_set_reuseaddr(int fd)
{
    return os_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
}
/* The pending error of a socket (a non-blocking connect's outcome), as an errno value. */
static inline int os_sock_error(int fd)
{
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) return -1;
    return err;
}

/* A non-blocking connect to a, waited for up to ms: 0 once connected, -1 when ms passed,
 * else the errno value. */
static inline int os_connect_wait(int fd, const struct sockaddr *a, socklen_t len, int ms)
{
    if (connect(fd, a, len) == 0) return 0;
    if (errno != EINPROGRESS) return errno;
    struct pollfd pfd = {fd, POLLOUT, 0};
    int n = poll(&pfd, 1, ms);
    if (n == 0) return -1;
    if (n < 0) return errno;
    return os_sock_error(fd);
}

/* Signals a new thread must not take (the main thread waits for them): blocked around
 * pthread_create, so the thread inherits the mask. */
typedef sigset_t os_sigs_t;
static inline os_sigs_t os_block_signals(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    return old;
}
static inline void os_restore_signals(os_sigs_t old)
{
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

#endif
