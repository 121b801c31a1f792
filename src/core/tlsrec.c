/* tlsrec.c: see tlsrec.h; the facts it relies on are in docs/internals.md "TLS after
 * the handshake". Ciphers are OpenSSL's (EVP); what is written here is the framing
 * (header, nonce, inner content type, padding) and the key schedule's last steps
 * (HKDF-Expand-Label for "key", "iv" and "traffic upd"). */
#include "core/tlsrec.h"
#include "base/common.h"
#include "core/transport.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define HDR 5
#define TAG 16
#define MAX_PLAIN 16384
#define MAX_CIPHER (MAX_PLAIN + 256) /* RFC 8446 §5.2 */
#define MAX_RECORD (HDR + MAX_CIPHER)
/* Records sealed under one key before ours is updated (RFC 8446 §5.5: AES-GCM keeps
 * its margin up to 2^24.5 full records). */
#define KEY_RECORDS (1ULL << 24)
#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_DATA 23
/* Records in a row that carry no application data (a KeyUpdate, a ticket, an empty
 * record) before the connection ends: each KeyUpdate costs three key derivations, so a
 * peer sending only those would make us work for nothing (Go's limit is 16). */
#define USELESS_MAX 32
/* KeyUpdates the peer may send: KU_TOKENS at first and at most, one more per KU_BYTES of
 * application data it sent. In a row, one byte of data between every 32 kept the cut
 * above away, at three key derivations per 27-byte record; a peer updating its key per
 * 16 KiB is far past what any implementation does (RFC 8446 §5.5: millions of records). */
#define KU_TOKENS 32
#define KU_BYTES 16384
#define HS_NEW_SESSION_TICKET 4
#define HS_KEY_UPDATE 24

typedef struct suite {
    uint16_t id;
    const char *cipher, *md, *iana;
    size_t keylen, hashlen;
} suite_t;

static const suite_t SUITES[] = {
    {0x1301, "AES-128-GCM", "SHA256", "TLS_AES_128_GCM_SHA256", 16, 32},
    {0x1302, "AES-256-GCM", "SHA384", "TLS_AES_256_GCM_SHA384", 32, 48},
    {0x1303, "ChaCha20-Poly1305", "SHA256", "TLS_CHACHA20_POLY1305_SHA256", 32, 32},
};
static EVP_CIPHER *_Atomic fetched[ARRAY_LEN(SUITES)];

typedef struct dir {
    uint8_t secret[48];
    uint8_t key[32];
    uint8_t iv[12];
    uint64_t seq;
    uint64_t kid; /* this key's number, unique in the process: the thread contexts' cache */
} dir_t;

struct tlsrec {
    const suite_t *s;
    dir_t rd, wr;
    bool server, eof;
    /* The only fields both a receive and a send touch (they may run at once on two
     * threads): a KeyUpdate asked for by the peer, and an error either side saw. */
    _Atomic bool owe_update, err;
    uint8_t useless;           /* records in a row without application data */
    uint8_t ku_tokens;         /* KeyUpdates the peer may send now */
    uint16_t ku_bytes;         /* application data toward the next token */
    bool in_plain;             /* in holds plaintext from in_off (else: a partial record) */
    char *in, *out;            /* malloc'd only while in use */
    uint32_t in_len, in_off;   /* in */
    uint32_t in_cap;           /* the header's size, then the record's once it is known */
    uint32_t out_len, out_off; /* ciphertext the socket did not take */
    X509 *peer;                /* owned */
    STACK_OF(X509) * chain;    /* owned */
};

static _Atomic uint64_t next_kid = 1;

/* ---- per-thread cipher contexts and sealing buffer ------------------------------------ *
 * A context keyed once per connection costs OpenSSL ~1.1 KB per direction; keying a
 * thread's context costs ~160 ns, done only when the key differs from its last one. */
typedef struct tstate {
    EVP_CIPHER_CTX *ctx[2]; /* [0] open, [1] seal */
    uint64_t kid[2];
    EVP_MAC_CTX *hmac[2]; /* HMAC-SHA256, HMAC-SHA384 for the key schedule, made on use */
    char *scratch;
    struct tstate *next;
} tstate_t;

static __thread tstate_t *my_ts;
static tstate_t *all_ts; /* every thread's, freed at exit */
static pthread_mutex_t ts_lock = PTHREAD_MUTEX_INITIALIZER;

static void ts_free_all(void)
{
    pthread_mutex_lock(&ts_lock);
    for (tstate_t *t = all_ts, *n; t; t = n) {
        n = t->next;
        EVP_CIPHER_CTX_free(t->ctx[0]);
        EVP_CIPHER_CTX_free(t->ctx[1]);
        EVP_MAC_CTX_free(t->hmac[0]);
        EVP_MAC_CTX_free(t->hmac[1]);
        free(t->scratch);
        free(t);
    }
    all_ts = NULL;
    pthread_mutex_unlock(&ts_lock);
    for (size_t i = 0; i < ARRAY_LEN(SUITES); i++)
        EVP_CIPHER_free(atomic_exchange(&fetched[i], NULL));
}

static size_t sealed_max(void)
{
    size_t records = TLSREC_SEND_MAX / MAX_PLAIN;
    return records * (HDR + MAX_PLAIN + 1 + TAG) + (HDR + 5 + 1 + TAG); /* + a KeyUpdate */
}

static tstate_t *tstate(void)
{
    if (my_ts) return my_ts;
    tstate_t *t = xcalloc(1, sizeof *t);
    t->ctx[0] = EVP_CIPHER_CTX_new();
    t->ctx[1] = EVP_CIPHER_CTX_new();
    t->scratch = xmalloc(sealed_max());
    if (!t->ctx[0] || !t->ctx[1]) abort();
    pthread_mutex_lock(&ts_lock);
    static bool registered;
    if (!registered) registered = atexit(ts_free_all) == 0;
    t->next = all_ts;
    all_ts = t;
    pthread_mutex_unlock(&ts_lock);
    my_ts = t;
    return t;
}

static const EVP_CIPHER *cipher_of(const suite_t *s)
{
    size_t i = (size_t)(s - SUITES);
    EVP_CIPHER *c = atomic_load(&fetched[i]);
    if (c) return c;
    EVP_CIPHER *n = EVP_CIPHER_fetch(NULL, s->cipher, NULL);
    if (!n) return NULL;
    if (!atomic_compare_exchange_strong(&fetched[i], &c, n)) {
        EVP_CIPHER_free(n);
        return c;
    }
    return n;
}

/* The thread's context for d's key (enc: sealing), keyed if its last key was another. */
static EVP_CIPHER_CTX *ctx_for(const suite_t *s, const dir_t *d, int enc)
{
    tstate_t *t = tstate();
    if (t->kid[enc] != d->kid) {
        const EVP_CIPHER *c = cipher_of(s);
        t->kid[enc] = 0;
        if (!c || EVP_CipherInit_ex(t->ctx[enc], c, NULL, d->key, NULL, enc) != 1) return NULL;
        t->kid[enc] = d->kid;
    }
    return t->ctx[enc];
}

/* RFC 8446 §5.3: the IV xor the 64-bit sequence number, right-aligned. */
static void nonce_of(const dir_t *d, uint8_t n[12])
{
    memcpy(n, d->iv, 12);
    for (int i = 0; i < 8; i++)
        n[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

/* ---- key schedule: HKDF-Expand-Label (RFC 8446 §7.1) with an empty context --------- *
 * Every output here (a key, an IV, the next secret) is at most the hash's length, so
 * HKDF-Expand (RFC 5869 §2.3) is its first block: HMAC(secret, info || 0x01). The
 * thread's HMAC context keeps its digest: a fetch of HKDF and its digest per call cost
 * ~1.3 us, which a peer sending KeyUpdates makes us pay three times per 27 bytes. */
static EVP_MAC_CTX *hmac_for(const suite_t *s)
{
    tstate_t *t = tstate();
    int k = s->hashlen == 48;
    if (t->hmac[k]) return t->hmac[k];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *x = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* (the context keeps its own reference) */
    OSSL_PARAM ps[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)s->md, 0),
        OSSL_PARAM_construct_end(),
    };
    if (x && EVP_MAC_CTX_set_params(x, ps) != 1) {
        EVP_MAC_CTX_free(x);
        x = NULL;
    }
    return t->hmac[k] = x;
}

static bool expand_label(const suite_t *s, const uint8_t *secret, const char *label, uint8_t *out,
                         size_t outlen)
{
    uint8_t info[2 + 1 + 255 + 1 + 1], block[EVP_MAX_MD_SIZE];
    size_t ll = strlen(label), k = 0, bl = 0;
    if (outlen > s->hashlen) return false;
    info[k++] = (uint8_t)(outlen >> 8);
    info[k++] = (uint8_t)outlen;
    info[k++] = (uint8_t)(6 + ll);
    memcpy(info + k, "tls13 ", 6);
    memcpy(info + k + 6, label, ll);
    k += 6 + ll;
    info[k++] = 0; /* the empty context */
    info[k++] = 1; /* HKDF-Expand's block counter */
    EVP_MAC_CTX *x = hmac_for(s);
    bool ok = x && EVP_MAC_init(x, secret, s->hashlen, NULL) == 1 &&
              EVP_MAC_update(x, info, k) == 1 && EVP_MAC_final(x, block, &bl, sizeof block) == 1 &&
              bl == s->hashlen;
    if (ok) memcpy(out, block, outlen);
    OPENSSL_cleanse(block, sizeof block);
    if (!ok) ERR_clear_error();
    return ok;
}

/* d's key and IV from its secret, sequence from 0 (§7.3). */
static bool set_key(const suite_t *s, dir_t *d)
{
    if (!expand_label(s, d->secret, "key", d->key, s->keylen) ||
        !expand_label(s, d->secret, "iv", d->iv, 12))
        return false;
    d->seq = 0;
    d->kid = atomic_fetch_add(&next_kid, 1);
    return true;
}

/* The next generation of d's secret (§7.2). */
static bool next_key(const suite_t *s, dir_t *d)
{
    uint8_t n[48];
    if (!expand_label(s, d->secret, "traffic upd", n, s->hashlen)) return false;
    memcpy(d->secret, n, s->hashlen);
    OPENSSL_cleanse(n, sizeof n);
    return set_key(s, d);
}

static const suite_t *suite_of(uint16_t id)
{
    for (size_t i = 0; i < ARRAY_LEN(SUITES); i++)
        if (SUITES[i].id == id) return &SUITES[i];
    return NULL;
}

tlsrec_t *tlsrec_from_secrets(uint16_t suite, bool server, const uint8_t *rd, const uint8_t *wr,
                              size_t len)
{
    const suite_t *s = suite_of(suite);
    if (!s || len != s->hashlen) return NULL;
    tlsrec_t *r = xcalloc(1, sizeof *r);
    r->s = s;
    r->server = server;
    r->ku_tokens = KU_TOKENS;
    memcpy(r->rd.secret, rd, len);
    memcpy(r->wr.secret, wr, len);
    if (!set_key(s, &r->rd) || !set_key(s, &r->wr)) {
        tlsrec_free(r);
        return NULL;
    }
    return r;
}

static void in_drop(tlsrec_t *r)
{
    free(r->in);
    r->in = NULL;
    r->in_len = r->in_off = r->in_cap = 0;
    r->in_plain = false;
}

void tlsrec_free(tlsrec_t *r)
{
    if (!r) return;
    in_drop(r);
    free(r->out);
    X509_free(r->peer);
    sk_X509_pop_free(r->chain, X509_free);
    OPENSSL_cleanse(r, sizeof *r);
    free(r);
}

/* ---- opening records ---------------------------------------------------------------- */

static bool fail(tlsrec_t *r)
{
    r->err = true;
    ERR_clear_error();
    return false;
}

/* Post-handshake messages in one record's plaintext (§4.6): whole messages only. */
static bool handshake(tlsrec_t *r, const uint8_t *p, size_t m)
{
    if (m == 0) return false;
    while (m) {
        if (m < 4) return false;
        size_t ml = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (m - 4 < ml) return false;
        if (p[0] == HS_KEY_UPDATE) {
            /* a key change: the message must end its record (§5.1) */
            if (ml != 1 || p[4] > 1 || m != 5 || r->ku_tokens == 0) return false;
            r->ku_tokens--;
            if (!next_key(r->s, &r->rd)) return false;
            if (p[4] == 1) r->owe_update = true;
        } else if (!(p[0] == HS_NEW_SESSION_TICKET && !r->server)) {
            return false;
        }
        p += 4 + ml;
        m -= 4 + ml;
    }
    return true;
}

/* Opens the record at rec (header + n bytes) in place: its data's length (at rec + HDR),
 * 0 for a record that carried none, -1 on an error. */
static ssize_t open_one(tlsrec_t *r, uint8_t *rec, size_t n)
{
    uint8_t *body = rec + HDR, nonce[12];
    int clen = (int)(n - TAG), l = 0, l2 = 0;
    if (r->rd.seq == UINT64_MAX) return -1;
    EVP_CIPHER_CTX *x = ctx_for(r->s, &r->rd, 0);
    nonce_of(&r->rd, nonce);
    if (!x || EVP_DecryptInit_ex(x, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(x, NULL, &l, rec, HDR) != 1 ||
        EVP_DecryptUpdate(x, body, &l, body, clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAG, body + clen) != 1 ||
        EVP_DecryptFinal_ex(x, body + l, &l2) != 1 || l + l2 != clen)
        return -1;
    r->rd.seq++;
    /* the inner plaintext: content, its type, then zero padding (§5.4), 2^14 + 1 bytes at
     * most in all (§5.2: record_overflow past it) */
    if (clen > MAX_PLAIN + 1) return -1;
    size_t m = (size_t)clen;
    while (m > 0 && body[m - 1] == 0)
        m--;
    if (m == 0) return -1;
    uint8_t type = body[--m];
    if (m > MAX_PLAIN) return -1;
    switch (type) {
    case CT_DATA:
        return (ssize_t)m;
    case CT_ALERT:
        if (m == 2 && body[1] == 0) { /* close_notify, at either level */
            r->eof = true;
            return 0;
        }
        return -1;
    case CT_HANDSHAKE:
        return handshake(r, body, m) ? 0 : -1;
    default:
        return -1;
    }
}

/* A record header's length, or 0 if it cannot start a protected record. */
static size_t rec_len(const uint8_t *h)
{
    size_t n = (size_t)h[3] << 8 | h[4];
    return h[0] == CT_DATA && n > TAG && n <= MAX_CIPHER ? n : 0;
}

/* Opens the complete records at the front of buf[0..len) in place, the plaintext
 * compacted at buf's start, its length returned (-2 on an error, which stays). *used:
 * bytes of buf taken; the rest begins a record not complete yet. */
static ssize_t open_records(tlsrec_t *r, char *buf, size_t len, size_t *used)
{
    size_t i = 0, o = 0;
    *used = 0;
    if (r->err) return -2;
    while (!r->eof && len - i >= HDR) {
        size_t n = rec_len((uint8_t *)buf + i);
        if (!n) {
            fail(r);
            break;
        }
        if (len - i - HDR < n) break;
        ssize_t m = open_one(r, (uint8_t *)buf + i, n);
        if (m < 0) {
            fail(r);
            break;
        }
        if (m > 0) {
            memmove(buf + o, buf + i + HDR, (size_t)m);
            r->useless = 0;
            size_t b = r->ku_bytes + (size_t)m;
            if (b >= KU_BYTES) {
                if (r->ku_tokens < KU_TOKENS) r->ku_tokens++;
                b -= KU_BYTES; /* (a record is at most 16 KiB: one token per record) */
            }
            r->ku_bytes = (uint16_t)b;
        } else if (!r->eof && ++r->useless > USELESS_MAX) {
            fail(r);
            break;
        }
        o += (size_t)m;
        i += HDR + n;
    }
    *used = i;
    return o || !r->err ? (ssize_t)o : -2;
}

bool tlsrec_eof(const tlsrec_t *r)
{
    return r->eof;
}

bool tlsrec_has_plain(const tlsrec_t *r)
{
    return r->in_plain;
}

/* ---- the socket ----------------------------------------------------------------------- */

static ssize_t give_plain(tlsrec_t *r, char *buf, size_t room)
{
    size_t k = r->in_len - r->in_off;
    if (k > room) k = room;
    memcpy(buf, r->in + r->in_off, k);
    r->in_off += (uint32_t)k;
    if (r->in_off == r->in_len) in_drop(r);
    return (ssize_t)k;
}

/* Keeps the start of a record not complete yet, in a buffer of the record's size (of its
 * header's while that is not complete: a peer that sends a byte holds 5, not 16 KiB). */
static void in_keep(tlsrec_t *r, const char *p, size_t n)
{
    size_t cap = n >= HDR ? HDR + rec_len((const uint8_t *)p) : HDR;
    r->in = xmalloc(cap);
    r->in_cap = (uint32_t)cap;
    memcpy(r->in, p, n);
    r->in_len = (uint32_t)n;
}

/* The record begun in r->in, completed from the socket and opened there (for a caller
 * with less room than the record): 1 when it is, -1 when the socket ran dry first. */
static ssize_t fill_in(tlsrec_t *r, int fd)
{
    for (;;) {
        size_t whole = r->in_len >= HDR ? HDR + rec_len((uint8_t *)r->in) : HDR;
        if (whole == HDR && r->in_len >= HDR) return fail(r), -2; /* bad header */
        size_t want = whole - r->in_len;
        if (want == 0) break;
        if (whole > r->in_cap) {
            r->in = xrealloc(r->in, whole);
            r->in_cap = (uint32_t)whole;
        }
        ssize_t n = transport_recv(fd, NULL, r->in + r->in_len, want);
        if (n <= 0) return n;
        r->in_len += (uint32_t)n;
        if ((size_t)n < want) return -1;
    }
    size_t used;
    ssize_t m = open_records(r, r->in, r->in_len, &used);
    if (m < 0) return -2;
    if (m == 0) {
        in_drop(r);
        return 1;
    }
    r->in_plain = true;
    r->in_off = 0;
    r->in_len = (uint32_t)m;
    return 1;
}

ssize_t tlsrec_recv(tlsrec_t *r, int fd, char *buf, size_t room, bool *drained)
{
    *drained = false;
    for (;;) {
        if (r->in_plain) return give_plain(r, buf, room);
        if (r->err) return -2;
        if (r->eof) return 0;
        size_t have = r->in_len;
        size_t whole = have >= HDR ? HDR + rec_len((uint8_t *)r->in) : MAX_RECORD;
        if (have && whole > room) {
            /* the caller has less room than the record: complete it in r->in */
            ssize_t rc = fill_in(r, fd);
            if (rc <= 0) return rc == 0 ? 0 : rc;
            continue;
        }
        /* read after the partial record's bytes, which go in front only if this
         * brings more (else they stay where they are) */
        ssize_t n = transport_recv(fd, NULL, buf + have, room - have);
        if (n <= 0) return n;
        bool shortread = (size_t)n < room - have;
        if (have >= HDR && have + (size_t)n < whole && whole <= r->in_cap) {
            /* still short of the record's end: the new bytes join it where it is (its
             * buffer has the record's size). Moved to buf and kept again each time, a
             * record trickled in a byte per segment was copied ~8 KB per byte. */
            memcpy(r->in + have, buf + have, (size_t)n);
            r->in_len += (uint32_t)n;
            if (shortread) return -1;
            continue;
        }
        if (have) {
            memcpy(buf, r->in, have);
            in_drop(r);
        }
        size_t total = have + (size_t)n, used;
        ssize_t o = open_records(r, buf, total, &used);
        if (o < 0) return -2;
        if (used < total && !r->eof && !r->err) in_keep(r, buf + used, total - used);
        if (o > 0) {
            /* (data then close_notify or a bad record in one read: not drained, so the
             * next read sees the end now, not at the peer's next segment) */
            *drained = shortread && !r->eof && !r->err;
            return o;
        }
        if (r->eof) return 0;
        if (r->err) return -2;
        if (shortread) return -1;
    }
}

/* ---- sealing -------------------------------------------------------------------------- */

/* One record at out: p[0..k), its inner type, pad zero bytes; its size, 0 on an error. */
static size_t seal_one(tlsrec_t *r, uint8_t type, const char *p, size_t k, size_t pad, char *out)
{
    static const uint8_t zeros[256];
    size_t n = k + 1 + pad + TAG;
    uint8_t *h = (uint8_t *)out, nonce[12];
    int l = 0;
    size_t pos = 0;
    if (r->wr.seq == UINT64_MAX || pad > sizeof zeros || n > MAX_CIPHER) return 0;
    h[0] = CT_DATA;
    h[1] = 3;
    h[2] = 3;
    h[3] = (uint8_t)(n >> 8);
    h[4] = (uint8_t)n;
    EVP_CIPHER_CTX *x = ctx_for(r->s, &r->wr, 1);
    nonce_of(&r->wr, nonce);
    uint8_t *body = h + HDR;
    if (!x || EVP_EncryptInit_ex(x, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(x, NULL, &l, h, HDR) != 1 ||
        EVP_EncryptUpdate(x, body, &l, (const uint8_t *)p, (int)k) != 1)
        return 0;
    pos += (size_t)l;
    if (EVP_EncryptUpdate(x, body + pos, &l, &type, 1) != 1) return 0;
    pos += (size_t)l;
    if (pad && EVP_EncryptUpdate(x, body + pos, &l, zeros, (int)pad) != 1) return 0;
    pos += pad ? (size_t)l : 0;
    if (EVP_EncryptFinal_ex(x, body + pos, &l) != 1) return 0;
    pos += (size_t)l;
    if (pos != k + 1 + pad || EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG, body + pos) != 1)
        return 0;
    r->wr.seq++;
    return HDR + n;
}

size_t tlsrec_seal_record(tlsrec_t *r, uint8_t type, const char *p, size_t k, size_t pad, char *out)
{
    return seal_one(r, type, p, k, pad, out);
}

/* Seals up to TLSREC_SEND_MAX of p (after any KeyUpdate owed) into out (room for
 * sealed_max bytes), its length returned; *taken: bytes of p sealed. -2 on an error. */
static ssize_t seal_records(tlsrec_t *r, const char *p, size_t len, char *out, size_t *taken)
{
    size_t o = 0, t = 0;
    *taken = 0;
    if (r->err) return -2;
    /* taken in one step: a request the reader records meanwhile is answered next time */
    if (atomic_exchange(&r->owe_update, false) || r->wr.seq >= KEY_RECORDS) {
        static const char ku[5] = {HS_KEY_UPDATE, 0, 0, 1, 0}; /* update_not_requested */
        size_t n = seal_one(r, CT_HANDSHAKE, ku, sizeof ku, 0, out);
        if (!n || !next_key(r->s, &r->wr)) return fail(r), -2;
        o += n;
    }
    if (len > TLSREC_SEND_MAX) len = TLSREC_SEND_MAX;
    while (t < len) {
        size_t k = len - t < MAX_PLAIN ? len - t : MAX_PLAIN;
        size_t n = seal_one(r, CT_DATA, p + t, k, 0, out + o);
        if (!n) return fail(r), -2;
        o += n;
        t += k;
    }
    *taken = t;
    return (ssize_t)o;
}

ssize_t tlsrec_send(tlsrec_t *r, int fd, const char *p, size_t len)
{
    if (r->out_len) {
        ssize_t w = transport_send(fd, NULL, r->out + r->out_off, r->out_len - r->out_off);
        if (w < 0) return w;
        r->out_off += (uint32_t)w;
        if (r->out_off < r->out_len) return -1;
        free(r->out);
        r->out = NULL;
        r->out_len = r->out_off = 0;
    }
    if (!len) return 0; /* (a call to send what was held: all of it went) */
    tstate_t *t = tstate();
    size_t taken;
    ssize_t n = seal_records(r, p, len, t->scratch, &taken);
    if (n < 0) return -2;
    ssize_t w = transport_send(fd, NULL, t->scratch, (size_t)n);
    if (w == -2) return -2;
    if (w == -1) w = 0;
    if (w < n) {
        /* sealed (its sequence numbers spent): what the socket did not take goes first
         * at the next call */
        r->out_len = (uint32_t)(n - w);
        r->out = xmalloc(r->out_len);
        memcpy(r->out, t->scratch + w, r->out_len);
    }
    return (ssize_t)taken;
}

bool tlsrec_holds(const tlsrec_t *r)
{
    return r->out_len != 0;
}

/* ---- taking over from OpenSSL ------------------------------------------------------- */

/* What the handshake leaves for tlsrec_take: the application traffic secrets (from the
 * keylog callback), the records written, and how many had been written when our own
 * write secret came: the ones after it went under that key (a server's tickets, a ticket
 * being more than one record when it outgrows the record size: a big client
 * certificate, a maximum fragment length). Counting tickets instead of records put our
 * first sequence number below the peer's and reused a nonce. */
typedef struct capture {
    uint8_t cs[48], ss[48];
    uint8_t cs_len, ss_len;
    bool marked;
    uint32_t records, mark;
} capture_t;

static _Atomic int cap_idx = -1;

static void cap_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (!ptr) return;
    OPENSSL_cleanse(ptr, sizeof(capture_t));
    free(ptr);
}

static int cap_index(void)
{
    int i = atomic_load(&cap_idx);
    if (i >= 0) return i;
    int n = SSL_get_ex_new_index(0, NULL, NULL, NULL, cap_free);
    if (n < 0) return -1;
    if (!atomic_compare_exchange_strong(&cap_idx, &i, n)) return i;
    return n;
}

/* "LABEL <client random> <secret>", both in hex */
static void keylog(const SSL *ssl, const char *line)
{
    int idx = cap_index();
    capture_t *c = idx >= 0 ? SSL_get_ex_data(ssl, idx) : NULL;
    if (!c) return;
    uint8_t *dst, *dlen;
    bool ours; /* the secret we write with: records from here on go under it */
    if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) {
        dst = c->cs;
        dlen = &c->cs_len;
        ours = !SSL_is_server(ssl);
    } else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) {
        dst = c->ss;
        dlen = &c->ss_len;
        ours = SSL_is_server(ssl);
    } else {
        return;
    }
    if (ours) {
        c->mark = c->records;
        c->marked = true;
    }
    const char *h = strchr(line + 24, ' ');
    if (!h) return;
    h++;
    size_t n = strlen(h);
    if (n % 2 || n / 2 > sizeof c->cs) return;
    for (size_t i = 0; i < n / 2; i++) {
        int a = hex_val(h[2 * i]), b = hex_val(h[2 * i + 1]);
        if (a < 0 || b < 0) return;
        dst[i] = (uint8_t)(a << 4 | b);
    }
    *dlen = (uint8_t)(n / 2);
}

static void msg_watch(int write_p, int version, int content_type, const void *buf, size_t len,
                      SSL *ssl, void *arg)
{
    (void)version, (void)ssl;
    (void)buf, (void)len;
    capture_t *c = arg;
    /* (OpenSSL reports each record's header as it seals it, before it is sent) */
    if (write_p && content_type == SSL3_RT_HEADER) c->records++;
}

void tlsrec_ctx_setup(SSL_CTX *ctx)
{
    SSL_CTX_set_keylog_callback(ctx, keylog);
}

void tlsrec_watch(SSL *ssl)
{
    int idx = cap_index();
    if (idx < 0) return;
    capture_t *c = xcalloc(1, sizeof *c);
    if (SSL_set_ex_data(ssl, idx, c) != 1) {
        free(c);
        return;
    }
    SSL_set_msg_callback(ssl, msg_watch);
    SSL_set_msg_callback_arg(ssl, c);
    /* reads stop at each record's end, so none of the peer's data is read ahead */
    SSL_set_read_ahead(ssl, 0);
}

tlsrec_t *tlsrec_take(SSL *ssl)
{
    int idx = cap_index();
    capture_t *c = idx >= 0 ? SSL_get_ex_data(ssl, idx) : NULL;
    const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
    const suite_t *s = ci ? suite_of((uint16_t)(SSL_CIPHER_get_id(ci) & 0xffff)) : NULL;
    tlsrec_t *r = NULL;
    bool server = SSL_is_server(ssl);
    /* A maximum fragment length (RFC 6066) the client asked for limits our records
     * below 2^14: such a rare connection keeps its SSL. */
    SSL_SESSION *sess = SSL_get_session(ssl);
    bool mfl =
        sess && SSL_SESSION_get_max_fragment_length(sess) != TLSEXT_max_fragment_length_DISABLED;
    if (c && s && SSL_version(ssl) == TLS1_3_VERSION && c->cs_len == s->hashlen &&
        c->ss_len == s->hashlen && c->marked && !mfl && !SSL_has_pending(ssl))
        r = tlsrec_from_secrets(s->id, server, server ? c->cs : c->ss, server ? c->ss : c->cs,
                                s->hashlen);
    if (!r) {
        SSL_set_msg_callback(ssl, NULL);
        SSL_set_read_ahead(ssl, 1);
        return NULL;
    }
    r->wr.seq = c->records - c->mark;
    r->peer = SSL_get1_peer_certificate(ssl);
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    r->chain = chain ? X509_chain_up_ref(chain) : NULL;
    return r;
}

const char *tlsrec_cipher_name(const tlsrec_t *r)
{
    return r->s->iana;
}

X509 *tlsrec_peer(const tlsrec_t *r)
{
    return r->peer;
}

STACK_OF(X509) * tlsrec_peer_chain(const tlsrec_t *r)
{
    return r->chain;
}
