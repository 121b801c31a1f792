/* floor_tls.c: the TLS connection-rate floor of this machine.
 *
 * A "server" that does as little as a NATS server can and still be used by
 * natsbench's conns scenario over TLS: one thread per core (SO_REUSEPORT
 * listeners, one epoll set each), the plaintext INFO, an OpenSSL handshake with
 * gnatsd's settings (TLS 1.3 preferred, no session cache, one ticket, released
 * buffers), PING answered with PONG, the first SUB of a connection kept in a
 * table, PUB relayed as MSG to the connection whose SUB names exactly that
 * subject. No wildcards, queues, auth, limits, timers or monitoring.
 *
 * Whatever connections per second it reaches, no server built on OpenSSL's
 * handshake reaches more on the same machine (docs/performance.md, "TLS
 * handshake floor").
 *
 *   floor-tls [-a ADDR] [-p PORT] --tls --tlscert FILE --tlskey FILE [--tickets N]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor_ops.h"

#define IN_CAP 4096
#define NBUCKETS 65536
#define NTHREADS 2

typedef struct conn {
    int fd;
    SSL *ssl;
    bool done;            /* handshake finished */
    pthread_mutex_t lock; /* SSL calls: the owner reads, a publisher's thread writes MSG */
    size_t n;
    char subj[256];
    char sid[32];
    struct conn *next_sub; /* bucket chain */
    char in[IN_CAP];
} conn_t;

static SSL_CTX *ctx;
static conn_t *subs[NBUCKETS];
static pthread_mutex_t subs_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *addr = "127.0.0.1";
static int port = 4222;

static const char INFO[] = "INFO {\"server_id\":\"floor-tls\",\"version\":\"2.9.10\",\"proto\":1,"
                           "\"headers\":true,\"tls_required\":true,\"max_payload\":1048576}\r\n";

static unsigned bucket(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h & (NBUCKETS - 1);
}

/* Under c->lock. Tiny writes: a full socket buffer is waited out by retrying. */
static void tls_write(conn_t *c, const char *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(c->ssl, p, (int)n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        int e = SSL_get_error(c->ssl, w);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) return;
    }
}

static void relay(const char *subj, const char *payload, size_t size)
{
    char out[IN_CAP + 256];
    pthread_mutex_lock(&subs_lock);
    for (conn_t *d = subs[bucket(subj)]; d; d = d->next_sub) {
        if (strcmp(d->subj, subj) != 0) continue;
        int h = snprintf(out, 256, "MSG %s %s %zu\r\n", subj, d->sid, size);
        memcpy(out + h, payload, size + 2);
        pthread_mutex_lock(&d->lock);
        tls_write(d, out, (size_t)h + size + 2);
        pthread_mutex_unlock(&d->lock);
    }
    pthread_mutex_unlock(&subs_lock);
}

/* Handles every complete op in c->in (under c->lock); returns bytes consumed. */
static size_t process(conn_t *c)
{
    size_t pos = 0, used;
    floor_op_t op;
    while ((used = floor_next_op(c->in, c->n, pos, &op)) > 0) {
        if (op.kind == FOP_PUB) {
            pthread_mutex_unlock(&c->lock); /* relay may write to c itself */
            relay(op.subj, op.payload, op.size);
            pthread_mutex_lock(&c->lock);
        } else if (op.kind == FOP_SUB && !c->subj[0]) {
            snprintf(c->subj, sizeof c->subj, "%s", op.subj);
            snprintf(c->sid, sizeof c->sid, "%s", op.sid);
            pthread_mutex_lock(&subs_lock);
            unsigned h = bucket(c->subj);
            c->next_sub = subs[h];
            subs[h] = c;
            pthread_mutex_unlock(&subs_lock);
        } else if (op.kind == FOP_PING) {
            tls_write(c, "PONG\r\n", 6);
        }
        pos += used;
    }
    return pos;
}

static void drop(int ep, conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->subj[0]) {
        pthread_mutex_lock(&subs_lock);
        for (conn_t **pp = &subs[bucket(c->subj)]; *pp; pp = &(*pp)->next_sub)
            if (*pp == c) {
                *pp = c->next_sub;
                break;
            }
        pthread_mutex_unlock(&subs_lock);
    }
    SSL_free(c->ssl);
    close(c->fd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Owner thread, on readiness: the handshake's next step, then the protocol. */
static void on_ready(int ep, conn_t *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->done) {
        int r = SSL_accept(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            pthread_mutex_unlock(&c->lock);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) drop(ep, c);
            return;
        }
        c->done = true;
    }
    for (;;) {
        int r = SSL_read(c->ssl, c->in + c->n, (int)(IN_CAP - c->n));
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            pthread_mutex_unlock(&c->lock);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) drop(ep, c);
            return;
        }
        c->n += (size_t)r;
        size_t used = process(c);
        memmove(c->in, c->in + used, c->n - used);
        c->n -= used;
        if (c->n == IN_CAP) {
            pthread_mutex_unlock(&c->lock);
            drop(ep, c);
            return;
        }
    }
}

static void *loop(void *arg)
{
    (void)arg;
    int one = 1;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(ls, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
        bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1024)) {
        perror("floor-tls: listen");
        exit(1);
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c) {
                on_ready(ep, c);
                continue;
            }
            int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
            if (fd < 0) continue;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c = calloc(1, sizeof *c);
            c->fd = fd;
            pthread_mutex_init(&c->lock, NULL);
            c->ssl = SSL_new(ctx);
            SSL_set_fd(c->ssl, fd);
            if (write(fd, INFO, sizeof INFO - 1) != (ssize_t)(sizeof INFO - 1)) {
                SSL_free(c->ssl);
                close(fd);
                free(c);
                continue;
            }
            struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL;
    int tickets = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-a") && i + 1 < argc)
            addr = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--tls"))
            ;
        else if (!strcmp(argv[i], "--tlscert") && i + 1 < argc)
            cert = argv[++i];
        else if (!strcmp(argv[i], "--tlskey") && i + 1 < argc)
            key = argv[++i];
        else if (!strcmp(argv[i], "--tickets") && i + 1 < argc)
            tickets = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: floor-tls [-a ADDR] [-p PORT] --tls --tlscert FILE --tlskey "
                            "FILE [--tickets N]\n");
            return 2;
        }
    }
    if (!cert || !key) {
        fprintf(stderr, "floor-tls: --tlscert and --tlskey are needed\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error return, not an exit */
    ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                                  "TLS_AES_256_GCM_SHA384");
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, (size_t)tickets);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, loop, NULL);
    fprintf(stderr, "floor-tls listening on %s:%d (%d threads, %d ticket(s))\n", addr, port,
            NTHREADS, tickets);
    fprintf(stderr, "Server is ready\n");
    pthread_join(th[0], NULL);
    return 0;
}
