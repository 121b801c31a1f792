/* evloop.h: the mechanics of an event loop, shared by the workers (worker.c) and the
 * monitoring port's thread (monitor.c); each keeps its own dispatch. A loop is a set of
 * descriptors watched with a tag (the pointer their events give back), a wake-up any
 * thread may send, the earliest deadline the loop must wake up for, and the wait itself,
 * during which the thread is QSBR-offline (qsbr.h).
 *
 * This is the seam a port to another OS replaces. Two backends, each a header with the
 * loop's struct and the event block (type, flag bits, accessors: inline, because the
 * worker reads them for every event) plus a .c file with the calls:
 *   - evloop_epoll.c (with evloop_ev_epoll.h): Linux, an epoll set and an eventfd;
 *   - evloop_afd.c (with evloop_ev_afd.h): Windows, readiness polls (IOCTL_AFD_POLL) on
 *     an \Device\Afd handle tied to an I/O completion port, wake-ups posted to the port.
 * Both provide the same calls with the same meaning; this header picks one.
 *
 * Threads: evloop_add/del/rearm, evloop_blocked and evloop_wake from any thread (a worker
 * puts a shared listener back into every worker's set; any worker may flush a
 * connection); evloop_wait, evloop_woken and the deadline calls only from the loop's own
 * thread. */
#ifndef GNATSD_EVLOOP_H
#define GNATSD_EVLOOP_H

#include "base/common.h"

#include <stdbool.h>
#include <stdint.h>

/* How a descriptor is watched (evloop_add). */
enum evloop_mode {
    /* A connection: edge-triggered read and write readiness and the peer's hang-up. The
     * owner reads until it would block (or a short read drained the socket) and resumes a
     * blocked write on EVLOOP_WRITE, so no call is needed per write; where a direction ran
     * dry its user calls evloop_blocked (below), which only a one-shot backend needs. */
    EVLOOP_STREAM,
    /* A listener, level-triggered: readable while connections wait. */
    EVLOOP_ACCEPT,
    /* A listener in several loops' sets, one of which is woken per readiness. */
    EVLOOP_ACCEPT_SHARED,
};

/* The backend: evloop_t (with an int64_t next_deadline_ns), evloop_event_t, the bits
 * EVLOOP_READ, EVLOOP_WRITE, EVLOOP_HUP (the peer's FIN, a hang-up, an error), and
 *   void *evloop_tag(const evloop_event_t *e);     NULL: a wake-up (evloop_woken)
 *   uint32_t evloop_what(const evloop_event_t *e); EVLOOP_* bits
 *   void evloop_blocked(evloop_t *l, int fd, uint32_t what);
 * evloop_blocked: the owner of an EVLOOP_STREAM descriptor (or, for EVLOOP_WRITE, any
 * thread writing to it) stopped because it would block: a read returned "would block" or
 * a short read drained the socket (EVLOOP_READ), a write or a TLS call wanting to write
 * returned "would block" (EVLOOP_WRITE). epoll's edge-triggered registration needs
 * nothing (inline, empty: the Linux path does no work for it). A backend whose polls are
 * one-shot (Windows) arms the poll for that direction here; each poll reports at most
 * once, so its edge is emulated: a direction is watched only after its user ran dry. The
 * poll checks the socket's state when armed, so readiness that came between the call
 * that would block and this one is not lost. */
#ifdef _WIN32
#include "core/evloop_ev_afd.h"
#else
#include "core/evloop_ev_epoll.h"
#endif

int evloop_init(evloop_t *l);  /* 0, or -1 with errno */
void evloop_free(evloop_t *l); /* a zeroed, never initialised loop is left alone */
void evloop_add(evloop_t *l, int fd, void *tag, enum evloop_mode mode);
void evloop_del(evloop_t *l, int fd);
/* An EVLOOP_STREAM descriptor reports its readiness again: for an owner that stopped
 * reading before the socket was drained (the edge that announced the rest has passed). */
void evloop_rearm(evloop_t *l, int fd, void *tag);
void evloop_wake(evloop_t *l);  /* any thread: evloop_wait returns, with a wake-up event */
void evloop_woken(evloop_t *l); /* after a wake-up event: the next wake-up is reported again */

/* The loop must wake up by t (monotonic ns; 0 = no deadline): the earliest noted counts. */
static inline void evloop_note_deadline(evloop_t *l, int64_t t)
{
    if (t && (l->next_deadline_ns == 0 || t < l->next_deadline_ns)) l->next_deadline_ns = t;
}
/* True once the noted deadline has passed, which then is forgotten (the caller notes the
 * next ones while it runs what was due). */
static inline bool evloop_deadline_due(evloop_t *l, int64_t now_ns)
{
    if (!l->next_deadline_ns || now_ns < l->next_deadline_ns) return false;
    l->next_deadline_ns = 0;
    return true;
}

/* Waits, QSBR-offline, until events, a wake-up, the noted deadline or max_ms (-1: no
 * limit) passed; stores up to max events in evs and returns their count (0 on timeout,
 * -1 if interrupted). */
int evloop_wait(evloop_t *l, evloop_event_t *evs, int max, int max_ms);
/* The wait evloop_wait makes for max_ms and the noted deadline (-1: no limit): one
 * rule for both backends. */
static inline int evloop_timeout_ms(const evloop_t *l, int max_ms)
{
    int timeout = max_ms;
    if (l->next_deadline_ns) {
        int64_t d = l->next_deadline_ns - now_mono_ns();
        int t = d <= 0 ? 0 : (int)(d / 1000000) + 1; /* rounded up: never wake up early */
        if (timeout < 0 || t < timeout) timeout = t;
    }
    return timeout;
}

#endif
