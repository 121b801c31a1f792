/* respmap.h: an exporting account's pending service responses (nats/imports.c,
 * docs/accounts.md "Service imports").
 *
 * One entry per request that went through a service import and reached a
 * responder: the reply subject made in the exporter ("_R_.<tag>.<random>")
 * maps back to the requester's account and reply. Found by that key (a
 * response), and by (requester account, reply) (the requester's interest in
 * its reply went away: its entries go too). Bounded: RESP_MAP_MAX entries, the
 * oldest dropped first; expired entries are dropped when met and by
 * respmap_sweep. Any thread: one mutex per map. */
#ifndef GNATSD_RESPMAP_H
#define GNATSD_RESPMAP_H

#include "base/common.h"

#include <stdbool.h>
#include <stdint.h>

#define RESP_MAP_MAX 65536

typedef struct respmap respmap_t;
struct account;

respmap_t *respmap_new(void);
void respmap_free(respmap_t *m);

/* A new entry key -> (to, reply), expiring ttl_ns from now_ns (restarted by each
 * response unless singleton). */
void respmap_add(respmap_t *m, slice_t key, struct account *to, slice_t reply, int64_t ttl_ns,
                 bool singleton, int64_t now_ns);
void respmap_remove(respmap_t *m, slice_t key);
/* A response on key: the requester's account and reply (copied into reply, at most
 * cap bytes), the entry ended if singleton. False if unknown or expired. */
bool respmap_take(respmap_t *m, slice_t key, int64_t now_ns, struct account **to, char *reply,
                  size_t cap, size_t *rn);
/* to's interest in subjects matching pattern went away: its entries whose reply
 * has no subscriber left in to (still_wanted says) are dropped, each key handed to
 * dropped (if not NULL; under the map's lock). */
void respmap_interest_gone(respmap_t *m, const struct account *to, slice_t pattern,
                           bool (*still_wanted)(const struct account *to, slice_t reply),
                           void (*dropped)(slice_t key));
/* Live entries, oldest first: fn(arg, key, to, reply) (under the map's lock: fn must
 * not call into the map). Expired ones are dropped on the way. Returns the count. */
size_t respmap_list(respmap_t *m, int64_t now_ns,
                    void (*fn)(void *arg, slice_t key, const struct account *to, slice_t reply),
                    void *arg);
size_t respmap_count(respmap_t *m, int64_t now_ns);

#endif
