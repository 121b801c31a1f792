/* conf.h: the NATS configuration language -> a value tree.
 *
 * Contract: pure (no server option names here). conf_parse_* returns a tree
 * the caller owns (free with conf_free) or NULL with `err` holding
 * "file:line:col: message" (the reference's wording). Includes resolve relative
 * to the including file; variables ($NAME) resolve block-scoped by exact name,
 * then from the environment by exact name, then block-scoped case-insensitively
 * (so anything the reference resolves resolves the same). Every value remembers
 * where it came from so semantic errors can name file:line:col too.
 *
 * Positions: line counts '\n'; col is the 1-based byte column (the reference
 * prints 0-based columns on line 1 only: subtract 1 there to match it). Keys
 * and string values point after an opening quote, like the reference.
 *
 * Limits (no input can hang or exhaust the process; each is an error naming
 * file:line:col): maps/arrays nested 128 deep, includes 16 deep, environment
 * values referring to variables 8 deep, 64 MiB for the tree after variable
 * expansion, 64 MiB of text read (the file and all it includes, each file
 * counting at least 4 KiB).
 *
 * File names are refcounted, one reference per node: conf_free() works on a
 * whole tree or on any detached subtree, but only on nodes made by this module
 * (never set `file` to a string of your own). */
#ifndef GNATSD_CONF_H
#define GNATSD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum conf_type {
    CONF_MAP,
    CONF_ARRAY,
    CONF_STRING,
    CONF_INT, /* sizes with suffixes (1K, 1MB, ...) are already multiplied out */
    CONF_FLOAT,
    CONF_BOOL,
    CONF_DATETIME, /* ISO8601 Zulu datetime; stored as unix seconds in .i */
} conf_type_t;

typedef struct conf_val conf_val_t;

typedef struct conf_kv {
    char *key;        /* owned; as written in the file */
    const char *file; /* interned, lives as long as the tree */
    int line, col;    /* position of the key */
    conf_val_t *val;  /* owned */
} conf_kv_t;

struct conf_val {
    conf_type_t type;
    const char *file; /* interned path of the file this value came from */
    int line, col;    /* 1-based position of the value's first character */
    union {
        int64_t i;
        double f;
        bool b;
        struct {
            char *s; /* owned, NUL-terminated (may contain NULs via \x00: use len) */
            size_t len;
        } str;
        struct {
            conf_kv_t *items; /* owned, in file order; duplicate keys: last one wins on lookup */
            size_t n;
        } map;
        struct {
            conf_val_t **items; /* owned */
            size_t n;
        } arr;
    } u;
};

/* The whole file at path (at most max bytes, *len its size, not NUL-terminated); NULL
 * with msg = the reference's text ("open X: no such file or directory", ...). */
char *read_file(const char *path, size_t max, size_t *len, char *msg, size_t msglen);

/* Parse a file. NULL on error with err = "file:line:col: message", except
 * when the file itself cannot be read: then err = "open FILE: no such file or
 * directory" (as the reference prints it, no position). */
conf_val_t *conf_parse_file(const char *path, char *err, size_t errlen);
/* Parse text held in memory; `name` is used in positions and as the base for
 * relative includes (its directory). */
conf_val_t *conf_parse_string(const char *text, size_t len, const char *name, char *err,
                              size_t errlen);
void conf_free(conf_val_t *v);

/* Case-insensitive lookup of a key in a map (last occurrence wins); NULL if
 * absent or if `map` is not a map. Returns the kv so callers get the key position. */
const conf_kv_t *conf_map_find(const conf_val_t *map, const char *key);
const char *
conf_type_name(conf_type_t t); /* "string", "int64", "bool", ... as the reference prints */

#endif
