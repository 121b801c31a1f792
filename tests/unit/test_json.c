/* test_json.c: the JSON writer (Go encoding/json bytes: escaping, floats, times,
 * compact and indented layout) and reader (validation, members, unquoting) of
 * base/json.c. Expected texts are what Go 1.19's encoding/json writes. */
#include "base/json.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static char *str_of(buf_t *b)
{
    buf_putc(b, 0);
    return b->p;
}

static const char *put_string(buf_t *b, const char *s, size_t n)
{
    b->len = 0;
    json_put_string(b, s, n);
    return str_of(b);
}

static const char *put_float(buf_t *b, double v)
{
    b->len = 0;
    json_put_float(b, v);
    return str_of(b);
}

TEST(string_escaping)
{
    buf_t b = {0};
    CHECK_EQ_STR(put_string(&b, "plain", 5), "\"plain\"");
    CHECK_EQ_STR(put_string(&b, "a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    CHECK_EQ_STR(put_string(&b, "\n\r\t\x01\x1f", 5), "\"\\n\\r\\t\\u0001\\u001f\"");
    /* HTML-safe like Go: <, >, & */
    CHECK_EQ_STR(put_string(&b, "<a>&", 4), "\"\\u003ca\\u003e\\u0026\"");
    /* valid UTF-8 kept, invalid bytes become U+FFFD, U+2028/9 escaped */
    CHECK_EQ_STR(put_string(&b, "\xc3\xa9", 2), "\"\xc3\xa9\"");
    CHECK_EQ_STR(put_string(&b, "\xff", 1), "\"\\ufffd\"");
    CHECK_EQ_STR(put_string(&b, "\xc3", 1), "\"\\ufffd\"");
    CHECK_EQ_STR(put_string(&b, "\xe0\x80\x80", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* overlong */
    CHECK_EQ_STR(put_string(&b, "\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
    CHECK_EQ_STR(put_string(&b, "\xe2\x80\xa8\xe2\x80\xa9", 6), "\"\\u2028\\u2029\"");
    CHECK_EQ_STR(put_string(&b, "\xf0\x9f\x98\x80", 4), "\"\xf0\x9f\x98\x80\"");
    CHECK_EQ_STR(put_string(&b, "", 0), "\"\"");
    buf_free(&b);
}

TEST(floats_like_go)
{
    buf_t b = {0};
    CHECK_EQ_STR(put_float(&b, 0), "0");
    CHECK_EQ_STR(put_float(&b, 1), "1");
    CHECK_EQ_STR(put_float(&b, -2.5), "-2.5");
    CHECK_EQ_STR(put_float(&b, 0.1), "0.1");
    CHECK_EQ_STR(put_float(&b, 0.000001), "0.000001");
    CHECK_EQ_STR(put_float(&b, 0.0000001), "1e-07");
    CHECK_EQ_STR(put_float(&b, 1e20), "100000000000000000000");
    CHECK_EQ_STR(put_float(&b, 1e21), "1e+21");
    CHECK_EQ_STR(put_float(&b, 123456.789), "123456.789");
    CHECK_EQ_STR(put_float(&b, NAN), "0");
    CHECK_EQ_STR(put_float(&b, INFINITY), "0");
    buf_free(&b);
}

TEST(writer_compact)
{
    buf_t b = {0};
    jw_t w;
    jw_init(&w, &b, false);
    jw_obj_begin(&w, NULL);
    jw_str(&w, "s", "v");
    jw_str(&w, "null_s", NULL);
    jw_strn(&w, "n", "abc", 2);
    jw_int(&w, "i", -5);
    jw_uint(&w, "u", 18446744073709551615ull);
    jw_bool(&w, "t", true);
    jw_bool(&w, "f", false);
    jw_float(&w, "x", 0.5);
    jw_null(&w, "z");
    jw_arr_begin(&w, "a");
    jw_int(&w, NULL, 1);
    jw_str(&w, NULL, "two");
    jw_obj_begin(&w, NULL);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_arr_begin(&w, "empty");
    jw_arr_end(&w);
    jw_obj_end(&w);
    CHECK_EQ_STR(str_of(&b), "{\"s\":\"v\",\"null_s\":\"\",\"n\":\"ab\",\"i\":-5,"
                             "\"u\":18446744073709551615,\"t\":true,\"f\":false,\"x\":0.5,"
                             "\"z\":null,\"a\":[1,\"two\",{}],\"empty\":[]}");
    buf_free(&b);
}

/* json.MarshalIndent(v, "", "  "): empty containers stay on one line. */
TEST(writer_pretty)
{
    buf_t b = {0};
    jw_t w;
    jw_init(&w, &b, true);
    jw_obj_begin(&w, NULL);
    jw_int(&w, "a", 1);
    jw_arr_begin(&w, "l");
    jw_str(&w, NULL, "x");
    jw_arr_end(&w);
    jw_obj_begin(&w, "e");
    jw_obj_end(&w);
    jw_obj_end(&w);
    CHECK_EQ_STR(str_of(&b), "{\n  \"a\": 1,\n  \"l\": [\n    \"x\"\n  ],\n  \"e\": {}\n}");
    buf_free(&b);
}

/* Deeper than JW_MAX_DEPTH: the writer stays in bounds and still balances. */
TEST(writer_depth_bound)
{
    buf_t b = {0};
    jw_t w;
    jw_init(&w, &b, false);
    for (int i = 0; i < JW_MAX_DEPTH + 8; i++)
        jw_arr_begin(&w, NULL);
    for (int i = 0; i < JW_MAX_DEPTH + 8; i++)
        jw_arr_end(&w);
    CHECK_EQ_INT(b.len, 2 * (JW_MAX_DEPTH + 8));
    buf_free(&b);
}

TEST(time_rfc3339)
{
    static const struct {
        int64_t ns;
        const char *s;
    } cases[] = {
        {0, "\"1970-01-01T00:00:00Z\""},
        {1500000000, "\"1970-01-01T00:00:01.5Z\""},
        {1764633600123456789LL, "\"2025-12-02T00:00:00.123456789Z\""},
        {1764633600000001000LL, "\"2025-12-02T00:00:00.000001Z\""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        buf_t b = {0};
        jw_t w;
        jw_init(&w, &b, false);
        jw_time(&w, NULL, cases[i].ns);
        CHECK_EQ_STR(str_of(&b), cases[i].s);
        buf_free(&b);
    }
}

typedef struct seen {
    int n;
    char keys[8][32];
    json_type_t types[8];
    char raws[8][64];
    int stop_at;
} seen_t;

static int member(void *ctx, slice_t key_raw, json_type_t t, slice_t raw)
{
    seen_t *s = ctx;
    if (s->n < 8) {
        snprintf(s->keys[s->n], 32, "%.*s", (int)key_raw.n, key_raw.p);
        s->types[s->n] = t;
        snprintf(s->raws[s->n], 64, "%.*s", (int)raw.n, raw.p);
    }
    s->n++;
    return s->stop_at && s->n == s->stop_at ? 7 : 0;
}

static int parse(const char *s, seen_t *seen)
{
    memset(seen, 0, sizeof *seen);
    return json_parse_object(s, strlen(s), member, seen);
}

TEST(reader_members)
{
    seen_t s;
    CHECK_EQ_INT(parse(" {\"a\":1, \"b\" : \"x\\\"y\", \"c\":[1,{\"d\":null}],"
                       "\"e\":true,\"f\":false,\"g\":null,\"h\":-1.5e3} ",
                       &s),
                 0);
    CHECK_EQ_INT(s.n, 7);
    CHECK_EQ_STR(s.keys[0], "\"a\"");
    CHECK_EQ_INT(s.types[0], JSON_NUMBER);
    CHECK_EQ_INT(s.types[1], JSON_STRING);
    CHECK_EQ_STR(s.raws[1], "\"x\\\"y\"");
    CHECK_EQ_INT(s.types[2], JSON_ARRAY);
    CHECK_EQ_STR(s.raws[2], "[1,{\"d\":null}]");
    CHECK_EQ_INT(s.types[3], JSON_BOOL);
    CHECK_EQ_INT(s.types[4], JSON_BOOL);
    CHECK_EQ_INT(s.types[5], JSON_NULL);
    CHECK_EQ_STR(s.raws[6], "-1.5e3");
    CHECK_EQ_INT(parse("{}", &s), 0);
    CHECK_EQ_INT(s.n, 0);
    /* the callback's non-zero value stops the parse and is returned */
    memset(&s, 0, sizeof s);
    s.stop_at = 1;
    CHECK_EQ_INT(json_parse_object("{\"a\":1,\"b\":2}", 13, member, &s), 7);
}

TEST(reader_rejects)
{
    static const char *bad[] = {
        "",
        "[]",
        "1",
        "\"s\"",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1,}",
        "{\"a\":1} x",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":tru}",
        "{\"a\":\"\x01\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":[1,]}",
        "{\"a\":\"unterminated}",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        seen_t s;
        if (parse(bad[i], &s) == 0) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            test_failed_now = 1;
        }
    }
    /* nesting is bounded */
    char deep[300];
    size_t k = 0;
    deep[k++] = '{';
    memcpy(deep + k, "\"a\":", 4), k += 4;
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = 0;
    seen_t s;
    CHECK(parse(deep, &s) != 0);
}

static long unq(const char *raw, char *out, size_t outsz)
{
    return json_unquote((slice_t){raw, strlen(raw)}, out, outsz);
}

TEST(unquote)
{
    char out[32];
    CHECK_EQ_INT(unq("\"abc\"", out, sizeof out), 3);
    CHECK_EQ_STR(out, "abc");
    CHECK_EQ_INT(unq("\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\"", out, sizeof out), 9);
    CHECK_EQ_STR(out, "a\"\\/\b\f\n\r\t");
    CHECK_EQ_INT(unq("\"\\u00e9\"", out, sizeof out), 2);
    CHECK_EQ_STR(out, "\xc3\xa9");
    CHECK_EQ_INT(unq("\"\\ud83d\\ude00\"", out, sizeof out), 4); /* surrogate pair */
    CHECK_EQ_STR(out, "\xf0\x9f\x98\x80");
    CHECK(unq("\"abc\"", out, 3) < 0); /* does not fit */
    CHECK(unq("abc", out, sizeof out) < 0);
    /* tokens come from the reader, which rejects unknown escapes; unquote keeps the char */
    CHECK_EQ_INT(unq("\"\\q\"", out, sizeof out), 1);
    CHECK_EQ_STR(out, "q");
    /* a lone surrogate becomes U+FFFD */
    CHECK_EQ_INT(unq("\"\\ud800\"", out, sizeof out), 3);
    CHECK_EQ_STR(out, "\xef\xbf\xbd");
    CHECK(json_key_is((slice_t){"\"verbose\"", 9}, "verbose"));
    CHECK(!json_key_is((slice_t){"\"verbose\"", 9}, "Verbose"));
    CHECK(!json_key_is((slice_t){"\"verb\"", 6}, "verbose"));
}

int main(void)
{
    RUN(string_escaping);
    RUN(floats_like_go);
    RUN(writer_compact);
    RUN(writer_pretty);
    RUN(writer_depth_bound);
    RUN(time_rfc3339);
    RUN(reader_members);
    RUN(reader_rejects);
    RUN(unquote);
    return test_summary();
}
