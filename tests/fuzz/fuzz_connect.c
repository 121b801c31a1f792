/* fuzz_connect.c: libFuzzer harness for the CONNECT JSON (client_connect.c's member
 * parsing through json.c, the log prefix built from name/lang/version, and the
 * trace redaction of pass/auth_token). Checks, besides memory safety:
 *   - the log prefix never holds a CR or LF (a client cannot forge log lines)
 *     and is NUL-terminated within its buffer;
 *   - a valid CONNECT stays valid JSON once redacted, and every "pass..." or
 *     "auth_token..." string value in it reads "[REDACTED]". */
#include "nats/client_connect.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char prefix[160];
    buf_t red = {0};
    bool ok = client_fuzz_connect((const char *)data, size, prefix, sizeof prefix, &red);
    if (!ok) {
        fprintf(stderr, "secret left after redaction: %.*s\n", (int)red.len, red.p);
        abort();
    }
    if (!memchr(prefix, 0, sizeof prefix) || strpbrk(prefix, "\r\n")) {
        fprintf(stderr, "bad log prefix: %s\n", prefix);
        abort();
    }
    buf_free(&red);
    return 0;
}
