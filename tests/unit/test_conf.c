/* test_conf.c: the configuration language (src/conf/conf_*.c) against docs/config.md §2-§6. */
#include "conf/conf.h"
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char errbuf[2048];

static conf_val_t *P(const char *text)
{
    errbuf[0] = 0;
    conf_val_t *v = conf_parse_string(text, strlen(text), "t.conf", errbuf, sizeof(errbuf));
    if (!v) fprintf(stderr, "  unexpected error: %s\n", errbuf);
    return v;
}

/* The error text for an input that must fail ("" if it parsed). */
static const char *E(const char *text)
{
    errbuf[0] = 0;
    conf_val_t *v = conf_parse_string(text, strlen(text), "t.conf", errbuf, sizeof(errbuf));
    if (v) {
        conf_free(v);
        return "";
    }
    return errbuf;
}

static const conf_val_t *G(const conf_val_t *m, const char *key)
{
    const conf_kv_t *kv = conf_map_find(m, key);
    return kv ? kv->val : NULL;
}

static int64_t I(const conf_val_t *m, const char *key)
{
    const conf_val_t *v = G(m, key);
    if (!v || v->type != CONF_INT) {
        fprintf(stderr, "  %s: not an int\n", key);
        return INT64_MIN;
    }
    return v->u.i;
}

static const char *S(const conf_val_t *m, const char *key)
{
    const conf_val_t *v = G(m, key);
    if (!v || v->type != CONF_STRING) return NULL;
    return v->u.str.s;
}

static int B(const conf_val_t *m, const char *key)
{
    const conf_val_t *v = G(m, key);
    if (!v || v->type != CONF_BOOL) return -1;
    return v->u.b;
}

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

static conf_val_t *PF(const char *rel)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    errbuf[0] = 0;
    return conf_parse_file(path, errbuf, sizeof(errbuf));
}

/* ---- lexical grammar ----------------------------------------------------- */

TEST(separators)
{
    conf_val_t *r = P("a = 1\nb: 2\nc 3\nd=4; e=5, f=6\ng\n\n  7\n\"h\":8\n'i' 9\n");
    CHECK(r && r->type == CONF_MAP);
    CHECK_EQ_INT(I(r, "a"), 1);
    CHECK_EQ_INT(I(r, "b"), 2);
    CHECK_EQ_INT(I(r, "c"), 3);
    CHECK_EQ_INT(I(r, "d"), 4);
    CHECK_EQ_INT(I(r, "e"), 5);
    CHECK_EQ_INT(I(r, "f"), 6);
    CHECK_EQ_INT(I(r, "g"), 7); /* top level: newlines may follow a bare key */
    CHECK_EQ_INT(I(r, "h"), 8);
    CHECK_EQ_INT(I(r, "i"), 9);
    CHECK_EQ_INT(r->u.map.n, 9);
    conf_free(r);
}

TEST(comments)
{
    conf_val_t *r = P("# top\n// slash\na = 1 # trailing\nb = 2 // trailing\n"
                      "c = x#y\nd = p/q\nm {\n # in map\n k = v // c\n}\n"
                      "arr = [ # c\n 1 // c\n 2 ]\n");
    CHECK(r);
    CHECK_EQ_INT(I(r, "a"), 1);
    CHECK_EQ_INT(I(r, "b"), 2);
    CHECK_EQ_STR(S(r, "c"), "x#y"); /* '#' needs a blank before it */
    CHECK_EQ_STR(S(r, "d"), "p/q");
    CHECK_EQ_STR(S(G(r, "m"), "k"), "v");
    const conf_val_t *a = G(r, "arr");
    CHECK(a && a->type == CONF_ARRAY && a->u.arr.n == 2);
    conf_free(r);
}

TEST(strings)
{
    conf_val_t *r = P("dq = \"a\\tb\\nc\\rd\\\"e\\\\f\\x41\\x7a\"\n"
                      "nul = \"x\\x00y\"\n"
                      "sq = 'c:\\logs\\x.log'\n"
                      "uq = hello\n"
                      "uqesc = a\\tb\n"
                      "comma = a,b = c\n"
                      "multi = \"line1\nline2 # not a comment\"\n"
                      "empty = \"\"\n"
                      "dollar = \"$FOO\"\n"
                      "pre = pre$FOO\n"
                      "utf = \"h\xc3\xa9llo\"\n");
    CHECK(r);
    CHECK_EQ_STR(S(r, "dq"), "a\tb\nc\rd\"e\\fAz");
    const conf_val_t *n = G(r, "nul");
    CHECK(n && n->type == CONF_STRING && n->u.str.len == 3 && memcmp(n->u.str.s, "x\0y", 3) == 0);
    CHECK_EQ_STR(S(r, "sq"), "c:\\logs\\x.log");
    CHECK_EQ_STR(S(r, "uq"), "hello");
    CHECK_EQ_STR(S(r, "uqesc"), "a\tb");
    CHECK_EQ_STR(S(r, "comma"), "a");
    CHECK_EQ_STR(S(r, "b"), "c");
    CHECK_EQ_STR(S(r, "multi"), "line1\nline2 # not a comment");
    CHECK_EQ_STR(S(r, "empty"), "");
    CHECK_EQ_STR(S(r, "dollar"), "$FOO");
    CHECK_EQ_STR(S(r, "pre"), "pre$FOO");
    CHECK_EQ_STR(S(r, "utf"), "h\xc3\xa9llo");
    conf_free(r);
    /* A quote inside an unquoted string ends it and is dropped. */
    CHECK_EQ_STR(E("quote = ab'c\n"),
                 "t.conf:1:12: Expected a top-level value to end with a new line, comment or EOF, "
                 "but got 'c' instead.");
    r = P("q = ab'\n");
    CHECK(r && strcmp(S(r, "q"), "ab") == 0);
    conf_free(r);
}

TEST(block_strings)
{
    conf_val_t *r = P("k (\nline one\n  line two\n)\nafter = 1\nb (x)\ny\n)\n");
    CHECK(r);
    CHECK_EQ_STR(S(r, "k"), "\nline one\n  line two\n");
    CHECK_EQ_INT(I(r, "after"), 1);
    CHECK_EQ_STR(S(r, "b"), "x)\ny\n"); /* ")" not alone on its line does not end it */
    conf_free(r);
    r = P("k (\nabc\n)");
    CHECK(r && strcmp(S(r, "k"), "\nabc\n") == 0);
    conf_free(r);
    CHECK_EQ_STR(E("k (\nabc\n"), "t.conf:3:1: Unexpected EOF processing block.");
}

TEST(numbers)
{
    conf_val_t *r = P("a = 42\nb = -7\nc = 0\nd = 9223372036854775807\ne = -9223372036854775808\n"
                      "f = 1.5\ng = -0.25\nh = 127.0.0.1\ni = 127.0.0.1:4222\nj = 10abc\n"
                      "k = 0x10\nl = 3secret\nm = 1b\nn = 1kx\no = -1.5.3\n");
    CHECK(r);
    CHECK_EQ_INT(I(r, "a"), 42);
    CHECK_EQ_INT(I(r, "b"), -7);
    CHECK_EQ_INT(I(r, "c"), 0);
    CHECK_EQ_INT(I(r, "d"), INT64_MAX);
    CHECK_EQ_INT(I(r, "e"), INT64_MIN);
    const conf_val_t *f = G(r, "f");
    CHECK(f && f->type == CONF_FLOAT && f->u.f == 1.5);
    f = G(r, "g");
    CHECK(f && f->type == CONF_FLOAT && f->u.f == -0.25);
    CHECK_EQ_STR(S(r, "h"), "127.0.0.1");
    CHECK_EQ_STR(S(r, "i"), "127.0.0.1:4222");
    CHECK_EQ_STR(S(r, "j"), "10abc");
    CHECK_EQ_STR(S(r, "k"), "0x10");
    CHECK_EQ_STR(S(r, "l"), "3secret");
    CHECK_EQ_STR(S(r, "m"), "1b");
    CHECK_EQ_STR(S(r, "n"), "1kx");
    CHECK_EQ_STR(S(r, "o"), "-1.5.3");
    conf_free(r);
    /* An IP-like value ends at the first character outside [0-9.:-]. */
    CHECK_EQ_STR(E("p = 1.2.3abc\n"),
                 "t.conf:1:10: Expected a top-level value to end with a new line, comment or EOF, "
                 "but got 'a' instead.");
    /* The reference leaves a backslash right after digits alone. */
    r = P("a = 12\\x41\nb = 1k\\x41\n");
    CHECK(r && strcmp(S(r, "a"), "12\\x41") == 0 && strcmp(S(r, "b"), "1kA") == 0);
    conf_free(r);
}

TEST(size_suffixes)
{
    conf_val_t *r = P("a=1k\nb=2K\nc=2kb\nd=2KiB\ne=1M\nf=1mb\ng=1GB\nh=1P\ni=-1k\nj=1ki\nk=1g\n"
                      "l=1t\nm=1tb\nn=1pb\no=1e\np=1eb\nq=3MI\nr=1gib\n");
    CHECK(r);
    CHECK_EQ_INT(I(r, "a"), 1000);
    CHECK_EQ_INT(I(r, "b"), 2000);
    CHECK_EQ_INT(I(r, "c"), 2048);
    CHECK_EQ_INT(I(r, "d"), 2048);
    CHECK_EQ_INT(I(r, "e"), 1000000);
    CHECK_EQ_INT(I(r, "f"), 1048576);
    CHECK_EQ_INT(I(r, "g"), 1073741824);
    CHECK_EQ_INT(I(r, "h"), 1000000000000000LL);
    CHECK_EQ_INT(I(r, "i"), -1000);
    CHECK_EQ_INT(I(r, "j"), 1024);
    CHECK_EQ_INT(I(r, "k"), 1000000000);
    CHECK_EQ_INT(I(r, "l"), 1000000000000LL);
    CHECK_EQ_INT(I(r, "m"), 1LL << 40);
    CHECK_EQ_INT(I(r, "n"), 1LL << 50);
    CHECK_EQ_INT(I(r, "o"), 1000000000000000000LL);
    CHECK_EQ_INT(I(r, "p"), 1LL << 60);
    CHECK_EQ_INT(I(r, "q"), 3 << 20);
    CHECK_EQ_INT(I(r, "r"), 1LL << 30);
    conf_free(r);
    CHECK_EQ_STR(E("a = 1KBB\n"), "t.conf:1:5: expected integer, but got '1KBB'");
    CHECK_EQ_STR(E("a = 10E\n"), "t.conf:1:5: integer '10E' is out of the range");
    CHECK_EQ_STR(E("a = 99999999999999999999\n"),
                 "t.conf:1:5: integer '99999999999999999999' is out of the range");
    CHECK_EQ_STR(E("a = 1.5k\n"), "t.conf:1:8: Expected a top-level value to end with a new "
                                  "line, comment or EOF, but got 'k' instead.");
}

TEST(booleans)
{
    conf_val_t *r =
        P("a=true\nb=TRUE\nc=yes\nd=On\ne=false\nf=No\ng=off\nh=OFF\ni=\"true\"\nj='no'\n");
    CHECK(r);
    CHECK_EQ_INT(B(r, "a"), 1);
    CHECK_EQ_INT(B(r, "b"), 1);
    CHECK_EQ_INT(B(r, "c"), 1);
    CHECK_EQ_INT(B(r, "d"), 1);
    CHECK_EQ_INT(B(r, "e"), 0);
    CHECK_EQ_INT(B(r, "f"), 0);
    CHECK_EQ_INT(B(r, "g"), 0);
    CHECK_EQ_INT(B(r, "h"), 0);
    CHECK_EQ_STR(S(r, "i"), "true");
    CHECK_EQ_STR(S(r, "j"), "no");
    conf_free(r);
}

TEST(datetime)
{
    conf_val_t *r =
        P("a = 2020-01-02T03:04:05Z\nb = 1970-01-01T00:00:00Z\nc = 2000-02-29T23:59:59Z\n");
    CHECK(r);
    const conf_val_t *d = G(r, "a");
    CHECK(d && d->type == CONF_DATETIME && d->u.i == 1577934245);
    CHECK_EQ_INT(G(r, "b")->u.i, 0);
    CHECK_EQ_INT(G(r, "c")->u.i, 951868799);
    conf_free(r);
    CHECK_EQ_STR(E("a = 2023-13-01T00:00:00Z\n"),
                 "t.conf:1:5: expected Zulu formatted DateTime, but got '2023-13-01T00:00:00Z'");
    CHECK_EQ_STR(E("a = 2023-02-29T00:00:00Z\n"),
                 "t.conf:1:5: expected Zulu formatted DateTime, but got '2023-02-29T00:00:00Z'");
    CHECK_EQ_STR(E("a = 2023-01-01 00:00:00Z\n"),
                 "t.conf:1:15: Expected 'T' in ISO8601 datetime, but found ' ' instead.");
    CHECK_EQ_STR(E("a = 2023-01-0x\n"),
                 "t.conf:1:14: Expected digit in ISO8601 datetime, but found 'x' instead.");
    CHECK_EQ_STR(E("phone = 555-1234\n"),
                 "t.conf:1:12: All ISO8601 dates must be in full Zulu form.");
}

TEST(arrays)
{
    conf_val_t *r =
        P("a = [1, 2 ]\nb = [\n  x\n  y,\n  z,\n]\nc = []\nd = [[1.5], [\"s\"], {k: v}]\n"
          "e = [true,abc,'q']\nf = [1,2]\ng = [2k]\nh = [-1]\n");
    CHECK(r);
    const conf_val_t *a = G(r, "a");
    CHECK(a && a->type == CONF_ARRAY && a->u.arr.n == 2 && a->u.arr.items[1]->u.i == 2);
    const conf_val_t *b = G(r, "b");
    CHECK(b && b->u.arr.n == 3 && strcmp(b->u.arr.items[2]->u.str.s, "z") == 0);
    CHECK(G(r, "c") && G(r, "c")->u.arr.n == 0);
    const conf_val_t *d = G(r, "d");
    CHECK(d && d->u.arr.n == 3 && d->u.arr.items[0]->type == CONF_ARRAY &&
          d->u.arr.items[0]->u.arr.items[0]->u.f == 1.5 && d->u.arr.items[2]->type == CONF_MAP);
    CHECK_EQ_STR(S(d->u.arr.items[2], "k"), "v");
    const conf_val_t *e = G(r, "e");
    CHECK(e && e->u.arr.n == 3 && e->u.arr.items[0]->type == CONF_BOOL);
    /* gnatsd-c: a plain integer ends at ']' (the reference fails here). */
    const conf_val_t *f = G(r, "f");
    CHECK(f && f->u.arr.n == 2 && f->u.arr.items[1]->type == CONF_INT);
    /* ...but a size keeps the reference's string reading. */
    const conf_val_t *g = G(r, "g");
    CHECK(g && g->u.arr.n == 1 && g->u.arr.items[0]->type == CONF_STRING);
    CHECK(G(r, "h") && G(r, "h")->u.arr.items[0]->u.i == -1);
    conf_free(r);
    CHECK_EQ_STR(E("a = [,1]\n"), "t.conf:1:6: Unexpected array value terminator ','.");
    CHECK_EQ_STR(E("a = [1,,2]\n"), "t.conf:1:8: Unexpected array value terminator ','.");
    CHECK_EQ_STR(E("a = [1 2]\n"), "t.conf:1:8: Expected an array value terminator \",\" or an "
                                   "array terminator \"]\", but got '2' instead.");
    CHECK_EQ_STR(E("a = [1, 2\n"), "t.conf:2:1: Expected an array value terminator \",\" or an "
                                   "array terminator \"]\", but got '\\x00' instead.");
}

TEST(maps)
{
    conf_val_t *r = P("m {\n  a = 1, b: 2; c 3\n  d\n  =\n  4\n  n { x = y }\n}\ne = {}\n"
                      "\"cluster{\" = 1\nf = { 'q k': 1, \"w\": 2, }\n");
    CHECK(r);
    const conf_val_t *m = G(r, "m");
    CHECK(m && m->type == CONF_MAP);
    CHECK_EQ_INT(I(m, "a"), 1);
    CHECK_EQ_INT(I(m, "b"), 2);
    CHECK_EQ_INT(I(m, "c"), 3);
    CHECK_EQ_INT(I(m, "d"), 4); /* inside a map, newlines may surround the separator */
    CHECK_EQ_STR(S(G(m, "n"), "x"), "y");
    CHECK(G(r, "e") && G(r, "e")->type == CONF_MAP && G(r, "e")->u.map.n == 0);
    CHECK_EQ_INT(I(G(r, "f"), "q k"), 1);
    CHECK_EQ_INT(I(G(r, "f"), "w"), 2);
    conf_free(r);
    /* "cluster{" is a key: a space is needed before '{'. */
    CHECK_EQ_STR(E("cluster{\n port = 1\n}\n"),
                 "t.conf:2:7: Expected a top-level value to end with a new line, comment or EOF, "
                 "but got '=' instead.");
    CHECK_EQ_STR(E("m { = 1 }\n"), "t.conf:1:5: Unexpected key separator '='.");
    CHECK_EQ_STR(E("m { ] }\n"), "t.conf:1:5: Unexpected array end ']' processing map.");
    CHECK_EQ_STR(E("m {\n a = 1\n"), "t.conf:3:1: Unexpected EOF processing map.");
    CHECK_EQ_STR(E("m { abc"), "t.conf:1:8: Unexpected EOF processing map key.");
    CHECK_EQ_STR(E("m { 'abc"), "t.conf:1:9: Unexpected EOF processing quoted map key.");
    CHECK_EQ_STR(E("m { \"abc"), "t.conf:1:9: Unexpected EOF processing double quoted map key.");
    CHECK_EQ_STR(E("m { a = , }\n"), "t.conf:1:9: Unexpected map value terminator ','.");
    CHECK_EQ_STR(E("m { a = 1 b = 2 }\n"), "t.conf:1:11: Expected a map value terminator \",\" or "
                                           "a map terminator \"}\", but got 'b' instead.");
    CHECK_EQ_STR(E("m { a = }\n"), "t.conf:1:9: Expected a map value but got '}' instead.");
}

TEST(whole_json_object)
{
    conf_val_t *r =
        P("{\n  \"port\": 4222,\n  \"debug\": true,\n  \"cluster\": {\"name\": \"c1\", "
          "\"port\": 6222},\n  \"routes\": [\"nats://a:6222\", \"nats://b:6222\"],\n"
          "  \"users\": [{\"user\": \"a\", \"password\": \"b\"}],\n  \"ratio\": 0.5\n}\n");
    CHECK(r);
    CHECK_EQ_INT(I(r, "port"), 4222);
    CHECK_EQ_INT(B(r, "debug"), 1);
    CHECK_EQ_STR(S(G(r, "cluster"), "name"), "c1");
    CHECK(G(r, "routes") && G(r, "routes")->u.arr.n == 2);
    CHECK_EQ_STR(S(G(r, "users")->u.arr.items[0], "password"), "b");
    conf_free(r);
    r = P("{}");
    CHECK(r && r->u.map.n == 0);
    conf_free(r);
    r = P("{\"a\":1,\"b\":[1,2,3]}");
    CHECK(r && I(r, "a") == 1 && G(r, "b")->u.arr.n == 3);
    conf_free(r);
}

TEST(top_level_rules)
{
    CHECK_EQ_STR(E("port: 4222 debug: true\n"),
                 "t.conf:1:12: Expected a top-level value to end with a new line, comment or EOF, "
                 "but got 'd' instead.");
    CHECK_EQ_STR(E("= 1\n"), "t.conf:1:1: Unexpected key separator '='");
    CHECK_EQ_STR(E("port =\n 4222\n"), "t.conf:1:7: Expected value but found new line");
    CHECK_EQ_STR(E("a = .5\n"), "t.conf:1:5: Floats must start with a digit");
    CHECK_EQ_STR(E("a = -.5\n"), "t.conf:1:6: Floats must start with a digit, not '.'.");
    CHECK_EQ_STR(E("a = -x\n"), "t.conf:1:6: Expected a digit but got 'x'.");
    CHECK_EQ_STR(E("a = 1.x\n"),
                 "t.conf:1:7: Floats must have a digit after the '.', but got 'x' instead.");
    CHECK_EQ_STR(E("a = \"abc\n"), "t.conf:2:1: Unexpected EOF.");
    CHECK_EQ_STR(E("a = 'abc"), "t.conf:1:9: Unexpected EOF.");
    CHECK_EQ_STR(E("\"abc"), "t.conf:1:5: Unexpected EOF.");
    CHECK_EQ_STR(E("/a = 1\n"), "t.conf:1:1: Unexpected EOF.");
    CHECK_EQ_STR(E("a = \"\\q\"\n"),
                 "t.conf:1:7: Invalid escape character 'q'. Only the following escape characters "
                 "are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.");
    CHECK_EQ_STR(E("a = \"\\xZZ\"\n"),
                 "t.conf:1:8: Expected two hexadecimal digits after '\\x', but got 'ZZ'");
    CHECK_EQ_STR(E("a = \"\\x4\n\"\n"),
                 "t.conf:1:8: Expected two hexadecimal digits after '\\x', but hit end of line");
    CHECK_EQ_STR(E("log = c:\\logs\\x.log\n"),
                 "t.conf:1:10: Invalid escape character 'l'. Only the following escape characters "
                 "are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.");
    /* Quirks kept: ';' ',' '}' end a top-level entry, a key alone at EOF is
     * dropped, an empty value at EOF is the empty string, a lone '/' after a
     * value is skipped. */
    conf_val_t *r = P("a = 1; b = 2, c = 3 } d = x /\nlast");
    CHECK(r && r->u.map.n == 4 && I(r, "c") == 3 && strcmp(S(r, "d"), "x") == 0);
    CHECK(!G(r, "last"));
    conf_free(r);
    r = P("a =");
    CHECK(r && S(r, "a") && strcmp(S(r, "a"), "") == 0);
    conf_free(r);
    r = P("");
    CHECK(r && r->type == CONF_MAP && r->u.map.n == 0);
    conf_free(r);
}

TEST(crlf_and_unicode_space)
{
    conf_val_t *r = P("a = 1\r\nb {\r\n  c = x\r\n}\r\nd = [1,\r\n 2]\r\n");
    CHECK(r);
    CHECK_EQ_INT(I(r, "a"), 1);
    CHECK_EQ_STR(S(G(r, "b"), "c"), "x");
    CHECK(G(r, "d") && G(r, "d")->u.arr.n == 2);
    CHECK_EQ_INT(conf_map_find(r, "b")->line, 2);
    conf_free(r);
    /* U+00A0 separates a key from its value, as Go's unicode.IsSpace says. */
    r = P("k\xc2\xa0v\n");
    CHECK(r && S(r, "k") && strcmp(S(r, "k"), "v") == 0);
    conf_free(r);
}

TEST(positions)
{
    conf_val_t *r = P("port: 4222\n  \"quoted\" = 'str'\nm {\n\tinner = [ 1, \"x\" ]\n}\n"
                      "blk (\nz\n)\n");
    CHECK(r);
    CHECK_EQ_INT(r->line, 1);
    CHECK_EQ_INT(r->col, 1);
    CHECK_EQ_STR(r->file, "t.conf");
    const conf_kv_t *kv = conf_map_find(r, "port");
    CHECK(kv && kv->line == 1 && kv->col == 1 && kv->val->line == 1 && kv->val->col == 7);
    CHECK_EQ_STR(kv->file, "t.conf");
    CHECK_EQ_STR(kv->val->file, "t.conf");
    kv = conf_map_find(r, "quoted");
    CHECK(kv && kv->line == 2 && kv->col == 4);            /* after the quote */
    CHECK(kv && kv->val->line == 2 && kv->val->col == 15); /* after the quote */
    kv = conf_map_find(r, "m");
    CHECK(kv && kv->line == 3 && kv->col == 1 && kv->val->line == 3 && kv->val->col == 3);
    const conf_kv_t *in = conf_map_find(kv->val, "inner");
    CHECK(in && in->line == 4 && in->col == 2 && in->val->col == 10);
    CHECK(in && in->val->u.arr.items[0]->col == 12 && in->val->u.arr.items[1]->col == 16);
    kv = conf_map_find(r, "blk");
    CHECK(kv && kv->line == 6 && kv->val->line == 6 && kv->val->col == 6);
    conf_free(r);
}

TEST(map_find)
{
    conf_val_t *r = P("Port = 1\nport = 2\nPORT = 3\nother = 4\n");
    CHECK(r);
    const conf_kv_t *kv = conf_map_find(r, "pOrT");
    CHECK(kv && kv->val->u.i == 3 && kv->line == 3);
    CHECK(conf_map_find(r, "missing") == NULL);
    CHECK(conf_map_find(G(r, "other"), "x") == NULL); /* not a map */
    CHECK(conf_map_find(NULL, "x") == NULL);
    conf_free(r);
    /* A repeated block replaces the earlier one (no merge). */
    r = P("c { a = 1 }\nc { b = 2 }\n");
    CHECK(r && G(G(r, "c"), "a") == NULL && I(G(r, "c"), "b") == 2);
    conf_free(r);
}

TEST(type_names)
{
    CHECK_EQ_STR(conf_type_name(CONF_MAP), "map[string]interface {}");
    CHECK_EQ_STR(conf_type_name(CONF_ARRAY), "[]interface {}");
    CHECK_EQ_STR(conf_type_name(CONF_STRING), "string");
    CHECK_EQ_STR(conf_type_name(CONF_INT), "int64");
    CHECK_EQ_STR(conf_type_name(CONF_FLOAT), "float64");
    CHECK_EQ_STR(conf_type_name(CONF_BOOL), "bool");
    CHECK_EQ_STR(conf_type_name(CONF_DATETIME), "time.Time");
}

/* ---- variables ------------------------------------------------------------ */

TEST(variables_scoping)
{
    conf_val_t *r = P("A = 1\nB = $A\nm {\n  C = 2\n  D = $A\n  E = $C\n  n { F = $C }\n  "
                      "arr = [ $A, { G = 3, H = $G } ]\n}\nA = 5\nI = $A\n");
    CHECK(r);
    CHECK_EQ_INT(I(r, "B"), 1);
    const conf_val_t *m = G(r, "m");
    CHECK_EQ_INT(I(m, "D"), 1);
    CHECK_EQ_INT(I(m, "E"), 2);
    CHECK_EQ_INT(I(G(m, "n"), "F"), 2);
    const conf_val_t *arr = G(m, "arr");
    CHECK(arr && arr->u.arr.n == 2 && arr->u.arr.items[0]->u.i == 1);
    CHECK_EQ_INT(I(arr->u.arr.items[1], "H"), 3);
    CHECK_EQ_INT(I(r, "I"), 5); /* the latest definition */
    /* The copy sits at the reference; its contents keep their positions. */
    const conf_kv_t *kv = conf_map_find(r, "B");
    CHECK(kv && kv->val->line == 2 && kv->val->col == 5);
    conf_free(r);
    /* Inner definitions are invisible outside their block, later ones before. */
    unsetenv("C");
    CHECK_EQ_STR(E("m { C = 2 }\nx = $C\n"),
                 "t.conf:2:5: variable reference for 'C' on line 2 can not be found");
    unsetenv("LATER");
    CHECK_EQ_STR(E("x = $LATER\nLATER = 1\n"),
                 "t.conf:1:5: variable reference for 'LATER' on line 1 can not be found");
    /* A block cannot see itself while it is being built. */
    unsetenv("selfref");
    CHECK_EQ_STR(E("selfref { b = $selfref }\n"),
                 "t.conf:1:15: variable reference for 'selfref' on line 1 can not be found");
    CHECK_EQ_STR(E("x = $\n"), "t.conf:1:5: variable reference for '' on line 1 can not be found");
}

TEST(variables_copy_values)
{
    conf_val_t *r =
        P("ADMIN = { publish = \">\", subscribe = [\"a\", \"b\"] }\n"
          "users = [ {user: joe, permissions: $ADMIN}, {user: bob, permissions: $ADMIN} ]\n"
          "S = \"str\"\nF = 1.5\nT = on\nx = [$S, $F, $T]\n");
    CHECK(r);
    const conf_val_t *u = G(r, "users");
    CHECK(u && u->u.arr.n == 2);
    const conf_val_t *p0 = G(u->u.arr.items[0], "permissions");
    const conf_val_t *p1 = G(u->u.arr.items[1], "permissions");
    CHECK(p0 && p1 && p0 != p1 && p0->type == CONF_MAP);
    CHECK_EQ_STR(S(p1, "publish"), ">");
    CHECK(G(p1, "subscribe") && G(p1, "subscribe")->u.arr.n == 2);
    /* inner positions are those of the definition */
    CHECK_EQ_INT(conf_map_find(p1, "publish")->line, 1);
    const conf_val_t *x = G(r, "x");
    CHECK(x && x->u.arr.n == 3 && x->u.arr.items[0]->type == CONF_STRING &&
          x->u.arr.items[1]->type == CONF_FLOAT && x->u.arr.items[2]->type == CONF_BOOL);
    conf_free(r);
}

TEST(variables_case_insensitive)
{
    unsetenv("PASSWORD");
    unsetenv("Pass");
    conf_val_t *r = P("password = secret\nauthorization { pass = $PASSWORD }\n"
                      "Pass = 1\npass = 2\nx = $Pass\ny = $PASS\n");
    CHECK(r);
    CHECK_EQ_STR(S(G(r, "authorization"), "pass"), "secret");
    CHECK_EQ_INT(I(r, "x"), 1); /* exact beats case-insensitive */
    CHECK_EQ_INT(I(r, "y"), 2); /* then the latest case-insensitive match */
    conf_free(r);
    /* An exact environment variable beats a case-insensitive file variable, so
     * whatever the reference resolves resolves the same here. */
    setenv("GNATSD_T_CI", "env", 1);
    r = P("gnatsd_t_ci = file\nx = $GNATSD_T_CI\n");
    CHECK(r && strcmp(S(r, "x"), "env") == 0);
    conf_free(r);
    unsetenv("GNATSD_T_CI");
}

TEST(variables_environment)
{
    setenv("GNATSD_T_INT", "42", 1);
    setenv("GNATSD_T_SIZE", "1MB", 1);
    setenv("GNATSD_T_BOOL", "true", 1);
    setenv("GNATSD_T_QSTR", "\"a b\"", 1);
    setenv("GNATSD_T_MAP", "{a:1, b: [x, y]}", 1);
    setenv("GNATSD_T_EMPTY", "", 1);
    setenv("GNATSD_T_STR", "hello", 1);
    setenv("GNATSD_T_NEST", "$GNATSD_T_INT", 1);
    conf_val_t *r = P("a = $GNATSD_T_INT\nb = $GNATSD_T_SIZE\nc = $GNATSD_T_BOOL\n"
                      "d = $GNATSD_T_QSTR\ne = $GNATSD_T_MAP\nf = $GNATSD_T_EMPTY\n"
                      "g = $GNATSD_T_STR\nh = $GNATSD_T_NEST\n");
    CHECK(r);
    CHECK_EQ_INT(I(r, "a"), 42);
    CHECK_EQ_INT(I(r, "b"), 1048576);
    CHECK_EQ_INT(B(r, "c"), 1);
    CHECK_EQ_STR(S(r, "d"), "a b");
    CHECK_EQ_INT(I(G(r, "e"), "a"), 1);
    CHECK(G(G(r, "e"), "b") && G(G(r, "e"), "b")->u.arr.n == 2);
    CHECK_EQ_STR(S(r, "f"), "");
    CHECK_EQ_STR(S(r, "g"), "hello");
    CHECK_EQ_INT(I(r, "h"), 42);
    /* environment values are placed at the reference */
    const conf_val_t *e = G(r, "e");
    CHECK(e && e->line == 5 && e->col == 5 && conf_map_find(e, "a")->line == 5);
    conf_free(r);
    /* A file variable shadows the environment. */
    r = P("GNATSD_T_INT = 7\nx = $GNATSD_T_INT\n");
    CHECK(r && I(r, "x") == 7);
    conf_free(r);

    setenv("GNATSD_T_BAD", "hello world", 1);
    CHECK_EQ_STR(E("\nx = $GNATSD_T_BAD\n"),
                 "t.conf:2:5: variable reference for 'GNATSD_T_BAD' on line 2 could not be parsed: "
                 "Parse error on line 1: 'Expected a top-level value to end with a new line, "
                 "comment or EOF, but got 'w' instead.'");
    setenv("GNATSD_T_LOOP", "$GNATSD_T_LOOP", 1);
    const char *msg = E("x = $GNATSD_T_LOOP\n");
    const char *pre = "t.conf:1:5: variable reference for 'GNATSD_T_LOOP' on line 1 could not "
                      "be parsed: ";
    CHECK(strncmp(msg, pre, strlen(pre)) == 0);
    CHECK(strstr(msg, "environment variables nested more than 8 deep") != NULL);
    setenv("GNATSD_T_A", "$GNATSD_T_B", 1);
    setenv("GNATSD_T_B", "[$GNATSD_T_A]", 1);
    CHECK(strstr(E("x = $GNATSD_T_A\n"), "could not be parsed") != NULL);
    const char *names[] = {"GNATSD_T_INT", "GNATSD_T_SIZE",  "GNATSD_T_BOOL", "GNATSD_T_QSTR",
                           "GNATSD_T_MAP", "GNATSD_T_EMPTY", "GNATSD_T_STR",  "GNATSD_T_NEST",
                           "GNATSD_T_BAD", "GNATSD_T_LOOP",  "GNATSD_T_A",    "GNATSD_T_B"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

TEST(variables_bcrypt_literals)
{
    conf_val_t *r = P("a = $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG\n"
                      "b = $2b$05$abc\nc = $2y$10$xyz\n");
    CHECK(r);
    CHECK_EQ_STR(S(r, "a"), "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG");
    CHECK_EQ_STR(S(r, "b"), "$2b$05$abc");
    CHECK_EQ_STR(S(r, "c"), "$2y$10$xyz");
    conf_free(r);
}

TEST(variables_expansion_bounded)
{
    /* Each level doubles... sixteen-fold: without a budget this is 16^8 copies. */
    const char *bomb = "a = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n"
                       "b = [$a,$a,$a,$a,$a,$a,$a,$a,$a,$a,$a,$a,$a,$a,$a,$a]\n"
                       "c = [$b,$b,$b,$b,$b,$b,$b,$b,$b,$b,$b,$b,$b,$b,$b,$b]\n"
                       "d = [$c,$c,$c,$c,$c,$c,$c,$c,$c,$c,$c,$c,$c,$c,$c,$c]\n"
                       "e = [$d,$d,$d,$d,$d,$d,$d,$d,$d,$d,$d,$d,$d,$d,$d,$d]\n"
                       "f = [$e,$e,$e,$e,$e,$e,$e,$e,$e,$e,$e,$e,$e,$e,$e,$e]\n"
                       "g = [$f,$f,$f,$f,$f,$f,$f,$f,$f,$f,$f,$f,$f,$f,$f,$f]\n"
                       "h = [$g,$g,$g,$g,$g,$g,$g,$g,$g,$g,$g,$g,$g,$g,$g,$g]\n";
    CHECK(strstr(E(bomb), "configuration too large") != NULL);
}

TEST(nesting_depth_bounded)
{
    size_t n = 100000;
    char *deep = malloc(n * 2 + 8);
    strcpy(deep, "a = ");
    memset(deep + 4, '[', n);
    deep[4 + n] = 0;
    CHECK(strstr(E(deep), "maximum nesting depth") != NULL);
    /* copies count too: a variable holding 100 levels put 100 levels deep */
    char *s = deep;
    s += sprintf(s, "v = ");
    for (int i = 0; i < 100; i++)
        *s++ = '[';
    for (int i = 0; i < 100; i++)
        *s++ = ']';
    s += sprintf(s, "\nw = ");
    for (int i = 0; i < 100; i++)
        *s++ = '[';
    s += sprintf(s, "$v");
    for (int i = 0; i < 100; i++)
        *s++ = ']';
    *s++ = '\n';
    *s = 0;
    CHECK(strstr(E(deep), "maximum nesting depth") != NULL);
    free(deep);
}

/* ---- include ------------------------------------------------------------- */

TEST(include_basic)
{
    mkdir(strcat(strcpy(errbuf, tmpdir), "/sub"), 0700);
    mkdir(strcat(strcpy(errbuf, tmpdir), "/sub/deeper"), 0700);
    write_file("users.conf", "PASS = s3cr3t\nuser = alice\n");
    write_file("sub/auth.conf", "token = abc\ninclude deeper/more.conf\n");
    write_file("sub/deeper/more.conf", "timeout = 3\n");
    write_file("main.conf", "include users.conf\npassword = $PASS\n"
                            "authorization {\n  include 'sub/auth.conf'\n  user = x\n}\n"
                            "include \"sub/deeper/more.conf\"; port = 1\n");
    conf_val_t *r = PF("main.conf");
    CHECK(r);
    if (!r) {
        fprintf(stderr, "  %s\n", errbuf);
        return;
    }
    CHECK_EQ_STR(S(r, "user"), "alice");
    CHECK_EQ_STR(S(r, "password"), "s3cr3t"); /* included keys are visible afterwards */
    const conf_val_t *a = G(r, "authorization");
    CHECK_EQ_STR(S(a, "token"), "abc");
    CHECK_EQ_INT(I(a, "timeout"), 3); /* nested include relative to its own file */
    CHECK_EQ_INT(I(r, "timeout"), 3);
    CHECK_EQ_INT(I(r, "port"), 1);
    /* keys from an included file name that file */
    const conf_kv_t *kv = conf_map_find(a, "token");
    char want[256];
    snprintf(want, sizeof(want), "%s/sub/auth.conf", tmpdir);
    CHECK(kv && strcmp(kv->file, want) == 0 && kv->line == 1 && kv->col == 1);
    CHECK(kv && strcmp(kv->val->file, want) == 0);
    kv = conf_map_find(a, "timeout");
    snprintf(want, sizeof(want), "%s/sub/deeper/more.conf", tmpdir);
    CHECK(kv && strcmp(kv->file, want) == 0);
    snprintf(want, sizeof(want), "%s/main.conf", tmpdir);
    CHECK_EQ_STR(conf_map_find(r, "port")->file, want);
    CHECK_EQ_STR(r->file, want);
    conf_free(r);
}

TEST(include_scoping)
{
    /* An included file sees the environment but not the includer's variables. */
    unsetenv("OUTER");
    write_file("inc_var.conf", "x = $OUTER\n");
    write_file("inc_main.conf", "OUTER = 1\ninclude inc_var.conf\n");
    conf_val_t *r = PF("inc_main.conf");
    CHECK(!r);
    char want[512];
    snprintf(want, sizeof(want),
             "%s/inc_main.conf:2:1: error parsing include file 'inc_var.conf', "
             "%s/inc_var.conf:1:5: variable reference for 'OUTER' on line 1 can not be found",
             tmpdir, tmpdir);
    CHECK_EQ_STR(errbuf, want);
    conf_free(r);
}

TEST(include_errors)
{
    write_file("inc_missing.conf", "a = 1\n  include nope.conf\n");
    CHECK(!PF("inc_missing.conf"));
    char want[512];
    snprintf(want, sizeof(want),
             "%s/inc_missing.conf:2:3: error parsing include file 'nope.conf', open "
             "%s/nope.conf: no such file or directory",
             tmpdir, tmpdir);
    CHECK_EQ_STR(errbuf, want);

    write_file("inc_bad_inner.conf", "m {\n a = 1\n");
    write_file("inc_bad.conf", "include inc_bad_inner.conf\n");
    CHECK(!PF("inc_bad.conf"));
    snprintf(want, sizeof(want),
             "%s/inc_bad.conf:1:1: error parsing include file 'inc_bad_inner.conf', "
             "%s/inc_bad_inner.conf:3:1: Unexpected EOF processing map.",
             tmpdir, tmpdir);
    CHECK_EQ_STR(errbuf, want);

    /* A cycle stops at the depth limit instead of recursing forever. */
    write_file("cyc_a.conf", "include cyc_b.conf\n");
    write_file("cyc_b.conf", "include cyc_a.conf\n");
    CHECK(!PF("cyc_a.conf"));
    CHECK(strstr(errbuf, "includes nested more than 16 deep") != NULL);
    snprintf(want, sizeof(want), "%s/cyc_a.conf:1:1: error parsing include file 'cyc_b.conf', ",
             tmpdir);
    CHECK(strncmp(errbuf, want, strlen(want)) == 0);

    CHECK_EQ_STR(E("include [x]\n"),
                 "t.conf:1:9: Expected include value but found start of an array");
    CHECK_EQ_STR(E("include {x}\n"), "t.conf:1:9: Expected include value but found start of a map");
    CHECK_EQ_STR(E("include (x)\n"),
                 "t.conf:1:9: Expected include value but found start of a block");
    CHECK_EQ_STR(E("include 5\n"),
                 "t.conf:1:9: Expected include value but found start of a number");
    CHECK_EQ_STR(E("include \\x\n"),
                 "t.conf:1:9: Expected include value but found escape sequence");
    CHECK_EQ_STR(E("include\nx"), "t.conf:1:8: Expected include value but found new line");
    CHECK_EQ_STR(E("include 'x"), "t.conf:1:11: Unexpected EOF in quoted include");
    CHECK_EQ_STR(E("include \"x"), "t.conf:1:11: Unexpected EOF in double quoted include");

    char path[256];
    snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
    CHECK(!conf_parse_file(path, errbuf, sizeof(errbuf)));
    snprintf(want, sizeof(want), "open %s: no such file or directory", path);
    CHECK_EQ_STR(errbuf, want);
}

TEST(include_text_bounded)
{
    /* A cycle through a large file: each level holds its own copy of the text,
     * so the depth limit alone let 16 x 64 MiB be read; the text budget stops it. */
    char path[256];
    snprintf(path, sizeof(path), "%s/big_cycle.conf", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f);
    if (!f) return;
    fputs("# ", f);
    for (int i = 0; i < (6 << 20) / 64; i++)
        fputs("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", f);
    fputs("\ninclude big_cycle.conf\n", f);
    fclose(f);
    CHECK(!PF("big_cycle.conf"));
    CHECK(strstr(errbuf, "the configuration and its includes exceed 64 MiB") != NULL);
    CHECK(strstr(errbuf, "includes nested more than") == NULL);
    /* a fan-out of empty files: each counts 4 KiB, so at most 16 Ki of them */
    write_file("empty.conf", "");
    size_t n = 20000, len = strlen("include empty.conf\n");
    char *fan = malloc(n * len + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(fan + i * len, "include empty.conf\n", len);
    fan[n * len] = 0;
    write_file("fan.conf", fan);
    free(fan);
    CHECK(!PF("fan.conf"));
    CHECK(strstr(errbuf, "the configuration and its includes exceed 64 MiB") != NULL);
    /* a few are fine */
    write_file("fan_ok.conf", "include empty.conf\ninclude empty.conf\nport = 1\n");
    conf_val_t *r = PF("fan_ok.conf");
    CHECK(r);
    conf_free(r);
}

TEST(include_paths_are_relative)
{
    /* Even "/x" is joined onto the including file's directory, and ".."
     * is cleaned the way Go's filepath.Join does. */
    write_file("sub/abs.conf", "k = 1\n");
    write_file("sub/rel.conf", "include /abs.conf\ninclude ../users.conf\n");
    write_file("users.conf", "user = bob\n");
    conf_val_t *r = PF("sub/rel.conf");
    CHECK(r && I(r, "k") == 1);
    CHECK(r && strcmp(S(r, "user"), "bob") == 0);
    char want[256];
    snprintf(want, sizeof(want), "%s/users.conf", tmpdir);
    CHECK(r && strcmp(conf_map_find(r, "user")->file, want) == 0);
    conf_free(r);
}

/* ---- the README's examples ------------------------------------------------ */

TEST(readme_server_example)
{
    conf_val_t *r =
        P("listen: localhost:4242 # host/port to listen for client connections\n\n"
          "http: localhost:8222 # HTTP monitoring port\n\n"
          "# Authorization for client connections\nauthorization {\n  user:     derek\n"
          "  # ./util/mkpasswd -p T0pS3cr3t\n"
          "  password: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG\n"
          "  timeout:  1\n}\n\n# Cluster definition\n\ncluster {\n\n"
          "  listen: localhost:4244 # host/port for inbound route connections\n\n"
          "  # Authorization for route connections\n  authorization {\n    user: route_user\n"
          "    # ./util/mkpasswd -p T0pS3cr3tT00!\n"
          "    password: $2a$11$xH8dkGrty1cBNtZjhPeWJewu/YPbSU.rXJWmS6SFilOBXzmZoMk9m\n"
          "    timeout: 0.5\n  }\n\n"
          "  # Routes are actively solicited and connected to from this server.\n"
          "  routes = [\n    nats-route://user1:pass1@127.0.0.1:4245\n"
          "    nats-route://user2:pass2@127.0.0.1:4246\n  ]\n}\n\n"
          "# logging options\ndebug:   false\ntrace:   true\nlogtime: false\n"
          "log_file: \"/tmp/nats-server.log\"\n\n# pid file\npid_file: \"/tmp/nats-server.pid\"\n\n"
          "max_connections: 100\nmax_subscriptions: 1000\nmax_control_line: 512\n"
          "max_payload: 65536\nwrite_deadline: \"2s\"\n");
    CHECK(r);
    if (!r) return;
    CHECK_EQ_STR(S(r, "listen"), "localhost:4242");
    CHECK_EQ_STR(S(r, "http"), "localhost:8222");
    const conf_val_t *a = G(r, "authorization");
    CHECK_EQ_STR(S(a, "user"), "derek");
    CHECK_EQ_STR(S(a, "password"), "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG");
    CHECK_EQ_INT(I(a, "timeout"), 1);
    const conf_val_t *c = G(r, "cluster");
    CHECK_EQ_STR(S(c, "listen"), "localhost:4244");
    const conf_val_t *ca = G(c, "authorization");
    CHECK(G(ca, "timeout") && G(ca, "timeout")->type == CONF_FLOAT && G(ca, "timeout")->u.f == 0.5);
    const conf_val_t *routes = G(c, "routes");
    CHECK(routes && routes->u.arr.n == 2);
    CHECK_EQ_STR(routes->u.arr.items[1]->u.str.s, "nats-route://user2:pass2@127.0.0.1:4246");
    CHECK_EQ_INT(B(r, "debug"), 0);
    CHECK_EQ_INT(B(r, "trace"), 1);
    CHECK_EQ_INT(I(r, "max_payload"), 65536);
    CHECK_EQ_STR(S(r, "write_deadline"), "2s");
    conf_free(r);
}

TEST(readme_permissions_example)
{
    unsetenv("RESPONDER");
    conf_val_t *r =
        P("authorization {\n  ADMIN = {\n    publish = \">\"\n    subscribe = \">\"\n  }\n"
          "  REQUESTOR = {\n    publish = [\"req.foo\", \"req.bar\"]\n"
          "    subscribe = \"_INBOX.>\"\n  }\n  RESPONDER = {\n"
          "    subscribe = [\"req.foo\", \"req.bar\"]\n    publish = \"_INBOX.>\"\n  }\n"
          "  DEFAULT_PERMISSIONS = {\n    publish = \"SANDBOX.*\"\n"
          "    subscribe = [\"PUBLIC.>\", \"_INBOX.>\"]\n  }\n"
          "  PASS: abcdefghijklmnopqrstuvwxwz0123456789\n  users = [\n"
          "    {user: joe,     password: foo,   permissions: $ADMIN}\n"
          "    {user: alice,   password: bar,   permissions: $REQUESTOR}\n"
          "    {user: bob,     password: $PASS, permissions: $RESPONDER}\n"
          "    {user: charlie, password: bar}\n  ]\n}\n"
          "cluster {\n  listen: 4244\n  authorization {\n    user: ruser\n"
          "    password: $2a$11$UaoHwUEqHaMwqo6L4kM2buOBnGFnSCWxNXY87hl.kCERqKK8WAXM.\n"
          "    timeout: 3\n  }\n  permissions {\n"
          "    import:[\"_INBOX.>\", \"global.>\"]\n"
          "    export:[\"_INBOX.>\", \"global.>\", \"sensors.>\"]\n  }\n"
          "  routes = [\n    nats-route://ruser:top_secret@cloudserver:4244\n  ]\n}\n"
          "myUserPerms = {\n  publish = {\n    allow = \"*.*\"\n"
          "    deny = [\"SYS.*\", \"bar.baz\", \"foo.*\"]\n  }\n}\n"
          "u = [ {user: myUser, password: pwd, permissions: $myUserPerms} ]\n");
    CHECK(r);
    if (!r) return;
    const conf_val_t *users = G(G(r, "authorization"), "users");
    CHECK(users && users->u.arr.n == 4);
    const conf_val_t *bob = users->u.arr.items[2];
    CHECK_EQ_STR(S(bob, "password"), "abcdefghijklmnopqrstuvwxwz0123456789");
    CHECK_EQ_STR(S(G(bob, "permissions"), "publish"), "_INBOX.>");
    CHECK_EQ_STR(S(G(users->u.arr.items[0], "permissions"), "subscribe"), ">");
    CHECK(G(users->u.arr.items[3], "permissions") == NULL);
    const conf_val_t *perm = G(G(r, "cluster"), "permissions");
    CHECK(G(perm, "export") && G(perm, "export")->u.arr.n == 3);
    const conf_val_t *mu = G(G(r, "u")->u.arr.items[0], "permissions");
    CHECK(G(G(mu, "publish"), "deny") && G(G(mu, "publish"), "deny")->u.arr.n == 3);
    conf_free(r);
}

TEST(null_and_odd_inputs)
{
    /* NUL bytes and invalid UTF-8 are just bytes. */
    static const char in[] = "a = \"x\0y\"\nb = \xff\xfe\n";
    conf_val_t *r = conf_parse_string(in, sizeof(in) - 1, NULL, errbuf, sizeof(errbuf));
    CHECK(r && G(r, "a")->u.str.len == 3 && strcmp(S(r, "b"), "\xff\xfe") == 0);
    CHECK(r && strcmp(r->file, "<string>") == 0);
    conf_free(r);
    r = conf_parse_string(NULL, 0, "empty.conf", NULL, 0);
    CHECK(r && r->u.map.n == 0);
    conf_free(r);
    CHECK(!conf_parse_string("a = [", 5, "x.conf", NULL, 0)); /* no error buffer: fine */
    conf_free(NULL);
}

int main(void)
{
    strcpy(tmpdir, "/tmp/test_conf.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(separators);
    RUN(comments);
    RUN(strings);
    RUN(block_strings);
    RUN(numbers);
    RUN(size_suffixes);
    RUN(booleans);
    RUN(datetime);
    RUN(arrays);
    RUN(maps);
    RUN(whole_json_object);
    RUN(top_level_rules);
    RUN(crlf_and_unicode_space);
    RUN(positions);
    RUN(map_find);
    RUN(type_names);
    RUN(variables_scoping);
    RUN(variables_copy_values);
    RUN(variables_case_insensitive);
    RUN(variables_environment);
    RUN(variables_bcrypt_literals);
    RUN(variables_expansion_bounded);
    RUN(nesting_depth_bounded);
    RUN(include_basic);
    RUN(include_scoping);
    RUN(include_errors);
    RUN(include_text_bounded);
    RUN(include_paths_are_relative);
    RUN(readme_server_example);
    RUN(readme_permissions_example);
    RUN(null_and_odd_inputs);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary();
}
