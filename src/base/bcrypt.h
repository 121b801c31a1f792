/* bcrypt.h: bcrypt password hashes through libxcrypt (link -lcrypt), plus a
 * constant-time compare for plain secrets. All functions are thread-safe. */
#ifndef GNATSD_BCRYPT_H
#define GNATSD_BCRYPT_H

#include <stdbool.h>
#include <stddef.h>

#define BCRYPT_HASH_LEN 60
#define BCRYPT_DEFAULT_COST 11 /* the reference mkpasswd's default */

/* True when s looks like a bcrypt hash: ^\$2[abxy]\$[0-9]{2}\$ (docs/config.md
 * §7.2). Such a configured secret is verified with bcrypt_check, anything else
 * is compared byte-for-byte with secret_equal. */
bool bcrypt_is_hash(const char *s);

/* Verifies plain (plain_len bytes, need not be NUL-terminated) against a
 * bcrypt hash. Like Go's bcrypt only the first 72 bytes count. $2x$ hashes
 * are checked as $2a$ (Go ignores the minor letter), not with crypt_blowfish's
 * sign-extension bug emulation. A NUL byte within the first 72 bytes makes
 * the check fail (crypt(3) would stop there and accept a prefix). */
bool bcrypt_check(const char *hash, const char *plain, size_t plain_len);

/* Hashes plain with a fresh random salt as "$2a$<cost>$..." (what Go's
 * bcrypt and the reference mkpasswd emit). cost < 4 becomes 10 (Go's
 * DefaultCost); cost > 31 fails. out needs BCRYPT_HASH_LEN + 1 bytes.
 * Returns 0, or -1 (errno set). */
int bcrypt_hash(const char *plain, int cost, char *out, size_t outlen);

/* Constant-time equality for plain passwords/tokens (time depends only on
 * the lengths, like Go's subtle.ConstantTimeCompare). */
bool secret_equal(const char *a, size_t an, const char *b, size_t bn);

#endif
