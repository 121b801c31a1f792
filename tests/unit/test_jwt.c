/* test_jwt.c: base/jwt.h against tokens made by the official nats-io/jwt/v2 library
 * (tests/unit/fixtures/jwt.txt, from fixtures/gen/run.sh), a version 1 token of the
 * reference's own test configs, and broken ones. */
#include "base/jwt.h"
#include "test.h"

#include <stdlib.h>

#define tok fixture_jwt

static int dec(const char *name, jwt_t *j, char *err)
{
    const char *t = tok(name);
    return jwt_decode(t, strlen(t), j, err, 128);
}

TEST(official_claims)
{
    jwt_t j;
    char err[128];
    CHECK_EQ_INT(dec("operator", &j, err), 0);
    CHECK_EQ_STR(j.type, "operator");
    CHECK_EQ_STR(j.iss, tok("operator_pub"));
    CHECK_EQ_STR(j.sub, tok("operator_pub"));
    CHECK_EQ_INT(j.version, 2);
    jwt_free(&j);
    CHECK_EQ_INT(dec("account", &j, err), 0);
    CHECK_EQ_STR(j.type, "account");
    CHECK_EQ_STR(j.iss, tok("operator_pub"));
    CHECK_EQ_STR(j.sub, tok("account_pub"));
    CHECK(j.iss_type == NKEY_OPERATOR && j.nats.n > 0 && j.iat > 0);
    CHECK(strstr(j.payload, tok("signing_pub")) != NULL);
    jwt_free(&j);
    CHECK_EQ_INT(dec("user", &j, err), 0);
    CHECK_EQ_STR(j.type, "user");
    CHECK_EQ_STR(j.iss, tok("account_pub"));
    CHECK_EQ_STR(j.sub, tok("user_pub"));
    CHECK(!jwt_expired(&j, j.iat + 10));
    jwt_free(&j);
    CHECK_EQ_INT(dec("user_by_signing_key", &j, err), 0);
    CHECK_EQ_STR(j.iss, tok("signing_pub"));
    jwt_free(&j);
    CHECK_EQ_INT(dec("user_expired", &j, err), 0);
    CHECK(jwt_expired(&j, j.iat));
    jwt_free(&j);
    /* signed by another operator: valid as a token (trust is the caller's question) */
    CHECK_EQ_INT(dec("account_other_operator", &j, err), 0);
    CHECK(strcmp(j.iss, tok("operator_pub")) != 0);
    jwt_free(&j);
}

TEST(version1_token)
{
    /* from the reference's configs/resolver_preload.conf (made by jwt v1) */
    static const char v1[] =
        "eyJ0eXAiOiJqd3QiLCJhbGciOiJlZDI1NTE5In0.eyJqdGkiOiJDSzU1UERKSUlTWU5QWkhLSUpMVURVVTdJT1dI"
        "NlM3UkE0RUc2TTVGVUQzUEdGQ1RWWlJRIiwiaWF0IjoxNTQzOTU4NjU4LCJpc3MiOiJPQ0FUMzNNVFZVMlZVT0lN"
        "R05HVU5YSjY2QUgyUkxTREFGM01VQkNZQVk1UU1JTDY1TlFNNlhRRyIsInN1YiI6IkFEMlZCNkMyNURRUEVVVVE3"
        "S0pCVUZYMko0Wk5WQlBPSFNDQklTQzdWRlpYVldYWkE3VkFTUVpHIiwidHlwZSI6ImFjY291bnQiLCJuYXRzIjp7"
        "ImxpbWl0cyI6e319fQ.7m1fysYUsBw15Lj88YmYoHxOI4HlOzu6qgP8Zg-1q9mQXUURijuDGVZrtb7gFYRlo-nG9x"
        "Zyd2ZTRpMA-b0xCQ";
    jwt_t j;
    char err[128];
    CHECK_EQ_INT(jwt_decode(v1, strlen(v1), &j, err, sizeof err), 0);
    CHECK_EQ_INT(j.version, 1);
    CHECK_EQ_STR(j.type, "account");
    CHECK_EQ_STR(j.sub, "AD2VB6C25DQPEUUQ7KJBUFX2J4ZNVBPOHSCBISC7VFZXVWXZA7VASQZG");
    jwt_free(&j);
}

TEST(broken_tokens)
{
    jwt_t j;
    char err[128];
    CHECK_EQ_INT(dec("user_tampered", &j, err), -1);
    CHECK(strstr(err, "signature") != NULL);
    const char *bad[] = {
        "", "abc", "a.b", "a.b.c.d", "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.", "!!!.e30.AAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ_INT(jwt_decode(bad[i], strlen(bad[i]), &j, err, sizeof err), -1);
    /* a good header and claims with the signature of another token */
    const char *u = tok("user"), *o = tok("operator");
    char mix[4096];
    const char *us = strrchr(u, '.'), *os = strrchr(o, '.');
    snprintf(mix, sizeof mix, "%.*s%s", (int)(us - u), u, os);
    CHECK_EQ_INT(jwt_decode(mix, strlen(mix), &j, err, sizeof err), -1);
}

int main(void)
{
    RUN(official_claims);
    RUN(version1_token);
    RUN(broken_tokens);
    return test_summary();
}
