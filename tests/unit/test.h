/* test.h: a tiny unit-test runner. Each test file defines TEST(name) functions
 * and a main() calling RUN(name) for each, then returns test_summary().
 * Output ends with "N passed, N failed" (the runner sums these lines). */
#ifndef GNATSD_TEST_H
#define GNATSD_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_now, test_npass, test_nfail;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, _a,    \
                    _b);                                                                           \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                                   \
            fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,    \
                    _a ? _a : "(null)", _b ? _b : "(null)");                                       \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        test_failed_now = 0;                                                                       \
        test_##name();                                                                             \
        if (test_failed_now) {                                                                     \
            test_nfail++;                                                                          \
            printf("FAIL %s\n", #name);                                                            \
        } else {                                                                                   \
            test_npass++;                                                                          \
            printf("ok   %s\n", #name);                                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

/* The value of a "name value" line of tests/unit/fixtures/jwt.txt (tokens and keys made
 * by the official nats-io libraries, fixtures/gen/run.sh), "" if absent. */
static inline const char *fixture_jwt(const char *name)
{
    enum { MAXN = 64, NAMEN = 48, TOKN = 4096 };
    static char names[MAXN][NAMEN], toks[MAXN][TOKN];
    static int n;
    if (!n) {
        FILE *f = fopen("tests/unit/fixtures/jwt.txt", "r");
        if (!f) return "";
        static char line[TOKN + NAMEN + 8];
        while (fgets(line, sizeof line, f) && n < MAXN)
            if (line[0] != '#' && sscanf(line, "%47s %4095s", names[n], toks[n]) == 2) n++;
        fclose(f);
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return toks[i];
    return "";
}

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", test_npass, test_nfail);
    return test_nfail ? 1 : 0;
}

#endif
