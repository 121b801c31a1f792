/* acct_lookup.c: a directory resolver (full or cache) asks the other servers for an
 * account it does not store (see acct_lookup.h).
 *
 * The table is a fixed array of LOOKUP_INFLIGHT_MAX slots under one mutex: a slot is
 * an account being looked up, its deadline and who waits for it. A login that waits
 * must not hold its worker for up to the timeout, so the waiting is a callback; the
 * deadline thread sleeps on a condition variable until the earliest deadline (not a
 * periodic tick: a lookup ends at its timeout, not up to a tick later). */
#include "nats/acct_lookup.h"
#include "base/gofmt.h"
#include "base/log.h"
#include "base/nkeys.h"
#include "nats/sys.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct waiter {
    account_remote_done_fn done;
    void *arg;
} waiter_t;

typedef struct lookup {
    bool used;
    char pub[NKEY_PUBLIC_LEN + 1];
    int64_t start_ns, deadline_ns; /* monotonic */
    waiter_t *w;
    size_t nw, cap;
} lookup_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the deadline thread: a new lookup, or stop */
    lookup_t slots[LOOKUP_INFLIGHT_MAX];
    size_t nlive;
    bool started, stop;
    pthread_t th;
    int64_t timeout_ns;
    lookup_store_fn store;
    char inbox[128]; /* "$SYS._INBOX.<hash>.lk" (sys.h) + the account */
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Under L.mu. */
static lookup_t *find(const char *pub)
{
    for (size_t i = 0; i < LOOKUP_INFLIGHT_MAX; i++)
        if (L.slots[i].used && strcmp(L.slots[i].pub, pub) == 0) return &L.slots[i];
    return NULL;
}

/* Under L.mu: the slot's lookup, taken out of the table (its waiters are the copy's). */
static lookup_t take(lookup_t *s)
{
    lookup_t out = *s;
    memset(s, 0, sizeof *s);
    L.nlive--;
    return out;
}

/* Not under L.mu: the reference's log lines for one fetch, then every waiter told. */
static void finish(lookup_t *l, const char *err)
{
    char d[64];
    int64_t took = now_mono_ns() - l->start_ns;
    go_duration(d, sizeof d, took);
    if (took > 1000000000LL)
        WARN("Account [%s] fetch took %s", l->pub, d);
    else
        DEBUG("Account [%s] fetch took %s", l->pub, d);
    if (err) WARN("Account fetch failed: %s", err);
    for (size_t i = 0; i < l->nw; i++)
        l->w[i].done(l->w[i].arg, err);
    free(l->w);
}

static void *deadline_thread(void *arg)
{
    (void)arg;
    static lookup_t due[LOOKUP_INFLIGHT_MAX]; /* this thread's only */
    pthread_mutex_lock(&L.mu);
    while (!L.stop) {
        int64_t now = now_mono_ns(), next = INT64_MAX;
        size_t ndue = 0;
        for (size_t i = 0; i < LOOKUP_INFLIGHT_MAX; i++) {
            lookup_t *s = &L.slots[i];
            if (!s->used) continue;
            if (s->deadline_ns <= now)
                due[ndue++] = take(s);
            else if (s->deadline_ns < next)
                next = s->deadline_ns;
        }
        if (ndue) {
            pthread_mutex_unlock(&L.mu);
            for (size_t i = 0; i < ndue; i++)
                finish(&due[i], "fetching jwt timed out");
            pthread_mutex_lock(&L.mu);
            continue;
        }
        if (next == INT64_MAX) {
            pthread_cond_wait(&L.cv, &L.mu);
        } else {
            /* the wait is measured on the monotonic clock, the condition's on the wall
             * clock (as the other timed waits here, portable to the Windows build) */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = next - now;
            ts.tv_sec += (time_t)(wait / 1000000000LL);
            ts.tv_nsec += (long)(wait % 1000000000LL);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&L.cv, &L.mu, &ts);
        }
    }
    pthread_mutex_unlock(&L.mu);
    return NULL;
}

/* account_set_remote's function: any thread. */
static acct_remote_t lookup_start(const char *name, size_t n, account_remote_done_fn done,
                                  void *arg)
{
    /* as the reference's fetchAccount: only account keys are fetched */
    if (n != NKEY_PUBLIC_LEN || !nkey_decode_public(name, n, NKEY_ACCOUNT, NULL, NULL))
        return ACCT_REMOTE_NONE;
    char pub[NKEY_PUBLIC_LEN + 1];
    memcpy(pub, name, n);
    pub[n] = 0;
    pthread_mutex_lock(&L.mu);
    if (L.stop) {
        pthread_mutex_unlock(&L.mu);
        return ACCT_REMOTE_NONE;
    }
    lookup_t *s = find(pub);
    bool fresh = !s;
    if (fresh) {
        if (L.nlive == LOOKUP_INFLIGHT_MAX) {
            pthread_mutex_unlock(&L.mu);
            ERROR("Account [%s] fetch refused: %d account lookups in flight already", pub,
                  LOOKUP_INFLIGHT_MAX);
            return ACCT_REMOTE_BUSY;
        }
        for (s = L.slots; s->used; s++)
            ;
        s->used = true;
        memcpy(s->pub, pub, sizeof pub);
        s->start_ns = now_mono_ns();
        s->deadline_ns = s->start_ns + L.timeout_ns;
        L.nlive++;
        pthread_cond_signal(&L.cv);
    }
    if (done) {
        /* one per waiting login: bounded by the connections */
        if (s->nw == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 4;
            s->w = xrealloc(s->w, s->cap * sizeof *s->w);
        }
        s->w[s->nw++] = (waiter_t){done, arg};
    }
    pthread_mutex_unlock(&L.mu);
    if (fresh) {
        char subj[128], reply[sizeof L.inbox + NKEY_PUBLIC_LEN];
        snprintf(subj, sizeof subj, "$SYS.REQ.ACCOUNT.%s.CLAIMS.LOOKUP", pub);
        snprintf(reply, sizeof reply, "%s%s", L.inbox, pub);
        sys_publish(subj, reply, "", 0);
    }
    return ACCT_REMOTE_STARTED;
}

/* The system thread: an answer on our inbox. The first one that stores as a valid JWT
 * of the account ends the lookup; the others (and late ones) are dropped. */
static bool on_answer(const char *subject, const char *reply, const char *payload, size_t n,
                      buf_t *out)
{
    (void)reply, (void)out;
    const char *pub = subject + strlen(L.inbox);
    if (strlen(subject) != strlen(L.inbox) + NKEY_PUBLIC_LEN) return false;
    pthread_mutex_lock(&L.mu);
    bool waiting = find(pub) != NULL;
    pthread_mutex_unlock(&L.mu);
    if (!waiting || !n || !L.store(pub, payload, n)) return false;
    pthread_mutex_lock(&L.mu);
    lookup_t *s = find(pub), l;
    if (s) l = take(s);
    pthread_mutex_unlock(&L.mu);
    if (s) finish(&l, NULL); /* else it timed out meanwhile: its waiters were told */
    /* loaded now, also when nobody waits (a route named it): it exists from here on */
    account_fetch_quiet(pub, NKEY_PUBLIC_LEN);
    return false;
}

bool acct_lookup_own_inbox(const char *reply)
{
    return L.started && reply && strncmp(reply, L.inbox, strlen(L.inbox)) == 0;
}

void acct_lookup_init(int64_t timeout_ns, lookup_store_fn store)
{
    L.timeout_ns = timeout_ns > 0 ? timeout_ns : LOOKUP_TIMEOUT_DEFAULT_NS;
    L.store = store;
    sys_inbox_subject("lk", L.inbox, sizeof L.inbox); /* + the account */
    sys_register_inbox_request("lk", on_answer);
    pthread_cond_init(&L.cv, NULL);
    if (pthread_create(&L.th, NULL, deadline_thread, NULL) != 0) abort();
    L.started = true;
    account_set_remote(lookup_start);
}

void acct_lookup_free_all(void)
{
    if (!L.started) return;
    account_set_remote(NULL);
    pthread_mutex_lock(&L.mu);
    L.stop = true;
    pthread_cond_signal(&L.cv);
    pthread_mutex_unlock(&L.mu);
    pthread_join(L.th, NULL);
    for (size_t i = 0; i < LOOKUP_INFLIGHT_MAX; i++)
        free(L.slots[i].w); /* the waiters' connections are gone with the workers */
    memset(L.slots, 0, sizeof L.slots);
    L.nlive = 0;
    pthread_cond_destroy(&L.cv);
    L.started = L.stop = false;
}
