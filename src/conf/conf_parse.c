/* conf_parse.c: the NATS configuration language (reference: nats-server 2.9.10 conf/):
 * the grammar (top level, maps, arrays, values) and the API. Tokens are in
 * conf_scan.c, the value tree and files in conf_tree.c, variables and includes
 * in conf_include.c (shared declarations in conf_impl.h).
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
 *    hashes are literals, as docs/config.md §3 decides;
 *  - a NUL byte is an ordinary character (Go's lexer mistakes it for EOF) and
 *    only ASCII digits start numbers. */
#include "conf/conf.h"

#include "conf/conf_impl.h"

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

/* What follows a map value: 0 = another key, 1 = the map's end, -1 = error. */
static int map_value_end(parser_t *p)
{
    char sh[8];
    for (;;) {
        int c = peekb(p);
        if (is_blank(c)) {
            p->pos++;
        } else if (at_comment(p)) {
            skip_comment(p);
        } else if (c == ',' || c == ';' || c == '/' || is_nl(c)) {
            p->pos++;
            return 0;
        } else if (c == '}') {
            p->pos++;
            return 1;
        } else {
            fail_at(p, p->pos, true,
                    "Expected a map value terminator \",\" or a map terminator \"}\", but got "
                    "'%s' instead.",
                    show_at(p, p->pos, sh));
            return -1;
        }
    }
}

static conf_val_t *parse_map(parser_t *p, size_t bpos)
{
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
        int end = map_value_end(p);
        if (end < 0) goto fail;
        if (end) break;
    }
    p->nscopes--;
    p->depth--;
    return m;
fail:
    p->nscopes--;
    p->depth--;
    free_val(m);
    return NULL;
}

conf_val_t *parse_value(parser_t *p, enum ctx ctx)
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

conf_val_t *parse_doc(parser_t *p)
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
