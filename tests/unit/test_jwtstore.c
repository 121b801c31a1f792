/* test_jwtstore.c: base/jwtstore.h, the full resolver's directory of JWTs, with tokens
 * of the official jwt/v2 library (tests/unit/fixtures/jwt.txt: "account" and the later
 * "account_newer" of the same account, "account_other_operator"). */
#include "base/jwtstore.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static char dir[256];

static void fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/gnatsd-jwtstore-%d/sub/dir", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/gnatsd-jwtstore-%d", (int)getpid());
    if (system(cmd) != 0) return;
}

TEST(save_keeps_the_newer)
{
    fresh_dir();
    char err[256];
    const char *pub = fixture_jwt("account_pub");
    const char *old = fixture_jwt("account"), *newer = fixture_jwt("account_newer");
    CHECK(jwtstore_load(dir, pub) == NULL);
    /* the directory and its parents are made on the first save */
    CHECK_EQ_INT(jwtstore_save(dir, pub, old, 0, err, sizeof err), 1);
    char *got = jwtstore_load(dir, pub);
    CHECK_EQ_STR(got, old);
    free(got);
    CHECK_EQ_INT(jwtstore_save(dir, pub, old, 0, err, sizeof err), 0); /* same jti */
    CHECK_EQ_INT(jwtstore_save(dir, pub, newer, 0, err, sizeof err), 1);
    CHECK_EQ_INT(jwtstore_save(dir, pub, old, 0, err, sizeof err), 0); /* older iat */
    got = jwtstore_load(dir, pub);
    CHECK_EQ_STR(got, newer);
    free(got);
    /* a token of another account under this key, a name that is no key, no token */
    CHECK_EQ_INT(jwtstore_save(dir, fixture_jwt("signing_pub"), newer, 0, err, sizeof err), -1);
    CHECK_EQ_INT(jwtstore_save(dir, "../../etc/passwd", newer, 0, err, sizeof err), -1);
    CHECK(jwtstore_load(dir, "../x") == NULL);
    CHECK_EQ_INT(jwtstore_save(dir, pub, "not.a.jwt", 0, err, sizeof err), -1);
}

static void collect(void *arg, const char *pub)
{
    char *out = arg;
    strcat(out, pub);
    strcat(out, " ");
}

TEST(list_limit_delete)
{
    fresh_dir();
    char err[256], seen[512] = "";
    const char *a = fixture_jwt("claims_exporter_pub"), *b = fixture_jwt("claims_importer_pub");
    CHECK_EQ_INT(jwtstore_save(dir, a, fixture_jwt("claims_exporter"), 2, err, sizeof err), 1);
    CHECK_EQ_INT(jwtstore_save(dir, b, fixture_jwt("claims_importer"), 2, err, sizeof err), 1);
    CHECK_EQ_INT((int)jwtstore_count(dir), 2);
    /* at the limit: a new account is refused, a stored one may still change */
    const char *c = fixture_jwt("account_pub");
    CHECK_EQ_INT(jwtstore_save(dir, c, fixture_jwt("account"), 2, err, sizeof err), -1);
    CHECK_EQ_STR(err, "store is full");
    jwtstore_list(dir, collect, seen);
    char want[512];
    snprintf(want, sizeof want, "%s %s ", strcmp(a, b) < 0 ? a : b, strcmp(a, b) < 0 ? b : a);
    CHECK_EQ_STR(seen, want); /* sorted */
    CHECK_EQ_INT(jwtstore_delete(dir, a, err, sizeof err), 0);
    CHECK_EQ_INT(jwtstore_delete(dir, a, err, sizeof err), -1);
    CHECK_EQ_INT((int)jwtstore_count(dir), 1);
    CHECK_EQ_INT(jwtstore_save(dir, c, fixture_jwt("account"), 2, err, sizeof err), 1);
}

int main(void)
{
    RUN(save_keeps_the_newer);
    RUN(list_limit_delete);
    fresh_dir();
    return test_summary();
}
