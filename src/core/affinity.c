/* affinity.c: a connection whose traffic is all with one other connection moves to that
 * one's worker, so that a request and its reply are handled by one thread.
 *
 * Why: a request/reply pair on two workers needs both threads awake for every round
 * trip, a cross-thread wake-up per direction; on a busy machine each wake-up may wait
 * for the scheduler's next tick (docs/performance.md, issue #15). On one worker the pair
 * needs one. Measured with --workers 1 on reqrep_16: p50 0.84x, server CPU 0.875x of two
 * workers; under two busy loops p99 0.53x of the reference instead of 1.2x.
 *
 * Rule: after each read that delivered something, the owner notes the one connection it
 * delivered to (its own PONGs aside), or none if several (affinity_note). When two
 * connections have each delivered only to the other for AFF_READS reads in a row, the
 * movable one of the two (the kind's can_move row), or, both being movable, the one on the
 * worker with more connections (ties: the newer one) moves to the other's worker at the
 * end of its owner's pass (affinity_run). One-way streams, fan-outs, queue groups and a
 * service answering many requesters never qualify. A connection that moved stays at
 * least AFF_REST_NS.
 *
 * The move: the owner takes the socket out of its event set and its list, switches c->w
 * under its kick_lock (kickers re-check it under the lock: outbound.c, conn_rehome), and
 * hands the connection over through the new worker's queue (conn_arrive adds the socket,
 * whose readiness epoll reports again at once, and takes a close requested meanwhile).
 * Other workers may append to and flush it throughout: that never depended on the
 * owner. One move is in flight at a time (the gate), none during a monitoring snapshot
 * (a connection in the queue is on no worker's list) and none after shutdown began.
 * A backend whose registrations cannot change loops safely (EVLOOP_CAN_MOVE 0) never
 * moves anything. */
#include "core/loop.h"
#include "base/log.h"

#include <sched.h>

#define AFF_READS 32
#define AFF_REST_NS (1000LL * 1000000LL)

enum { GATE_OPEN, GATE_MOVE, GATE_SNAP, GATE_CLOSED };
static _Atomic int gate;

void affinity_note(worker_t *w, conn_t *c)
{
    if (!EVLOOP_CAN_MOVE || srv->nworkers < 2) return;
    conn_t *peer = NULL;
    for (int i = 0; i < w->nstaged; i++) {
        conn_t *d = w->stages[w->staged[i]].conn;
        if (!d || d == c) continue;
        if (peer && d != peer) { /* several: not a pair */
            atomic_store_explicit(&c->aff_peer, 0, memory_order_relaxed);
            atomic_store_explicit(&c->aff_streak, 0, memory_order_relaxed);
            return;
        }
        peer = d;
    }
    if (!peer) return; /* nothing for others (a PONG): neither confirms nor breaks a streak */
    uint32_t n = 1;
    if (atomic_load_explicit(&c->aff_peer, memory_order_relaxed) == peer->cid) {
        n = atomic_load_explicit(&c->aff_streak, memory_order_relaxed);
        if (n < AFF_READS) n++;
    } else {
        atomic_store_explicit(&c->aff_peer, peer->cid, memory_order_relaxed);
    }
    atomic_store_explicit(&c->aff_streak, n, memory_order_relaxed);
    if (n < AFF_READS || w->move_c || !c->ops->can_move) return;
    worker_t *pw = atomic_load(&peer->w);
    if (pw == w) return;
    if (atomic_load_explicit(&peer->aff_peer, memory_order_relaxed) != c->cid ||
        atomic_load_explicit(&peer->aff_streak, memory_order_relaxed) < AFF_READS)
        return;                /* not (yet) both ways */
    if (peer->ops->can_move) { /* both may move: the same answer on both workers */
        uint32_t mine = atomic_load(&w->nconns), theirs = atomic_load(&pw->nconns);
        if (mine < theirs || (mine == theirs && c->cid < peer->cid)) return; /* it moves */
    }
    if (c->moved_ns && w->now_ns - c->moved_ns < AFF_REST_NS) return;
    w->move_c = c;
    w->move_peer = peer;
}

void affinity_run(worker_t *w)
{
    conn_t *c = w->move_c, *peer = w->move_peer;
    w->move_c = w->move_peer = NULL;
    /* Both pointers were taken during this pass: valid until this worker's quiescent
     * point, which comes after. */
    if (c->closing || c->fd < 0 || atomic_load(&srv->shutting_down)) return;
    /* Nothing of it may be tied to this worker: a pause (on the stalled list, or waiting
     * for a grace period's callback here), operations left to process, a handshake. */
    if (c->stall_until_ns || conn_read_paused(c) || c->part_more || (c->ssl && !c->tls_done) ||
        atomic_load(&c->close_req) != CR_NONE || !c->ops->can_move(c))
        return;
    int open = GATE_OPEN;
    if (!atomic_compare_exchange_strong(&gate, &open, GATE_MOVE)) return; /* next time */
    worker_t *to = atomic_load(&peer->w);
    if (to == w || atomic_load(&peer->out_closed)) {
        atomic_store(&gate, GATE_OPEN);
        return;
    }
    evloop_del(&w->loop, c->fd);
    conn_unlink(w, c);
    conn_rehome(w, c, to);
    c->moved_ns = w->now_ns;
    DEBUG("%sMoved to worker %d: its messages go to and come from cid:%llu only", c->prefix, to->id,
          (unsigned long long)peer->cid);
    inq_item_t it = {.fd = -1, .moved = c};
    hand_to(w, to, &it);
}

void conn_arrive(worker_t *w, conn_t *c)
{
    conn_link(w, c);                               /* (moved_ns was set by the previous owner) */
    evloop_add(&w->loop, c->fd, c, EVLOOP_STREAM); /* its current readiness comes at once */
    /* A close asked of the previous owner after it let go (conn_request_close loaded the
     * old c->w): seq_cst on both sides, so one of the two sees the other. */
    if (atomic_load(&c->close_req) != CR_NONE) atomic_store(&w->close_reqs, true);
    worker_note_deadline(w, w->now_ns); /* its timers: the next pass notes them here */
    atomic_store(&gate, GATE_OPEN);
}

bool affinity_close(void)
{
    int g = GATE_OPEN;
    if (atomic_compare_exchange_strong(&gate, &g, GATE_CLOSED) || g == GATE_CLOSED) return true;
    sched_yield(); /* a move in flight (its worker takes it on its way out), or a snapshot */
    return false;
}

void affinity_hold(void)
{
    for (;;) {
        int g = GATE_OPEN;
        if (atomic_compare_exchange_strong(&gate, &g, GATE_SNAP) || g == GATE_CLOSED) return;
        sched_yield(); /* a move: its new worker takes it within a pass */
    }
}

void affinity_release(void)
{
    int g = GATE_SNAP;
    atomic_compare_exchange_strong(&gate, &g, GATE_OPEN);
}
