/* fuzz_sublist.c: the input is a program of insert/remove/match operations on
 * subjects made of tokens from a tiny alphabet (so wildcards, collisions and
 * empty tokens are common): short ones, and deep ones of up to 4096 tokens
 * repeating a short pattern (the trie walks must not recurse per token).
 * Every match is cross-checked against a brute-force scan of the live
 * subscriptions with subject_matches, every insert against subject_valid, and
 * foreach against the live set; the trie must be pruned back to its root when
 * all subs are gone. The subject rules themselves (subject_valid,
 * subject_has_wildcard, subject_valid_literal, subject_matches) are checked on
 * raw input bytes against a token-splitting reference written here.
 *
 * Byte 0 picks cache on/off. Then each op is one byte (op in the low 3 bits,
 * queue choice above) plus operand bytes. A subject operand starts with a
 * byte: high bit clear = 1-4 tokens, one byte each; set = deep: the token
 * count from it and the next byte, then a pattern of 1-8 token bytes. */
#include "base/common.h"
#include "base/qsbr.h"
#include "index/sublist.h"

#include <stdio.h>
#include <stdlib.h>

#define MAXLIVE 64

static const char *const alphabet[] = {"a", "b", "*", ">", "", "ab", "a*", "foo"};

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader_t;

static int next(reader_t *r)
{
    if (!r->n) return -1;
    r->n--;
    return *r->p++;
}

#define MAXDEEP 4096
#define SUBJ_CAP (MAXDEEP * 4 + 64) /* longest token is 3 bytes, plus the dots */

/* Returns the length of the subject written to out (SUBJ_CAP bytes). */
static size_t gen_subject(reader_t *r, char *out)
{
    int b = next(r);
    if (b < 0) return 0;
    int nt, plen;
    uint8_t pat[8];
    if (b & 0x80) {
        int b2 = next(r);
        nt = 1 + ((((b & 0x7f) << 5) | (b2 < 0 ? 0 : b2 & 31)) % MAXDEEP);
        int b3 = next(r);
        plen = 1 + (b3 < 0 ? 0 : b3 & 7);
    } else {
        nt = 1 + (b & 3);
        plen = nt;
    }
    for (int k = 0; k < plen; k++) {
        int c = next(r);
        pat[k] = (uint8_t)(c < 0 ? 0 : c);
    }
    size_t n = 0;
    for (int t = 0; t < nt; t++) {
        const char *tk = alphabet[pat[t % plen] & 7];
        if (t) out[n++] = '.';
        memcpy(out + n, tk, strlen(tk));
        n += strlen(tk);
    }
    return n;
}

/* ---- reference subject rules: split into tokens, then compare ---------------- */

typedef struct rtoks {
    const char *p[MAXDEEP + 8];
    size_t n[MAXDEEP + 8];
    size_t cnt;
    bool empty; /* some token is empty */
} rtoks_t;

static bool rsplit(const char *s, size_t len, rtoks_t *t)
{
    t->cnt = 0;
    t->empty = false;
    size_t st = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') continue;
        if (t->cnt == MAXDEEP + 8) return false; /* too many to check: skip */
        t->p[t->cnt] = s + st;
        t->n[t->cnt] = i - st;
        t->empty |= i == st;
        t->cnt++;
        st = i + 1;
    }
    return true;
}

static bool tok_eq(const rtoks_t *t, size_t k, const char *lit)
{
    return t->n[k] == strlen(lit) && memcmp(t->p[k], lit, t->n[k]) == 0;
}

static bool ref_valid(const rtoks_t *t, size_t len)
{
    if (!len || t->empty) return false;
    for (size_t k = 0; k + 1 < t->cnt; k++)
        if (tok_eq(t, k, ">")) return false;
    return true;
}

static bool ref_wild(const rtoks_t *t)
{
    for (size_t k = 0; k < t->cnt; k++)
        if (tok_eq(t, k, "*") || tok_eq(t, k, ">")) return true;
    return false;
}

static bool ref_matches(const rtoks_t *pt, const rtoks_t *st)
{
    if (pt->empty || st->empty) return false;
    for (size_t k = 0; k < pt->cnt; k++) {
        if (tok_eq(pt, k, ">")) return k + 1 == pt->cnt && st->cnt > k;
        if (k >= st->cnt) return false;
        if (tok_eq(pt, k, "*")) continue;
        if (pt->n[k] != st->n[k] || memcmp(pt->p[k], st->p[k], pt->n[k]) != 0) return false;
    }
    return pt->cnt == st->cnt;
}

static rtoks_t rt_a, rt_b;

/* The subject rules on a subject and a pattern (either may be any bytes). */
static void check_rules(const char *subj, size_t n, const char *pat, size_t pn)
{
    if (!rsplit(subj, n, &rt_a) || !rsplit(pat, pn, &rt_b)) return;
    bool v = subject_valid(subj, n);
    if (v != ref_valid(&rt_a, n)) {
        fprintf(stderr, "subject_valid(\"%.*s\") = %d\n", (int)n, subj, v);
        abort();
    }
    if (subject_has_wildcard(subj, n) != ref_wild(&rt_a)) abort();
    if (subject_valid_literal(subj, n) != (v && !ref_wild(&rt_a))) abort();
    bool m = subject_matches(pat, pn, subj, n);
    if (m != ref_matches(&rt_b, &rt_a)) {
        fprintf(stderr, "subject_matches(\"%.*s\", \"%.*s\") = %d\n", (int)pn, pat, (int)n, subj,
                m);
        abort();
    }
}

static void count_cb(sub_t *s, void *arg)
{
    (void)s;
    ++*(int *)arg;
}

static sub_t *mksub(const char *subj, size_t n, const char *q)
{
    size_t qn = q ? strlen(q) : 0;
    sub_t *s = calloc(1, sizeof(*s) + n + qn + 1);
    memcpy(s->mem, subj, n);
    s->subject = (slice_t){s->mem, n};
    if (qn) {
        memcpy(s->mem + n, q, qn);
        s->queue = (slice_t){s->mem + n, qn};
    }
    return s;
}

static void check_match(const sl_result_t *res, sub_t **live, int nlive, const char *subj, size_t n)
{
    uint32_t want_plain = 0;
    for (int k = 0; k < nlive; k++) {
        sub_t *s = live[k];
        bool m = subject_matches(s->subject.p, s->subject.n, subj, n);
        int found = 0;
        if (!s->queue.n) {
            for (uint32_t i = 0; i < res->nplain; i++)
                found += res->plain[i] == s;
            want_plain += m;
        } else {
            for (uint32_t g = 0; g < res->nqgroups; g++)
                for (uint32_t i = 0; i < res->qgroups[g].n; i++)
                    if (res->qgroups[g].subs[i] == s) {
                        if (!slice_eq(res->qgroups[g].queue, s->queue)) abort();
                        found++;
                    }
        }
        if (found != (m ? 1 : 0)) {
            fprintf(stderr, "mismatch: sub \"%.*s\" vs pub \"%.*s\": found %d, want %d\n",
                    (int)s->subject.n, s->subject.p, (int)n, subj, found, m);
            abort();
        }
    }
    if (res->nplain != want_plain) abort();
    /* Groups are distinct and non-empty; total members match the live set. */
    for (uint32_t g = 0; g < res->nqgroups; g++) {
        if (!res->qgroups[g].n) abort();
        for (uint32_t h = g + 1; h < res->nqgroups; h++)
            if (slice_eq(res->qgroups[g].queue, res->qgroups[h].queue)) abort();
    }
    /* The empty-token rule, independently of subject_matches. */
    bool empty_tok = !n || subj[0] == '.' || subj[n - 1] == '.' || memmem(subj, n, "..", 2);
    if (empty_tok && (res->nplain || res->nqgroups)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const queues[] = {NULL, "q", "Q", "q"};
    reader_t r = {data, size};
    int first = next(&r);
    if (first < 0) return 0;
    sublist_t *sl = sublist_new(first & 1);
    sub_t *live[MAXLIVE];
    int nlive = 0;
    static char subj[SUBJ_CAP], pat[SUBJ_CAP];
    for (int op; (op = next(&r)) >= 0;) {
        switch (op & 7) {
        case 0:
        case 1: {
            size_t n = gen_subject(&r, subj);
            sub_t *s = mksub(subj, n, queues[(op >> 3) & 3]);
            int rc = sublist_insert(sl, s);
            if ((rc == 0) != subject_valid(subj, n)) abort();
            if (rc == 0 && nlive < MAXLIVE) {
                live[nlive++] = s;
            } else {
                if (rc == 0 && sublist_remove(sl, s) != 0) abort();
                free(s);
            }
            break;
        }
        case 2: {
            if (!nlive) break;
            int k = (op >> 3) % nlive;
            if (sublist_remove(sl, live[k]) != 0 || sublist_remove(sl, live[k]) != -1) abort();
            free(live[k]);
            live[k] = live[--nlive];
            break;
        }
        case 5: { /* raw bytes: the subject rules against the reference */
            int a = next(&r), b = next(&r);
            size_t an = a < 0 ? 0 : (size_t)a, bn = b < 0 ? 0 : (size_t)b;
            if (an > r.n) an = r.n;
            memcpy(subj, r.p, an);
            r.p += an, r.n -= an;
            if (bn > r.n) bn = r.n;
            memcpy(pat, r.p, bn);
            r.p += bn, r.n -= bn;
            check_rules(subj, an, pat, bn);
            check_rules(pat, bn, subj, an);
            break;
        }
        case 6: { /* generated subjects, the rules both ways */
            size_t n = gen_subject(&r, subj), pn = gen_subject(&r, pat);
            check_rules(subj, n, pat, pn);
            check_rules(pat, pn, subj, n);
            int cnt = 0;
            sublist_foreach(sl, count_cb, &cnt);
            if (cnt != nlive) abort();
            break;
        }
        default: {
            size_t n = gen_subject(&r, subj);
            check_match(sublist_match(sl, subj, n), live, nlive, subj, n);
            if (op & 8) /* the second lookup is usually a cache hit */
                check_match(sublist_match(sl, subj, n), live, nlive, subj, n);
            break;
        }
        }
        if (sublist_count(sl) != (uint64_t)nlive) abort();
    }
    for (int k = 0; k < nlive; k++) {
        if (sublist_remove(sl, live[k]) != 0) abort();
        free(live[k]);
    }
    if (sublist_num_nodes(sl) != 1) abort();
    sublist_free(sl);
    qsbr_drain_all();
    return 0;
}
