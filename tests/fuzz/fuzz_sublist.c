/* fuzz_sublist.c: the input is a program of insert/remove/match operations on
 * small subjects (tokens from a tiny alphabet, so wildcards, collisions and
 * empty tokens are common). Every match is cross-checked against a
 * brute-force scan of the live subscriptions with subject_matches, and every
 * insert against subject_valid; the trie must be pruned back to its root when
 * all subs are gone.
 *
 * Byte 0 picks cache on/off. Then each op is one byte (op in the low 2 bits)
 * plus operand bytes. */
#include "common.h"
#include "qsbr.h"
#include "sublist.h"

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

/* Up to 4 tokens; returns the length. */
static size_t gen_subject(reader_t *r, char *out)
{
    int b = next(r);
    if (b < 0) return 0;
    int nt = 1 + (b & 3);
    size_t n = 0;
    for (int t = 0; t < nt; t++) {
        int c = next(r);
        if (c < 0) c = 0;
        const char *tk = alphabet[c & 7];
        if (t) out[n++] = '.';
        memcpy(out + n, tk, strlen(tk));
        n += strlen(tk);
    }
    return n;
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
    char subj[64];
    for (int op; (op = next(&r)) >= 0;) {
        switch (op & 3) {
        case 0: {
            size_t n = gen_subject(&r, subj);
            sub_t *s = mksub(subj, n, queues[(op >> 2) & 3]);
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
        case 1: {
            if (!nlive) break;
            int k = (op >> 2) % nlive;
            if (sublist_remove(sl, live[k]) != 0 || sublist_remove(sl, live[k]) != -1) abort();
            free(live[k]);
            live[k] = live[--nlive];
            break;
        }
        default: {
            size_t n = gen_subject(&r, subj);
            check_match(sublist_match(sl, subj, n), live, nlive, subj, n);
            if (op & 4) /* the second lookup is usually a cache hit */
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
