/* os_ifaddr.c: the one append both os_if_addrs implementations (os_posix.c: getifaddrs,
 * os_win.c: GetAdaptersAddresses) build their array with. */
#include "base/os.h"

#include <stdlib.h>
#include <string.h>

int os_ifaddr_append(os_ifaddr_t **v, int *n, int *cap, const struct sockaddr *sa, unsigned index,
                     bool loopback)
{
    if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) return 0;
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 8;
        os_ifaddr_t *nv = realloc(*v, (size_t)ncap * sizeof **v);
        if (!nv) return -1;
        *v = nv;
        *cap = ncap;
    }
    os_ifaddr_t *e = &(*v)[(*n)++];
    memset(e, 0, sizeof *e);
    memcpy(&e->addr, sa,
           sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    e->index = index;
    e->loopback = loopback;
    return 0;
}
