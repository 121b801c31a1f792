/* test_subject_rel.c: base/subject.h's relations (subset, collide) and the
 * positional transform accounts use for imports (docs/accounts.md). */
#include "base/subject.h"
#include "test.h"

#define SUB(a, b) subject_is_subset(a, strlen(a), b, strlen(b))
#define COL(a, b) subjects_collide(a, strlen(a), b, strlen(b))

TEST(subset)
{
    CHECK(SUB("foo", "foo"));
    CHECK(SUB("foo.bar", "foo.*"));
    CHECK(SUB("foo.bar.baz", "foo.>"));
    CHECK(SUB("foo.*", "foo.>"));
    CHECK(SUB("foo.*", "foo.*"));
    CHECK(SUB("foo.>", "foo.>"));
    CHECK(SUB("foo.bar", ">"));
    CHECK(!SUB("foo.*", "foo.bar"));
    CHECK(!SUB("foo.>", "foo.*"));
    CHECK(!SUB("foo", "foo.>")); /* ">" needs one token at least */
    CHECK(!SUB("foo.bar", "foo"));
    CHECK(!SUB("foo", "foo.bar"));
    CHECK(!SUB("foo.bar", "foo.baz"));
}

TEST(collide)
{
    CHECK(COL("foo.*", "foo.bar"));
    CHECK(COL("foo.*", "*.bar"));
    CHECK(COL("foo.>", "*.bar.baz"));
    CHECK(COL("help", "*"));
    CHECK(!COL("foo.*", "bar.*"));
    CHECK(!COL("foo.*", "foo.bar.baz"));
    CHECK(!COL("foo", "foo.>"));
}

TEST(transform)
{
    char out[64];
    CHECK(subject_transform_ok("ev.>", "b.ev.>"));
    CHECK(subject_transform_ok("t.*.x.*", "mine.*.*"));
    CHECK(!subject_transform_ok("t.*", "mine.>"));
    CHECK(!subject_transform_ok("t.*", "mine"));
    CHECK_EQ_INT(subject_transform("ev.>", "b.ev.>", "ev.one.two", 10, out, sizeof out), 12);
    CHECK_EQ_STR(out, "b.ev.one.two");
    CHECK(subject_transform("t.*.x.*", "mine.*.*", "t.a.x.b", 7, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "mine.a.b");
    /* and back: a pattern in the destination's space maps to the source's */
    CHECK(subject_transform("mine.*.*", "t.*.x.*", "mine.*.b", 8, out, sizeof out) > 0);
    CHECK_EQ_STR(out, "t.*.x.b");
    /* not under src, or too long for out: nothing */
    CHECK_EQ_INT(subject_transform("ev.>", "b.ev.>", "other.one", 9, out, sizeof out), 0);
    CHECK_EQ_INT(subject_transform("t.*", "mine.*", "t.a.b", 5, out, sizeof out), 0);
    CHECK_EQ_INT(subject_transform("ev.>", "b.ev.>", "ev.one", 6, out, 8), 0);
}

int main(void)
{
    RUN(subset);
    RUN(collide);
    RUN(transform);
    return test_summary();
}
