/* fuzz_leaf.c: libFuzzer harness for the leaf node texts (src/proto/leaf_parse.c):
 * a leaf CONNECT and a hub INFO (docs/leafnodes.md §3), a credentials file, and the same
 * bytes as a
 * stream of leaf-mode operations (parse_op in PARSE_LEAF). Checks that parsing never
 * reads out of bounds, that strings come back NUL-terminated within their fields, and
 * that every parsed operation's slices stay inside the input. */
#include "proto/leaf_parse.h"
#include "proto/parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void inside(const char *base, size_t n, slice_t s)
{
    if (s.n && (s.p < base || s.p + s.n > base + n)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    leaf_connect_t c;
    if (leaf_connect_parse(buf, size, &c) == 0) {
        if (strnlen(c.name, sizeof c.name) == sizeof c.name) abort();
        if (strnlen(c.user, sizeof c.user) == sizeof c.user) abort();
        if (strnlen(c.pass, sizeof c.pass) == sizeof c.pass) abort();
        if (strnlen(c.cluster, sizeof c.cluster) == sizeof c.cluster) abort();
    }
    leaf_info_msg_t ii;
    if (leaf_info_parse(buf, size, &ii) == 0) {
        if (strnlen(ii.id, sizeof ii.id) == sizeof ii.id) abort();
        if (strnlen(ii.name, sizeof ii.name) == sizeof ii.name) abort();
    }
    char jwt[256], seed[64];
    if (leaf_creds_parse(buf, size, jwt, sizeof jwt, seed, sizeof seed) == 0 &&
        (strnlen(jwt, sizeof jwt) == sizeof jwt || strnlen(seed, sizeof seed) == sizeof seed))
        abort();
    parse_limits_t lim = {PARSE_LEAF, 0, 0};
    size_t pos = 0;
    while (pos < size) {
        op_t op;
        parse_rc_t rc = parse_op(&lim, buf + pos, size - pos, &op);
        if (rc != PARSE_OK) break;
        if (op.consumed == 0 || op.consumed > size - pos) abort();
        inside(buf + pos, op.consumed, op.subject);
        inside(buf + pos, op.consumed, op.reply);
        inside(buf + pos, op.consumed, op.queue);
        inside(buf + pos, op.consumed, op.queues);
        if (op.type == OP_LMSG && (op.size < 0 || op.hdr > op.size)) abort();
        if (op.type == OP_CONNECT) leaf_connect_parse(op.line.p, op.line.n, &c);
        if (op.type == OP_INFO) leaf_info_parse(op.line.p, op.line.n, &ii);
        pos += op.consumed;
    }
    free(buf);
    return 0;
}
