/* parser.h: the NATS wire protocol, one operation at a time.
 *
 * Contract: pure, no I/O, no server state. parse_op() looks at buf[0..len),
 * which starts at the beginning of an operation, and either
 *   - returns PARSE_OK with *op filled and op->consumed = bytes of the whole
 *     operation (control line + payload + CRLF); every slice in *op points
 *     into buf (nothing is copied, payloads included);
 *   - returns PARSE_NEED_MORE: the operation is not complete yet. op->need is
 *     the total byte count the operation needs from buf[0] when that is known
 *     (control line seen, payload pending), else 0. The caller keeps the
 *     bytes and calls again from the same start once more have arrived; any
 *     split of the stream works;
 *   - returns a PARSE_ERR_*: the connection must be closed (see each code).
 * Restarting from the op start (instead of saving state) keeps the parser
 * stateless; the `need` hint means a large payload is scanned once, and a
 * control line is bounded by max_control_line, so re-scans stay cheap.
 *
 * Mode PARSE_CLIENT accepts what a client may send (CONNECT, PUB, HPUB, SUB,
 * UNSUB, PING, PONG, INFO, +OK, -ERR); MSG/HMSG/RS+/RMSG... are unknown ops.
 * Mode PARSE_ROUTE accepts CONNECT, INFO, PING, PONG, +OK, -ERR, RS+, RS-,
 * RMSG, HMSG (route form, with account), LS+/LS-/LMSG (parsed, may be ignored).
 * Mode PARSE_LEAF (a leaf node connection, docs/leafnodes.md §4) accepts CONNECT,
 * INFO, PING, PONG, +OK, -ERR and the leaf forms without account: LS+ subject
 * [queue weight] (weight in max), LS- subject [queue], LMSG/HMSG subject [reply |
 * + reply queues... | | queues...] [#hdr] #total (OP_LMSG; hdr >= 0 for HMSG). */
#ifndef GNATSD_PARSER_H
#define GNATSD_PARSER_H

#include "base/common.h"

typedef enum op_type {
    OP_NONE = 0,
    OP_CONNECT,
    OP_INFO,
    OP_PUB,
    OP_HPUB,
    OP_SUB,
    OP_UNSUB,
    OP_PING,
    OP_PONG,
    OP_OK,
    OP_ERR,
    /* route protocol */
    OP_RSUB,   /* RS+ */
    OP_RUNSUB, /* RS- */
    OP_RMSG,   /* RMSG, and HMSG in route mode (op.hdr >= 0) */
    OP_LSUB,   /* LS+ */
    OP_LUNSUB, /* LS- */
    OP_LMSG,   /* LMSG */
} op_type_t;

typedef enum parse_mode { PARSE_CLIENT, PARSE_ROUTE, PARSE_LEAF } parse_mode_t;

typedef enum parse_rc {
    PARSE_OK = 0,
    PARSE_NEED_MORE,
    PARSE_ERR_UNKNOWN_OP,   /* -ERR 'Unknown Protocol Operation' + close (also: bad payload
                               terminator,   empty line, leading whitespace, missing SP after
                               PUB/SUB/...) */
    PARSE_ERR_CONTROL_LINE, /* -ERR 'maximum control line exceeded' + close */
    PARSE_ERR_MAX_PAYLOAD, /* -ERR 'Maximum Payload Violation' + close (checked on the control line)
                            */
    PARSE_ERR_ARGS,        /* silent close: wrong arg count, bad size, hdr > total... (op->type set,
                              op->line = the argument text for the log line) */
} parse_rc_t;

/* Bytes a control line may hold beyond max_control_line (blanks, PING junk): the
 * parser's limit for clients, and part of the read path's bound for every kind. */
#define PARSE_LINE_SLACK 1024

typedef struct parse_limits {
    parse_mode_t mode;
    int64_t max_control_line; /* <= 0: unlimited (routes) */
    int64_t max_payload;      /* <= 0: unlimited */
} parse_limits_t;

typedef struct op {
    op_type_t type;
    slice_t line;    /* argument text: after the op name and its separators, up to (not incl.)
                        CR/LF, trailing blanks trimmed. CONNECT/INFO JSON, -ERR text, trace. */
    slice_t account; /* route ops */
    slice_t subject;
    slice_t reply;  /* empty (n == 0) if none */
    slice_t queue;  /* SUB, RS+/RS- queue; empty if none */
    slice_t queues; /* RMSG with '+'/'|': the raw text holding the queue names (space separated) */
    slice_t sid;    /* SUB, UNSUB */
    int64_t hdr;    /* header bytes for HPUB/HMSG/LMSG, -1 if none */
    int64_t size;   /* total payload bytes (headers included) */
    int64_t max;    /* UNSUB max msgs; RS+ queue weight; -1 if absent */
    const char *payload; /* `size` bytes, followed by CRLF in the buffer */
    size_t consumed;     /* whole op length incl. payload and its CRLF */
    size_t need;         /* NEED_MORE hint (see above) */
    int err_state;       /* for the "Client parser ERROR, state=%d, i=%d" log line */
    size_t err_offset;   /* offset of the offending byte from buf[0] (the op start) */
    slice_t origin;      /* LS+/LMSG: origin cluster (added; empty for every other op) */
} op_t;

parse_rc_t parse_op(const parse_limits_t *lim, const char *buf, size_t len, op_t *op);

const char *op_name(op_type_t t); /* "PUB", "RS+", ... for traces */

#endif
