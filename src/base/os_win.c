/* os_win.c: os.h on Windows (mingw-w64): Winsock with errno values the callers test,
 * BCryptGenRandom, GetAdaptersAddresses, GetProcessTimes/GetProcessMemoryInfo. */
#ifdef _WIN32
#include "base/os.h"

#include <bcrypt.h>
#include <direct.h>
#include <errno.h>
#include <fcntl.h>
#include <iphlpapi.h>
#include <limits.h>
#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before main and before any thread: Winsock once, and binary files (the log, configs and
 * PEM files are read and written byte for byte, as on Linux). */
__attribute__((constructor)) static void os_win_init(void)
{
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        fprintf(stderr, "WSAStartup failed\n");
        exit(1);
    }
    _fmode = _O_BINARY;
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
    _setmode(_fileno(stderr), _O_BINARY);
}

static int wsa_to_errno(int w)
{
    switch (w) {
    case WSAEWOULDBLOCK:
        return EWOULDBLOCK;
    case WSAEINPROGRESS:
        return EINPROGRESS;
    case WSAEALREADY:
        return EALREADY;
    case WSAEINTR:
        return EINTR;
    case WSAECONNABORTED:
        return ECONNABORTED;
    case WSAECONNRESET:
        return ECONNRESET;
    case WSAECONNREFUSED:
        return ECONNREFUSED;
    case WSAETIMEDOUT:
        return ETIMEDOUT;
    case WSAEMFILE:
        return EMFILE;
    case WSAENOBUFS:
        return ENOBUFS;
    case WSAEADDRINUSE:
        return EADDRINUSE;
    case WSAEADDRNOTAVAIL:
        return EADDRNOTAVAIL;
    case WSAENETUNREACH:
        return ENETUNREACH;
    case WSAEHOSTUNREACH:
        return EHOSTUNREACH;
    case WSAENOTCONN:
        return ENOTCONN;
    case WSAESHUTDOWN:
        return EPIPE;
    case WSAENOTSOCK:
        return ENOTSOCK;
    case WSAEBADF:
        return EBADF;
    case WSAEINVAL:
        return EINVAL;
    case WSAEACCES:
        return EACCES;
    case WSAEAFNOSUPPORT:
        return EAFNOSUPPORT;
    case WSAEMSGSIZE:
        return EMSGSIZE;
    case WSA_NOT_ENOUGH_MEMORY:
        return ENOMEM;
    default:
        return EIO;
    }
}

int os_wsa_errno(void)
{
    return wsa_to_errno(WSAGetLastError());
}

static int fail(void)
{
    errno = os_wsa_errno();
    return -1;
}

int os_sock_close(int fd)
{
    return closesocket((SOCKET)(unsigned)fd) == 0 ? 0 : fail();
}

static int clamp(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

ssize_t os_recv(int fd, void *buf, size_t n)
{
    int r = recv((SOCKET)(unsigned)fd, buf, clamp(n), 0);
    return r >= 0 ? r : fail();
}

ssize_t os_peek(int fd, void *buf, size_t n)
{
    int r = recv((SOCKET)(unsigned)fd, buf, clamp(n), MSG_PEEK);
    return r >= 0 ? r : fail();
}

ssize_t os_send(int fd, const void *p, size_t n)
{
    int r = send((SOCKET)(unsigned)fd, p, clamp(n), 0); /* Windows has no SIGPIPE */
    return r >= 0 ? r : fail();
}

int os_set_nonblock(int fd)
{
    u_long one = 1;
    return ioctlsocket((SOCKET)(unsigned)fd, FIONBIO, &one) == 0 ? 0 : fail();
}

int os_accept(int lfd)
{
    SOCKET s = accept((SOCKET)(unsigned)lfd, NULL, NULL);
    if (s == INVALID_SOCKET) return fail();
    int fd = (int)s;
    if (os_set_nonblock(fd) != 0) {
        int e = errno;
        closesocket(s);
        errno = e;
        return -1;
    }
    return fd;
}

int os_socket(int family, int type)
{
    SOCKET s =
        WSASocketW(family, type, 0, NULL, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    return s == INVALID_SOCKET ? fail() : (int)s;
}

int os_connect(int fd, const struct sockaddr *a, socklen_t len)
{
    if (connect((SOCKET)(unsigned)fd, a, len) == 0) return 0;
    int e = os_wsa_errno();
    errno = e == EWOULDBLOCK ? EINPROGRESS : e; /* Windows' word for a connect under way */
    return -1;
}

int os_setsockopt_int(int fd, int level, int opt, int v)
{
    return setsockopt((SOCKET)(unsigned)fd, level, opt, (const char *)&v, sizeof v) == 0 ? 0
                                                                                         : fail();
}

int os_set_reuseaddr(int fd)
{
    return os_setsockopt_int(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1);
}

int os_sock_error(int fd)
{
    int err = 0, el = sizeof err;
    if (getsockopt((SOCKET)(unsigned)fd, SOL_SOCKET, SO_ERROR, (char *)&err, &el) != 0) return -1;
    return err ? wsa_to_errno(err) : 0;
}

int os_connect_wait(int fd, const struct sockaddr *a, socklen_t len, int ms)
{
    if (os_connect(fd, a, len) == 0) return 0;
    if (errno != EINPROGRESS) return errno;
    /* One socket, once, on a dialer thread: select is fine here (WSAPoll would miss a
     * failed connect; the except set reports it). */
    SOCKET s = (SOCKET)(unsigned)fd;
    fd_set w, x;
    FD_ZERO(&w);
    FD_ZERO(&x);
    FD_SET(s, &w);
    FD_SET(s, &x);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    int n = select(0, NULL, &w, &x, &tv);
    if (n == 0) return -1;
    if (n < 0) return os_wsa_errno();
    int e = os_sock_error(fd);
    return e ? e : (FD_ISSET(s, &x) ? ECONNREFUSED : 0);
}

int os_random(void *buf, size_t n)
{
    return BCryptGenRandom(NULL, buf, (ULONG)n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0 ? 0 : -1;
}

int os_if_addrs(os_ifaddr_t **out)
{
    *out = NULL;
    ULONG flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
    ULONG size = 16384;
    IP_ADAPTER_ADDRESSES *aa = NULL;
    ULONG rc = ERROR_BUFFER_OVERFLOW;
    for (int tries = 0; tries < 4 && rc == ERROR_BUFFER_OVERFLOW; tries++) {
        free(aa);
        aa = malloc(size);
        if (!aa) return -1;
        rc = GetAdaptersAddresses(AF_UNSPEC, flags, NULL, aa, &size);
    }
    if (rc != NO_ERROR) {
        free(aa);
        return -1;
    }
    int n = 0, cap = 0;
    os_ifaddr_t *v = NULL;
    for (IP_ADAPTER_ADDRESSES *a = aa; a; a = a->Next) {
        if (a->OperStatus != IfOperStatusUp) continue;
        for (IP_ADAPTER_UNICAST_ADDRESS *u = a->FirstUnicastAddress; u; u = u->Next) {
            const struct sockaddr *sa = u->Address.lpSockaddr;
            bool lo = a->IfType == IF_TYPE_SOFTWARE_LOOPBACK;
            if (!sa) continue;
            if (os_ifaddr_append(&v, &n, &cap, sa,
                                 sa->sa_family == AF_INET ? a->IfIndex : a->Ipv6IfIndex, lo))
                goto out;
        }
    }
out:
    free(aa);
    *out = v;
    return n;
}

static int64_t filetime_ns(FILETIME f)
{
    return (int64_t)(((uint64_t)f.dwHighDateTime << 32) | f.dwLowDateTime) * 100;
}

/* Windows commits memory per VirtualAlloc call and has no transparent huge pages: the
 * callers use malloc there. */
void *os_vm_reserve(size_t n, size_t align)
{
    (void)n, (void)align;
    return NULL;
}

bool os_vm_commit(void *p, size_t n)
{
    (void)p, (void)n;
    return false;
}

void os_vm_release(void *p, size_t n)
{
    (void)p, (void)n;
}

void os_vm_huge(void *p, size_t n, bool on)
{
    (void)p, (void)n, (void)on;
}

int64_t os_proc_cpu_ns(void)
{
    FILETIME c, e, k, u;
    if (!GetProcessTimes(GetCurrentProcess(), &c, &e, &k, &u)) return 0;
    return filetime_ns(k) + filetime_ns(u);
}

int64_t os_proc_rss_bytes(void)
{
    PROCESS_MEMORY_COUNTERS pmc;
    if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc)) return 0;
    return (int64_t)pmc.WorkingSetSize;
}

long os_ncpus(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return (long)si.dwNumberOfProcessors;
}

void os_thread_name(const char *name)
{
    (void)name; /* SetThreadDescription needs Windows 10 1607: not worth a dependency */
}

const char *os_strerror(int e, char *buf, size_t n)
{
    /* msvcrt knows only the C errno values: name the socket ones as glibc does. */
    static const struct {
        int e;
        const char *s;
    } net[] = {
        {EWOULDBLOCK, "Resource temporarily unavailable"},
        {EINPROGRESS, "Operation now in progress"},
        {ECONNABORTED, "Software caused connection abort"},
        {ECONNRESET, "Connection reset by peer"},
        {ECONNREFUSED, "Connection refused"},
        {ETIMEDOUT, "Connection timed out"},
        {ENOBUFS, "No buffer space available"},
        {EADDRINUSE, "Address already in use"},
        {EADDRNOTAVAIL, "Cannot assign requested address"},
        {ENETUNREACH, "Network is unreachable"},
        {EHOSTUNREACH, "No route to host"},
        {ENOTCONN, "Transport endpoint is not connected"},
        {ENOTSOCK, "Socket operation on non-socket"},
    };
    for (size_t i = 0; i < sizeof net / sizeof net[0]; i++)
        if (net[i].e == e) {
            snprintf(buf, n, "%s", net[i].s);
            return buf;
        }
    if (strerror_s(buf, n, e) != 0) snprintf(buf, n, "error %d", e);
    return buf;
}

static DWORD saved_mode;
static volatile LONG echo_off;

int os_tty_echo(bool on)
{
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
    if (on) {
        if (echo_off && !SetConsoleMode(in, saved_mode)) return -1;
        echo_off = 0;
        return 0;
    }
    if (!GetConsoleMode(in, &saved_mode)) return -1;
    echo_off = 1;
    if (!SetConsoleMode(in, (saved_mode & ~(DWORD)ENABLE_ECHO_INPUT) | ENABLE_LINE_INPUT)) {
        echo_off = 0;
        return -1;
    }
    return 0;
}

long os_tm_gmtoff(const struct tm *local, time_t t)
{
    struct tm copy = *local;
    return (long)(_mkgmtime(&copy) - t); /* the local wall clock read as UTC, minus t */
}

const char *os_prog_name(void)
{
    static char name[MAX_PATH];
    if (!name[0]) {
        char path[MAX_PATH];
        DWORD n = GetModuleFileNameA(NULL, path, sizeof path);
        if (n == 0 || n >= sizeof path) return "gnatsd";
        const char *b = path;
        for (const char *p = path; *p; p++)
            if (*p == '\\' || *p == '/') b = p + 1;
        snprintf(name, sizeof name, "%s", b);
        size_t l = strlen(name);
        if (l > 4 && _stricmp(name + l - 4, ".exe") == 0) name[l - 4] = 0;
    }
    return name;
}

void os_rwlock_init_writer_pref(pthread_rwlock_t *l)
{
    /* winpthreads' rwlock takes no kind attribute; it queues readers behind a waiting
     * writer already (its readers take the same mutex a writer holds while waiting). */
    pthread_rwlock_init(l, NULL);
}

int os_mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\\' && buf[i] != 0) continue;
        if (i == 2 && buf[1] == ':') continue; /* "C:" */
        char c = buf[i];
        buf[i] = 0;
        if (_mkdir(buf) != 0 && errno != EEXIST) return -1;
        buf[i] = c;
    }
    DWORD a = GetFileAttributesA(path);
    if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int os_rename_replace(const char *from, const char *to)
{
    /* rename() does not replace an existing file on Windows */
    if (MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return 0;
    errno = EACCES;
    return -1;
}

int os_list_dir(const char *dir, const char *suffix, void (*fn)(void *arg, const char *name),
                void *arg)
{
    char pat[4096];
    snprintf(pat, sizeof pat, "%s\\*", dir);
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pat, &fd);
    if (h == INVALID_HANDLE_VALUE) return -1;
    size_t sl = strlen(suffix);
    do {
        size_t l = strlen(fd.cFileName);
        if (l > sl && strcmp(fd.cFileName + l - sl, suffix) == 0) fn(arg, fd.cFileName);
    } while (FindNextFileA(h, &fd));
    FindClose(h);
    return 0;
}

#endif
