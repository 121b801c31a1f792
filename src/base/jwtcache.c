/* jwtcache.c: a cache resolver directory's expiry and LRU bound (see jwtcache.h). */
#include "base/jwtcache.h"
#include "base/common.h"
#include "base/jwt.h"
#include "base/jwtstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_LIMIT 1000 /* the reference's NewCacheDirAccResolver default */
#define NEVER INT64_MAX

typedef struct item {
    char pub[NKEY_PUBLIC_LEN + 1];
    int64_t exp_ns; /* wall clock, as the JWT's exp; NEVER */
    uint64_t used;  /* larger: used more recently */
} item_t;

struct jwtcache {
    char *dir;
    long limit;
    int64_t ttl_ns;
    uint64_t clock; /* the last `used` handed out */
    item_t *v;
    size_t n;
};

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static item_t *find(jwtcache_t *c, const char *pub)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].pub, pub) == 0) return &c->v[i];
    return NULL;
}

/* With a ttl it decides; without, the JWT's own exp (none: never), as the reference. */
static int64_t expiry(const jwtcache_t *c, const char *tok)
{
    if (c->ttl_ns > 0) return wall_ns() + c->ttl_ns;
    jwt_t j;
    char err[128];
    if (!tok || jwt_decode(tok, strlen(tok), &j, err, sizeof err) != 0) return NEVER;
    int64_t e = j.exp > 0 ? j.exp * 1000000000LL : NEVER;
    jwt_free(&j);
    return e;
}

static void forget_at(jwtcache_t *c, size_t i)
{
    c->v[i] = c->v[--c->n];
}

void jwtcache_stored(jwtcache_t *c, const char *pub, const char *tok)
{
    item_t *it = find(c, pub);
    if (!it) {
        if (strlen(pub) > NKEY_PUBLIC_LEN) return;
        c->v = xrealloc(c->v, (c->n + 1) * sizeof *c->v);
        it = &c->v[c->n++];
        snprintf(it->pub, sizeof it->pub, "%s", pub);
    }
    it->exp_ns = expiry(c, tok);
    it->used = ++c->clock;
}

void jwtcache_used(jwtcache_t *c, const char *pub)
{
    item_t *it = find(c, pub);
    if (!it) return;
    if (c->ttl_ns > 0) it->exp_ns = wall_ns() + c->ttl_ns;
    it->used = ++c->clock;
}

void jwtcache_forget(jwtcache_t *c, const char *pub)
{
    item_t *it = find(c, pub);
    if (it) forget_at(c, (size_t)(it - c->v));
}

void jwtcache_make_room(jwtcache_t *c, const char *pub, char *evicted, size_t cap)
{
    if (evicted && cap) *evicted = 0;
    if (find(c, pub) || c->n < (size_t)c->limit || c->n == 0) return;
    size_t lru = 0;
    for (size_t i = 1; i < c->n; i++)
        if (c->v[i].used < c->v[lru].used) lru = i;
    char err[256];
    if (jwtstore_delete(c->dir, c->v[lru].pub, err, sizeof err) != 0) return;
    if (evicted && cap) snprintf(evicted, cap, "%s", c->v[lru].pub);
    forget_at(c, lru);
}

int jwtcache_expire(jwtcache_t *c, int64_t now_ns)
{
    int removed = 0;
    char err[256];
    for (size_t i = 0; i < c->n;) {
        /* a file that cannot be removed stays tracked, tried again next time (the
         * reference's loop does the same) */
        if (c->v[i].exp_ns <= now_ns &&
            jwtstore_delete(c->dir, c->v[i].pub, err, sizeof err) == 0) {
            forget_at(c, i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

int64_t jwtcache_check_interval_ns(int64_t ttl_ns)
{
    const int64_t minute = 60LL * 1000000000LL;
    int64_t every = ttl_ns > 0 ? ttl_ns / 2 : 0;
    return every <= 0 || every > minute ? minute : every;
}

static void track_file(void *arg, const char *pub)
{
    jwtcache_t *c = arg;
    char *tok = jwtstore_load(c->dir, pub);
    jwtcache_stored(c, pub, tok);
    free(tok);
}

jwtcache_t *jwtcache_new(const char *dir, long limit, int64_t ttl_ns)
{
    jwtcache_t *c = xcalloc(1, sizeof *c);
    c->dir = xstrdup(dir);
    c->limit = limit > 0 ? limit : DEFAULT_LIMIT;
    c->ttl_ns = ttl_ns;
    jwtstore_list(dir, track_file, c);
    return c;
}

void jwtcache_free(jwtcache_t *c)
{
    if (!c) return;
    free(c->dir);
    free(c->v);
    free(c);
}
