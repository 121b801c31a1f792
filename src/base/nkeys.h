/* nkeys.h: NATS nkeys (docs/security.md "nkeys"): Ed25519 keys written as
 * base32 (RFC 4648 alphabet, no padding) of a type byte, the key and a
 * CRC-16 (XMODEM: polynomial 0x1021, initial 0, little-endian), so a public
 * user key reads "U...", an account "A...", an operator "O...", a server
 * "N...", and a seed "S" + the type letter.
 *
 * Everything is checked (alphabet, length, CRC, type) before a key is used;
 * signatures are verified with OpenSSL's Ed25519. No allocation. */
#ifndef GNATSD_NKEYS_H
#define GNATSD_NKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum nkey_type {
    NKEY_ACCOUNT = 0,
    NKEY_CLUSTER = 2 << 3,
    NKEY_SERVER = 13 << 3,
    NKEY_OPERATOR = 14 << 3,
    NKEY_USER = 20 << 3,
    NKEY_ANY = -1, /* nkey_decode_public: any of these */
} nkey_type_t;

#define NKEY_PUBLIC_LEN 56 /* characters of an encoded public key */
#define NKEY_SEED_LEN 58
#define NKEY_NONCE_LEN 15 /* characters of a nonce (11 random bytes, base64url) */

/* s[0..n) is a public key of type want (NKEY_ANY: any type above): true with the raw
 * key in raw (may be NULL) and its type in *type (may be NULL). */
bool nkey_decode_public(const char *s, size_t n, nkey_type_t want, uint8_t raw[32],
                        nkey_type_t *type);
static inline bool nkey_is_public(const char *s, size_t n, nkey_type_t want)
{
    return nkey_decode_public(s, n, want, NULL, NULL);
}
/* A seed ("SU...", "SA...", ...): the 32-byte Ed25519 seed and the key's type. */
bool nkey_decode_seed(const char *s, size_t n, uint8_t seed[32], nkey_type_t *type);
/* The public key of type t for raw, NUL-terminated into out[NKEY_PUBLIC_LEN + 1]. */
void nkey_encode_public(nkey_type_t t, const uint8_t raw[32], char *out);

/* Ed25519: sig (64 bytes) over data by public key raw. */
bool nkey_verify(const uint8_t raw[32], const void *data, size_t n, const uint8_t sig[64]);
/* The public key's signature check in one: pub is an encoded key of type want. */
bool nkey_verify_str(const char *pub, size_t pn, nkey_type_t want, const void *data, size_t n,
                     const uint8_t sig[64]);
/* Signs data with a 32-byte seed (true) and gives its raw public key (may be NULL). */
bool nkey_sign(const uint8_t seed[32], const void *data, size_t n, uint8_t sig[64],
               uint8_t pub[32]);

/* Base64 (URL-safe or standard alphabet, padding optional) into out (at most cap
 * bytes): the decoded length, or -1. What clients send as a CONNECT "sig". */
long nkey_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap);
/* base64url without padding of n bytes into out (NUL-terminated): its length. */
size_t nkey_b64url_encode(const uint8_t *p, size_t n, char *out, size_t cap);
/* A nonce as the reference makes it: 11 random bytes, base64url, 15 characters + NUL. */
bool nkey_nonce(char out[NKEY_NONCE_LEN + 1]);

#endif
