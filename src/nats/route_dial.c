/* route_dial.c: the threads that dial routes.
 *
 * One small thread per route URL: it connects (blocking, with a timeout),
 * hands the socket to a worker, then sleeps while that connection is up and
 * redials when it drops (explicit routes forever, implicit ones their
 * connect_retries). At most one per host:port, at most MAX_IMPLICIT_DIALERS
 * started by gossip; ended ones are joined and freed by reap_dialers_locked
 * once no connection refers to them. */
#include "nats/route.h"
#include "nats/route_int.h"
#include "nats/dial.h"
#include "base/log.h"

#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Gossip (an INFO naming a server we have no route to) starts an implicit
 * dialer; the reference starts a goroutine per such INFO with no bound. Here
 * there is at most one dialer per host:port, and at most this many implicit
 * ones alive at a time (each is a thread that stays while its route is up, to
 * redial it): more than the full mesh of any cluster the route protocol is
 * meant for, few enough that a peer gossiping made-up URLs cannot exhaust
 * threads. Gossip beyond it is dropped with a warning (the gossiped server
 * may still dial us, as it hears of us too). */
#define MAX_IMPLICIT_DIALERS 256
#define DIALER_STACK (512 * 1024)

void dialer_notify_closed(dialer_t *d, bool stop, bool quick)
{
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->connected = false;
    if (stop) d->stop = true;
    d->quick = quick;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void *dialer_main(void *arg)
{
    dialer_t *d = arg;
    int attempt = 0;
    bool reconnect = false;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        while (d->connected && !d->stop && !atomic_load(&srv->shutting_down))
            pthread_cond_wait(&d->cv, &d->mu);
        bool stop = d->stop || atomic_load(&srv->shutting_down);
        bool quick = d->quick;
        d->quick = false;
        pthread_mutex_unlock(&d->mu);
        if (stop) break;
        if (reconnect) {
            int64_t jitter = (int64_t)(now_mono_ns() % 100000000LL);
            if (dial_wait(&d->mu, &d->cv, &d->stop,
                          (quick || d->implicit ? 0 : 1000000000LL) + jitter))
                break;
            char shown[600];
            route_url_redacted(d->url, shown, sizeof shown);
            DEBUG("Attempting reconnect for solicited route \"%s\"", shown);
        }
        char err[300], shown[600];
        route_url_redacted(d->url, shown, sizeof shown);
        DEBUG("Trying to connect to route on %s", shown);
        int fd = dial_url(d->url, 4222, err, sizeof err);
        if (fd < 0) {
            attempt++;
            /* As the reference: the first failure, then every Nth (connect_error_reports
             * before the route was ever up, reconnect_error_reports after) at error level. */
            int64_t every = atomic_load(reconnect ? &R.reconnect_reports : &R.connect_reports);
            if (attempt == 1 || (every > 0 && attempt % every == 0))
                ERROR("Error trying to connect to route (attempt %d): %s", attempt, err);
            else
                DEBUG("Error trying to connect to route (attempt %d): %s", attempt, err);
            if (d->implicit && attempt > d->retries) break;
            if (dial_wait(&d->mu, &d->cv, &d->stop, 1000000000LL)) break;
            continue;
        }
        attempt = 0;
        pthread_mutex_lock(&d->mu);
        d->connected = true;
        pthread_mutex_unlock(&d->mu);
        pthread_mutex_lock(&R.mu);
        d->refs++; /* the connection's, from here until route_conn_closed */
        pthread_mutex_unlock(&R.mu);
        inq_item_t it = {.fd = fd,
                         .ops = &route_conn_ops,
                         .solicited = true,
                         .url = xstrdup(d->url),
                         .dialer = d};
        server_hand_off(&it);
        reconnect = true;
    }
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    d->done = true; /* joined and freed by the next reap; no R.mu from here on */
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* The key of the one-dialer-per-URL rule: lower-case host:port. False for a URL
 * that cannot be dialled, or holds blanks or control bytes (a gossiped URL shows
 * in log lines). */
static bool dialer_key(const char *url, char *key, size_t n)
{
    for (const char *q = url; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f) return false;
    char h[256];
    int p;
    if (route_url_split(url, h, sizeof h, &p, NULL, 0, NULL, 0) != 0) return false;
    for (char *q = h; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    snprintf(key, n, "%s:%d", h, p);
    return true;
}

static bool dialer_done(dialer_t *d)
{
    pthread_mutex_lock(&d->mu);
    bool done = d->done;
    pthread_mutex_unlock(&d->mu);
    return done;
}

/* Joins dialer threads that have ended (quick: they take no R.mu after setting done),
 * and frees those no connection refers to. Caller holds R.mu. */
void reap_dialers_locked(void)
{
    for (dialer_t **pp = &R.dialers; *pp;) {
        dialer_t *d = *pp;
        if (!d->joined && (!d->started || dialer_done(d))) {
            if (d->started) pthread_join(d->th, NULL);
            d->joined = true;
        }
        if (d->joined && d->refs == 0) {
            *pp = d->next;
            pthread_mutex_destroy(&d->mu);
            pthread_cond_destroy(&d->cv);
            free(d->url);
            free(d);
            continue;
        }
        pp = &d->next;
    }
}

/* Caller holds R.mu (so a check for an existing dialer and the start are one step). */
static void start_dialer_locked(const char *url, const char *key, bool implicit, bool auth,
                                int retries)
{
    dialer_t *d = xcalloc(1, sizeof *d);
    d->url = xstrdup(url);
    snprintf(d->key, sizeof d->key, "%s", key);
    d->implicit = implicit;
    d->auth = auth;
    d->retries = retries;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->next = R.dialers;
    R.dialers = d;
    if (R.no_dialing) return; /* never started: reaped as ended */
    os_sigs_t old = os_block_signals();
    /* A dialer only resolves, connects and waits: a small stack keeps up to
     * MAX_IMPLICIT_DIALERS of them cheap in address space too. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, DIALER_STACK);
    d->started = pthread_create(&d->th, &attr, dialer_main, d) == 0;
    pthread_attr_destroy(&attr);
    os_restore_signals(old);
    if (!d->started) ERROR("Error starting a route dialer for %s", key);
}

/* Explicit (configured) routes: one dialer each, however many the config lists. */
void start_dialer(const char *url)
{
    char key[300];
    if (!dialer_key(url, key, sizeof key)) snprintf(key, sizeof key, "%s", url);
    pthread_mutex_lock(&R.mu);
    reap_dialers_locked();
    start_dialer_locked(url, key, false, false, 0);
    pthread_mutex_unlock(&R.mu);
}

void gossip_dial(const route_info_msg_t *ri, const char *remote_ip)
{
    if (strcmp(ri->id, srv->server_id) == 0) return;
    char url[400];
    if (ri->ip[0])
        snprintf(url, sizeof url, "%s", ri->ip);
    else
        snprintf(url, sizeof url, "nats-route://%s:%lld/", ri->host[0] ? ri->host : remote_ip,
                 (long long)ri->port);
    char key[300];
    if (!dialer_key(url, key, sizeof key)) return;
    opts_t *o = srv->opts;
    pthread_mutex_lock(&R.mu);
    reap_dialers_locked();
    bool known = false;
    for (size_t i = 0; i < R.nroutes; i++)
        if (strcmp(R.routes[i]->route->remote_id, ri->id) == 0) known = true;
    for (size_t i = 0; !known && i < o->cluster.nroutes; i++) {
        char k2[300];
        known = dialer_key(o->cluster.routes[i], k2, sizeof k2) && strcmp(k2, key) == 0;
    }
    size_t nimplicit = 0;
    for (dialer_t *d = R.dialers; d; d = d->next) {
        if (d->joined) continue; /* ended: the URL may be dialled again */
        if (strcmp(d->key, key) == 0) known = true;
        if (d->implicit) nimplicit++;
    }
    if (!known && nimplicit >= MAX_IMPLICIT_DIALERS) {
        if (!R.dialer_cap_warned)
            WARN("Not connecting to gossiped route %s: %d implicit route dialers already running",
                 key, MAX_IMPLICIT_DIALERS);
        R.dialer_cap_warned = true;
        known = true;
    } else if (nimplicit < MAX_IMPLICIT_DIALERS / 2) {
        R.dialer_cap_warned = false; /* warn again on the next crossing */
    }
    if (!known) start_dialer_locked(url, key, true, ri->auth_required, o->cluster.connect_retries);
    pthread_mutex_unlock(&R.mu);
}

/* Shutdown: every dialer is told to stop, then joined and freed. */
void dialers_stop_all(void)
{
    pthread_mutex_lock(&R.mu);
    dialer_t *list = R.dialers;
    R.dialers = NULL;
    pthread_mutex_unlock(&R.mu);
    for (dialer_t *d = list; d; d = d->next) {
        pthread_mutex_lock(&d->mu);
        d->stop = true;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
    for (dialer_t *d = list, *next; d; d = next) {
        next = d->next;
        if (d->started && !d->joined) pthread_join(d->th, NULL);
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        free(d->url);
        free(d);
    }
}
