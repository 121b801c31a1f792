#include "base/hash.h"

#include <openssl/evp.h>

#include "base/os.h"

#include <time.h>
#include <unistd.h>

uint64_t hash_seed = 0x9e3779b97f4a7c15ull;

/* Before main and before any thread: the seed never changes afterwards. */
__attribute__((constructor)) static void hash_seed_init(void)
{
    uint64_t v;
    if (os_random(&v, sizeof v) != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^
            ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&v;
    }
    hash_seed = v;
}

void hash_name_b62(const char *s, char *out, int n)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdn = 0;
    EVP_Digest(s, strlen(s), md, &mdn, EVP_sha256(), NULL);
    for (int i = 0; i < n && i < (int)mdn; i++)
        out[i] = b62[md[i] % 62];
    out[n] = 0;
}
