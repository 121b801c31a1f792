/*
 * libnats_creds_test: operator mode (JWT) through the official NATS C client
 * (test_operator.py drives it). Logs in with a user .creds file
 * (natsOptions_SetUserCredentialsFromFiles: the client reads the JWT and the
 * seed, and signs the server's nonce), then does a request/reply round trip on
 * SUBJECT (default "creds.svc") answered by a responder on the same connection,
 * and a publish/subscribe round trip on SUBJECT.pub.
 *
 *   libnats_creds_test URL CREDS [SUBJECT]
 *
 * Prints "ok" (exit 0) or "error: <status>: <libnats' last error>" (exit 1).
 * A watchdog alarm bounds the run.
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
 *            -o libnats_creds_test libnats_creds_test.c -lnats -lpthread
 */
#include <nats/nats.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "error: watchdog: run took too long\n";
    if (write(1, msg, sizeof msg - 1) < 0) {
    }
    _exit(1);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), "pong");
    natsMsg_Destroy(msg);
}

static int report(natsStatus s, const char *what)
{
    const char *last = nats_GetLastError(NULL);
    printf("error: %s: %s: %s\n", what, natsStatus_GetText(s), last ? last : "");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: libnats_creds_test URL CREDS [SUBJECT]\n");
        return 2;
    }
    const char *subject = argc == 4 ? argv[3] : "creds.svc";
    char pubsubj[256];
    snprintf(pubsubj, sizeof pubsubj, "%s.pub", subject);
    signal(SIGALRM, on_alarm);
    alarm(30);
    signal(SIGPIPE, SIG_IGN);

    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsSubscription *svc = NULL, *sub = NULL;
    natsMsg *reply = NULL, *got = NULL;
    int rc = 1;
    natsStatus s = nats_Open(-1);
    if (s != NATS_OK) return report(s, "nats_Open");
    if ((s = natsOptions_Create(&opts)) != NATS_OK) {
        rc = report(s, "natsOptions_Create");
        goto out;
    }
    natsOptions_SetURL(opts, argv[1]);
    natsOptions_SetTimeout(opts, 5000);
    natsOptions_SetAllowReconnect(opts, false);
    if ((s = natsOptions_SetUserCredentialsFromFiles(opts, argv[2], NULL)) != NATS_OK) {
        rc = report(s, "natsOptions_SetUserCredentialsFromFiles");
        goto out;
    }
    if ((s = natsConnection_Connect(&nc, opts)) != NATS_OK) {
        rc = report(s, "connect");
        goto out;
    }
    if ((s = natsConnection_Subscribe(&svc, nc, subject, on_request, NULL)) != NATS_OK) {
        rc = report(s, "subscribe service");
        goto out;
    }
    if ((s = natsConnection_Flush(nc)) != NATS_OK) {
        rc = report(s, "flush");
        goto out;
    }
    if ((s = natsConnection_RequestString(&reply, nc, subject, "ping", 5000)) != NATS_OK) {
        rc = report(s, "request");
        goto out;
    }
    if (strcmp(natsMsg_GetData(reply), "pong") != 0) {
        printf("error: reply %s, expected pong\n", natsMsg_GetData(reply));
        goto out;
    }
    if ((s = natsConnection_SubscribeSync(&sub, nc, pubsubj)) != NATS_OK) {
        rc = report(s, "subscribe");
        goto out;
    }
    if ((s = natsConnection_PublishString(nc, pubsubj, "hello")) != NATS_OK) {
        rc = report(s, "publish");
        goto out;
    }
    if ((s = natsSubscription_NextMsg(&got, sub, 5000)) != NATS_OK) {
        rc = report(s, "next message");
        goto out;
    }
    if (strcmp(natsMsg_GetData(got), "hello") != 0) {
        printf("error: message %s, expected hello\n", natsMsg_GetData(got));
        goto out;
    }
    printf("ok\n");
    rc = 0;
out:
    natsMsg_Destroy(got);
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(svc);
    if (nc) natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    fflush(stdout);
    /* nats_Close waits for libnats' threads; the watchdog still bounds it */
    nats_Close();
    return rc;
}
