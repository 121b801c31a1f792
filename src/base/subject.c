/* subject.c: subject pattern relations and transforms (see subject.h). */
#include "base/subject.h"

#include <string.h>

typedef struct tok {
    const char *p;
    size_t n;
} tok_t;

/* The next token of [*p, e): false at the end. */
static bool next_tok(const char **p, const char *e, bool *started, tok_t *t)
{
    if (*p > e || (*p == e && *started)) return false;
    const char *dot = memchr(*p, '.', (size_t)(e - *p));
    const char *end = dot ? dot : e;
    t->p = *p;
    t->n = (size_t)(end - *p);
    *p = dot ? dot + 1 : e + 1;
    *started = true;
    return true;
}

static bool is_wc(tok_t t, char c)
{
    return t.n == 1 && t.p[0] == c;
}

bool subject_is_subset(const char *a, size_t an, const char *b, size_t bn)
{
    const char *pa = a, *pb = b, *ea = a + an, *eb = b + bn;
    bool sa = false, sb = false;
    tok_t ta, tb;
    for (;;) {
        bool ha = next_tok(&pa, ea, &sa, &ta), hb = next_tok(&pb, eb, &sb, &tb);
        if (!ha || !hb) return ha == hb;
        if (is_wc(tb, '>')) return true;
        if (is_wc(ta, '>')) return false;
        if (is_wc(tb, '*')) continue;
        if (is_wc(ta, '*') || ta.n != tb.n || memcmp(ta.p, tb.p, ta.n) != 0) return false;
    }
}

bool subjects_collide(const char *a, size_t an, const char *b, size_t bn)
{
    const char *pa = a, *pb = b, *ea = a + an, *eb = b + bn;
    bool sa = false, sb = false;
    tok_t ta, tb;
    for (;;) {
        bool ha = next_tok(&pa, ea, &sa, &ta), hb = next_tok(&pb, eb, &sb, &tb);
        if (!ha || !hb) return ha == hb;
        if (is_wc(ta, '>') || is_wc(tb, '>')) return true;
        if (is_wc(ta, '*') || is_wc(tb, '*')) continue;
        if (ta.n != tb.n || memcmp(ta.p, tb.p, ta.n) != 0) return false;
    }
}

/* The wildcard kinds of a pattern, in order ("*" or ">"), into w; their count. */
static size_t wildcards(const char *s, char *w, size_t cap)
{
    const char *p = s, *e = s + strlen(s);
    bool st = false;
    tok_t t;
    size_t n = 0;
    while (next_tok(&p, e, &st, &t))
        if ((is_wc(t, '*') || is_wc(t, '>')) && n < cap) w[n++] = t.p[0];
    return n;
}

bool subject_transform_ok(const char *src, const char *dst)
{
    char a[64], b[64];
    size_t na = wildcards(src, a, sizeof a), nb = wildcards(dst, b, sizeof b);
    return na == nb && na < sizeof a && memcmp(a, b, na) == 0;
}

static bool put(char *out, size_t cap, size_t *o, const char *p, size_t n)
{
    if (*o + n + 1 > cap) return false;
    memcpy(out + *o, p, n);
    *o += n;
    return true;
}

size_t subject_transform(const char *src, const char *dst, const char *s, size_t sn, char *out,
                         size_t cap)
{
    /* The tokens of s at src's wildcard positions; a ">" takes the rest of s. */
    tok_t cap_tok[64];
    size_t ncap = 0;
    const char *ps = src, *es = src + strlen(src), *pt = s, *et = s + sn;
    bool ss = false, st = false;
    tok_t a, b;
    for (;;) {
        bool ha = next_tok(&ps, es, &ss, &a);
        if (!ha) {
            if (next_tok(&pt, et, &st, &b)) return 0; /* s is longer */
            break;
        }
        if (!next_tok(&pt, et, &st, &b)) return 0;
        if (is_wc(a, '>')) {
            if (ncap == 64) return 0;
            cap_tok[ncap++] = (tok_t){b.p, (size_t)(et - b.p)};
            break;
        }
        if (is_wc(a, '*')) {
            if (ncap == 64) return 0;
            cap_tok[ncap++] = b;
        } else if (a.n != b.n || memcmp(a.p, b.p, a.n) != 0) {
            return 0;
        }
    }
    size_t o = 0, k = 0;
    const char *pd = dst, *ed = dst + strlen(dst);
    bool sd = false;
    tok_t d;
    while (next_tok(&pd, ed, &sd, &d)) {
        if (o && !put(out, cap, &o, ".", 1)) return 0;
        if (is_wc(d, '*') || is_wc(d, '>')) {
            if (k == ncap) return 0;
            if (!put(out, cap, &o, cap_tok[k].p, cap_tok[k].n)) return 0;
            k++;
        } else if (!put(out, cap, &o, d.p, d.n)) {
            return 0;
        }
    }
    out[o] = 0;
    return o;
}

bool subject_valid(const char *s, size_t n)
{
    if (!n) return false;
    size_t start = 0;
    bool after_fwc = false;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') continue;
        size_t tl = i - start;
        if (!tl || after_fwc) return false;
        after_fwc = tl == 1 && s[start] == '>';
        start = i + 1;
    }
    return true;
}

bool subject_has_wildcard(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') continue;
        if (i - start == 1 && (s[start] == '*' || s[start] == '>')) return true;
        start = i + 1;
    }
    return false;
}

bool subject_valid_literal(const char *s, size_t n)
{
    return subject_valid(s, n) && !subject_has_wildcard(s, n);
}
