/* os_posix.c: os.h on Linux, the parts that are not inline (os_sock_posix.h): getrandom,
 * getifaddrs, getrusage and /proc/self/statm. */
#ifndef _WIN32
#include "base/os.h"

#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <dirent.h>
#include <sys/stat.h>
#include <termios.h>

int os_random(void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

int os_if_addrs(os_ifaddr_t **out)
{
    *out = NULL;
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0) return -1;
    int n = 0, cap = 0;
    os_ifaddr_t *v = NULL;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        bool lo = (i->ifa_flags & IFF_LOOPBACK) != 0;
        if (os_ifaddr_append(&v, &n, &cap, i->ifa_addr, if_nametoindex(i->ifa_name), lo)) break;
    }
    freeifaddrs(ifa);
    *out = v;
    return n;
}

void *os_vm_reserve(size_t n, size_t align)
{
    /* Address space only: no access until os_vm_commit (valgrind's leak check, a core
     * dump, /proc/pid/smaps walk only what is used) */
    size_t span = n + align;
    char *p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
    if (a > p) munmap(p, (size_t)(a - p));
    if (a + n < p + span) munmap(a + n, (size_t)(p + span - (a + n)));
    return a;
}

void os_vm_huge(void *p, size_t n, bool on)
{
    /* "madvise" is the usual THP setting: without the advice every 4 KiB page is a fault */
    (void)madvise(p, n, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

bool os_vm_commit(void *p, size_t n)
{
    /* NORESERVE mapping: memory is taken page by page as it is touched */
    return mprotect(p, n, PROT_READ | PROT_WRITE) == 0;
}

void os_vm_release(void *p, size_t n)
{
    (void)madvise(p, n, MADV_DONTNEED);
}

int64_t os_proc_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)ru.ru_utime.tv_sec * 1000000000LL + ru.ru_utime.tv_usec * 1000LL +
           (int64_t)ru.ru_stime.tv_sec * 1000000000LL + ru.ru_stime.tv_usec * 1000LL;
}

int64_t os_proc_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

long os_ncpus(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN);
}

void os_thread_name(const char *name)
{
#ifdef __linux__
    pthread_setname_np(pthread_self(), name);
#else
    (void)name;
#endif
}

const char *os_strerror(int e, char *buf, size_t n)
{
    return strerror_r(e, buf, n); /* the GNU variant: may return a static string */
}

static struct termios saved_tio;
static volatile sig_atomic_t echo_off;

int os_tty_echo(bool on)
{
    if (on) {
        if (echo_off && tcsetattr(0, TCSANOW, &saved_tio) != 0) return -1;
        echo_off = 0;
        return 0;
    }
    /* TCSANOW, not TCSAFLUSH: what is typed right after the prompt is kept. */
    if (tcgetattr(0, &saved_tio) != 0) return -1;
    struct termios t = saved_tio;
    t.c_lflag &= ~(tcflag_t)ECHO;
    t.c_lflag |= ICANON;
    echo_off = 1;
    if (tcsetattr(0, TCSANOW, &t) != 0) {
        echo_off = 0;
        return -1;
    }
    return 0;
}

long os_tm_gmtoff(const struct tm *local, time_t t)
{
    (void)t;
    return local->tm_gmtoff;
}

const char *os_prog_name(void)
{
    return program_invocation_short_name;
}

void os_rwlock_init_writer_pref(pthread_rwlock_t *l)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(l, &attr);
    pthread_rwlockattr_destroy(&attr);
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
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int os_rename_replace(const char *from, const char *to)
{
    return rename(from, to);
}

int os_list_dir(const char *dir, const char *suffix, void (*fn)(void *arg, const char *name),
                void *arg)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0) fn(arg, e->d_name);
    }
    closedir(d);
    return 0;
}

#endif
