/* evloop_ev_afd.h: evloop.h's backend block on Windows (evloop_afd.c has the why): the loop
 * is an I/O completion port and an \Device\Afd handle whose readiness polls complete on
 * it; an event is a tag and EVLOOP_* bits, filled in by evloop_wait. */
#ifndef GNATSD_EVLOOP_AFD_H
#define GNATSD_EVLOOP_AFD_H

#include <stdatomic.h>
#include <stdint.h>

struct evl_sock;

/* Not here: a poll already posted for a descriptor may complete on the old port after
 * it left, so connections never change loops (core/affinity.c). */
#define EVLOOP_CAN_MOVE 0

typedef struct evloop {
    void *iocp;               /* HANDLE: the completion port the loop waits on */
    void *afd;                /* HANDLE: \Device\Afd, tied to iocp: its polls complete there */
    int64_t next_deadline_ns; /* monotonic; 0 = none */
    atomic_int wake_posted;   /* a wake-up packet is queued and not yet taken (evloop_woken) */
    int npending;             /* polls issued on afd whose completion has not been taken */
    struct evl_sock **held;   /* listeners reported by this loop, re-armed at its next wait */
    int nheld, cap_held;
} evloop_t;

typedef struct evloop_event {
    void *tag;
    uint32_t what;
} evloop_event_t;
#define EVLOOP_READ 0x1u
#define EVLOOP_WRITE 0x4u
#define EVLOOP_HUP 0x10u /* the peer's FIN, a reset, an error */
static inline void *evloop_tag(const evloop_event_t *e)
{
    return e->tag;
}
static inline uint32_t evloop_what(const evloop_event_t *e)
{
    return e->what;
}
void evloop_blocked(evloop_t *l, int fd, uint32_t what);

#endif
