/* test_claims.c: conf/claims.h (operator, account and user claims read into option
 * structures) against tokens made by the official nats-io/jwt/v2 library
 * (tests/unit/fixtures/jwt.txt: the "claims_*" lines, from fixtures/gen/run.sh). */
#include "conf/claims.h"
#include "test.h"

#include <stdlib.h>

#define tok fixture_jwt

TEST(operator_claims)
{
    op_claims_t oc;
    char err[256];
    CHECK_EQ_INT(claims_operator(tok("claims_operator"), &oc, err, sizeof err), 0);
    CHECK_EQ_STR(oc.aud, "AUD");
    CHECK_EQ_STR(oc.j.name, "OP");
    CHECK_EQ_INT((int)oc.nsigning_keys, 1);
    if (oc.nsigning_keys) CHECK_EQ_STR(oc.signing_keys[0], tok("claims_operator_signing_key"));
    CHECK_EQ_STR(oc.system_account, tok("claims_system_account"));
    claims_operator_free(&oc);
    /* an account is not an operator; a file that does not exist is an error */
    CHECK_EQ_INT(claims_operator(tok("claims_exporter"), &oc, err, sizeof err), -1);
    CHECK_EQ_INT(claims_operator("/nonexistent/op.jwt", &oc, err, sizeof err), -1);
}

TEST(account_claims)
{
    acct_claims_t ac;
    char err[256];
    const char *t = tok("claims_exporter");
    CHECK_EQ_INT(claims_account(t, strlen(t), &ac, err, sizeof err), 0);
    CHECK_EQ_STR(ac.ao.name, tok("claims_exporter_pub"));
    CHECK_EQ_STR(ac.j.iss, tok("claims_operator_signing_key"));
    CHECK_EQ_INT(ac.ao.max_conns, 3);
    CHECK_EQ_INT(ac.ao.max_subs, 4);
    CHECK_EQ_INT(ac.ao.max_payload, 512);
    CHECK_EQ_INT(ac.ao.max_leafs, -1);
    CHECK(ac.disallow_bearer);
    CHECK_EQ_INT((int)ac.ao.nexports, 3);
    const acct_export_t *st = NULL, *se = NULL; /* the library sorts them */
    for (size_t k = 0; k < ac.ao.nexports; k++) {
        if (!strcmp(ac.ao.exports[k].subject, "pub.>")) st = &ac.ao.exports[k];
        if (!strcmp(ac.ao.exports[k].subject, "priv.svc")) se = &ac.ao.exports[k];
    }
    CHECK(st && se);
    if (st && se) {
        CHECK_EQ_STR(st->subject, "pub.>");
        CHECK(!st->service && !st->token_req);
        CHECK_EQ_STR(se->subject, "priv.svc");
        CHECK(se->service && se->token_req);
        CHECK(se->resp_type == ACCT_RESP_STREAM);
        CHECK(se->resp_threshold_ns == 3000000000LL);
    }
    CHECK_EQ_INT((int)ac.nsigners, 1);
    if (ac.nsigners) {
        CHECK_EQ_STR(ac.signers[0].key, tok("claims_scoped_key"));
        CHECK(ac.signers[0].scope && ac.signers[0].scope->perms);
        if (ac.signers[0].scope && ac.signers[0].scope->perms) {
            const permissions_t *p = ac.signers[0].scope->perms;
            CHECK(p->has_publish && p->publish.nallow == 1);
            CHECK_EQ_STR(p->publish.allow[0], "scoped.>");
            CHECK(ac.signers[0].scope->max_subs == 9);
        }
    }
    CHECK(claims_signer(&ac, tok("claims_scoped_key")) != NULL);
    CHECK(claims_signer(&ac, tok("claims_exporter_pub")) == NULL);
    /* revocations: "*" at 2000 revokes every user issued at or before it */
    CHECK(claims_user_revoked(&ac, "UANY", 2000));
    CHECK(!claims_user_revoked(&ac, "UANY", 2001));
    CHECK(ac.ao.default_perms && ac.ao.default_perms->subscribe.ndeny == 1);
    CHECK_EQ_INT((int)ac.ao.nmappings, 1);
    if (ac.ao.nmappings) {
        CHECK_EQ_STR(ac.ao.mappings[0].src, "m.in");
        CHECK(ac.ao.mappings[0].ndests == 1 && ac.ao.mappings[0].dests[0].weight == 40);
    }

    acct_claims_t ic;
    t = tok("claims_importer");
    CHECK_EQ_INT(claims_account(t, strlen(t), &ic, err, sizeof err), 0);
    CHECK_EQ_INT((int)ic.ao.nimports, 3);
    const acct_import_t *s = NULL, *v = NULL, *old = NULL;
    for (size_t k = 0; k < ic.ao.nimports; k++) {
        const acct_import_t *im = &ic.ao.imports[k];
        if (!im->service)
            s = im;
        else if (im->token)
            v = im;
        else
            old = im;
    }
    CHECK(s && v && old);
    /* the older service form: the JWT's subject is the local name, its "to" the remote */
    if (old) {
        CHECK_EQ_STR(old->subject, "open.svc.echo");
        CHECK_EQ_STR(old->to, "request");
    }
    if (s && v) {
        CHECK(!s->service && s->to && !s->prefix);
        CHECK_EQ_STR(s->to, "local.>");
        CHECK_EQ_STR(s->account, tok("claims_exporter_pub"));
        CHECK(v->service && v->share && v->token);
        CHECK_EQ_STR(v->to, "my.svc");
        /* the activation grants the importer this subject, not another importer */
        CHECK(claims_activation_ok(v->token, &ac, tok("claims_importer_pub"), "priv.svc", 0));
        CHECK(!claims_activation_ok(v->token, &ac, tok("claims_exporter_pub"), "priv.svc", 0));
        CHECK(!claims_activation_ok(v->token, &ac, tok("claims_importer_pub"), "other", 0));
        CHECK(!claims_activation_ok(NULL, &ac, tok("claims_importer_pub"), "priv.svc", 0));
    }
    claims_account_free(&ic);
    claims_account_free(&ac);

    /* a user token is not an account */
    t = tok("claims_user");
    CHECK_EQ_INT(claims_account(t, strlen(t), &ac, err, sizeof err), -1);
}

TEST(user_claims)
{
    user_claims_t uc;
    char err[256];
    const char *t = tok("claims_user");
    CHECK_EQ_INT(claims_user(t, strlen(t), &uc, err, sizeof err), 0);
    CHECK_EQ_STR(uc.j.sub, tok("claims_user_pub"));
    CHECK(uc.bearer);
    CHECK(uc.max_subs == 11 && uc.max_payload == 100);
    CHECK(uc.restrict_conn_types && !uc.allow_standard);
    CHECK(uc.perms && uc.perms->allow_responses && uc.perms->resp_max == 5);
    CHECK(uc.perms && uc.perms->resp_expires_ns == 60000000000LL);
    /* responses only: publishing is otherwise closed */
    CHECK(uc.perms && uc.perms->publish.has_allow && uc.perms->publish.nallow == 0);
    claims_user_free(&uc);
    t = tok("user_by_signing_key");
    CHECK_EQ_INT(claims_user(t, strlen(t), &uc, err, sizeof err), 0);
    CHECK_EQ_STR(uc.issuer_account, tok("account_pub"));
    CHECK(!uc.perms && uc.max_subs == -1 && !uc.bearer);
    claims_user_free(&uc);
    t = tok("user");
    CHECK_EQ_INT(claims_user(t, strlen(t), &uc, err, sizeof err), 0);
    CHECK(uc.perms && uc.perms->publish.nallow == 1 && uc.perms->subscribe.ndeny == 1);
    claims_user_free(&uc);
    t = tok("user_tampered");
    CHECK_EQ_INT(claims_user(t, strlen(t), &uc, err, sizeof err), -1);
    t = tok("operator");
    CHECK_EQ_INT(claims_user(t, strlen(t), &uc, err, sizeof err), -1);
}

int main(void)
{
    RUN(operator_claims);
    RUN(account_claims);
    RUN(user_claims);
    return test_summary();
}
