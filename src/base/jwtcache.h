/* jwtcache.h: the cache resolver's bookkeeping over its JWT directory (jwtstore.h,
 * docs/operator.md "The cache resolver"), as the reference's expiring DirJWTStore with
 * evictOnLimit: each stored JWT expires `ttl` after it was stored or last read (ttl 0:
 * at the JWT's own `exp`, else never), and at most `limit` are kept: storing a new one
 * beyond that removes the least recently used file first.
 *
 * It only removes files: whatever loaded an account from one keeps it (the reference
 * calls no callback on expiry or eviction). At most `limit` entries, each a key and two
 * numbers; operations scan them (limit is 1000 by default). Callers serialize calls
 * (nats/resolver.c holds its mutex), as for jwtstore. */
#ifndef GNATSD_JWTCACHE_H
#define GNATSD_JWTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jwtcache jwtcache_t;

/* limit <= 0: the reference's 1000. The files already in dir are tracked (from now). */
jwtcache_t *jwtcache_new(const char *dir, long limit, int64_t ttl_ns);
void jwtcache_free(jwtcache_t *c);
/* Before storing pub's JWT: when pub is new and the cache is full, the least recently
 * used file is removed (its key in evicted, NULL-terminated, if given). */
void jwtcache_make_room(jwtcache_t *c, const char *pub, char *evicted, size_t cap);
/* pub's JWT tok was written: tracked, its expiry starts again, most recently used. */
void jwtcache_stored(jwtcache_t *c, const char *pub, const char *tok);
/* pub's JWT was read: its expiry starts again (ttl set), most recently used. */
void jwtcache_used(jwtcache_t *c, const char *pub);
/* pub's file was deleted by someone else: no longer tracked. */
void jwtcache_forget(jwtcache_t *c, const char *pub);
/* The files expired at now_ns (CLOCK_REALTIME) removed; how many. */
int jwtcache_expire(jwtcache_t *c, int64_t now_ns);
/* How often to look for expired ones: ttl/2, at most (and without ttl) one minute. */
int64_t jwtcache_check_interval_ns(int64_t ttl_ns);

#endif
