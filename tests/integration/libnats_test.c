/*
 * libnats_test: drives a running server with the official NATS C client.
 *
 *   libnats_test nats://127.0.0.1:PORT
 *
 * Each test uses its own connection(s) and subjects, prints "ok NAME" or
 * "FAIL NAME: why", and the last line is "N passed, N failed". Exit status is
 * 1 when anything failed. A watchdog alarm bounds the whole run.
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
 *            -o libnats_test libnats_test.c -lnats -lpthread
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

/* Messages seen by an async handler, guarded so tests can wait on them. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int count;
    int64_t last_seq;
    bool in_order;
    int sleep_us; /* slow handler, to give drain something to wait for */
} counter_t;

static void counter_init(counter_t *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->last_seq = -1;
    c->in_order = true;
}

static void counter_destroy(counter_t *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    counter_t *c = closure;
    if (c->sleep_us) usleep(c->sleep_us);
    long seq = strtol(natsMsg_GetData(msg), NULL, 10);
    pthread_mutex_lock(&c->mu);
    if (seq <= c->last_seq) c->in_order = false;
    c->last_seq = seq;
    c->count++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    natsMsg_Destroy(msg);
}

/* Wait until the counter reaches want or timeout_ms passes; returns the count. */
static int counter_wait(counter_t *c, int want, int timeout_ms)
{
    int64_t deadline = nats_Now() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    while (c->count < want && nats_Now() < deadline) {
        pthread_mutex_unlock(&c->mu);
        nats_Sleep(5);
        pthread_mutex_lock(&c->mu);
    }
    int n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static int counter_get(counter_t *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static natsStatus connect_opts(natsConnection **nc, bool no_echo)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, g_url);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 3000);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK && no_echo) s = natsOptions_SetNoEcho(o, true);
    if (s == NATS_OK) s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

/* Messages received by the connection (counted by the library off the wire). */
static uint64_t in_msgs(natsConnection *nc)
{
    natsStatistics *st = NULL;
    uint64_t in = 0, inb = 0, out = 0, outb = 0, rec = 0;
    if (natsStatistics_Create(&st) == NATS_OK) {
        if (natsConnection_GetStats(nc, st) == NATS_OK)
            natsStatistics_GetCounts(st, &in, &inb, &out, &outb, &rec);
        natsStatistics_Destroy(st);
    }
    return in;
}

static natsStatus publish_seq(natsConnection *nc, const char *subj, int n)
{
    char buf[32];
    natsStatus s = NATS_OK;
    for (int i = 0; i < n && s == NATS_OK; i++) {
        snprintf(buf, sizeof buf, "%d", i);
        s = natsConnection_PublishString(nc, subj, buf);
    }
    return s;
}

/* ---------------------------------------------------------------- tests */

static bool t_connect(void)
{
    bool ok = false;
    natsConnection *nc = NULL;
    char id[128] = "";
    CHECK_S(natsConnection_ConnectTo(&nc, g_url));
    CHECK_S(natsConnection_GetConnectedServerId(nc, id, sizeof id));
    CHECK(id[0] != '\0', "empty server id");
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED, "not connected");
    CHECK_S(natsConnection_FlushTimeout(nc, 2000));
    ok = true;
out:
    natsConnection_Destroy(nc);
    return ok;
}

static bool t_sync_pubsub(void)
{
    bool ok = false;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    CHECK_S(connect_opts(&nc, false));
    CHECK_S(natsConnection_SubscribeSync(&sub, nc, "lib.sync"));
    CHECK_S(publish_seq(nc, "lib.sync", 20));
    CHECK_S(natsConnection_FlushTimeout(nc, 2000));
    for (int i = 0; i < 20; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        CHECK_S(natsSubscription_NextMsg(&m, sub, 2000));
        CHECK(strcmp(natsMsg_GetSubject(m), "lib.sync") == 0, "subject %s", natsMsg_GetSubject(m));
        CHECK(strcmp(natsMsg_GetData(m), want) == 0, "msg %d: got '%s'", i, natsMsg_GetData(m));
        natsMsg_Destroy(m);
        m = NULL;
    }
    CHECK(natsSubscription_NextMsg(&m, sub, 200) == NATS_TIMEOUT, "extra message");
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return ok;
}

static bool t_async_pubsub(void)
{
    bool ok = false;
    natsConnection *pub = NULL, *subc = NULL;
    natsSubscription *sub = NULL;
    counter_t c;
    counter_init(&c);
    CHECK_S(connect_opts(&subc, false));
    CHECK_S(connect_opts(&pub, false));
    CHECK_S(natsConnection_Subscribe(&sub, subc, "lib.async.*", on_msg, &c));
    CHECK_S(natsConnection_FlushTimeout(subc, 2000));
    CHECK_S(publish_seq(pub, "lib.async.x", 500));
    CHECK_S(natsConnection_FlushTimeout(pub, 2000));
    int n = counter_wait(&c, 500, 5000);
    CHECK(n == 500, "received %d of 500", n);
    CHECK(c.in_order, "messages out of order");
    ok = true;
out:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(pub);
    natsConnection_Destroy(subc);
    counter_destroy(&c);
    return ok;
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    char reply[256];
    snprintf(reply, sizeof reply, "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), reply);
    natsMsg_Destroy(msg);
}

static bool t_request_reply(void)
{
    bool ok = false;
    natsConnection *svc = NULL, *cli = NULL;
    natsSubscription *sub = NULL;
    natsMsg *reply = NULL;
    CHECK_S(connect_opts(&svc, false));
    CHECK_S(connect_opts(&cli, false));
    CHECK_S(natsConnection_Subscribe(&sub, svc, "lib.svc.echo", on_request, NULL));
    CHECK_S(natsConnection_FlushTimeout(svc, 2000));
    for (int i = 0; i < 10; i++) {
        char req[16], want[20];
        snprintf(req, sizeof req, "q%d", i);
        snprintf(want, sizeof want, "re:q%d", i);
        CHECK_S(natsConnection_RequestString(&reply, cli, "lib.svc.echo", req, 2000));
        CHECK(strcmp(natsMsg_GetData(reply), want) == 0, "reply '%s'", natsMsg_GetData(reply));
        natsMsg_Destroy(reply);
        reply = NULL;
    }
    ok = true;
out:
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(svc);
    natsConnection_Destroy(cli);
    return ok;
}

static bool t_no_responders(void)
{
    bool ok = false;
    natsConnection *nc = NULL;
    natsMsg *reply = NULL;
    CHECK_S(connect_opts(&nc, false));
    int64_t start = nats_Now();
    natsStatus s = natsConnection_RequestString(&reply, nc, "lib.nobody.home", "x", 3000);
    CHECK(s == NATS_NO_RESPONDERS, "request without responder -> %s (want no responders)",
          natsStatus_GetText(s));
    CHECK(nats_Now() - start < 2000, "no-responders answer took %lld ms",
          (long long)(nats_Now() - start));
    ok = true;
out:
    natsMsg_Destroy(reply);
    natsConnection_Destroy(nc);
    return ok;
}

static bool t_queue_subs(void)
{
    enum { MEMBERS = 3, N = 300 };
    bool ok = false;
    natsConnection *nc[MEMBERS] = {0}, *pub = NULL;
    natsSubscription *qs[MEMBERS] = {0}, *plain = NULL;
    counter_t c[MEMBERS], pc;
    for (int i = 0; i < MEMBERS; i++)
        counter_init(&c[i]);
    counter_init(&pc);
    for (int i = 0; i < MEMBERS; i++) {
        CHECK_S(connect_opts(&nc[i], false));
        CHECK_S(natsConnection_QueueSubscribe(&qs[i], nc[i], "lib.work", "workers", on_msg, &c[i]));
        CHECK_S(natsConnection_FlushTimeout(nc[i], 2000));
    }
    CHECK_S(connect_opts(&pub, false));
    CHECK_S(natsConnection_Subscribe(&plain, pub, "lib.work", on_msg, &pc));
    CHECK_S(natsConnection_FlushTimeout(pub, 2000));
    CHECK_S(publish_seq(pub, "lib.work", N));
    CHECK_S(natsConnection_FlushTimeout(pub, 2000));
    CHECK(counter_wait(&pc, N, 5000) == N, "plain subscriber got %d of %d", counter_get(&pc), N);
    int total = 0;
    int64_t deadline = nats_Now() + 5000;
    do {
        total = 0;
        for (int i = 0; i < MEMBERS; i++)
            total += counter_get(&c[i]);
        if (total >= N) break;
        nats_Sleep(10);
    } while (nats_Now() < deadline);
    nats_Sleep(100); /* a duplicate delivery would show up as total > N */
    total = 0;
    for (int i = 0; i < MEMBERS; i++) {
        int n = counter_get(&c[i]);
        CHECK(n > 0, "queue member %d got nothing (counts not spread)", i);
        total += n;
    }
    CHECK(total == N, "queue members got %d messages in total, want exactly %d", total, N);
    ok = true;
out:
    for (int i = 0; i < MEMBERS; i++) {
        natsSubscription_Destroy(qs[i]);
        natsConnection_Destroy(nc[i]);
        counter_destroy(&c[i]);
    }
    natsSubscription_Destroy(plain);
    natsConnection_Destroy(pub);
    counter_destroy(&pc);
    return ok;
}

static bool t_queue_sync(void)
{
    bool ok = false;
    natsConnection *nc = NULL;
    natsSubscription *a = NULL, *b = NULL;
    natsMsg *m = NULL;
    int got = 0;
    CHECK_S(connect_opts(&nc, false));
    CHECK_S(natsConnection_QueueSubscribeSync(&a, nc, "lib.qsync", "g"));
    CHECK_S(natsConnection_QueueSubscribeSync(&b, nc, "lib.qsync", "g"));
    CHECK_S(publish_seq(nc, "lib.qsync", 40));
    CHECK_S(natsConnection_FlushTimeout(nc, 2000));
    nats_Sleep(100);
    while (natsSubscription_NextMsg(&m, a, 100) == NATS_OK) {
        got++;
        natsMsg_Destroy(m);
        m = NULL;
    }
    while (natsSubscription_NextMsg(&m, b, 100) == NATS_OK) {
        got++;
        natsMsg_Destroy(m);
        m = NULL;
    }
    CHECK(got == 40, "two sync queue members got %d, want 40", got);
    ok = true;
out:
    natsSubscription_Destroy(a);
    natsSubscription_Destroy(b);
    natsConnection_Destroy(nc);
    return ok;
}

static bool t_unsubscribe(void)
{
    bool ok = false;
    natsConnection *subc = NULL, *pub = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    CHECK_S(connect_opts(&subc, false));
    CHECK_S(connect_opts(&pub, false));
    CHECK_S(natsConnection_SubscribeSync(&sub, subc, "lib.unsub"));
    CHECK_S(natsConnection_FlushTimeout(subc, 2000));
    CHECK_S(natsConnection_PublishString(pub, "lib.unsub", "1"));
    CHECK_S(natsConnection_FlushTimeout(pub, 2000));
    CHECK_S(natsSubscription_NextMsg(&m, sub, 2000));
    natsMsg_Destroy(m);
    m = NULL;
    CHECK_S(natsSubscription_Unsubscribe(sub));
    CHECK_S(natsConnection_FlushTimeout(subc, 2000));
    uint64_t before = in_msgs(subc);
    CHECK_S(publish_seq(pub, "lib.unsub", 5));
    CHECK_S(natsConnection_FlushTimeout(pub, 2000));
    CHECK_S(natsConnection_FlushTimeout(subc, 2000));
    nats_Sleep(100);
    CHECK(in_msgs(subc) == before, "server still delivered after UNSUB (%llu msgs)",
          (unsigned long long)(in_msgs(subc) - before));
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(subc);
    natsConnection_Destroy(pub);
    return ok;
}

static bool t_auto_unsubscribe(void)
{
    bool ok = false;
    natsConnection *subc = NULL, *pub = NULL;
    natsSubscription *sub = NULL;
    counter_t c;
    counter_init(&c);
    CHECK_S(connect_opts(&subc, false));
    CHECK_S(connect_opts(&pub, false));
    CHECK_S(natsConnection_Subscribe(&sub, subc, "lib.auto", on_msg, &c));
    CHECK_S(natsSubscription_AutoUnsubscribe(sub, 3));
    CHECK_S(natsConnection_FlushTimeout(subc, 2000));
    CHECK_S(publish_seq(pub, "lib.auto", 10));
    CHECK_S(natsConnection_FlushTimeout(pub, 2000));
    CHECK_S(natsConnection_FlushTimeout(subc, 2000));
    counter_wait(&c, 3, 3000);
    nats_Sleep(100);
    CHECK(counter_get(&c) == 3, "handler saw %d messages, want 3", counter_get(&c));
    /* the server itself must stop after 3 (UNSUB sid 3), not just the library */
    CHECK(in_msgs(subc) == 3, "server delivered %llu messages, want 3",
          (unsigned long long)in_msgs(subc));
    ok = true;
out:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(subc);
    natsConnection_Destroy(pub);
    counter_destroy(&c);
    return ok;
}

static bool t_sub_drain(void)
{
    bool ok = false;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    counter_t c;
    counter_init(&c);
    c.sleep_us = 2000;
    CHECK_S(connect_opts(&nc, false));
    CHECK_S(natsConnection_Subscribe(&sub, nc, "lib.drain", on_msg, &c));
    CHECK_S(natsConnection_FlushTimeout(nc, 2000));
    CHECK_S(publish_seq(nc, "lib.drain", 100));
    CHECK_S(natsConnection_FlushTimeout(nc, 2000));
    CHECK_S(natsSubscription_Drain(sub));
    CHECK_S(natsSubscription_WaitForDrainCompletion(sub, 5000));
    CHECK_S(natsSubscription_DrainCompletionStatus(sub));
    CHECK(counter_get(&c) == 100, "drained subscription handled %d of 100", counter_get(&c));
    ok = true;
out:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    counter_destroy(&c);
    return ok;
}

static bool t_conn_drain(void)
{
    bool ok = false;
    natsConnection *nc = NULL, *pub = NULL;
    natsSubscription *sub = NULL;
    counter_t c;
    counter_init(&c);
    c.sleep_us = 1000;
    CHECK_S(connect_opts(&nc, false));
    CHECK_S(connect_opts(&pub, false));
    CHECK_S(natsConnection_Subscribe(&sub, nc, "lib.cdrain", on_msg, &c));
    CHECK_S(natsConnection_FlushTimeout(nc, 2000));
    CHECK_S(publish_seq(pub, "lib.cdrain", 50));
    CHECK_S(natsConnection_FlushTimeout(pub, 2000));
    CHECK(counter_wait(&c, 1, 2000) >= 1, "nothing received before drain");
    CHECK_S(natsConnection_DrainTimeout(nc, 5000));
    int64_t deadline = nats_Now() + 6000;
    while (!natsConnection_IsClosed(nc) && nats_Now() < deadline)
        nats_Sleep(10);
    CHECK(natsConnection_IsClosed(nc), "connection not closed after drain");
    CHECK(counter_get(&c) == 50, "drained connection handled %d of 50", counter_get(&c));
    ok = true;
out:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(pub);
    counter_destroy(&c);
    return ok;
}

static bool t_headers(void)
{
    bool ok = false;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *out_msg = NULL, *m = NULL;
    const char *val = NULL;
    CHECK_S(connect_opts(&nc, false));
    CHECK_S(natsConnection_SubscribeSync(&sub, nc, "lib.hdr"));
    CHECK_S(natsMsg_Create(&out_msg, "lib.hdr", "lib.hdr.reply", "body", 4));
    CHECK_S(natsMsgHeader_Set(out_msg, "X-Test", "one"));
    CHECK_S(natsMsgHeader_Add(out_msg, "X-Multi", "a"));
    CHECK_S(natsConnection_PublishMsg(nc, out_msg));
    CHECK_S(natsConnection_FlushTimeout(nc, 2000));
    CHECK_S(natsSubscription_NextMsg(&m, sub, 2000));
    CHECK(natsMsg_GetDataLength(m) == 4 && memcmp(natsMsg_GetData(m), "body", 4) == 0,
          "payload '%.*s'", natsMsg_GetDataLength(m), natsMsg_GetData(m));
    CHECK(natsMsg_GetReply(m) && strcmp(natsMsg_GetReply(m), "lib.hdr.reply") == 0, "reply lost");
    CHECK_S(natsMsgHeader_Get(m, "X-Test", &val));
    CHECK(val && strcmp(val, "one") == 0, "header X-Test = '%s'", val ? val : "(null)");
    CHECK_S(natsMsgHeader_Get(m, "X-Multi", &val));
    CHECK(val && strcmp(val, "a") == 0, "header X-Multi = '%s'", val ? val : "(null)");
    ok = true;
out:
    natsMsg_Destroy(out_msg);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return ok;
}

static bool t_request_with_headers(void)
{
    bool ok = false;
    natsConnection *svc = NULL, *cli = NULL;
    natsSubscription *sub = NULL;
    natsMsg *req = NULL, *reply = NULL;
    CHECK_S(connect_opts(&svc, false));
    CHECK_S(connect_opts(&cli, false));
    CHECK_S(natsConnection_Subscribe(&sub, svc, "lib.svc.hdr", on_request, NULL));
    CHECK_S(natsConnection_FlushTimeout(svc, 2000));
    CHECK_S(natsMsg_Create(&req, "lib.svc.hdr", NULL, "hi", 2));
    CHECK_S(natsMsgHeader_Set(req, "K", "V"));
    CHECK_S(natsConnection_RequestMsg(&reply, cli, req, 2000));
    CHECK(strcmp(natsMsg_GetData(reply), "re:hi") == 0, "reply '%s'", natsMsg_GetData(reply));
    ok = true;
out:
    natsMsg_Destroy(req);
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(svc);
    natsConnection_Destroy(cli);
    return ok;
}

static bool t_no_echo(void)
{
    bool ok = false;
    natsConnection *me = NULL, *other = NULL;
    natsSubscription *mine = NULL, *theirs = NULL;
    natsMsg *m = NULL;
    CHECK_S(connect_opts(&me, true));
    CHECK_S(connect_opts(&other, false));
    CHECK_S(natsConnection_SubscribeSync(&mine, me, "lib.echo"));
    CHECK_S(natsConnection_SubscribeSync(&theirs, other, "lib.echo"));
    CHECK_S(natsConnection_FlushTimeout(me, 2000));
    CHECK_S(natsConnection_FlushTimeout(other, 2000));
    CHECK_S(natsConnection_PublishString(me, "lib.echo", "x"));
    CHECK_S(natsConnection_FlushTimeout(me, 2000));
    CHECK_S(natsSubscription_NextMsg(&m, theirs, 2000));
    natsMsg_Destroy(m);
    m = NULL;
    CHECK(natsSubscription_NextMsg(&m, mine, 300) == NATS_TIMEOUT,
          "no-echo connection got its own message");
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(mine);
    natsSubscription_Destroy(theirs);
    natsConnection_Destroy(me);
    natsConnection_Destroy(other);
    return ok;
}

static bool t_large_message(void)
{
    bool ok = false;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    enum { SIZE = 512 * 1024 };
    char *data = malloc(SIZE);
    CHECK(data != NULL, "malloc");
    for (int i = 0; i < SIZE; i++)
        data[i] = (char)(i * 7);
    CHECK_S(connect_opts(&nc, false));
    CHECK_S(natsConnection_SubscribeSync(&sub, nc, "lib.big"));
    CHECK_S(natsConnection_Publish(nc, "lib.big", data, SIZE));
    CHECK_S(natsConnection_FlushTimeout(nc, 3000));
    CHECK_S(natsSubscription_NextMsg(&m, sub, 3000));
    CHECK(natsMsg_GetDataLength(m) == SIZE && memcmp(natsMsg_GetData(m), data, SIZE) == 0,
          "512 KiB payload corrupted (len %d)", natsMsg_GetDataLength(m));
    ok = true;
out:
    free(data);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return ok;
}

static void watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL watchdog: libnats_test ran too long\n0 passed, 1 failed\n";
    if (write(1, msg, sizeof msg - 1) < 0) { /* nothing else to do */
    }
    _exit(1);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        bool (*fn)(void);
    } tests[] = {
        {"connect", t_connect},
        {"sync_pubsub", t_sync_pubsub},
        {"async_pubsub", t_async_pubsub},
        {"request_reply", t_request_reply},
        {"no_responders", t_no_responders},
        {"queue_subs", t_queue_subs},
        {"queue_sync", t_queue_sync},
        {"unsubscribe", t_unsubscribe},
        {"auto_unsubscribe", t_auto_unsubscribe},
        {"sub_drain", t_sub_drain},
        {"conn_drain", t_conn_drain},
        {"headers", t_headers},
        {"request_with_headers", t_request_with_headers},
        {"no_echo", t_no_echo},
        {"large_message", t_large_message},
    };
    if (argc < 2) {
        fprintf(stderr, "usage: %s nats://127.0.0.1:PORT [test-name]\n", argv[0]);
        return 2;
    }
    g_url = argv[1];
    signal(SIGALRM, watchdog);
    alarm(90);
    setvbuf(stdout, NULL, _IOLBF, 0);

    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc > 2 && strcmp(argv[2], tests[i].name) != 0) continue;
        g_why[0] = '\0';
        if (tests[i].fn()) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s: %s\n", tests[i].name, g_why);
        }
    }
    nats_Close();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
