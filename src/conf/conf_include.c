/* conf_include.c: what the configuration language takes from elsewhere
 * (conf_impl.h): $variables (block-scoped, then the environment, whose value is
 * parsed as a nested document) and `include` files (parsed by a nested parser
 * sharing the limits, relative to the including file). */
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
conf_val_t *resolve_var(parser_t *p, const char *name, size_t nlen, size_t vpos)
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
bool parse_include(parser_t *p, conf_val_t *m, size_t kpos)
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
