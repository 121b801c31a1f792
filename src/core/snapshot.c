/* snapshot.c: monitoring snapshots. Each worker copies the data of its own
 * connections of the asked kind (handler table) when told (WCMD_SNAPSHOT), so no
 * lock is shared with the message path; closed connections are kept in a ring of
 * the last CLOSED_RING, filled by their owners at close. */
#include "core/loop.h"
#include "core/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- monitoring snapshots ------------------------------------------------ */

struct snap_req {
    bool with_subs;
    const conn_ops_t *ops; /* the kind asked for */
    conn_info_t *v;
    size_t n, cap;
    int pending;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;

static void snap_push(conn_info_t **v, size_t *n, size_t *cap, const conn_info_t *ci)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = *ci;
}

void run_snapshot(worker_t *w)
{
    struct snap_req *r = atomic_exchange(&w->snap, NULL);
    if (!r) return;
    conn_info_t *v = NULL;
    size_t n = 0, cap = 0;
    for (conn_t *c = w->conns; c; c = c->next) {
        if (c->ops != r->ops || c->closing) continue;
        conn_info_t ci;
        c->ops->fill_info(c, &ci, r->with_subs);
        snap_push(&v, &n, &cap, &ci);
    }
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n; i++)
        snap_push(&r->v, &r->n, &r->cap, &v[i]);
    r->pending--;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    free(v);
}

static int cmp_cid(const void *a, const void *b)
{
    const conn_info_t *x = a, *y = b;
    return x->cid < y->cid ? -1 : x->cid > y->cid;
}

size_t conn_snapshot(const conn_ops_t *ops, conn_info_t **out, bool with_subs)
{
    *out = NULL;
    if (atomic_load(&srv->shutting_down)) return 0;
    pthread_mutex_lock(&snap_lock);
    struct snap_req r = {.with_subs = with_subs, .ops = ops, .pending = srv->nworkers};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    affinity_hold(); /* a connection moving is on no worker's list */
    for (int i = 0; i < srv->nworkers; i++)
        srv->workers[i].snap = &r;
    worker_command(WCMD_SNAPSHOT);
    pthread_mutex_lock(&r.mu);
    while (r.pending > 0 && !atomic_load(&srv->shutting_down)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r.cv, &r.mu, &ts);
    }
    /* Shutdown ends the wait early: a worker that took the request may still be filling
     * it, and r lives on this stack. Those that did not take it never will. */
    int untaken = 0;
    for (int i = 0; i < srv->nworkers; i++)
        if (atomic_exchange(&srv->workers[i].snap, NULL) == &r) untaken++;
    while (r.pending > untaken)
        pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    affinity_release();
    pthread_mutex_unlock(&snap_lock);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    if (r.n > 1) qsort(r.v, r.n, sizeof *r.v, cmp_cid);
    *out = r.v;
    return r.n;
}

static void conn_info_clear(conn_info_t *ci)
{
    free(ci->name);
    free(ci->lang);
    free(ci->version);
    free(ci->user);
    free(ci->jwt);
    free(ci->issuer_key);
    free(ci->name_tag);
    tls_peer_certs_free(ci->certs, ci->ncerts);
    for (size_t k = 0; k < ci->nsubs; k++) {
        free(ci->subs[k].subject);
        free(ci->subs[k].queue);
        free(ci->subs[k].sid);
    }
    free(ci->subs);
}

void conn_infos_free(conn_info_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        conn_info_clear(&v[i]);
    free(v);
}

/* Closed connections: a ring of the last CLOSED_RING, filled by owners at close. */
static struct {
    pthread_mutex_t mu;
    conn_info_t *ring;
    size_t head, n;
} closed = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

void conn_remember_closed(conn_t *c)
{
    conn_info_t ci;
    c->ops->fill_info(c, &ci, true);
    ci.stop_wall_ns = now_wall_ns();
    snprintf(ci.reason, sizeof ci.reason, "%s", close_reason_str(c->reason));
    pthread_mutex_lock(&closed.mu);
    if (!closed.ring) closed.ring = xcalloc(CLOSED_RING, sizeof *closed.ring);
    size_t idx = (closed.head + closed.n) % CLOSED_RING;
    if (closed.n == CLOSED_RING) {
        conn_info_clear(&closed.ring[closed.head]);
        closed.head = (closed.head + 1) % CLOSED_RING;
    } else {
        closed.n++;
    }
    closed.ring[idx] = ci;
    pthread_mutex_unlock(&closed.mu);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

size_t server_closed_conns(conn_info_t **out, bool with_subs)
{
    pthread_mutex_lock(&closed.mu);
    size_t n = closed.n;
    conn_info_t *v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const conn_info_t *s = &closed.ring[(closed.head + i) % CLOSED_RING];
        conn_info_t *d = &v[i];
        *d = *s;
        d->name = dup_or_null(s->name);
        d->lang = dup_or_null(s->lang);
        d->version = dup_or_null(s->version);
        d->user = dup_or_null(s->user);
        d->jwt = dup_or_null(s->jwt);
        d->issuer_key = dup_or_null(s->issuer_key);
        d->name_tag = dup_or_null(s->name_tag);
        /* the copy owns what it points to: the ring keeps its own (a shared pointer was
         * freed by the caller and again by the ring) */
        d->certs = s->ncerts ? xmalloc(s->ncerts * sizeof *d->certs) : NULL;
        for (size_t k = 0; k < s->ncerts; k++) {
            d->certs[k] = s->certs[k];
            d->certs[k].subject = dup_or_null(s->certs[k].subject);
        }
        d->subs = NULL;
        d->nsubs = 0;
        if (with_subs && s->nsubs) {
            d->subs = xcalloc(s->nsubs, sizeof *d->subs);
            for (size_t k = 0; k < s->nsubs; k++) {
                d->subs[k].subject = xstrdup(s->subs[k].subject);
                d->subs[k].queue = dup_or_null(s->subs[k].queue);
                d->subs[k].sid = xstrdup(s->subs[k].sid);
                d->subs[k].msgs = s->subs[k].msgs;
                d->subs[k].max = s->subs[k].max;
            }
            d->nsubs = s->nsubs;
        }
    }
    pthread_mutex_unlock(&closed.mu);
    *out = v;
    return n;
}

void closed_ring_free(void)
{
    pthread_mutex_lock(&closed.mu);
    if (closed.ring) {
        for (size_t i = 0; i < closed.n; i++)
            conn_info_clear(&closed.ring[(closed.head + i) % CLOSED_RING]);
        free(closed.ring);
        closed.ring = NULL;
        closed.n = closed.head = 0;
    }
    pthread_mutex_unlock(&closed.mu);
}
