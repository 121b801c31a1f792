/* subject_map.h: subject transforms as the reference writes them
 * (docs/accounts.md "Subject mappings"): a source pattern and a destination
 * whose tokens are literals or functions of the source's wildcards, counted
 * from 1 in the order they appear:
 *
 *   $N, {{wildcard(N)}}            the Nth wildcard's token
 *   {{partition(P, N, ...)}}       FNV-1a of those tokens (concatenated) mod P
 *   {{splitfromleft(N, K)}}        the token split in two after K bytes
 *   {{splitfromright(N, K)}}       ... K bytes before its end
 *   {{slicefromleft(N, K)}}        cut into tokens of K bytes from the left
 *   {{slicefromright(N, K)}}       ... from the right
 *   {{split(N, sep)}}              split at every sep, as written (empty pieces dropped)
 *
 * A final ">" in both carries the rest over. Compiled once (config), applied
 * per message without allocation. */
#ifndef GNATSD_SUBJECT_MAP_H
#define GNATSD_SUBJECT_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct smap smap_t;

/* NULL with err set to the reference's reason (e.g. "invalid subject"). */
smap_t *smap_compile(const char *src, const char *dest, char *err, size_t errlen);
void smap_free(smap_t *m);
/* Does literal subject s[0..n) fall under the source? */
bool smap_matches(const smap_t *m, const char *s, size_t n);
/* The destination for literal s (which must match): its length into out, or 0. */
size_t smap_apply(const smap_t *m, const char *s, size_t n, char *out, size_t cap);
/* Uses only $N / wildcard(N) (a positional map: it can be reversed). */
bool smap_positional(const smap_t *m);
const char *smap_src(const smap_t *m);
const char *smap_dest(const smap_t *m);

#endif
