/* os.h: the platform seam of the layers above base: sockets, randomness, interface
 * addresses, process statistics. Callers keep one code path; the two implementations
 * are os_sock_posix.h (inline: the socket calls sit on every read and write, so Linux pays
 * nothing for the seam) with os_posix.c, and os_sock_win.h with os_win.c (mingw-w64). This
 * header only picks one; `#ifdef _WIN32` appears in these files and in evloop.h's
 * backend choice, nowhere else.
 *
 * The contract, the same on both:
 *
 * - A socket is an `int` on both. Windows' SOCKET is a UINT_PTR, but its value is a
 *   kernel handle, and Microsoft documents that handles are 32-bit significant (64-bit
 *   Windows shares them with 32-bit processes: "Interprocess Communication Between
 *   32-bit and 64-bit Applications"), so the truncation to int is lossless and
 *   INVALID_SOCKET becomes -1.
 * - Failing calls leave an errno value the callers test: EAGAIN/EWOULDBLOCK (would
 *   block), EINPROGRESS (a non-blocking connect under way), EINTR, ECONNABORTED,
 *   EMFILE/ENFILE/ENOBUFS/ENOMEM (temporary accept errors), EADDRINUSE, ECONNREFUSED,
 *   ECONNRESET... (Windows: WSAGetLastError mapped by os_win.c).
 * - os_sock_errno: errno after a failed plain socket call (bind, listen, getsockname).
 * - os_set_reuseaddr: a listener may rebind a port in TIME_WAIT but not one in use.
 * - os_connect_wait: a non-blocking connect waited for up to ms: 0, -1 when ms passed,
 *   or an errno value.
 * - os_block_signals/os_restore_signals: around pthread_create, so a thread does not take
 *   the signals the main thread waits for (nothing on Windows).
 * - os_sock_close closes a socket (never close() on one: Windows has two handle kinds).
 * - os_recv/os_send: one call; send never raises SIGPIPE.
 * - os_accept: a non-blocking, non-inherited socket, or -1 with errno.
 * - os_socket: a non-inherited socket, or -1 with errno; os_set_nonblock.
 * - os_random fills buf with n bytes from the OS's cryptographic generator (0, or -1).
 * - os_if_addrs: the unicast addresses of the interfaces that are up (IPv4, IPv6),
 *   with their interface index (the order Go lists them in) and whether loopback;
 *   a malloc'd array the caller frees, its count returned (-1 on failure).
 * - os_proc_cpu_ns (user + system CPU time), os_proc_rss_bytes (resident set).
 * - os_ncpus: processors online; os_strerror: strerror into a caller buffer.
 * - os_aligned_alloc/os_aligned_free: memory aligned to a power of two (Windows frees it
 *   with a call of its own).
 * - os_vm_reserve: n bytes of address space aligned to `align` (a power of two), not
 *   accessible; NULL where the platform has none of this (Windows: the callers fall back
 *   to malloc). os_vm_commit makes a range of it readable and writable, backed by memory
 *   only where touched (false on failure). os_vm_release gives the memory of a committed
 *   range back (its contents read as zero afterwards), the range stays usable.
 *   os_vm_huge asks for (or against) transparent huge pages in a range of it.
 * - os_tty_echo: switches the echo of the terminal on fd 0 off (false: the state before is
 *   kept) and back on (true); 0, or -1 when fd 0 is not a terminal. Async-signal-safe.
 * - os_tm_gmtoff: the offset from UTC of a localtime() result for t, in seconds.
 * - os_prog_name: the program's name without directory (and without .exe).
 * - os_rwlock_init_writer_pref: an rwlock whose waiting writers block new readers
 *   (glibc needs the attribute; Windows' winpthreads rwlocks take no kind).
 * - Windows only: WSAStartup runs once before main (a constructor in os_win.c), and
 *   files open in binary mode (no CRLF translation of logs, configs, PEM files). */
#ifndef GNATSD_OS_H
#define GNATSD_OS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef _WIN32
#include "base/os_sock_win.h"
#else
#include "base/os_sock_posix.h"
#endif

typedef struct os_ifaddr {
    struct sockaddr_storage addr; /* AF_INET or AF_INET6 */
    unsigned index;               /* interface index */
    bool loopback;
} os_ifaddr_t;

int os_random(void *buf, size_t n);
int os_if_addrs(os_ifaddr_t **out);
/* For the os_if_addrs implementations: appends sa (AF_INET or AF_INET6; other families
 * are skipped) to the growing array *v of *n entries, room for *cap. 0, or -1 when
 * memory ran out (the array so far stays valid). */
int os_ifaddr_append(os_ifaddr_t **v, int *n, int *cap, const struct sockaddr *sa, unsigned index,
                     bool loopback);
int64_t os_proc_cpu_ns(void);
void *os_vm_reserve(size_t n, size_t align);
bool os_vm_commit(void *p, size_t n);
void os_vm_release(void *p, size_t n);
void os_vm_huge(void *p, size_t n, bool on);
int64_t os_proc_rss_bytes(void);
long os_ncpus(void);
/* Names the calling thread (at most 15 characters show: ps -L, top -H, /proc/.../comm). */
void os_thread_name(const char *name);
const char *os_strerror(int e, char *buf, size_t n);
void os_rwlock_init_writer_pref(pthread_rwlock_t *l);
int os_tty_echo(bool on);
long os_tm_gmtoff(const struct tm *local, time_t t);
const char *os_prog_name(void);
/* Files of a JWT directory (base/jwtstore.c): the directory and its parents made if
 * missing (0, or -1 with errno); `to` replaced by `from` in one step; each name in dir
 * that ends with suffix handed to fn (0, or -1 if dir cannot be read). */
int os_mkdir_p(const char *path);
int os_rename_replace(const char *from, const char *to);
int os_list_dir(const char *dir, const char *suffix, void (*fn)(void *arg, const char *name),
                void *arg);

#endif
