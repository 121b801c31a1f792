/* http.h: a tiny HTTP/1.x request parser for the monitoring port.
 *
 * Contract: pure; http_parse() looks at buf[0..len) and returns the request
 * length (head only: monitoring requests carry no body we use) when the head
 * is complete, 0 if more bytes are needed, -1 if malformed, -2 if the head is
 * larger than max_head. Slices point into buf. */
#ifndef GNATSD_HTTP_H
#define GNATSD_HTTP_H

#include "base/common.h"

typedef struct http_req {
    slice_t method, path, query, version;
    bool keep_alive;
    size_t content_length;
} http_req_t;

long http_parse(const char *buf, size_t len, size_t max_head, http_req_t *req);
/* Finds query parameter `name`; returns true and sets *val (raw, not decoded). */
bool http_query_get(slice_t query, const char *name, slice_t *val);
/* Query values and paths are decoded with pct_decode (base/pct.h): a query value
 * with PCT_PLUS | PCT_STRICT (Go's url.QueryUnescape), a path with PCT_STRICT
 * (Go's r.URL.Path). */

#endif
