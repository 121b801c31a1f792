/* test_nkeys.c: base/nkeys.h against keys, seeds and signatures made by the official
 * nkeys library (tests/unit/fixtures/nkeys.txt, from fixtures/gen/run.sh), and every
 * way a key or signature can be wrong. */
#include "base/nkeys.h"
#include "test.h"

#include <stdlib.h>

typedef struct vec {
    char type[16], seed[80], pub[80], data[64], sig[128], sig_std[128];
} vec_t;

static vec_t vecs[32];
static int nvecs;

static void load(void)
{
    FILE *f = fopen("tests/unit/fixtures/nkeys.txt", "r");
    if (!f) {
        fprintf(stderr, "  no tests/unit/fixtures/nkeys.txt (run from the repository root)\n");
        test_failed_now = 1;
        return;
    }
    char line[512];
    while (fgets(line, sizeof line, f) && nvecs < 32) {
        if (line[0] == '#') continue;
        vec_t *v = &vecs[nvecs];
        if (sscanf(line, "%15s %79s %79s %63s %127s %127s", v->type, v->seed, v->pub, v->data,
                   v->sig, v->sig_std) == 6)
            nvecs++;
    }
    fclose(f);
}

static nkey_type_t type_of(const char *name)
{
    return !strcmp(name, "user")       ? NKEY_USER
           : !strcmp(name, "account")  ? NKEY_ACCOUNT
           : !strcmp(name, "operator") ? NKEY_OPERATOR
                                       : NKEY_SERVER;
}

TEST(official_vectors)
{
    load();
    CHECK(nvecs >= 12);
    for (int i = 0; i < nvecs; i++) {
        vec_t *v = &vecs[i];
        nkey_type_t t = type_of(v->type), got;
        uint8_t raw[32], seed[32], sig[64], pub[32];
        CHECK(nkey_decode_public(v->pub, strlen(v->pub), t, raw, &got) && got == t);
        CHECK(!nkey_is_public(v->pub, strlen(v->pub), t == NKEY_USER ? NKEY_ACCOUNT : NKEY_USER));
        CHECK(nkey_is_public(v->pub, strlen(v->pub), NKEY_ANY));
        char enc[NKEY_PUBLIC_LEN + 1];
        nkey_encode_public(t, raw, enc);
        CHECK_EQ_STR(enc, v->pub);
        /* the signature, in both encodings clients send */
        CHECK_EQ_INT(nkey_b64_decode(v->sig, strlen(v->sig), sig, sizeof sig), 64);
        CHECK(nkey_verify_str(v->pub, strlen(v->pub), t, v->data, strlen(v->data), sig));
        uint8_t sig2[64];
        CHECK_EQ_INT(nkey_b64_decode(v->sig_std, strlen(v->sig_std), sig2, sizeof sig2), 64);
        CHECK(memcmp(sig, sig2, 64) == 0);
        /* our own signature with the seed is the library's (Ed25519 is deterministic) */
        CHECK(nkey_decode_seed(v->seed, strlen(v->seed), seed, &got) && got == t);
        CHECK(nkey_sign(seed, v->data, strlen(v->data), sig2, pub));
        CHECK(memcmp(sig, sig2, 64) == 0 && memcmp(pub, raw, 32) == 0);
        /* another message, or one flipped bit of the signature: refused */
        CHECK(!nkey_verify(raw, "other", 5, sig));
        sig[10] ^= 1;
        CHECK(!nkey_verify(raw, v->data, strlen(v->data), sig));
    }
}

TEST(bad_keys)
{
    load();
    if (!nvecs) return;
    const char *pub = vecs[0].pub;
    char k[80];
    size_t n = strlen(pub);
    /* wrong CRC (one character changed), bad alphabet, short, long, a seed as a key */
    snprintf(k, sizeof k, "%s", pub);
    k[20] = k[20] == 'A' ? 'B' : 'A';
    CHECK(!nkey_is_public(k, n, NKEY_ANY));
    snprintf(k, sizeof k, "%s", pub);
    k[5] = '1'; /* not base32 */
    CHECK(!nkey_is_public(k, n, NKEY_ANY));
    CHECK(!nkey_is_public(pub, n - 1, NKEY_ANY));
    snprintf(k, sizeof k, "%sA", pub);
    CHECK(!nkey_is_public(k, n + 1, NKEY_ANY));
    CHECK(!nkey_is_public(vecs[0].seed, strlen(vecs[0].seed), NKEY_ANY));
    uint8_t seed[32];
    CHECK(!nkey_decode_seed(pub, n, seed, NULL));
    CHECK(!nkey_is_public("", 0, NKEY_ANY));
}

TEST(base64_and_nonce)
{
    uint8_t out[8];
    CHECK_EQ_INT(nkey_b64_decode("aGk", 3, out, sizeof out), 2); /* "hi" */
    CHECK(memcmp(out, "hi", 2) == 0);
    CHECK_EQ_INT(nkey_b64_decode("aGk=", 4, out, sizeof out), 2);
    CHECK_EQ_INT(nkey_b64_decode("a", 1, out, sizeof out), -1);
    CHECK_EQ_INT(nkey_b64_decode("a*k", 3, out, sizeof out), -1);
    CHECK_EQ_INT(nkey_b64_decode("aGVsbG8gd29ybGQ", 15, out, sizeof out), -1); /* too long */
    char n1[NKEY_NONCE_LEN + 1], n2[NKEY_NONCE_LEN + 1];
    CHECK(nkey_nonce(n1) && nkey_nonce(n2));
    CHECK_EQ_INT(strlen(n1), NKEY_NONCE_LEN);
    CHECK(strcmp(n1, n2) != 0);
}

int main(void)
{
    RUN(official_vectors);
    RUN(bad_keys);
    RUN(base64_and_nonce);
    return test_summary();
}
