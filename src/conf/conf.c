/* conf.c: the NATS configuration language (reference: nats-server 2.9.10 conf/).
 *
 * Design. One pass of recursive descent over the input bytes, building the tree
 * directly. The reference lexer is a context-sensitive state machine (what ends
 * a token depends on being at top level, in a map or in an array); each of its
 * contexts is one loop here (parse_top, parse_map, parse_array) and what they
 * share is parse_value, so token boundaries and error texts follow the
 * reference's states. A map under construction doubles as a variable scope:
 * maps (never arrays) are pushed on a scope stack, and a key joins its map only
 * once its value is complete, so `a { b = $a }` cannot see the `a` in progress.
 * Included files and environment variables are parsed by a nested parser that
 * shares the limits (shared_t) but has its own scopes, as in the reference.
 *
 * Memory. Every node is owned by its parent; a variable reference inserts a
 * deep copy. File names are interned once per parse into a refcounted
 * conf_name_t and every value and key holds one reference to its name, so any
 * subtree can be freed on its own and names live exactly as long as a node
 * that points at them (no side list to keep next to the root).
 *
 * Limits, so that no input can hang or exhaust the process: nesting depth,
 * include depth (include cycles), environment-variable recursion (FOO='$FOO'),
 * a byte budget for the whole tree (variable copies grow exponentially
 * with `b = [$a, $a]; c = [$b, $b] ...`), and one for the text read: the file
 * and everything it includes, each file counting at least 4 KiB (a cycle of
 * large files, or a fan-out of empty ones).
 *
 * Positions: lines count '\n' only (as the reference); columns are 1-based
 * byte offsets. String values point after their opening quote, as the
 * reference does.
 *
 * Deliberate differences from the reference (each makes an invalid or
 * accidental configuration fail loudly, or accepts one the reference rejects):
 *  - an unterminated quoted string or key is always an error (the reference
 *    silently ends the file when the quote is the last thing before EOF);
 *  - a map key with no value before '}' (`{a = }`) is an error (the reference
 *    mis-assigns keys);
 *  - a plain integer right before ']' in an array ends there (`[1,2]`); the
 *    reference turns it into a string that swallows the bracket, an error;
 *  - an unknown size suffix (`1kbb`) and size multiplication overflow are
 *    errors (the reference drops the key / wraps around);
 *  - a block string closed by ")" at EOF does not include the ")";
 *  - variables also match case-insensitively, and unquoted $2b$/$2y$ bcrypt
 *    hashes are literals, as gnatsd-c's config.md decides;
 *  - a NUL byte is an ordinary character (Go's lexer mistakes it for EOF) and
 *    only ASCII digits start numbers. */
#include "conf/conf.h"
#include "base/common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_DEPTH 128        /* nested maps/arrays */
#define CONF_MAX_INCLUDE_DEPTH 16 /* stops include cycles */
#define CONF_MAX_ENV_DEPTH 8      /* environment values referring to variables */
/* The tree's byte budget; the fuzz build sets a smaller one so that an input
 * that expands to the limit stays a fast unit under the sanitizers. */
#ifndef CONF_MAX_BYTES
#define CONF_MAX_BYTES ((size_t)64 << 20)
#endif
/* Text read for one parse: the file and all it includes, each file counting at
 * least CONF_FILE_COST (so an include fan-out of empty files is bounded too). */
#define CONF_MAX_FILE ((size_t)64 << 20)
#define CONF_FILE_COST ((size_t)4096)
#define CONF_EMSG 1024

#define R_EOF (-1)

enum ctx { CTX_TOP, CTX_MAP, CTX_ARRAY };

/* ---- interned, refcounted file names ---------------------------------- */

typedef struct conf_name {
    size_t refs;
    char s[];
} conf_name_t;

static conf_name_t *name_of(const char *s)
{
    return (conf_name_t *)(void *)(s - offsetof(conf_name_t, s));
}

static const char *name_ref(const char *s)
{
    if (s) name_of(s)->refs++;
    return s;
}

static void name_unref(const char *s)
{
    if (s && --name_of(s)->refs == 0) free(name_of(s));
}

/* State shared by a parse and the nested parses of its includes and
 * environment values. The names array holds one reference per name so that
 * interning can hand out the same pointer; it is dropped when the parse ends. */
typedef struct shared {
    conf_name_t **names;
    size_t nnames;
    size_t used; /* bytes charged against CONF_MAX_BYTES */
    size_t read; /* bytes of text charged against CONF_MAX_FILE */
    int incdepth, envdepth;
} shared_t;

static const char *intern(shared_t *sh, const char *s)
{
    for (size_t i = 0; i < sh->nnames; i++)
        if (strcmp(sh->names[i]->s, s) == 0) return sh->names[i]->s;
    size_t n = strlen(s);
    conf_name_t *nm = xmalloc(sizeof(*nm) + n + 1);
    nm->refs = 1;
    memcpy(nm->s, s, n + 1);
    sh->names = xrealloc(sh->names, (sh->nnames + 1) * sizeof(*sh->names));
    sh->names[sh->nnames++] = nm;
    return nm->s;
}

static void shared_release(shared_t *sh)
{
    for (size_t i = 0; i < sh->nnames; i++)
        name_unref(sh->names[i]->s);
    free(sh->names);
}

/* ---- parser ------------------------------------------------------------ */

typedef struct perr {
    bool set;
    bool lexical; /* the reference would say "Parse error on line N: '...'" */
    const char *file;
    int line, col;
    char msg[CONF_EMSG];
} perr_t;

typedef struct parser {
    const char *s;
    size_t n, pos;
    const char *file; /* interned */
    char *dir;        /* owned: base for relative includes */
    shared_t *sh;
    conf_val_t **scopes; /* maps under construction, innermost last */
    size_t nscopes;
    int depth;
    /* line/col cache: positions are asked for in nearly increasing order */
    size_t lc_pos, lc_lstart;
    int lc_line;
    perr_t *err;
} parser_t;

/* Positions are asked for in nearly increasing order (a key's after its
 * value's, at worst), so walk from the last answer rather than from the start:
 * large files stay linear. */
static void linecol(parser_t *p, size_t pos, int *line, int *col)
{
    if (pos > p->n) pos = p->n;
    if (pos < p->lc_pos) {
        bool crossed = false;
        for (size_t i = pos; i < p->lc_pos; i++) {
            if (p->s[i] == '\n') {
                p->lc_line--;
                crossed = true;
            }
        }
        if (crossed) {
            size_t i = pos;
            while (i > 0 && p->s[i - 1] != '\n')
                i--;
            p->lc_lstart = i;
        }
        p->lc_pos = pos;
    }
    for (size_t i = p->lc_pos; i < pos; i++) {
        if (p->s[i] == '\n') {
            p->lc_line++;
            p->lc_lstart = i + 1;
        }
    }
    p->lc_pos = pos;
    *line = p->lc_line;
    *col = (int)(pos - p->lc_lstart + 1);
}

static int peekb(const parser_t *p)
{
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : R_EOF;
}

static int byte_at(const parser_t *p, size_t pos)
{
    return pos < p->n ? (unsigned char)p->s[pos] : R_EOF;
}

/* Decodes one UTF-8 rune; invalid input is U+FFFD of width 1, as in Go. */
static int32_t rune_at(const parser_t *p, size_t pos, size_t *w)
{
    if (pos >= p->n) {
        *w = 0;
        return R_EOF;
    }
    const unsigned char *s = (const unsigned char *)p->s + pos;
    size_t left = p->n - pos;
    unsigned c = s[0];
    size_t need;
    uint32_t r, min;
    if (c < 0x80) {
        *w = 1;
        return (int32_t)c;
    } else if ((c & 0xE0) == 0xC0) {
        need = 1, r = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        need = 2, r = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        need = 3, r = c & 0x07, min = 0x10000;
    } else {
        goto bad;
    }
    if (left <= need) goto bad;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) goto bad;
        r = r << 6 | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) goto bad;
    *w = need + 1;
    return (int32_t)r;
bad:
    *w = 1;
    return 0xFFFD;
}

/* Go's unicode.IsSpace: where the reference uses it, Unicode spaces count. */
static bool is_uspace(int32_t r)
{
    return r == ' ' || (r >= '\t' && r <= '\r') || r == 0x85 || r == 0xA0 || r == 0x1680 ||
           (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 || r == 0x202F ||
           r == 0x205F || r == 0x3000;
}

static bool is_blank(int c)
{
    return c == ' ' || c == '\t';
}

static bool is_nl(int c)
{
    return c == '\n' || c == '\r';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_sep(int c)
{
    return c == '=' || c == ':';
}

/* Renders the character at pos for an error message the way the reference
 * does, except that EOF and NUL (which Go prints as a raw NUL byte) read \x00. */
static const char *show_at(const parser_t *p, size_t pos, char buf[8])
{
    size_t w;
    int32_t r = rune_at(p, pos, &w);
    if (r == R_EOF || r == 0) return "\\x00";
    if (r == '\n') return "\\n";
    memcpy(buf, p->s + pos, w);
    buf[w] = 0;
    return buf;
}

static void *fail_at(parser_t *p, size_t pos, bool lexical, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void *fail_at(parser_t *p, size_t pos, bool lexical, const char *fmt, ...)
{
    perr_t *e = p->err;
    if (e->set) return NULL;
    e->set = true;
    e->lexical = lexical;
    e->file = p->file;
    linecol(p, pos, &e->line, &e->col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return NULL;
}

static bool charge(parser_t *p, size_t n, size_t pos)
{
    if (n > CONF_MAX_BYTES - p->sh->used) {
        fail_at(p, pos, false, "configuration too large (over %zu MiB after variable expansion)",
                CONF_MAX_BYTES >> 20);
        return false;
    }
    p->sh->used += n;
    return true;
}

/* ---- tree building ----------------------------------------------------- */

static void free_val(conf_val_t *v);

static conf_val_t *new_val(parser_t *p, conf_type_t t, size_t pos)
{
    if (!charge(p, sizeof(conf_val_t), pos)) return NULL;
    conf_val_t *v = xcalloc(1, sizeof(*v));
    v->type = t;
    v->file = name_ref(p->file);
    linecol(p, pos, &v->line, &v->col);
    return v;
}

/* Grows an array of n items to hold n+1: capacity is the next power of two
 * from 4, so it is implied by n and needs no field of its own. */
static void *grow(void *items, size_t n, size_t sz)
{
    if (n == 0) return xmalloc(4 * sz);
    if (n >= 4 && (n & (n - 1)) == 0) return xrealloc(items, 2 * n * sz);
    return items;
}

static void map_add(conf_val_t *m, char *key, const char *file, int line, int col, conf_val_t *v)
{
    m->u.map.items = grow(m->u.map.items, m->u.map.n, sizeof(conf_kv_t));
    conf_kv_t *kv = &m->u.map.items[m->u.map.n++];
    kv->key = key;
    kv->file = name_ref(file);
    kv->line = line;
    kv->col = col;
    kv->val = v;
}

static void arr_add(conf_val_t *a, conf_val_t *v)
{
    a->u.arr.items = grow(a->u.arr.items, a->u.arr.n, sizeof(conf_val_t *));
    a->u.arr.items[a->u.arr.n++] = v;
}

static conf_val_t *new_str(parser_t *p, size_t pos, const char *s, size_t len)
{
    if (!charge(p, len + 1, pos)) return NULL;
    conf_val_t *v = new_val(p, CONF_STRING, pos);
    if (!v) return NULL;
    v->u.str.s = xstrndup(s, len);
    v->u.str.len = len;
    return v;
}

static void free_val(conf_val_t *v)
{
    if (!v) return;
    switch (v->type) {
    case CONF_MAP:
        for (size_t i = 0; i < v->u.map.n; i++) {
            free(v->u.map.items[i].key);
            name_unref(v->u.map.items[i].file);
            free_val(v->u.map.items[i].val);
        }
        free(v->u.map.items);
        break;
    case CONF_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            free_val(v->u.arr.items[i]);
        free(v->u.arr.items);
        break;
    case CONF_STRING:
        free(v->u.str.s);
        break;
    default:
        break;
    }
    name_unref(v->file);
    free(v);
}

static int height(const conf_val_t *v)
{
    int h = 0;
    if (v->type == CONF_MAP) {
        for (size_t i = 0; i < v->u.map.n; i++) {
            int c = height(v->u.map.items[i].val);
            h = c > h ? c : h;
        }
        return h + 1;
    }
    if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            int c = height(v->u.arr.items[i]);
            h = c > h ? c : h;
        }
        return h + 1;
    }
    return 0;
}

static conf_val_t *copy_val(parser_t *p, const conf_val_t *src, size_t pos)
{
    if (!charge(p, sizeof(conf_val_t), pos)) return NULL;
    conf_val_t *v = xmalloc(sizeof(*v));
    *v = *src;
    name_ref(v->file);
    switch (src->type) {
    case CONF_STRING:
        v->u.str.s = NULL;
        if (!charge(p, src->u.str.len + 1, pos)) {
            v->type = CONF_INT; /* nothing to free */
            free_val(v);
            return NULL;
        }
        v->u.str.s = xmalloc(src->u.str.len + 1);
        memcpy(v->u.str.s, src->u.str.s, src->u.str.len + 1);
        break;
    case CONF_MAP:
        v->u.map.n = 0;
        v->u.map.items = NULL;
        for (size_t i = 0; i < src->u.map.n; i++) {
            const conf_kv_t *kv = &src->u.map.items[i];
            size_t kl = strlen(kv->key);
            conf_val_t *c =
                charge(p, sizeof(conf_kv_t) + kl + 1, pos) ? copy_val(p, kv->val, pos) : NULL;
            if (!c) {
                free_val(v);
                return NULL;
            }
            map_add(v, xstrndup(kv->key, kl), kv->file, kv->line, kv->col, c);
        }
        break;
    case CONF_ARRAY:
        v->u.arr.n = 0;
        v->u.arr.items = NULL;
        for (size_t i = 0; i < src->u.arr.n; i++) {
            conf_val_t *c =
                charge(p, sizeof(conf_val_t *), pos) ? copy_val(p, src->u.arr.items[i], pos) : NULL;
            if (!c) {
                free_val(v);
                return NULL;
            }
            arr_add(v, c);
        }
        break;
    default:
        break;
    }
    return v;
}

/* An environment value was parsed from text that is not in any file: all of
 * it is placed where the reference to it was. */
static void set_pos(conf_val_t *v, const char *file, int line, int col)
{
    name_unref(v->file);
    v->file = name_ref(file);
    v->line = line;
    v->col = col;
    if (v->type == CONF_MAP) {
        for (size_t i = 0; i < v->u.map.n; i++) {
            conf_kv_t *kv = &v->u.map.items[i];
            name_unref(kv->file);
            kv->file = name_ref(file);
            kv->line = line;
            kv->col = col;
            set_pos(kv->val, file, line, col);
        }
    } else if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++)
            set_pos(v->u.arr.items[i], file, line, col);
    }
}

/* ---- growable byte buffer for escaped strings --------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf_t;

static void sbuf_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* ---- paths and files ---------------------------------------------------- */

/* Go's filepath.Clean, so include paths print as the reference prints them. */
static char *path_clean(const char *path)
{
    size_t n = strlen(path);
    if (n == 0) return xstrdup(".");
    bool rooted = path[0] == '/';
    char *out = xmalloc(n + 2);
    size_t r = 0, w = 0, dotdot = 0;
    if (rooted) {
        out[w++] = '/';
        r = dotdot = 1;
    }
    while (r < n) {
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0) out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0)) out[w++] = '/';
            for (; r < n && path[r] != '/'; r++)
                out[w++] = path[r];
        }
    }
    if (w == 0) out[w++] = '.';
    out[w] = 0;
    return out;
}

static char *path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    char *d = xstrndup(path, (size_t)(slash - path) + 1);
    char *c = path_clean(d);
    free(d);
    return c;
}

static char *path_join(const char *dir, const char *rel)
{
    if (!*rel) return path_clean(dir);
    size_t dl = strlen(dir), rl = strlen(rel);
    char *j = xmalloc(dl + rl + 2);
    memcpy(j, dir, dl);
    j[dl] = '/';
    memcpy(j + dl + 1, rel, rl + 1);
    char *c = path_clean(j);
    free(j);
    return c;
}

/* Go's wording of errno texts is glibc's with a lower-case first letter. */
static void errno_text(int e, char *buf, size_t len)
{
    char tmp[128];
    const char *s = strerror_r(e, tmp, sizeof(tmp));
    snprintf(buf, len, "%s", s);
    if (buf[0]) buf[0] = (char)tolower((unsigned char)buf[0]);
}

/* Reads at most max bytes (more is an error). */
static char *read_file(const char *path, size_t max, size_t *len, char *msg, size_t msglen)
{
    char et[128];
    struct stat st;
    /* O_NONBLOCK and the type check keep `include` of a FIFO or a device
     * (/dev/stdin, /dev/zero) from blocking or running away. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        errno_text(errno, et, sizeof(et));
        snprintf(msg, msglen, "open %s: %s", path, et);
        return NULL;
    }
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        snprintf(msg, msglen, "read %s: not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t n = 0, cap = 4096;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n > max) {
            snprintf(msg, msglen,
                     "read %s: the configuration and its includes exceed %zu MiB (each file counts "
                     "at least 4 KiB)",
                     path, CONF_MAX_FILE >> 20);
            goto fail;
        }
        if (n == cap) {
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            errno_text(errno, et, sizeof(et));
            snprintf(msg, msglen, "read %s: %s", path, et);
            goto fail;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

/* ---- scalars ----------------------------------------------------------- */

static conf_val_t *parse_value(parser_t *p, enum ctx ctx);
static conf_val_t *parse_doc(parser_t *p);

static void skip_comment(parser_t *p)
{
    while (p->pos < p->n && !is_nl(p->s[p->pos]))
        p->pos++;
}

/* At '#' or "//": a comment. A lone '/' is not one. */
static bool at_comment(const parser_t *p)
{
    int c = peekb(p);
    return c == '#' || (c == '/' && byte_at(p, p->pos + 1) == '/');
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* After a backslash: appends the escaped byte to b. */
static bool scan_escape(parser_t *p, sbuf_t *b)
{
    char sh[8];
    size_t epos = p->pos, w;
    int32_t r = rune_at(p, epos, &w);
    p->pos += w;
    switch (r) {
    case 't':
        sbuf_add(b, "\t", 1);
        return true;
    case 'n':
        sbuf_add(b, "\n", 1);
        return true;
    case 'r':
        sbuf_add(b, "\r", 1);
        return true;
    case '"':
        sbuf_add(b, "\"", 1);
        return true;
    case '\\':
        sbuf_add(b, "\\", 1);
        return true;
    case 'x': {
        int c1 = peekb(p), c2 = byte_at(p, p->pos + 1);
        if (c1 == R_EOF || is_nl(c1) || c2 == R_EOF || is_nl(c2)) {
            fail_at(p, p->pos, true,
                    "Expected two hexadecimal digits after '\\x', but hit end of line");
            return false;
        }
        if (hexval(c1) < 0 || hexval(c2) < 0) {
            fail_at(p, p->pos, true, "Expected two hexadecimal digits after '\\x', but got '%c%c'",
                    c1, c2);
            return false;
        }
        char byte = (char)(hexval(c1) << 4 | hexval(c2));
        sbuf_add(b, &byte, 1);
        p->pos += 2;
        return true;
    }
    }
    fail_at(p, epos, true,
            "Invalid escape character '%s'. Only the following escape characters are allowed: "
            "\\xXX, \\t, \\n, \\r, \\\", \\\\.",
            show_at(p, epos, sh));
    return false;
}

static conf_val_t *resolve_var(parser_t *p, const char *name, size_t nlen, size_t vpos);

/* An unquoted string whose text starts at ts; scanning resumes at p->pos (the
 * number scanner hands over mid-token, after the character that made it give
 * up, exactly as the reference does). */
static conf_val_t *scan_unquoted(parser_t *p, size_t ts)
{
    sbuf_t b = {0};
    bool esc = false;
    size_t seg = ts;
    conf_val_t *v;
    for (;;) {
        int c = peekb(p);
        if (c == '\\') {
            sbuf_add(&b, p->s + seg, p->pos - seg);
            p->pos++;
            if (!scan_escape(p, &b)) {
                free(b.p);
                return NULL;
            }
            esc = true;
            seg = p->pos;
            continue;
        }
        if (c == R_EOF || is_nl(c) || is_blank(c) || c == ';' || c == ',' || c == ']' || c == '}')
            break;
        if (c == '\'') {
            /* The reference ends the string here and drops the quote, without
             * checking for booleans or variables. */
            sbuf_add(&b, p->s + seg, p->pos - seg);
            p->pos++;
            v = new_str(p, ts, b.p ? b.p : "", b.n);
            free(b.p);
            return v;
        }
        p->pos++;
    }
    if (esc) {
        sbuf_add(&b, p->s + seg, p->pos - seg);
        v = new_str(p, ts, b.p, b.n);
        free(b.p);
        return v;
    }
    const char *t = p->s + ts;
    size_t tl = p->pos - ts;
    static const char *const trues[] = {"true", "yes", "on"}, *const falses[] = {"false", "no",
                                                                                 "off"};
    for (size_t i = 0; i < 3; i++) {
        if ((tl == strlen(trues[i]) && strncasecmp(t, trues[i], tl) == 0) ||
            (tl == strlen(falses[i]) && strncasecmp(t, falses[i], tl) == 0)) {
            v = new_val(p, CONF_BOOL, ts);
            if (v) v->u.b = tl == strlen(trues[i]) && strncasecmp(t, trues[i], tl) == 0;
            return v;
        }
    }
    if (tl > 0 && t[0] == '$') return resolve_var(p, t + 1, tl - 1, ts);
    return new_str(p, ts, t, tl);
}

static conf_val_t *scan_dq(parser_t *p, size_t ts)
{
    sbuf_t b = {0};
    size_t seg = ts;
    for (;;) {
        int c = peekb(p);
        if (c == R_EOF) {
            free(b.p);
            return fail_at(p, p->pos, true, "Unexpected EOF.");
        }
        if (c == '\\') {
            sbuf_add(&b, p->s + seg, p->pos - seg);
            p->pos++;
            if (!scan_escape(p, &b)) {
                free(b.p);
                return NULL;
            }
            seg = p->pos;
            continue;
        }
        if (c == '"') break;
        p->pos++;
    }
    sbuf_add(&b, p->s + seg, p->pos - seg);
    p->pos++;
    conf_val_t *v = new_str(p, ts, b.p, b.n);
    free(b.p);
    return v;
}

static conf_val_t *scan_sq(parser_t *p, size_t ts)
{
    const char *q = memchr(p->s + ts, '\'', p->n - ts);
    if (!q) {
        p->pos = p->n;
        return fail_at(p, p->n, true, "Unexpected EOF.");
    }
    p->pos = (size_t)(q - p->s) + 1;
    return new_str(p, ts, p->s + ts, (size_t)(q - p->s) - ts);
}

/* A block ends at a ')' alone on its line; the text keeps the newlines
 * around it except the one before the ')'... which it keeps too. */
static conf_val_t *scan_block(parser_t *p, size_t ts)
{
    for (size_t i = ts; i < p->n; i++) {
        if (p->s[i] == ')' && p->s[i - 1] == '\n' && (i + 1 == p->n || p->s[i + 1] == '\n')) {
            p->pos = i + 1;
            return new_str(p, ts, p->s + ts, i - ts);
        }
    }
    p->pos = p->n;
    return fail_at(p, p->n, true, "Unexpected EOF processing block.");
}

static bool num_term(int c)
{
    return c == R_EOF || is_nl(c) || is_blank(c) || c == '}' || c == ';' || c == ',';
}

static bool is_size_letter(int c)
{
    return c > 0 && strchr("kKmMgGtTpPeE", c) != NULL;
}

static conf_val_t *make_int(parser_t *p, size_t ts, size_t te)
{
    const char *t = p->s + ts;
    int tl = (int)(te - ts);
    size_t k = ts;
    bool neg = p->s[k] == '-';
    if (neg) k++;
    uint64_t mag = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; k < te && is_digit(p->s[k]); k++) {
        unsigned d = (unsigned)(p->s[k] - '0');
        if (mag > (lim - d) / 10)
            return fail_at(p, ts, false, "integer '%.*s' is out of the range", tl, t);
        mag = mag * 10 + d;
    }
    char suf[4] = {0};
    size_t sl = te - k;
    if (sl > 3) return fail_at(p, ts, false, "expected integer, but got '%.*s'", tl, t);
    for (size_t i = 0; i < sl; i++)
        suf[i] = (char)tolower((unsigned char)p->s[k + i]);
    static const struct {
        const char *s;
        int64_t mul;
    } sufs[] = {
        {"", 1},
        {"k", 1000LL},
        {"kb", 1LL << 10},
        {"ki", 1LL << 10},
        {"kib", 1LL << 10},
        {"m", 1000000LL},
        {"mb", 1LL << 20},
        {"mi", 1LL << 20},
        {"mib", 1LL << 20},
        {"g", 1000000000LL},
        {"gb", 1LL << 30},
        {"gi", 1LL << 30},
        {"gib", 1LL << 30},
        {"t", 1000000000000LL},
        {"tb", 1LL << 40},
        {"ti", 1LL << 40},
        {"tib", 1LL << 40},
        {"p", 1000000000000000LL},
        {"pb", 1LL << 50},
        {"pi", 1LL << 50},
        {"pib", 1LL << 50},
        {"e", 1000000000000000000LL},
        {"eb", 1LL << 60},
        {"ei", 1LL << 60},
        {"eib", 1LL << 60},
    };
    int64_t num = neg ? (int64_t)(0 - mag) : (int64_t)mag, res = 0;
    for (size_t i = 0; i < ARRAY_LEN(sufs); i++) {
        if (strcmp(suf, sufs[i].s) != 0) continue;
        if (__builtin_mul_overflow(num, sufs[i].mul, &res))
            return fail_at(p, ts, false, "integer '%.*s' is out of the range", tl, t);
        conf_val_t *v = new_val(p, CONF_INT, ts);
        if (v) v->u.i = res;
        return v;
    }
    return fail_at(p, ts, false, "expected integer, but got '%.*s'", tl, t);
}

static conf_val_t *make_float(parser_t *p, size_t ts, size_t te)
{
    char *t = xstrndup(p->s + ts, te - ts);
    double d = strtod(t, NULL);
    conf_val_t *v = NULL;
    if (isinf(d))
        fail_at(p, ts, false, "float '%s' is out of the range", t);
    else if ((v = new_val(p, CONF_FLOAT, ts)))
        v->u.f = d;
    free(t);
    return v;
}

/* After "<digit>." (or "-<digits>."): a float, or an IP-like string. */
static conf_val_t *scan_float(parser_t *p, size_t ts)
{
    char sh[8];
    if (!is_digit(peekb(p)))
        return fail_at(p, p->pos, true,
                       "Floats must have a digit after the '.', but got '%s' instead.",
                       show_at(p, p->pos, sh));
    while (is_digit(peekb(p)))
        p->pos++;
    if (peekb(p) != '.') return make_float(p, ts, p->pos);
    p->pos++;
    for (int c = peekb(p); is_digit(c) || c == '.' || c == ':' || c == '-'; c = peekb(p))
        p->pos++;
    return new_str(p, ts, p->s + ts, p->pos - ts);
}

/* After the size letter of "<digits><letter>": "1k", "2MiB", else a string. */
static conf_val_t *scan_size(parser_t *p, size_t ts)
{
    int c;
    while ((c = peekb(p)) == 'b' || c == 'B' || c == 'i' || c == 'I')
        p->pos++;
    if (num_term(c) || is_digit(c)) return make_int(p, ts, p->pos);
    return scan_unquoted(p, ts);
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* After "YYYY-": the rest of YYYY-MM-DDTHH:MM:SSZ, exactly. */
static conf_val_t *scan_datetime(parser_t *p, size_t ts)
{
    static const char fmt[] = "00-00T00:00:00Z";
    char sh[8];
    for (const char *f = fmt; *f; f++) {
        size_t cpos = p->pos, w;
        int c = peekb(p);
        rune_at(p, cpos, &w);
        p->pos += w;
        if (*f == '0' && !is_digit(c))
            return fail_at(p, cpos, true,
                           "Expected digit in ISO8601 datetime, but found '%s' instead.",
                           show_at(p, cpos, sh));
        if (*f != '0' && c != *f)
            return fail_at(p, cpos, true,
                           "Expected '%c' in ISO8601 datetime, but found '%s' instead.", *f,
                           show_at(p, cpos, sh));
    }
    const char *t = p->s + ts;
#define D2(i) ((t[i] - '0') * 10 + (t[i + 1] - '0'))
    int year = D2(0) * 100 + D2(2), mon = D2(5), day = D2(8), hh = D2(11), mm = D2(14), ss = D2(17);
#undef D2
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] + (mon == 2 && leap) || hh > 23 ||
        mm > 59 || ss > 59)
        return fail_at(p, ts, false, "expected Zulu formatted DateTime, but got '%.*s'",
                       (int)(p->pos - ts), t);
    conf_val_t *v = new_val(p, CONF_DATETIME, ts);
    if (v) v->u.i = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss;
    return v;
}

/* A value starting with a digit: integer, size, float, datetime, IP-like
 * string, or an unquoted string that happens to start with a digit. */
static conf_val_t *scan_number(parser_t *p, size_t ts, enum ctx ctx)
{
    p->pos++;
    for (;;) {
        int c = peekb(p);
        if (is_digit(c)) {
            p->pos++;
        } else if (c == '-') {
            p->pos++;
            if (p->pos - ts != 5)
                return fail_at(p, p->pos - 1, true, "All ISO8601 dates must be in full Zulu form.");
            return scan_datetime(p, ts);
        } else if (c == '.') {
            p->pos++;
            return scan_float(p, ts);
        } else if (is_size_letter(c)) {
            p->pos++;
            return scan_size(p, ts);
        } else if (num_term(c) || (c == ']' && ctx == CTX_ARRAY)) {
            /* ']' ending an integer is ours: see the header. */
            return make_int(p, ts, p->pos);
        } else {
            p->pos++;
            return scan_unquoted(p, ts);
        }
    }
}

static conf_val_t *scan_negative(parser_t *p, size_t ts)
{
    char sh[8];
    int c = peekb(p);
    if (!is_digit(c)) {
        if (c == '.') return fail_at(p, p->pos, true, "Floats must start with a digit, not '.'.");
        return fail_at(p, p->pos, true, "Expected a digit but got '%s'.", show_at(p, p->pos, sh));
    }
    while (is_digit(peekb(p)))
        p->pos++;
    c = peekb(p);
    if (c == '.') {
        p->pos++;
        return scan_float(p, ts);
    }
    if (is_size_letter(c)) {
        p->pos++;
        return scan_size(p, ts);
    }
    return make_int(p, ts, p->pos);
}

/* ---- variables ----------------------------------------------------------- */

static const conf_kv_t *scope_find(parser_t *p, const char *name, size_t nlen, bool ci)
{
    for (size_t s = p->nscopes; s-- > 0;) {
        const conf_val_t *m = p->scopes[s];
        for (size_t i = m->u.map.n; i-- > 0;) {
            const char *k = m->u.map.items[i].key;
            if (strlen(k) != nlen) continue;
            if (ci ? strncasecmp(k, name, nlen) == 0 : memcmp(k, name, nlen) == 0)
                return &m->u.map.items[i];
        }
    }
    return NULL;
}

/* Parses an environment value as the reference does: as the value in
 * "pk=<value>", with no file variables in scope. */
static conf_val_t *env_value(parser_t *p, const char *name, const char *env, size_t vpos,
                             bool *found)
{
    int line, col;
    linecol(p, vpos, &line, &col);
    if (p->sh->envdepth >= CONF_MAX_ENV_DEPTH)
        return fail_at(p, vpos, false,
                       "variable reference for '%s' on line %d could not be parsed: "
                       "environment variables nested more than %d deep",
                       name, line, CONF_MAX_ENV_DEPTH);
    size_t el = strlen(env);
    char *text = xmalloc(el + 4);
    memcpy(text, "pk=", 3);
    memcpy(text + 3, env, el + 1);
    perr_t sub_err = {0};
    parser_t sub = {
        .s = text,
        .n = el + 3,
        .file = p->file,
        .dir = xstrdup("."),
        .sh = p->sh,
        .depth = p->depth,
        .err = &sub_err,
    };
    p->sh->envdepth++;
    conf_val_t *root = parse_doc(&sub);
    p->sh->envdepth--;
    free(sub.dir);
    free(sub.scopes);
    free(text);
    if (!root) {
        if (sub_err.lexical)
            return fail_at(p, vpos, false,
                           "variable reference for '%s' on line %d could not be parsed: "
                           "Parse error on line %d: '%s'",
                           name, line, sub_err.line, sub_err.msg);
        return fail_at(p, vpos, false,
                       "variable reference for '%s' on line %d could not be parsed: %s", name, line,
                       sub_err.msg);
    }
    conf_val_t *v = NULL;
    for (size_t i = root->u.map.n; i-- > 0;) {
        if (strcmp(root->u.map.items[i].key, "pk") == 0) {
            v = root->u.map.items[i].val;
            root->u.map.items[i].val = NULL;
            break;
        }
    }
    free_val(root);
    if (v) {
        *found = true;
        set_pos(v, p->file, line, col);
    }
    return v;
}

/* Lookup order: this file's enclosing maps by exact name, then the
 * environment by exact name (so everything the reference resolves resolves
 * the same), then the enclosing maps case-insensitively (gnatsd-c's promise
 * from the 1.4 README). */
static conf_val_t *resolve_var(parser_t *p, const char *name, size_t nlen, size_t vpos)
{
    /* Unquoted bcrypt hashes ($2a$11$...) are literals, not references. */
    if (nlen >= 3 && name[0] == '2' && (name[1] == 'a' || name[1] == 'b' || name[1] == 'y') &&
        name[2] == '$')
        return new_str(p, vpos, name - 1, nlen + 1);

    int line, col;
    char *nm = xstrndup(name, nlen);
    conf_val_t *v = NULL;
    const conf_kv_t *kv = scope_find(p, name, nlen, false);
    bool found = false;
    if (!kv && strlen(nm) == nlen && !strchr(nm, '=')) {
        const char *env = getenv(nm);
        if (env) {
            v = env_value(p, nm, env, vpos, &found);
            if (!v && p->err->set) goto out;
        }
    }
    if (!found && !kv) kv = scope_find(p, name, nlen, true);
    if (kv) {
        if (p->depth + height(kv->val) > CONF_MAX_DEPTH) {
            fail_at(p, vpos, false, "maximum nesting depth (%d) exceeded", CONF_MAX_DEPTH);
            goto out;
        }
        v = copy_val(p, kv->val, vpos);
        if (v) {
            /* The copy sits where it is referenced; what it contains keeps
             * the positions of its definition. */
            name_unref(v->file);
            v->file = name_ref(p->file);
            linecol(p, vpos, &v->line, &v->col);
        }
        found = v != NULL;
    }
    if (!found && !p->err->set) {
        linecol(p, vpos, &line, &col);
        fail_at(p, vpos, false, "variable reference for '%s' on line %d can not be found", nm,
                line);
    }
out:
    free(nm);
    return v;
}

/* ---- structure ----------------------------------------------------------- */

static bool include_file(parser_t *p, conf_val_t *m, const char *path, size_t kpos)
{
    if (p->sh->incdepth >= CONF_MAX_INCLUDE_DEPTH) {
        fail_at(p, kpos, false,
                "error parsing include file '%s', includes nested more than %d deep", path,
                CONF_MAX_INCLUDE_DEPTH);
        return false;
    }
    char msg[CONF_EMSG];
    char *full = path_join(p->dir, path);
    size_t len;
    size_t left = CONF_MAX_FILE - p->sh->read; /* read <= CONF_MAX_FILE always */
    char *text = NULL;
    if (left < CONF_FILE_COST)
        snprintf(msg, sizeof(msg),
                 "read %s: the configuration and its includes exceed %zu MiB (each file counts at "
                 "least 4 KiB)",
                 full, CONF_MAX_FILE >> 20);
    else
        text = read_file(full, left, &len, msg, sizeof(msg));
    if (!text) {
        fail_at(p, kpos, false, "error parsing include file '%s', %s", path, msg);
        free(full);
        return false;
    }
    p->sh->read += len > CONF_FILE_COST ? len : CONF_FILE_COST;
    perr_t sub_err = {0};
    parser_t sub = {
        .s = text,
        .n = len,
        .file = intern(p->sh, full),
        .dir = path_dir(full),
        .sh = p->sh,
        .depth = p->depth,
        .err = &sub_err,
    };
    p->sh->incdepth++;
    conf_val_t *root = parse_doc(&sub);
    p->sh->incdepth--;
    free(sub.dir);
    free(sub.scopes);
    free(text);
    free(full);
    if (!root) {
        /* Each level of a deep include chain wraps the message again; keep
         * both ends (where it started, what went wrong) when it gets long. */
        char *m = NULL;
        int ml = asprintf(&m, "error parsing include file '%s', %s:%d:%d: %s", path, sub_err.file,
                          sub_err.line, sub_err.col, sub_err.msg);
        if (ml < 0) abort();
        if ((size_t)ml >= CONF_EMSG)
            fail_at(p, kpos, false, "%.300s ... %s", m, m + ml - (CONF_EMSG - 310));
        else
            fail_at(p, kpos, false, "%s", m);
        free(m);
        return false;
    }
    /* The included keys land in this map as if written here, keeping their
     * own file positions. */
    for (size_t i = 0; i < root->u.map.n; i++) {
        conf_kv_t *kv = &root->u.map.items[i];
        map_add(m, kv->key, kv->file, kv->line, kv->col, kv->val);
        name_unref(kv->file);
    }
    root->u.map.n = 0;
    free_val(root);
    return true;
}

/* After the keyword "include" (the position is at the space after it). */
static bool parse_include(parser_t *p, conf_val_t *m, size_t kpos)
{
    while (is_blank(peekb(p)))
        p->pos++;
    int c = peekb(p);
    size_t ps = p->pos, pe;
    const char *what = NULL;
    if (c == '\'' || c == '"') {
        const char *q = memchr(p->s + ps + 1, c, p->n - ps - 1);
        if (!q) {
            fail_at(p, p->n, true,
                    c == '"' ? "Unexpected EOF in double quoted include"
                             : "Unexpected EOF in quoted include");
            return false;
        }
        ps++;
        pe = (size_t)(q - p->s);
        p->pos = pe + 1;
    } else {
        if (c == '[')
            what = "start of an array";
        else if (c == '{')
            what = "start of a map";
        else if (c == '(')
            what = "start of a block";
        else if (is_digit(c) || c == '-')
            what = "start of a number";
        else if (c == '\\')
            what = "escape sequence";
        else if (is_nl(c))
            what = "new line";
        if (what) {
            fail_at(p, ps, true, "Expected include value but found %s", what);
            return false;
        }
        while ((c = peekb(p)) != R_EOF && !is_nl(c) && !is_blank(c) && c != ';' && c != '}' &&
               c != '\'')
            p->pos++;
        pe = p->pos;
        if (c == '\'') p->pos++;
    }
    char *path = xstrndup(p->s + ps, pe - ps);
    bool ok = include_file(p, m, path, kpos);
    free(path);
    return ok;
}

static bool enter(parser_t *p, size_t pos)
{
    if (p->depth >= CONF_MAX_DEPTH) {
        fail_at(p, pos, false, "maximum nesting depth (%d) exceeded", CONF_MAX_DEPTH);
        return false;
    }
    p->depth++;
    return true;
}

static conf_val_t *parse_array(parser_t *p, size_t bpos)
{
    char sh[8];
    if (!enter(p, bpos)) return NULL;
    conf_val_t *a = new_val(p, CONF_ARRAY, bpos);
    if (!a) goto fail;
    for (;;) {
        /* an element, or the end */
        for (;;) {
            size_t w;
            int32_t r = rune_at(p, p->pos, &w);
            if (is_uspace(r))
                p->pos += w;
            else if (at_comment(p))
                skip_comment(p);
            else
                break;
        }
        int c = peekb(p);
        if (c == ',' || c == '/') {
            fail_at(p, p->pos, true, "Unexpected array value terminator ','.");
            goto fail;
        }
        if (c == ']') {
            p->pos++;
            break;
        }
        if (!charge(p, sizeof(conf_val_t *), p->pos)) goto fail;
        conf_val_t *v = parse_value(p, CTX_ARRAY);
        if (!v) goto fail;
        arr_add(a, v);
        /* what follows an element */
        for (;;) {
            c = peekb(p);
            if (is_blank(c)) {
                p->pos++;
            } else if (at_comment(p)) {
                skip_comment(p);
            } else if (c == ',' || c == '/' || is_nl(c)) {
                p->pos++; /* a lone '/' separates, as in the reference */
                break;
            } else if (c == ']') {
                p->pos++;
                goto done;
            } else {
                fail_at(p, p->pos, true,
                        "Expected an array value terminator \",\" or an array terminator \"]\", "
                        "but got '%s' instead.",
                        show_at(p, p->pos, sh));
                goto fail;
            }
        }
    }
done:
    p->depth--;
    return a;
fail:
    p->depth--;
    free_val(a);
    return NULL;
}

/* A bare key: the first rune is taken whatever it is; it then runs to a
 * space or a separator. At top level EOF ends it too; in a map EOF is an
 * error. Returns false on error; *kw is set when it is the include keyword. */
static bool scan_bare_key(parser_t *p, bool in_map, size_t *ke, bool *kw)
{
    size_t ks = p->pos, w;
    rune_at(p, p->pos, &w);
    p->pos += w;
    for (;;) {
        int32_t r = rune_at(p, p->pos, &w);
        if (r == R_EOF) {
            if (in_map) {
                fail_at(p, p->pos, true, "Unexpected EOF processing map key.");
                return false;
            }
            break;
        }
        if (is_uspace(r)) {
            *kw = p->pos - ks == 7 && strncasecmp(p->s + ks, "include", 7) == 0;
            break;
        }
        if (is_sep(r)) break;
        p->pos += w;
    }
    *ke = p->pos;
    return true;
}

static bool scan_quoted_key(parser_t *p, const char *eofmsg, size_t *ks, size_t *ke)
{
    int q = peekb(p);
    *ks = p->pos + 1;
    const char *e = memchr(p->s + *ks, q, p->n - *ks);
    if (!e) {
        fail_at(p, p->n, true, "%s", eofmsg);
        return false;
    }
    *ke = (size_t)(e - p->s);
    p->pos = *ke + 1;
    return true;
}

static void skip_uspace(parser_t *p)
{
    size_t w;
    while (is_uspace(rune_at(p, p->pos, &w)))
        p->pos += w;
}

static bool add_kv(parser_t *p, conf_val_t *m, size_t ks, size_t ke, conf_val_t *v)
{
    int line, col;
    if (!charge(p, sizeof(conf_kv_t) + (ke - ks) + 1, ks)) {
        free_val(v);
        return false;
    }
    linecol(p, ks, &line, &col);
    map_add(m, xstrndup(p->s + ks, ke - ks), p->file, line, col, v);
    return true;
}

static void push_scope(parser_t *p, conf_val_t *m)
{
    p->scopes = grow(p->scopes, p->nscopes, sizeof(*p->scopes));
    p->scopes[p->nscopes++] = m;
}

static conf_val_t *parse_map(parser_t *p, size_t bpos)
{
    char sh[8];
    if (!enter(p, bpos)) return NULL;
    conf_val_t *m = new_val(p, CONF_MAP, bpos);
    if (!m) {
        p->depth--;
        return NULL;
    }
    push_scope(p, m);
    for (;;) {
        /* a key, or the end */
        size_t w, ks, ke;
        bool kw = false;
        int32_t r = rune_at(p, p->pos, &w);
        if (is_sep(r)) {
            fail_at(p, p->pos, true, "Unexpected key separator '%c'.", (char)r);
            goto fail;
        }
        if (r == ']') {
            fail_at(p, p->pos, true, "Unexpected array end ']' processing map.");
            goto fail;
        }
        if (is_uspace(r)) {
            p->pos += w;
            continue;
        }
        if (r == '}') {
            p->pos++;
            break;
        }
        if (at_comment(p)) {
            skip_comment(p);
            continue;
        }
        if (r == R_EOF) {
            fail_at(p, p->pos, true, "Unexpected EOF processing map.");
            goto fail;
        }
        if (r == '\'' || r == '"') {
            if (!scan_quoted_key(p,
                                 r == '"' ? "Unexpected EOF processing double quoted map key."
                                          : "Unexpected EOF processing quoted map key.",
                                 &ks, &ke))
                goto fail;
        } else {
            /* The reference drops a lone '/' and starts the key after it. */
            if (r == '/') p->pos++;
            if (p->pos >= p->n) {
                fail_at(p, p->pos, true, "Unexpected EOF processing map key.");
                goto fail;
            }
            ks = p->pos;
            if (!scan_bare_key(p, true, &ke, &kw)) goto fail;
        }
        if (kw) {
            if (!parse_include(p, m, ks)) goto fail;
        } else {
            skip_uspace(p);
            if (is_sep(peekb(p))) p->pos++;
            skip_uspace(p);
            int c = peekb(p);
            if (c == ',') {
                fail_at(p, p->pos, true, "Unexpected map value terminator ','.");
                goto fail;
            }
            if (c == '}') {
                fail_at(p, p->pos, true, "Expected a map value but got '}' instead.");
                goto fail;
            }
            conf_val_t *v = parse_value(p, CTX_MAP);
            if (!v || !add_kv(p, m, ks, ke, v)) goto fail;
        }
        /* what follows a value */
        for (;;) {
            int c = peekb(p);
            if (is_blank(c)) {
                p->pos++;
            } else if (at_comment(p)) {
                skip_comment(p);
            } else if (c == ',' || c == ';' || c == '/' || is_nl(c)) {
                p->pos++;
                break;
            } else if (c == '}') {
                p->pos++;
                goto done;
            } else {
                fail_at(p, p->pos, true,
                        "Expected a map value terminator \",\" or a map terminator \"}\", but got "
                        "'%s' instead.",
                        show_at(p, p->pos, sh));
                goto fail;
            }
        }
    }
done:
    p->nscopes--;
    p->depth--;
    return m;
fail:
    p->nscopes--;
    p->depth--;
    free_val(m);
    return NULL;
}

static conf_val_t *parse_value(parser_t *p, enum ctx ctx)
{
    while (is_blank(peekb(p)))
        p->pos++;
    size_t vs = p->pos;
    int c = peekb(p);
    switch (c) {
    case '[':
        p->pos++;
        return parse_array(p, vs);
    case '{':
        p->pos++;
        return parse_map(p, vs);
    case '\'':
        p->pos++;
        return scan_sq(p, vs + 1);
    case '"':
        p->pos++;
        return scan_dq(p, vs + 1);
    case '(':
        p->pos++;
        return scan_block(p, vs + 1);
    case '-':
        p->pos++;
        return scan_negative(p, vs);
    case '.':
        return fail_at(p, vs, true, "Floats must start with a digit");
    case '\n':
    case '\r':
        return fail_at(p, vs, true, "Expected value but found new line");
    }
    if (is_digit(c)) return scan_number(p, vs, ctx);
    return scan_unquoted(p, vs);
}

static bool parse_top(parser_t *p, conf_val_t *root)
{
    char sh[8];
    for (;;) {
        /* between entries: spaces, comments, and '{' of a JSON-style file */
        size_t w, ks, ke;
        bool kw = false;
        int32_t r = rune_at(p, p->pos, &w);
        if (is_uspace(r) || r == '{') {
            p->pos += w;
            continue;
        }
        if (at_comment(p)) {
            skip_comment(p);
            continue;
        }
        if (r == '/') {
            fail_at(p, p->pos, true, "Unexpected EOF.");
            return false;
        }
        if (r == R_EOF) return true;
        if (is_sep(r)) {
            fail_at(p, p->pos, true, "Unexpected key separator '%c'", (char)r);
            return false;
        }
        if (r == '"' || r == '\'') {
            if (!scan_quoted_key(p, "Unexpected EOF.", &ks, &ke)) return false;
        } else {
            ks = p->pos;
            scan_bare_key(p, false, &ke, &kw);
        }
        if (kw) {
            if (!parse_include(p, root, ks)) return false;
        } else {
            skip_uspace(p);
            if (is_sep(peekb(p)))
                p->pos++;
            else if (p->pos >= p->n)
                return true; /* a key with no value at EOF is dropped, as the reference does */
            conf_val_t *v = parse_value(p, CTX_TOP);
            if (!v || !add_kv(p, root, ks, ke, v)) return false;
        }
        /* what follows a top-level value */
        for (;;) {
            int c = peekb(p);
            if (at_comment(p)) {
                skip_comment(p);
                break;
            }
            if (is_blank(c) || c == '/') {
                p->pos++;
            } else if (c == R_EOF) {
                break;
            } else if (is_nl(c) || c == ';' || c == ',' || c == '}') {
                p->pos++;
                break;
            } else {
                fail_at(p, p->pos, true,
                        "Expected a top-level value to end with a new line, comment or EOF, but "
                        "got '%s' instead.",
                        show_at(p, p->pos, sh));
                return false;
            }
        }
    }
}

static conf_val_t *parse_doc(parser_t *p)
{
    p->lc_line = 1;
    conf_val_t *root = new_val(p, CONF_MAP, 0);
    if (!root) return NULL;
    push_scope(p, root);
    bool ok = parse_top(p, root);
    p->nscopes--;
    if (!ok) {
        free_val(root);
        return NULL;
    }
    return root;
}

/* ---- API --------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const perr_t *e)
{
    if (err && errlen) snprintf(err, errlen, "%s:%d:%d: %s", e->file, e->line, e->col, e->msg);
}

conf_val_t *conf_parse_string(const char *text, size_t len, const char *name, char *err,
                              size_t errlen)
{
    shared_t sh = {0};
    perr_t e = {0};
    if (!name) name = "<string>";
    /* The text itself counts against what its includes may add. */
    sh.read = len < CONF_FILE_COST ? CONF_FILE_COST : len > CONF_MAX_FILE ? CONF_MAX_FILE : len;
    parser_t p = {
        .s = text ? text : "",
        .n = text ? len : 0,
        .file = intern(&sh, name),
        .dir = path_dir(name),
        .sh = &sh,
        .err = &e,
    };
    conf_val_t *root = parse_doc(&p);
    if (!root) set_err(err, errlen, &e);
    free(p.dir);
    free(p.scopes);
    shared_release(&sh);
    return root;
}

conf_val_t *conf_parse_file(const char *path, char *err, size_t errlen)
{
    char msg[CONF_EMSG];
    size_t len;
    char *text = read_file(path, CONF_MAX_FILE, &len, msg, sizeof(msg));
    if (!text) {
        if (err && errlen) snprintf(err, errlen, "%s", msg);
        return NULL;
    }
    conf_val_t *root = conf_parse_string(text, len, path, err, errlen);
    free(text);
    return root;
}

void conf_free(conf_val_t *v)
{
    free_val(v);
}

const conf_kv_t *conf_map_find(const conf_val_t *map, const char *key)
{
    if (!map || map->type != CONF_MAP || !key) return NULL;
    for (size_t i = map->u.map.n; i-- > 0;)
        if (strcasecmp(map->u.map.items[i].key, key) == 0) return &map->u.map.items[i];
    return NULL;
}

const char *conf_type_name(conf_type_t t)
{
    switch (t) {
    case CONF_MAP:
        return "map[string]interface {}";
    case CONF_ARRAY:
        return "[]interface {}";
    case CONF_STRING:
        return "string";
    case CONF_INT:
        return "int64";
    case CONF_FLOAT:
        return "float64";
    case CONF_BOOL:
        return "bool";
    case CONF_DATETIME:
        return "time.Time";
    }
    return "unknown";
}
