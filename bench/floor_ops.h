/* floor_ops.h: the NATS operations the floor tools (floor_relay.c, floor_tls.c) act on,
 * parsed from a connection's input: PUB (with its payload), SUB, PING; any other line is
 * skipped. Only what natsbench's clients send; nothing is validated. */
#ifndef FLOOR_OPS_H
#define FLOOR_OPS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { FOP_NONE, FOP_PUB, FOP_SUB, FOP_PING, FOP_OTHER, FOP_BAD } floor_op_kind_t;

typedef struct {
    floor_op_kind_t kind;
    char subj[256];
    char reply[256]; /* PUB: the reply subject, "" = none */
    char sid[32];    /* SUB */
    const char *payload;
    size_t size;
} floor_op_t;

/* The operation at in[pos..n): returns the bytes it takes (0: incomplete, op->kind
 * FOP_NONE; FOP_BAD: a PUB line without a size, the rest is not ours to judge). */
static inline size_t floor_next_op(const char *in, size_t n, size_t pos, floor_op_t *op)
{
    op->kind = FOP_NONE;
    const char *st = in + pos;
    const char *nl = memmem(st, n - pos, "\r\n", 2);
    if (!nl) return 0;
    size_t ll = (size_t)(nl - st);
    char line[1024];
    if (ll >= sizeof line) ll = sizeof line - 1;
    memcpy(line, st, ll);
    line[ll] = 0;
    char a[256], b[256], z[256];
    size_t used = (size_t)(nl - st) + 2;
    if (strncmp(line, "PUB ", 4) == 0) {
        int k = sscanf(line + 4, "%255s %255s %255s", a, b, z);
        if (k < 2) {
            op->kind = FOP_BAD;
            return n - pos;
        }
        op->size = strtoul(k == 3 ? z : b, NULL, 10);
        /* (compared without adding the size: a huge one must not wrap around; an op
         * larger than the caller's buffer stays incomplete until the caller drops it) */
        if (n - pos < used + 2 || n - pos - used - 2 < op->size) return 0;
        snprintf(op->subj, sizeof op->subj, "%s", a);
        snprintf(op->reply, sizeof op->reply, "%s", k == 3 ? b : "");
        op->payload = nl + 2;
        op->kind = FOP_PUB;
        return used + op->size + 2;
    }
    if (strncmp(line, "SUB ", 4) == 0) {
        int k = sscanf(line + 4, "%255s %255s %255s", a, b, z);
        op->kind = k >= 2 ? FOP_SUB : FOP_OTHER;
        if (k >= 2) {
            snprintf(op->subj, sizeof op->subj, "%s", a);
            snprintf(op->sid, sizeof op->sid, "%s", k == 3 ? z : b);
        }
        return used;
    }
    op->kind = strncmp(line, "PING", 4) == 0 ? FOP_PING : FOP_OTHER;
    return used;
}

#endif
