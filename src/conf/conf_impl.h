/* conf_impl.h: private to the configuration language's files (conf_parse.c: the
 * grammar and the API; conf_scan.c: positions, errors and scalar tokens;
 * conf_tree.c: value nodes, file names, paths and files; conf_include.c:
 * variables, environment values and includes). Never included elsewhere.
 *
 * All of them work on one parser_t per file being parsed; a nested parse (an
 * include, an environment value) gets its own parser_t sharing shared_t, which
 * holds the limits' budgets and the interned file names. */
#ifndef GNATSD_CONF_IMPL_H
#define GNATSD_CONF_IMPL_H

#include "base/common.h"
#include "conf/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- parser ------------------------------------------------------------ */

typedef struct conf_name {
    size_t refs;
    char s[];
} conf_name_t;

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

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf_t;

static inline int peekb(const parser_t *p)
{
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : R_EOF;
}

static inline int byte_at(const parser_t *p, size_t pos)
{
    return pos < p->n ? (unsigned char)p->s[pos] : R_EOF;
}

/* Go's unicode.IsSpace: where the reference uses it, Unicode spaces count. */
static inline bool is_uspace(int32_t r)
{
    return r == ' ' || (r >= '\t' && r <= '\r') || r == 0x85 || r == 0xA0 || r == 0x1680 ||
           (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 || r == 0x202F ||
           r == 0x205F || r == 0x3000;
}

static inline bool is_blank(int c)
{
    return c == ' ' || c == '\t';
}

static inline bool is_nl(int c)
{
    return c == '\n' || c == '\r';
}

static inline bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_sep(int c)
{
    return c == '=' || c == ':';
}

/* Grows an array of n items to hold n+1: capacity is the next power of two
 * from 4, so it is implied by n and needs no field of its own. */
static inline void *grow(void *items, size_t n, size_t sz)
{
    if (n == 0) return xmalloc(4 * sz);
    if (n >= 4 && (n & (n - 1)) == 0) return xrealloc(items, 2 * n * sz);
    return items;
}

/* conf_tree.c */
void arr_add(conf_val_t *a, conf_val_t *v);
conf_val_t *copy_val(parser_t *p, const conf_val_t *src, size_t pos);
void free_val(conf_val_t *v);
int height(const conf_val_t *v);
const char *intern(shared_t *sh, const char *s);
void map_add(conf_val_t *m, char *key, const char *file, int line, int col, conf_val_t *v);
const char *name_ref(const char *s);
void name_unref(const char *s);
conf_val_t *new_str(parser_t *p, size_t pos, const char *s, size_t len);
conf_val_t *new_val(parser_t *p, conf_type_t t, size_t pos);
char *path_dir(const char *path);
char *path_join(const char *dir, const char *rel);
void sbuf_add(sbuf_t *b, const char *s, size_t n);
void set_pos(conf_val_t *v, const char *file, int line, int col);
void shared_release(shared_t *sh);

/* conf_scan.c */
bool at_comment(const parser_t *p);
bool charge(parser_t *p, size_t n, size_t pos);
void *fail_at(parser_t *p, size_t pos, bool lexical, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void linecol(parser_t *p, size_t pos, int *line, int *col);
int32_t rune_at(const parser_t *p, size_t pos, size_t *w);
conf_val_t *scan_block(parser_t *p, size_t ts);
conf_val_t *scan_dq(parser_t *p, size_t ts);
conf_val_t *scan_negative(parser_t *p, size_t ts);
conf_val_t *scan_number(parser_t *p, size_t ts, enum ctx ctx);
conf_val_t *scan_sq(parser_t *p, size_t ts);
conf_val_t *scan_unquoted(parser_t *p, size_t ts);
const char *show_at(const parser_t *p, size_t pos, char buf[8]);
void skip_comment(parser_t *p);

/* conf.c */
conf_val_t *parse_doc(parser_t *p);
conf_val_t *parse_value(parser_t *p, enum ctx ctx);

/* conf_include.c */
bool parse_include(parser_t *p, conf_val_t *m, size_t kpos);
conf_val_t *resolve_var(parser_t *p, const char *name, size_t nlen, size_t vpos);

#endif
