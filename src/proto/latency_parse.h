/* latency_parse.h: the bytes service latency tracking reads from others
 * (nats/latency.c, docs/accounts.md "Service latency"): a request's tracing
 * headers, which decide whether a "headers"-sampled request is measured, and
 * another server's measurement (m2) of a request it answered for us.
 *
 * Pure functions on untrusted bytes (a client's header block, a routed
 * message's JSON): nothing is read past n, nothing is kept. */
#ifndef GNATSD_LATENCY_PARSE_H
#define GNATSD_LATENCY_PARSE_H

#include "base/common.h"

#include <stdbool.h>
#include <stdint.h>

/* The reference's tracing header rules (Uber, B3 multi and single, W3C trace context)
 * on a NATS header block ("NATS/1.0\r\nKey: value\r\n..."): true if they ask for a
 * measurement; then *hdr is the triggering headers as a JSON object (keys in Go's
 * canonical form, sorted, each with its values), owned by the caller. */
bool trace_headers_sampled(const char *block, size_t n, char **hdr);

/* {"account":..,"req_id":..,"m2":{..,"responder":{..,"rtt":N},"service":N}}: slices
 * point into p. False if it is not such an object. */
typedef struct latency_m2 {
    slice_t req_id, responder;
    int64_t service, resp_rtt;
    bool has_m2;
} latency_m2_t;
bool latency_m2_parse(const char *p, size_t n, latency_m2_t *out);

#endif
