/* test_subject_map.c: base/subject_map.h, the reference's mapping functions (results
 * compared with nats-server 2.9.10 on loopback; partition is Go's FNV-1a). */
#include "base/subject_map.h"
#include "test.h"

static const char *apply(const char *src, const char *dest, const char *s)
{
    static char out[256], err[256];
    smap_t *m = smap_compile(src, dest, err, sizeof err);
    if (!m) return err;
    size_t n = smap_apply(m, s, strlen(s), out, sizeof out);
    smap_free(m);
    return n ? out : "(none)";
}

TEST(functions)
{
    CHECK_EQ_STR(apply("foo.*.*", "bar.$2.{{wildcard(1)}}", "foo.a.b"), "bar.b.a");
    CHECK_EQ_STR(apply("foo.*.*", "foo.$1.$2.{{partition(10,1,2)}}", "foo.1.99"), "foo.1.99.0");
    CHECK_EQ_STR(apply("foo.*.*", "foo.$1.$2.{{partition(10,1,2)}}", "foo.5.5"), "foo.5.5.5");
    CHECK_EQ_STR(apply("in.*", "out.{{splitfromleft(1,2)}}", "in.abcd"), "out.ab.cd");
    CHECK_EQ_STR(apply("in.*", "out.{{splitfromright(1,1)}}", "in.abcd"), "out.abc.d");
    CHECK_EQ_STR(apply("a.*", "b.{{slicefromright(1,2)}}", "a.ab-cde"), "b.ab.-c.de");
    CHECK_EQ_STR(apply("a.*", "b.{{slicefromleft(1,4)}}", "a.abcdef"), "b.abcd.ef");
    CHECK_EQ_STR(apply("s.*", "t.{{split(1,-)}}", "s.a-b--c"), "t.a.b.c");
    CHECK_EQ_STR(apply("s.*", "t.{{split(1,\"-\")}}", "s.a-b--c"), "t.a-b--c"); /* quotes literal */
    CHECK_EQ_STR(apply("x.>", "y.>", "x.a.b"), "y.a.b");
    CHECK_EQ_STR(apply("plain", "mapped", "plain"), "mapped");
    CHECK_EQ_STR(apply("in.*", "out.{{SplitFromLeft(1, 2)}}", "in.abcd"), "out.ab.cd");
}

TEST(errors)
{
    char err[256];
    CHECK(!smap_compile("foo.*", "bar", err, sizeof err));
    CHECK_EQ_STR(err, "invalid mapping destination: not using all of the token wildcard(s) in bar");
    CHECK(!smap_compile("foo.*", "bar.$2", err, sizeof err));
    CHECK(!smap_compile("foo.*", "bar.*", err, sizeof err));
    CHECK(!smap_compile("foo.>", "bar", err, sizeof err));
    CHECK(!smap_compile("foo..x", "bar", err, sizeof err));
    CHECK(!smap_compile("foo.*", "bar.{{partition(0,1)}}", err, sizeof err));
    CHECK(!smap_compile("foo.*", "bar.{{nosuch(1)}}", err, sizeof err));
    smap_t *m = smap_compile("foo.*", "bar.$1", err, sizeof err);
    CHECK(m && smap_positional(m));
    char out[4];
    CHECK_EQ_INT(smap_apply(m, "foo.abcdef", 10, out, sizeof out), 0); /* does not fit */
    smap_free(m);
}

int main(void)
{
    RUN(functions);
    RUN(errors);
    return test_summary();
}
