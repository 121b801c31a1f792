/* loop.h: internals shared by the core's own files (worker.c, conn.c, outbound.c,
 * listen.c, snapshot.c) and by no other layer: the calls the worker loop makes into
 * the outbound pipeline, connection lifecycle, listeners and snapshots. Hot per-message
 * paths stay static inside outbound.c; what crosses files here runs per read, per
 * batch or per event. */
#ifndef GNATSD_LOOP_H
#define GNATSD_LOOP_H

#include "core/core.h"

#include <stdint.h>
#include <sys/types.h>

/* worker.c */
static inline void wake(worker_t *w) /* any thread: w's loop returns from its wait */
{
    evloop_wake(&w->loop);
}
/* Hands a socket to worker w (adopted at once when w is self). */
void hand_to(worker_t *self, worker_t *w, inq_item_t *it);

/* outbound.c */
/* Writes what is pending until done or the socket is full. Caller holds out_lock and
 * no flusher is active. Returns false on a write error. */
bool flush_run(conn_t *c, bool unlocked);
void stage_commit_conn(worker_t *w, conn_t *c); /* w's stage for c, if any, committed */
void unkick(conn_t *c);                         /* owner, closing c: off the kick list */
/* Owner w: c's owner becomes `to` (off w's kick list, c->w switched under its lock). */
void conn_rehome(worker_t *w, conn_t *c, worker_t *to);
void unstall(worker_t *w, conn_t *c); /* owner: c reads again */
void flush_pending(worker_t *w);      /* commits every stage and flushes what they filled */
/* After a read whose deliveries left consumers behind: pauses c unless they caught up. */
bool pause_if_behind(worker_t *w, conn_t *c);
void run_kicks(worker_t *w); /* owner: writes the connections other workers kicked */
size_t stage_limit(void);    /* the stall threshold for stages, per loop iteration */
/* gives back the outbound buffers of an idle connection; at the end of a HOUSEKEEP_NS
 * period (period_end), a busy one's oversized ones */
void trim_out(conn_t *c, bool period_end);
/* every outbound buffer goes: the last reference is gone, or, under out_lock, nothing
 * is pending */
void out_free(conn_t *c);
/* Caller holds out_lock. out_put: b's bytes go after everything queued for c (b's
 * buffer itself when it can, no copy); b is left empty, perhaps with a buffer to reuse.
 * out_next: the flusher wrote wbuf; the next bytes to write become wbuf (false: none). */
void out_put(conn_t *c, buf_t *b);
bool out_next(conn_t *c);
void conn_write_deadline(worker_t *w, conn_t *c);

/* conn.c */
void conn_adopt(worker_t *w, inq_item_t *it); /* owner: a new connection of it->ops' kind */
void conn_link(worker_t *w, conn_t *c);       /* onto w's list of owned connections */
void conn_unlink(worker_t *w, conn_t *c);     /* off it */
/* Drives the server side of the handshake. Returns true once application data may flow. */
bool tls_handshake(worker_t *w, conn_t *c);
/* One read through the transport (transport.h: >0 bytes, 0 EOF, -1 would block, -2
 * error), TLS under c's out_lock. */
ssize_t conn_recv(conn_t *c, char *buf, size_t room);
/* A grace period after an UNSUB (conn_unsub_wait, worker.c). */
struct unsub_token {
    conn_t *c; /* owner only: NULL once the connection closed */
    worker_t *w;
    struct unsub_token *next;
};

/* listen.c */
/* The worker listeners (the client port, the route port...): one row each, registered
 * before the workers start (listener_add); their events' tag is the row. */
struct listener {
    /* Read-held by workers around every use of the descriptor (accepting, leaving and
     * rejoining the loops), write-held by the control plane around its removal: it is
     * never closed while a worker uses it, so no worker acts on a reused number.
     * Workers accept on it side by side. */
    pthread_rwlock_t lock;
    _Atomic int fd;        /* -1 once removed (lame duck, shutdown) */
    const char *name;      /* "Client": the reference's accept-error line */
    const conn_ops_t *ops; /* of the connections it accepts */
    accept_backoff_t bo;
    _Atomic int owner; /* the worker that puts it back, -1 = none */
    int paused_fd;     /* the listener out of the loops (fd may be reset meanwhile) */
};
extern struct listener listeners[MAX_LISTENERS];
static inline bool is_listener(const void *p) /* an event's tag (evloop_tag) */
{
    return (uintptr_t)p >= (uintptr_t)listeners &&
           (uintptr_t)p < (uintptr_t)(listeners + MAX_LISTENERS);
}
void do_accept(worker_t *self, struct listener *l); /* everything pending, round-robin */
void run_listeners(worker_t *w); /* owner of a paused listener: back after its back-off */

/* affinity.c: moving a connection to the worker of the one connection it talks with */
void affinity_note(worker_t *w, conn_t *c); /* owner, after a read: whom it delivered to */
void affinity_run(worker_t *w);             /* end of a pass, w->move_c set: the move */
void conn_arrive(worker_t *w, conn_t *c);   /* a connection moving here (from w's queue) */
/* Worker on its way out: true once no move can start or is in flight (else retry after
 * taking the connections moving here). */
bool affinity_close(void);
void affinity_hold(void); /* a snapshot: no move in flight until affinity_release */
void affinity_release(void);

/* snapshot.c */
void run_snapshot(worker_t *w); /* WCMD_SNAPSHOT: this worker's part */
void closed_ring_free(void);    /* server_free */

#endif
