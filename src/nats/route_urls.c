/* route_urls.c: the connect_urls clients are told of (INFO), and the cluster name
 * in their INFO.
 *
 * Our own client URLs (client_advertise, the listen host, or every non-loopback
 * interface address) and the ones each registered route announced, counted by
 * how many routes announced them, so one leaving drops only its own. Each change
 * rebuilds the INFO suffix every new client gets (srv->info_suffix); the caller
 * then has the workers send an async INFO to clients that take one. R.mu held
 * unless said otherwise. */
#include "nats/route.h"
#include "nats/route_int.h"
#include "base/json.h"
#include "base/qsbr.h"

#include <stdio.h>
#include <stdlib.h>

void compute_own_urls(void)
{
    opts_t *o = srv->opts;
    for (size_t i = 0; i < R.nown; i++)
        free(R.own_urls[i]);
    free(R.own_urls);
    R.own_urls = NULL;
    R.nown = 0;
    char buf[300];
    if (o->client_advertise && *o->client_advertise) {
        const char *ca = o->client_advertise;
        if (strrchr(ca, ':') && (ca[0] != '[' || strstr(ca, "]:")))
            snprintf(buf, sizeof buf, "%s", ca);
        else
            snprintf(buf, sizeof buf, "%s:%d", ca, srv->port);
        R.own_urls = xcalloc(1, sizeof(char *));
        R.own_urls[R.nown++] = xstrdup(buf);
        return;
    }
    const char *h = o->host;
    bool any = !h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
    if (!any) {
        snprintf(buf, sizeof buf, strchr(h, ':') ? "[%s]:%d" : "%s:%d", h, srv->port);
        R.own_urls = xcalloc(1, sizeof(char *));
        R.own_urls[R.nown++] = xstrdup(buf);
        return;
    }
    os_ifaddr_t *ifa = NULL;
    int nifa = os_if_addrs(&ifa);
    size_t cap = 0;
    for (int k = 0; k < nifa; k++) {
        const os_ifaddr_t *i = &ifa[k];
        if (i->loopback) continue;
        char ip[INET6_ADDRSTRLEN];
        if (i->addr.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)&i->addr)->sin_addr, ip, sizeof ip);
            snprintf(buf, sizeof buf, "%s:%d", ip, srv->port);
        } else if (i->addr.ss_family == AF_INET6) {
            const struct in6_addr *a = &((const struct sockaddr_in6 *)&i->addr)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_LOOPBACK(a)) continue;
            inet_ntop(AF_INET6, a, ip, sizeof ip);
            snprintf(buf, sizeof buf, "[%s]:%d", ip, srv->port);
        } else {
            continue;
        }
        if (R.nown == cap) {
            cap = cap ? cap * 2 : 4;
            R.own_urls = xrealloc(R.own_urls, cap * sizeof(char *));
        }
        R.own_urls[R.nown++] = xstrdup(buf);
    }
    free(ifa);
}

/* Caller holds R.mu. */
static char *urls_json_locked(void)
{
    if (!R.urls_active) return NULL;
    buf_t b = {0};
    buf_putc(&b, '[');
    bool first = true;
    for (size_t i = 0; i < R.nown; i++) {
        if (!first) buf_putc(&b, ',');
        first = false;
        json_put_string(&b, R.own_urls[i], strlen(R.own_urls[i]));
    }
    for (curl_t *u = R.curls; u; u = u->next) {
        bool dup = false;
        for (size_t i = 0; i < R.nown; i++)
            if (strcmp(R.own_urls[i], u->url) == 0) dup = true;
        if (dup) continue;
        if (!first) buf_putc(&b, ',');
        first = false;
        json_put_string(&b, u->url, strlen(u->url));
    }
    buf_putc(&b, ']');
    buf_putc(&b, 0);
    return b.p;
}

char *route_client_urls_json(void)
{
    pthread_mutex_lock(&R.mu);
    char *s = urls_json_locked();
    pthread_mutex_unlock(&R.mu);
    return s;
}

/* The per-connection INFO suffix for clients: cluster name and connect_urls.
 * Frozen once shutting down, as in the reference (no INFO updates then): the
 * routes may close before the clients, and a last INFO without the other
 * members makes clients that honour connect_urls (libnats) forget the servers
 * they should fail over to. */
void rebuild_client_info_locked(void)
{
    if (atomic_load(&srv->shutting_down)) return;
    buf_t b = {0};
    if (R.name[0]) {
        buf_puts(&b, ",\"cluster\":");
        json_put_string(&b, R.name, strlen(R.name));
    }
    char *u = urls_json_locked();
    if (u) {
        buf_puts(&b, ",\"connect_urls\":");
        buf_puts(&b, u);
        free(u);
    }
    buf_putc(&b, 0);
    char *cur = atomic_load(&srv->info_suffix);
    if (cur && strcmp(cur, b.p) == 0) {
        buf_free(&b); /* unchanged: clients must not get a spurious INFO */
        return;
    }
    char *old = atomic_exchange(&srv->info_suffix, b.p);
    atomic_fetch_add(&srv->info_gen, 1);
    if (old) qsbr_retire(old, free);
}

void add_curls_locked(route_info_t *ri)
{
    opts_t *o = srv->opts;
    if (o->cluster.no_advertise || ri->curls_counted || ri->ncurls == 0) return;
    ri->curls_counted = true;
    for (size_t i = 0; i < ri->ncurls; i++) {
        curl_t *u;
        for (u = R.curls; u; u = u->next)
            if (strcmp(u->url, ri->curls[i]) == 0) break;
        if (!u) {
            size_t l = strlen(ri->curls[i]);
            u = xcalloc(1, sizeof *u + l + 1);
            memcpy(u->url, ri->curls[i], l);
            u->next = R.curls;
            R.curls = u;
        }
        u->refs++;
    }
    R.urls_active = true;
}

void drop_curls_locked(route_info_t *ri)
{
    if (!ri->curls_counted) return;
    ri->curls_counted = false;
    for (size_t i = 0; i < ri->ncurls; i++) {
        for (curl_t **pp = &R.curls; *pp; pp = &(*pp)->next) {
            if (strcmp((*pp)->url, ri->curls[i]) == 0) {
                if (--(*pp)->refs == 0) {
                    curl_t *dead = *pp;
                    *pp = dead->next;
                    free(dead);
                }
                break;
            }
        }
    }
}
