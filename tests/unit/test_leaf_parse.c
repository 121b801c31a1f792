/* test_leaf_parse.c: unit tests for src/proto/leaf_parse.c, a leaf connection's
 * texts without server state (docs/leafnodes.md §3): the spoke's CONNECT and the
 * hub's INFO as JSON, and a credentials file's JWT and seed. The operations
 * (LS+/LS-/LMSG) are test_parser.c's (parse_op in PARSE_LEAF mode). */
#include "test.h"
#include "proto/leaf_parse.h"
#include "proto/route_parse.h"

#include <stdio.h>
#include <string.h>

#define S(lit) lit, sizeof(lit) - 1

TEST(connect_members)
{
    static const char conn[] =
        "{\"version\":\"2.9.10\",\"jwt\":\"eyJ0\",\"sig\":\"c2ln\",\"user\":\"u\",\"pass\":\"p\","
        "\"tls_required\":false,\"server_id\":\"NID\",\"name\":\"n1\",\"cluster\":\"c1\","
        "\"headers\":true,\"unknown\":[1,2]}";
    leaf_connect_t c;
    CHECK_EQ_INT(leaf_connect_parse(S(conn), &c), 0);
    CHECK_EQ_STR(c.jwt, "eyJ0");
    CHECK_EQ_STR(c.sig, "c2ln");
    CHECK_EQ_STR(c.user, "u");
    CHECK_EQ_STR(c.pass, "p");
    CHECK_EQ_STR(c.server_id, "NID");
    CHECK_EQ_STR(c.name, "n1");
    CHECK_EQ_STR(c.cluster, "c1");
    CHECK(c.headers);
    CHECK(!c.has_lang);
    CHECK(!c.hub);
    /* a client's CONNECT: it has a lang */
    CHECK_EQ_INT(leaf_connect_parse(S("{\"lang\":\"go\",\"is_hub\":true,\"gateway\":\"g\"}"), &c),
                 0);
    CHECK(c.has_lang);
    CHECK(c.hub);
    CHECK_EQ_STR(c.gateway, "g");
    /* wrong types read as absent; not an object is an error */
    CHECK_EQ_INT(leaf_connect_parse(S("{\"name\":3,\"headers\":\"yes\",\"lang\":\"\"}"), &c), 0);
    CHECK_EQ_STR(c.name, "");
    CHECK(!c.headers);
    CHECK(!c.has_lang);
    CHECK_EQ_INT(leaf_connect_parse(S("[1]"), &c), -1);
    CHECK_EQ_INT(leaf_connect_parse(S("{\"name\":"), &c), -1);
}

TEST(info_members)
{
    static const char info[] =
        "{\"server_id\":\"NID\",\"server_name\":\"hub\",\"version\":\"2.9.10\",\"proto\":1,"
        "\"host\":\"127.0.0.1\",\"port\":7422,\"headers\":true,\"auth_required\":true,"
        "\"max_payload\":1048576,\"ip\":\"127.0.0.1:7422\",\"client_id\":42,\"nonce\":\"abc\","
        "\"cluster\":\"hc\",\"info_on_connect\":true,\"connect_info\":true,"
        "\"leafnode_urls\":[\"127.0.0.1:7422\",\"[::1]:7423\",5],\"remote_account\":\"$G\"}";
    leaf_info_msg_t ii;
    CHECK_EQ_INT(leaf_info_parse(S(info), &ii), 0);
    CHECK_EQ_STR(ii.id, "NID");
    CHECK_EQ_STR(ii.name, "hub");
    CHECK_EQ_STR(ii.cluster, "hc");
    CHECK_EQ_STR(ii.nonce, "abc");
    CHECK_EQ_INT(ii.cid, 42);
    CHECK(ii.has_urls);
    CHECK_EQ_INT(ii.nurls, 2);
    CHECK_EQ_STR(ii.urls[0], "127.0.0.1:7422");
    CHECK_EQ_STR(ii.urls[1], "[::1]:7423");
    CHECK(ii.headers && ii.info_on_connect && ii.connect_info && !ii.tls_required);
    /* no client_id or leafnode_urls: a port that is not a leafnode port */
    CHECK_EQ_INT(leaf_info_parse(S("{\"server_id\":\"X\",\"client_id\":\"7\"}"), &ii), 0);
    CHECK_EQ_INT(ii.cid, 0);
    CHECK(!ii.has_urls);
    /* more URLs than kept: the first LEAF_INFO_URLS */
    char big[4096] = "{\"leafnode_urls\":[";
    for (int i = 0; i < LEAF_INFO_URLS + 4; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"h%d:1\"", i ? "," : "", i);
    strcat(big, "]}");
    CHECK_EQ_INT(leaf_info_parse(big, strlen(big), &ii), 0);
    CHECK_EQ_INT(ii.nurls, LEAF_INFO_URLS);
    CHECK_EQ_STR(ii.urls[LEAF_INFO_URLS - 1], "h15:1");
}

TEST(creds)
{
    static const char creds[] = "-----BEGIN NATS USER JWT-----\n"
                                "eyJhbGciOi.payload.sig\n"
                                "------END NATS USER JWT------\n"
                                "\n"
                                "************************* IMPORTANT *************************\n"
                                "NKEY Seed printed below can be used to sign and prove identity.\n"
                                "\n"
                                "-----BEGIN USER NKEY SEED-----\n"
                                "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n"
                                "------END USER NKEY SEED------\n";
    char jwt[256], seed[128];
    CHECK_EQ_INT(leaf_creds_parse(S(creds), jwt, sizeof jwt, seed, sizeof seed), 0);
    CHECK_EQ_STR(jwt, "eyJhbGciOi.payload.sig");
    CHECK_EQ_STR(seed, "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4");
    /* indented, as a test writes it; CRLF line ends */
    static const char indented[] = "\t\t-----BEGIN NATS USER JWT-----\r\n\t\tJ.W.T\r\n"
                                   "\t\t------END NATS USER JWT------\r\n\r\n"
                                   "\t\t-----BEGIN USER NKEY SEED-----\r\n\t\tSUSEED\r\n"
                                   "\t\t------END USER NKEY SEED------\r\n";
    CHECK_EQ_INT(leaf_creds_parse(S(indented), jwt, sizeof jwt, seed, sizeof seed), 0);
    CHECK_EQ_STR(jwt, "J.W.T");
    CHECK_EQ_STR(seed, "SUSEED");
    /* missing the seed, or a JWT that does not fit */
    CHECK_EQ_INT(
        leaf_creds_parse(S("-----A-----\nJ\n-----B-----\n"), jwt, sizeof jwt, seed, sizeof seed),
        -1);
    CHECK_EQ_INT(leaf_creds_parse(S(creds), jwt, 5, seed, sizeof seed), -1);
    CHECK_EQ_INT(leaf_creds_parse(S(""), jwt, sizeof jwt, seed, sizeof seed), -1);
}

TEST(route_info_leafnode_urls)
{
    route_info_msg_t r = {0};
    CHECK_EQ_INT(
        route_info_parse(S("{\"server_id\":\"N\",\"leafnode_urls\":[\"a:1\",\"b:2\"]}"), &r), 0);
    CHECK_EQ_INT(r.nlurls, 2);
    CHECK_EQ_STR(r.lurls[1], "b:2");
    route_info_msg_free(&r);
}

int main(void)
{
    RUN(connect_members);
    RUN(info_members);
    RUN(creds);
    RUN(route_info_leafnode_urls);
    return test_summary();
}
