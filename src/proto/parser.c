/* parser.c: the NATS wire protocol parser (client port and route port ops).
 *
 * Stateless by design: every call starts from the first byte of an operation,
 * recognises the op name (case-insensitive, dispatched on the first byte),
 * finds the end of the control line with memchr, splits the argument text with
 * a hand-written tokenizer and, for message ops, checks that the payload and
 * its CRLF are present. Nothing is copied or allocated; every slice in op_t
 * points into the caller's buffer.
 *
 * Behaviour follows nats-server 2.9 (docs/protocol.md §1, §4, §9; docs/routes.md §4):
 *   - errors that depend only on bytes already seen (bad op name, missing
 *     separator, payload not followed by CR, argument over max_control_line)
 *     are reported as soon as those bytes are present, so a peer cannot make
 *     us buffer garbage while we wait for an LF;
 *   - every such early check is monotone (a prefix that fails also fails once
 *     the rest arrives), so the result never depends on how the stream was
 *     split across reads.
 */
#include "proto/parser.h"

/* Byte classes. Only SP and HT separate fields; CR is special only right
 * before LF (and, like the reference, also separates SUB/UNSUB/route args). */
#define IS_BLANK(c) ((c) == ' ' || (c) == '\t')

/* The largest size field: 9 decimal digits (999,999,999), as in the reference. */
#define MAX_SIZE_DIGITS 9

/* PING/PONG/+OK ignore everything up to LF and the blanks before an argument
 * are not counted by the reference. Neither is bounded by max_control_line,
 * so a peer could make us buffer forever; cap the whole control line at
 * max_control_line + PARSE_LINE_SLACK (never reached by a sane peer). */
#define LINE_SLACK PARSE_LINE_SLACK

/* err_state values: where in the op the bad byte was found. */
enum {
    ST_OP_NAME = 1, /* in the op name */
    ST_OP_SEP = 2,  /* the byte after a name that needs SP/HT */
    ST_ARG = 3,     /* control line arguments */
    ST_MSG_END = 4, /* the CRLF after the payload */
};

enum sep_kind {
    SEP_REQ,  /* at least one SP/HT must follow the name (PUB, SUB, RS+...) */
    SEP_OPT,  /* blanks optional: CONNECT{...} is fine */
    SEP_NONE, /* bare op: anything up to LF is ignored (PINGX) */
};

enum op_kind {
    K_PUB,
    K_HPUB,
    K_SUB,
    K_UNSUB,
    K_CONNECT,
    K_INFO,
    K_PING,
    K_PONG,
    K_OK,
    K_ERR,
    K_RSUB,
    K_RUNSUB,
    K_RMSG,
    K_HMSG,
    K_LSUB,
    K_LUNSUB,
    K_LMSG,
    K_LFSUB,   /* leaf connection: LS+ subject [queue weight] */
    K_LFUNSUB, /* LS- subject [queue] */
    K_LFMSG,   /* LMSG subject [reply | + reply queues | | queues] size */
    K_LFHMSG,  /* HMSG in leaf form: as LMSG with the header size before the total */
};

#define M_CLIENT 1
#define M_ROUTE 2
#define M_BOTH 3
#define M_LEAF 4
#define M_ALL 7

typedef struct opdef {
    char name[8]; /* upper case; letters match either case */
    uint8_t len;
    uint8_t kind;
    uint8_t type; /* op_type_t */
    uint8_t sep;
    uint8_t modes;
} opdef_t;

/* Grouped by first byte so dispatch only compares against 1-3 candidates. */
static const opdef_t DEFS[] = {
    /* 0 */ {"PUB", 3, K_PUB, OP_PUB, SEP_REQ, M_CLIENT},
    /* 1 */ {"PING", 4, K_PING, OP_PING, SEP_NONE, M_ALL},
    /* 2 */ {"PONG", 4, K_PONG, OP_PONG, SEP_NONE, M_ALL},
    /* 3 */ {"HPUB", 4, K_HPUB, OP_HPUB, SEP_REQ, M_CLIENT},
    /* 4 */ {"HMSG", 4, K_HMSG, OP_RMSG, SEP_REQ, M_ROUTE},
    /* 5 */ {"HMSG", 4, K_LFHMSG, OP_LMSG, SEP_REQ, M_LEAF},
    /* 6 */ {"SUB", 3, K_SUB, OP_SUB, SEP_REQ, M_CLIENT},
    /* 7 */ {"UNSUB", 5, K_UNSUB, OP_UNSUB, SEP_REQ, M_CLIENT},
    /* 8 */ {"CONNECT", 7, K_CONNECT, OP_CONNECT, SEP_OPT, M_ALL},
    /* 9 */ {"INFO", 4, K_INFO, OP_INFO, SEP_OPT, M_ALL},
    /* 10 */ {"+OK", 3, K_OK, OP_OK, SEP_NONE, M_ALL},
    /* 11 */ {"-ERR", 4, K_ERR, OP_ERR, SEP_REQ, M_ALL},
    /* 12 */ {"RS+", 3, K_RSUB, OP_RSUB, SEP_REQ, M_ROUTE},
    /* 13 */ {"RS-", 3, K_RUNSUB, OP_RUNSUB, SEP_REQ, M_ROUTE},
    /* 14 */ {"RMSG", 4, K_RMSG, OP_RMSG, SEP_REQ, M_ROUTE},
    /* 15 */ {"LS+", 3, K_LSUB, OP_LSUB, SEP_REQ, M_ROUTE},
    /* 16 */ {"LS-", 3, K_LUNSUB, OP_LUNSUB, SEP_REQ, M_ROUTE},
    /* 17 */ {"LMSG", 4, K_LMSG, OP_LMSG, SEP_REQ, M_ROUTE},
    /* 18 */ {"LS+", 3, K_LFSUB, OP_LSUB, SEP_REQ, M_LEAF},
    /* 19 */ {"LS-", 3, K_LFUNSUB, OP_LUNSUB, SEP_REQ, M_LEAF},
    /* 20 */ {"LMSG", 4, K_LFMSG, OP_LMSG, SEP_REQ, M_LEAF},
};

const char *op_name(op_type_t t)
{
    switch (t) {
    case OP_CONNECT:
        return "CONNECT";
    case OP_INFO:
        return "INFO";
    case OP_PUB:
        return "PUB";
    case OP_HPUB:
        return "HPUB";
    case OP_SUB:
        return "SUB";
    case OP_UNSUB:
        return "UNSUB";
    case OP_PING:
        return "PING";
    case OP_PONG:
        return "PONG";
    case OP_OK:
        return "+OK";
    case OP_ERR:
        return "-ERR";
    case OP_RSUB:
        return "RS+";
    case OP_RUNSUB:
        return "RS-";
    case OP_RMSG:
        return "RMSG";
    case OP_LSUB:
        return "LS+";
    case OP_LUNSUB:
        return "LS-";
    case OP_LMSG:
        return "LMSG";
    case OP_NONE:
        break;
    }
    return "?";
}

static inline bool name_eq(unsigned char c, char n)
{
    /* Clearing 0x20 upper-cases a letter and maps no other byte onto one. */
    if (n >= 'A' && n <= 'Z') return (c & ~0x20u) == (unsigned char)n;
    return c == (unsigned char)n;
}

/* Sizes: 1-9 ASCII digits, leading zeros allowed. -1 if invalid. */
static int64_t parse_size(slice_t s)
{
    if (s.n == 0 || s.n > MAX_SIZE_DIGITS) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned char)s.p[i] - '0';
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    return v;
}

/* Tokenizer: keeps the first MAX_HEAD tokens (fixed fields) plus a ring of the
 * last 3 (the sizes at the end of RMSG/HMSG/LMSG and the last queue name),
 * so any number of queue names needs no storage. */
#define MAX_HEAD 8

typedef struct toks {
    slice_t head[MAX_HEAD];
    slice_t ring[3];
    size_t n;
} toks_t;

static inline void tok_add(toks_t *tk, const char *p, size_t n)
{
    slice_t s = {p, n};
    if (tk->n < MAX_HEAD) tk->head[tk->n] = s;
    tk->ring[tk->n % 3] = s;
    tk->n++;
}

/* cr_sep: the reference splits SUB/UNSUB/route args on CR too, but PUB/HPUB
 * only on SP/HT (so "PUB foo 2\r\r\n" has a bad size); mirror both. */
static inline __attribute__((always_inline)) void tokenize(const char *p, size_t n, bool cr_sep,
                                                           toks_t *tk)
{
    tk->n = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (IS_BLANK(p[i]) || (cr_sep && p[i] == '\r')))
            i++;
        if (i == n) break;
        size_t start = i;
        while (i < n && !IS_BLANK(p[i]) && !(cr_sep && p[i] == '\r'))
            i++;
        tok_add(tk, p + start, i - start);
    }
}

/* Token i; valid for i < MAX_HEAD or i >= n - 3. */
static inline slice_t tok(const toks_t *tk, size_t i)
{
    return i < MAX_HEAD ? tk->head[i] : tk->ring[i % 3];
}

static parse_rc_t fail(op_t *op, parse_rc_t rc, int state, size_t off)
{
    op->err_state = state;
    op->err_offset = off;
    return rc;
}

/* RMSG / HMSG / LMSG arguments (docs/routes.md §4.2):
 * [origin] account subject, then nothing, a reply, or '+' reply queues... or
 * '|' queues..., then [#hdr] #total. `fixed` counts origin+account+subject. */
static bool parse_routed_msg(op_t *op, const toks_t *tk, size_t fixed, size_t nsz)
{
    size_t n = tk->n;
    if (n < fixed + nsz) return false;
    if (n == fixed + nsz + 1) {
        op->reply = tok(tk, fixed);
    } else if (n >= fixed + nsz + 2) {
        slice_t ind = tok(tk, fixed);
        size_t qstart;
        if (ind.n != 1) return false;
        if (ind.p[0] == '+') {
            op->reply = tok(tk, fixed + 1);
            qstart = fixed + 2;
        } else if (ind.p[0] == '|') {
            qstart = fixed + 1;
        } else {
            return false;
        }
        size_t qend = n - nsz; /* one past the last queue token */
        if (qend > qstart) {
            slice_t first = tok(tk, qstart), last = tok(tk, qend - 1);
            op->queues.p = first.p;
            op->queues.n = (size_t)(last.p + last.n - first.p);
        }
    }
    if (nsz == 2) {
        op->hdr = parse_size(tok(tk, n - 2));
        if (op->hdr < 0) return false;
    }
    op->size = parse_size(tok(tk, n - 1));
    if (op->size < 0 || op->hdr > op->size) return false;
    size_t i = 0;
    if (fixed == 3) op->origin = tok(tk, i++);
    if (fixed >= 2) op->account = tok(tk, i++);
    op->subject = tok(tk, i);
    return true;
}

/* Fills op from the (complete) argument text. Returns false on a wrong
 * argument count or an invalid number: a silent close for the caller. */
static bool parse_args(const opdef_t *d, op_t *op)
{
    toks_t tk;
    switch (d->kind) {
    case K_PUB:
        tokenize(op->line.p, op->line.n, false, &tk);
        if (tk.n == 3)
            op->reply = tk.head[1];
        else if (tk.n != 2)
            return false;
        op->subject = tk.head[0];
        op->size = parse_size(tk.head[tk.n - 1]);
        return op->size >= 0;
    case K_HPUB:
        tokenize(op->line.p, op->line.n, false, &tk);
        if (tk.n == 4)
            op->reply = tk.head[1];
        else if (tk.n != 3)
            return false;
        op->subject = tk.head[0];
        op->hdr = parse_size(tk.head[tk.n - 2]);
        op->size = parse_size(tk.head[tk.n - 1]);
        return op->hdr >= 0 && op->size >= 0 && op->hdr <= op->size;
    case K_SUB:
        tokenize(op->line.p, op->line.n, true, &tk);
        if (tk.n == 3)
            op->queue = tk.head[1];
        else if (tk.n != 2)
            return false;
        op->subject = tk.head[0];
        op->sid = tk.head[tk.n - 1];
        return true;
    case K_UNSUB:
        tokenize(op->line.p, op->line.n, true, &tk);
        if (tk.n == 2) {
            /* An invalid max is not an error: it unsubscribes now (docs/protocol.md §4.5). */
            op->max = parse_size(tk.head[1]);
            if (op->max < 0) op->max = 0;
        } else if (tk.n != 1) {
            return false;
        }
        op->sid = tk.head[0];
        return true;
    case K_RSUB:
    case K_LSUB: {
        size_t off = d->kind == K_LSUB;
        tokenize(op->line.p, op->line.n, true, &tk);
        if (tk.n == off + 4) {
            op->queue = tk.head[off + 2];
            op->max = parse_size(tk.head[off + 3]);
            if (op->max < 0) return false;
        } else if (tk.n != off + 2) {
            return false;
        }
        if (off) op->origin = tk.head[0];
        op->account = tk.head[off];
        op->subject = tk.head[off + 1];
        return true;
    }
    case K_RUNSUB:
    case K_LUNSUB:
        /* LS- carries no origin in 2.9 (only LS+ does). */
        tokenize(op->line.p, op->line.n, true, &tk);
        if (tk.n == 3)
            op->queue = tk.head[2];
        else if (tk.n != 2)
            return false;
        op->account = tk.head[0];
        op->subject = tk.head[1];
        return true;
    case K_RMSG:
        tokenize(op->line.p, op->line.n, true, &tk);
        return parse_routed_msg(op, &tk, 2, 1);
    case K_HMSG:
        tokenize(op->line.p, op->line.n, true, &tk);
        return parse_routed_msg(op, &tk, 2, 2);
    case K_LMSG:
        tokenize(op->line.p, op->line.n, true, &tk);
        return parse_routed_msg(op, &tk, 3, 2);
    case K_LFSUB:
        tokenize(op->line.p, op->line.n, true, &tk);
        if (tk.n == 3) {
            op->queue = tk.head[1];
            op->max = parse_size(tk.head[2]);
            if (op->max < 0) return false;
        } else if (tk.n != 1) {
            return false;
        }
        op->subject = tk.head[0];
        return true;
    case K_LFUNSUB:
        tokenize(op->line.p, op->line.n, true, &tk);
        if (tk.n == 2)
            op->queue = tk.head[1];
        else if (tk.n != 1)
            return false;
        op->subject = tk.head[0];
        return true;
    case K_LFMSG:
        tokenize(op->line.p, op->line.n, true, &tk);
        return parse_routed_msg(op, &tk, 1, 1);
    case K_LFHMSG:
        tokenize(op->line.p, op->line.n, true, &tk);
        return parse_routed_msg(op, &tk, 1, 2);
    default:
        return true; /* CONNECT, INFO, -ERR: the line is the argument */
    }
}

static inline bool has_payload(const opdef_t *d)
{
    return d->kind == K_PUB || d->kind == K_HPUB || d->kind == K_RMSG || d->kind == K_HMSG ||
           d->kind == K_LMSG || d->kind == K_LFMSG || d->kind == K_LFHMSG;
}

/* Finds the op whose name starts buf. NULL with *rc = NEED_MORE if buf is a
 * proper prefix of a valid name, else NULL with *rc = UNKNOWN_OP and *bad =
 * offset of the first byte no candidate accepts. */
static const opdef_t *match_op(parse_mode_t mode, const char *buf, size_t len, parse_rc_t *rc,
                               size_t *bad)
{
    size_t lo, hi;
    switch (buf[0]) {
    case 'P':
    case 'p':
        lo = 0, hi = 3;
        break;
    case 'H':
    case 'h':
        lo = 3, hi = 6;
        break;
    case 'S':
    case 's':
        lo = 6, hi = 7;
        break;
    case 'U':
    case 'u':
        lo = 7, hi = 8;
        break;
    case 'C':
    case 'c':
        lo = 8, hi = 9;
        break;
    case 'I':
    case 'i':
        lo = 9, hi = 10;
        break;
    case '+':
        lo = 10, hi = 11;
        break;
    case '-':
        lo = 11, hi = 12;
        break;
    case 'R':
    case 'r':
        lo = 12, hi = 15;
        break;
    case 'L':
    case 'l':
        lo = 15, hi = 21;
        break;
    default:
        lo = hi = 0;
        break;
    }
    unsigned m = mode == PARSE_ROUTE ? M_ROUTE : mode == PARSE_LEAF ? M_LEAF : M_CLIENT;
    size_t best = 0;
    bool partial = false;
    for (size_t k = lo; k < hi; k++) {
        const opdef_t *d = &DEFS[k];
        if (!(d->modes & m)) continue;
        size_t lim = len < d->len ? len : d->len, i = 0;
        while (i < lim && name_eq((unsigned char)buf[i], d->name[i]))
            i++;
        if (i == d->len) return d;
        if (i == len) partial = true;
        if (i > best) best = i;
    }
    *rc = partial ? PARSE_NEED_MORE : PARSE_ERR_UNKNOWN_OP;
    *bad = best;
    return NULL;
}

/* The fast paths: a complete, canonically spaced client "PUB subj [reply] n\r\n", or route
 * "RMSG acc subj [reply | + reply queues... | '|' queues...] n\r\n" (the name in upper
 * case), with the payload in the buffer. Anything unusual (lower case, tabs, extra
 * blanks, LF without CR, incomplete, errors, limits) returns false and takes the general
 * path, which has the full rules and gives the same op for what both take (test_parser
 * fast_paths_equal_general, fuzz_parser step 4: the name in lower case takes only it). */

/* The tokens from p (single spaces between them) up to CRLF: their count (at most max), or
 * 0 if the line is anything else; *cr is then the CR. */
static inline int fast_tokens(const char *p, const char *end, const char **t, size_t *tl, int max,
                              const char **cr)
{
    int nt = 0;
    for (;;) {
        const char *st = p;
        while (p<end && * p> ' ')
            p++;
        if (p == st || p == end || nt == max) return 0;
        t[nt] = st;
        tl[nt++] = (size_t)(p - st);
        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p != '\r' || p + 1 >= end || p[1] != '\n') return 0;
        *cr = p;
        return nt;
    }
}

/* The control line's limit and the payload's CRLF; then every field but the arguments,
 * as the general path leaves them (one statement each: a chained `a = b = (slice_t){0}`
 * stored two words and read them back as one, a store-forwarding stall that was 12 % of
 * parse_op's samples). The caller sets the arguments after. */
static inline bool fast_finish(const parse_limits_t *lim, const char *buf, size_t len,
                               size_t name_len, const char *cr, int64_t size, op_type_t type,
                               op_t *op)
{
    size_t argn = (size_t)(cr - (buf + name_len));
    if (lim->max_control_line > 0 && (int64_t)argn > lim->max_control_line) return false;
    size_t ctl = (size_t)(cr + 2 - buf);
    size_t total = ctl + (size_t)size + 2;
    if (total > len || buf[total - 2] != '\r' || buf[total - 1] != '\n') return false;
    op->type = type;
    op->line = (slice_t){buf + name_len, argn};
    op->account = (slice_t){NULL, 0};
    op->reply = (slice_t){NULL, 0};
    op->queue = (slice_t){NULL, 0};
    op->queues = (slice_t){NULL, 0};
    op->sid = (slice_t){NULL, 0};
    op->origin = (slice_t){NULL, 0};
    op->hdr = -1;
    op->max = -1;
    op->size = size;
    op->payload = buf + ctl;
    op->consumed = total;
    op->need = 0;
    op->err_state = 0;
    op->err_offset = 0;
    return true;
}

static inline bool parse_pub_fast(const parse_limits_t *lim, const char *buf, size_t len, op_t *op)
{
    if (len < 10 || memcmp(buf, "PUB ", 4) != 0) return false;
    const char *t[3], *cr;
    size_t tl[3];
    int nt = fast_tokens(buf + 4, buf + len, t, tl, 3, &cr);
    if (nt < 2) return false;
    int64_t size = parse_size((slice_t){t[nt - 1], tl[nt - 1]});
    if (size < 0 || (lim->max_payload > 0 && size > lim->max_payload)) return false;
    if (!fast_finish(lim, buf, len, 4, cr, size, OP_PUB, op)) return false;
    op->subject = (slice_t){t[0], tl[0]};
    if (nt == 3) op->reply = (slice_t){t[1], tl[1]};
    return true;
}

#define RMSG_FAST_TOKS 8
static inline bool parse_rmsg_fast(const parse_limits_t *lim, const char *buf, size_t len, op_t *op)
{
    if (len < 14 || memcmp(buf, "RMSG ", 5) != 0) return false;
    const char *t[RMSG_FAST_TOKS], *cr;
    size_t tl[RMSG_FAST_TOKS];
    int nt = fast_tokens(buf + 5, buf + len, t, tl, RMSG_FAST_TOKS, &cr);
    if (nt < 3) return false;
    int64_t size = parse_size((slice_t){t[nt - 1], tl[nt - 1]});
    if (size < 0) return false;
    slice_t reply = {NULL, 0}, queues = {NULL, 0};
    int mid = nt - 3; /* tokens between the subject and the size */
    if (mid == 1) {
        reply = (slice_t){t[2], tl[2]};
    } else if (mid >= 2) {
        int qstart;
        if (tl[2] != 1) return false;
        if (t[2][0] == '+') {
            reply = (slice_t){t[3], tl[3]};
            qstart = 4;
        } else if (t[2][0] == '|') {
            qstart = 3;
        } else {
            return false;
        }
        int qend = nt - 1;
        if (qend > qstart)
            queues = (slice_t){t[qstart], (size_t)(t[qend - 1] + tl[qend - 1] - t[qstart])};
    }
    if (!fast_finish(lim, buf, len, 5, cr, size, OP_RMSG, op)) return false;
    op->account = (slice_t){t[0], tl[0]};
    op->subject = (slice_t){t[1], tl[1]};
    op->reply = reply;
    op->queues = queues;
    return true;
}

parse_rc_t parse_op(const parse_limits_t *lim, const char *buf, size_t len, op_t *op)
{
    if (lim->mode == PARSE_CLIENT && parse_pub_fast(lim, buf, len, op)) return PARSE_OK;
    if (lim->mode == PARSE_ROUTE && parse_rmsg_fast(lim, buf, len, op)) return PARSE_OK;
    static const op_t blank_op = {.hdr = -1, .max = -1};
    *op = blank_op;
    if (len == 0) return PARSE_NEED_MORE;

    parse_rc_t rc;
    size_t bad;
    const opdef_t *d = match_op(lim->mode, buf, len, &rc, &bad);
    if (!d) return rc == PARSE_NEED_MORE ? rc : fail(op, rc, ST_OP_NAME, bad);
    op->type = (op_type_t)d->type;

    size_t p = d->len;
    if (d->sep == SEP_REQ) {
        if (p == len) return PARSE_NEED_MORE;
        if (!IS_BLANK(buf[p])) return fail(op, PARSE_ERR_UNKNOWN_OP, ST_OP_SEP, p);
    }

    const char *lf = memchr(buf + p, '\n', len - p);
    size_t end = lf ? (size_t)(lf - buf) : len;
    /* A CR right before LF is dropped. While the LF is still missing, a
     * trailing CR is not counted either, so the incomplete-line check below
     * never fires on a line that would pass once complete. */
    size_t raw_end = end;
    if (raw_end > p && buf[raw_end - 1] == '\r') raw_end--;
    size_t a = p;
    if (d->sep != SEP_NONE)
        while (a < raw_end && IS_BLANK(buf[a]))
            a++;

    /* max_control_line counts the argument text like the reference does: from
     * the first non-blank after the name up to CR/LF, trailing blanks included. */
    int64_t mcl = lim->max_control_line;
    if (mcl > 0) {
        if ((d->sep != SEP_NONE && (int64_t)(raw_end - a) > mcl) ||
            (int64_t)raw_end > mcl + LINE_SLACK)
            return fail(op, PARSE_ERR_CONTROL_LINE, ST_ARG, end);
    }
    if (!lf) return PARSE_NEED_MORE;

    if (d->sep != SEP_NONE) {
        size_t e = raw_end;
        while (e > a && IS_BLANK(buf[e - 1]))
            e--;
        op->line.p = buf + a;
        op->line.n = e - a;
    } else {
        op->line.p = buf + p;
        op->line.n = 0;
    }

    if (!parse_args(d, op)) return fail(op, PARSE_ERR_ARGS, ST_ARG, end);

    size_t ctl = end + 1;
    if (!has_payload(d)) {
        op->consumed = ctl;
        return PARSE_OK;
    }

    if (lim->mode == PARSE_CLIENT && lim->max_payload > 0 && op->size > lim->max_payload)
        return fail(op, PARSE_ERR_MAX_PAYLOAD, ST_ARG, end);

    size_t pend = ctl + (size_t)op->size;
    size_t total = pend + 2;
    /* Check the terminator bytes as soon as each one is there: the reference
     * rejects a wrong byte immediately rather than buffering on. */
    if (len > pend && buf[pend] != '\r') return fail(op, PARSE_ERR_UNKNOWN_OP, ST_MSG_END, pend);
    if (len > pend + 1 && buf[pend + 1] != '\n')
        return fail(op, PARSE_ERR_UNKNOWN_OP, ST_MSG_END, pend + 1);
    if (len < total) {
        op->need = total;
        return PARSE_NEED_MORE;
    }
    op->payload = buf + ctl;
    op->consumed = total;
    return PARSE_OK;
}
