/* test_bcrypt.c: bcrypt detection, verification against known vectors (one
 * produced by the reference Go mkpasswd, the classic crypt_blowfish ones),
 * hashing round trips, cost handling, secret_equal. */
#include "test.h"
#include "base/bcrypt.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* From the reference tool's documented output (docs/config.md §9.7). */
static const char *go_pass = "D#6)e0ht^@61kU5!^!owrX";
static const char *go_hash = "$2a$11$bXz1Mi5xM.rRUnYRT0Vb2el6sSzVrqA0DJKdt.5Itj1C1K4HT9FDG";

static bool check(const char *h, const char *p)
{
    return bcrypt_check(h, p, strlen(p));
}

TEST(is_hash)
{
    CHECK(bcrypt_is_hash(go_hash));
    CHECK(bcrypt_is_hash("$2b$10$x"));
    CHECK(bcrypt_is_hash("$2x$04$"));
    CHECK(bcrypt_is_hash("$2y$31$abc"));
    CHECK(!bcrypt_is_hash("$2c$10$abc"));
    CHECK(!bcrypt_is_hash("$2a$1$abc"));
    CHECK(!bcrypt_is_hash("$2a$100$abc"));
    CHECK(!bcrypt_is_hash("$2a$aa$abc"));
    CHECK(!bcrypt_is_hash("$2$10$abc"));
    CHECK(!bcrypt_is_hash("$1$abc$def"));
    CHECK(!bcrypt_is_hash("password"));
    CHECK(!bcrypt_is_hash(""));
    CHECK(!bcrypt_is_hash(NULL));
}

TEST(reference_vector)
{
    CHECK(check(go_hash, go_pass));
    CHECK(!check(go_hash, "D#6)e0ht^@61kU5!^!owrY"));
    CHECK(!check(go_hash, ""));
    /* Length is explicit: a longer buffer with the right prefix fails. */
    CHECK(!bcrypt_check(go_hash, "D#6)e0ht^@61kU5!^!owrXZ", 23));
    CHECK(bcrypt_check(go_hash, "D#6)e0ht^@61kU5!^!owrXZ", 22));
}

TEST(classic_vectors)
{
    CHECK(check("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"));
    CHECK(check("$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*"));
    CHECK(check("$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U"));
    CHECK(check("$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy", ""));
    /* Only the first 72 bytes count. */
    const char *h72 = "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui";
    CHECK(check(h72, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                     "chars after 72 are ignored"));
    CHECK(check(h72, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
    CHECK(!check(h72, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678"));
    CHECK(!check("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U*"));
}

TEST(variants)
{
    /* The same checksum under $2b$/$2y$/$2x$ verifies (ASCII password). */
    CHECK(check("$2b$11$bXz1Mi5xM.rRUnYRT0Vb2el6sSzVrqA0DJKdt.5Itj1C1K4HT9FDG", go_pass));
    CHECK(check("$2y$11$bXz1Mi5xM.rRUnYRT0Vb2el6sSzVrqA0DJKdt.5Itj1C1K4HT9FDG", go_pass));
    CHECK(check("$2x$11$bXz1Mi5xM.rRUnYRT0Vb2el6sSzVrqA0DJKdt.5Itj1C1K4HT9FDG", go_pass));
    CHECK(check("$2b$06$abcdefghijklmnopqrstuuxLa0AkDDSrQ9VwNnETzOsObiucpMYgC", "secret"));
    CHECK(check("$2y$06$abcdefghijklmnopqrstuuxLa0AkDDSrQ9VwNnETzOsObiucpMYgC", "secret"));
    CHECK(!check("$2b$06$abcdefghijklmnopqrstuuxLa0AkDDSrQ9VwNnETzOsObiucpMYgC", "Secret"));
    /* $2x$ is checked like Go does (as $2a$), not with the 8-bit bug mode. */
    char h[BCRYPT_HASH_LEN + 1];
    CHECK_EQ_INT(bcrypt_hash("caf\xc3\xa9", 4, h, sizeof h), 0);
    h[2] = 'x';
    CHECK(check(h, "caf\xc3\xa9"));
}

TEST(malformed)
{
    CHECK(!check("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe", "U*U")); /* short */
    CHECK(!check("$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U")); /* cost */
    CHECK(!check("$2a$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"));
    CHECK(!check("$2a$05$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"));
    CHECK(!check("U*U", "U*U"));
    /* A NUL inside the key would let crypt(3) accept a prefix: refused. */
    CHECK(
        !bcrypt_check("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U\0x", 5));
}

TEST(hash_roundtrip)
{
    char h1[BCRYPT_HASH_LEN + 1], h2[BCRYPT_HASH_LEN + 1];
    CHECK_EQ_INT(bcrypt_hash("s3cr3t!", 4, h1, sizeof h1), 0);
    CHECK_EQ_INT(bcrypt_hash("s3cr3t!", 4, h2, sizeof h2), 0);
    CHECK_EQ_INT(strlen(h1), 60);
    CHECK(strncmp(h1, "$2a$04$", 7) == 0);
    CHECK(strcmp(h1, h2) != 0); /* fresh salt each time */
    CHECK(bcrypt_is_hash(h1));
    CHECK(check(h1, "s3cr3t!"));
    CHECK(check(h2, "s3cr3t!"));
    CHECK(!check(h1, "s3cr3t"));
    CHECK_EQ_INT(bcrypt_hash("", 5, h1, sizeof h1), 0);
    CHECK(strncmp(h1, "$2a$05$", 7) == 0 && check(h1, "") && !check(h1, "x"));
}

TEST(cost_handling)
{
    char h[BCRYPT_HASH_LEN + 1];
    CHECK_EQ_INT(bcrypt_hash("x", 3, h, sizeof h), 0); /* < 4 → Go's default 10 */
    CHECK(strncmp(h, "$2a$10$", 7) == 0);
    CHECK_EQ_INT(bcrypt_hash("x", -5, h, sizeof h), 0);
    CHECK(strncmp(h, "$2a$10$", 7) == 0);
    CHECK_EQ_INT(bcrypt_hash("x", 32, h, sizeof h), -1);
    CHECK_EQ_INT(errno, EINVAL);
    CHECK_EQ_INT(bcrypt_hash("x", 4, h, 60), -1); /* out too small */
    CHECK_EQ_INT(bcrypt_hash("x", 6, h, sizeof h), 0);
    CHECK(strncmp(h, "$2a$06$", 7) == 0 && check(h, "x"));
}

TEST(secret_equal)
{
    CHECK(secret_equal("abc", 3, "abc", 3));
    CHECK(!secret_equal("abc", 3, "abd", 3));
    CHECK(!secret_equal("abc", 3, "ab", 2));
    CHECK(!secret_equal("ab", 2, "abc", 3));
    CHECK(secret_equal("", 0, "", 0));
    CHECK(!secret_equal("", 0, "a", 1));
    CHECK(secret_equal("a\0b", 3, "a\0b", 3));
    CHECK(!secret_equal("a\0b", 3, "a\0c", 3));
}

static void *worker(void *arg)
{
    (void)arg;
    long ok = 1;
    for (int i = 0; i < 5; i++)
        ok &= check("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U") &&
              !check("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*X");
    return (void *)(intptr_t)ok;
}

TEST(threads)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        CHECK(r == (void *)1);
    }
}

int main(void)
{
    RUN(is_hash);
    RUN(reference_vector);
    RUN(classic_vectors);
    RUN(variants);
    RUN(malformed);
    RUN(hash_roundtrip);
    RUN(cost_handling);
    RUN(secret_equal);
    RUN(threads);
    return test_summary();
}
