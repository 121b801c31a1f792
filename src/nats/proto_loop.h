/* proto_loop.h: what the client and route protocols share on one connection,
 * on its owner worker.
 *
 * proto_loop: the loop over the bytes a read brought. Each operation is
 * parsed from its start (parse_op, stateless); an incomplete one is left
 * for the next read with its size hint; a parse error is the kind's to
 * report (the connection closes); a complete one goes to the kind's handler.
 * It stops at a close or a paused read (a password check, an UNSUB's grace
 * period). It is inline so that, called with the kind's own static handlers,
 * the compiler turns the pointers into direct calls (inlined where it chooses,
 * as before): the client PUB path pays no indirect call per operation.
 *
 * conn_ping_tick: the PING timer of both kinds. */
#ifndef GNATSD_PROTO_LOOP_H
#define GNATSD_PROTO_LOOP_H

#include "core/core.h"

/* What a kind's handler says after one operation. */
typedef enum proto_next {
    PROTO_NEXT,   /* go on with the next operation */
    PROTO_STOP,   /* stop after this one (closing, or let the read path act first) */
    PROTO_UNREAD, /* stop and leave this operation unread: it is processed again later */
} proto_next_t;

typedef struct proto_kind {
    /* Before an operation is parsed, with its first byte: false stops (the
     * connection is closing). NULL: none. */
    bool (*before)(worker_t *w, conn_t *c, const char *at);
    /* A parse error at buf[0..len) (the operation's start): log, reply, close. */
    void (*error)(worker_t *w, conn_t *c, parse_rc_t rc, const op_t *op, const char *buf,
                  size_t len);
    proto_next_t (*handle)(worker_t *w, conn_t *c, const op_t *op);
} proto_kind_t;

/* Returns the bytes consumed; *need is the size hint of an incomplete operation. */
static inline size_t proto_loop(worker_t *w, conn_t *c, const proto_kind_t *k,
                                const parse_limits_t *lim, const char *buf, size_t len,
                                size_t *need)
{
    size_t pos = 0;
    *need = 0;
    while (pos < len && !c->closing && !conn_read_paused(c)) {
        op_t op;
        if (k->before && !k->before(w, c, buf + pos)) break;
        parse_rc_t rc = parse_op(lim, buf + pos, len - pos, &op);
        if (rc == PARSE_NEED_MORE) {
            *need = op.need;
            break;
        }
        if (rc != PARSE_OK) {
            k->error(w, c, rc, &op, buf + pos, len - pos);
            break;
        }
        pos += op.consumed;
        proto_next_t next = k->handle(w, c, &op);
        if (likely(next == PROTO_NEXT)) continue;
        if (next == PROTO_UNREAD) pos -= op.consumed;
        break;
    }
    return pos;
}

typedef enum ping_tick {
    PING_NOT_DUE,
    PING_DELAYED, /* traffic within the interval: no PING needed */
    PING_SENT,
    PING_STALE, /* ping_max PINGs unanswered: the caller closes ("Stale Connection") */
} ping_tick_t;

/* Owner's timer: when c's PING is due, sends one (or not, see above) and sets the next
 * due time (not when stale). *idle_ns (may be NULL): the time since c's last activity. */
ping_tick_t conn_ping_tick(worker_t *w, conn_t *c, int64_t *idle_ns);

#endif
