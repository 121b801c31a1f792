/* conf_tree.c: the value tree of the configuration language (conf_impl.h):
 * interned, refcounted file names, nodes (new, free, deep copy for variable
 * references, positions), and the file side: Go's path cleaning and joining
 * for includes, and reading a file within the text budget. */
#include "conf/conf_impl.h"
#include "base/os.h"

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

/* ---- interned, refcounted file names ---------------------------------- */

static conf_name_t *name_of(const char *s)
{
    return (conf_name_t *)(void *)(s - offsetof(conf_name_t, s));
}

const char *name_ref(const char *s)
{
    if (s) name_of(s)->refs++;
    return s;
}

void name_unref(const char *s)
{
    if (s && --name_of(s)->refs == 0) free(name_of(s));
}

const char *intern(shared_t *sh, const char *s)
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

void shared_release(shared_t *sh)
{
    for (size_t i = 0; i < sh->nnames; i++)
        name_unref(sh->names[i]->s);
    free(sh->names);
}

/* ---- tree building ----------------------------------------------------- */

conf_val_t *new_val(parser_t *p, conf_type_t t, size_t pos)
{
    if (!charge(p, sizeof(conf_val_t), pos)) return NULL;
    conf_val_t *v = xcalloc(1, sizeof(*v));
    v->type = t;
    v->file = name_ref(p->file);
    linecol(p, pos, &v->line, &v->col);
    return v;
}

void map_add(conf_val_t *m, char *key, const char *file, int line, int col, conf_val_t *v)
{
    m->u.map.items = grow(m->u.map.items, m->u.map.n, sizeof(conf_kv_t));
    conf_kv_t *kv = &m->u.map.items[m->u.map.n++];
    kv->key = key;
    kv->file = name_ref(file);
    kv->line = line;
    kv->col = col;
    kv->val = v;
}

void arr_add(conf_val_t *a, conf_val_t *v)
{
    a->u.arr.items = grow(a->u.arr.items, a->u.arr.n, sizeof(conf_val_t *));
    a->u.arr.items[a->u.arr.n++] = v;
}

conf_val_t *new_str(parser_t *p, size_t pos, const char *s, size_t len)
{
    if (!charge(p, len + 1, pos)) return NULL;
    conf_val_t *v = new_val(p, CONF_STRING, pos);
    if (!v) return NULL;
    v->u.str.s = xstrndup(s, len);
    v->u.str.len = len;
    return v;
}

void free_val(conf_val_t *v)
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

int height(const conf_val_t *v)
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

conf_val_t *copy_val(parser_t *p, const conf_val_t *src, size_t pos)
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
void set_pos(conf_val_t *v, const char *file, int line, int col)
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

void sbuf_add(sbuf_t *b, const char *s, size_t n)
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

char *path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    char *d = xstrndup(path, (size_t)(slash - path) + 1);
    char *c = path_clean(d);
    free(d);
    return c;
}

char *path_join(const char *dir, const char *rel)
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
    const char *s = os_strerror(e, tmp, sizeof(tmp));
    snprintf(buf, len, "%s", s);
    if (buf[0]) buf[0] = (char)tolower((unsigned char)buf[0]);
}

/* Reads at most max bytes (more is an error). */
char *read_file(const char *path, size_t max, size_t *len, char *msg, size_t msglen)
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
