/* test_http.c: unit tests for src/proto/http.c, the monitoring port's
 * request parser: complete and incomplete heads, pipelined requests, the
 * head size limit, malformed request lines (each answered 400 by the
 * reference's net/http), the request-target forms, keep-alive rules, and the
 * percent-decoding of paths (Go's r.URL.Path) and query values (Go's
 * url.Query().Get). */
#include "test.h"
#include "base/pct.h"
#include "proto/http.h"

#include <stdlib.h>

#define S(lit) lit, sizeof(lit) - 1
#define MAX_HEAD (1024 * 1024)

#define CHECK_SL(s, str)                                                                           \
    do {                                                                                           \
        slice_t _s = (s);                                                                          \
        if (!slice_eq_str(_s, str)) {                                                              \
            fprintf(stderr, "  %s:%d: %s == \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__, #s,  \
                    (int)_s.n, _s.p ? _s.p : "", str);                                             \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)

static long parse(const char *s, size_t n, http_req_t *req)
{
    return http_parse(s, n, MAX_HEAD, req);
}

/* ---- http_parse ------------------------------------------------------------ */

TEST(simple_get)
{
    http_req_t r;
    static const char in[] = "GET /varz HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_EQ_INT(parse(S(in), &r), sizeof in - 1);
    CHECK_SL(r.method, "GET");
    CHECK_SL(r.path, "/varz");
    CHECK_EQ_INT(r.query.n, 0);
    CHECK(r.query.p == NULL);
    CHECK_SL(r.version, "HTTP/1.1");
    CHECK(r.keep_alive);
    CHECK_EQ_INT(r.content_length, 0);
}

TEST(query_split)
{
    http_req_t r;
    CHECK_EQ_INT(parse(S("GET /connz?subs=1&limit=2 HTTP/1.1\r\n\r\n"), &r), 38);
    CHECK_SL(r.path, "/connz");
    CHECK_SL(r.query, "subs=1&limit=2");
    /* an empty query is present but empty; only the first '?' splits */
    CHECK(parse(S("GET /varz? HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_SL(r.path, "/varz");
    CHECK(r.query.p != NULL);
    CHECK_EQ_INT(r.query.n, 0);
    CHECK(parse(S("GET /a?b?c HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_SL(r.path, "/a");
    CHECK_SL(r.query, "b?c");
}

TEST(incomplete_head)
{
    static const char in[] = "GET /varz HTTP/1.1\r\nHost: x\r\n\r\n";
    http_req_t r;
    /* every proper prefix needs more bytes */
    for (size_t n = 0; n < sizeof in - 1; n++)
        CHECK_EQ_INT(parse(in, n, &r), 0);
    CHECK_EQ_INT(parse(S("GET / HTTP/1.1\r\n"), &r), 0);
    CHECK_EQ_INT(parse(S("GET / HTTP/1.1\r\nHost: x\r\n\r"), &r), 0);
}

TEST(bare_lf_lines)
{
    http_req_t r;
    CHECK_EQ_INT(parse(S("GET / HTTP/1.1\n\n"), &r), 16);
    CHECK_SL(r.path, "/");
    CHECK_SL(r.version, "HTTP/1.1");
    CHECK_EQ_INT(parse(S("GET / HTTP/1.1\nConnection: close\n\n"), &r), 34);
    CHECK(!r.keep_alive);
    /* mixed: CRLF request line, LF end of head */
    CHECK_EQ_INT(parse(S("GET / HTTP/1.1\r\n\n"), &r), 17);
}

TEST(pipelined)
{
    static const char in[] = "GET /varz HTTP/1.1\r\n\r\n"
                             "HEAD /connz?limit=1 HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"
                             "POST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                             "GET /subsz HTTP/1.0\r\n\r\n"
                             "GET /rout";
    static const char *const methods[] = {"GET", "HEAD", "POST", "GET"};
    static const char *const paths[] = {"/varz", "/connz", "/healthz", "/subsz"};
    static const bool keep[] = {true, true, true, false};
    size_t off = 0, len = sizeof in - 1;
    for (int k = 0; k < 4; k++) {
        http_req_t r;
        long n = parse(in + off, len - off, &r);
        CHECK(n > 0);
        if (n <= 0) return;
        CHECK_SL(r.method, methods[k]);
        CHECK_SL(r.path, paths[k]);
        CHECK_EQ_INT(r.keep_alive, keep[k]);
        CHECK_EQ_INT(r.content_length, k == 2 ? 3 : 0);
        off += (size_t)n + r.content_length; /* the body is skipped by the caller */
    }
    http_req_t r;
    CHECK_EQ_INT(parse(in + off, len - off, &r), 0); /* the last one is cut short */
}

TEST(head_limit)
{
    /* a head that does not end within max_head bytes is -2 (431), whether the
     * bytes seen so far reach the limit or go past it */
    size_t n = 300;
    char *in = malloc(n);
    memcpy(in, "GET / HTTP/1.1\r\nX: ", 19);
    memset(in + 19, 'a', n - 19);
    http_req_t r;
    CHECK_EQ_INT(http_parse(in, 99, 100, &r), 0);
    CHECK_EQ_INT(http_parse(in, 100, 100, &r), -2);
    CHECK_EQ_INT(http_parse(in, n, 100, &r), -2);
    /* a complete head within the limit is accepted */
    static const char ok[] = "GET / HTTP/1.1\r\nX: aaaaaaaaaa\r\n\r\n";
    CHECK_EQ_INT(http_parse(S(ok), sizeof ok - 1, &r), sizeof ok - 1);
    CHECK_EQ_INT(http_parse(S(ok), sizeof ok - 2, &r), -2);
    /* only its end must lie within the limit: bytes after it do not count */
    memcpy(in, ok, sizeof ok - 1);
    CHECK_EQ_INT(http_parse(in, n, sizeof ok - 1, &r), sizeof ok - 1);
    free(in);
}

TEST(bad_request_lines)
{
    static const char *const bad[] = {
        "\r\n\r\n",                        /* empty request line */
        "GET\r\n\r\n",                     /* no target */
        "GET /\r\n\r\n",                   /* no version */
        " / HTTP/1.1\r\n\r\n",             /* empty method */
        "GET  / HTTP/1.1\r\n\r\n",         /* empty target */
        "get / HTTP/1.1\r\n\r\n",          /* methods are upper case */
        "G3T / HTTP/1.1\r\n\r\n",          /* ... letters only */
        "GET / HTTP/2.0\r\n\r\n",          /* not HTTP/1.x */
        "GET / HTTP/1.\r\n\r\n",           /* version too short */
        "GET / http/1.1\r\n\r\n",          /* version is case-sensitive */
        "GET / FOO/1.1\r\n\r\n",           /* not HTTP at all */
        "GET varz HTTP/1.1\r\n\r\n",       /* relative target */
        "GET ?a=1 HTTP/1.1\r\n\r\n",       /* query without a path */
        "GET 1http://h/ HTTP/1.1\r\n\r\n", /* a scheme starts with a letter */
        "GET http:/h/ HTTP/1.1\r\n\r\n",   /* no "://" after the scheme */
        "GET /a\x01 HTTP/1.1\r\n\r\n",     /* control byte in the target */
        "GET /a\x7f HTTP/1.1\r\n\r\n",     /* DEL in the target */
        "GET /a\tb HTTP/1.1\r\n\r\n",      /* tab in the target */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_req_t r;
        long n = parse(bad[i], strlen(bad[i]), &r);
        if (n != -1) fprintf(stderr, "  case %zu: \"%s\" -> %ld\n", i, bad[i], n);
        CHECK_EQ_INT(n, -1);
    }
}

TEST(target_forms)
{
    http_req_t r;
    /* absolute form: the path follows the authority, the query is kept */
    CHECK(parse(S("GET http://example.com:8222/varz?x=1 HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_SL(r.path, "/varz");
    CHECK_SL(r.query, "x=1");
    CHECK(parse(S("GET svn+ssh.x-y://host/a HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_SL(r.path, "/a");
    /* authority only: an empty path (Go then redirects to "/") */
    CHECK(parse(S("GET http://example.com HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_EQ_INT(r.path.n, 0);
    CHECK(parse(S("GET http://example.com?q HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_EQ_INT(r.path.n, 0);
    CHECK_SL(r.query, "q");
    /* asterisk form (OPTIONS *) */
    CHECK(parse(S("OPTIONS * HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_SL(r.method, "OPTIONS");
    CHECK_SL(r.path, "*");
    /* any upper-case method parses (the router decides what to do with it) */
    CHECK(parse(S("BREW /pot HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_SL(r.method, "BREW");
    /* bytes >= 0x80 and escapes stay raw in the path */
    CHECK(parse(S("GET /a%20b/\xc3\xa9 HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK_SL(r.path, "/a%20b/\xc3\xa9");
}

TEST(keep_alive_rules)
{
    http_req_t r;
    CHECK(parse(S("GET / HTTP/1.1\r\n\r\n"), &r) > 0);
    CHECK(r.keep_alive);
    CHECK(parse(S("GET / HTTP/1.0\r\n\r\n"), &r) > 0);
    CHECK(!r.keep_alive);
    CHECK(parse(S("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), &r) > 0);
    CHECK(r.keep_alive);
    CHECK(parse(S("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), &r) > 0);
    CHECK(!r.keep_alive);
    /* header names and these values are case-insensitive; spaces and tabs
     * after the colon are skipped */
    CHECK(parse(S("GET / HTTP/1.1\r\nCONNECTION:\t CLOSE\r\n\r\n"), &r) > 0);
    CHECK(!r.keep_alive);
    /* other values, and lookalike names, change nothing */
    CHECK(parse(S("GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n"), &r) > 0);
    CHECK(r.keep_alive);
    CHECK(parse(S("GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n"), &r) > 0);
    CHECK(r.keep_alive);
    /* a header line without a colon is skipped */
    CHECK(parse(S("GET / HTTP/1.1\r\nno colon here\r\nConnection: close\r\n\r\n"), &r) > 0);
    CHECK(!r.keep_alive);
    /* HTTP/1.x with another minor version: only 1.1 keeps alive by default */
    CHECK(parse(S("GET / HTTP/1.2\r\n\r\n"), &r) > 0);
    CHECK(!r.keep_alive);
}

TEST(content_length)
{
    http_req_t r;
    CHECK(parse(S("POST / HTTP/1.1\r\nContent-Length: 42\r\n\r\n"), &r) > 0);
    CHECK_EQ_INT(r.content_length, 42);
    CHECK(parse(S("POST / HTTP/1.1\r\ncontent-length:7\r\n\r\n"), &r) > 0);
    CHECK_EQ_INT(r.content_length, 7);
    /* digits up to the first non-digit, at most 12 of them (no overflow) */
    CHECK(parse(S("POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n"), &r) > 0);
    CHECK_EQ_INT(r.content_length, 12);
    CHECK(parse(S("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), &r) > 0);
    CHECK_EQ_INT(r.content_length, 999999999999LL);
    CHECK(parse(S("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"), &r) > 0);
    CHECK_EQ_INT(r.content_length, 0);
}

/* ---- query parameters -------------------------------------------------------- */

static bool qget(const char *q, const char *name, slice_t *v)
{
    return http_query_get((slice_t){q, strlen(q)}, name, v);
}

TEST(query_get)
{
    slice_t v;
    CHECK(qget("subs=1&limit=2", "limit", &v));
    CHECK_SL(v, "2");
    CHECK(qget("subs=1&limit=2", "subs", &v));
    CHECK_SL(v, "1");
    /* the first occurrence wins, as Go's Query().Get */
    CHECK(qget("a=1&b=2&a=3", "a", &v));
    CHECK_SL(v, "1");
    /* a key without '=' is present with an empty value */
    CHECK(qget("x=1&flag", "flag", &v));
    CHECK_EQ_INT(v.n, 0);
    CHECK(qget("a=", "a", &v));
    CHECK_EQ_INT(v.n, 0);
    /* whole keys only; values may hold '=' */
    CHECK(!qget("ab=1&b1=2", "b", &v));
    CHECK(!qget("xa=1", "a", &v));
    CHECK(qget("cb=f(x)=1", "cb", &v));
    CHECK_SL(v, "f(x)=1");
    /* empty pairs are skipped; keys are compared raw (not decoded) */
    CHECK(qget("&&a=1&", "a", &v));
    CHECK_SL(v, "1");
    CHECK(!qget("%61=1", "a", &v));
    /* no query at all: a NULL slice */
    CHECK(!http_query_get((slice_t){NULL, 0}, "a", &v));
    CHECK(!qget("", "a", &v));
}

static long unesc(const char *in, char *out, size_t outsz)
{
    return pct_decode((slice_t){in, strlen(in)}, out, outsz, PCT_PLUS | PCT_STRICT);
}

static long unesc_path(const char *in, char *out, size_t outsz)
{
    return pct_decode((slice_t){in, strlen(in)}, out, outsz, PCT_STRICT);
}

TEST(unescape_query)
{
    char out[64];
    CHECK_EQ_INT(unesc("a%20b+c", out, sizeof out), 5);
    CHECK_EQ_STR(out, "a b c");
    CHECK_EQ_INT(unesc("%2B%2b%7e", out, sizeof out), 3);
    CHECK_EQ_STR(out, "++~");
    CHECK_EQ_INT(unesc("", out, sizeof out), 0);
    CHECK_EQ_STR(out, "");
    /* a decoded NUL is kept in the length */
    CHECK_EQ_INT(unesc("a%00b", out, sizeof out), 3);
    CHECK(out[1] == 0 && out[2] == 'b');
    /* malformed escapes: Go drops the pair (the callers treat -1 so) */
    CHECK_EQ_INT(unesc("%", out, sizeof out), -1);
    CHECK_EQ_INT(unesc("a%2", out, sizeof out), -1);
    CHECK_EQ_INT(unesc("%zz", out, sizeof out), -1);
    CHECK_EQ_INT(unesc("%g0", out, sizeof out), -1);
    /* the output bound holds the NUL too */
    CHECK_EQ_INT(unesc("abcd", out, 5), 4);
    CHECK_EQ_INT(unesc("abcde", out, 5), -1);
    CHECK_EQ_INT(unesc("%41%42%43%44", out, 5), 4);
    CHECK_EQ_STR(out, "ABCD");
}

TEST(unescape_path)
{
    char out[64];
    /* '+' stays a plus in a path */
    CHECK_EQ_INT(unesc_path("/a+b%2Fc", out, sizeof out), 6);
    CHECK_EQ_STR(out, "/a+b/c");
    CHECK_EQ_INT(unesc_path("/%76arz", out, sizeof out), 5);
    CHECK_EQ_STR(out, "/varz");
    CHECK_EQ_INT(unesc_path("/%c3%A9", out, sizeof out), 3);
    CHECK_EQ_STR(out, "/\xc3\xa9");
    CHECK_EQ_INT(unesc_path("/%41", out, sizeof out), 2);
    CHECK_EQ_STR(out, "/A");
    /* malformed: a 400 for the request */
    CHECK_EQ_INT(unesc_path("/%", out, sizeof out), -1);
    CHECK_EQ_INT(unesc_path("/%4", out, sizeof out), -1);
    CHECK_EQ_INT(unesc_path("/%4g", out, sizeof out), -1);
    CHECK_EQ_INT(unesc_path("/%%41", out, sizeof out), -1);
    /* in.n + 1 bytes are always enough */
    static const char p[] = "/connz";
    CHECK_EQ_INT(unesc_path(p, out, sizeof p), 6);
    CHECK_EQ_INT(unesc_path(p, out, sizeof p - 1), -1);
}

int main(void)
{
    RUN(simple_get);
    RUN(query_split);
    RUN(incomplete_head);
    RUN(bare_lf_lines);
    RUN(pipelined);
    RUN(head_limit);
    RUN(bad_request_lines);
    RUN(target_forms);
    RUN(keep_alive_rules);
    RUN(content_length);
    RUN(query_get);
    RUN(unescape_query);
    RUN(unescape_path);
    return test_summary();
}
