/* fuzz_claims.c: libFuzzer harness for the claims of operator mode (conf/claims.h):
 * the "nats" object of a user, account, operator or activation JWT, read into option
 * structures (permissions, limits, exports, imports, signing keys, revocations,
 * mappings). A client's user JWT reaches these parsers once its signature checks, so
 * they run here without it. Any input must be read or refused cleanly: no crash, no
 * leak, no read past the input. */
#include "conf/claims.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy without a terminator: every parser must respect the length */
    char *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    claims_fuzz_nats(p, size);
    free(p);
    return 0;
}
