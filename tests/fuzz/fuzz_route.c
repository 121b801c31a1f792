/* fuzz_route.c: libFuzzer harness for the route protocol, through the real server.
 *
 * One in-process server is started once (one worker, a cluster listener with
 * authorization, logging to /dev/null) with one local client subscribed to
 * `>` and to `foo.*` in a queue group, so that interest is sent to routes and
 * routed messages are delivered. Each input becomes one route connection: a
 * socketpair whose server end is handed to the worker exactly as an accepted
 * route socket (or, by byte 0, one we dialled: we speak first and need no
 * auth), so the bytes go through the real read path and route_process in
 * every state: before CONNECT, after CONNECT, registered after INFO (RS+,
 * RS-, RMSG, gossip INFO, -ERR, PING). The pure parsing of proto/route_parse.c
 * is reached the same way: CONNECT and INFO JSON, and the URLs of gossip. The input is written in
 * chunks while the server's output is drained; then the write side is shut and the server closes
 * the connection at EOF at the latest.
 *
 * Checked after each input: the connection closed within a bound (a wedged
 * worker is a finding), no route is left registered, and the subject index
 * holds only the local client's two subscriptions again (the route's remote
 * interest is gone). Crashes and memory errors are ASan's. Gossip never dials
 * (route_set_dialing(false)): the fuzzer must not reach the network.
 *
 * Gateways go the same way (byte 0 bit 4): the server also has a gateway port with
 * authorization; an accepted one must CONNECT and INFO, a dialled one belongs to the
 * remote "fz" and takes RS+/RS-, gateway commands and gossip (never dialled either:
 * gateway_set_dialing(false)).
 *
 * Byte 0: bit 0 = solicited; bits 1-3 pick the write chunk size; bit 4 = gateway.
 * FUZZ_ROUTE_LOG=path: the server logs there, at debug level. */
#include "nats/account.h"
#include "base/common.h"
#include "app/start.h"
#include "core/core.h"
#include "nats/client.h"
#include "base/log.h"
#include "conf/opts.h"
#include "nats/route.h"
#include "nats/gateway.h"
#include "core/server.h"
#include "index/sublist.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOCAL_SUBS 2
#define CLOSE_BOUND_MS 20000

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

/* Hands one end of a new socketpair to the server as a connection of that kind (handler
 * table); returns our end. A dialled gateway belongs to a remote gateway ("fz"). */
static int hand_socket(const conn_ops_t *ops, bool solicited)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
    set_nonblock(sv[0]);
    bool gw = ops == &gateway_conn_ops;
    inq_item_t it = {
        .fd = sv[0],
        .ops = ops,
        .solicited = solicited,
        .url = solicited ? xstrdup(gw ? "nats://127.0.0.1:4249" : "nats-route://127.0.0.1:4248/")
                         : NULL,
        .dialer = solicited && gw ? gateway_fuzz_remote("fz") : NULL};
    server_hand_off(&it);
    return sv[1];
}

/* The local client's output is read and dropped, so it is never a slow consumer, and
 * the server's PINGs are answered, so it never goes stale (a PING split across reads
 * is seen through the kept tail). Payloads may hold "PING\r\n" too: at most one PONG a
 * second, sent without blocking, because a reader blocked in a write (the server
 * pauses reading a client that is behind as a consumer) would stop draining and be cut
 * at the write deadline. */
static void *drain_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8 + 65536];
    size_t keep = 0;
    time_t last_pong = 0;
    for (ssize_t n; (n = read(fd, buf + keep, sizeof buf - keep)) > 0;) {
        size_t len = keep + (size_t)n;
        if (time(NULL) != last_pong && memmem(buf, len, "PING\r\n", 6) &&
            send(fd, "PONG\r\n", 6, MSG_DONTWAIT | MSG_NOSIGNAL) == 6)
            last_pong = time(NULL);
        keep = len < 5 ? len : 5;
        memmove(buf, buf + len - keep, keep);
    }
    return NULL;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) abort();
        p += k;
        n -= (size_t)k;
    }
}

static uint64_t base_subs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    char path[] = "/tmp/gnatsd-fuzz-route-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) abort();
    static const char conf[] = "host: 127.0.0.1\n"
                               "port: -1\n"
                               "log_file: \"/dev/null\"\n"
                               "cluster {\n"
                               "  listen: 127.0.0.1:-1\n"
                               "  name: c1\n"
                               "  authorization { user: ruser, password: rpass }\n"
                               "}\n"
                               "gateway {\n"
                               "  name: g1\n"
                               "  listen: 127.0.0.1:-1\n"
                               "  authorization { user: guser, password: gpass }\n"
                               "}\n";
    write_all(fd, conf, sizeof conf - 1);
    close(fd);
    char *args[] = {"fuzz_route", "-c", path, "--workers", "1", NULL};
    opts_t *o = xcalloc(1, sizeof *o);
    opts_cli_t cli = {.prog = "fuzz_route"};
    if (opts_from_args(5, args, o, &cli) != OPTS_RUN) abort();
    unlink(path);
    char err[512];
    /* FUZZ_ROUTE_LOG=path keeps the server's log (with -D) to see why a finding happened. */
    const char *dbg = getenv("FUZZ_ROUTE_LOG");
    log_config_t lc = {.file = dbg ? dbg : o->log_file, .debug = dbg != NULL, .tag = "fuzz_route"};
    if (log_configure(&lc, err, sizeof err) != 0) abort();
    server_init(o);
    if (app_start() != 0) abort();
    route_set_dialing(false);
    gateway_set_dialing(false);
    route_announce();
    gateway_announce();
    /* the global account's own subscriptions (the system account's imports) */
    base_subs = sublist_count(account_global()->sl);

    int cfd = hand_socket(&client_conn_ops, false);
    static const char hello[] = "CONNECT {\"verbose\":false,\"protocol\":1}\r\n"
                                "SUB > 1\r\nSUB foo.* q 2\r\nPING\r\n";
    write_all(cfd, hello, sizeof hello - 1);
    pthread_t th;
    if (pthread_create(&th, NULL, drain_main, (void *)(intptr_t)cfd) != 0) abort();
    pthread_detach(th);
    for (int i = 0; i < 10000 && sublist_count(account_global()->sl) < base_subs + LOCAL_SUBS; i++)
        usleep(1000);
    if (sublist_count(account_global()->sl) != base_subs + LOCAL_SUBS) abort();
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const size_t chunks[] = {1, 2, 3, 7, 64, 512, 4096, 1 << 20};
    bool solicited = data[0] & 1;
    size_t chunk = chunks[(data[0] >> 1) & 7];
    const char *p = (const char *)data + 1;
    size_t left = size - 1;

    const conn_ops_t *ops = data[0] & 16 ? &gateway_conn_ops : &route_conn_ops;
    int fd = hand_socket(ops, solicited);
    set_nonblock(fd);
    char buf[65536];
    bool wr_open = true, eof = false;
    int64_t deadline = now_ms() + CLOSE_BOUND_MS;
    while (!eof) {
        if (now_ms() > deadline) {
            fprintf(stderr, "route connection not closed within %d ms\n", CLOSE_BOUND_MS);
            abort();
        }
        if (wr_open && left) {
            ssize_t k = write(fd, p, left < chunk ? left : chunk);
            if (k > 0) {
                p += k;
                left -= (size_t)k;
            } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
                wr_open = false; /* the server closed it: the rest is not read */
            }
        }
        if (wr_open && !left) {
            shutdown(fd, SHUT_WR);
            wr_open = false;
        }
        struct pollfd pfd = {fd, POLLIN | (wr_open && left ? POLLOUT : 0), 0};
        poll(&pfd, 1, 100);
        for (;;) {
            ssize_t k = read(fd, buf, sizeof buf);
            if (k > 0) continue;
            if (k == 0 || (errno != EAGAIN && errno != EINTR)) eof = true;
            break;
        }
    }
    close(fd);
    /* The server closed its end after unregistering the route and removing its
     * subscriptions (conn_close does both before closing the socket). */
    if (route_count() != 0 || gateway_outbound_count() != 0 || gateway_inbound_count() != 0) {
        fprintf(stderr, "%d routes, %d/%d gateways still registered after close\n", route_count(),
                gateway_outbound_count(), gateway_inbound_count());
        abort();
    }
    if (sublist_count(account_global()->sl) != base_subs + LOCAL_SUBS) {
        fprintf(stderr, "%llu subscriptions after close, want %d\n",
                (unsigned long long)(sublist_count(account_global()->sl) - base_subs), LOCAL_SUBS);
        conn_info_t *v = NULL; /* the local client closed? say why */
        size_t n = server_closed_conns(&v, false);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "closed client cid %llu: %s\n", (unsigned long long)v[i].cid,
                    v[i].reason);
        conn_infos_free(v, n);
        abort();
    }
    return 0;
}
