/* jwt.h: NATS JWTs (docs/security.md "JWTs"): "header.payload.signature", each
 * base64url; the header names the algorithm ("ed25519-nkey" for version 2
 * claims, "ed25519" for version 1), the signature is Ed25519 over
 * "header.payload" (version 1: the payload part alone) by the nkey in the
 * payload's "iss".
 *
 * jwt_decode checks all of that and hands back the standard claims and the
 * raw "nats" object (its caller knows the claim type's fields). Times are Unix
 * seconds (0 = absent). The decoded payload is owned by the jwt_t. */
#ifndef GNATSD_JWT_H
#define GNATSD_JWT_H

#include "base/common.h"
#include "base/nkeys.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct jwt {
    char *payload; /* the decoded claims JSON (owned) */
    size_t payload_len;
    char jti[128], iss[NKEY_PUBLIC_LEN + 1], sub[NKEY_PUBLIC_LEN + 1], name[256];
    char type[32]; /* "operator", "account", "user", "activation", ... */
    int64_t iat, exp, nbf;
    int version; /* 1 or 2 */
    nkey_type_t iss_type;
    slice_t nats; /* the raw "nats" object, into payload ({NULL,0}: none) */
} jwt_t;

/* 0, or -1 with err set ("bad signature", "not a JWT", ...). */
int jwt_decode(const char *tok, size_t n, jwt_t *out, char *err, size_t errlen);
void jwt_free(jwt_t *j);
/* Not yet valid or expired at now (Unix seconds). */
bool jwt_expired(const jwt_t *j, int64_t now);

#endif
