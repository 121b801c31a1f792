/* floor_relay.c: the request/reply latency floor of this machine.
 *
 * A "server" that does as little as a NATS server can and still be used by
 * natsbench's reqrep scenario: one thread, one epoll set, blocking sockets
 * written directly from the read handler; PUB is relayed as MSG to every
 * connection whose (first) SUB names exactly the same subject; PING gets
 * PONG; everything else is ignored. No wildcards, queues, auth or limits.
 * With --spin it never sleeps (epoll_wait with a zero timeout, a whole core
 * busy), which removes the server's wake-ups from a round trip.
 *
 * Whatever latency it measures, no real server can beat on the same machine
 * with the same wake-up pattern (docs/performance.md, "Latency floor").
 *
 *   floor-relay [-a ADDR] [-p PORT] [--spin]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor_ops.h"

#define MAX_CONNS 64
#define IN_CAP (1 << 20)

typedef struct conn {
    int fd;
    size_t n;       /* bytes in in[] */
    char subj[256]; /* first SUB's subject, "" = none */
    char sid[32];
    char in[IN_CAP];
} conn_t;

static conn_t *conns[MAX_CONNS]; /* owned: freed on close */

static const char INFO[] = "INFO {\"server_id\":\"floor-relay\",\"version\":\"2.9.10\",\"proto\":1,"
                           "\"headers\":true,\"max_payload\":1048576}\r\n";

/* Blocking write of everything (the sockets stay blocking: simplest and, for
 * one message in flight, never waits). */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void relay(const char *subj, const char *reply, const char *payload, size_t size)
{
    static char out[IN_CAP + 1024];
    for (int i = 0; i < MAX_CONNS; i++) {
        conn_t *d = conns[i];
        if (!d || strcmp(d->subj, subj) != 0) continue;
        int h = reply ? snprintf(out, 1024, "MSG %s %s %s %zu\r\n", subj, d->sid, reply, size)
                      : snprintf(out, 1024, "MSG %s %s %zu\r\n", subj, d->sid, size);
        memcpy(out + h, payload, size + 2);
        write_all(d->fd, out, (size_t)h + size + 2);
    }
}

/* Handles every complete op in c->in; returns bytes consumed. */
static size_t process(conn_t *c)
{
    size_t pos = 0, used;
    floor_op_t op;
    while ((used = floor_next_op(c->in, c->n, pos, &op)) > 0) {
        if (op.kind == FOP_PUB)
            relay(op.subj, op.reply[0] ? op.reply : NULL, op.payload, op.size);
        else if (op.kind == FOP_SUB && !c->subj[0]) {
            snprintf(c->subj, sizeof c->subj, "%s", op.subj);
            snprintf(c->sid, sizeof c->sid, "%s", op.sid);
        } else if (op.kind == FOP_PING)
            write_all(c->fd, "PONG\r\n", 6);
        pos += used;
    }
    return pos;
}

static void drop(int ep, conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i] == c) conns[i] = NULL;
    free(c);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1";
    int port = 4222;
    bool spin = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-a") && i + 1 < argc)
            addr = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--spin"))
            spin = true;
        else {
            fprintf(stderr, "usage: floor-relay [-a ADDR] [-p PORT] [--spin]\n");
            return 2;
        }
    }
    int one = 1;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
        bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 128)) {
        perror("floor-relay: listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    fprintf(stderr, "floor-relay listening on %s:%d%s\n", addr, port, spin ? " (spinning)" : "");
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, spin ? 0 : -1);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c) {
                int fd = accept(ls, NULL, NULL);
                if (fd < 0) continue;
                int slot = -1;
                for (int k = 0; k < MAX_CONNS && slot < 0; k++)
                    if (!conns[k]) slot = k;
                if (slot < 0) {
                    close(fd);
                    continue;
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                if (!c) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                conns[slot] = c;
                struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                write_all(fd, INFO, sizeof INFO - 1);
                continue;
            }
            ssize_t r = read(c->fd, c->in + c->n, IN_CAP - c->n);
            if (r <= 0) {
                if (r < 0 && errno == EINTR) continue;
                drop(ep, c);
                continue;
            }
            c->n += (size_t)r;
            size_t used = process(c);
            memmove(c->in, c->in + used, c->n - used);
            c->n -= used;
            if (c->n == IN_CAP) drop(ep, c); /* one op larger than the buffer */
        }
    }
}
