/* claims.h: what the JWTs of operator mode say (docs/operator.md), read into the
 * structures the server already enforces for configured accounts and users.
 *
 * An operator JWT names its signing keys and, maybe, the system account. An
 * account JWT becomes an account_opts_t (limits, exports, imports, default
 * permissions, mappings) plus what only JWT accounts have: signing keys (plain, or
 * "user_scope" keys whose template replaces the permissions of the users they
 * sign) and revocations. A user JWT becomes a permissions_t and its limits.
 *
 * Each decoder verifies the token's signature by its "iss" (base/jwt.h) and its
 * type; whether the issuer is trusted is the caller's question. Expiry is not
 * checked here (an expired account still loads, as in the reference; its users are
 * refused). Everything returned is owned by the claims struct (claims_*_free). */
#ifndef GNATSD_CLAIMS_H
#define GNATSD_CLAIMS_H

#include "base/jwt.h"
#include "conf/opts.h"

typedef struct op_claims {
    char *token; /* the operator JWT as given */
    jwt_t j;
    char aud[256];
    char **signing_keys;
    size_t nsigning_keys;
    char *system_account; /* NULL: none named */
    bool strict;          /* strict_signing_key_usage: accounts signed by a signing key only */
} op_claims_t;

typedef struct user_claims {
    jwt_t j; /* sub: the user's public key; iss: its account or a signing key */
    char issuer_account[NKEY_PUBLIC_LEN + 1]; /* "" unless signed by a signing key */
    permissions_t *perms;                     /* NULL: none of its own */
    int64_t max_subs, max_payload;            /* -1: no limit */
    bool bearer;                              /* logs in without signing the nonce */
    bool restrict_conn_types, allow_standard;
    /* it sets permissions or limits of its own (a scoped signing key's user may not) */
    bool own_perms_limits;
} user_claims_t;

typedef struct acct_signer {
    char key[NKEY_PUBLIC_LEN + 1];
    user_claims_t *scope; /* a user_scope key's template; NULL: a plain signing key */
} acct_signer_t;

typedef struct acct_revocation {
    char key[NKEY_PUBLIC_LEN + 1]; /* a user's public key, or "*" for all */
    int64_t at;                    /* users issued at or before this are revoked */
} acct_revocation_t;

typedef struct acct_claims {
    char *token;
    jwt_t j;           /* sub: the account's public key, iss: its operator or a signing key */
    account_opts_t ao; /* name = the account's public key */
    acct_signer_t *signers;
    size_t nsigners;
    acct_revocation_t *revs;
    size_t nrevs;
    bool disallow_bearer;
} acct_claims_t;

/* 0, or -1 with err set. The operator comes as a token or (not starting with "eyJ") a
 * file holding one (text around it, as nsc writes, is skipped). */
int claims_operator(const char *tok_or_file, op_claims_t *out, char *err, size_t errlen);
void claims_operator_free(op_claims_t *c);
int claims_account(const char *tok, size_t n, acct_claims_t *out, char *err, size_t errlen);
void claims_account_free(acct_claims_t *c);
int claims_user(const char *tok, size_t n, user_claims_t *out, char *err, size_t errlen);
void claims_user_free(user_claims_t *c);

/* An activation token (a private export's grant): issued by `exporter` or by one of
 * its signing keys (es), for `importer`, covering `subject`, not expired at now. */
bool claims_activation_ok(const char *tok, const acct_claims_t *exporter, const char *importer,
                          const char *subject, int64_t now);
/* The user is revoked by the account (its own entry or "*", at or after its iat). */
bool claims_user_revoked(const acct_claims_t *a, const char *user, int64_t iat);
/* The signer of key, or NULL (the account's own key is not a signer). */
const acct_signer_t *claims_signer(const acct_claims_t *a, const char *key);

/* tests/fuzz/fuzz_claims.c: the "nats" object parsers without the signature check (a
 * fuzzer cannot sign): json read as user, account, operator and activation claims. */
void claims_fuzz_nats(const char *json, size_t n);

#endif
