/* fuzz_jwt.c: libFuzzer harness for what a client's CONNECT hands the nkey and JWT
 * code: a token (base/jwt.h: three base64url parts, JSON header and claims, an
 * Ed25519 signature by the issuer nkey), an nkey and a base64 signature
 * (base/nkeys.h). Any input must be refused or accepted cleanly: no crash, no leak,
 * no read past the input. */
#include "base/jwt.h"
#include "base/nkeys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy without a terminator: every parser must respect the length */
    char *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    jwt_t j;
    char err[128];
    if (jwt_decode(p, size, &j, err, sizeof err) == 0) {
        (void)jwt_expired(&j, 1);
        jwt_free(&j);
    }
    uint8_t raw[32], seed[32], sig[64];
    nkey_type_t t;
    (void)nkey_decode_public(p, size, NKEY_ANY, raw, &t);
    (void)nkey_decode_seed(p, size, seed, &t);
    if (nkey_b64_decode(p, size, sig, sizeof sig) == 64) (void)nkey_verify(raw, p, size, sig);
    free(p);
    return 0;
}
