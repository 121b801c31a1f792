/* test_route_proto.c: unit tests for src/proto/route_parse.c, the route
 * protocol's texts without server state: a peer's INFO/CONNECT JSON, route
 * URLs (and their log form), the RS+/RS- lines we send and the queue names of
 * an RMSG. The operations themselves (RS+/RS-/RMSG arguments) are
 * test_parser.c's (parse_op in PARSE_ROUTE mode). */
#include "test.h"
#include "proto/route_parse.h"

#include <stdio.h>
#include <stdlib.h>

#define S(lit) lit, sizeof(lit) - 1

static slice_t sl(const char *s)
{
    return (slice_t){s, s ? strlen(s) : 0};
}

TEST(info_members)
{
    static const char info[] =
        "{\"server_id\":\"NAB\",\"server_name\":\"n1\",\"version\":\"2.9.10\",\"host\":\"10.0.0."
        "1\","
        "\"port\":6222,\"headers\":true,\"auth_required\":true,\"tls_required\":false,"
        "\"max_payload\":1048576,\"nonce\":\"xyz\",\"cluster\":\"c1\",\"cluster_dynamic\":true,"
        "\"ip\":\"nats-route://10.0.0.1:6222/\",\"connect_urls\":[\"10.0.0.1:4222\", "
        "\"[::1]:4222\",\"a\\\"b\"],\"ldm\":true,\"lnoc\":true}";
    route_info_msg_t r = {0};
    CHECK_EQ_INT(route_info_parse(S(info), &r), 0);
    CHECK_EQ_STR(r.id, "NAB");
    CHECK_EQ_STR(r.name, "n1");
    CHECK_EQ_STR(r.host, "10.0.0.1");
    CHECK_EQ_INT(r.port, 6222);
    CHECK_EQ_STR(r.cluster, "c1");
    CHECK(r.has_cluster);
    CHECK(r.dynamic);
    CHECK(r.headers);
    CHECK(r.auth_required);
    CHECK(r.ldm);
    CHECK(r.lnoc);
    CHECK(!r.gateway);
    CHECK_EQ_STR(r.ip, "nats-route://10.0.0.1:6222/");
    CHECK_EQ_INT(r.nurls, 3);
    if (r.nurls == 3) {
        CHECK_EQ_STR(r.urls[0], "10.0.0.1:4222");
        CHECK_EQ_STR(r.urls[1], "[::1]:4222");
        CHECK_EQ_STR(r.urls[2], "a\"b");
    }
    route_info_msg_free(&r);
}

TEST(connect_members)
{
    /* A route CONNECT carries the server id as "name"; a client's has "lang". */
    static const char connect[] = "{\"echo\":true,\"verbose\":false,\"pedantic\":false,"
                                  "\"user\":\"ruser\",\"pass\":\"p\\u0021\",\"tls_required\":false,"
                                  "\"headers\":true,\"name\":\"NXY\",\"cluster\":\"\"}";
    route_info_msg_t r = {0};
    CHECK_EQ_INT(route_info_parse(S(connect), &r), 0);
    CHECK_EQ_STR(r.id, "NXY");
    CHECK_EQ_STR(r.user, "ruser");
    CHECK_EQ_STR(r.pass, "p!");
    CHECK_EQ_STR(r.lang, "");
    CHECK(r.has_cluster);
    CHECK_EQ_STR(r.cluster, "");
    CHECK(r.headers);
    route_info_msg_free(&r);

    route_info_msg_t c = {0};
    CHECK_EQ_INT(route_info_parse(S("{\"lang\":\"go\",\"gateway\":\"g1\"}"), &c), 0);
    CHECK_EQ_STR(c.lang, "go");
    CHECK(c.gateway);
    CHECK(!c.has_cluster);
    route_info_msg_free(&c);
}

TEST(info_wrong_types_and_sizes)
{
    /* Wrong types leave a member unset (port only as a number; booleans only true). */
    route_info_msg_t r = {0};
    CHECK_EQ_INT(route_info_parse(S("{\"server_id\":5,\"port\":\"6222\",\"headers\":1,"
                                    "\"ldm\":\"true\",\"gateway\":null,\"connect_urls\":\"x\"}"),
                                  &r),
                 0);
    CHECK_EQ_STR(r.id, "");
    CHECK_EQ_INT(r.port, 0);
    CHECK(!r.headers);
    CHECK(!r.ldm);
    CHECK(!r.gateway);
    CHECK_EQ_INT(r.nurls, 0);
    route_info_msg_free(&r);

    /* A string longer than its field reads as empty, never truncated. */
    char big[600];
    int n = snprintf(big, sizeof big, "{\"server_id\":\"%0100d\",\"host\":\"h\"}", 0);
    route_info_msg_t b = {0};
    CHECK_EQ_INT(route_info_parse(big, (size_t)n, &b), 0);
    CHECK_EQ_STR(b.id, "");
    CHECK_EQ_STR(b.host, "h");
    route_info_msg_free(&b);
}

TEST(info_not_an_object)
{
    const char *bad[] = {"", "[]", "{", "{\"server_id\":\"a\"", "{\"a\":1} x", "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        route_info_msg_t r = {0};
        CHECK(route_info_parse(bad[i], strlen(bad[i]), &r) != 0);
        route_info_msg_free(&r);
    }
}

TEST(url_split)
{
    char host[256], user[64], pass[64];
    int port = 0;
    CHECK_EQ_INT(route_url_split("nats-route://ruser:T0PS3cr3T%21@127.0.0.1:6222/", host,
                                 sizeof host, &port, user, sizeof user, pass, sizeof pass),
                 0);
    CHECK_EQ_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 6222);
    CHECK_EQ_STR(user, "ruser");
    CHECK_EQ_STR(pass, "T0PS3cr3T!");

    CHECK_EQ_INT(route_url_split("nats-route://[::1]:7244", host, sizeof host, &port, user,
                                 sizeof user, pass, sizeof pass),
                 0);
    CHECK_EQ_STR(host, "::1");
    CHECK_EQ_INT(port, 7244);
    CHECK_EQ_STR(user, "");
    CHECK_EQ_STR(pass, "");

    /* No port: 4222; no scheme: the text is host:port; user only: no password. */
    CHECK_EQ_INT(
        route_url_split("nats-route://Host.Example/", host, sizeof host, &port, NULL, 0, NULL, 0),
        0);
    CHECK_EQ_STR(host, "Host.Example");
    CHECK_EQ_INT(port, 4222);
    CHECK_EQ_INT(route_url_split("h:5", host, sizeof host, &port, NULL, 0, NULL, 0), 0);
    CHECK_EQ_STR(host, "h");
    CHECK_EQ_INT(port, 5);
    CHECK_EQ_INT(route_url_split("nats-route://u%20x@h:1", host, sizeof host, &port, user,
                                 sizeof user, pass, sizeof pass),
                 0);
    CHECK_EQ_STR(user, "u x");
    CHECK_EQ_STR(pass, "");
    CHECK_EQ_STR(host, "h");

    /* An unclosed IPv6 bracket, or a host part that does not fit, is refused. */
    CHECK_EQ_INT(
        route_url_split("nats-route://[::1:6222", host, sizeof host, &port, NULL, 0, NULL, 0), -1);
    char lng[700];
    memset(lng, 'a', sizeof lng - 1);
    lng[sizeof lng - 1] = 0;
    CHECK_EQ_INT(route_url_split(lng, host, sizeof host, &port, NULL, 0, NULL, 0), -1);
}

TEST(url_redacted)
{
    char out[128];
    route_url_redacted("nats-route://ruser:secret@127.0.0.1:6222/", out, sizeof out);
    CHECK_EQ_STR(out, "nats-route://ruser:xxxxx@127.0.0.1:6222/");
    route_url_redacted("nats-route://127.0.0.1:6222/", out, sizeof out);
    CHECK_EQ_STR(out, "nats-route://127.0.0.1:6222/");
    route_url_redacted("nats-route://ruser@h:1", out, sizeof out);
    CHECK_EQ_STR(out, "nats-route://ruser@h:1");
}

TEST(interest_lines)
{
    char out[128];
    size_t n = route_interest_line(out, sizeof out, S("$G foo.*"), 8, 1, true);
    CHECK_EQ_STR(out, "RS+ $G foo.*\r\n");
    CHECK_EQ_INT(n, strlen(out));
    n = route_interest_line(out, sizeof out, S("$G foo.*"), 8, 0, false);
    CHECK_EQ_STR(out, "RS- $G foo.*\r\n");
    /* A queue key carries its weight (the local member count) on RS+ only. */
    n = route_interest_line(out, sizeof out, S("$G foo bar"), 6, 7, true);
    CHECK_EQ_STR(out, "RS+ $G foo bar 7\r\n");
    CHECK_EQ_INT(n, strlen(out));
    n = route_interest_line(out, sizeof out, S("$G foo bar"), 6, 0, false);
    CHECK_EQ_STR(out, "RS- $G foo bar\r\n");
    /* Another account's name leads its key. */
    n = route_interest_line(out, sizeof out, S("ACME foo bar"), 8, 2, true);
    CHECK_EQ_STR(out, "RS+ ACME foo bar 2\r\n");
    /* Too small: the length it needed, as snprintf. */
    n = route_interest_line(out, 4, S("$G foo bar"), 6, 7, true);
    CHECK_EQ_INT(n, strlen("RS+ $G foo bar 7\r\n"));
    /* A leaf node's interest to an lnoc peer: LS+ with the origin, LS- without it. */
    slice_t lc = {"lc", 2};
    n = route_leaf_interest_line(out, sizeof out, lc, S("$G foo.*"), 8, 1, true);
    CHECK_EQ_STR(out, "LS+ lc $G foo.*\r\n");
    CHECK_EQ_INT(n, strlen(out));
    route_leaf_interest_line(out, sizeof out, lc, S("$G foo bar"), 6, 3, true);
    CHECK_EQ_STR(out, "LS+ lc $G foo bar 3\r\n");
    route_leaf_interest_line(out, sizeof out, lc, S("$G foo bar"), 6, 0, false);
    CHECK_EQ_STR(out, "LS- $G foo bar\r\n");
}

TEST(queue_listed)
{
    CHECK(route_queue_listed(sl("q1 q22\tq3"), sl("q22")));
    CHECK(route_queue_listed(sl("q1 q22\tq3"), sl("q3")));
    CHECK(route_queue_listed(sl(" q1 "), sl("q1")));
    CHECK(!route_queue_listed(sl("q1 q22"), sl("q2")));
    CHECK(!route_queue_listed(sl("q1 q22"), sl("q")));
    CHECK(!route_queue_listed(sl("q1"), sl("")));
    CHECK(!route_queue_listed((slice_t){NULL, 0}, sl("q1")));
}

int main(void)
{
    RUN(info_members);
    RUN(connect_members);
    RUN(info_wrong_types_and_sizes);
    RUN(info_not_an_object);
    RUN(url_split);
    RUN(url_redacted);
    RUN(interest_lines);
    RUN(queue_listed);
    return test_summary();
}
