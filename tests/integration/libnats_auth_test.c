/*
 * libnats_auth_test: authentication and authorization seen through the
 * official NATS C client (test_auth.py / test_authorization.py drive it).
 *
 *   libnats_auth_test URL userpass USER PASS   single user / users entry
 *   libnats_auth_test URL token TOKEN          token auth
 *   libnats_auth_test URL none                 no auth configured
 *   libnats_auth_test URL seed                 the seed README's ADMIN /
 *                                              REQUESTOR / RESPONDER / DEFAULT
 *                                              users (joe, alice, bob, charlie)
 *   libnats_auth_test URL reload USER OLDPASS NEWPASS KEEPUSER KEEPPASS
 *       connects USER/OLDPASS and KEEPUSER (subscribed to "keep.>"), prints
 *       "ready", waits for a line on stdin (the driver rewrote the config and
 *       sent SIGHUP), then checks: the old-password client was closed with
 *       an authorization error, USER/NEWPASS can connect and OLDPASS cannot,
 *       and KEEPUSER is still connected and receives.
 *
 * URL is nats://127.0.0.1:PORT (no credentials). Each test prints "ok NAME"
 * or "FAIL NAME: why"; the last line is "N passed, N failed"; exit status 1
 * when anything failed. A watchdog alarm bounds the run.
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
 *            -o libnats_auth_test libnats_auth_test.c -lnats -lpthread
 */
#include <nats/nats.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libnats_check.h"

static const char *g_url;
static int g_pass, g_fail;

static void run(const char *name, bool (*fn)(void))
{
    g_why[0] = 0;
    bool ok = fn();
    if (ok && g_why[0] == 0) {
        printf("ok %s\n", name);
        g_pass++;
    } else {
        printf("FAIL %s: %s\n", name, g_why[0] ? g_why : "failed");
        g_fail++;
    }
    fflush(stdout);
}

/* ---- connection state shared with callbacks ---------------------------- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char last_err[512];
    int nerr;
    bool closed;
    int msgs;
} state_t;

static void state_init(state_t *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
}

/* States are never freed: libnats runs the closed/error callbacks on its own
 * thread, possibly after natsConnection_Destroy returned. */
static state_t *state_new(void)
{
    state_t *s = malloc(sizeof *s);
    if (!s) abort();
    state_init(s);
    return s;
}

static void on_err(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)sub;
    state_t *s = closure;
    const char *txt = NULL;
    natsConnection_GetLastError(nc, &txt);
    pthread_mutex_lock(&s->mu);
    snprintf(s->last_err, sizeof s->last_err, "%s|%s", natsStatus_GetText(err), txt ? txt : "");
    s->nerr++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    state_t *s = closure;
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void on_count(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    state_t *s = closure;
    pthread_mutex_lock(&s->mu);
    s->msgs++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    natsMsg_Destroy(msg);
}

/* Wait until *field reaches want (or ms elapse); returns the final value. */
static int wait_int(state_t *s, int *field, int want, int ms)
{
    int64_t deadline = nats_Now() + ms;
    pthread_mutex_lock(&s->mu);
    while (*field < want && nats_Now() < deadline) {
        pthread_mutex_unlock(&s->mu);
        nats_Sleep(10);
        pthread_mutex_lock(&s->mu);
    }
    int v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static bool wait_closed(state_t *s, int ms)
{
    int64_t deadline = nats_Now() + ms;
    bool c;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        c = s->closed;
        pthread_mutex_unlock(&s->mu);
        if (c || nats_Now() >= deadline) return c;
        nats_Sleep(10);
    }
}

/* Connect with user/pass (NULL: none) or token; no reconnects. */
static natsStatus dial(natsConnection **nc, const char *url, const char *user, const char *pass,
                       const char *token, state_t *st)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, url);
    if (s == NATS_OK && (user || pass)) s = natsOptions_SetUserInfo(o, user, pass);
    if (s == NATS_OK && token) s = natsOptions_SetToken(o, token);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 3000);
    if (s == NATS_OK && st) s = natsOptions_SetErrorHandler(o, on_err, st);
    if (s == NATS_OK && st) s = natsOptions_SetClosedCB(o, on_closed, st);
    if (s == NATS_OK) s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

/* URL with userinfo inserted: nats://INFO@host:port */
static void url_with(char *out, size_t n, const char *info)
{
    const char *p = strstr(g_url, "://");
    const char *hostport = p ? p + 3 : g_url;
    snprintf(out, n, "nats://%s@%s", info, hostport);
}

/* Publish on a fresh subject and receive it back on the same connection. */
static bool roundtrip(natsConnection *nc, const char *subj)
{
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    bool ok = false;
    CHECK_S(natsConnection_SubscribeSync(&sub, nc, subj));
    CHECK_S(natsConnection_Flush(nc));
    CHECK_S(natsConnection_PublishString(nc, subj, "hello"));
    CHECK_S(natsSubscription_NextMsg(&m, sub, 2000));
    CHECK(strcmp(natsMsg_GetData(m), "hello") == 0, "payload %s", natsMsg_GetData(m));
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    return ok;
}

static bool expect_auth_fail(natsStatus s, const char *what)
{
    if (s == NATS_OK) return fail("%s: connected, expected an authorization failure", what);
    const char *txt = nats_GetLastError(NULL);
    /* libnats maps -ERR 'Authorization Violation' to NATS_CONNECTION_AUTH_FAILED
     * (older versions: NATS_NOT_PERMITTED / NATS_ERR with the text) */
    if (s != NATS_CONNECTION_AUTH_FAILED && s != NATS_NOT_PERMITTED &&
        !(txt && strcasestr(txt, "authorization violation")))
        return fail("%s: status %s (%s), expected an authorization failure", what,
                    natsStatus_GetText(s), txt ? txt : "");
    return true;
}

/* ---- mode: userpass / token / none --------------------------------------- */

static const char *a_user, *a_pass, *a_token;

static bool t_right_secret(void)
{
    natsConnection *nc = NULL;
    bool ok = false;
    CHECK_S(dial(&nc, g_url, a_user, a_pass, a_token, NULL));
    ok = roundtrip(nc, "auth.right");
out:
    natsConnection_Destroy(nc);
    return ok;
}

static bool t_url_userinfo(void)
{
    natsConnection *nc = NULL;
    bool ok = false;
    char url[512], info[256];
    if (a_token)
        snprintf(info, sizeof info, "%s", a_token);
    else
        snprintf(info, sizeof info, "%s:%s", a_user, a_pass);
    url_with(url, sizeof url, info);
    CHECK_S(dial(&nc, url, NULL, NULL, NULL, NULL));
    ok = roundtrip(nc, "auth.url");
out:
    natsConnection_Destroy(nc);
    return ok;
}

static bool t_wrong_secret(void)
{
    natsConnection *nc = NULL;
    char bad[256];
    snprintf(bad, sizeof bad, "%sX", a_token ? a_token : a_pass);
    natsStatus s = a_token ? dial(&nc, g_url, NULL, NULL, bad, NULL)
                           : dial(&nc, g_url, a_user, bad, NULL, NULL);
    natsConnection_Destroy(nc);
    return expect_auth_fail(s, "wrong secret");
}

static bool t_wrong_user(void)
{
    natsConnection *nc = NULL;
    char bad[256];
    snprintf(bad, sizeof bad, "%sX", a_user);
    natsStatus s = dial(&nc, g_url, bad, a_pass, NULL, NULL);
    natsConnection_Destroy(nc);
    return expect_auth_fail(s, "wrong user");
}

static bool t_no_credentials(void)
{
    natsConnection *nc = NULL;
    natsStatus s = dial(&nc, g_url, NULL, NULL, NULL, NULL);
    natsConnection_Destroy(nc);
    return expect_auth_fail(s, "no credentials");
}

static bool t_other_kind(void)
{
    /* token server: user/pass carrying the token fail; user server: a token fails */
    natsConnection *nc = NULL;
    natsStatus s = a_token ? dial(&nc, g_url, a_token, a_token, NULL, NULL)
                           : dial(&nc, g_url, NULL, NULL, a_pass, NULL);
    natsConnection_Destroy(nc);
    return expect_auth_fail(s, "other credential kind");
}

static bool t_none_any_creds(void)
{
    /* no auth configured: credentials are ignored */
    natsConnection *nc = NULL;
    bool ok = false;
    CHECK_S(dial(&nc, g_url, "someone", "whatever", NULL, NULL));
    ok = roundtrip(nc, "auth.none");
out:
    natsConnection_Destroy(nc);
    return ok;
}

/* ---- mode: seed ----------------------------------------------------------- */

#define SEED_PASS "abcdefghijklmnopqrstuvwxwz0123456789"

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    state_t *s = closure;
    if (natsMsg_GetReply(msg)) {
        char buf[256];
        snprintf(buf, sizeof buf, "re:%s", natsMsg_GetData(msg));
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), buf);
    }
    pthread_mutex_lock(&s->mu);
    s->msgs++;
    pthread_mutex_unlock(&s->mu);
    natsMsg_Destroy(msg);
}

static bool t_seed_request_reply(void)
{
    natsConnection *alice = NULL, *bob = NULL;
    natsSubscription *sa = NULL, *sb = NULL;
    natsMsg *r = NULL;
    state_t *sta = state_new();
    state_t *stb = state_new();
    bool ok = false;
    CHECK_S(dial(&bob, g_url, "bob", SEED_PASS, NULL, stb));
    CHECK_S(natsConnection_Subscribe(&sa, bob, "req.a", on_reply, stb));
    CHECK_S(natsConnection_Subscribe(&sb, bob, "req.b", on_reply, stb));
    CHECK_S(natsConnection_Flush(bob));
    CHECK_S(dial(&alice, g_url, "alice", "bar", NULL, sta));
    CHECK_S(natsConnection_RequestString(&r, alice, "req.a", "one", 3000));
    CHECK(strcmp(natsMsg_GetData(r), "re:one") == 0, "reply %s", natsMsg_GetData(r));
    natsMsg_Destroy(r);
    r = NULL;
    CHECK_S(natsConnection_RequestString(&r, alice, "req.b", "two", 3000));
    CHECK(strcmp(natsMsg_GetData(r), "re:two") == 0, "reply %s", natsMsg_GetData(r));
    /* old-style request (explicit inbox subscription) too */
    {
        char inbox[128];
        natsInbox *ib = NULL;
        natsSubscription *is = NULL;
        natsMsg *m = NULL;
        CHECK_S(natsInbox_Create(&ib));
        snprintf(inbox, sizeof inbox, "%s", (const char *)ib);
        natsInbox_Destroy(ib);
        CHECK_S(natsConnection_SubscribeSync(&is, alice, inbox));
        CHECK_S(natsConnection_PublishRequestString(alice, "req.a", inbox, "three"));
        natsStatus s = natsSubscription_NextMsg(&m, is, 3000);
        bool got = s == NATS_OK && strcmp(natsMsg_GetData(m), "re:three") == 0;
        natsMsg_Destroy(m);
        natsSubscription_Destroy(is);
        CHECK(got, "no reply on the explicit inbox %s (%s)", inbox, natsStatus_GetText(s));
    }
    CHECK(sta->nerr == 0 && stb->nerr == 0, "unexpected async errors: alice %s / bob %s",
          sta->last_err, stb->last_err);
    ok = true;
out:
    natsMsg_Destroy(r);
    natsSubscription_Destroy(sa);
    natsSubscription_Destroy(sb);
    natsConnection_Destroy(alice);
    natsConnection_Destroy(bob);
    return ok;
}

/* A publish the user may not do: async error "Permissions Violation for
 * Publish to ..." while the connection stays usable; nothing delivered. */
static bool denied_publish(const char *user, const char *pass, const char *subj)
{
    natsConnection *nc = NULL, *joe = NULL;
    natsSubscription *watch = NULL;
    state_t *st = state_new();
    state_t *sj = state_new();
    bool ok = false;
    char want[256];
    snprintf(want, sizeof want, "Permissions Violation for Publish to \"%s\"", subj);
    CHECK_S(dial(&joe, g_url, "joe", "foo", NULL, sj));
    CHECK_S(natsConnection_Subscribe(&watch, joe, subj, on_count, sj));
    CHECK_S(natsConnection_Flush(joe));
    CHECK_S(dial(&nc, g_url, user, pass, NULL, st));
    CHECK_S(natsConnection_PublishString(nc, subj, "x"));
    natsConnection_Flush(nc);
    CHECK(wait_int(st, &st->nerr, 1, 3000) >= 1, "%s: no async error for publish to %s", user,
          subj);
    CHECK(strstr(st->last_err, want) != NULL, "%s: error %s, want %s", user, st->last_err, want);
    CHECK(!natsConnection_IsClosed(nc), "%s: connection closed after a publish violation", user);
    CHECK_S(natsConnection_Flush(nc));
    CHECK_S(natsConnection_Flush(joe));
    CHECK(wait_int(sj, &sj->msgs, 1, 300) == 0, "denied message to %s was delivered", subj);
    ok = true;
out:
    natsSubscription_Destroy(watch);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(joe);
    return ok;
}

static bool denied_subscribe(const char *user, const char *pass, const char *subj)
{
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    state_t *st = state_new();
    bool ok = false;
    char want[256];
    snprintf(want, sizeof want, "Permissions Violation for Subscription to \"%s\"", subj);
    CHECK_S(dial(&nc, g_url, user, pass, NULL, st));
    CHECK_S(natsConnection_SubscribeSync(&sub, nc, subj));
    natsConnection_Flush(nc);
    CHECK(wait_int(st, &st->nerr, 1, 3000) >= 1, "%s: no async error for sub %s", user, subj);
    CHECK(strstr(st->last_err, want) != NULL, "%s: error %s, want %s", user, st->last_err, want);
    CHECK(!natsConnection_IsClosed(nc), "%s: closed after a subscription violation", user);
    CHECK_S(natsConnection_Flush(nc));
    ok = true;
out:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return ok;
}

static bool allowed_pubsub(const char *user, const char *pass, const char *subsubj,
                           const char *pubsubj)
{
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    state_t *st = state_new();
    bool ok = false;
    CHECK_S(dial(&nc, g_url, user, pass, NULL, st));
    CHECK_S(natsConnection_SubscribeSync(&sub, nc, subsubj));
    CHECK_S(natsConnection_Flush(nc));
    CHECK_S(natsConnection_PublishString(nc, pubsubj, "p"));
    CHECK_S(natsSubscription_NextMsg(&m, sub, 2000));
    CHECK(st->nerr == 0, "%s: unexpected async error %s", user, st->last_err);
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return ok;
}

static bool t_seed_admin(void)
{
    return allowed_pubsub("joe", "foo", ">", "any.thing.at.all");
}

/* `from` publishes pubsubj, `to` (subscribed to subsubj) receives it. */
static bool cross(const char *to, const char *topass, const char *subsubj, const char *from,
                  const char *frompass, const char *pubsubj)
{
    natsConnection *a = NULL, *b = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    state_t *sa = state_new();
    state_t *sb = state_new();
    bool ok = false;
    CHECK_S(dial(&a, g_url, to, topass, NULL, sa));
    CHECK_S(natsConnection_SubscribeSync(&sub, a, subsubj));
    CHECK_S(natsConnection_Flush(a));
    CHECK_S(dial(&b, g_url, from, frompass, NULL, sb));
    CHECK_S(natsConnection_PublishString(b, pubsubj, "c"));
    CHECK_S(natsConnection_Flush(b));
    CHECK_S(natsSubscription_NextMsg(&m, sub, 2000));
    CHECK(strcmp(natsMsg_GetSubject(m), pubsubj) == 0, "subject %s", natsMsg_GetSubject(m));
    CHECK(sa->nerr == 0 && sb->nerr == 0, "unexpected async errors: %s / %s", sa->last_err,
          sb->last_err);
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(a);
    natsConnection_Destroy(b);
    return ok;
}

/* charlie has no permissions of his own: DEFAULT (publish SANDBOX.*,
 * subscribe PUBLIC.> and _INBOX.>) */
static bool t_seed_default_allowed(void)
{
    return cross("joe", "foo", "SANDBOX.>", "charlie", "bar", "SANDBOX.box") &&
           cross("charlie", "bar", "PUBLIC.>", "joe", "foo", "PUBLIC.news.today") &&
           cross("charlie", "bar", "_INBOX.charlie", "joe", "foo", "_INBOX.charlie");
}
static bool t_seed_default_denied(void)
{
    return denied_publish("charlie", "bar", "PUBLIC.news") &&
           denied_publish("charlie", "bar", "SANDBOX.a.b") &&
           denied_subscribe("charlie", "bar", "SANDBOX.x") &&
           denied_subscribe("charlie", "bar", ">");
}
static bool t_seed_requestor_denied(void)
{
    return denied_publish("alice", "bar", "req.c") && denied_publish("alice", "bar", "_INBOX.x") &&
           denied_subscribe("alice", "bar", "req.a");
}
static bool t_seed_responder_denied(void)
{
    return denied_publish("bob", SEED_PASS, "req.a") &&
           denied_subscribe("bob", SEED_PASS, "_INBOX.>") &&
           denied_subscribe("bob", SEED_PASS, "req.*");
}
static bool t_seed_wrong_password(void)
{
    natsConnection *nc = NULL;
    /* charlie's password is bar; bob's is the variable $PASS */
    natsStatus s = dial(&nc, g_url, "bob", "bar", NULL, NULL);
    natsConnection_Destroy(nc);
    if (!expect_auth_fail(s, "bob with bar")) return false;
    s = dial(&nc, g_url, "dave", "bar", NULL, NULL);
    natsConnection_Destroy(nc);
    return expect_auth_fail(s, "unknown user dave");
}

/* ---- mode: reload --------------------------------------------------------- */

static const char *r_user, *r_old, *r_new, *r_keep, *r_keeppass;

static int mode_reload(void)
{
    natsConnection *old = NULL, *keep = NULL, *fresh = NULL, *again = NULL;
    natsSubscription *ks = NULL;
    state_t *so = state_new();
    state_t *sk = state_new();
    char line[64];
    natsStatus s;

    g_why[0] = 0;
    if ((s = dial(&old, g_url, r_user, r_old, NULL, so)) != NATS_OK ||
        (s = dial(&keep, g_url, r_keep, r_keeppass, NULL, sk)) != NATS_OK ||
        (s = natsConnection_Subscribe(&ks, keep, "keep.>", on_count, sk)) != NATS_OK ||
        (s = natsConnection_Flush(keep)) != NATS_OK) {
        printf("FAIL reload_setup: %s %s\n", natsStatus_GetText(s),
               nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
        g_fail++;
        goto out;
    }
    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) {
        printf("FAIL reload_wait: no go line on stdin\n");
        g_fail++;
        goto out;
    }

    /* old-password client is closed with an authorization error */
    if (wait_closed(so, 5000)) {
        const char *txt = NULL;
        natsStatus le = natsConnection_GetLastError(old, &txt);
        if (le != NATS_OK && txt && strcasestr(txt, "authorization violation")) {
            printf("ok reload_old_password_closed\n");
            g_pass++;
        } else {
            printf("FAIL reload_old_password_closed: last error %s %s\n", natsStatus_GetText(le),
                   txt ? txt : "");
            g_fail++;
        }
    } else {
        printf("FAIL reload_old_password_closed: still connected 5 s after the reload\n");
        g_fail++;
    }

    s = dial(&fresh, g_url, r_user, r_new, NULL, NULL);
    if (s == NATS_OK && natsConnection_PublishString(fresh, "keep.it", "k") == NATS_OK &&
        natsConnection_Flush(fresh) == NATS_OK) {
        printf("ok reload_new_password_works\n");
        g_pass++;
    } else {
        printf("FAIL reload_new_password_works: %s %s\n", natsStatus_GetText(s),
               nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
        g_fail++;
    }

    g_why[0] = 0;
    s = dial(&again, g_url, r_user, r_old, NULL, NULL);
    if (expect_auth_fail(s, "old password after reload")) {
        printf("ok reload_old_password_refused\n");
        g_pass++;
    } else {
        printf("FAIL reload_old_password_refused: %s\n", g_why);
        g_fail++;
    }

    if (!natsConnection_IsClosed(keep) && wait_int(sk, &sk->msgs, 1, 3000) >= 1 &&
        natsConnection_Flush(keep) == NATS_OK) {
        printf("ok reload_other_client_kept\n");
        g_pass++;
    } else {
        printf("FAIL reload_other_client_kept: closed=%d msgs=%d\n", natsConnection_IsClosed(keep),
               sk->msgs);
        g_fail++;
    }
out:
    natsSubscription_Destroy(ks);
    natsConnection_Destroy(old);
    natsConnection_Destroy(keep);
    natsConnection_Destroy(fresh);
    natsConnection_Destroy(again);
    return 0;
}

/* ---- main ----------------------------------------------------------------- */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL watchdog: run took too long\n";
    if (write(1, msg, sizeof msg - 1) < 0) {
    }
    _exit(1);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: libnats_auth_test URL userpass USER PASS | token TOKEN | none | seed |\n"
            "       reload USER OLDPASS NEWPASS KEEPUSER KEEPPASS\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3) usage();
    g_url = argv[1];
    const char *mode = argv[2];
    signal(SIGALRM, on_alarm);
    alarm(90);
    signal(SIGPIPE, SIG_IGN);
    if (nats_Open(-1) != NATS_OK) {
        printf("FAIL nats_Open\n0 passed, 1 failed\n");
        return 1;
    }
    if (strcmp(mode, "userpass") == 0 && argc == 5) {
        a_user = argv[3];
        a_pass = argv[4];
        run("right_password", t_right_secret);
        run("url_userinfo", t_url_userinfo);
        run("wrong_password", t_wrong_secret);
        run("wrong_user", t_wrong_user);
        run("no_credentials", t_no_credentials);
        run("token_instead_of_password", t_other_kind);
    } else if (strcmp(mode, "token") == 0 && argc == 4) {
        a_token = argv[3];
        run("right_token", t_right_secret);
        run("url_token", t_url_userinfo);
        run("wrong_token", t_wrong_secret);
        run("no_credentials", t_no_credentials);
        run("user_pass_instead_of_token", t_other_kind);
    } else if (strcmp(mode, "none") == 0 && argc == 3) {
        run("credentials_ignored", t_none_any_creds);
    } else if (strcmp(mode, "seed") == 0 && argc == 3) {
        run("seed_request_reply", t_seed_request_reply);
        run("seed_admin", t_seed_admin);
        run("seed_default_allowed", t_seed_default_allowed);
        run("seed_default_denied", t_seed_default_denied);
        run("seed_requestor_denied", t_seed_requestor_denied);
        run("seed_responder_denied", t_seed_responder_denied);
        run("seed_wrong_password", t_seed_wrong_password);
    } else if (strcmp(mode, "reload") == 0 && argc == 8) {
        r_user = argv[3];
        r_old = argv[4];
        r_new = argv[5];
        r_keep = argv[6];
        r_keeppass = argv[7];
        mode_reload();
    } else {
        usage();
    }
    printf("%d passed, %d failed\n", g_pass, g_fail);
    fflush(stdout);
    nats_Close();
    return g_fail ? 1 : 0;
}
