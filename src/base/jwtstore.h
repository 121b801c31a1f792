/* jwtstore.h: a directory of JWTs, one file "<public key>.jwt" each, the layout of the
 * reference's full account resolver (docs/operator.md "The full resolver"), so a
 * directory written by either server serves the other.
 *
 * A save keeps the newer token: the same jti, or an older iat than the one stored,
 * leaves the file alone (as the reference's saveIfNewer). Files are written to a temporary name and
 * renamed over the old one, so a reader never sees half a token. Callers serialize
 * saves and deletes of one directory (nats/resolver.c holds its mutex). */
#ifndef GNATSD_JWTSTORE_H
#define GNATSD_JWTSTORE_H

#include <stdbool.h>
#include <stddef.h>

#define JWTSTORE_MAX_TOKEN (64 * 1024) /* a stored token longer than this is not read */

/* The token stored for pub (owned by the caller), or NULL. */
char *jwtstore_load(const char *dir, const char *pub);
/* 1 stored, 0 kept the stored one (same or newer), -1 with err set. limit > 0: at most
 * that many tokens ("store is full" for a new one beyond it). newer_only false: any
 * other token replaces the stored one (the reference's save, which the cache resolver's
 * updates use; its saveIfNewer is the default). */
int jwtstore_save(const char *dir, const char *pub, const char *jwt, long limit, bool newer_only,
                  char *err, size_t errlen);
/* 0 removed, -1 with err set (no such token, ...). */
int jwtstore_delete(const char *dir, const char *pub, char *err, size_t errlen);
/* The public keys stored, sorted: fn once each. */
void jwtstore_list(const char *dir, void (*fn)(void *arg, const char *pub), void *arg);
/* How many tokens are stored. */
long jwtstore_count(const char *dir);

#endif
