/* test_parser.c: unit tests for src/proto/parser.c (docs/protocol.md §1, §4, §9, §12;
 * docs/routes.md §4), plus a split driver that feeds long pipelined
 * streams in every chunk size 1..64 and random splits and checks that the op
 * sequence is identical to parsing the stream whole. */
#include "test.h"
#include "proto/parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const parse_limits_t CLIENT = {PARSE_CLIENT, 4096, 1048576};
static const parse_limits_t ROUTE = {PARSE_ROUTE, 0, 0};
static const parse_limits_t LEAF = {PARSE_LEAF, 0, 0};

#define S(lit) lit, sizeof(lit) - 1

static parse_rc_t P(const parse_limits_t *lim, const char *s, size_t n, op_t *op)
{
    return parse_op(lim, s, n, op);
}

static bool sl_is(slice_t s, const char *str)
{
    return slice_eq_str(s, str);
}

#define CHECK_SL(s, str)                                                                           \
    do {                                                                                           \
        slice_t _s = (s);                                                                          \
        if (!sl_is(_s, str)) {                                                                     \
            fprintf(stderr, "  %s:%d: %s == \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__, #s,  \
                    (int)_s.n, _s.p ? _s.p : "", str);                                             \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)

/* ---- bare ops ------------------------------------------------------------ */

TEST(ping_pong_ok)
{
    op_t op;
    CHECK_EQ_INT(P(&CLIENT, S("PING\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_PING);
    CHECK_EQ_INT(op.consumed, 6);
    CHECK_EQ_INT(op.line.n, 0);
    CHECK_EQ_INT(P(&CLIENT, S("ping\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_PING);
    CHECK_EQ_INT(op.consumed, 5);
    CHECK_EQ_INT(P(&CLIENT, S("PINGX\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_PING);
    CHECK_EQ_INT(P(&CLIENT, S("PING foo bar\r\nPONG\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_PING);
    CHECK_EQ_INT(op.consumed, 14);
    CHECK_EQ_INT(P(&CLIENT, S("PoNg\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_PONG);
    CHECK_EQ_INT(P(&CLIENT, S("+OK\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_OK);
    CHECK_EQ_INT(P(&CLIENT, S("+ok whatever\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_OK);
    CHECK_EQ_INT(op.consumed, 14);
    CHECK_EQ_INT(P(&ROUTE, S("PING\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_PING);
}

TEST(need_more_prefixes)
{
    op_t op;
    CHECK_EQ_INT(P(&CLIENT, "", 0, &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&CLIENT, S("P"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(op.need, 0);
    CHECK_EQ_INT(P(&CLIENT, S("PI"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&CLIENT, S("PING"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&CLIENT, S("PING\r"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&CLIENT, S("PUB"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&CLIENT, S("PUB "), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(op.need, 0);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2\r\n"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(op.need, 15);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2\r\nh"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(op.need, 15);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2\r\nhi\r"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(op.need, 15);
    CHECK_EQ_INT(P(&CLIENT, S("CONNEC"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&CLIENT, S("-ER"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&CLIENT, S("+"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&ROUTE, S("RS"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&ROUTE, S("RMS"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&ROUTE, S("L"), &op), PARSE_NEED_MORE);
}

/* ---- CONNECT / INFO / -ERR ---------------------------------------------- */

TEST(connect_info_err)
{
    op_t op;
    CHECK_EQ_INT(P(&CLIENT, S("CONNECT {\"verbose\":false}\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_CONNECT);
    CHECK_SL(op.line, "{\"verbose\":false}");
    CHECK_EQ_INT(op.consumed, 27);
    CHECK_EQ_INT(P(&CLIENT, S("CONNECT{\"verbose\":false}\r\n"), &op), PARSE_OK);
    CHECK_SL(op.line, "{\"verbose\":false}");
    CHECK_EQ_INT(P(&CLIENT, S("connect \t {}  \t\r\n"), &op), PARSE_OK);
    CHECK_SL(op.line, "{}");
    CHECK_EQ_INT(P(&CLIENT, S("CONNECT\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_CONNECT);
    CHECK_EQ_INT(op.line.n, 0);
    CHECK_EQ_INT(P(&CLIENT, S("CONNECT\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.line.n, 0);
    CHECK_EQ_INT(P(&CLIENT, S("CONNECX {}\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(op.err_offset, 6);

    CHECK_EQ_INT(P(&CLIENT, S("INFO {\"server_id\":\"x\"}\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_INFO);
    CHECK_SL(op.line, "{\"server_id\":\"x\"}");
    CHECK_EQ_INT(P(&CLIENT, S("info{}\n"), &op), PARSE_OK);
    CHECK_SL(op.line, "{}");
    CHECK_EQ_INT(P(&ROUTE, S("INFO {}\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_INFO);

    CHECK_EQ_INT(P(&CLIENT, S("-ERR 'Unknown Protocol Operation'\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_ERR);
    CHECK_SL(op.line, "'Unknown Protocol Operation'");
    CHECK_EQ_INT(P(&CLIENT, S("-err\t'x'\n"), &op), PARSE_OK);
    CHECK_SL(op.line, "'x'");
    CHECK_EQ_INT(P(&CLIENT, S("-ERR\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&CLIENT, S("-ERRx\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&ROUTE, S("-ERR 'bad'\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_ERR);
}

/* ---- PUB ----------------------------------------------------------------- */

TEST(pub_forms)
{
    op_t op;
    const char *s = "PUB foo 2\r\nhi\r\n";
    CHECK_EQ_INT(P(&CLIENT, s, strlen(s), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_PUB);
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(op.reply.n, 0);
    CHECK_EQ_INT(op.size, 2);
    CHECK_EQ_INT(op.hdr, -1);
    CHECK(op.payload == s + 11);
    CHECK(memcmp(op.payload, "hi", 2) == 0);
    CHECK_EQ_INT(op.consumed, strlen(s));
    CHECK_SL(op.line, "foo 2");

    CHECK_EQ_INT(P(&CLIENT, S("PUB foo bar 3\r\nabc\r\n"), &op), PARSE_OK);
    CHECK_SL(op.subject, "foo");
    CHECK_SL(op.reply, "bar");
    CHECK_EQ_INT(op.size, 3);

    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 0\r\n\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.size, 0);
    CHECK_EQ_INT(op.consumed, 13);

    /* LF-only control line, but the payload still needs CRLF */
    CHECK_EQ_INT(P(&CLIENT, S("pub foo 1\nx\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.consumed, 13);

    /* tabs, multiple blanks, trailing blanks, leading zeros */
    CHECK_EQ_INT(P(&CLIENT, S("PUB\t\tfoo \t r  007  \r\n1234567\r\n"), &op), PARSE_OK);
    CHECK_SL(op.subject, "foo");
    CHECK_SL(op.reply, "r");
    CHECK_EQ_INT(op.size, 7);
    CHECK_SL(op.line, "foo \t r  007");

    /* payload with CR/LF inside */
    CHECK_EQ_INT(P(&CLIENT, S("PUB a 4\r\n\r\n\r\n\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.size, 4);
    CHECK(memcmp(op.payload, "\r\n\r\n", 4) == 0);

    /* arbitrary bytes in subjects */
    CHECK_EQ_INT(P(&CLIENT, S("PUB \x01\xc3\xa9 1\r\nx\r\n"), &op), PARSE_OK);
    CHECK_SL(op.subject, "\x01\xc3\xa9");

    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 999999999\r\n"), &op), PARSE_ERR_MAX_PAYLOAD);
    parse_limits_t nolim = {PARSE_CLIENT, 4096, 0};
    CHECK_EQ_INT(P(&nolim, S("PUB foo 999999999\r\n"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(op.need, 19 + 999999999 + 2);
}

TEST(pub_errors)
{
    op_t op;
    CHECK_EQ_INT(P(&CLIENT, S("PUB\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(op.err_offset, 3);
    CHECK_EQ_INT(P(&CLIENT, S("PUBX foo 1\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&CLIENT, S("PUX"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(op.err_offset, 2);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(op.type, OP_PUB);
    CHECK_SL(op.line, "foo");
    CHECK_EQ_INT(P(&CLIENT, S("PUB \r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("PUB a b c 1\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo abc\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_SL(op.line, "foo abc");
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo -1\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo +1\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 1x\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 1234567890\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 0000000001\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 000000001\r\nx\r\n"), &op), PARSE_OK);
    /* only the CR right before LF is dropped: "2\r" is not a size */
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2\r\r\nhi\r\n"), &op), PARSE_ERR_ARGS);
    /* bad payload terminators */
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2\r\nhello\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(op.err_offset, 13);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2\r\nhi\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2\r\nhi\rX"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(op.err_offset, 14);
    /* detected before the rest arrives */
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 2\r\nhix"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo 1\r\nx\r\n\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(P(&CLIENT, S("\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
}

/* ---- HPUB ---------------------------------------------------------------- */

TEST(hpub)
{
    op_t op;
    const char *s = "HPUB foo 17 19\r\nNATS/1.0\r\nA:B\r\n\r\nhi\r\n";
    CHECK_EQ_INT(P(&CLIENT, s, strlen(s), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_HPUB);
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(op.reply.n, 0);
    CHECK_EQ_INT(op.hdr, 17);
    CHECK_EQ_INT(op.size, 19);
    CHECK(memcmp(op.payload, "NATS/1.0\r\n", 10) == 0);
    CHECK_EQ_INT(op.consumed, strlen(s));
    CHECK_EQ_INT(P(&CLIENT, S("hpub foo rep 5 5\r\nhello\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "rep");
    CHECK_EQ_INT(op.hdr, 5);
    CHECK_EQ_INT(op.size, 5);
    CHECK_EQ_INT(P(&CLIENT, S("HPUB foo 0 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.hdr, 0);

    CHECK_EQ_INT(P(&CLIENT, S("HPUB foo 6 5\r\nhello\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(op.type, OP_HPUB);
    CHECK_EQ_INT(P(&CLIENT, S("HPUB foo 5\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("HPUB a b c 1 2\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("HPUB foo x 2\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("HPUB foo 1 x\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("HPUB\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&CLIENT, S("HPUB foo 0 1048577\r\n"), &op), PARSE_ERR_MAX_PAYLOAD);
    CHECK_EQ_INT(P(&CLIENT, S("HPUB foo 2 1048576\r\n"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(op.need, 20 + 1048576 + 2);
}

/* ---- SUB / UNSUB ---------------------------------------------------------- */

TEST(sub_unsub)
{
    op_t op;
    CHECK_EQ_INT(P(&CLIENT, S("SUB foo 1\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_SUB);
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(op.queue.n, 0);
    CHECK_SL(op.sid, "1");
    CHECK_EQ_INT(op.consumed, 11);
    CHECK_EQ_INT(P(&CLIENT, S("SuB\tfoo\t\tq\t 1 \r\n"), &op), PARSE_OK);
    CHECK_SL(op.subject, "foo");
    CHECK_SL(op.queue, "q");
    CHECK_SL(op.sid, "1");
    CHECK_EQ_INT(P(&CLIENT, S("SUB foo..bar abc\n"), &op), PARSE_OK);
    CHECK_SL(op.subject, "foo..bar");
    CHECK_SL(op.sid, "abc");
    CHECK_EQ_INT(P(&CLIENT, S("SUB foo\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(op.type, OP_SUB);
    CHECK_EQ_INT(P(&CLIENT, S("SUB a b c d\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("SUB\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&CLIENT, S("SUBfoo 1\r\n"), &op), PARSE_ERR_UNKNOWN_OP);

    CHECK_EQ_INT(P(&CLIENT, S("UNSUB 1\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_UNSUB);
    CHECK_SL(op.sid, "1");
    CHECK_EQ_INT(op.max, -1);
    CHECK_EQ_INT(P(&CLIENT, S("unsub 1 5\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.max, 5);
    CHECK_EQ_INT(P(&CLIENT, S("UNSUB 1 0\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.max, 0);
    CHECK_EQ_INT(P(&CLIENT, S("UNSUB 1 abc\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.max, 0);
    CHECK_EQ_INT(P(&CLIENT, S("UNSUB 1 -5\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.max, 0);
    CHECK_EQ_INT(P(&CLIENT, S("UNSUB 1 1234567890\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.max, 0);
    CHECK_EQ_INT(P(&CLIENT, S("UNSUB\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&CLIENT, S("UNSUB \r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&CLIENT, S("UNSUB 1 2 3\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(op.type, OP_UNSUB);
}

/* ---- client mode rejects server / route ops ----------------------------- */

TEST(client_unknown_ops)
{
    op_t op;
    static const char *bad[] = {
        "MSG foo 1 2\r\nhi\r\n",
        "HMSG foo 1 2 2\r\nhi\r\n",
        "RS+ $G foo\r\n",
        "RS- $G foo\r\n",
        "RMSG $G foo 2\r\nhi\r\n",
        "LS+ c $G foo\r\n",
        "LMSG c $G foo 0 0\r\n\r\n",
        "A+ x\r\n",
        "\r\n",
        "\n",
        " PING\r\n",
        "\tPING\r\n",
        "XYZ\r\n",
        "P\r\n",
        "PIN\r\n",
        "+O\r\n",
        "INF\r\n",
        "C\r\n",
        "\x00",
        "\xff",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        size_t n = strlen(bad[i]);
        if (n == 0) n = 1; /* the NUL byte case */
        parse_rc_t rc = P(&CLIENT, bad[i], n, &op);
        if (rc != PARSE_ERR_UNKNOWN_OP) fprintf(stderr, "  case %zu: rc %d\n", i, rc);
        CHECK_EQ_INT(rc, PARSE_ERR_UNKNOWN_OP);
    }
    CHECK_EQ_INT(P(&CLIENT, S("HM"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(op.err_offset, 1);
    CHECK_EQ_INT(P(&CLIENT, S("R"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(op.err_offset, 0);
    /* route mode rejects client-only ops */
    CHECK_EQ_INT(P(&ROUTE, S("PUB foo 1\r\nx\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&ROUTE, S("SUB foo 1\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&ROUTE, S("UNSUB 1\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&ROUTE, S("HPUB foo 0 1\r\nx\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&ROUTE, S("MSG foo 1 1\r\nx\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&ROUTE, S("RSX $G foo\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
}

TEST(case_insensitive)
{
    op_t op;
    static const struct {
        const char *s;
        op_type_t t;
    } cases[] = {
        {"pUb a 1\r\nx\r\n", OP_PUB},
        {"sUb a 1\r\n", OP_SUB},
        {"uNsUb 1\r\n", OP_UNSUB},
        {"HpUb a 0 1\r\nx\r\n", OP_HPUB},
        {"cOnNeCt {}\r\n", OP_CONNECT},
        {"iNfO {}\r\n", OP_INFO},
        {"+oK\r\n", OP_OK},
        {"-eRr 'x'\r\n", OP_ERR},
        {"pInG\r\n", OP_PING},
        {"pong\r\n", OP_PONG},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        CHECK_EQ_INT(P(&CLIENT, cases[i].s, strlen(cases[i].s), &op), PARSE_OK);
        CHECK_EQ_INT(op.type, cases[i].t);
    }
    static const struct {
        const char *s;
        op_type_t t;
    } rcases[] = {
        {"rs+ $G a\r\n", OP_RSUB},
        {"Rs- $G a\r\n", OP_RUNSUB},
        {"rMsG $G a 1\r\nx\r\n", OP_RMSG},
        {"hmsg $G a 0 1\r\nx\r\n", OP_RMSG},
        {"ls+ o $G a\r\n", OP_LSUB},
        {"lS- $G a\r\n", OP_LUNSUB},
        {"lmsg o $G a 0 1\r\nx\r\n", OP_LMSG},
    };
    for (size_t i = 0; i < ARRAY_LEN(rcases); i++) {
        CHECK_EQ_INT(P(&ROUTE, rcases[i].s, strlen(rcases[i].s), &op), PARSE_OK);
        CHECK_EQ_INT(op.type, rcases[i].t);
    }
}

/* ---- limits --------------------------------------------------------------- */

static char *mkline(const char *prefix, size_t fill, const char *suffix, size_t *n)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *b = malloc(pl + fill + sl + 1);
    memcpy(b, prefix, pl);
    memset(b + pl, 'a', fill);
    memcpy(b + pl + fill, suffix, sl + 1);
    *n = pl + fill + sl;
    return b;
}

TEST(max_control_line)
{
    parse_limits_t lim = {PARSE_CLIENT, 24, 1048576};
    op_t op;
    size_t n;
    /* the argument "aaa...a 1" is exactly 24 bytes: passes */
    char *b = mkline("PUB ", 22, " 1\r\nx\r\n", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_OK);
    /* incomplete at the limit, and with its CR: still fine */
    CHECK_EQ_INT(P(&lim, b, n - 5, &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&lim, b, n - 4, &op), PARSE_NEED_MORE);
    free(b);
    /* 25 bytes: fails, complete or not */
    b = mkline("PUB ", 23, " 1\r\nx\r\n", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_ERR_CONTROL_LINE);
    CHECK_EQ_INT(P(&lim, b, n - 5, &op), PARSE_ERR_CONTROL_LINE);
    CHECK_EQ_INT(P(&lim, b, n - 6, &op), PARSE_NEED_MORE);
    free(b);
    /* leading blanks are not counted, trailing blanks are */
    b = mkline("PUB      ", 22, " 1\r\nx\r\n", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_OK);
    free(b);
    b = mkline("PUB ", 22, " 1 \r\nx\r\n", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_ERR_CONTROL_LINE);
    free(b);
    /* an extra CR counts (only the one right before LF is dropped) */
    b = mkline("PUB ", 22, " 1\r\r\nx\r\n", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_ERR_CONTROL_LINE);
    free(b);
    /* incomplete line over the limit, no LF yet */
    b = mkline("SUB ", 100, "", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_ERR_CONTROL_LINE);
    CHECK_EQ_INT(op.type, OP_SUB);
    free(b);
    /* CONNECT and every other op are subject to it */
    b = mkline("CONNECT {\"x\":\"", 20, "\"}\r\n", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_ERR_CONTROL_LINE);
    free(b);
    b = mkline("-ERR ", 25, "\r\n", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_ERR_CONTROL_LINE);
    free(b);
    /* PING junk is not an argument: ignored up to a large safety cap */
    b = mkline("PING ", 500, "\r\n", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_OK);
    free(b);
    b = mkline("PING ", 5000, "", &n);
    CHECK_EQ_INT(P(&lim, b, n, &op), PARSE_ERR_CONTROL_LINE);
    free(b);
    /* default 4096 */
    b = mkline("CONNECT {\"n\":\"", 5000, "\"}\r\n", &n);
    CHECK_EQ_INT(P(&CLIENT, b, n, &op), PARSE_ERR_CONTROL_LINE);
    /* routes: unlimited */
    CHECK_EQ_INT(P(&ROUTE, b, n, &op), PARSE_OK);
    free(b);
    b = mkline("RS+ $G ", 10000, "\r\n", &n);
    CHECK_EQ_INT(P(&ROUTE, b, n, &op), PARSE_OK);
    CHECK_EQ_INT(op.subject.n, 10000);
    free(b);
}

TEST(max_payload)
{
    parse_limits_t lim = {PARSE_CLIENT, 4096, 10};
    op_t op;
    CHECK_EQ_INT(P(&lim, S("PUB foo 10\r\n0123456789\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(P(&lim, S("PUB foo 11\r\n"), &op), PARSE_ERR_MAX_PAYLOAD);
    CHECK_EQ_INT(op.type, OP_PUB);
    CHECK_EQ_INT(P(&lim, S("PUB foo 11"), &op), PARSE_NEED_MORE);
    CHECK_EQ_INT(P(&lim, S("HPUB foo 5 10\r\n0123456789\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(P(&lim, S("HPUB foo 5 11\r\n"), &op), PARSE_ERR_MAX_PAYLOAD);
    /* arg errors take precedence, as in the reference */
    CHECK_EQ_INT(P(&lim, S("HPUB foo 12 11\r\n"), &op), PARSE_ERR_ARGS);
    /* not applied to routes */
    parse_limits_t rl = {PARSE_ROUTE, 0, 10};
    CHECK_EQ_INT(P(&rl, S("RMSG $G foo 11\r\n01234567890\r\n"), &op), PARSE_OK);
}

/* ---- route ops ------------------------------------------------------------ */

TEST(route_subs)
{
    op_t op;
    CHECK_EQ_INT(P(&ROUTE, S("RS+ $G foo\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_RSUB);
    CHECK_SL(op.account, "$G");
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(op.queue.n, 0);
    CHECK_EQ_INT(op.max, -1);
    CHECK_EQ_INT(P(&ROUTE, S("RS+ $G bar.* q1 12\r\n"), &op), PARSE_OK);
    CHECK_SL(op.subject, "bar.*");
    CHECK_SL(op.queue, "q1");
    CHECK_EQ_INT(op.max, 12);
    CHECK_EQ_INT(P(&ROUTE, S("RS+ $G bar.* q1\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("RS+ $G bar.* q1 x\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("RS+ $G\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("RS+\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&ROUTE, S("RS+$G foo\r\n"), &op), PARSE_ERR_UNKNOWN_OP);

    CHECK_EQ_INT(P(&ROUTE, S("RS- $G foo\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_RUNSUB);
    CHECK_SL(op.account, "$G");
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(P(&ROUTE, S("RS- $G foo q\r\n"), &op), PARSE_OK);
    CHECK_SL(op.queue, "q");
    CHECK_EQ_INT(P(&ROUTE, S("RS- $G foo q 1\r\n"), &op), PARSE_ERR_ARGS);

    CHECK_EQ_INT(P(&ROUTE, S("LS+ orig $G foo\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_LSUB);
    CHECK_SL(op.origin, "orig");
    CHECK_SL(op.account, "$G");
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(P(&ROUTE, S("LS+ orig $G foo q 3\r\n"), &op), PARSE_OK);
    CHECK_SL(op.queue, "q");
    CHECK_EQ_INT(op.max, 3);
    CHECK_EQ_INT(P(&ROUTE, S("LS+ $G foo\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("LS- $G foo\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_LUNSUB);
    CHECK_SL(op.account, "$G");
    CHECK_SL(op.subject, "foo");
}

/* A leaf connection's forms (docs/leafnodes.md §4): no account, no origin. */
TEST(leaf_ops)
{
    op_t op;
    CHECK_EQ_INT(P(&LEAF, S("LS+ foo\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_LSUB);
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(op.account.n, 0);
    CHECK_EQ_INT(op.queue.n, 0);
    CHECK_EQ_INT(P(&LEAF, S("LS+ foo.* q 3\r\n"), &op), PARSE_OK);
    CHECK_SL(op.queue, "q");
    CHECK_EQ_INT(op.max, 3);
    CHECK_EQ_INT(P(&LEAF, S("LS+ foo q\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&LEAF, S("LS+ foo q x\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&LEAF, S("LS- foo\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_LUNSUB);
    CHECK_EQ_INT(P(&LEAF, S("LS- foo q\r\n"), &op), PARSE_OK);
    CHECK_SL(op.queue, "q");
    CHECK_EQ_INT(P(&LEAF, S("LS- foo q 1\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&LEAF, S("LMSG foo 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_LMSG);
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(op.hdr, -1);
    CHECK_EQ_INT(op.size, 2);
    CHECK_EQ_INT(P(&LEAF, S("LMSG foo rep 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "rep");
    CHECK_EQ_INT(P(&LEAF, S("LMSG foo + rep q1 q2 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "rep");
    CHECK_SL(op.queues, "q1 q2");
    CHECK_EQ_INT(P(&LEAF, S("LMSG foo | q1 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.reply.n, 0);
    CHECK_SL(op.queues, "q1");
    CHECK_EQ_INT(P(&LEAF, S("LMSG foo x q1 2\r\nhi\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&LEAF, S("HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_LMSG);
    CHECK_EQ_INT(op.hdr, 12);
    CHECK_EQ_INT(op.size, 14);
    CHECK_EQ_INT(P(&LEAF, S("HMSG foo + r q 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "r");
    CHECK_SL(op.queues, "q");
    CHECK_EQ_INT(P(&LEAF, S("HMSG foo 15 14\r\n"), &op), PARSE_ERR_ARGS);
    /* what a leaf does not speak */
    CHECK_EQ_INT(P(&LEAF, S("PUB foo 2\r\nhi\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&LEAF, S("RS+ $G foo\r\n"), &op), PARSE_ERR_UNKNOWN_OP);
    CHECK_EQ_INT(P(&LEAF, S("PING\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(P(&LEAF, S("CONNECT {}\r\n"), &op), PARSE_OK);
    /* the route form is unchanged */
    CHECK_EQ_INT(P(&ROUTE, S("LS+ c $G foo\r\n"), &op), PARSE_OK);
    CHECK_SL(op.origin, "c");
    CHECK_SL(op.account, "$G");
}

TEST(route_msgs)
{
    op_t op;
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G foo 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_RMSG);
    CHECK_SL(op.account, "$G");
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(op.reply.n, 0);
    CHECK_EQ_INT(op.queues.n, 0);
    CHECK_EQ_INT(op.hdr, -1);
    CHECK_EQ_INT(op.size, 2);
    CHECK(memcmp(op.payload, "hi", 2) == 0);
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G x.y rep 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "rep");
    CHECK_EQ_INT(op.queues.n, 0);
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G q.a | grp 2\r\nqq\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.reply.n, 0);
    CHECK_SL(op.queues, "grp");
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G q.a + r grp 2\r\nqq\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "r");
    CHECK_SL(op.queues, "grp");
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G q.a | g1 g2\tg3  g4 g5 g6 g7 g8 g9 2\r\nqq\r\n"), &op),
                 PARSE_OK);
    CHECK_SL(op.queues, "g1 g2\tg3  g4 g5 g6 g7 g8 g9");
    CHECK_EQ_INT(op.size, 2);
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G q.a + r 2\r\nqq\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "r");
    CHECK_EQ_INT(op.queues.n, 0);
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G q.a x r g 2\r\nqq\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G q.a ++ r g 2\r\nqq\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G foo\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G foo x\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("RMSG $G foo 2\r\nhix"), &op), PARSE_ERR_UNKNOWN_OP);

    CHECK_EQ_INT(P(&ROUTE, S("HMSG $G foo 2 4\r\nhiok\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_RMSG);
    CHECK_EQ_INT(op.hdr, 2);
    CHECK_EQ_INT(op.size, 4);
    CHECK_EQ_INT(P(&ROUTE, S("HMSG $G foo r 2 4\r\nhiok\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "r");
    CHECK_EQ_INT(P(&ROUTE, S("HMSG $G h.q + rr grp 12 14\r\n012345678901ab\r\n"), &op), PARSE_OK);
    CHECK_SL(op.subject, "h.q");
    CHECK_SL(op.reply, "rr");
    CHECK_SL(op.queues, "grp");
    CHECK_EQ_INT(op.hdr, 12);
    CHECK_EQ_INT(op.size, 14);
    CHECK_EQ_INT(P(&ROUTE, S("HMSG $G h.q | a b 0 0\r\n\r\n"), &op), PARSE_OK);
    CHECK_SL(op.queues, "a b");
    CHECK_EQ_INT(P(&ROUTE, S("HMSG $G foo 5 4\r\nhiok\r\n"), &op), PARSE_ERR_ARGS);
    CHECK_EQ_INT(P(&ROUTE, S("HMSG $G foo 4\r\nhiok\r\n"), &op), PARSE_ERR_ARGS);

    CHECK_EQ_INT(P(&ROUTE, S("LMSG org $G foo 0 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(op.type, OP_LMSG);
    CHECK_SL(op.origin, "org");
    CHECK_SL(op.account, "$G");
    CHECK_SL(op.subject, "foo");
    CHECK_EQ_INT(op.hdr, 0);
    CHECK_EQ_INT(op.size, 2);
    CHECK_EQ_INT(P(&ROUTE, S("LMSG org $G foo + r q1 q2 0 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_SL(op.reply, "r");
    CHECK_SL(op.queues, "q1 q2");
    CHECK_EQ_INT(P(&ROUTE, S("LMSG org $G foo 2\r\nhi\r\n"), &op), PARSE_ERR_ARGS);
}

/* The same slice, by position in its op's buffer and length. */
static bool same_slice(const char *ba, slice_t a, const char *bb, slice_t b)
{
    if (a.n != b.n) return false;
    if (!a.n) return true; /* (where an empty slice points does not matter) */
    return a.p - ba == b.p - bb;
}

/* The fast paths (upper-case PUB / RMSG, canonical spacing) and the general one (the
 * same bytes with the name in lower case, which only it takes) give the same op, field
 * for field, and the same outcome. */
static bool same_op_both_paths(const parse_limits_t *lim, const char *up)
{
    size_t n = strlen(up);
    char *low = strdup(up);
    for (int i = 0; i < 4 && low[i] != ' '; i++)
        low[i] = (char)(low[i] | 0x20);
    op_t a, b;
    parse_rc_t ra = parse_op(lim, up, n, &a), rb = parse_op(lim, low, n, &b);
    bool ok = ra == rb;
    if (ok && ra == PARSE_OK)
        ok = a.type == b.type && same_slice(up, a.line, low, b.line) &&
             same_slice(up, a.account, low, b.account) &&
             same_slice(up, a.subject, low, b.subject) && same_slice(up, a.reply, low, b.reply) &&
             same_slice(up, a.queue, low, b.queue) && same_slice(up, a.queues, low, b.queues) &&
             same_slice(up, a.sid, low, b.sid) && same_slice(up, a.origin, low, b.origin) &&
             a.hdr == b.hdr && a.size == b.size && a.max == b.max &&
             a.payload - up == b.payload - low && a.consumed == b.consumed && a.need == b.need;
    if (!ok) fprintf(stderr, "  fast and general paths differ on %s (rc %d / %d)\n", up, ra, rb);
    free(low);
    return ok;
}

TEST(fast_paths_equal_general)
{
    static const char *route[] = {
        "RMSG $G foo 2\r\nhi\r\n",
        "RMSG $G x.y rep 2\r\nhi\r\n",
        "RMSG $G q.a | grp 2\r\nqq\r\n",
        "RMSG $G q.a + r grp 2\r\nqq\r\n",
        "RMSG $G q.a + r 2\r\nqq\r\n",
        "RMSG $G q.a | g1 g2 g3 2\r\nqq\r\n",
        "RMSG $G q.a + r g1 g2 g3 0\r\n\r\n",
        "RMSG $G q.a | g1 g2 g3 g4 g5 2\r\nqq\r\n", /* more tokens than the fast path keeps */
        "RMSG acc s 0002\r\nhi\r\n",
        "RMSG $G q.a x r g 2\r\nqq\r\n",
        "RMSG $G q.a ++ r g 2\r\nqq\r\n",
        "RMSG $G foo\r\n",
        "RMSG $G foo x\r\nhi\r\n",
        "RMSG $G foo 2\r\nhix",
        "RMSG $G foo 2\r\nhi\r",
        "RMSG $G foo 3\r\nhi\r\n",
        "RMSG $G foo 1234567890\r\nhi\r\n",
        "RMSG $G foo  2\r\nhi\r\n",
        "RMSG $G foo 2 \r\nhi\r\n",
        "RMSG $G foo\t2\r\nhi\r\n",
        "RMSG $G foo 2\nhi\r\n",
    };
    for (size_t i = 0; i < sizeof route / sizeof *route; i++)
        CHECK(same_op_both_paths(&ROUTE, route[i]));
    static const char *client[] = {
        "PUB foo 2\r\nhi\r\n",  "PUB foo r 2\r\nhi\r\n",   "PUB foo r x 2\r\nhi\r\n",
        "PUB foo 2\r\nhix",     "PUB foo 99999\r\nhi\r\n", "PUB foo 2\r\nhi\r",
        "PUB foo\t2\r\nhi\r\n",
    };
    for (size_t i = 0; i < sizeof client / sizeof *client; i++)
        CHECK(same_op_both_paths(&CLIENT, client[i]));
}

TEST(op_names)
{
    CHECK_EQ_STR(op_name(OP_PUB), "PUB");
    CHECK_EQ_STR(op_name(OP_RSUB), "RS+");
    CHECK_EQ_STR(op_name(OP_RUNSUB), "RS-");
    CHECK_EQ_STR(op_name(OP_OK), "+OK");
    CHECK_EQ_STR(op_name(OP_ERR), "-ERR");
    CHECK_EQ_STR(op_name(OP_LMSG), "LMSG");
}

/* ---- split driver --------------------------------------------------------- */

typedef struct strbuf {
    char *p;
    size_t n, cap;
} strbuf_t;

static void sb_add(strbuf_t *sb, const void *d, size_t n)
{
    if (sb->n + n + 1 > sb->cap) {
        sb->cap = (sb->n + n + 1) * 2;
        sb->p = realloc(sb->p, sb->cap);
    }
    memcpy(sb->p + sb->n, d, n);
    sb->n += n;
    sb->p[sb->n] = 0;
}

static void sb_printf(strbuf_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void sb_printf(strbuf_t *sb, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    sb_add(sb, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void sb_slice(strbuf_t *sb, slice_t s)
{
    sb_printf(sb, "[%zu:", s.n);
    if (s.n) sb_add(sb, s.p, s.n);
    sb_add(sb, "]", 1);
}

/* Canonical text of one op (every field), for comparisons. */
static void fmt_op(strbuf_t *sb, const op_t *op)
{
    sb_printf(sb, "%s", op_name(op->type));
    sb_slice(sb, op->line);
    sb_slice(sb, op->origin);
    sb_slice(sb, op->account);
    sb_slice(sb, op->subject);
    sb_slice(sb, op->reply);
    sb_slice(sb, op->queue);
    sb_slice(sb, op->queues);
    sb_slice(sb, op->sid);
    sb_printf(sb, " h=%lld s=%lld m=%lld c=%zu ", (long long)op->hdr, (long long)op->size,
              (long long)op->max, op->consumed);
    if (op->payload) sb_add(sb, op->payload, (size_t)op->size);
    sb_add(sb, "\n", 1);
}

/* Simulates a connection: bytes arrive in chunks given by next_chunk, the
 * parser is called from the op start, OK consumes, NEED_MORE keeps the rest.
 * Returns the transcript of ops and the final outcome. */
typedef size_t (*chunk_fn)(void *ctx);

static void drive(const parse_limits_t *lim, const char *data, size_t len, chunk_fn next, void *ctx,
                  strbuf_t *out)
{
    char *buf = malloc(len ? len : 1);
    size_t have = 0, fed = 0, need = 0;
    bool done = false;
    while (!done && fed < len) {
        size_t c = next(ctx);
        if (c > len - fed) c = len - fed;
        memcpy(buf + have, data + fed, c);
        have += c;
        fed += c;
        for (;;) {
            /* Honour the hint like a real reader would: skip re-parsing
             * until enough bytes are there (except at the end of the stream,
             * where the whole parse may have seen a bad terminator early). */
            if (need && have < need && fed < len) break;
            op_t op;
            parse_rc_t rc = parse_op(lim, buf, have, &op);
            if (rc == PARSE_OK) {
                if (need && op.consumed != need) {
                    sb_printf(out, "BAD NEED %zu vs %zu\n", need, op.consumed);
                }
                need = 0;
                fmt_op(out, &op);
                memmove(buf, buf + op.consumed, have - op.consumed);
                have -= op.consumed;
            } else if (rc == PARSE_NEED_MORE) {
                need = op.need;
                if (need && need <= have) sb_printf(out, "BAD HINT %zu <= %zu\n", need, have);
                break;
            } else {
                sb_printf(out, "ERR %d %s\n", rc, op_name(op.type));
                done = true;
                break;
            }
        }
    }
    if (!done) sb_printf(out, "END rest=%zu\n", have);
    free(buf);
}

static size_t chunk_fixed(void *ctx)
{
    return *(size_t *)ctx;
}

static size_t chunk_random(void *ctx)
{
    uint64_t *st = ctx;
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t r = *st >> 33;
    /* mostly small, sometimes large */
    return (r & 7) == 0 ? 1 + (r >> 3) % 300 : 1 + (r >> 3) % 17;
}

static void build_stream(strbuf_t *s)
{
    static const char *ops[] = {
        "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n",
        "SuB\tfoo\t\t1\r\n",
        "PUB   foo    2\r\nhi\r\n",
        "PiNg\r\n",
        "PUB foo 0\r\n\r\n",
        "pub foo reply 5\nhello\r\n",
        "PUB bin 6\r\n\r\n\n\r\x7f\xff\r\n",
        "PUB nul 3\r\n",
        "HPUB foo 17 19\r\nNATS/1.0\r\nA:B\r\n\r\nhi\r\n",
        "HPUB foo r 12 12\r\nNATS/1.0\r\n\r\n\r\n",
        "SUB bar q 22\r\n",
        "UNSUB 22 5\n",
        "UNSUB 1\r\n",
        "UNSUB 1 x\r\n",
        "PONG junk\r\n",
        "+OK\r\n",
        "INFO {}\r\n",
        "-ERR 'oops'\r\n",
        "PUB big 300\r\n",
        "PINGX\r\n",
    };
    for (int rep = 0; rep < 12; rep++) {
        for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
            sb_add(s, ops[i], strlen(ops[i]));
            if (strcmp(ops[i], "PUB nul 3\r\n") == 0) sb_add(s, "\0\0\0\r\n", 5);
            if (strcmp(ops[i], "PUB big 300\r\n") == 0) {
                for (int k = 0; k < 300; k++) {
                    char c = (char)((k * 7 + rep) % 256);
                    if (k % 50 == 0) c = '\r';
                    if (k % 50 == 1) c = '\n';
                    sb_add(s, &c, 1);
                }
                sb_add(s, "\r\n", 2);
            }
        }
    }
}

static void build_route_stream(strbuf_t *s)
{
    static const char *ops[] = {
        "CONNECT {\"verbose\":false}\r\n",
        "INFO {\"server_id\":\"x\"}\r\n",
        "RS+ $G foo\r\n",
        "RS+ $G bar.* q1 1\r\n",
        "RS- $G foo\r\n",
        "RS- $G bar.* q1\r\n",
        "RMSG $G x.y rep 2\r\nhi\r\n",
        "RMSG $G q.a | grp 2\r\nqq\r\n",
        "RMSG $G q.a + r g1 g2 3\r\n\r\n\n\r\n",
        "HMSG $G h.q + rr grp 12 14\r\nNATS/1.0\r\n\r\nab\r\n",
        "HMSG $G h 0 0\r\n\r\n",
        "LS+ o $G foo q 3\r\n",
        "LS- $G foo q\r\n",
        "LMSG o $G foo | q 0 2\r\nhi\r\n",
        "PING\r\n",
        "PONG\r\n",
    };
    for (int rep = 0; rep < 10; rep++)
        for (size_t i = 0; i < ARRAY_LEN(ops); i++)
            sb_add(s, ops[i], strlen(ops[i]));
}

static int split_check(const parse_limits_t *lim, const char *data, size_t len,
                       const char *expect_tail)
{
    strbuf_t whole = {0};
    size_t all = len ? len : 1;
    drive(lim, data, len, chunk_fixed, &all, &whole);
    int bad = 0;
    if (expect_tail) {
        size_t tl = strlen(expect_tail);
        if (whole.n < tl || memcmp(whole.p + whole.n - tl, expect_tail, tl) != 0) {
            fprintf(stderr, "  whole parse ends wrong: ...%s\n",
                    whole.n > 80 ? whole.p + whole.n - 80 : whole.p);
            bad++;
        }
    }
    for (size_t cs = 1; cs <= 64; cs++) {
        strbuf_t got = {0};
        drive(lim, data, len, chunk_fixed, &cs, &got);
        if (got.n != whole.n || memcmp(got.p, whole.p, whole.n) != 0) {
            fprintf(stderr, "  chunk size %zu differs\n", cs);
            bad++;
        }
        free(got.p);
    }
    for (uint64_t seed = 1; seed <= 200; seed++) {
        strbuf_t got = {0};
        uint64_t st = seed;
        drive(lim, data, len, chunk_random, &st, &got);
        if (got.n != whole.n || memcmp(got.p, whole.p, whole.n) != 0) {
            fprintf(stderr, "  random split seed %llu differs\n", (unsigned long long)seed);
            bad++;
        }
        free(got.p);
    }
    free(whole.p);
    return bad;
}

static size_t count_lines(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '\n';
    return k;
}

TEST(split_client_stream)
{
    strbuf_t s = {0};
    build_stream(&s);
    strbuf_t whole = {0};
    size_t all = s.n;
    drive(&CLIENT, s.p, s.n, chunk_fixed, &all, &whole);
    CHECK(whole.n >= 10 && memcmp(whole.p + whole.n - 11, "END rest=0\n", 11) == 0);
    free(whole.p);
    CHECK_EQ_INT(split_check(&CLIENT, s.p, s.n, "END rest=0\n"), 0);
    free(s.p);
}

TEST(split_route_stream)
{
    strbuf_t s = {0};
    build_route_stream(&s);
    CHECK_EQ_INT(split_check(&ROUTE, s.p, s.n, "END rest=0\n"), 0);
    free(s.p);
}

TEST(split_error_streams)
{
    /* Each stream ends in an error; the error must come out at the same
     * point whatever the split. */
    static const struct {
        const char *s;
        const char *tail;
    } cases[] = {
        {"PING\r\nPUB foo 2\r\nhello\r\nPING\r\n", "ERR 2 PUB\n"},
        {"PING\r\nPUB foo abc\r\nPING\r\n", "ERR 5 PUB\n"},
        {"SUB a 1\r\nMSG a 1 1\r\nx\r\n", "ERR 2 ?\n"},
        {"SUB a 1\r\nPUB a 2000000\r\n", "ERR 4 PUB\n"},
        {"PING\r\nSUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1\r\n", "ERR 3 SUB\n"},
        {"PING\r\nSUB aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ERR 3 SUB\n"},
        {"PUB foo 1\r\nx\r\n\r\nPING\r\n", "ERR 2 ?\n"},
        {"PING\r\n PING\r\n", "ERR 2 ?\n"},
        {"PUB foo 2\r\nhi\n\r\n", "ERR 2 PUB\n"},
    };
    parse_limits_t lim = {PARSE_CLIENT, 40, 1048576};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int bad = split_check(&lim, cases[i].s, strlen(cases[i].s), cases[i].tail);
        if (bad) fprintf(stderr, "  case %zu\n", i);
        CHECK_EQ_INT(bad, 0);
    }
}

/* ---- transcripts (docs/protocol.md §12) ------------------------------------------------------ */

static void whole_transcript(const parse_limits_t *lim, const char *s, strbuf_t *out)
{
    size_t all = strlen(s);
    drive(lim, s, strlen(s), chunk_fixed, &all, out);
}

TEST(transcripts)
{
    strbuf_t t = {0};
    whole_transcript(&CLIENT, "SUB foo 1\r\nPUB foo 2\r\nhi\r\n", &t);
    CHECK_EQ_INT(count_lines(t.p, t.n), 3);
    CHECK(strncmp(t.p, "SUB[5:foo 1][0:][0:][3:foo]", 27) == 0);
    free(t.p);

    t = (strbuf_t){0};
    whole_transcript(&CLIENT,
                     "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSuB\tfoo\t\t1\r\nPUB   "
                     "foo    2\r\nhi\r\nPiNg\r\n",
                     &t);
    const char *exp =
        "CONNECT[34:{\"verbose\":false,\"pedantic\":false}][0:][0:][0:][0:][0:][0:][0:] "
        "h=-1 s=0 m=-1 c=44 \n"
        "SUB[6:foo\t\t1][0:][0:][3:foo][0:][0:][0:][1:1] h=-1 s=0 m=-1 c=12 \n"
        "PUB[8:foo    2][0:][0:][3:foo][0:][0:][0:][0:] h=-1 s=2 m=-1 c=20 hi\n"
        "PING[0:][0:][0:][0:][0:][0:][0:][0:] h=-1 s=0 m=-1 c=6 \n"
        "END rest=0\n";
    if (strcmp(t.p, exp) != 0) fprintf(stderr, "  got:\n%s", t.p);
    CHECK(strcmp(t.p, exp) == 0);
    free(t.p);

    op_t op;
    CHECK_EQ_INT(P(&CLIENT, S("CONNECT {}\r\n"), &op), PARSE_OK);
    CHECK_EQ_INT(P(&CLIENT, S("PUB foo.* 2\r\nhi\r\n"), &op), PARSE_OK);
    CHECK_SL(op.subject, "foo.*");

    t = (strbuf_t){0};
    whole_transcript(&CLIENT, "CONNECT {\"verbose\":false}\r\nPUB foo 2\r\nhello\r\n", &t);
    CHECK(strstr(t.p, "ERR 2 PUB\n") != NULL);
    free(t.p);
    t = (strbuf_t){0};
    whole_transcript(&CLIENT, "CONNECT {\"verbose\":false}\r\nPUB foo abc\r\n", &t);
    CHECK(strstr(t.p, "ERR 5 PUB\n") != NULL);
    free(t.p);

    t = (strbuf_t){0};
    whole_transcript(&CLIENT,
                     "CONNECT {\"verbose\":false}\r\nSUB foo..bar 1\r\nSUB a 1\r\nSUB b 2\r\nSUB c "
                     "3\r\nPING\r\n",
                     &t);
    CHECK_EQ_INT(count_lines(t.p, t.n), 7);
    free(t.p);

    t = (strbuf_t){0};
    whole_transcript(&CLIENT,
                     "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB "
                     "inbox 1\r\nPUB foo inbox 2\r\nhi\r\n",
                     &t);
    CHECK(strstr(t.p, "PUB[11:foo inbox 2][0:][0:][3:foo][5:inbox]") != NULL);
    CHECK(memcmp(t.p + t.n - 11, "END rest=0\n", 11) == 0);
    free(t.p);

    /* a route transcript (docs/routes.md §4) */
    t = (strbuf_t){0};
    whole_transcript(&ROUTE,
                     "RS+ $G foo\r\nRS+ $G bar.* q1 1\r\nRMSG $G x.y rep 2\r\nhi\r\nRMSG $G q.a | "
                     "grp 2\r\nqq\r\n",
                     &t);
    CHECK_EQ_INT(count_lines(t.p, t.n), 5);
    CHECK(strstr(t.p, "RMSG[14:$G q.a | grp 2][0:][2:$G][3:q.a][0:][0:][3:grp][0:] h=-1 s=2") !=
          NULL);
    free(t.p);
}

/* ---- throughput ----------------------------------------------------------- */

TEST(throughput)
{
    /* Informational: small PUBs through the parser (built -O0 with sanitizers
     * here; see the report for the -O2 figure). */
    strbuf_t s = {0};
    for (int i = 0; i < 20000; i++)
        sb_add(&s, S("PUB foo.bar.baz 16\r\n0123456789abcdef\r\n"));
    struct timespec t0, t1;
    size_t ops = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < 5; r++) {
        size_t off = 0;
        op_t op;
        while (off < s.n && parse_op(&CLIENT, s.p + off, s.n - off, &op) == PARSE_OK) {
            off += op.consumed;
            ops++;
        }
        CHECK_EQ_INT(off, s.n);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("     parse: %.0f MB/s, %.1f Mops/s\n", 5.0 * (double)s.n / sec / 1e6,
           (double)ops / sec / 1e6);
    free(s.p);
}

int main(void)
{
    RUN(ping_pong_ok);
    RUN(need_more_prefixes);
    RUN(connect_info_err);
    RUN(pub_forms);
    RUN(pub_errors);
    RUN(hpub);
    RUN(sub_unsub);
    RUN(client_unknown_ops);
    RUN(case_insensitive);
    RUN(max_control_line);
    RUN(max_payload);
    RUN(route_subs);
    RUN(leaf_ops);
    RUN(route_msgs);
    RUN(fast_paths_equal_general);
    RUN(op_names);
    RUN(split_client_stream);
    RUN(split_route_stream);
    RUN(split_error_streams);
    RUN(transcripts);
    RUN(throughput);
    return test_summary();
}
