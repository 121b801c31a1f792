/* fuzz_latency.c: libFuzzer harness for what service latency tracking reads from
 * others (proto/latency_parse.h): a client's header block deciding a "headers"
 * sample, and another server's m2 measurement JSON. The input is handed to both,
 * each in an exact-size copy (ASan catches a read past it); a sampled verdict's
 * header JSON must be a valid JSON object. */
#include "proto/latency_parse.h"
#include "base/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int any_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    (void)ctx, (void)key, (void)t, (void)raw;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p) return 0;
    memcpy(p, data, size);
    char *hdr = NULL;
    if (trace_headers_sampled(p, size, &hdr)) {
        if (!hdr || json_parse_object(hdr, strlen(hdr), any_member, NULL) != 0) abort();
    }
    free(hdr);
    latency_m2_t m;
    if (latency_m2_parse(p, size, &m)) {
        if (m.req_id.p < p || m.req_id.p + m.req_id.n > p + size) abort();
        if (m.responder.n && (m.responder.p < p || m.responder.p + m.responder.n > p + size))
            abort();
    }
    free(p);
    return 0;
}
