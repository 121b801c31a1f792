/* nkeys.c: NATS nkeys (see nkeys.h). */
#include "base/nkeys.h"
#include "base/os.h"

#include <openssl/evp.h>
#include <string.h>

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

/* Base32 of s[0..n) into out (at most cap bytes): the byte count, or -1. Trailing
 * bits must be zero (a canonical encoding only). */
static long b32_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *q = s[i] ? strchr(b32, s[i]) : NULL;
        if (!q) return -1;
        acc = (acc << 5) | (uint32_t)(q - b32);
        bits += 5;
        if (bits >= 8) {
            if (o == cap) return -1;
            out[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
        acc &= (1u << bits) - 1;
    }
    if (acc) return -1;
    return (long)o;
}

static size_t b32_encode(const uint8_t *p, size_t n, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits) out[o++] = b32[(acc << (5 - bits)) & 31];
    out[o] = 0;
    return o;
}

/* Decoded bytes with their CRC checked and stripped: the payload length, or -1. */
static long decode_checked(const char *s, size_t n, uint8_t *buf, size_t cap)
{
    long len = b32_decode(s, n, buf, cap);
    if (len < 3) return -1;
    uint16_t want = (uint16_t)(buf[len - 2] | (buf[len - 1] << 8));
    if (crc16(buf, (size_t)len - 2) != want) return -1;
    return len - 2;
}

static bool valid_type(int t)
{
    return t == NKEY_ACCOUNT || t == NKEY_CLUSTER || t == NKEY_SERVER || t == NKEY_OPERATOR ||
           t == NKEY_USER;
}

bool nkey_decode_public(const char *s, size_t n, nkey_type_t want, uint8_t raw[32],
                        nkey_type_t *type)
{
    uint8_t buf[40];
    if (n != NKEY_PUBLIC_LEN) return false;
    long len = decode_checked(s, n, buf, sizeof buf);
    if (len != 33 || !valid_type(buf[0])) return false;
    if (want != NKEY_ANY && buf[0] != (uint8_t)want) return false;
    if (raw) memcpy(raw, buf + 1, 32);
    if (type) *type = (nkey_type_t)buf[0];
    return true;
}

bool nkey_decode_seed(const char *s, size_t n, uint8_t seed[32], nkey_type_t *type)
{
    uint8_t buf[40];
    if (n != NKEY_SEED_LEN) return false;
    long len = decode_checked(s, n, buf, sizeof buf);
    if (len != 34 || (buf[0] & 0xf8) != (18 << 3)) return false;
    int t = ((buf[0] & 7) << 5) | ((buf[1] & 0xf8) >> 3);
    if (!valid_type(t)) return false;
    memcpy(seed, buf + 2, 32);
    if (type) *type = (nkey_type_t)t;
    return true;
}

void nkey_encode_public(nkey_type_t t, const uint8_t raw[32], char *out)
{
    uint8_t buf[35];
    buf[0] = (uint8_t)t;
    memcpy(buf + 1, raw, 32);
    uint16_t c = crc16(buf, 33);
    buf[33] = (uint8_t)(c & 0xff);
    buf[34] = (uint8_t)(c >> 8);
    b32_encode(buf, sizeof buf, out);
}

bool nkey_verify(const uint8_t raw[32], const void *data, size_t n, const uint8_t sig[64])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    if (!k) return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestVerify(ctx, sig, 64, data, n) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

bool nkey_verify_str(const char *pub, size_t pn, nkey_type_t want, const void *data, size_t n,
                     const uint8_t sig[64])
{
    uint8_t raw[32];
    return nkey_decode_public(pub, pn, want, raw, NULL) && nkey_verify(raw, data, n, sig);
}

bool nkey_sign(const uint8_t seed[32], const void *data, size_t n, uint8_t sig[64], uint8_t pub[32])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    if (!k) return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sl = 64, pl = 32;
    bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
              EVP_DigestSign(ctx, sig, &sl, data, n) == 1 && sl == 64 &&
              (!pub || (EVP_PKEY_get_raw_public_key(k, pub, &pl) == 1 && pl == 32));
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ok;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

long nkey_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    while (n && s[n - 1] == '=')
        n--;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            if (o == cap) return -1;
            out[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
        acc &= (1u << bits) - 1;
    }
    if (bits >= 6) return -1; /* a lone trailing character */
    return (long)o;
}

size_t nkey_b64url_encode(const uint8_t *p, size_t n, char *out, size_t cap)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 6 && o + 1 < cap) {
            out[o++] = a[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits && o + 1 < cap) out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = 0;
    return o;
}

bool nkey_nonce(char out[NKEY_NONCE_LEN + 1])
{
    uint8_t raw[11];
    if (os_random(raw, sizeof raw) != 0) return false;
    return nkey_b64url_encode(raw, sizeof raw, out, NKEY_NONCE_LEN + 1) == NKEY_NONCE_LEN;
}
