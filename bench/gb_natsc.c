/* gb_natsc.c: libnats-engine workers of gnatsd-bench (--client nats).
 *
 * These use the official C client exactly as an application would
 * (natsConnection_Publish, callback subscriptions, natsConnection_Request)
 * so the numbers show what real applications can expect; the raw engine
 * shows what the server itself can do. Client-side pending limits are
 * lifted so that losses reported here are the server's, not libnats'. */
#include "gb.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool aborted(void)
{
    return atomic_load_explicit(&gb_sh.abort, memory_order_relaxed) != 0;
}

static natsConnection *nconnect(gb_worker *w, bool send_asap)
{
    const gb_cfg *cfg = w->cfg;
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, cfg->url);
    if (s == NATS_OK) s = natsOptions_SetName(o, "gnatsd-bench");
    /* a benchmark must fail loudly, not reconnect and hide a crash */
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, (int64_t)(cfg->timeout * 1000));
    /* request/reply: flush every publish instead of waiting for the flusher */
    if (s == NATS_OK && send_asap) s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK) s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        gb_fail(w, "connect %s: %s", cfg->url, natsStatus_GetText(s));
        return NULL;
    }
    return nc;
}

static char *make_payload(size_t size)
{
    char *p = malloc(size + 1);
    if (p) memset(p, 'n', size);
    return p;
}

void *gb_nats_pub(void *arg)
{
    gb_worker *w = arg;
    const gb_cfg *cfg = w->cfg;
    char *payload = make_payload(cfg->size);
    natsConnection *nc = payload ? nconnect(w, false) : NULL;
    uint64_t sent = 0;
    natsStatus s = NATS_OK;

    if (!nc) goto out;
    w->t_start = gb_now();
    while (sent < w->quota) {
        s = natsConnection_Publish(nc, cfg->subject, payload, (int)cfg->size);
        if (s != NATS_OK) {
            gb_fail(w, "publish: %s", natsStatus_GetText(s));
            break;
        }
        /* clock and flags only every 256 messages: keep the loop tight */
        if ((++sent & 255) == 0) {
            gb_store(&w->count, sent);
            if (aborted() || (gb_sh.deadline && gb_now() >= gb_sh.deadline)) break;
        }
    }
    gb_store(&w->count, sent);
    if (!w->err) {
        s = natsConnection_FlushTimeout(nc, (int64_t)(w->cfg->timeout * 1000));
        if (s != NATS_OK) gb_fail(w, "flush: %s", natsStatus_GetText(s));
    }
    w->t_end = gb_now();
    w->bytes = sent * cfg->size;
    natsConnection_Destroy(nc);
out:
    free(payload);
    atomic_store(&w->finished, 1);
    return NULL;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    gb_worker *w = closure;
    uint64_t now = gb_now();
    (void)nc;
    (void)sub;
    if (!w->t_start) w->t_start = now;
    w->t_end = now;
    if ((size_t)natsMsg_GetDataLength(msg) != w->cfg->size) w->bad_size++;
    /* one delivery thread per subscription: load+store is enough */
    gb_store(&w->count, gb_load(&w->count) + 1);
    if (gb_sh.queue) atomic_fetch_add_explicit(&gb_sh.group_rx, 1, memory_order_relaxed);
    natsMsg_Destroy(msg);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    gb_worker *w = closure;
    (void)sub;
    const char *reply = natsMsg_GetReply(msg);
    if (reply) {
        natsStatus s = natsConnection_Publish(nc, reply, w->payload, (int)w->cfg->size);
        if (s != NATS_OK) w->bad_size++;
    } else {
        w->bad_size++;
    }
    gb_store(&w->count, gb_load(&w->count) + 1);
    natsMsg_Destroy(msg);
}

/* shared body of subscribers and responders: subscribe, flush, wait, drain */
static void *receiver(gb_worker *w, bool responder)
{
    const gb_cfg *cfg = w->cfg;
    natsConnection *nc = nconnect(w, responder);
    natsSubscription *sub = NULL;
    natsStatus s;

    if (!nc) goto out;
    if (responder)
        s = natsConnection_QueueSubscribe(&sub, nc, cfg->subject, cfg->queue, on_request, w);
    else if (gb_sh.queue)
        s = natsConnection_QueueSubscribe(&sub, nc, cfg->subject, cfg->queue, on_msg, w);
    else
        s = natsConnection_Subscribe(&sub, nc, cfg->subject, on_msg, w);
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, -1, -1);
    if (s == NATS_OK) s = natsConnection_FlushTimeout(nc, (int64_t)(cfg->timeout * 1000));
    if (s != NATS_OK) {
        gb_fail(w, "subscribe: %s", natsStatus_GetText(s));
        goto close;
    }
    atomic_store(&w->ready, 1);
    while (!aborted()) {
        if (responder ? atomic_load(&gb_sh.stop_responders) != 0 : gb_sub_done(w)) break;
        usleep(2000);
    }
    /* drain so no callback is still running when the worker is read */
    if (natsSubscription_Drain(sub) == NATS_OK) natsSubscription_WaitForDrainCompletion(sub, 2000);
    if (!responder) w->bytes = gb_load(&w->count) * cfg->size;
close:
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
out:
    atomic_store(&w->finished, 1);
    return NULL;
}

void *gb_nats_sub(void *arg)
{
    return receiver(arg, false);
}

void *gb_nats_rep(void *arg)
{
    gb_worker *w = arg;
    w->payload = make_payload(w->cfg->size);
    if (!w->payload) {
        gb_fail(w, "out of memory");
        atomic_store(&w->finished, 1);
        return NULL;
    }
    return receiver(w, true);
}

void *gb_nats_req(void *arg)
{
    gb_worker *w = arg;
    const gb_cfg *cfg = w->cfg;
    char *payload = make_payload(cfg->size);
    natsConnection *nc = payload ? nconnect(w, true) : NULL;
    uint64_t done = 0;

    if (!nc) goto out;
    w->t_start = gb_now();
    while (done < w->quota && !aborted() && !(gb_sh.deadline && gb_now() >= gb_sh.deadline)) {
        natsMsg *reply = NULL;
        uint64_t t0 = gb_now();
        natsStatus s = natsConnection_Request(&reply, nc, cfg->subject, payload, (int)cfg->size,
                                              (int64_t)(cfg->timeout * 1000));
        uint64_t t1 = gb_now();
        if (s != NATS_OK) {
            gb_fail(w, "request: %s", natsStatus_GetText(s));
            break;
        }
        natsMsg_Destroy(reply);
        if (gb_lat_push(w, t1 - t0) < 0) {
            gb_fail(w, "out of memory");
            break;
        }
        gb_store(&w->count, ++done);
    }
    w->t_end = gb_now();
    w->bytes = done * cfg->size;
    natsConnection_Destroy(nc);
out:
    free(payload);
    atomic_store(&w->finished, 1);
    return NULL;
}

void gb_nats_shutdown(void)
{
    /* waits for libnats' own threads, so valgrind/ASan runs stay quiet */
    nats_CloseAndWait(2000);
}
