/* sublist.h: the subject index. Subscriptions by subject, with `*` and `>`
 * wildcards and queue groups, plus a match cache.
 *
 * Concurrency: many readers (every publish, on any worker) and rare writers
 * (SUB/UNSUB/close). sublist_match() takes no lock on a cache hit; a miss
 * walks the trie under the read lock and installs the result; insert/remove
 * take the write lock and drop only the cache entries the change touches
 * (a literal subject touches one slot, a wildcard scans the cache).
 * Results are immutable and reclaimed through qsbr: the caller must be a
 * qsbr-registered thread and may use the result until its next
 * qsbr_quiescent(). */
#ifndef GNATSD_SUBLIST_H
#define GNATSD_SUBLIST_H

#include "base/common.h"
#include "index/sub.h"
#include "base/subject.h"

typedef struct sublist sublist_t;

typedef struct sl_qgroup {
    slice_t queue;
    uint32_t n;
    uint32_t nremote; /* members with sub_t.remote: 0 lets a pick skip weights */
    sub_t **subs;
} sl_qgroup_t;

typedef struct sl_result {
    uint32_t nplain;
    sub_t **plain;
    uint32_t nqgroups;
    sl_qgroup_t *qgroups;
} sl_result_t;

typedef struct sublist_stats {
    uint64_t num_subs;
    uint64_t num_cache;
    uint64_t num_inserts;
    uint64_t num_removes;
    uint64_t num_matches;
    uint64_t cache_hits;
    uint32_t max_fanout;
    double avg_fanout;
} sublist_stats_t;

sublist_t *sublist_new(bool cache_enabled);
void sublist_free(sublist_t *sl); /* does not free the subs */
/* Whose index it is (an account, for the layers above); set once before use. */
void sublist_set_owner(sublist_t *sl, void *owner);
void *sublist_owner(const sublist_t *sl);

/* 0 on success, -1 if the subject is invalid for a subscription. */
int sublist_insert(sublist_t *sl, sub_t *s);
/* 0 if removed, -1 if it was not there. */
int sublist_remove(sublist_t *sl, sub_t *s);
/* Never NULL: an empty result when nothing matches (including subjects with
 * empty tokens). */
const sl_result_t *sublist_match(sublist_t *sl, const char *subj, size_t len);

uint64_t sublist_count(sublist_t *sl);
void sublist_stats(sublist_t *sl, sublist_stats_t *st);
/* Calls fn for every subscription (under the read lock: fn must not modify
 * the sublist). */
void sublist_foreach(sublist_t *sl, void (*fn)(sub_t *s, void *arg), void *arg);
/* The same, stopping as soon as fn returns true: a caller that needs only the
 * first N of some kind holds the lock for those, not for the whole trie. */
void sublist_foreach_until(sublist_t *sl, bool (*fn)(sub_t *s, void *arg), void *arg);
/* Trie nodes currently allocated, root included (tests: pruning under churn). */
uint64_t sublist_num_nodes(sublist_t *sl);

/* Subject rules: base/subject.h. */
/* Does literal subject `subj` match pattern `pat` (which may hold wildcards)? */
bool subject_matches(const char *pat, size_t patn, const char *subj, size_t subjn);

#endif
