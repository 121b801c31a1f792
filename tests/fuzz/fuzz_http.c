/* fuzz_http.c: libFuzzer harness for the monitoring port's request handling.
 *
 * The input is what an HTTP client sends on one connection (any number of
 * pipelined requests). It goes through monitor_answer_buffer(): the request
 * parser (http.c), path decoding, cleaning and redirects, the base path, the
 * route table, every endpoint's query-parameter decoding and the handlers,
 * with a server that has no connections (snapshots answer empty) and an
 * empty subject index. No socket is involved.
 *
 * Besides "no crash, no leak, no hang", the answer must be well-formed HTTP
 * whatever the input: a sequence of responses, each a status line and
 * headers without control bytes (a request must never be able to inject a
 * header line or split a response), then exactly Content-Length body bytes;
 * only the fixed error answer, which closes the connection, has no length. */
#include "nats/account.h"
#include "proto/http.h"
#include "monitor/monitor.h"
#include "base/pct.h"
#include "conf/opts.h"
#include "core/server.h"
#include "index/sublist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void init_server(void)
{
    static bool done;
    if (done) return;
    done = true;
    static server_t s;
    static opts_t o;
    opts_defaults(&o);
    s.opts = &o;
    srv = &s;
    accounts_init(&o, NULL);              /* /subsz and /varz read the accounts' indexes */
    atomic_store(&s.shutting_down, true); /* connection snapshots answer empty */
    memcpy(s.server_id, "NFUZZ", 6);
}

/* heads[k]: request k was a HEAD (its answer announces a length, sends no body). */
static void check_answer(const char *p, size_t n, bool closed, const bool *heads, size_t nheads)
{
    size_t i = 0;
    for (size_t k = 0; i < n; k++) {
        if (n - i < 9 || memcmp(p + i, "HTTP/1.1 ", 9) != 0) abort();
        const char *end = memmem(p + i, n - i, "\r\n\r\n", 4);
        if (!end) abort();
        size_t hlen = (size_t)(end - (p + i)) + 4;
        long clen = -1;
        for (size_t j = i; j < i + hlen - 2;) {
            const char *le = memmem(p + j, i + hlen - 2 - j, "\r\n", 2);
            if (!le) abort();
            for (const char *c = p + j; c < le; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f) abort(); /* header injection */
            if ((size_t)(le - (p + j)) > 16 && strncmp(p + j, "Content-Length: ", 16) == 0)
                clen = strtol(p + j + 16, NULL, 10);
            j = (size_t)(le - p) + 2;
        }
        i += hlen;
        if (clen < 0) {
            /* the fixed error answer: its body runs to the close */
            if (!closed) abort();
            return;
        }
        if (k < nheads && heads[k]) continue;
        if ((size_t)clen > n - i) abort();
        i += (size_t)clen;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_server();
    buf_t out = {0};
    bool closed = false;
    size_t used = monitor_answer_buffer((const char *)data, size, &out, &closed);
    if (used > size) abort();
    /* which of the answered requests were HEADs */
    bool *heads = calloc(used / 4 + 1, sizeof *heads);
    size_t nheads = 0;
    for (size_t off = 0; heads && off < used;) {
        http_req_t req;
        long n = http_parse((const char *)data + off, used - off, 1024 * 1024, &req);
        if (n <= 0) break;
        heads[nheads++] = slice_eq_str(req.method, "HEAD");
        off += (size_t)n + req.content_length;
    }
    check_answer(out.p, out.len, closed, heads, nheads);
    free(heads);
    buf_free(&out);

    /* the pure helpers on the raw bytes as a path or a query */
    slice_t in = {(const char *)data, size};
    char *dec = malloc(size + 1);
    if (dec) {
        long n = pct_decode(in, dec, size + 1, PCT_STRICT);
        if (n > (long)size) abort();
        n = pct_decode(in, dec, size + 1, PCT_PLUS | PCT_STRICT);
        if (n > (long)size) abort();
        n = pct_decode(in, dec, size + 1, 0);
        if (n < 0 || n > (long)size) abort(); /* lenient: never fails when out is big enough */
        free(dec);
    }
    slice_t v;
    if (http_query_get(in, "subs", &v) && (v.p < in.p || v.p + v.n > in.p + in.n)) abort();
    return 0;
}
