/* gb_run.c: runs one benchmark mode of gnatsd-bench.
 *
 * Receivers (subscribers, responders) start first and must confirm their
 * subscriptions with a PING/PONG before any sender starts, so a message
 * can never be "lost" merely because it was published before the
 * interest existed. The main thread then only monitors: progress once a
 * second on stderr, stall detection, and the hand-over from publishers to
 * subscribers (the exact expected count is the number actually
 * published, which is only known once every publisher has flushed). */
#include "gb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gb_report.h"

gb_shared gb_sh;
_Atomic int gb_interrupted;

void gb_fail(gb_worker *w, const char *fmt, ...)
{
    va_list ap;
    if (w->err) return;
    w->err = 1;
    va_start(ap, fmt);
    vsnprintf(w->errmsg, sizeof(w->errmsg), fmt, ap);
    va_end(ap);
}

int gb_subs_subject(char *out, size_t cap, const char *base, uint64_t k, bool wildcard)
{
    int n = snprintf(out, cap, "%s.s.%llu.%s", base, (unsigned long long)k, wildcard ? "*" : "x");
    return n < 0 ? 0 : n;
}

typedef struct group {
    gb_worker **w;
    int n;
} group;

/* Start n workers. Senders get a share of total (the first few take the
 * remainder); UINT64_MAX means "until the deadline". */
static int start_group(group *g, int n, enum gb_role role, const gb_cfg *cfg, void *(*fn)(void *),
                       uint64_t total)
{
    g->n = 0;
    g->w = calloc((size_t)(n ? n : 1), sizeof(*g->w));
    if (!g->w) return -1;
    for (int i = 0; i < n; i++) {
        gb_worker *w = calloc(1, sizeof(*w));
        if (!w) return -1;
        w->id = i;
        w->role = role;
        w->cfg = cfg;
        if (total == UINT64_MAX)
            w->quota = UINT64_MAX;
        else
            w->quota = total / (uint64_t)n + ((uint64_t)i < total % (uint64_t)n);
        g->w[g->n++] = w;
        if (pthread_create(&w->th, NULL, fn, w) != 0) {
            g->n--;
            free(w);
            return -1;
        }
    }
    return 0;
}

static void join_group(group *g)
{
    for (int i = 0; i < g->n; i++)
        pthread_join(g->w[i]->th, NULL);
}

static void free_group(group *g)
{
    for (int i = 0; i < g->n; i++) {
        free(g->w[i]->lat);
        free(g->w[i]->payload);
        free(g->w[i]);
    }
    free(g->w);
}

static bool all_finished(const group *g)
{
    for (int i = 0; i < g->n; i++)
        if (!atomic_load(&g->w[i]->finished)) return false;
    return true;
}

static bool all_ready(const group *g)
{
    for (int i = 0; i < g->n; i++)
        if (!atomic_load(&g->w[i]->ready)) return false;
    return true;
}

static const char *first_error(const group *g)
{
    for (int i = 0; i < g->n; i++)
        if (g->w[i]->err) return g->w[i]->errmsg;
    return NULL;
}

static uint64_t group_count(const group *g)
{
    uint64_t s = 0;
    for (int i = 0; i < g->n; i++)
        s += gb_load(&g->w[i]->count);
    return s;
}

static uint64_t group_errors(const group *g)
{
    uint64_t s = 0;
    for (int i = 0; i < g->n; i++)
        s += (uint64_t)g->w[i]->err + g->w[i]->bad_size;
    return s;
}

static void progress_line(const gb_cfg *cfg, const group *tx, const group *rx, uint64_t t0,
                          uint64_t prev_tx, uint64_t prev_rx, double dt)
{
    uint64_t ntx = group_count(tx), nrx = group_count(rx);
    double el = (gb_now() - t0) / 1e9;
    fprintf(stderr, "[%s %.0fs]", gb_mode_name(cfg->mode), el);
    if (tx->n) {
        if (cfg->msgs != UINT64_MAX)
            fprintf(stderr, " sent %llu/%llu", (unsigned long long)ntx,
                    (unsigned long long)cfg->msgs);
        else
            fprintf(stderr, " sent %llu", (unsigned long long)ntx);
        fprintf(stderr, " (%.0f/s)", (ntx - prev_tx) / dt);
    }
    if (rx->n && cfg->mode != GB_REQREP)
        fprintf(stderr, " received %llu (%.0f/s)", (unsigned long long)nrx, (nrx - prev_rx) / dt);
    fputc('\n', stderr);
}

int gb_run(const gb_cfg *cfg)
{
    void *(*txfn)(void *) = cfg->engine == GB_RAW ? gb_raw_pub : gb_nats_pub;
    void *(*rxfn)(void *) = cfg->engine == GB_RAW ? gb_raw_sub : gb_nats_sub;
    int ntx = cfg->npub, nrx = cfg->nsub, rc = 0;
    enum gb_role txrole = GB_ROLE_PUB, rxrole = GB_ROLE_SUB;
    group tx = {0}, rx = {0};
    const char *err = NULL;
    uint64_t timeout_ns = (uint64_t)(cfg->timeout * 1e9);

    memset(&gb_sh, 0, sizeof(gb_sh));
    switch (cfg->mode) {
    case GB_PUB:
        nrx = 0;
        break;
    case GB_SUB:
        ntx = 0;
        break;
    case GB_QUEUE:
        gb_sh.queue = true;
        break;
    case GB_SUBS:
        nrx = 1; /* all subscriptions live on one connection */
        gb_sh.random_subjects = true;
        break;
    case GB_REQREP:
        txrole = GB_ROLE_REQ;
        rxrole = GB_ROLE_REP;
        txfn = cfg->engine == GB_RAW ? gb_raw_req : gb_nats_req;
        rxfn = cfg->engine == GB_RAW ? gb_raw_rep : gb_nats_rep;
        break;
    default:
        break;
    }
    /* sub-only waits for an external publisher to send --msgs */
    atomic_store(&gb_sh.expected, ntx ? UINT64_MAX : cfg->msgs);

    uint64_t t0 = gb_now();
    if (start_group(&rx, nrx, rxrole, cfg, rxfn, 0) < 0) {
        err = "cannot start receivers";
        goto stop;
    }
    while (!all_ready(&rx)) {
        if ((err = first_error(&rx)) != NULL) goto stop;
        if (gb_now() - t0 > timeout_ns || atomic_load(&gb_interrupted)) {
            err = "receivers not ready in time";
            goto stop;
        }
        usleep(2000);
    }
    if (cfg->mode == GB_SUB) {
        /* always: it is the cue to start the external publisher */
        fprintf(stderr, "[sub] %d subscriber(s) ready on %s, waiting for %llu messages\n", nrx,
                cfg->subject, (unsigned long long)cfg->msgs);
    }
    if (cfg->mode == GB_SUBS && cfg->progress)
        fprintf(stderr, "[subs] %d subscriptions registered in %.3f s\n", cfg->subs,
                gb_sh.subs_setup_ns / 1e9);

    if (cfg->duration > 0) gb_sh.deadline = gb_now() + (uint64_t)(cfg->duration * 1e9);
    if (start_group(&tx, ntx, txrole, cfg, txfn, cfg->msgs) < 0) {
        err = "cannot start publishers";
        goto stop;
    }

    uint64_t start = gb_now(), last_progress = start, last_print = start;
    uint64_t prev_tx = 0, prev_rx = 0, seen = 0;
    bool tx_done = false;
    for (;;) {
        usleep(10000);
        uint64_t now = gb_now();
        if (atomic_load(&gb_interrupted)) {
            err = "interrupted";
            break;
        }
        if ((err = first_error(&tx)) != NULL || (err = first_error(&rx)) != NULL) break;
        if (!tx_done && all_finished(&tx)) {
            tx_done = true;
            if (ntx) {
                /* now the exact count is known: everything that was published */
                uint64_t sent = group_count(&tx);
                atomic_store(&gb_sh.expected, sent);
            }
            atomic_store(&gb_sh.pubs_done, 1);
            atomic_store(&gb_sh.stop_responders, 1);
        }
        if (tx_done && (cfg->mode == GB_REQREP || all_finished(&rx))) break;
        if (!ntx && cfg->duration > 0 && now >= start + (uint64_t)(cfg->duration * 1e9))
            break; /* sub-only: time limit */
        uint64_t total = group_count(&tx) + group_count(&rx);
        if (total != seen) {
            seen = total;
            last_progress = now;
        } else if (now - last_progress > timeout_ns) {
            /* stalled: whatever is missing is reported as lost */
            fprintf(stderr, "gnatsd-bench: no progress for %.1f s, giving up\n", cfg->timeout);
            break;
        }
        if (cfg->progress && now - last_print >= 1000000000ull) {
            double dt = (now - last_print) / 1e9;
            progress_line(cfg, &tx, &rx, start, prev_tx, prev_rx, dt);
            prev_tx = group_count(&tx);
            prev_rx = group_count(&rx);
            last_print = now;
        }
    }
stop:
    atomic_store(&gb_sh.abort, 1);
    atomic_store(&gb_sh.stop_responders, 1);
    join_group(&tx);
    join_group(&rx);
    if (!err) err = first_error(&tx) ? first_error(&tx) : first_error(&rx);

    /* ---- results ---- */
    gb_result r;
    uint64_t sent = group_count(&tx);
    if (tx.n) {
        memset(&r, 0, sizeof(r));
        r.role = cfg->mode == GB_REQREP ? "req" : "pub";
        r.clients = tx.n;
        gb_result_rates(&r, tx.w, tx.n, cfg->size);
        r.errors = group_errors(&tx);
        if (cfg->mode == GB_REQREP) {
            /* a request without its reply is a lost message */
            uint64_t want = 0;
            for (int i = 0; i < tx.n; i++)
                want += gb_sh.deadline ? gb_load(&tx.w[i]->count) + (tx.w[i]->err != 0)
                                       : tx.w[i]->quota;
            r.expected = want;
            r.lost = want > r.msgs ? want - r.msgs : 0;
            if (gb_result_latency(&r, tx.w, tx.n) < 0) r.errors++;
            gb_result_extra(&r, "responders", rx.n);
        }
        r.errmsg = first_error(&tx);
        gb_emit(cfg, &r);
        rc |= r.lost || r.errors;
    }
    if (rx.n && cfg->mode != GB_REQREP) {
        uint64_t exp = atomic_load(&gb_sh.expected);
        if (exp == UINT64_MAX) /* publishers never finished */
            exp = sent;
        memset(&r, 0, sizeof(r));
        r.role = cfg->mode == GB_SUBS ? "subs" : "sub";
        r.clients = rx.n;
        gb_result_rates(&r, rx.w, rx.n, cfg->size);
        r.errors = group_errors(&rx);
        if (exp == UINT64_MAX) {
            r.expected = 0; /* sub-only with no count: nothing to verify */
        } else if (gb_sh.queue) {
            r.expected = exp;
            r.lost = exp > r.msgs ? exp - r.msgs : 0;
            r.extra = r.msgs > exp ? r.msgs - exp : 0;
        } else {
            r.expected = exp * (uint64_t)rx.n;
            for (int i = 0; i < rx.n; i++) {
                uint64_t c = gb_load(&rx.w[i]->count);
                r.lost += exp > c ? exp - c : 0;
                r.extra += c > exp ? c - exp : 0;
            }
        }
        if (cfg->mode == GB_SUBS) {
            double s = gb_sh.subs_setup_ns / 1e9;
            gb_result_extra(&r, "subs", cfg->subs);
            gb_result_extra(&r, "subscribe_secs", s);
            gb_result_extra(&r, "subscribe_per_sec", s > 0 ? cfg->subs / s : 0);
            gb_result_extra(&r, "deliveries_per_sec", r.rate);
        }
        r.errmsg = first_error(&rx);
        gb_emit(cfg, &r);
        rc |= r.lost || r.extra || r.errors;
    }
    if (rx.n && cfg->mode == GB_REQREP && first_error(&rx)) {
        memset(&r, 0, sizeof(r));
        r.role = "rep";
        r.clients = rx.n;
        r.msgs = group_count(&rx);
        r.errors = group_errors(&rx);
        r.errmsg = first_error(&rx);
        gb_emit(cfg, &r);
        rc = 1;
    }
    if (err) {
        fprintf(stderr, "gnatsd-bench: %s\n", err);
        rc = 1;
    }
    free_group(&tx);
    free_group(&rx);
    return rc ? 1 : 0;
}
