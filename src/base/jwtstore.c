/* jwtstore.c: a directory of JWTs (see jwtstore.h). */
#include "base/jwtstore.h"
#include "base/common.h"
#include "base/jwt.h"
#include "base/nkeys.h"
#include "base/os.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUFFIX ".jwt"

/* Only a public nkey names a file: a key from a request cannot walk out of dir. */
static bool path_for(const char *dir, const char *pub, char *out, size_t cap)
{
    if (!nkey_decode_public(pub, strlen(pub), NKEY_ANY, NULL, NULL)) return false;
    return (size_t)snprintf(out, cap, "%s/%s" SUFFIX, dir, pub) < cap;
}

char *jwtstore_load(const char *dir, const char *pub)
{
    char path[4096];
    if (!path_for(dir, pub, path, sizeof path)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = xmalloc(JWTSTORE_MAX_TOKEN + 1);
    size_t n = fread(buf, 1, JWTSTORE_MAX_TOKEN + 1, f);
    fclose(f);
    if (n == 0 || n > JWTSTORE_MAX_TOKEN) {
        free(buf);
        return NULL;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = 0;
    return buf;
}

long jwtstore_count(const char *dir)
{
    long n = 0;
    jwtstore_list(dir, NULL, &n);
    return n;
}

int jwtstore_save(const char *dir, const char *pub, const char *jwt, long limit, bool newer_only,
                  char *err, size_t errlen)
{
    char path[4096], tmp[4200];
    if (!path_for(dir, pub, path, sizeof path)) {
        snprintf(err, errlen, "invalid public key");
        return -1;
    }
    jwt_t nj, oj;
    char e[128];
    if (jwt_decode(jwt, strlen(jwt), &nj, e, sizeof e) != 0) {
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    int rc = 1;
    if (strcmp(nj.sub, pub) != 0) { /* (the reference checks this only over a stored one) */
        snprintf(err, errlen, "jwt subject nkey and provided nkey do not match");
        jwt_free(&nj);
        return -1;
    }
    char *old = jwtstore_load(dir, pub);
    if (old && !newer_only) {
        if (strcmp(old, jwt) == 0) rc = 0; /* the same token: nothing changes */
    } else if (old && jwt_decode(old, strlen(old), &oj, e, sizeof e) == 0) {
        if (strcmp(oj.jti, nj.jti) == 0 || oj.iat > nj.iat)
            rc = 0;
        else if (strcmp(nj.sub, pub) != 0)
            snprintf(err, errlen, "jwt subject nkey and provided nkey do not match"), rc = -1;
        jwt_free(&oj);
    } else if (!old && limit > 0 && jwtstore_count(dir) >= limit) {
        snprintf(err, errlen, "store is full");
        rc = -1;
    }
    free(old);
    jwt_free(&nj);
    if (rc != 1) return rc;
    if (os_mkdir_p(dir) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    size_t n = strlen(jwt);
    if (!f || fwrite(jwt, 1, n, f) != n || fclose(f) != 0) {
        snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
        if (f) remove(tmp);
        return -1;
    }
    if (os_rename_replace(tmp, path) != 0) {
        snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 1;
}

int jwtstore_delete(const char *dir, const char *pub, char *err, size_t errlen)
{
    char path[4096];
    if (!path_for(dir, pub, path, sizeof path)) {
        snprintf(err, errlen, "invalid public key");
        return -1;
    }
    if (remove(path) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    return 0;
}

typedef struct list_ctx {
    char **v;
    size_t n;
} list_ctx_t;

static void add_name(void *arg, const char *name)
{
    list_ctx_t *l = arg;
    size_t k = strlen(name) - strlen(SUFFIX);
    char *pub = xmalloc(k + 1);
    memcpy(pub, name, k);
    pub[k] = 0;
    if (!nkey_decode_public(pub, k, NKEY_ANY, NULL, NULL)) {
        free(pub);
        return;
    }
    l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = pub;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void jwtstore_list(const char *dir, void (*fn)(void *arg, const char *pub), void *arg)
{
    list_ctx_t l = {0};
    os_list_dir(dir, SUFFIX, add_name, &l);
    if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp_str);
    for (size_t i = 0; i < l.n; i++) {
        if (fn)
            fn(arg, l.v[i]);
        else
            ++*(long *)arg;
        free(l.v[i]);
    }
    free(l.v);
}
