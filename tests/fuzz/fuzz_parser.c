/* fuzz_parser.c: libFuzzer harness for src/parser.c.
 *
 * Input layout: byte 0 picks the first mode and limits (every input runs in the
 * client, route and leaf modes), byte 1 seeds the split
 * pattern, the rest is the wire stream. For each input:
 *   1. parse the stream whole, checking every slice stays inside the op;
 *   2. re-parse each op from exact-size prefixes (so ASan catches any read
 *      past the end) and require NEED_MORE for every proper prefix: an error
 *      on a prefix would make the outcome depend on how reads are split;
 *   3. feed the stream through a connection-buffer driver with fixed and
 *      pseudo-random chunk sizes and require the same op sequence and final
 *      outcome as the whole parse;
 *   4. for PUB and RMSG, parse the op with its name in lower case (only the general
 *      path takes that) and require the same op as the fast path gave. */
#include "proto/parser.h"

#include <stdio.h>
#include <stdlib.h>

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static uint64_t hash_slice(uint64_t h, const char *base, slice_t s)
{
    /* Position relative to the op start plus content: equal for equal ops
     * wherever the buffer lives. */
    uint64_t off = s.n ? (uint64_t)(s.p - base) : 0;
    h = fnv_bytes(h, &off, sizeof(off));
    h = fnv_bytes(h, &s.n, sizeof(s.n));
    return s.n ? fnv_bytes(h, s.p, s.n) : h;
}

static uint64_t hash_op(const char *base, const op_t *op)
{
    uint64_t h = 1469598103934665603ULL;
    h = fnv_bytes(h, &op->type, sizeof(op->type));
    h = hash_slice(h, base, op->line);
    h = hash_slice(h, base, op->origin);
    h = hash_slice(h, base, op->account);
    h = hash_slice(h, base, op->subject);
    h = hash_slice(h, base, op->reply);
    h = hash_slice(h, base, op->queue);
    h = hash_slice(h, base, op->queues);
    h = hash_slice(h, base, op->sid);
    h = fnv_bytes(h, &op->hdr, sizeof(op->hdr));
    h = fnv_bytes(h, &op->size, sizeof(op->size));
    h = fnv_bytes(h, &op->max, sizeof(op->max));
    h = fnv_bytes(h, &op->consumed, sizeof(op->consumed));
    if (op->payload) h = fnv_bytes(h, op->payload, (size_t)op->size);
    return h;
}

static void check_slice(const char *base, size_t n, slice_t s)
{
    if (s.n && (s.p < base || s.p + s.n > base + n)) abort();
}

static void check_op(const char *buf, size_t len, const op_t *op)
{
    if (op->consumed == 0 || op->consumed > len) abort();
    slice_t sl[] = {op->line,  op->origin, op->account, op->subject,
                    op->reply, op->queue,  op->queues,  op->sid};
    for (size_t i = 0; i < sizeof(sl) / sizeof(sl[0]); i++)
        check_slice(buf, op->consumed, sl[i]);
    if (op->payload) {
        if (op->size < 0 || op->payload < buf || op->payload + op->size + 2 != buf + op->consumed)
            abort();
        if (op->payload[op->size] != '\r' || op->payload[op->size + 1] != '\n') abort();
    }
    if (op->hdr > op->size) abort();
}

typedef struct result {
    uint64_t h;
    size_t nops;
} result_t;

static void mix(result_t *r, uint64_t v)
{
    r->h = fnv_bytes(r->h, &v, sizeof(v));
}

/* Parses data whole; also checks prefixes of every op. */
static void parse_whole(const parse_limits_t *lim, const uint8_t *data, size_t len, result_t *r)
{
    size_t off = 0;
    r->h = 1;
    r->nops = 0;
    for (;;) {
        op_t op;
        parse_rc_t rc = parse_op(lim, (const char *)data + off, len - off, &op);
        if (rc == PARSE_OK) {
            check_op((const char *)data + off, len - off, &op);
            mix(r, hash_op((const char *)data + off, &op));
            r->nops++;
            /* Every proper prefix must ask for more; the exact op parses the same. */
            size_t c = op.consumed, step = c <= 128 ? 1 : c / 64;
            for (size_t k = 0;; k = k + step < c ? k + step : c) {
                char *cp = malloc(k ? k : 1);
                memcpy(cp, data + off, k);
                op_t o2;
                parse_rc_t rc2 = parse_op(lim, cp, k, &o2);
                if (k < c && rc2 != PARSE_NEED_MORE) abort();
                if (k < c && o2.need && (o2.need != c || o2.need <= k)) abort();
                if (k == c &&
                    (rc2 != PARSE_OK || hash_op(cp, &o2) != hash_op((const char *)data + off, &op)))
                    abort();
                free(cp);
                if (k == c) break;
            }
            /* The fast paths (PUB, RMSG) equal the general one: the name in lower case
             * only takes the general path, and must give the same op. */
            if (op.type == OP_PUB || op.type == OP_RMSG) {
                char *lo = malloc(c);
                memcpy(lo, data + off, c);
                for (size_t k = 0; k < c && lo[k] >= 'A' && lo[k] <= 'Z'; k++)
                    lo[k] = (char)(lo[k] | 0x20);
                op_t o3;
                if (parse_op(lim, lo, c, &o3) != PARSE_OK ||
                    hash_op(lo, &o3) != hash_op((const char *)data + off, &op))
                    abort();
                free(lo);
            }
            off += op.consumed;
        } else {
            if (rc == PARSE_NEED_MORE && op.need && op.need <= len - off) abort();
            if (rc != PARSE_NEED_MORE && op.err_offset > len - off) abort();
            mix(r, (uint64_t)rc);
            mix(r, rc == PARSE_NEED_MORE ? len - off : 0);
            return;
        }
    }
}

/* A connection buffer receiving the stream in chunks. */
static void parse_split(const parse_limits_t *lim, const uint8_t *data, size_t len, uint32_t seed,
                        size_t fixed, result_t *r)
{
    char *buf = malloc(len ? len : 1);
    size_t have = 0, fed = 0, need = 0;
    r->h = 1;
    r->nops = 0;
    uint32_t st = seed * 2654435761u + 1;
    for (;;) {
        size_t c = fixed;
        if (!c) {
            st = st * 1103515245u + 12345u;
            c = 1 + (st >> 16) % 23;
        }
        if (c > len - fed) c = len - fed;
        memcpy(buf + have, data + fed, c);
        have += c;
        fed += c;
        for (;;) {
            /* Honour the hint, except at the end of the stream where the
             * whole parse may have seen a bad terminator early. */
            if (need && have < need && fed < len) break;
            op_t op;
            parse_rc_t rc = parse_op(lim, buf, have, &op);
            if (rc == PARSE_OK) {
                if (need && op.consumed != need) abort();
                need = 0;
                mix(r, hash_op(buf, &op));
                r->nops++;
                memmove(buf, buf + op.consumed, have - op.consumed);
                have -= op.consumed;
            } else if (rc == PARSE_NEED_MORE) {
                need = op.need;
                break;
            } else {
                mix(r, (uint64_t)rc);
                mix(r, 0);
                free(buf);
                return;
            }
        }
        if (fed == len) break;
    }
    /* Stream exhausted while waiting: same as the whole parse's NEED_MORE. */
    mix(r, (uint64_t)PARSE_NEED_MORE);
    mix(r, have);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const int64_t mcls[] = {4096, 16, 64, 0};
    static const int64_t mps[] = {1048576, 8, 0, 100};
    uint8_t cfg = data[0];
    parse_limits_t lim = {
        .mode = (cfg & 1) ? PARSE_ROUTE : PARSE_CLIENT,
        .max_control_line = mcls[(cfg >> 1) & 3],
        .max_payload = mps[(cfg >> 3) & 3],
    };
    uint32_t seed = data[1];
    data += 2;
    size -= 2;

    /* the bytes in all three modes (client, route, leaf), starting with the one picked */
    for (int mode = 0; mode < 3; mode++) {
        result_t whole, split;
        parse_whole(&lim, data, size, &whole);
        static const size_t fixed[] = {1, 2, 3, 7, 0};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
            parse_split(&lim, data, size, seed, fixed[i], &split);
            if (split.h != whole.h || split.nops != whole.nops) {
                fprintf(stderr, "split (%zu) != whole: %zu vs %zu ops\n", fixed[i], split.nops,
                        whole.nops);
                abort();
            }
        }
        lim.mode = lim.mode == PARSE_CLIENT  ? PARSE_ROUTE
                   : lim.mode == PARSE_ROUTE ? PARSE_LEAF
                                             : PARSE_CLIENT;
    }
    return 0;
}
