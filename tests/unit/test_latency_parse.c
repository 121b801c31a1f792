/* test_latency_parse.c: proto/latency_parse.h. The header cases are the reference's
 * own (its TestServiceLatencyHeaderTriggered table and the tracing formats its
 * sampling code names); the m2 message is one nats-server 2.9.10 sent (captured on
 * $SYS.LATENCY.M2 in a mixed cluster). */
#include "proto/latency_parse.h"
#include "test.h"

#include <stdlib.h>

static bool sampled(const char *block, const char *want_json)
{
    char *hdr = NULL;
    bool yes = trace_headers_sampled(block, strlen(block), &hdr);
    if (yes && want_json) CHECK_EQ_STR(hdr, want_json);
    if (!yes) CHECK(hdr == NULL);
    free(hdr);
    return yes;
}

TEST(tracing_headers_that_ask)
{
    CHECK(sampled("NATS/1.0\r\nUber-Trace-Id: 479fefe9525eddb:479fefe9525eddb:0:1\r\n"
                  "uberctx-Foo: bar\r\nOther: x\r\n\r\n",
                  "{\"Uber-Trace-Id\":[\"479fefe9525eddb:479fefe9525eddb:0:1\"],"
                  "\"Uberctx-Foo\":[\"bar\"]}"));
    CHECK(sampled("NATS/1.0\r\nX-B3-Sampled: 1\r\n\r\n", "{\"X-B3-Sampled\":[\"1\"]}"));
    CHECK(sampled("NATS/1.0\r\nx-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7\r\n"
                  "X-B3-SpanId: e457b5a2e4d86bd1\r\n\r\n",
                  "{\"X-B3-Spanid\":[\"e457b5a2e4d86bd1\"],"
                  "\"X-B3-Traceid\":[\"80f198ee56343ba864fe8b2a57d3eff7\"]}"));
    CHECK(sampled("NATS/1.0\r\nB3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-"
                  "05e3ac9a4f6e3b90\r\n\r\n",
                  "{\"B3\":[\"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-"
                  "05e3ac9a4f6e3b90\"]}"));
    CHECK(sampled("NATS/1.0\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
                  "00f067aa0ba902b7-01\r\nTracestate: a=b\r\n\r\n",
                  "{\"Traceparent\":[\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"],"
                  "\"Tracestate\":[\"a=b\"]}"));
    /* two-character Uber flags: the reference decodes '0' and the second one */
    CHECK(sampled("NATS/1.0\r\nUber-Trace-Id: a:b:c:03\r\n\r\n", NULL));
}

TEST(tracing_headers_that_do_not)
{
    CHECK(!sampled("NATS/1.0\r\nUber-Trace-Id: 479fefe9525eddb:479fefe9525eddb:0:0\r\n\r\n", 0));
    CHECK(!sampled("NATS/1.0\r\nUber-Trace-Id: a:b:c\r\n\r\n", 0));
    CHECK(!sampled("NATS/1.0\r\nX-B3-Sampled: 0\r\nX-B3-TraceId: 80f1\r\n\r\n", 0));
    CHECK(!sampled("NATS/1.0\r\nB3: 0\r\n\r\n", 0));
    CHECK(!sampled("NATS/1.0\r\nB3: 80f1-e457-0-05e3\r\n\r\n", 0));
    CHECK(!sampled("NATS/1.0\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
                   "00f067aa0ba902b7-00\r\n\r\n",
                   0));
    CHECK(!sampled("NATS/1.0\r\nSome-Other: 1\r\n\r\n", 0));
    CHECK(!sampled("NATS/1.0\r\n\r\n", 0));
    CHECK(!sampled("", 0));
    CHECK(!sampled("NATS/1.0 503\r\n", 0));
}

TEST(m2_from_the_reference)
{
    const char *msg =
        "{\"account\":\"SVC\",\"req_id\":\"_R_.Cq4eud.kB7Weu.NUmM6cRx.T\",\"m2\":{\"type\":\"\","
        "\"id\":\"\",\"timestamp\":\"0001-01-01T00:00:00Z\",\"status\":200,\"responder\":{"
        "\"start\":\"2026-12-04T05:32:03.996945276Z\",\"host\":\"127.0.0.1\",\"id\":8,\"acc\":"
        "\"SVC\",\"user\":\"svc\",\"rtt\":864702,\"server\":\"B\",\"cluster\":\"C\",\"kind\":"
        "\"Client\",\"client_type\":\"nats\"},\"start\":\"2026-12-04T05:32:04.999113512Z\","
        "\"service\":250741788,\"system\":0,\"total\":251606490}}";
    latency_m2_t m;
    CHECK(latency_m2_parse(msg, strlen(msg), &m));
    CHECK(m.req_id.n == strlen("_R_.Cq4eud.kB7Weu.NUmM6cRx.T") &&
          memcmp(m.req_id.p, "_R_.Cq4eud.kB7Weu.NUmM6cRx.T", m.req_id.n) == 0);
    CHECK_EQ_INT(m.service, 250741788);
    CHECK_EQ_INT(m.resp_rtt, 864702);
    CHECK(m.responder.n > 0 && m.responder.p[0] == '{' && m.responder.p[m.responder.n - 1] == '}');
    /* not an m2: refused */
    CHECK(!latency_m2_parse("{\"account\":\"SVC\"}", 17, &m));
    CHECK(!latency_m2_parse("[1]", 3, &m));
    CHECK(!latency_m2_parse("{\"req_id\":\"x\",\"m2\":{", 20, &m));
}

int main(void)
{
    RUN(tracing_headers_that_ask);
    RUN(tracing_headers_that_do_not);
    RUN(m2_from_the_reference);
    return test_summary();
}
