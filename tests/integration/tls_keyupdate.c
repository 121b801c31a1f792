/* tls_keyupdate: an OpenSSL client (a real TLS 1.3 peer) that updates its keys in the
 * middle of a NATS session, over one TLS 1.3 suite, against the server on 127.0.0.1.
 *
 *   tls_keyupdate PORT CA_FILE SUITE
 *
 * It subscribes, then ten times: updates its sending key (every other time asking the
 * server to update its own, RFC 8446 §4.6.3), publishes a message (some bigger than a
 * record) and a PING, and reads the message back before the PONG. Exit 0 and "ok" when
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

/* Reads until the bytes read end with "PONG\r\n"; returns them (static buffer). */
static char *read_to_pong(SSL *ssl, size_t *n)
{
    static char buf[1 << 20];
    *n = 0;
    while (*n < 6 || memcmp(buf + *n - 6, "PONG\r\n", 6) != 0) {
        if (*n == sizeof buf) die("reply too long");
        int k = SSL_read(ssl, buf + *n, (int)(sizeof buf - *n));
        if (k <= 0) die("read");
        *n += (size_t)k;
    }
    return buf;
}

static void write_all(SSL *ssl, const char *p, size_t n)
{
    if (SSL_write(ssl, p, (int)n) != (int)n) die("write");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: tls_keyupdate PORT CA_FILE SUITE\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
    char c;
    int state = 0; /* the plaintext INFO line, up to its \r\n */
    while (state < 2) {
        if (read(fd, &c, 1) != 1) die("INFO");
        state = c == '\r' ? 1 : (state == 1 && c == '\n') ? 2 : 0;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_ciphersuites(ctx, argv[3]) != 1) die("suite");
    if (SSL_CTX_load_verify_locations(ctx, argv[2], NULL) != 1) die("ca");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_msg_callback(ssl, watch);
    if (SSL_connect(ssl) != 1) die("handshake");
    const char *hello = "CONNECT {\"verbose\":false}\r\nSUB k 1\r\nPING\r\n";
    write_all(ssl, hello, strlen(hello));
    size_t n;
    read_to_pong(ssl, &n);
    int requested = 0;
    static char msg[64 * 1024];
    for (int i = 0; i < 10; i++) {
        bool ask = i % 2 == 1;
        if (SSL_key_update(ssl, ask ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) != 1)
            die("key update");
        requested += ask;
        size_t size = i % 3 == 2 ? 40000 : 10 + (size_t)i;
        int h = snprintf(msg, sizeof msg, "PUB k %zu\r\n", size);
        for (size_t k = 0; k < size; k++)
            msg[h + k] = (char)('a' + (k + (size_t)i) % 26);
        memcpy(msg + h + size, "\r\nPING\r\n", 8);
        write_all(ssl, msg, (size_t)h + size + 8);
        char *got = read_to_pong(ssl, &n);
        char want[64];
        int wl = snprintf(want, sizeof want, "MSG k 1 %zu\r\n", size);
        char *m = memmem(got, n, want, (size_t)wl);
        if (!m || (size_t)(got + n - m) < (size_t)wl + size + 2 ||
            memcmp(m + wl, msg + h, size) != 0)
            die("message");
    }
    if (updates_seen != requested) {
        printf("FAIL server sent %d KeyUpdates for %d requests\n", updates_seen, requested);
        return 1;
    }
    printf("ok\n");
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return 0;
}
