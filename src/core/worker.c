/* worker.c: the workers: their loop, reading, timers, commands from the control
 * plane, and their start and stop.
 *
 * Each worker runs: evloop_wait -> read+parse every readable connection, one
 * read (up to 256 KiB; 64 KiB while a connection's reads deliver nothing) at
 * a time -> after each read, commit and flush what it produced ->
 * qsbr_quiescent -> timers. Sockets are watched edge-triggered for both
 * directions (EVLOOP_STREAM, evloop.h), so no call is needed per write: a
 * blocked flush is resumed by the owner on EVLOOP_WRITE. The loop drives each
 * connection through its kind's handler table (conn_ops_t) and never tests
 * its kind.
 *
 * Reads land in the worker's buffer; only the bytes of an incomplete operation
 * are kept per connection (c->part, whose buffer is kept between operations
 * only up to 4 KiB), so an idle connection holds at most that of reading; an
 * incomplete control line is bounded for every connection kind
 * (conn_line_max). */
#include "core/loop.h"
#include "base/bufpool.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "core/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

server_t *srv;

/* Every worker registers with qsbr, and so does the monitor thread: a full worker
 * complement must leave slots for them (it aborted at 64 workers with -m). */
_Static_assert(MAX_WORKERS + 16 <= QSBR_MAX_THREADS, "qsbr slots for every worker and helper");

uint64_t worker_rand(worker_t *w)
{
    /* xorshift64*: per-worker, no shared state on the delivery path. */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void worker_note_deadline(worker_t *w, int64_t t)
{
    evloop_note_deadline(&w->loop, t);
    if (t && (!w->pass_due_ns || t < w->pass_due_ns)) w->pass_due_ns = t;
}

void worker_note_wake(worker_t *w, int64_t t)
{
    evloop_note_deadline(&w->loop, t);
}

int64_t deadline_after(int64_t now, int64_t d)
{
    int64_t g = d / 16;
    if (g < 1000000) g = 1000000;
    if (g > 1000000000) g = 1000000000;
    int64_t t = now + d;
    return t + (g - t % g) % g;
}

void server_wake_all(void)
{
    for (int i = 0; i < srv->nworkers; i++)
        wake(&srv->workers[i]);
}

void hand_to(worker_t *self, worker_t *w, inq_item_t *it)
{
    if (w == self) {
        conn_adopt(self, it);
        free(it->url);
        return;
    }
    pthread_mutex_lock(&w->inq_lock);
    if (w->inq_len == w->inq_cap) {
        w->inq_cap = w->inq_cap ? w->inq_cap * 2 : 16;
        w->inq = xrealloc(w->inq, w->inq_cap * sizeof *w->inq);
    }
    w->inq[w->inq_len++] = *it;
    pthread_mutex_unlock(&w->inq_lock);
    wake(w);
}

void server_hand_off(inq_item_t *it)
{
    uint32_t k = atomic_fetch_add(&srv->rr, 1) % (uint32_t)srv->nworkers;
    hand_to(NULL, &srv->workers[k], it);
}

/* ---- reading ----------------------------------------------------------- */

static void save_partial(conn_t *c, const char *p, size_t n, size_t need)
{
    if (n == 0) {
        c->part_len = 0;
        c->part_need = 0;
        if (c->part_cap > 4096) {
            free(c->part);
            c->part = NULL;
            c->part_cap = 0;
        }
        return;
    }
    size_t want = n > need ? n : need;
    if (c->part_cap < want) {
        size_t cap = c->part_cap ? c->part_cap : 512;
        while (cap < want)
            cap *= 2;
        char *np = xmalloc(cap);
        memcpy(np, p, n);
        free(c->part);
        c->part = np;
        c->part_cap = cap;
    } else if (p != c->part) {
        memmove(c->part, p, n);
    }
    c->part_len = n;
    c->part_need = need;
}

/* The longest incomplete control line a connection may leave buffered, for every kind:
 * max_control_line plus the parser's slack. The client parser enforces the same bound
 * first, with the exact count the reference uses; routes, whose lines the reference does
 * not bound at all (an INFO lists every client URL of the cluster, an RMSG every queue
 * group that won), get at least their table's line_min (64 KiB). */
static size_t conn_line_max(const conn_t *c)
{
    int64_t mcl = srv->opts->max_control_line;
    if (mcl < c->ops->line_min) mcl = c->ops->line_min;
    return (size_t)mcl + PARSE_LINE_SLACK + 16; /* + the op name and CR */
}

/* After a read's operations were processed: what the connection leaves buffered (left
 * bytes, need for the next operation) must stay bounded, else it is closed (false). */
static bool conn_bounds_ok(worker_t *w, conn_t *c, size_t need, size_t left)
{
    if (unlikely(need > conn_line_max(c) + (size_t)srv->opts->max_pending)) {
        /* One operation bigger than max_pending (which max_payload may not exceed)
         * could only cut every consumer: not buffered. The client parser refuses
         * max_payload first; this bounds what a route peer may announce (the
         * reference takes any size a route sends). */
        ERROR("%smaximum payload exceeded: %zu vs max_pending %lld", c->prefix, need,
              (long long)srv->opts->max_pending);
        c->ops->send_err(w, c, "Maximum Payload Violation");
        conn_close(c, CR_MAX_PAYLOAD);
        return false;
    }
    if (need == 0 && !conn_read_paused(c) && left > conn_line_max(c)) {
        /* An operation whose control line never ends: no more buffering. */
        ERROR("%smaximum control line exceeded: max_control_line %d, buffer len %zu", c->prefix,
              srv->opts->max_control_line, left);
        c->ops->send_err(w, c, "maximum control line exceeded");
        conn_close(c, CR_MAX_CONTROL_LINE);
        return false;
    }
    return true;
}

/* Reads and processes until the socket is drained (edge-triggered). */
static void conn_read(worker_t *w, conn_t *c)
{
    /* conn_resume reads once the password check (or the UNSUB's grace period) is done */
    if (conn_read_paused(c)) return;
    if (c->ssl && !tls_handshake(w, c)) {
        if (c->closing) conn_close(c, c->reason);
        return;
    }
    /* TLS may hold decrypted bytes the socket no longer signals: read it until it blocks. */
    int max_rounds = conn_tls_on(c) ? 1 << 20 : 16;
    for (int rounds = 0; rounds < max_rounds && !c->closing; rounds++) {
        /* The reads of one pass are also bounded in time, not only in bytes: where a
         * read's operations cost far more than usual (a publisher fanning out while
         * two CONNECT floods replace permission sets, under TSan: 1.3 s for 16 reads)
         * the other connections of this worker, and a new one waiting for its INFO,
         * must not wait that long. Once the pass has run READ_TURN_NS, each connection
         * gets one read and waits for the next pass. The clock is read only from the
         * second round on. TLS may hold bytes the socket no longer signals: those are
         * read first. */
        if (rounds > 0 && now_mono_ns() - w->now_ns > READ_TURN_NS && !tls_conn_pending(c))
            break; /* the socket holds the rest: evloop_rearm below reports it */
        char *buf;
        size_t len, cap;
        bool big = c->part_len && (c->part_need > RBUF_SIZE || c->part_len >= RBUF_SIZE);
        if (big) {
            size_t want = c->part_need > c->part_len ? c->part_need : c->part_len + RBUF_SIZE;
            if (c->part_cap < want) {
                size_t ncap = c->part_cap;
                while (ncap < want)
                    ncap *= 2;
                c->part = xrealloc(c->part, ncap);
                c->part_cap = ncap;
            }
            buf = c->part;
            len = c->part_len;
            cap = c->part_cap;
        } else {
            buf = w->rbuf;
            len = c->part_len;
            cap = RBUF_SIZE;
            if (len) memcpy(buf, c->part, len);
        }
        size_t room = cap - len;
        /* A stream that fans out nothing (no subscriber) is read in smaller pieces:
         * measured faster for the publisher (the loopback path's cost is shared
         * differently); output-producing streams keep big batches. */
        if (c->quiet_reads && room > QUIET_READ) room = QUIET_READ;
        size_t staged_before = w->staged_total;
        /* Operations left from a read cut short go first: no new edge announces them. */
        bool more = c->part_more;
        c->part_more = false;
        ssize_t n = 0;
        if (!more) {
            n = conn_recv(c, buf + len, room);
            if (n <= 0) {
                if (n == -1) {
                    if (!big && len) save_partial(c, buf, len, c->part_need);
                    evloop_blocked(&w->loop, c->fd, EVLOOP_READ);
                    return;
                }
                conn_close(c, n == 0 ? CR_CLIENT_CLOSED : CR_READ_ERROR);
                return;
            }
            len += (size_t)n;
        }
        size_t used = 0, need = 0;
        for (;;) {
            used += c->ops->process(w, c, buf + used, len - used, &need);
            if (c->closing) {
                conn_close(c, c->reason);
                return;
            }
            /* A consumer passed the stall threshold in the middle of the read (the client
             * parser stops there): deliver, and pause here if it is still behind, so one
             * read cannot push a consumer that keeps up past max_pending. */
            if (used == len || !worker_read_must_stop(w)) break;
            bool behind = w->nover || w->over_lost;
            flush_pending(w);
            if (behind && pause_if_behind(w, c)) {
                save_partial(c, buf + used, len - used, 0);
                c->part_more = true;
                return;
            }
        }
        if (unlikely(c->ssl && !c->tls_done)) {
            /* The kind started TLS at this operation (a leaf node spoke, after the hub's
             * INFO): what follows is the handshake, not more of this read. */
            if (tls_handshake(w, c))
                evloop_rearm(&w->loop, c->fd, c); /* done at once: read on next pass */
            else if (c->closing)
                conn_close(c, c->reason);
            return;
        }
        if (unlikely(!conn_bounds_ok(w, c, need, len - used))) return;
        save_partial(c, buf + used, len - used, need);
        c->quiet_reads = w->staged_total == staged_before;
        if (w->nstaged) affinity_note(w, c);
        /* Deliver what this read produced before reading more: bounded buffers, low latency. */
        flush_pending(w);
        if (unlikely(w->nover || w->over_lost) && pause_if_behind(w, c)) return;
        if (conn_read_paused(c)) return; /* paused: conn_resume goes on */
        if (more) continue;              /* the socket was not read: it may hold more */
        /* A short read drained the socket; the next bytes bring a new edge (TLS: conn_recv
         * saw it drained). Not after the peer's FIN: its edge came with these bytes, and
         * only reading on sees the EOF. */
        if ((size_t)n < room && (!conn_tls_on(c) || c->tls_dry) && !c->peer_hup) {
            evloop_blocked(&w->loop, c->fd, EVLOOP_READ);
            return;
        }
    }
    if (!c->closing) {
        /* Budget spent with data possibly left: no new edge will tell us again. */
        evloop_rearm(&w->loop, c->fd, c);
    }
}

void conn_resume(worker_t *w, conn_t *c)
{
    /* What the client sent after CONNECT waits in part: conn_read takes it before the
     * socket (edges that came meanwhile were skipped), and keeps it if a consumer makes
     * us pause. */
    if (c->part_len) c->part_more = true;
    conn_read(w, c);
}

/* ---- the UNSUB's grace period ------------------------------------------------------- *
 * A publisher's worker stages deliveries and commits them to the subscriber's buffer at
 * the end of its read, always before its next quiescent point. So once every worker passed
 * one after an UNSUB, all that was staged while the subscription was open is in the
 * buffer: a qsbr retirement's callback is that signal. It runs on the owner worker (the
 * retirement is in its slot) inside qsbr_quiescent, where it only queues the token; the
 * worker loop resumes the connection right after. At shutdown (qsbr_drain_all, on another
 * thread) the connection is closed already and the token just freed. */

static void unsub_token_cb(void *p)
{
    struct unsub_token *t = p;
    if (!t->c) {
        free(t);
        return;
    }
    t->next = t->w->unsub_ready;
    t->w->unsub_ready = t;
}

void conn_unsub_wait(worker_t *w, conn_t *c)
{
    struct unsub_token *t = xcalloc(1, sizeof *t);
    t->c = c;
    t->w = w;
    c->unsub_grace = false;
    c->unsub_wait = t;
    w->unsub_waits++;
    qsbr_retire(t, unsub_token_cb);
}

static void run_unsub_ready(worker_t *w)
{
    struct unsub_token *list = w->unsub_ready;
    w->unsub_ready = NULL;
    while (list) {
        struct unsub_token *t = list;
        list = t->next;
        conn_t *c = t->c;
        free(t);
        if (!c) continue;
        c->unsub_wait = NULL;
        w->unsub_waits--;
        if (!c->stall_until_ns)
            conn_resume(w, c); /* the PING first, then what followed it */
        else if (c->part_len)
            c->part_more = true; /* run_stalled reads it when the stall ends */
    }
    if (!w->unsub_waits) w->unsub_spins = 0;
}

static void handle_close_reqs(worker_t *w)
{
    if (!atomic_exchange(&w->close_reqs, false)) return;
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        int r = atomic_load(&c->close_req);
        if (r != CR_NONE) conn_close(c, (close_reason_t)r);
    }
}

/* Producers whose pause is over read again (their socket may hold data already). */
static void run_stalled(worker_t *w)
{
    if (atomic_exchange(&w->stall_release, false))
        for (size_t i = 0; i < w->nstalled; i++)
            w->stalled[i]->stall_until_ns = w->now_ns;
    for (size_t i = 0; i < w->nstalled;) {
        conn_t *c = w->stalled[i];
        if (c->stall_until_ns > w->now_ns) {
            worker_note_wake(w, c->stall_until_ns);
            i++;
            continue;
        }
        if (c->stall_until_ns < w->now_ns) /* not released: the pause ran out */
            DEBUG("%sTimed out of fast producer stall (%lldms)", c->prefix,
                  (long long)(c->stall_len_ns / 1000000));
        unstall(w, c);
        conn_read(w, c);
        i = 0; /* the list may have changed */
    }
}

static void (*tick_hooks[WORKER_TICK_HOOKS])(worker_t *w);
static size_t ntick_hooks;

void worker_on_tick(void (*fn)(worker_t *w))
{
    if (ntick_hooks < WORKER_TICK_HOOKS) tick_hooks[ntick_hooks++] = fn;
}

static void run_timers(worker_t *w)
{
    if (!evloop_deadline_due(&w->loop, w->now_ns)) return;
    if (!w->pass_due_ns || w->pass_due_ns > w->now_ns) {
        /* The wake-up was a stall's end (run_stalled took it): no pass. As before, the
         * other stalls' wake-ups are forgotten here, and wait for an event or the next
         * pass (docs/internals.md: ending them on time kept busy consumers' buffers). */
        evloop_note_deadline(&w->loop, w->pass_due_ns);
        return;
    }
    w->pass_due_ns = 0;
    for (size_t i = 0; i < ntick_hooks; i++)
        tick_hooks[i](w);
    bool period_end = w->now_ns - w->busy_trim_ns >= HOUSEKEEP_NS;
    if (period_end) w->busy_trim_ns = w->now_ns;
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        c->ops->timer(w, c);
        if (!c->closing) conn_write_deadline(w, c);
        trim_out(c, period_end);
        if (c->closing) conn_close(c, c->reason);
    }
    /* Stage buffers not used for a whole tick go back too (NSTAGE of them may have
     * been in use at once during a fan-out). */
    for (int k = 0; k < NSTAGE; k++) {
        stage_t *st = &w->stages[k];
        if (!st->used && !st->conn && st->buf.cap) buf_free(&st->buf);
        if (st->used) st->used = false; /* (a write would dirty every page of the table) */
    }
    /* Housekeeping (write deadlines, auto-unsubscribed subs) at least 4 times a second,
     * and until the buffer pool gave back what a burst left behind. */
    bool pool_left = bufpool_trim(w->now_ns);
    if (w->conns || pool_left) worker_note_deadline(w, w->now_ns + HOUSEKEEP_NS);
}

static void drain_inq(worker_t *w)
{
    pthread_mutex_lock(&w->inq_lock);
    size_t n = w->inq_len;
    if (n == 0) {
        pthread_mutex_unlock(&w->inq_lock);
        return;
    }
    inq_item_t items[64];
    if (n > ARRAY_LEN(items)) n = ARRAY_LEN(items);
    memcpy(items, w->inq, n * sizeof *items);
    memmove(w->inq, w->inq + n, (w->inq_len - n) * sizeof *items);
    w->inq_len -= n;
    bool more = w->inq_len > 0;
    pthread_mutex_unlock(&w->inq_lock);
    for (size_t i = 0; i < n; i++) {
        if (items[i].moved) {
            conn_arrive(w, items[i].moved);
            continue;
        }
        conn_adopt(w, &items[i]);
        free(items[i].url);
    }
    if (more) wake(w);
}

/* On the way out: connections moving here are taken (and then closed with the others);
 * new sockets are left to server_free. */
static void drain_moved(worker_t *w)
{
    pthread_mutex_lock(&w->inq_lock);
    size_t k = 0;
    for (size_t i = 0; i < w->inq_len; i++) {
        if (w->inq[i].moved)
            conn_arrive(w, w->inq[i].moved);
        else
            w->inq[k++] = w->inq[i];
    }
    w->inq_len = k;
    pthread_mutex_unlock(&w->inq_lock);
}

void worker_command_one(worker_t *w, uint32_t cmd)
{
    atomic_fetch_or(&w->cmds, cmd);
    wake(w);
}

void worker_command(uint32_t cmd)
{
    for (int i = 0; i < srv->nworkers; i++) {
        atomic_fetch_or(&srv->workers[i].cmds, cmd);
        wake(&srv->workers[i]);
    }
}

/* Commands run once per worker (worker_on_command), by bit. */
static void (*worker_cmd_fns[32])(worker_t *w);
static uint32_t worker_cmd_hooked;

void worker_on_command(uint32_t cmd, void (*fn)(worker_t *w))
{
    for (int b = 0; b < 32; b++)
        if (cmd & (1u << b)) worker_cmd_fns[b] = fn;
    worker_cmd_hooked |= cmd;
}

static void run_commands(worker_t *w)
{
    uint32_t cmd = atomic_exchange(&w->cmds, 0);
    /* e.g. password-check verdicts: touch only the connections concerned */
    for (uint32_t m = cmd & worker_cmd_hooked; m; m &= m - 1)
        worker_cmd_fns[__builtin_ctz(m)](w);
    cmd &= ~worker_cmd_hooked;
    if (!cmd) return;
    if (cmd & WCMD_SNAPSHOT) run_snapshot(w);
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (!c->ops->command) continue;
        c->ops->command(w, c, cmd);
        if (c->closing) conn_close(c, c->reason);
    }
    if (cmd & WCMD_LDM_CLOSE) atomic_store(&w->ldm_close_quota, 0);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    char name[16]; /* ps -L, top -H and perf show which worker is which */
    snprintf(name, sizeof name, "worker-%d", w->id);
    os_thread_name(name);
    qsbr_register();
    w->stage_limit = stage_limit();
    evloop_event_t evs[256];
    while (!atomic_load_explicit(&srv->shutting_down, memory_order_relaxed)) {
        int max_ms = -1; /* else until the next deadline */
        if (unlikely(w->unsub_waits)) {
            /* Only our quiescent points move the grace period on (the others' are
             * passive): poll a few rounds, then tick every millisecond. */
            max_ms = w->unsub_spins++ < 8 ? 0 : 1;
        }
        /* Measured: polling without sleeping after busy passes won 20% at 16 KiB publishes
         * but lost as much on pub/sub and latency, where the clients need both cores. */
        int n = evloop_wait(&w->loop, evs, ARRAY_LEN(evs), max_ms);
        w->now_ns = now_mono_ns();
        for (int i = 0; i < n; i++) {
            void *p = evloop_tag(&evs[i]);
            if (p == NULL) { /* a wake-up */
                evloop_woken(&w->loop);
                drain_inq(w);
                run_commands(w);
                run_kicks(w);
                continue;
            }
            if (is_listener(p)) {
                do_accept(w, p);
                continue;
            }
            conn_t *c = p;
            if (c->fd < 0) continue;
            uint32_t what = evloop_what(&evs[i]);
            if (what & EVLOOP_HUP) c->peer_hup = true;
            if ((what & (EVLOOP_READ | EVLOOP_HUP)) && !c->stall_until_ns && !conn_read_paused(c))
                conn_read(w, c);
            if (c->fd >= 0 && (what & EVLOOP_WRITE)) {
                if (c->ssl && !c->tls_done)
                    conn_read(w, c);
                else
                    conn_flush(c);
            }
        }
        flush_pending(w);
        handle_close_reqs(w);
        w->stage_limit = stage_limit();
        if (w->nstalled) run_stalled(w);
        run_timers(w);
        if (unlikely(w->listener_paused)) run_listeners(w); /* after: run_timers resets deadlines */
        flush_pending(w);
        if (w->nover) { /* the pointers end here; the next read pauses without checking */
            w->over_lost = true;
            w->nover = 0;
        }
        if (unlikely(w->move_c)) affinity_run(w);
        qsbr_quiescent();
        if (unlikely(w->unsub_ready)) run_unsub_ready(w);
        /* A read there noted a move after the quiescent point: its pointers would not
         * survive the next wait (the next read notes it again). */
        w->move_c = w->move_peer = NULL;
    }
    do
        drain_moved(w);
    while (!affinity_close());
    for (conn_t *c = w->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c, CR_SHUTDOWN);
    }
    qsbr_unregister();
    return NULL;
}

/* ---- startup ------------------------------------------------------------ */

static void gen_server_id(char *out)
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char rnd[55];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(rand() ^ (int)(now_mono_ns() >> (i % 16)));
    }
    if (f) fclose(f);
    out[0] = 'N';
    for (int i = 0; i < 55; i++)
        out[i + 1] = b32[rnd[i] & 31];
    out[56] = 0;
}

int server_init(opts_t *o)
{
    srv = xcalloc(1, sizeof *srv);
    srv->opts = o;
    gen_server_id(srv->server_id);
    srv->server_name = xstrdup(o->server_name && *o->server_name ? o->server_name : srv->server_id);
    atomic_store(&srv->next_cid, 1);
    srv->start_wall_ns = now_wall_ns();
    srv->start_mono_ns = now_mono_ns();
    atomic_store(&srv->config_load_ns, srv->start_wall_ns);
    srv->listen_fd = srv->http_fd = -1;
    int n = o->workers;
    if (n <= 0) {
        long cpus = os_ncpus();
        n = cpus > 0 ? (int)cpus : 1;
    }
    /* One bit per worker in each connection's flush_mask: a host with more cores gets
     * MAX_WORKERS workers (server_start says so when --workers asked for more). */
    if (n > MAX_WORKERS) n = MAX_WORKERS;
    srv->nworkers = n;
    srv->workers = xcalloc((size_t)n, sizeof(worker_t));
    bufpool_init();
    return 0;
}

void server_prepare(void)
{
    opts_t *o = srv->opts;
    if (o->workers > MAX_WORKERS)
        WARN("--workers %d is more than the maximum of %d: using %d", o->workers, MAX_WORKERS,
             srv->nworkers);
    else if (o->workers < 0)
        WARN("--workers %d is not a valid count: using one per core (%d)", o->workers,
             srv->nworkers);
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        w->id = i;
        evloop_init(&w->loop);
        pthread_mutex_init(&w->inq_lock, NULL);
        spin_init(&w->kick_lock);
        w->stages = xcalloc(NSTAGE, sizeof *w->stages);
        w->pass_budget = PASS_BUDGET;
        w->rbuf = xmalloc(RBUF_SIZE);
        w->rng = (uint64_t)now_mono_ns() * 2654435761ULL + (uint64_t)i * 0x9E3779B97F4A7C15ULL + 1;
    }
}

void server_start(void)
{
    for (int i = 0; i < srv->nworkers; i++)
        pthread_create(&srv->workers[i].th, NULL, worker_main, &srv->workers[i]);
}

void server_join(void)
{
    server_wake_all();
    for (int i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i].th, NULL);
}

void server_stats(server_stats_t *st)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        st->in_msgs += atomic_load_explicit(&w->in_msgs, memory_order_relaxed);
        st->in_bytes += atomic_load_explicit(&w->in_bytes, memory_order_relaxed);
        st->out_msgs += atomic_load_explicit(&w->out_msgs, memory_order_relaxed);
        st->out_bytes += atomic_load_explicit(&w->out_bytes, memory_order_relaxed);
    }
}

/* Releases everything the server holds after server_join (leak checkers
 * run the whole test suite against the binary). */
void server_free(void)
{
    for (int i = 0; i < srv->nworkers; i++) {
        worker_t *w = &srv->workers[i];
        evloop_free(&w->loop);
        for (size_t k = 0; k < w->inq_len; k++) {
            os_sock_close(w->inq[k].fd);
            free(w->inq[k].url);
        }
        free(w->inq);
        free(w->flushq);
        free(w->kickq);
        free(w->kickq_spare);
        for (int k = 0; w->stages && k < NSTAGE; k++)
            buf_free(&w->stages[k].buf);
        free(w->stages);
        free(w->stalled);
        free(w->rbuf);
        buf_free(&w->scratch);
        pthread_mutex_destroy(&w->inq_lock);
    }
    free(srv->workers);
    closed_ring_free();
    qsbr_drain_all();
    free(atomic_load(&srv->info_prefix));
    free(atomic_load(&srv->info_suffix));
    tls_ctx_unref(atomic_load(&srv->tls_ctx));
    free(srv->server_name);
    opts_free(srv->opts);
    free(srv->opts);
    free(srv);
    srv = NULL;
}
