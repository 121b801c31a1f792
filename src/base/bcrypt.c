/* bcrypt.c: bcrypt via libxcrypt. Never a home-grown bcrypt: libxcrypt's is
 * the audited crypt_blowfish and verifies Go-produced hashes identically. */
#include "base/bcrypt.h"
#include "base/os.h"

#include <crypt.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BCRYPT_MAX_KEY 72

bool bcrypt_is_hash(const char *s)
{
    if (!s || s[0] != '$' || s[1] != '2') return false;
    if (s[2] != 'a' && s[2] != 'b' && s[2] != 'x' && s[2] != 'y') return false;
    return s[3] == '$' && s[4] >= '0' && s[4] <= '9' && s[5] >= '0' && s[5] <= '9' && s[6] == '$';
}

bool secret_equal(const char *a, size_t an, const char *b, size_t bn)
{
    /* Scan the full length of a even on a length mismatch so the time does
     * not reveal where the first difference is. */
    unsigned char d = an != bn;
    for (size_t i = 0; i < an; i++)
        d |= (unsigned char)(a[i] ^ (i < bn ? b[i] : 0));
    return d == 0;
}

bool bcrypt_check(const char *hash, const char *plain, size_t plain_len)
{
    if (!bcrypt_is_hash(hash) || (!plain && plain_len)) return false;
    size_t hl = strlen(hash);
    if (hl != BCRYPT_HASH_LEN) return false;

    char key[BCRYPT_MAX_KEY + 1];
    size_t kl = plain_len < BCRYPT_MAX_KEY ? plain_len : BCRYPT_MAX_KEY;
    if (kl && memchr(plain, 0, kl)) return false;
    if (kl) memcpy(key, plain, kl);
    key[kl] = 0;

    char setting[BCRYPT_HASH_LEN + 1];
    memcpy(setting, hash, hl + 1);
    if (setting[2] == 'x') setting[2] = 'a';

    /* Per-call state: crypt_data is ~32 KiB, too big for worker stacks. */
    struct crypt_data *cd = calloc(1, sizeof *cd);
    bool ok = false;
    if (cd) {
        const char *out = crypt_rn(key, setting, cd, (int)sizeof *cd);
        ok = out && out[0] != '*' && secret_equal(out, strlen(out), setting, hl);
        explicit_bzero(cd, sizeof *cd);
        free(cd);
    }
    explicit_bzero(key, sizeof key);
    return ok;
}

int bcrypt_hash(const char *plain, int cost, char *out, size_t outlen)
{
    if (cost < 4) cost = 10;
    if (cost > 31 || !plain || outlen < BCRYPT_HASH_LEN + 1) {
        errno = EINVAL;
        return -1;
    }
    unsigned char rnd[16];
    if (os_random(rnd, sizeof rnd) != 0) return -1;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2a$", (unsigned long)cost, (const char *)rnd, sizeof rnd, setting,
                          sizeof setting))
        return -1;
    explicit_bzero(rnd, sizeof rnd);

    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd) return -1;
    int rc = -1;
    const char *h = crypt_rn(plain, setting, cd, (int)sizeof *cd);
    if (h && h[0] != '*' && strlen(h) == BCRYPT_HASH_LEN) {
        memcpy(out, h, BCRYPT_HASH_LEN + 1);
        rc = 0;
    } else {
        errno = EINVAL;
    }
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return rc;
}
