/* sublist.c: the subject index (token trie + lock-free match cache).
 *
 * Trie. One node per token position. A node holds its literal children in a
 * small open-addressing hash table (linear probing, backward-shift delete, so
 * no tombstones pile up under churn), plus at most one `*` child and one `>`
 * child, and the subscriptions that end at it: plain subs in an array, queue
 * subs in per-queue-name arrays. Removing the last sub of a node prunes the
 * node and every emptied ancestor, so `_INBOX.<unique>` churn does not grow
 * the trie. The trie is guarded by a writer-preferring rwlock: matches that
 * miss the cache are readers, insert/remove are writers. No walk of the trie
 * recurses (match, free, foreach use explicit heap stacks): the depth is the
 * token count of a subject a peer sent, and a route line has no length bound
 * in the reference, so a recursive walk would let a peer exhaust the stack.
 *
 * Cache. A fixed array of CACHE_SLOTS atomic pointers, indexed by the subject
 * hash, 4-way set-associative (the ways are adjacent, on one cache line):
 * direct-mapped, a few hot subjects sharing a slot evicted each other on
 * every publish, and a miss costs 10-40x a hit. An entry is one allocation
 * holding the subject bytes and an immutable sl_result_t (arrays included).
 * A hit is a hash, a few acquire loads from one line and a word compare, with
 * no lock and no shared write. A miss walks the trie under the read lock and
 * swaps the new entry in while still holding it, so a writer (which needs the
 * write lock) cannot run between the walk and the install: every entry in the
 * cache reflects the trie as of some point after the last change that touched
 * its subject. Displaced entries are retired through qsbr, so readers that
 * loaded them keep valid memory until their next quiescent point.
 *
 * Invalidation is targeted: inserting/removing a literal subject can only
 * change the result for that exact subject (a published `*` token matches
 * literal subs only through `*`/`>` nodes), so only its set is checked; a
 * wildcard subject visits the occupied sets (a bitmap) and drops the entries
 * the pattern matches. Request/reply inbox churn therefore never flushes
 * unrelated entries.
 *
 * Statistics. Match and hit counts live in per-thread stripes (one cache line
 * each, written with relaxed load+store by their owner), so the hit path does
 * not bounce a shared line between workers. Two threads sharing a stripe may
 * lose an increment; these are monitoring numbers. */
#include "index/sublist.h"
#include "base/hash.h"
#include "base/os.h"
#include "base/qsbr.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define CACHE_SLOTS 4096u
#define CACHE_MASK (CACHE_SLOTS - 1)
#define CACHE_WAYS 4u /* adjacent slots, in one cache line */
#define CACHE_SETS (CACHE_SLOTS / CACHE_WAYS)
#define CACHE_SET(h) ((uint32_t)(h)&CACHE_MASK & ~(CACHE_WAYS - 1))
#define NSTRIPES 64u
#define INLINE_TOKS 32

/* ---- hashing: hash_bytes (base/hash.h, keyed by the per-process seed) ---------- */

static inline bool bytes_eq(const char *a, const char *b, size_t n)
{
    if (n < 8) return !n || hash_load_short(a, n) == hash_load_short(b, n);
    for (size_t i = 0; i + 8 < n; i += 8)
        if (hash_load8(a + i) != hash_load8(b + i)) return false;
    return hash_load8(a + n - 8) == hash_load8(b + n - 8);
}

/* ---- trie ------------------------------------------------------------------ */

typedef struct qgroup {
    sub_t **subs;
    uint32_t n, cap;
    uint32_t namelen;
    char *name;
} qgroup_t;

/* A slot of a node's children table: the token hash sits beside the pointer so a
 * probe touches the child only when the hash matches (one cache miss per level). */
struct kid {
    uint64_t hash;
    struct node *n;
};

typedef struct node {
    struct node *parent;
    struct node *pwc, *fwc;
    struct kid *kids; /* open addressing on literal tokens; kcap is 0 or a power of 2 */
    uint32_t kcap, nkids;
    sub_t **plain;
    uint32_t nplain, pcap;
    qgroup_t *qgs;
    uint32_t nqg, qcap;
    uint64_t hash; /* of tok: lets the parent's table rehash and compare cheaply */
    uint32_t toklen;
    char tok[];
} node_t;

typedef struct cache_entry {
    uint64_t hash;
    size_t len;
    const char *subj; /* inside this allocation */
    sl_result_t res;
} cache_entry_t;

typedef struct stripe {
    _Atomic uint64_t matches;
    _Atomic uint64_t hits;
} __attribute__((aligned(64))) stripe_t;

struct sublist {
    pthread_rwlock_t lock;
    node_t *root;
    bool cache_enabled;
    void *owner; /* sublist_set_owner */
    _Atomic uint64_t count;
    uint64_t inserts, removes; /* under the write lock */
    _Atomic(cache_entry_t *) *cache;
    /* One bit per set that may hold entries: wildcard invalidation visits
     * only those. Set by installers (read lock), cleared under the write
     * lock, so a writer's scan never misses an entry. */
    _Atomic uint64_t used[CACHE_SETS / 64];
    stripe_t stripes[NSTRIPES];
};

static const sl_result_t empty_result;

static _Atomic unsigned stripe_seq;
static __thread unsigned my_stripe_plus1;

static inline stripe_t *stripe_of(sublist_t *sl)
{
    if (unlikely(!my_stripe_plus1))
        my_stripe_plus1 =
            (atomic_fetch_add_explicit(&stripe_seq, 1, memory_order_relaxed) % NSTRIPES) + 1;
    return &sl->stripes[my_stripe_plus1 - 1];
}

static inline void bump(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static inline bool tok_is(slice_t t, char c)
{
    return t.n == 1 && t.p[0] == c;
}

static node_t *node_new(node_t *parent, const char *tok, size_t len, uint64_t hash)
{
    node_t *n = xcalloc(1, sizeof(*n) + len);
    n->parent = parent;
    n->hash = hash;
    n->toklen = (uint32_t)len;
    memcpy(n->tok, tok, len);
    return n;
}

static void node_free(node_t *n)
{
    for (uint32_t i = 0; i < n->nqg; i++) {
        free(n->qgs[i].subs);
        free(n->qgs[i].name);
    }
    free(n->qgs);
    free(n->plain);
    free(n->kids);
    free(n);
}

/* A growable pointer array with inline room: match results, and the explicit
 * stacks of every trie walk. Walks never recurse: a subject may have as many
 * tokens as a control line has room for (a route line has no length limit in
 * the reference), so recursion depth would be the peer's choice. */
typedef struct ptrvec {
    void **v;
    size_t n, cap;
    void *inl[64];
} ptrvec_t;

static void pv_init(ptrvec_t *pv)
{
    pv->v = pv->inl;
    pv->n = 0;
    pv->cap = ARRAY_LEN(pv->inl);
}

static void pv_push(ptrvec_t *pv, void *p)
{
    if (pv->n == pv->cap) {
        size_t ncap = pv->cap * 2;
        void **nv = xmalloc(ncap * sizeof(*nv));
        memcpy(nv, pv->v, pv->n * sizeof(*nv));
        if (pv->v != pv->inl) free(pv->v);
        pv->v = nv;
        pv->cap = ncap;
    }
    pv->v[pv->n++] = p;
}

static void pv_done(ptrvec_t *pv)
{
    if (pv->v != pv->inl) free(pv->v);
}

static void *pv_pop(ptrvec_t *pv)
{
    return pv->n ? pv->v[--pv->n] : NULL;
}

/* Pushes n's children so that popping visits literal kids (in slot order),
 * then `*`, then `>`: the order of a recursive pre-order walk. */
static void push_children(ptrvec_t *st, const node_t *n)
{
    if (n->fwc) pv_push(st, n->fwc);
    if (n->pwc) pv_push(st, n->pwc);
    for (uint32_t i = n->kcap; i-- > 0;)
        if (n->kids[i].n) pv_push(st, n->kids[i].n);
}

static void node_free_all(node_t *root)
{
    ptrvec_t st;
    pv_init(&st);
    pv_push(&st, root);
    for (node_t *n; (n = pv_pop(&st));) {
        push_children(&st, n);
        node_free(n);
    }
    pv_done(&st);
}

static node_t *kids_find(const node_t *n, const char *tok, size_t len, uint64_t h)
{
    if (!n->nkids) return NULL;
    uint32_t mask = n->kcap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        const struct kid *k = &n->kids[i];
        if (!k->n) return NULL;
        if (k->hash == h && k->n->toklen == len && memcmp(k->n->tok, tok, len) == 0) return k->n;
    }
}

static void kids_put_raw(struct kid *kids, uint32_t mask, node_t *c)
{
    uint32_t i = (uint32_t)c->hash & mask;
    while (kids[i].n)
        i = (i + 1) & mask;
    kids[i].hash = c->hash;
    kids[i].n = c;
}

static void kids_add(node_t *n, node_t *c)
{
    if ((n->nkids + 1) * 2 > n->kcap) {
        uint32_t ncap = n->kcap ? n->kcap * 2 : 4;
        struct kid *nk = xcalloc(ncap, sizeof(*nk));
        for (uint32_t i = 0; i < n->kcap; i++)
            if (n->kids[i].n) kids_put_raw(nk, ncap - 1, n->kids[i].n);
        free(n->kids);
        n->kids = nk;
        n->kcap = ncap;
    }
    kids_put_raw(n->kids, n->kcap - 1, c);
    n->nkids++;
}

static void kids_del(node_t *n, node_t *c)
{
    uint32_t mask = n->kcap - 1;
    uint32_t i = (uint32_t)c->hash & mask;
    while (n->kids[i].n != c)
        i = (i + 1) & mask;
    n->kids[i].n = NULL;
    n->nkids--;
    if (!n->nkids) {
        free(n->kids);
        n->kids = NULL;
        n->kcap = 0;
        return;
    }
    /* Backward shift: pull later members of the probe run into the hole when
     * their home slot is not inside (hole, j]. */
    for (uint32_t j = (i + 1) & mask; n->kids[j].n; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)n->kids[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            n->kids[i] = n->kids[j];
            n->kids[j].n = NULL;
            i = j;
        }
    }
}

static bool node_empty(const node_t *n)
{
    return !n->nplain && !n->nqg && !n->nkids && !n->pwc && !n->fwc;
}

static void prune(sublist_t *sl, node_t *n)
{
    while (n != sl->root && node_empty(n)) {
        node_t *p = n->parent;
        if (p->pwc == n)
            p->pwc = NULL;
        else if (p->fwc == n)
            p->fwc = NULL;
        else
            kids_del(p, n);
        node_free(n);
        n = p;
    }
}

static void push_sub(sub_t ***arr, uint32_t *n, uint32_t *cap, sub_t *s)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 2;
        *arr = xrealloc(*arr, *cap * sizeof(**arr));
    }
    s->slot = *n;
    (*arr)[(*n)++] = s;
}

/* Swap-remove at the sub's slot; false if it is not there (removed already). */
static bool pop_sub(sub_t ***arr, uint32_t *n, uint32_t *cap, sub_t *s)
{
    uint32_t i = s->slot;
    if (i >= *n || (*arr)[i] != s) return false;
    (*arr)[i] = (*arr)[--*n];
    (*arr)[i]->slot = i;
    if (!*n) {
        free(*arr);
        *arr = NULL;
        *cap = 0;
    }
    return true;
}

static qgroup_t *node_qgroup(node_t *n, slice_t q)
{
    for (uint32_t i = 0; i < n->nqg; i++)
        if (n->qgs[i].namelen == q.n && memcmp(n->qgs[i].name, q.p, q.n) == 0) return &n->qgs[i];
    return NULL;
}

/* ---- tokenizing ----------------------------------------------------------- */

typedef struct toks {
    slice_t *t;
    size_t n;
    slice_t inl[INLINE_TOKS];
} toks_t;

/* Split on '.'; false if any token is empty (such subjects never match and
 * are never valid subscriptions). */
static bool tokenize(const char *s, size_t len, toks_t *tk)
{
    tk->t = tk->inl;
    tk->n = 0;
    if (!len) return false;
    size_t cap = INLINE_TOKS;
    const char *p = s, *end = s + len;
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *te = dot ? dot : end;
        if (te == p) goto bad;
        if (tk->n == cap) {
            size_t ncap = cap * 4;
            slice_t *nt = xmalloc(ncap * sizeof(*nt));
            memcpy(nt, tk->t, tk->n * sizeof(*nt));
            if (tk->t != tk->inl) free(tk->t);
            tk->t = nt;
            cap = ncap;
        }
        tk->t[tk->n++] = (slice_t){p, (size_t)(te - p)};
        if (!dot) return true;
        p = dot + 1;
    }
bad:
    if (tk->t != tk->inl) free(tk->t);
    tk->t = tk->inl;
    tk->n = 0;
    return false;
}

static void toks_done(toks_t *tk)
{
    if (tk->t != tk->inl) free(tk->t);
}

/* ---- subject rules -------------------------------------------------------- */

static bool no_empty_token(const char *s, size_t n)
{
    if (!n || s[0] == '.' || s[n - 1] == '.') return false;
    for (size_t i = 1; i < n; i++)
        if (s[i] == '.' && s[i - 1] == '.') return false;
    return true;
}

bool subject_matches(const char *pat, size_t patn, const char *subj, size_t subjn)
{
    size_t i = 0, j = 0;
    for (;;) {
        const char *pd = memchr(pat + i, '.', patn - i);
        size_t pl = (pd ? (size_t)(pd - pat) : patn) - i;
        const char *sd = memchr(subj + j, '.', subjn - j);
        size_t sl = (sd ? (size_t)(sd - subj) : subjn) - j;
        if (!pl || !sl) return false;
        if (pl == 1 && pat[i] == '>') return i + 1 == patn && no_empty_token(subj + j, subjn - j);
        if (!(pl == 1 && pat[i] == '*') && (pl != sl || memcmp(pat + i, subj + j, pl) != 0))
            return false;
        i += pl + 1;
        j += sl + 1;
        if (i > patn || j > subjn) return i > patn && j > subjn;
    }
}

/* ---- cache ---------------------------------------------------------------- */

static void entry_free(void *p)
{
    free(p);
}

static void cache_drop_slot(sublist_t *sl, uint32_t idx)
{
    cache_entry_t *old = atomic_exchange_explicit(&sl->cache[idx], NULL, memory_order_acq_rel);
    qsbr_retire(old, entry_free);
}

static inline bool entry_is(const cache_entry_t *e, uint64_t h, const char *subj, size_t len)
{
    return e && e->hash == h && e->len == len && bytes_eq(e->subj, subj, len);
}

/* Called under the write lock, after the trie change. */
static void cache_invalidate(sublist_t *sl, const char *subj, size_t len, bool wildcard)
{
    if (!sl->cache_enabled) return;
    if (!wildcard) {
        uint64_t h = hash_bytes(subj, len);
        uint32_t set = CACHE_SET(h);
        /* Every way: racing misses may have cached the subject twice. */
        for (uint32_t w = 0; w < CACHE_WAYS; w++) {
            cache_entry_t *e = atomic_load_explicit(&sl->cache[set + w], memory_order_acquire);
            if (entry_is(e, h, subj, len)) cache_drop_slot(sl, set + w);
        }
        return;
    }
    for (uint32_t wd = 0; wd < CACHE_SETS / 64; wd++) {
        uint64_t bits = atomic_load_explicit(&sl->used[wd], memory_order_relaxed);
        while (bits) {
            uint32_t setno = wd * 64 + (uint32_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            bool left = false;
            for (uint32_t i = setno * CACHE_WAYS; i < (setno + 1) * CACHE_WAYS; i++) {
                cache_entry_t *e = atomic_load_explicit(&sl->cache[i], memory_order_acquire);
                if (e && subject_matches(subj, len, e->subj, e->len))
                    cache_drop_slot(sl, i);
                else if (e)
                    left = true;
            }
            if (!left)
                atomic_fetch_and_explicit(&sl->used[wd], ~(1ull << (setno % 64)),
                                          memory_order_relaxed);
        }
    }
}

/* Called under the read lock (see match_slow). Other readers may install
 * into the same set concurrently, so empty ways are claimed with a CAS. */
static void cache_install(sublist_t *sl, cache_entry_t *e)
{
    static __thread unsigned victim;
    uint32_t setno = CACHE_SET(e->hash) / CACHE_WAYS;
    _Atomic uint64_t *u = &sl->used[setno / 64];
    uint64_t bit = 1ull << (setno % 64);
    /* Checked first: in steady state the bit is set and the line stays shared. */
    if (!(atomic_load_explicit(u, memory_order_relaxed) & bit))
        atomic_fetch_or_explicit(u, bit, memory_order_relaxed);
    _Atomic(cache_entry_t *) *set = &sl->cache[CACHE_SET(e->hash)];
    for (uint32_t w = 0; w < CACHE_WAYS; w++) {
        cache_entry_t *cur = atomic_load_explicit(&set[w], memory_order_acquire);
        if (!cur && atomic_compare_exchange_strong_explicit(&set[w], &cur, e, memory_order_acq_rel,
                                                            memory_order_acquire))
            return;
        if (entry_is(cur, e->hash, e->subj, e->len)) {
            qsbr_retire(atomic_exchange_explicit(&set[w], e, memory_order_acq_rel), entry_free);
            return;
        }
    }
    /* Set full: evict round-robin, so a subject that keeps missing does not
     * always push out the same way. */
    cache_entry_t *old =
        atomic_exchange_explicit(&set[victim++ & (CACHE_WAYS - 1)], e, memory_order_acq_rel);
    qsbr_retire(old, entry_free);
}

/* ---- matching ------------------------------------------------------------- */

typedef struct collect {
    ptrvec_t plain;  /* sub_t * */
    ptrvec_t groups; /* qgroup_t * (per node; merged by name later) */
    size_t nqsubs;
} collect_t;

static void collect_node(const node_t *n, collect_t *c)
{
    for (uint32_t i = 0; i < n->nplain; i++)
        pv_push(&c->plain, n->plain[i]);
    for (uint32_t i = 0; i < n->nqg; i++) {
        pv_push(&c->groups, &n->qgs[i]);
        c->nqsubs += n->qgs[i].n;
    }
}

/* Depth-first over the nodes the subject reaches; at each level the `*`
 * branch is taken first and the literal branch is resumed from an explicit
 * stack of (node, token index) pairs, so results come in the same order as a
 * recursive walk and the C stack stays flat whatever the token count. The
 * stack holds at most one entry per token. */
static void match_walk(const node_t *root, const slice_t *t, const uint64_t *th, size_t nt,
                       collect_t *c)
{
    ptrvec_t st; /* pairs: node, then index (as a pointer-sized integer) */
    pv_init(&st);
    const node_t *n = root;
    size_t i = 0;
    for (;;) {
        while (n) {
            if (i == nt) {
                collect_node(n, c);
                break;
            }
            if (n->fwc) collect_node(n->fwc, c);
            const node_t *lit = kids_find(n, t[i].p, t[i].n, th[i]);
            if (n->pwc) {
                if (lit) {
                    pv_push(&st, (void *)lit);
                    pv_push(&st, (void *)(uintptr_t)(i + 1));
                }
                n = n->pwc;
            } else {
                n = lit;
            }
            i++;
        }
        if (!st.n) break;
        i = (size_t)(uintptr_t)pv_pop(&st);
        n = pv_pop(&st);
    }
    pv_done(&st);
}

static int qg_cmp(const void *a, const void *b)
{
    const qgroup_t *x = *(const qgroup_t *const *)a, *y = *(const qgroup_t *const *)b;
    if (x->namelen != y->namelen) return x->namelen < y->namelen ? -1 : 1;
    return memcmp(x->name, y->name, x->namelen);
}

static bool qg_same(const qgroup_t *x, const qgroup_t *y)
{
    return x->namelen == y->namelen && memcmp(x->name, y->name, x->namelen) == 0;
}

/* One allocation: header, qgroups[], plain[], queue members[], then the
 * queue names and the subject (copied so the entry owns every byte it shows
 * outside of the subs themselves). */
static cache_entry_t *build_entry(collect_t *c, const char *subj, size_t len, uint64_t h)
{
    qgroup_t **gs = (qgroup_t **)c->groups.v;
    size_t ng = c->groups.n;
    if (ng > 1) qsort(gs, ng, sizeof(*gs), qg_cmp);
    size_t nout = 0, namebytes = 0;
    for (size_t i = 0; i < ng; i++) {
        if (i == 0 || !qg_same(gs[i - 1], gs[i])) {
            nout++;
            namebytes += gs[i]->namelen;
        }
    }
    size_t np = c->plain.n;
    size_t sz = sizeof(cache_entry_t) + nout * sizeof(sl_qgroup_t) +
                (np + c->nqsubs) * sizeof(sub_t *) + namebytes + len;
    cache_entry_t *e = xmalloc(sz);
    sl_qgroup_t *og = (sl_qgroup_t *)(e + 1);
    sub_t **plain = (sub_t **)(og + nout);
    sub_t **qs = plain + np;
    char *chars = (char *)(qs + c->nqsubs);

    memcpy(plain, c->plain.v, np * sizeof(*plain));
    sl_qgroup_t *cur = og - 1;
    for (size_t i = 0; i < ng; i++) {
        const qgroup_t *g = gs[i];
        if (i == 0 || !qg_same(gs[i - 1], g)) {
            cur++;
            memcpy(chars, g->name, g->namelen);
            cur->queue = (slice_t){chars, g->namelen};
            chars += g->namelen;
            cur->n = 0;
            cur->nremote = 0;
            cur->subs = qs;
        }
        memcpy(qs, g->subs, g->n * sizeof(*qs));
        for (size_t k = 0; k < g->n; k++)
            cur->nremote += g->subs[k]->remote;
        qs += g->n;
        cur->n += g->n;
    }
    memcpy(chars, subj, len);
    e->hash = h;
    e->len = len;
    e->subj = chars;
    e->res.nplain = (uint32_t)np;
    e->res.plain = np ? plain : NULL;
    e->res.nqgroups = (uint32_t)nout;
    e->res.qgroups = nout ? og : NULL;
    return e;
}

static const sl_result_t *match_slow(sublist_t *sl, const char *subj, size_t len, uint64_t h)
{
    toks_t tk;
    if (!tokenize(subj, len, &tk)) return &empty_result;
    uint64_t thin[INLINE_TOKS];
    uint64_t *th = tk.n <= INLINE_TOKS ? thin : xmalloc(tk.n * sizeof(*th));
    for (size_t i = 0; i < tk.n; i++)
        th[i] = hash_bytes(tk.t[i].p, tk.t[i].n);

    collect_t c;
    pv_init(&c.plain);
    pv_init(&c.groups);
    c.nqsubs = 0;

    pthread_rwlock_rdlock(&sl->lock);
    match_walk(sl->root, tk.t, th, tk.n, &c);
    cache_entry_t *e = build_entry(&c, subj, len, h);
    if (sl->cache_enabled) {
        /* Installed under the read lock: no writer can change the trie
         * between our walk and this store, so the entry is never stale. */
        cache_install(sl, e);
    } else {
        /* Still valid for the caller until its next quiescent point. */
        qsbr_retire(e, entry_free);
    }
    pthread_rwlock_unlock(&sl->lock);

    pv_done(&c.plain);
    pv_done(&c.groups);
    if (th != thin) free(th);
    toks_done(&tk);
    return &e->res;
}

const sl_result_t *sublist_match(sublist_t *sl, const char *subj, size_t len)
{
    uint64_t h = hash_bytes(subj, len);
    stripe_t *st = stripe_of(sl);
    bump(&st->matches);
    if (likely(sl->cache_enabled)) {
        _Atomic(cache_entry_t *) *set = &sl->cache[CACHE_SET(h)];
        for (uint32_t w = 0; w < CACHE_WAYS; w++) {
            cache_entry_t *e = atomic_load_explicit(&set[w], memory_order_acquire);
            if (entry_is(e, h, subj, len)) {
                bump(&st->hits);
                return &e->res;
            }
        }
    }
    return match_slow(sl, subj, len, h);
}

/* ---- insert / remove ------------------------------------------------------ */

void sublist_set_owner(sublist_t *sl, void *owner)
{
    sl->owner = owner;
}

void *sublist_owner(const sublist_t *sl)
{
    return sl->owner;
}

sublist_t *sublist_new(bool cache_enabled)
{
    sublist_t *sl = os_aligned_alloc(64, sizeof(*sl));
    if (!sl) abort();
    memset(sl, 0, sizeof(*sl));
    /* Publishes are constant; a steady stream of cache misses must not starve
     * SUB/UNSUB. */
    os_rwlock_init_writer_pref(&sl->lock);
    sl->root = node_new(NULL, "", 0, 0);
    sl->cache_enabled = cache_enabled;
    if (cache_enabled) {
        /* Line-aligned so that a set never straddles two cache lines. */
        sl->cache = os_aligned_alloc(64, CACHE_SLOTS * sizeof(*sl->cache));
        if (!sl->cache) abort();
        memset(sl->cache, 0, CACHE_SLOTS * sizeof(*sl->cache));
    }
    return sl;
}

void sublist_free(sublist_t *sl)
{
    if (!sl) return;
    if (sl->cache) {
        /* Retired, not freed: a straggling reader may still hold a result. */
        for (uint32_t i = 0; i < CACHE_SLOTS; i++)
            qsbr_retire(atomic_load_explicit(&sl->cache[i], memory_order_acquire), entry_free);
        os_aligned_free(sl->cache);
    }
    node_free_all(sl->root);
    pthread_rwlock_destroy(&sl->lock);
    os_aligned_free(sl);
}

int sublist_insert(sublist_t *sl, sub_t *s)
{
    toks_t tk;
    if (!subject_valid(s->subject.p, s->subject.n) || !tokenize(s->subject.p, s->subject.n, &tk))
        return -1;
    bool wild = false;
    s->sl = sl;
    pthread_rwlock_wrlock(&sl->lock);
    node_t *n = sl->root;
    for (size_t i = 0; i < tk.n; i++) {
        slice_t t = tk.t[i];
        node_t **wc = tok_is(t, '>') ? &n->fwc : tok_is(t, '*') ? &n->pwc : NULL;
        if (wc) {
            wild = true;
            if (!*wc) *wc = node_new(n, t.p, t.n, 0);
            n = *wc;
            continue;
        }
        uint64_t h = hash_bytes(t.p, t.n);
        node_t *c = kids_find(n, t.p, t.n, h);
        if (!c) {
            c = node_new(n, t.p, t.n, h);
            kids_add(n, c);
        }
        n = c;
    }
    if (!s->queue.n) {
        push_sub(&n->plain, &n->nplain, &n->pcap, s);
    } else {
        qgroup_t *g = node_qgroup(n, s->queue);
        if (!g) {
            if (n->nqg == n->qcap) {
                n->qcap = n->qcap ? n->qcap * 2 : 1;
                n->qgs = xrealloc(n->qgs, n->qcap * sizeof(*n->qgs));
            }
            g = &n->qgs[n->nqg++];
            *g = (qgroup_t){.namelen = (uint32_t)s->queue.n,
                            .name = xstrndup(s->queue.p, s->queue.n)};
        }
        push_sub(&g->subs, &g->n, &g->cap, s);
    }
    atomic_fetch_add_explicit(&sl->count, 1, memory_order_relaxed);
    sl->inserts++;
    cache_invalidate(sl, s->subject.p, s->subject.n, wild);
    pthread_rwlock_unlock(&sl->lock);
    toks_done(&tk);
    return 0;
}

int sublist_remove(sublist_t *sl, sub_t *s)
{
    toks_t tk;
    if (!tokenize(s->subject.p, s->subject.n, &tk)) return -1;
    bool wild = false, found = false;
    pthread_rwlock_wrlock(&sl->lock);
    node_t *n = sl->root;
    for (size_t i = 0; n && i < tk.n; i++) {
        slice_t t = tk.t[i];
        if (tok_is(t, '>') && i + 1 == tk.n) {
            n = n->fwc;
            wild = true;
        } else if (tok_is(t, '*')) {
            n = n->pwc;
            wild = true;
        } else {
            n = kids_find(n, t.p, t.n, hash_bytes(t.p, t.n));
        }
    }
    if (n) {
        if (!s->queue.n) {
            found = pop_sub(&n->plain, &n->nplain, &n->pcap, s);
        } else {
            qgroup_t *g = node_qgroup(n, s->queue);
            if (g && pop_sub(&g->subs, &g->n, &g->cap, s)) {
                found = true;
                if (!g->n) {
                    free(g->name);
                    *g = n->qgs[--n->nqg];
                    if (!n->nqg) {
                        free(n->qgs);
                        n->qgs = NULL;
                        n->qcap = 0;
                    }
                }
            }
        }
    }
    if (found) {
        prune(sl, n);
        atomic_fetch_sub_explicit(&sl->count, 1, memory_order_relaxed);
        sl->removes++;
        cache_invalidate(sl, s->subject.p, s->subject.n, wild);
    }
    pthread_rwlock_unlock(&sl->lock);
    toks_done(&tk);
    return found ? 0 : -1;
}

/* ---- introspection -------------------------------------------------------- */

uint64_t sublist_count(sublist_t *sl)
{
    return atomic_load_explicit(&sl->count, memory_order_relaxed);
}

void sublist_stats(sublist_t *sl, sublist_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    /* The write lock keeps every cached entry in place (entries are only
     * swapped out under one of the locks), so we may read them even from a
     * thread that is not qsbr-registered. */
    pthread_rwlock_wrlock(&sl->lock);
    st->num_subs = atomic_load_explicit(&sl->count, memory_order_relaxed);
    st->num_inserts = sl->inserts;
    st->num_removes = sl->removes;
    uint64_t fan = 0;
    if (sl->cache) {
        for (uint32_t i = 0; i < CACHE_SLOTS; i++) {
            cache_entry_t *e = atomic_load_explicit(&sl->cache[i], memory_order_acquire);
            if (!e) continue;
            uint32_t f = e->res.nplain + e->res.nqgroups;
            st->num_cache++;
            fan += f;
            if (f > st->max_fanout) st->max_fanout = f;
        }
    }
    pthread_rwlock_unlock(&sl->lock);
    if (st->num_cache) st->avg_fanout = (double)fan / (double)st->num_cache;
    for (uint32_t i = 0; i < NSTRIPES; i++) {
        st->num_matches += atomic_load_explicit(&sl->stripes[i].matches, memory_order_relaxed);
        st->cache_hits += atomic_load_explicit(&sl->stripes[i].hits, memory_order_relaxed);
    }
}

void sublist_foreach_until(sublist_t *sl, bool (*fn)(sub_t *s, void *arg), void *arg)
{
    ptrvec_t st;
    pv_init(&st);
    pthread_rwlock_rdlock(&sl->lock);
    pv_push(&st, sl->root);
    for (const node_t *n; (n = pv_pop(&st));) {
        for (uint32_t i = 0; i < n->nplain; i++)
            if (fn(n->plain[i], arg)) goto done;
        for (uint32_t i = 0; i < n->nqg; i++)
            for (uint32_t j = 0; j < n->qgs[i].n; j++)
                if (fn(n->qgs[i].subs[j], arg)) goto done;
        push_children(&st, n);
    }
done:
    pthread_rwlock_unlock(&sl->lock);
    pv_done(&st);
}

typedef struct foreach_all {
    void (*fn)(sub_t *s, void *arg);
    void *arg;
} foreach_all_t;

static bool foreach_all_cb(sub_t *s, void *arg)
{
    foreach_all_t *f = arg;
    f->fn(s, f->arg);
    return false;
}

void sublist_foreach(sublist_t *sl, void (*fn)(sub_t *s, void *arg), void *arg)
{
    foreach_all_t f = {fn, arg};
    sublist_foreach_until(sl, foreach_all_cb, &f);
}

uint64_t sublist_num_nodes(sublist_t *sl)
{
    ptrvec_t st;
    pv_init(&st);
    uint64_t c = 0;
    pthread_rwlock_rdlock(&sl->lock);
    pv_push(&st, sl->root);
    for (const node_t *n; (n = pv_pop(&st)); c++)
        push_children(&st, n);
    pthread_rwlock_unlock(&sl->lock);
    pv_done(&st);
    return c;
}
