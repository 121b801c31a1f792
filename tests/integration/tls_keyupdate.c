/* tls_keyupdate: an OpenSSL client (a real TLS 1.3 peer) that updates its keys in the
 * middle of a NATS session, over one TLS 1.3 suite, against the server on 127.0.0.1.
 *
 *   tls_keyupdate PORT CA_FILE SUITE
 *
 * It subscribes, then forty times: updates its sending key (every other time asking the
 * server to update its own, RFC 8446 §4.6.3), publishes a message (some bigger than a
 * record) and a PING, and reads the message back before the PONG. Meanwhile a second
 * connection publishes a stream to the first, so that the server seals and sends to it
 * from another thread while its own thread reads the KeyUpdates. Exit 0 and "ok" when
 * every message came back intact and the server sent one KeyUpdate per request; else
 * a line saying what went wrong, exit 1. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int updates_seen;

static void watch(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                  void *arg)
{
    (void)version, (void)ssl, (void)arg;
    if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_KEY_UPDATE)
        updates_seen++;
}

static void die(const char *what)
{
    printf("FAIL %s\n", what);
    ERR_print_errors_fp(stdout);
    exit(1);
}

/* Reads up to and including the next "PONG\r\n" (what came after it is kept for the
 * next call); returns those bytes (static buffer). */
static char *read_to_pong(SSL *ssl, size_t *n)
{
    static char buf[1 << 20];
    static size_t have, given;
    memmove(buf, buf + given, have - given);
    have -= given;
    given = 0;
    for (;;) {
        char *p = memmem(buf, have, "PONG\r\n", 6);
        if (p) {
            *n = given = (size_t)(p + 6 - buf);
            return buf;
        }
        if (have == sizeof buf) die("reply too long");
        int k = SSL_read(ssl, buf + have, (int)(sizeof buf - have));
        if (k <= 0) die("read");
        have += (size_t)k;
    }
}

static void write_all(SSL *ssl, const char *p, size_t n)
{
    if (SSL_write(ssl, p, (int)n) != (int)n) die("write");
}

/* The stream: BG_BATCH messages of BG_SIZE bytes per round, each one's payload the
 * alphabet from its index in the batch. */
#define ROUNDS 40
#define BG_BATCH 48
#define BG_SIZE 1500

/* Stream messages in got[0..n) whose payload is intact (a damaged one is fatal). */
static int stream_count(const char *got, size_t n)
{
    static const char hdr[] = "MSG b 2 1500\r\n";
    const size_t hl = sizeof hdr - 1;
    int count = 0;
    for (const char *m = got; (m = memmem(m, (size_t)(got + n - m), hdr, hl)) != NULL;) {
        const char *p = m + hl;
        if ((size_t)(got + n - p) < BG_SIZE + 2) die("stream message cut");
        int j = (p[0] - 'a' + 26) % 26; /* its index in the batch, mod 26 */
        for (int k = 0; k < BG_SIZE; k++)
            if (p[k] != (char)('a' + (k + j) % 26)) die("stream message damaged");
        count++;
        m = p + BG_SIZE;
    }
    return count;
}

/* A TLS connection past the server's plaintext INFO line. */
static SSL *tls_connect(SSL_CTX *ctx, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
    char c;
    int state = 0; /* the plaintext INFO line, up to its \r\n */
    while (state < 2) {
        if (read(fd, &c, 1) != 1) die("INFO");
        state = c == '\r' ? 1 : (state == 1 && c == '\n') ? 2 : 0;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) die("handshake");
    return ssl;
}

/* The publisher's PONG (it receives nothing else). */
static void read_to_pong_other(SSL *ssl)
{
    char buf[64];
    size_t n = 0;
    while (n < 6 || memcmp(buf + n - 6, "PONG\r\n", 6) != 0) {
        if (n == sizeof buf) die("publisher reply");
        int k = SSL_read(ssl, buf + n, (int)(sizeof buf - n));
        if (k <= 0) die("publisher read");
        n += (size_t)k;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tls_keyupdate PORT CA_FILE SUITE\n");
        return 2;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_ciphersuites(ctx, argv[3]) != 1) die("suite");
    if (SSL_CTX_load_verify_locations(ctx, argv[2], NULL) != 1) die("ca");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = tls_connect(ctx, atoi(argv[1]));
    SSL_set_msg_callback(ssl, watch);
    const char *hello = "CONNECT {\"verbose\":false}\r\nSUB k 1\r\nSUB b 2\r\nPING\r\n";
    write_all(ssl, hello, strlen(hello));
    size_t n;
    read_to_pong(ssl, &n);
    /* the stream's publisher: a message batch per round, read by no one but ssl */
    SSL *pub = tls_connect(ctx, atoi(argv[1]));
    const char *phello = "CONNECT {\"verbose\":false}\r\n";
    write_all(pub, phello, strlen(phello));
    static char batch[BG_BATCH * (BG_SIZE + 32)];
    size_t blen = 0;
    for (int j = 0; j < BG_BATCH; j++) {
        blen += (size_t)sprintf(batch + blen, "PUB b %d\r\n", BG_SIZE);
        for (int k = 0; k < BG_SIZE; k++)
            batch[blen++] = (char)('a' + (k + j) % 26);
        batch[blen++] = '\r', batch[blen++] = '\n';
    }
    int streamed = 0;
    int requested = 0;
    static char msg[64 * 1024];
    for (int i = 0; i < ROUNDS; i++) {
        bool ask = i % 2 == 1;
        if (SSL_key_update(ssl, ask ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) != 1)
            die("key update");
        requested += ask;
        size_t size = i % 3 == 2 ? 40000 : 10 + (size_t)i;
        int h = snprintf(msg, sizeof msg, "PUB k %zu\r\n", size);
        for (size_t k = 0; k < size; k++)
            msg[h + k] = (char)('a' + (k + (size_t)i) % 26);
        memcpy(msg + h + size, "\r\nPING\r\n", 8);
        write_all(pub, batch, blen);
        write_all(ssl, msg, (size_t)h + size + 8);
        char *got = read_to_pong(ssl, &n);
        streamed += stream_count(got, n);
        char want[64];
        int wl = snprintf(want, sizeof want, "MSG k 1 %zu\r\n", size);
        char *m = memmem(got, n, want, (size_t)wl);
        if (!m || (size_t)(got + n - m) < (size_t)wl + size + 2 ||
            memcmp(m + wl, msg + h, size) != 0)
            die("message");
    }
    /* the publisher's PONG: its last batch is queued to ssl, ahead of ssl's own PONG */
    write_all(pub, "PING\r\n", 6);
    read_to_pong_other(pub);
    write_all(ssl, "PING\r\n", 6);
    char *got = read_to_pong(ssl, &n);
    streamed += stream_count(got, n);
    if (streamed != ROUNDS * BG_BATCH) {
        printf("FAIL %d of %d streamed messages came intact\n", streamed, ROUNDS * BG_BATCH);
        return 1;
    }
    if (updates_seen != requested) {
        printf("FAIL server sent %d KeyUpdates for %d requests\n", updates_seen, requested);
        return 1;
    }
    printf("ok\n");
    close(SSL_get_fd(ssl));
    close(SSL_get_fd(pub));
    SSL_free(ssl);
    SSL_free(pub);
    SSL_CTX_free(ctx);
    return 0;
}
