/* fuzz_msghdr.c: libFuzzer harness for proto/msghdr.h on a client's header block (the
 * server replaces Nats-Request-Info in it when a request crosses a service import).
 * Input: any bytes, taken as the block (an exact-size copy: ASan catches a read past
 * it). The rebuilt block must end with an empty line and hold the line set. */
#include "proto/msghdr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    (void)msghdr_get(p, size, "Nats-Request-Info");
    buf_t out = {0};
    static const char val[] = "{\"acc\":\"A\",\"rtt\":1}";
    size_t n = msghdr_set(p, size, "Nats-Request-Info", val, sizeof val - 1, &out);
    if (n != out.len || n < 4 || memcmp(out.p + n - 4, "\r\n\r\n", 4) != 0) abort();
    /* the line set is there (an earlier copy of the key in the input may still shadow
     * it for msghdr_get: only the first is replaced, as the reference does) */
    if (!memmem(out.p, n, val, sizeof val - 1)) abort();
    (void)msghdr_get(out.p, n, "Nats-Request-Info");
    buf_free(&out);
    free(p);
    return 0;
}
