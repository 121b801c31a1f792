/* test_tlsrec: core/tlsrec.c, the TLS 1.3 record layer that carries a connection once
 * OpenSSL finished its handshake, against OpenSSL's own record layer as the peer. Each
 * test runs a real handshake over a socketpair (an OpenSSL peer on one end, an SSL
 * watched by tlsrec_watch on the other, taken over by tlsrec_take), then moves bytes
 * between OpenSSL and tlsrec: every suite both ways, key updates either side asks for,
 * records split across reads and a caller with little room, a socket that does not take
 * a whole send, the server's tickets counted in its sequence numbers (OpenSSL's server
 * sends two; as records, when a ticket takes several), a client's maximum fragment
 * length (the SSL is kept), the core's flush not done while bytes are held, the
 * client's tickets ignored, a damaged record, a peer sending nothing but
 * key updates, close_notify. */
#include "test.h"
#include "core/loop.h"
#include "core/tlsrec.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static EVP_PKEY *key;
static X509 *cert;

/* A self-signed P-256 certificate for the server end. */
static void make_cert(void)
{
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *n = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(cert, n);
    X509_sign(cert, key, EVP_sha256());
}

typedef struct pair {
    int fd[2];        /* [0] OpenSSL's end, [1] tlsrec's */
    SSL *peer;        /* OpenSSL */
    tlsrec_t *r;      /* ours, after the handshake */
    int peer_updates; /* KeyUpdates the OpenSSL end received */
    int peer_tickets; /* NewSessionTickets our end received (client role) */
} pair_t;

static void count_updates(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                          void *arg)
{
    (void)version, (void)ssl;
    if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_KEY_UPDATE)
        ((pair_t *)arg)->peer_updates++;
}

static SSL_CTX *ctx_for(bool server, const char *suite)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_ciphersuites(ctx, suite);
    if (server) {
        SSL_CTX_use_certificate(ctx, cert);
        SSL_CTX_use_PrivateKey(ctx, key);
    }
    tlsrec_ctx_setup(ctx);
    return ctx;
}

/* A handshake between OpenSSL (peer) and a watched SSL (ours): ours is the server
 * when ours_server; setup (if any) sees both SSLs first. Non-blocking socketpair, both
 * driven in turn. True when the handshake finished (p->r: what tlsrec_take gave). */
static bool pair_open_with(pair_t *p, const char *suite, bool ours_server,
                           void (*setup)(SSL *peer, SSL *ours))
{
    memset(p, 0, sizeof *p);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd) != 0) return false;
    for (int i = 0; i < 2; i++)
        fcntl(p->fd[i], F_SETFL, O_NONBLOCK);
    SSL_CTX *pc = ctx_for(!ours_server, suite), *oc = ctx_for(ours_server, suite);
    p->peer = SSL_new(pc);
    SSL *ours = SSL_new(oc);
    SSL_CTX_free(pc);
    SSL_CTX_free(oc);
    SSL_set_fd(p->peer, p->fd[0]);
    SSL_set_fd(ours, p->fd[1]);
    SSL_set_msg_callback(p->peer, count_updates);
    SSL_set_msg_callback_arg(p->peer, p);
    tlsrec_watch(ours);
    if (setup) setup(p->peer, ours);
    if (ours_server) {
        SSL_set_connect_state(p->peer);
        SSL_set_accept_state(ours);
    } else {
        SSL_set_accept_state(p->peer);
        SSL_set_connect_state(ours);
    }
    int done_peer = 0, done_ours = 0;
    for (int i = 0; i < 100 && !(done_peer && done_ours); i++) {
        if (!done_peer) done_peer = SSL_do_handshake(p->peer) == 1;
        if (!done_ours) done_ours = SSL_do_handshake(ours) == 1;
    }
    if (!done_peer || !done_ours) {
        ERR_print_errors_fp(stderr);
        return false;
    }
    p->r = tlsrec_take(ours);
    SSL_free(ours);
    return true;
}

static bool pair_open(pair_t *p, const char *suite, bool ours_server)
{
    return pair_open_with(p, suite, ours_server, NULL) && p->r != NULL;
}

static void pair_close(pair_t *p)
{
    tlsrec_free(p->r);
    SSL_free(p->peer);
    close(p->fd[0]);
    close(p->fd[1]);
}

/* The OpenSSL end writes all of buf (the socket is drained by our end meanwhile via
 * reads of room bytes, appended to got). */
static bool peer_send(pair_t *p, const char *buf, size_t n, size_t room, char *got, size_t *glen)
{
    size_t off = 0;
    for (int spins = 0; off < n && spins < 100000; spins++) {
        int k = SSL_write(p->peer, buf + off, (int)(n - off));
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        if (SSL_get_error(p->peer, k) != SSL_ERROR_WANT_WRITE) return false;
        bool dr;
        ssize_t m = tlsrec_recv(p->r, p->fd[1], got + *glen, room, &dr);
        if (m > 0) *glen += (size_t)m;
        if (m == 0 || m == -2) return false;
    }
    return off == n;
}

/* Our end reads until want bytes came (or an error / end): returns the last result. */
static ssize_t ours_read(pair_t *p, char *got, size_t *glen, size_t want, size_t room)
{
    ssize_t m = -1;
    for (int spins = 0; *glen < want && spins < 100000; spins++) {
        bool dr;
        m = tlsrec_recv(p->r, p->fd[1], got + *glen, room, &dr);
        if (m > 0) *glen += (size_t)m;
        if (m == 0 || m == -2) return m;
    }
    return m;
}

/* Our end sends all of buf while the OpenSSL end reads it into got. */
static bool ours_send(pair_t *p, const char *buf, size_t n, char *got, size_t *glen)
{
    size_t off = 0;
    for (int spins = 0; (off < n || *glen < n) && spins < 1000000; spins++) {
        if (off < n) {
            ssize_t k = tlsrec_send(p->r, p->fd[1], buf + off, n - off);
            if (k == -2) return false;
            if (k > 0) off += (size_t)k;
        } else {
            tlsrec_send(p->r, p->fd[1], "", 0); /* what the socket did not take yet */
        }
        int m = SSL_read(p->peer, got + *glen, 65536);
        if (m > 0)
            *glen += (size_t)m;
        else if (SSL_get_error(p->peer, m) != SSL_ERROR_WANT_READ)
            return false;
    }
    return off == n && *glen == n;
}

static char *pattern(size_t n, unsigned seed)
{
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)(seed * 31 + i * 7 + i / 251);
    return b;
}

static const char *SUITES[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                               "TLS_CHACHA20_POLY1305_SHA256"};

TEST(each_suite_carries_bytes_both_ways_as_the_server)
{
    for (size_t s = 0; s < 3; s++) {
        pair_t p;
        CHECK(pair_open(&p, SUITES[s], true));
        if (!p.r) continue;
        size_t n = 300000, glen = 0;
        char *in = pattern(n, 1), *got = malloc(n + 65536);
        CHECK(peer_send(&p, in, n, 65536, got, &glen));
        CHECK(ours_read(&p, got, &glen, n, 65536) > 0 || glen == n);
        CHECK(glen == n && memcmp(in, got, n) == 0);
        glen = 0;
        CHECK(ours_send(&p, in, n, got, &glen));
        CHECK(memcmp(in, got, n) == 0);
        free(in);
        free(got);
        pair_close(&p);
    }
}

TEST(as_the_client_it_ignores_tickets_and_carries_bytes)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[0], false));
    if (!p.r) return;
    /* OpenSSL's server writes its tickets on its first write after the handshake */
    size_t n = 50000, glen = 0;
    char *in = pattern(n, 2), *got = malloc(n + 65536);
    CHECK(peer_send(&p, in, n, 65536, got, &glen));
    CHECK(ours_read(&p, got, &glen, n, 65536) > 0 || glen == n);
    CHECK(glen == n && memcmp(in, got, n) == 0);
    glen = 0;
    CHECK(ours_send(&p, in, n, got, &glen));
    free(in);
    free(got);
    pair_close(&p);
}

TEST(key_updates_either_way_and_the_requested_answer)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[1], true));
    if (!p.r) return;
    char *in = pattern(40000, 3), *got = malloc(200000);
    int requested = 0;
    for (int i = 0; i < 6; i++) {
        bool ask = i % 2;
        requested += ask;
        CHECK(
            SSL_key_update(p.peer, ask ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED));
        size_t glen = 0, n = 1000 + (size_t)i * 7000;
        CHECK(peer_send(&p, in, n, 65536, got, &glen));
        CHECK(ours_read(&p, got, &glen, n, 65536) > 0 || glen == n);
        CHECK(glen == n && memcmp(in, got, n) == 0);
        glen = 0;
        CHECK(ours_send(&p, in, n, got, &glen)); /* our KeyUpdate goes first when asked */
        CHECK(memcmp(in, got, n) == 0);
        CHECK_EQ_INT(p.peer_updates, requested);
    }
    free(in);
    free(got);
    pair_close(&p);
}

TEST(records_split_across_reads_and_a_caller_with_little_room)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[2], true));
    if (!p.r) return;
    size_t n = 100000, glen = 0;
    char *in = pattern(n, 4), *got = malloc(n + 65536);
    /* room from 1 byte up: records complete in tlsrec's buffer, plaintext held back */
    size_t rooms[] = {1, 7, 100, 5000, 16389, 70000};
    size_t sent = 0;
    for (size_t i = 0; i < 6; i++) {
        size_t k = n / 6;
        CHECK(peer_send(&p, in + sent, k, rooms[i], got, &glen));
        sent += k;
        ours_read(&p, got, &glen, sent, rooms[i]);
        CHECK(glen == sent);
    }
    CHECK(memcmp(in, got, sent) == 0);
    CHECK(!tlsrec_has_plain(p.r));
    free(in);
    free(got);
    pair_close(&p);
}

TEST(a_damaged_record_ends_the_connection)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[0], true));
    if (!p.r) return;
    /* the peer's record goes to a pipe of ours, damaged, then to our socket */
    int mid[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, mid) == 0);
    SSL_set_fd(p.peer, mid[0]);
    CHECK(SSL_write(p.peer, "PING\r\n", 6) == 6);
    char rec[256];
    ssize_t k = read(mid[1], rec, sizeof rec);
    CHECK(k > 10);
    rec[k - 3] ^= 1; /* in the tag */
    CHECK(write(p.fd[0], rec, (size_t)k) == k);
    char got[64];
    size_t glen = 0;
    CHECK_EQ_INT(ours_read(&p, got, &glen, 1, sizeof got), -2);
    CHECK_EQ_INT(glen, 0);
    close(mid[0]);
    close(mid[1]);
    pair_close(&p);
}

TEST(a_peer_that_sends_only_key_updates_is_cut)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[0], true));
    if (!p.r) return;
    char got[64];
    size_t glen = 0;
    /* a few in a row are what a peer may do */
    for (int i = 0; i < 8; i++) {
        CHECK(SSL_key_update(p.peer, SSL_KEY_UPDATE_NOT_REQUESTED));
        CHECK(SSL_do_handshake(p.peer) == 1);
    }
    CHECK(SSL_write(p.peer, "PING\r\n", 6) == 6);
    CHECK(ours_read(&p, got, &glen, 6, sizeof got) > 0 && glen == 6);
    /* nothing but key updates: each costs three derivations here */
    for (int i = 0; i < 40; i++) {
        CHECK(SSL_key_update(p.peer, SSL_KEY_UPDATE_REQUESTED));
        CHECK(SSL_do_handshake(p.peer) == 1);
    }
    glen = 0;
    CHECK_EQ_INT(ours_read(&p, got, &glen, 1, sizeof got), -2);
    pair_close(&p);
}

/* KeyUpdates are paid for with data: one per 16 KiB the peer sends goes on for ever,
 * one per byte is cut once the first 32 are spent (a byte between every 32 kept the
 * cut for updates in a row away, at three key derivations per 27 bytes). */
TEST(key_updates_are_paid_for_with_data)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[0], true));
    if (!p.r) return;
    size_t n = 16384;
    char *in = pattern(n, 3), *got = malloc(n + 65536);
    for (int i = 0; i < 100; i++) {
        CHECK(SSL_key_update(p.peer, SSL_KEY_UPDATE_NOT_REQUESTED));
        size_t glen = 0;
        CHECK(peer_send(&p, in, n, 65536, got, &glen));
        CHECK(ours_read(&p, got, &glen, n, 65536) > 0 || glen == n);
        CHECK(glen == n && memcmp(in, got, n) == 0);
        if (glen != n) break;
    }
    ssize_t last = 1;
    int rounds = 0;
    for (; rounds < 40 && last > 0; rounds++) {
        CHECK(SSL_key_update(p.peer, SSL_KEY_UPDATE_NOT_REQUESTED));
        CHECK(SSL_write(p.peer, "x", 1) == 1);
        size_t glen = 0;
        last = ours_read(&p, got, &glen, 1, 65536);
    }
    CHECK_EQ_INT(last, -2);
    CHECK(rounds > 30);
    free(in);
    free(got);
    pair_close(&p);
}

TEST(close_notify_is_the_end)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[0], true));
    if (!p.r) return;
    SSL_shutdown(p.peer);
    char got[64];
    size_t glen = 0;
    CHECK_EQ_INT(ours_read(&p, got, &glen, 1, sizeof got), 0);
    CHECK(tlsrec_eof(p.r));
    pair_close(&p);
}

/* Data and close_notify in one read: the data comes back without "drained", so the
 * caller reads again now and sees the end (with "drained" it waited for the peer's next
 * segment, which a peer waiting for our close_notify never sends). */
TEST(data_then_close_notify_is_not_drained)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[0], true));
    if (!p.r) return;
    CHECK(SSL_write(p.peer, "PING\r\n", 6) == 6);
    SSL_shutdown(p.peer);
    char got[64];
    bool dr = true;
    ssize_t n = tlsrec_recv(p.r, p.fd[1], got, sizeof got, &dr);
    CHECK_EQ_INT(n, 6);
    CHECK(!dr);
    CHECK_EQ_INT(tlsrec_recv(p.r, p.fd[1], got, sizeof got, &dr), 0);
    pair_close(&p);
}

/* Two tlsrec ends keyed from fixed secrets (no handshake): ours the server, peer the
 * client sealing what ours reads; fd[0] the peer's end of a socketpair, fd[1] ours
 * (non-blocking). */
static bool keyed_pair(tlsrec_t **ours, tlsrec_t **peer, int fd[2])
{
    uint8_t a[32], b[32];
    memset(a, 7, sizeof a);
    memset(b, 9, sizeof b);
    *ours = tlsrec_from_secrets(0x1301, true, a, b, 32);
    *peer = tlsrec_from_secrets(0x1301, false, b, a, 32);
    bool ok = *ours && *peer && socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == 0;
    CHECK(ok);
    if (ok) fcntl(fd[1], F_SETFL, O_NONBLOCK);
    return ok;
}

static void keyed_pair_close(tlsrec_t *ours, tlsrec_t *peer, int fd[2])
{
    tlsrec_free(ours);
    tlsrec_free(peer);
    close(fd[0]);
    close(fd[1]);
}

/* A record trickled in a byte at a time, then the next whole: both arrive intact (the
 * bytes of a record not complete yet are kept where they are, not moved per read). */
TEST(a_record_trickled_byte_by_byte)
{
    tlsrec_t *ours, *peer;
    int fd[2];
    if (!keyed_pair(&ours, &peer, fd)) return;
    size_t k = 16384;
    char *in = pattern(k, 4), *rec = malloc(2 * (k + 64)), *got = malloc(2 * k + 64);
    size_t n1 = tlsrec_seal_record(peer, 23, in, k, 0, rec);
    size_t n2 = tlsrec_seal_record(peer, 23, in, 100, 0, rec + n1);
    CHECK(n1 > k && n2 > 100);
    size_t glen = 0;
    bool dr;
    for (size_t i = 0; i < n1; i++) {
        CHECK(write(fd[0], rec + i, 1) == 1);
        ssize_t m = tlsrec_recv(ours, fd[1], got + glen, 65536, &dr);
        if (m > 0) glen += (size_t)m;
        CHECK(m > 0 || m == -1);
    }
    CHECK(glen == k && memcmp(got, in, k) == 0);
    CHECK(write(fd[0], rec + n1, n2) == (ssize_t)n2);
    ssize_t m = tlsrec_recv(ours, fd[1], got + glen, 65536, &dr);
    CHECK_EQ_INT(m, 100);
    CHECK(memcmp(got + k, in, 100) == 0);
    free(in);
    free(rec);
    free(got);
    keyed_pair_close(ours, peer, fd);
}

/* Padding counts in the inner plaintext's bound (RFC 8446 §5.4: 2^14 + 1 bytes with the
 * type byte): up to it a record opens, one byte past it ends the connection. */
TEST(padding_past_the_record_size_ends_the_connection)
{
    tlsrec_t *ours, *peer;
    int fd[2];
    if (!keyed_pair(&ours, &peer, fd)) return;
    char *rec = malloc(2 * 17000), *got = malloc(65536), *in = pattern(16384, 2);
    size_t n1 = tlsrec_seal_record(peer, 23, in, 16384, 0, rec);
    size_t n2 = tlsrec_seal_record(peer, 23, in, 16384, 1, rec + n1);
    CHECK(n1 > 0 && n2 > 0);
    bool dr;
    CHECK(write(fd[0], rec, n1) == (ssize_t)n1);
    CHECK_EQ_INT(tlsrec_recv(ours, fd[1], got, 65536, &dr), 16384);
    CHECK(write(fd[0], rec + n1, n2) == (ssize_t)n2);
    CHECK_EQ_INT(tlsrec_recv(ours, fd[1], got, 65536, &dr), -2);
    free(in);
    free(got);
    free(rec);
    keyed_pair_close(ours, peer, fd);
}

TEST(a_send_the_socket_does_not_take_goes_out_first_next_time)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[0], true));
    if (!p.r) return;
    int small = 4096;
    setsockopt(p.fd[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    size_t n = 1 << 20;
    char *in = pattern(n, 5), *got = malloc(n + 65536);
    /* nobody reads: the socket fills, and sends stop at "would block" */
    size_t off = 0;
    ssize_t k;
    while ((k = tlsrec_send(p.r, p.fd[1], in + off, n - off)) > 0)
        off += (size_t)k;
    CHECK_EQ_INT(k, -1);
    CHECK(off > 0 && off < n);
    /* then the reader drains, and every byte arrives in order */
    size_t glen = 0;
    for (int spins = 0; glen < n && spins < 1000000; spins++) {
        if (off < n) {
            k = tlsrec_send(p.r, p.fd[1], in + off, n - off);
            CHECK(k != -2);
            if (k > 0) off += (size_t)k;
        } else {
            tlsrec_send(p.r, p.fd[1], "", 0);
        }
        int m = SSL_read(p.peer, got + glen, 65536);
        if (m > 0) glen += (size_t)m;
    }
    CHECK(glen == n && memcmp(in, got, n) == 0);
    free(in);
    free(got);
    pair_close(&p);
}

/* The core's flush over tlsrec (core/outbound.c flush_run): tlsrec counts a send's
 * bytes taken once sealed and holds what the socket did not take, so a flush is not
 * done while it holds some. Called again when the socket has room (what EPOLLOUT does),
 * it sends them: it stopped at an empty connection buffer, and the last part of a
 * burst to a slow reader waited for the connection's next message. */
TEST(a_flush_is_not_done_while_sealed_bytes_are_held)
{
    pair_t p;
    CHECK(pair_open(&p, SUITES[0], true));
    if (!p.r) return;
    int small = 4096;
    setsockopt(p.fd[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    static const struct conn_ops ops = {0};
    worker_t w;
    memset(&w, 0, sizeof w);
    conn_t *c = calloc(1, sizeof *c);
    spin_init(&c->out_lock);
    c->fd = p.fd[1];
    c->trec = p.r;
    c->tls_done = true;
    c->w = &w;
    c->ops = &ops;
    size_t n = 300000, glen = 0;
    char *in = pattern(n, 9), *got = malloc(n + 65536);
    buf_append_out(&c->out, in, n);
    c->qbytes = 0;
    bool ok = true;
    for (int spins = 0; glen < n && spins < 100000 && ok; spins++) {
        spin_lock(&c->out_lock);
        ok = flush_run(c, false);
        /* a flush that stopped with bytes held is waiting for room (a write event) */
        if (tlsrec_holds(p.r)) CHECK(c->stall_ns != 0);
        spin_unlock(&c->out_lock);
        int m = SSL_read(p.peer, got + glen, 65536);
        if (m > 0) glen += (size_t)m;
    }
    CHECK(ok);
    CHECK(glen == n && memcmp(in, got, n) == 0);
    CHECK(!tlsrec_holds(p.r));
    out_free(c);
    free(c);
    free(in);
    free(got);
    pair_close(&p);
}

/* Tickets bigger than the records ours may write (a ticket carries the session, with a
 * client certificate if one came: here 3,000 bytes of application data in 512-byte
 * records): each is several records under the first application key, and the first
 * sequence number after the handshake counts records, not tickets (counted as
 * tickets, our first records reused the nonces of the tickets' last ones). */
static int big_ticket(SSL *s, void *arg)
{
    (void)arg;
    static char data[3000];
    memset(data, 'q', sizeof data);
    return SSL_SESSION_set1_ticket_appdata(SSL_get_session(s), data, sizeof data);
}

static void small_records_big_tickets(SSL *peer, SSL *ours)
{
    (void)peer;
    SSL_set_max_send_fragment(ours, 512);
    SSL_CTX_set_session_ticket_cb(SSL_get_SSL_CTX(ours), big_ticket, NULL, NULL);
}

TEST(tickets_over_several_records_each_count_in_the_sequence)
{
    pair_t p;
    CHECK(pair_open_with(&p, SUITES[0], true, small_records_big_tickets) && p.r != NULL);
    if (!p.r) return;
    size_t n = 100000, glen = 0;
    char *in = pattern(n, 11), *got = malloc(n + 65536);
    CHECK(ours_send(&p, in, n, got, &glen));
    CHECK(glen == n && memcmp(in, got, n) == 0);
    glen = 0;
    CHECK(peer_send(&p, in, n, 65536, got, &glen));
    CHECK(ours_read(&p, got, &glen, n, 65536) > 0 || glen == n);
    CHECK(glen == n && memcmp(in, got, n) == 0);
    free(in);
    free(got);
    pair_close(&p);
}

/* A client that asked for a maximum fragment length (RFC 6066) takes records of at
 * most that size: tlsrec writes 16 KiB ones, so such a connection keeps its SSL. */
static void client_asks_512(SSL *peer, SSL *ours)
{
    (void)ours;
    SSL_set_tlsext_max_fragment_length(peer, TLSEXT_max_fragment_length_512);
}

TEST(a_maximum_fragment_length_keeps_the_ssl)
{
    pair_t p;
    CHECK(pair_open_with(&p, SUITES[0], true, client_asks_512));
    CHECK(p.r == NULL);
    pair_close(&p);
}

int main(void)
{
    make_cert();
    RUN(each_suite_carries_bytes_both_ways_as_the_server);
    RUN(as_the_client_it_ignores_tickets_and_carries_bytes);
    RUN(key_updates_either_way_and_the_requested_answer);
    RUN(records_split_across_reads_and_a_caller_with_little_room);
    RUN(a_damaged_record_ends_the_connection);
    RUN(a_peer_that_sends_only_key_updates_is_cut);
    RUN(key_updates_are_paid_for_with_data);
    RUN(close_notify_is_the_end);
    RUN(data_then_close_notify_is_not_drained);
    RUN(a_record_trickled_byte_by_byte);
    RUN(padding_past_the_record_size_ends_the_connection);
    RUN(a_send_the_socket_does_not_take_goes_out_first_next_time);
    RUN(a_flush_is_not_done_while_sealed_bytes_are_held);
    RUN(tickets_over_several_records_each_count_in_the_sequence);
    RUN(a_maximum_fragment_length_keeps_the_ssl);
    X509_free(cert);
    EVP_PKEY_free(key);
    return test_summary();
}
