/* test_jwtstore.c: base/jwtstore.h, the full resolver's directory of JWTs, with tokens
 * of the official jwt/v2 library (tests/unit/fixtures/jwt.txt: "account" and the later
 * "account_newer" of the same account, "account_other_operator"). */
#include "base/jwtcache.h"
#include "base/jwtstore.h"
#include "base/nkeys.h"
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
    CHECK_EQ_INT(jwtstore_save(dir, pub, old, 0, true, err, sizeof err), 1);
    char *got = jwtstore_load(dir, pub);
    CHECK_EQ_STR(got, old);
    free(got);
    CHECK_EQ_INT(jwtstore_save(dir, pub, old, 0, true, err, sizeof err), 0); /* same jti */
    CHECK_EQ_INT(jwtstore_save(dir, pub, newer, 0, true, err, sizeof err), 1);
    CHECK_EQ_INT(jwtstore_save(dir, pub, old, 0, true, err, sizeof err), 0); /* older iat */
    got = jwtstore_load(dir, pub);
    CHECK_EQ_STR(got, newer);
    free(got);
    /* a token of another account under this key, a name that is no key, no token */
    CHECK_EQ_INT(jwtstore_save(dir, fixture_jwt("signing_pub"), newer, 0, true, err, sizeof err),
                 -1);
    CHECK_EQ_INT(jwtstore_save(dir, "../../etc/passwd", newer, 0, true, err, sizeof err), -1);
    CHECK(jwtstore_load(dir, "../x") == NULL);
    CHECK_EQ_INT(jwtstore_save(dir, pub, "not.a.jwt", 0, true, err, sizeof err), -1);
    /* not newer_only (the cache resolver's updates): an older token replaces it too */
    CHECK_EQ_INT(jwtstore_save(dir, pub, old, 0, false, err, sizeof err), 1);
    CHECK_EQ_INT(jwtstore_save(dir, pub, old, 0, false, err, sizeof err), 0); /* the same */
    got = jwtstore_load(dir, pub);
    CHECK_EQ_STR(got, old);
    free(got);
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
    CHECK_EQ_INT(jwtstore_save(dir, a, fixture_jwt("claims_exporter"), 2, true, err, sizeof err),
                 1);
    CHECK_EQ_INT(jwtstore_save(dir, b, fixture_jwt("claims_importer"), 2, true, err, sizeof err),
                 1);
    CHECK_EQ_INT((int)jwtstore_count(dir), 2);
    /* at the limit: a new account is refused, a stored one may still change */
    const char *c = fixture_jwt("account_pub");
    CHECK_EQ_INT(jwtstore_save(dir, c, fixture_jwt("account"), 2, true, err, sizeof err), -1);
    CHECK_EQ_STR(err, "store is full");
    jwtstore_list(dir, collect, seen);
    char want[512];
    snprintf(want, sizeof want, "%s %s ", strcmp(a, b) < 0 ? a : b, strcmp(a, b) < 0 ? b : a);
    CHECK_EQ_STR(seen, want); /* sorted */
    CHECK_EQ_INT(jwtstore_delete(dir, a, err, sizeof err), 0);
    CHECK_EQ_INT(jwtstore_delete(dir, a, err, sizeof err), -1);
    CHECK_EQ_INT((int)jwtstore_count(dir), 1);
    CHECK_EQ_INT(jwtstore_save(dir, c, fixture_jwt("account"), 2, true, err, sizeof err), 1);
}

/* base/jwtcache.h: the cache resolver's LRU bound and expiry over the same directory. */
static void save_tracked(jwtcache_t *jc, const char *pub, const char *tok, char *evicted)
{
    char err[256];
    jwtcache_make_room(jc, pub, evicted, NKEY_PUBLIC_LEN + 1);
    CHECK_EQ_INT(jwtstore_save(dir, pub, tok, 0, true, err, sizeof err), 1);
    jwtcache_stored(jc, pub, tok);
}

TEST(cache_evicts_the_least_recently_used)
{
    fresh_dir();
    char ev[NKEY_PUBLIC_LEN + 1];
    const char *a = fixture_jwt("claims_exporter_pub"), *b = fixture_jwt("claims_importer_pub"),
               *c = fixture_jwt("account_pub");
    jwtcache_t *jc = jwtcache_new(dir, 2, 0);
    save_tracked(jc, a, fixture_jwt("claims_exporter"), ev);
    save_tracked(jc, b, fixture_jwt("claims_importer"), ev);
    CHECK_EQ_STR(ev, "");
    jwtcache_used(jc, a); /* b is now the least recently used */
    save_tracked(jc, c, fixture_jwt("account"), ev);
    CHECK_EQ_STR(ev, b);
    CHECK(jwtstore_load(dir, b) == NULL);
    CHECK_EQ_INT((int)jwtstore_count(dir), 2);
    /* without a ttl these tokens (no exp) never expire */
    CHECK_EQ_INT(jwtcache_expire(jc, INT64_MAX - 1), 0);
    jwtcache_free(jc);
    /* a new cache over the same directory tracks its files; with a ttl they expire */
    jc = jwtcache_new(dir, 2, 1000000000LL);
    CHECK_EQ_INT(jwtcache_expire(jc, 0), 0);
    CHECK_EQ_INT(jwtcache_expire(jc, INT64_MAX - 1), 2);
    CHECK_EQ_INT((int)jwtstore_count(dir), 0);
    jwtcache_free(jc);
    CHECK(jwtcache_check_interval_ns(2000000000LL) == 1000000000LL);
    CHECK(jwtcache_check_interval_ns(0) == 60000000000LL);
    CHECK(jwtcache_check_interval_ns(3600000000000LL) == 60000000000LL);
}

int main(void)
{
    RUN(save_keeps_the_newer);
    RUN(list_limit_delete);
    RUN(cache_evicts_the_least_recently_used);
    fresh_dir();
    return test_summary();
}
