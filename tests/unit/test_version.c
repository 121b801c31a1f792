/* test_version.c: the build stamps what tools/version.sh says (the git commit and
 * gnatsd-c's version) into base/version.c's strings, not its defaults; the
 * identity line names both. Runs from the tree's root, as tests/run.sh does. */
#include <stdio.h>
#include <string.h>

#include "base/version.h"
#include "test.h"

static char want_version[256], want_git[64];

static void read_line(FILE *f, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (!fgets(dst, (int)cap, f)) return;
    dst[strcspn(dst, "\n")] = '\0';
}

TEST(version_is_the_trees)
{
    CHECK(strcmp(gnatsd_c_version, "unknown") != 0);
    CHECK_EQ_STR(gnatsd_c_version, want_version);
}

TEST(git_commit_is_the_trees)
{
    CHECK_EQ_STR(gnatsd_c_git, want_git);
}

TEST(ident_names_both)
{
    char want[400];
    if (want_git[0])
        snprintf(want, sizeof want, "gnatsd-c %s (git %s)", want_version, want_git);
    else
        snprintf(want, sizeof want, "gnatsd-c %s", want_version);
    CHECK_EQ_STR(gnatsd_c_ident(), want);
    CHECK_EQ_STR(gnatsd_c_git_or_not_set(), want_git[0] ? want_git : "not set");
}

int main(void)
{
    FILE *f = popen("tools/version.sh", "r");
    if (!f) {
        perror("tools/version.sh");
        return 1;
    }
    read_line(f, want_version, sizeof want_version);
    read_line(f, want_git, sizeof want_git);
    if (pclose(f) != 0) fprintf(stderr, "tools/version.sh failed\n");
    RUN(version_is_the_trees);
    RUN(git_commit_is_the_trees);
    RUN(ident_names_both);
    return test_summary();
}
