/* test_msghdr.c: proto/msghdr.h, on the header blocks the integration test
 * test_imports.py::test_request_info_header_for_the_responder checks against
 * nats-server 2.9.10 byte for byte (a new block, one kept header, a replaced one). */
#include "proto/msghdr.h"
#include "test.h"

#include <stdlib.h>

#define KEY "Nats-Request-Info"

static char *set(const char *hdr, const char *val)
{
    buf_t out = {0};
    size_t n = msghdr_set(hdr, strlen(hdr), KEY, val, strlen(val), &out);
    buf_putc(&out, 0);
    CHECK_EQ_INT(n, out.len - 1);
    return out.p;
}

TEST(set_new_kept_replaced)
{
    char *s = set("", "{}");
    CHECK_EQ_STR(s, "NATS/1.0\r\nNats-Request-Info: {}\r\n\r\n");
    free(s);
    s = set("NATS/1.0\r\nMine: yes\r\n\r\n", "{\"a\":1}");
    CHECK_EQ_STR(s, "NATS/1.0\r\nMine: yes\r\nNats-Request-Info: {\"a\":1}\r\n\r\n");
    free(s);
    s = set("NATS/1.0\r\nNats-Request-Info: old\r\nX: y\r\n\r\n", "new");
    CHECK_EQ_STR(s, "NATS/1.0\r\nX: y\r\nNats-Request-Info: new\r\n\r\n");
    free(s);
    s = set("NATS/1.0\r\nNats-Request-Info: old\r\n\r\n", "new");
    CHECK_EQ_STR(s, "NATS/1.0\r\nNats-Request-Info: new\r\n\r\n");
    free(s);
    s = set("NATS/1.0 503\r\n\r\n", "v"); /* a status line stays */
    CHECK_EQ_STR(s, "NATS/1.0 503\r\nNats-Request-Info: v\r\n\r\n");
    free(s);
}

TEST(get)
{
    const char *h =
        "NATS/1.0\r\nX-Nats-Request-Info: no\r\nNats-Request-Info:  {\"acc\":\"A\"}\r\n\r\n";
    slice_t v = msghdr_get(h, strlen(h), KEY);
    CHECK(v.n == 11 && memcmp(v.p, "{\"acc\":\"A\"}", 11) == 0);
    v = msghdr_get("NATS/1.0\r\n\r\n", 12, KEY);
    CHECK_EQ_INT(v.n, 0);
    v = msghdr_get("Nats-Request-Info: x", 20, KEY); /* not after a line break */
    CHECK_EQ_INT(v.n, 0);
}

int main(void)
{
    RUN(set_new_kept_replaced);
    RUN(get);
    return test_summary();
}
