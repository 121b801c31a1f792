/* leaf_dial.c: one thread per configured remote (docs/leafnodes.md §3.2): it
 * dials the remote's URLs in turn (shuffled once unless no_randomize), hands a
 * connected socket to a worker as a leaf connection, sleeps while that
 * connection is up, and dials again after the reconnect delay when it drops
 * (30 s after a loop was detected). Dialers are stopped and joined at
 * shutdown and freed with the module's memory (a closing connection may still
 * tell its dialer until the workers are gone). */
#include "nats/leaf.h"
#include "nats/leaf_int.h"
#include "nats/dial.h"
#include "proto/route_parse.h"
#include "base/log.h"
#include "base/os.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DIALER_STACK (512 * 1024)

static int64_t reconnect_ns(void)
{
    int64_t r = srv->opts->leaf.reconnect_ns;
    return r > 0 ? r : LEAF_RECONNECT_NS;
}

void leaf_dialer_closed(leaf_dialer_t *d, int64_t delay_ns)
{
    pthread_mutex_lock(&d->mu);
    d->connected = false;
    d->next_delay_ns = delay_ns > 0 ? delay_ns : reconnect_ns();
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* The reference's pickNextURL: the list's first, after moving the current one to the
 * end when it is first (so a failed or lost URL is tried last). */
static void pick_url(leaf_dialer_t *d, char *out, size_t n)
{
    pthread_mutex_lock(&d->mu);
    if (d->cur && d->nlist > 1 && strcmp(d->cur, d->list[0]) == 0) {
        char *first = d->list[0];
        memmove(d->list, d->list + 1, (d->nlist - 1) * sizeof *d->list);
        d->list[d->nlist - 1] = first;
    }
    free(d->cur);
    d->cur = xstrdup(d->list[0]);
    snprintf(out, n, "%s", d->list[0]);
    pthread_mutex_unlock(&d->mu);
}

static void host_port(const char *url, char *host, size_t hn, int *port)
{
    route_url_split(url, host, hn, port, NULL, 0, NULL, 0);
    if (!url_has_port(url)) *port = LEAF_DEFAULT_PORT;
}

void leaf_dialer_learn(leaf_dialer_t *d, char urls[][300], size_t n)
{
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->nlist; i++)
        free(d->list[i]);
    free(d->list);
    d->list = xcalloc(n + d->nurls, sizeof *d->list);
    d->nlist = 0;
    for (size_t i = 0; i < n; i++) {
        char u[320], h[256], ch[256];
        int p, cp;
        snprintf(u, sizeof u, "nats-leaf://%s", urls[i]);
        host_port(u, h, sizeof h, &p);
        bool dup = false;
        for (size_t k = 0; k < d->nurls && !dup; k++) {
            host_port(d->urls[k], ch, sizeof ch, &cp);
            dup = cp == p && strcasecmp(ch, h) == 0;
        }
        if (!dup) d->list[d->nlist++] = xstrdup(u);
    }
    for (size_t k = 0; k < d->nurls; k++)
        d->list[d->nlist++] = xstrdup(d->urls[k]);
    pthread_mutex_unlock(&d->mu);
}

static void *dialer_main(void *arg)
{
    leaf_dialer_t *d = arg;
    int attempt = 0;
    bool first = true;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (d->connected && !d->stop && !atomic_load(&srv->shutting_down))
            pthread_cond_wait(&d->cv, &d->mu);
        bool stop = d->stop || atomic_load(&srv->shutting_down);
        int64_t delay = d->next_delay_ns;
        pthread_mutex_unlock(&d->mu);
        if (stop) break;
        if (!first && dial_wait(&d->mu, &d->cv, &d->stop, delay)) break;
        first = false;
        char url[600];
        pick_url(d, url, sizeof url);
        char host[256], shown[300], err[300];
        int port = 0;
        route_url_split(url, host, sizeof host, &port, NULL, 0, NULL, 0);
        if (!url_has_port(url)) port = LEAF_DEFAULT_PORT;
        snprintf(shown, sizeof shown, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
        DEBUG("Trying to connect as leafnode to remote server on \"%s\"", shown);
        int fd = dial_url(url, LEAF_DEFAULT_PORT, err, sizeof err);
        if (fd < 0) {
            attempt++;
            if (attempt == 1)
                ERROR(
                    "Error trying to connect as leafnode to remote server \"%s\" (attempt %d): %s",
                    shown, attempt, err);
            else
                DEBUG(
                    "Error trying to connect as leafnode to remote server \"%s\" (attempt %d): %s",
                    shown, attempt, err);
            pthread_mutex_lock(&d->mu);
            d->next_delay_ns = reconnect_ns();
            pthread_mutex_unlock(&d->mu);
            continue;
        }
        attempt = 0;
        pthread_mutex_lock(&d->mu);
        d->connected = true;
        d->next_delay_ns = reconnect_ns();
        pthread_mutex_unlock(&d->mu);
        server_hand_off(&(inq_item_t){
            .fd = fd, .ops = &leaf_conn_ops, .solicited = true, .url = xstrdup(url), .dialer = d});
    }
    return NULL;
}

void leaf_dialers_start(void)
{
    const leaf_opts_t *lo = &srv->opts->leaf;
    size_t n = 0;
    for (size_t i = 0; i < lo->nremotes; i++)
        if (lo->remotes[i].nurls) n++;
    if (!n) return;
    LF.dialers = xcalloc(n, sizeof *LF.dialers);
    for (size_t i = 0; i < lo->nremotes; i++) {
        const leaf_remote_t *r = &lo->remotes[i];
        if (!r->nurls) continue;
        leaf_dialer_t *d = &LF.dialers[LF.ndialers++];
        d->remote = i;
        d->nurls = r->nurls;
        d->urls = xcalloc(r->nurls, sizeof *d->urls);
        for (size_t k = 0; k < r->nurls; k++)
            d->urls[k] = xstrdup(r->urls[k]);
        if (!r->no_randomize) {
            for (size_t k = d->nurls; k > 1; k--) {
                uint32_t x;
                os_random(&x, sizeof x);
                size_t j = x % k;
                char *t = d->urls[k - 1];
                d->urls[k - 1] = d->urls[j];
                d->urls[j] = t;
            }
        }
        d->list = xcalloc(d->nurls, sizeof *d->list);
        for (size_t k = 0; k < d->nurls; k++)
            d->list[d->nlist++] = xstrdup(d->urls[k]);
        d->account = r->account ? xstrdup(r->account) : NULL;
        d->credentials = r->credentials ? xstrdup(r->credentials) : NULL;
        if (LF.remote_tls) {
            d->tls = LF.remote_tls[i];
            LF.remote_tls[i] = NULL;
        }
        d->tls_on = r->tls.enabled;
        d->tls_insecure = r->tls.insecure;
        d->ndeny_imports = r->ndeny_imports;
        d->deny_imports = xcalloc(r->ndeny_imports ? r->ndeny_imports : 1, sizeof(char *));
        for (size_t k = 0; k < r->ndeny_imports; k++)
            d->deny_imports[k] = xstrdup(r->deny_imports[k]);
        d->ndeny_exports = r->ndeny_exports;
        d->deny_exports = xcalloc(r->ndeny_exports ? r->ndeny_exports : 1, sizeof(char *));
        for (size_t k = 0; k < r->ndeny_exports; k++)
            d->deny_exports[k] = xstrdup(r->deny_exports[k]);
        pthread_mutex_init(&d->mu, NULL);
        pthread_cond_init(&d->cv, NULL);
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, DIALER_STACK);
        d->started = pthread_create(&d->th, &at, dialer_main, d) == 0;
        pthread_attr_destroy(&at);
    }
}

void leaf_dialers_stop(void)
{
    for (size_t i = 0; i < LF.ndialers; i++) {
        leaf_dialer_t *d = &LF.dialers[i];
        pthread_mutex_lock(&d->mu);
        d->stop = true;
        pthread_cond_signal(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
    for (size_t i = 0; i < LF.ndialers; i++) {
        leaf_dialer_t *d = &LF.dialers[i];
        if (d->started) pthread_join(d->th, NULL);
        d->started = false;
    }
}

void leaf_dialers_free(void)
{
    for (size_t i = 0; i < LF.ndialers; i++) {
        leaf_dialer_t *d = &LF.dialers[i];
        for (size_t k = 0; k < d->nurls; k++)
            free(d->urls[k]);
        free(d->urls);
        for (size_t k = 0; k < d->nlist; k++)
            free(d->list[k]);
        free(d->list);
        free(d->cur);
        free(d->account);
        free(d->credentials);
        for (size_t k = 0; k < d->ndeny_imports; k++)
            free(d->deny_imports[k]);
        free(d->deny_imports);
        for (size_t k = 0; k < d->ndeny_exports; k++)
            free(d->deny_exports[k]);
        free(d->deny_exports);
        free(d->cur_url);
        tls_ctx_unref(d->tls);
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
    }
    free(LF.dialers);
    LF.dialers = NULL;
    LF.ndialers = 0;
}
