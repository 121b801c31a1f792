/* test_base.c: the shared helpers of src/base/ that have no test file of their
 * own: Go formatting (gofmt.h), percent-decoding (pct.h), owned strings
 * (common.h), the token bucket (ratelim.h). Expected texts are what Go 1.19 prints. */
#include "test.h"
#include "base/common.h"
#include "base/gofmt.h"
#include "base/pct.h"
#include "base/ratelim.h"

#include <stdint.h>
#include <stdlib.h>

TEST(quote_go_str)
{
    char out[64];
    CHECK_EQ_INT(quote_go_str(out, sizeof out, "a\"b\\c\n"), 11);
    CHECK_EQ_STR(out, "\"a\\\"b\\\\c\\n\"");
    CHECK_EQ_INT(quote_go_str(out, sizeof out, ""), 2);
    CHECK_EQ_STR(out, "\"\"");
    /* U+2028 is valid UTF-8 but not printable; a stray continuation byte is \x */
    quote_go_str(out, sizeof out, "\xe2\x80\xa8|\x80|\xc3\xa9");
    CHECK_EQ_STR(out, "\"\\u2028|\\x80|\xc3\xa9\"");
    /* too small for even the quotes: empty, still terminated */
    out[0] = 'x';
    CHECK_EQ_INT(quote_go_str(out, 2, "abc"), 0);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(quote_go_str(out, 0, "abc"), 0);
    /* cut at a character boundary, closing quote kept */
    CHECK_EQ_INT(quote_go_str(out, 6, "abcdef"), 5);
    CHECK_EQ_STR(out, "\"abc\"");
}

/* Every byte as \xNN is the worst case: 4 * n + 3 is enough. */
TEST(quote_go_worst_case)
{
    char in[32], out[4 * sizeof in + 3];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (char)0xff;
    CHECK_EQ_INT(quote_go(out, sizeof out, in, sizeof in), 4 * sizeof in + 2);
    CHECK(out[4 * sizeof in + 1] == '"');
}

TEST(go_duration)
{
    static const struct {
        int64_t ns;
        const char *s;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {-1, "-1ns"},
        {999, "999ns"},
        {1000, "1\xc2\xb5s"},
        {1500, "1.5\xc2\xb5s"},
        {338000, "338\xc2\xb5s"},
        {1000000, "1ms"},
        {8596858, "8.596858ms"},
        {500000000, "500ms"},
        {1000000000, "1s"},
        {1500000000, "1.5s"},
        {60LL * 1000000000, "1m0s"},
        {-90LL * 1000000000, "-1m30s"},
        {3600LL * 1000000000, "1h0m0s"},
        {3661LL * 1000000000 + 1, "1h1m1.000000001s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[GO_DURATION_MAX];
        size_t n = go_duration(out, sizeof out, cases[i].ns);
        CHECK_EQ_STR(out, cases[i].s);
        CHECK_EQ_INT(n, strlen(cases[i].s));
    }
    char small[4];
    CHECK_EQ_INT(go_duration(small, sizeof small, 3600LL * 1000000000), 3);
    CHECK_EQ_STR(small, "1h0");
}

TEST(go_uptime)
{
    static const struct {
        int64_t s;
        const char *txt;
    } cases[] = {
        {0, "0s"},
        {59, "59s"},
        {61, "1m1s"},
        {3600, "1h0m0s"},
        {3661, "1h1m1s"},
        {86400 + 3600, "1d1h0m0s"},
        {366LL * 86400 + 5, "1y1d0h0m5s"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[GO_UPTIME_MAX];
        size_t n = go_uptime(out, sizeof out, cases[i].s * 1000000000LL + 999999999);
        CHECK_EQ_STR(out, cases[i].txt);
        CHECK_EQ_INT(n, strlen(cases[i].txt));
    }
    char out[GO_UPTIME_MAX];
    CHECK(go_uptime(out, sizeof out, INT64_MAX) < sizeof out);
    CHECK(go_uptime(out, sizeof out, INT64_MIN) < sizeof out);
}

static long dec(const char *in, char *out, size_t outsz, unsigned flags)
{
    return pct_decode((slice_t){in, strlen(in)}, out, outsz, flags);
}

TEST(pct_decode_modes)
{
    char out[64];
    /* query value: '+' is a space, a bad escape fails */
    CHECK_EQ_INT(dec("a+b%20c%2Fd", out, sizeof out, PCT_PLUS | PCT_STRICT), 7);
    CHECK_EQ_STR(out, "a b c/d");
    CHECK_EQ_INT(dec("a%2", out, sizeof out, PCT_PLUS | PCT_STRICT), -1);
    CHECK_EQ_INT(dec("a%zz", out, sizeof out, PCT_STRICT), -1);
    CHECK_EQ_INT(dec("%", out, sizeof out, PCT_STRICT), -1);
    /* path: '+' stays */
    CHECK_EQ_INT(dec("/a+b%3f", out, sizeof out, PCT_STRICT), 5);
    CHECK_EQ_STR(out, "/a+b?");
    /* lenient (userinfo): a bad escape is kept as written */
    CHECK_EQ_INT(dec("T0PS3cr3T%21%zz%4", out, sizeof out, 0), 15);
    CHECK_EQ_STR(out, "T0PS3cr3T!%zz%4");
    CHECK_EQ_INT(dec("", out, sizeof out, 0), 0);
    CHECK_EQ_STR(out, "");
    /* %00 decodes to a NUL byte, counted in the length */
    CHECK_EQ_INT(dec("a%00b", out, sizeof out, PCT_STRICT), 3);
    CHECK(memcmp(out, "a\0b", 4) == 0);
}

TEST(pct_decode_bounds)
{
    char out[4];
    /* does not fit: -1, what fit is kept and terminated */
    CHECK_EQ_INT(dec("abcdef", out, sizeof out, 0), -1);
    CHECK_EQ_STR(out, "abc");
    CHECK_EQ_INT(dec("abc", out, sizeof out, 0), 3);
    CHECK_EQ_INT(dec("%41%42%43", out, sizeof out, PCT_STRICT), 3);
    CHECK_EQ_STR(out, "ABC");
    /* in place */
    char s[] = "us%65r%3Ax";
    CHECK_EQ_INT(pct_decode((slice_t){s, strlen(s)}, s, sizeof s, 0), 6);
    CHECK_EQ_STR(s, "user:x");
}

TEST(set_str)
{
    char *s = NULL;
    set_str(&s, "a");
    CHECK_EQ_STR(s, "a");
    set_str(&s, "");
    CHECK(s != NULL && *s == 0);
    set_str(&s, NULL);
    CHECK(s == NULL);
    set_str_nonempty(&s, "b");
    CHECK_EQ_STR(s, "b");
    set_str_nonempty(&s, "");
    CHECK(s == NULL);
    set_str_nonempty(&s, NULL);
    CHECK(s == NULL);
}

/* connection_rate_limit's bucket: a burst of the limit, then one per 1/limit s, across
 * a second's edge too (a per-second count let 3 more through 150 ms later). */
TEST(ratelim_bucket)
{
    ratelim_t r = RATELIM_INIT;
    const int64_t s = 1000000000LL, t0 = 41 * s + 900000000LL; /* 100 ms before an edge */
    for (int i = 0; i < 3; i++)
        CHECK(ratelim_take(&r, 3, t0));
    CHECK(!ratelim_take(&r, 3, t0));
    CHECK(!ratelim_take(&r, 3, t0 + 150000000LL)); /* past the edge: 0.45 of a token */
    CHECK(ratelim_take(&r, 3, t0 + 340000000LL));  /* 1.02 */
    CHECK(!ratelim_take(&r, 3, t0 + 340000000LL));
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += ratelim_take(&r, 3, t0 + 10 * s); /* refilled, never past the burst */
    CHECK_EQ_INT(ok, 3);
    CHECK(ratelim_take(&r, 0, t0)); /* no limit */
}

int main(void)
{
    RUN(quote_go_str);
    RUN(quote_go_worst_case);
    RUN(go_duration);
    RUN(go_uptime);
    RUN(pct_decode_modes);
    RUN(pct_decode_bounds);
    RUN(set_str);
    RUN(ratelim_bucket);
    return test_summary();
}
