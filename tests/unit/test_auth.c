/* test_auth.c: authentication (token, single user, users list, no_auth_user,
 * connection types) and authorization (publish/subscribe allow and deny with
 * queue patterns, delivery filtering, allow_responses) of nats/auth.c, on
 * options loaded from config texts. Only verdicts that send nothing are
 * asked here (a denied publish or SUB writes -ERR through a worker: the
 * integration tests cover those, test_authorization.py). bcrypt secrets go
 * to the auth pool and come back through a worker: test_auth.py. */
#include "nats/auth.h"
#include "base/qsbr.h"
#include "conf/opts.h"
#include "test.h"
#include "test_conf_load.h"

#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];
static opts_t opts;
static server_t server;

/* Loads config text as the running options (srv->opts). */
static int load(const char *text)
{
    opts_free(&opts);
    return test_conf_load(tmpdir, "auth.conf", text, &opts, &server);
}

static conn_t *conn_new(void)
{
    conn_t *c = calloc(1, sizeof *c);
    snprintf(c->prefix, sizeof c->prefix, "127.0.0.1:1 - cid:1 - ");
    return c;
}

static void conn_done(conn_t *c)
{
    auth_conn_closed(c);
    auth_conn_free(c);
    free(c->user);
    free(c);
}

static slice_t S(const char *s)
{
    return (slice_t){s, s ? strlen(s) : 0};
}

TEST(no_auth_configured)
{
    CHECK_EQ_INT(load("port: 4222\n"), 0);
    CHECK(!auth_required());
    conn_t *c = conn_new();
    CHECK_EQ_INT(auth_check(c, NULL, NULL, NULL, true), AUTH_OK);
    CHECK_EQ_INT(auth_check(c, "any", "thing", "tok", true), AUTH_OK);
    CHECK(c->user == NULL);
    CHECK(auth_sub_allowed(c, S("anything.>"), S("")));
    CHECK(auth_can_deliver(c, S("a"), S("r")));
    CHECK(auth_can_publish(NULL, c, S("a.b")));
    CHECK(auth_user_exists("nobody"));
    conn_done(c);
}

TEST(token)
{
    CHECK_EQ_INT(load("authorization { token: s3cr3t }\n"), 0);
    CHECK(auth_required());
    conn_t *c = conn_new();
    CHECK_EQ_INT(auth_check(c, NULL, NULL, "s3cr3t", true), AUTH_OK);
    CHECK_EQ_INT(auth_check(c, NULL, NULL, "s3cr3", true), AUTH_FAIL);
    CHECK_EQ_INT(auth_check(c, NULL, NULL, "s3cr3tt", true), AUTH_FAIL);
    CHECK_EQ_INT(auth_check(c, "u", "s3cr3t", NULL, true), AUTH_FAIL);
    CHECK_EQ_INT(auth_check(c, NULL, NULL, NULL, true), AUTH_FAIL);
    conn_done(c);
}

TEST(single_user)
{
    CHECK_EQ_INT(load("authorization { user: admin, password: \"p w\" }\n"), 0);
    CHECK(auth_required());
    conn_t *c = conn_new();
    CHECK_EQ_INT(auth_check(c, "admin", "p w", NULL, true), AUTH_OK);
    CHECK_EQ_STR(c->user, "admin");
    CHECK_EQ_INT(auth_check(c, "admin", "p", NULL, true), AUTH_FAIL);
    CHECK_EQ_INT(auth_check(c, "Admin", "p w", NULL, true), AUTH_FAIL);
    CHECK_EQ_INT(auth_check(c, NULL, "p w", NULL, true), AUTH_FAIL);
    CHECK_EQ_INT(auth_check(c, "admin", NULL, NULL, true), AUTH_FAIL);
    /* no users list: a reload never "loses" the single user */
    CHECK(auth_user_exists("someone else"));
    conn_done(c);
}

static const char *users_conf =
    "authorization {\n"
    "  default_permissions: { publish: \"pub.default\" }\n"
    "  users = [\n"
    "    { user: alice, password: a1,\n"
    "      permissions: { publish: { allow: [\"req.>\", \"x\"], deny: \"req.secret\" },\n"
    "                     subscribe: { allow: [\"foo.*\", \"q.> grp.*\", \"both\"],\n"
    "                                  deny: [\"foo.secret\", \"both bad\"] } } }\n"
    "    { user: bob, password: b2, permissions: { allow_responses: true } }\n"
    "    { user: svc, password: s3,\n"
    "      permissions: { publish: \"svc.>\", allow_responses: { max: 2, expires: \"1m\" } } }\n"
    "    { user: dflt, password: d4 }\n"
    "    { user: web, password: w5, allowed_connection_types: [\"WEBSOCKET\"] }\n"
    "  ]\n"
    "}\n"
    "no_auth_user: dflt\n";

TEST(users_list_login)
{
    CHECK_EQ_INT(load(users_conf), 0);
    CHECK(auth_required());
    conn_t *c = conn_new();
    CHECK_EQ_INT(auth_check(c, "alice", "a1", NULL, true), AUTH_OK);
    CHECK_EQ_STR(c->user, "alice");
    CHECK_EQ_INT(auth_check(c, "alice", "b2", NULL, true), AUTH_FAIL);
    CHECK_EQ_INT(auth_check(c, "carol", "a1", NULL, true), AUTH_FAIL);
    /* a user whose connection types leave out STANDARD cannot use the client port */
    CHECK_EQ_INT(auth_check(c, "web", "w5", NULL, true), AUTH_FAIL);
    CHECK(auth_user_exists("alice"));
    CHECK(!auth_user_exists("carol"));
    CHECK(auth_user_exists(NULL));
    conn_done(c);

    /* no credentials at all: the no_auth_user, with the default permissions */
    c = conn_new();
    CHECK_EQ_INT(auth_check(c, NULL, NULL, NULL, true), AUTH_OK);
    CHECK_EQ_STR(c->user, "dflt");
    CHECK(auth_can_publish(NULL, c, S("pub.default")));
    conn_done(c);
    c = conn_new();
    CHECK(auth_login_no_auth_user(c));
    CHECK_EQ_STR(c->user, "dflt");
    auth_conn_clear(c);
    CHECK(auth_sub_allowed(c, S("anything"), S("")));
    conn_done(c);
}

TEST(subscribe_permissions)
{
    CHECK_EQ_INT(load(users_conf), 0);
    conn_t *c = conn_new();
    CHECK_EQ_INT(auth_check(c, "alice", "a1", NULL, true), AUTH_OK);
    CHECK(auth_sub_allowed(c, S("foo.bar"), S("")));
    CHECK(!auth_sub_allowed(c, S("foo.secret"), S("")));
    CHECK(!auth_sub_allowed(c, S("foo"), S("")));
    CHECK(!auth_sub_allowed(c, S("foo.a.b"), S("")));
    /* the SUB's tokens are taken literally, as the reference's sublist match does:
     * "foo.*" covers "foo.*" and "foo.>" (two tokens), not "foo.>.x" */
    CHECK(auth_sub_allowed(c, S("foo.*"), S("")));
    CHECK(auth_sub_allowed(c, S("foo.>"), S("")));
    CHECK(!auth_sub_allowed(c, S("foo.>.x"), S("")));
    /* queue patterns: "q.> grp.*" admits only those queue groups */
    CHECK(auth_sub_allowed(c, S("q.a"), S("grp.1")));
    CHECK(!auth_sub_allowed(c, S("q.a"), S("other")));
    CHECK(!auth_sub_allowed(c, S("q.a"), S("")));
    /* "both" is allowed plain, its queue "bad" is denied */
    CHECK(auth_sub_allowed(c, S("both"), S("")));
    CHECK(auth_sub_allowed(c, S("both"), S("good")));
    CHECK(!auth_sub_allowed(c, S("both"), S("bad")));
    /* the system queue is never allowed */
    CHECK(!auth_sub_allowed(c, S("foo.bar"), S("_sys_")));
    /* delivery: the deny list filters what a wildcard subscription would get */
    CHECK(auth_can_deliver(c, S("foo.bar"), S("")));
    CHECK(!auth_can_deliver(c, S("foo.secret"), S("")));
    conn_done(c);
}

TEST(publish_permissions_allowed)
{
    CHECK_EQ_INT(load(users_conf), 0);
    conn_t *c = conn_new();
    CHECK_EQ_INT(auth_check(c, "alice", "a1", NULL, true), AUTH_OK);
    CHECK(auth_can_publish(NULL, c, S("req.a")));
    CHECK(auth_can_publish(NULL, c, S("req.a.b")));
    CHECK(auth_can_publish(NULL, c, S("x")));
    conn_done(c);
}

/* allow_responses: a reply subject delivered to the connection may be published to,
 * max times; other subjects stay closed (responses only). */
TEST(allow_responses)
{
    CHECK_EQ_INT(load(users_conf), 0);
    conn_t *c = conn_new();
    CHECK_EQ_INT(auth_check(c, "svc", "s3", NULL, true), AUTH_OK);
    CHECK(auth_can_publish(NULL, c, S("svc.a")));
    CHECK(auth_can_deliver(c, S("svc.req"), S("_INBOX.r1")));
    CHECK(auth_can_deliver(c, S("svc.req"), S("_INBOX.r2")));
    CHECK(auth_can_publish(NULL, c, S("_INBOX.r1")));
    CHECK(auth_can_publish(NULL, c, S("_INBOX.r1"))); /* max: 2 */
    CHECK(auth_can_publish(NULL, c, S("_INBOX.r2")));
    conn_done(c);

    c = conn_new();
    CHECK_EQ_INT(auth_check(c, "bob", "b2", NULL, true), AUTH_OK);
    /* many replies: the map stays bounded, the newest are still there */
    char subj[32];
    for (int i = 0; i < RESP_MAX_ENTRIES + 100; i++) {
        snprintf(subj, sizeof subj, "_INBOX.%d", i);
        CHECK(auth_can_deliver(c, S("req"), S(subj)));
    }
    snprintf(subj, sizeof subj, "_INBOX.%d", RESP_MAX_ENTRIES + 99);
    CHECK(auth_can_publish(NULL, c, S(subj)));
    snprintf(subj, sizeof subj, "_INBOX.%d", 200);
    CHECK(auth_can_publish(NULL, c, S(subj)));
    conn_done(c);
}

/* A reload that changes the permissions replaces the set; readers keep the old one
 * until their quiescent point (qsbr). */
TEST(permissions_replaced)
{
    CHECK_EQ_INT(load(users_conf), 0);
    conn_t *c = conn_new();
    CHECK_EQ_INT(auth_check(c, "alice", "a1", NULL, true), AUTH_OK);
    CHECK(!auth_sub_allowed(c, S("bar"), S("")));
    CHECK_EQ_INT(auth_check(c, "dflt", "d4", NULL, false), AUTH_OK);
    CHECK(auth_sub_allowed(c, S("bar"), S("")));
    qsbr_quiescent();
    conn_done(c);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gnatsd-test-auth.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    qsbr_register();
    RUN(no_auth_configured);
    RUN(token);
    RUN(single_user);
    RUN(users_list_login);
    RUN(subscribe_permissions);
    RUN(publish_permissions_allowed);
    RUN(allow_responses);
    RUN(permissions_replaced);
    opts_free(&opts);
    qsbr_drain_all();
    char path[128];
    snprintf(path, sizeof path, "%s/auth.conf", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return test_summary();
}
