/* os_sock_win.h: the socket half of os.h on Windows (mingw-w64; os.h is the contract,
 * os_win.c the implementation): Winsock's headers, the POSIX types and names the
 * callers use that Windows lacks, and the socket calls, which map WSAGetLastError to
 * errno values. */
#ifndef GNATSD_OS_WIN_H
#define GNATSD_OS_WIN_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
/* wingdi.h's ERROR would clash with log.h's */
#ifndef NOGDI
#define NOGDI
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <afunix.h>
#include <windows.h>

#include <errno.h>
#include <io.h>
#include <malloc.h>
#include <sys/types.h>
#include <unistd.h>

/* Delivery stages messages as iovecs (never passed to the OS here: os_win.c's send
 * takes one buffer). */
struct iovec {
    void *iov_base;
    size_t iov_len;
};

#ifndef SHUT_WR
#define SHUT_WR SD_SEND
#endif

/* The link-local and loopback tests of netinet/in.h. */
#ifndef IN6_IS_ADDR_LINKLOCAL
#define IN6_IS_ADDR_LINKLOCAL(a) (((a)->s6_addr[0] == 0xfe) && (((a)->s6_addr[1] & 0xc0) == 0x80))
#endif

int os_sock_close(int fd);
ssize_t os_recv(int fd, void *buf, size_t n);
ssize_t os_peek(int fd, void *buf, size_t n);
ssize_t os_send(int fd, const void *p, size_t n);
int os_accept(int lfd);
int os_socket(int family, int type);
int os_connect(int fd, const struct sockaddr *a, socklen_t len);
int os_set_nonblock(int fd);
int os_setsockopt_int(int fd, int level, int opt, int v);
int os_sock_error(int fd);
int os_connect_wait(int fd, const struct sockaddr *a, socklen_t len, int ms);
/* errno from the last failed Winsock call (os.h: os_sock_errno). */
int os_wsa_errno(void);
static inline int os_sock_errno(void)
{
    return os_wsa_errno();
}
/* Windows rebinds a port in TIME_WAIT by default, and its SO_REUSEADDR would let a second
 * listener steal a bound port: a listener asks for exclusive use instead, so "address
 * already in use" is reported as on Linux. */
int os_set_reuseaddr(int fd);

static inline void *os_aligned_alloc(size_t align, size_t n)
{
    return _aligned_malloc(n, align);
}
static inline void os_aligned_free(void *p)
{
    _aligned_free(p);
}

/* Windows delivers no POSIX signals to threads: nothing to block. */
typedef int os_sigs_t;
static inline os_sigs_t os_block_signals(void)
{
    return 0;
}
static inline void os_restore_signals(os_sigs_t old)
{
    (void)old;
}

#endif
