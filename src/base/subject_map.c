/* subject_map.c: compiled subject transforms (see subject_map.h). */
#include "base/subject_map.h"
#include "base/common.h"
#include "base/subject.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOK 32  /* tokens of a source or destination */
#define MAX_ARGS 16 /* wildcard arguments of one function */

typedef enum { T_LIT, T_WC, T_PART, T_SFL, T_SFR, T_SLL, T_SLR, T_SPLIT, T_FWC } ttype_t;

typedef struct dtok {
    ttype_t type;
    char *lit;         /* T_LIT; T_SPLIT: the separator */
    int idx[MAX_ARGS]; /* source token positions (0-based) of the wildcards used */
    int nidx;
    int arg; /* partitions, split or slice size */
} dtok_t;

struct smap {
    char *src, *dest;
    dtok_t d[MAX_TOK];
    int nd;
    int wc_pos[MAX_TOK]; /* source position of wildcard k (0-based k) */
    int nwc;
    bool fwc; /* both end in ">" */
    bool positional;
};

/* Non-empty tokens, ">" only last. */
static bool valid_pattern(const char *s)
{
    if (!*s) return false;
    for (const char *p = s;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (!l || (l == 1 && *p == '>' && dot)) return false;
        for (size_t i = 0; i < l; i++)
            if (p[i] == ' ' || p[i] == '\t') return false;
        if (!dot) return true;
        p = dot + 1;
    }
}

static int split_tokens(const char *s, const char **t, size_t *tl, int max)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (n == max) return -1;
        t[n] = p;
        tl[n++] = l;
        if (!dot) return n;
        p = dot + 1;
    }
}

/* "name(args)" inside "{{ }}": the function and its comma-separated arguments. */
static bool parse_func(const char *tok, size_t n, char *name, size_t nsz, char args[][64],
                       int *nargs)
{
    if (n < 5 || strncmp(tok, "{{", 2) != 0 || strncmp(tok + n - 2, "}}", 2) != 0) return false;
    const char *p = tok + 2, *e = tok + n - 2;
    while (p < e && *p == ' ')
        p++;
    const char *lp = memchr(p, '(', (size_t)(e - p));
    const char *rp = e;
    while (rp > p && rp[-1] == ' ')
        rp--;
    if (!lp || rp == p || rp[-1] != ')') return false;
    size_t nl = (size_t)(lp - p);
    while (nl && p[nl - 1] == ' ')
        nl--;
    if (nl >= nsz) return false;
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)tolower((unsigned char)p[i]);
    name[nl] = 0;
    *nargs = 0;
    const char *a = lp + 1, *end = rp - 1;
    while (a <= end && *nargs < MAX_ARGS) {
        const char *c = a;
        bool q = false;
        while (c < end && (q || *c != ',')) {
            if (*c == '"') q = !q;
            c++;
        }
        size_t l = (size_t)(c - a);
        while (l && (*a == ' '))
            a++, l--;
        while (l && a[l - 1] == ' ')
            l--;
        if (l >= 64) return false;
        memcpy(args[*nargs], a, l);
        args[*nargs][l] = 0;
        (*nargs)++;
        a = c + 1;
        if (c >= end) break;
    }
    return true;
}

static bool to_int(const char *s, int *v)
{
    char *e;
    long x = strtol(s, &e, 10);
    if (!*s || *e || x < -1000000 || x > 1000000) return false;
    *v = (int)x;
    return true;
}

/* One destination token; false with err. */
static bool compile_tok(smap_t *m, const char *tok, size_t n, dtok_t *d, char *err, size_t errlen)
{
    char name[32], args[MAX_ARGS][64];
    int nargs = 0, w;
    memset(d, 0, sizeof *d);
    if (n == 1 && tok[0] == '>') {
        d->type = T_FWC;
        return true;
    }
    if (n > 1 && tok[0] == '$') {
        char b[16];
        if (n < sizeof b) {
            memcpy(b, tok + 1, n - 1);
            b[n - 1] = 0;
            if (to_int(b, &w)) {
                d->type = T_WC;
                d->nidx = 1;
                d->idx[0] = w;
                goto check;
            }
        }
    }
    if (!parse_func(tok, n, name, sizeof name, args, &nargs)) {
        d->type = T_LIT;
        d->lit = xstrndup(tok, n);
        return true;
    }
    m->positional = false;
    if (!strcmp(name, "wildcard")) {
        if (nargs != 1 || !to_int(args[0], &w)) goto bad;
        d->type = T_WC, d->nidx = 1, d->idx[0] = w;
        m->positional = true;
    } else if (!strcmp(name, "partition")) {
        if (nargs < 2 || !to_int(args[0], &d->arg) || d->arg <= 0) goto bad;
        d->type = T_PART;
        for (int i = 1; i < nargs; i++)
            if (!to_int(args[i], &d->idx[d->nidx++])) goto bad;
    } else if (!strcmp(name, "split")) {
        /* the separator as written (the reference takes quotes literally too) */
        if (nargs != 2 || !to_int(args[0], &w) || !args[1][0]) goto bad;
        d->type = T_SPLIT, d->nidx = 1, d->idx[0] = w;
        d->lit = xstrdup(args[1]);
    } else {
        ttype_t t = !strcmp(name, "splitfromleft")    ? T_SFL
                    : !strcmp(name, "splitfromright") ? T_SFR
                    : !strcmp(name, "slicefromleft")  ? T_SLL
                    : !strcmp(name, "slicefromright") ? T_SLR
                                                      : T_LIT;
        if (t == T_LIT || nargs != 2 || !to_int(args[0], &w) || !to_int(args[1], &d->arg)) goto bad;
        d->type = t, d->nidx = 1, d->idx[0] = w;
    }
check:
    for (int i = 0; i < d->nidx; i++) {
        if (d->idx[i] < 1 || d->idx[i] > m->nwc) {
            snprintf(err, errlen,
                     "invalid mapping destination: wildcard index out of range in %.*s", (int)n,
                     tok);
            return false;
        }
        d->idx[i] = m->wc_pos[d->idx[i] - 1];
    }
    return true;
bad:
    snprintf(err, errlen, "invalid mapping destination: %.*s", (int)n, tok);
    return false;
}

smap_t *smap_compile(const char *src, const char *dest, char *err, size_t errlen)
{
    const char *st[MAX_TOK], *dt[MAX_TOK];
    size_t sl[MAX_TOK], dl[MAX_TOK];
    int ns = split_tokens(src, st, sl, MAX_TOK), nd = split_tokens(dest, dt, dl, MAX_TOK);
    if (ns < 0 || nd < 0 || !valid_pattern(src) || !*dest) {
        snprintf(err, errlen, "invalid subject");
        return NULL;
    }
    smap_t *m = xcalloc(1, sizeof *m);
    m->src = xstrdup(src);
    m->dest = xstrdup(dest);
    m->positional = true;
    bool sfwc = sl[ns - 1] == 1 && st[ns - 1][0] == '>';
    bool dfwc = dl[nd - 1] == 1 && dt[nd - 1][0] == '>';
    for (int i = 0; i < ns; i++)
        if (sl[i] == 1 && st[i][0] == '*') m->wc_pos[m->nwc++] = i;
    if (sfwc != dfwc) {
        snprintf(err, errlen, "invalid subject");
        smap_free(m);
        return NULL;
    }
    m->fwc = sfwc;
    int used = 0;
    for (int i = 0; i < nd; i++) {
        if (dl[i] == 1 && dt[i][0] == '*') {
            snprintf(err, errlen, "invalid subject"); /* no plain wildcard in a destination */
            smap_free(m);
            return NULL;
        }
        if (!compile_tok(m, dt[i], dl[i], &m->d[m->nd], err, errlen)) {
            free(m->d[m->nd].lit); /* a split's separator, kept before its index was refused */
            smap_free(m);
            return NULL;
        }
        if (m->d[m->nd].type != T_LIT && m->d[m->nd].type != T_FWC) used++;
        m->nd++;
    }
    if (used < m->nwc) {
        snprintf(err, errlen,
                 "invalid mapping destination: not using all of the token wildcard(s) in %s", dest);
        smap_free(m);
        return NULL;
    }
    return m;
}

void smap_free(smap_t *m)
{
    if (!m) return;
    for (int i = 0; i < m->nd; i++)
        free(m->d[i].lit);
    free(m->src);
    free(m->dest);
    free(m);
}

bool smap_matches(const smap_t *m, const char *s, size_t n)
{
    return subject_is_subset(s, n, m->src, strlen(m->src)); /* literal s under src */
}

bool smap_positional(const smap_t *m)
{
    return m->positional;
}

const char *smap_src(const smap_t *m)
{
    return m->src;
}

const char *smap_dest(const smap_t *m)
{
    return m->dest;
}

static bool put(char *out, size_t cap, size_t *o, const char *p, size_t n)
{
    if (*o + n + 1 > cap) return false;
    memcpy(out + *o, p, n);
    *o += n;
    return true;
}

static uint32_t fnv1a(const char *const *t, const size_t *tl, const int *idx, int n)
{
    uint32_t h = 2166136261u;
    for (int k = 0; k < n; k++)
        for (size_t i = 0; i < tl[idx[k]]; i++) {
            h ^= (uint8_t)t[idx[k]][i];
            h *= 16777619u;
        }
    return h;
}

/* Pieces of token t..t+n at the given cut points (slices and splits). */
static bool put_func(const dtok_t *d, const char *t, size_t n, char *out, size_t cap, size_t *o)
{
    size_t k = d->arg > 0 ? (size_t)d->arg : 0;
    switch (d->type) {
    case T_SFL:
    case T_SFR: {
        if (!k || k >= n) return put(out, cap, o, t, n);
        size_t at = d->type == T_SFL ? k : n - k;
        return put(out, cap, o, t, at) && put(out, cap, o, ".", 1) &&
               put(out, cap, o, t + at, n - at);
    }
    case T_SLL:
    case T_SLR: {
        if (!k || k >= n) return put(out, cap, o, t, n);
        size_t first = d->type == T_SLL ? k : (n % k ? n % k : k);
        if (!put(out, cap, o, t, first)) return false;
        for (size_t i = first; i < n; i += k) {
            size_t l = d->type == T_SLL && i + k > n ? n - i : k;
            if (!put(out, cap, o, ".", 1) || !put(out, cap, o, t + i, l)) return false;
        }
        return true;
    }
    case T_SPLIT: {
        size_t sl = strlen(d->lit);
        bool first = true;
        const char *p = t, *e = t + n;
        while (p <= e) {
            const char *q = sl ? memmem(p, (size_t)(e - p), d->lit, sl) : NULL;
            size_t l = q ? (size_t)(q - p) : (size_t)(e - p);
            if (l) {
                if (!first && !put(out, cap, o, ".", 1)) return false;
                if (!put(out, cap, o, p, l)) return false;
                first = false;
            }
            if (!q) break;
            p = q + sl;
        }
        return true;
    }
    default:
        return false;
    }
}

size_t smap_apply(const smap_t *m, const char *s, size_t n, char *out, size_t cap)
{
    const char *t[MAX_TOK * 4];
    size_t tl[MAX_TOK * 4];
    int nt = 0;
    for (const char *p = s, *e = s + n; p <= e && nt < MAX_TOK * 4;) {
        const char *dot = memchr(p, '.', (size_t)(e - p));
        t[nt] = p;
        tl[nt++] = dot ? (size_t)(dot - p) : (size_t)(e - p);
        if (!dot) break;
        p = dot + 1;
    }
    size_t o = 0;
    for (int i = 0; i < m->nd; i++) {
        const dtok_t *d = &m->d[i];
        if (d->type == T_FWC) {
            /* the rest of the subject, from where ">" stood in the source */
            const char *st[MAX_TOK];
            size_t sl[MAX_TOK];
            int ns = split_tokens(m->src, st, sl, MAX_TOK);
            for (int k = ns - 1; k < nt; k++) {
                if (o && !put(out, cap, &o, ".", 1)) return 0;
                if (!put(out, cap, &o, t[k], tl[k])) return 0;
            }
            break;
        }
        if (i && !put(out, cap, &o, ".", 1)) return 0;
        bool ok;
        if (d->type == T_LIT) {
            ok = put(out, cap, &o, d->lit, strlen(d->lit));
        } else if (d->type == T_WC) {
            ok = d->idx[0] < nt && put(out, cap, &o, t[d->idx[0]], tl[d->idx[0]]);
        } else if (d->type == T_PART) {
            for (int k = 0; k < d->nidx; k++)
                if (d->idx[k] >= nt) return 0;
            char num[16];
            int l =
                snprintf(num, sizeof num, "%u", fnv1a(t, tl, d->idx, d->nidx) % (uint32_t)d->arg);
            ok = put(out, cap, &o, num, (size_t)l);
        } else {
            ok = d->idx[0] < nt && put_func(d, t[d->idx[0]], tl[d->idx[0]], out, cap, &o);
        }
        if (!ok) return 0;
    }
    out[o] = 0;
    return o;
}
