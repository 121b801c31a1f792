/* opts_table.h: the option table. Each option of opts_t is one row: its config
 * key and aliases as the reference spells them, its type and place in opts_t,
 * its default, how a value is read and range-checked, what a reload does when it
 * changes, its command-line flag with the -h text, and its /varz field and
 * /metrics gauge.
 *
 * Contract: the rows are constant data. The config file's top-level keys
 * (opts_load.c), the flags and -h (opts_flags.c), opts_defaults and the baseline
 * defaults, the reload diff (opts_reload_refusal here, the notices in
 * app/reload.c, opts_cluster_changed), /varz and the /metrics option gauges all
 * walk them, so an option is added by adding its row (and its effect where the
 * server reads it). A block whose shape is not a flat key list (tls, cluster,
 * authorization) is one row with a parser of its own; the cluster block's flat
 * keys are rows of a sub-table (opts_cluster.c), the tls block's keys a key
 * table of its own (opts_tls.c). */
#ifndef GNATSD_OPTS_TABLE_H
#define GNATSD_OPTS_TABLE_H

#include "conf/opts.h"

typedef enum opt_type {
    OT_NONE, /* no field of its own (a block, a key with a parser) */
    OT_BOOL,
    OT_INT,
    OT_I64,
    OT_DUR, /* int64_t nanoseconds; the file gives a Go duration or seconds */
    OT_STR, /* char *, owned by opts_t */
} opt_type_t;

typedef enum opt_reload {
    OR_LIVE,   /* taken as it is, nothing logged */
    OR_REFUSE, /* a change refuses the reload, naming reload_text */
    OR_NOTICE, /* a change logs "<reload_text> = <new value>" */
    OR_NOTE,   /* a change logs "<reload_text>" */
    OR_EFFECT, /* app/reload.c applies and logs it (its effect named reload_text) */
} opt_reload_t;

/* -h sections, in the order they are printed. */
typedef enum opt_section {
    OS_NONE,
    OS_SERVER,
    OS_LOGGING,
    OS_AUTH,
    OS_TLS,
    OS_CLUSTER,
    OS_COMMON,
} opt_section_t;

/* A command-line flag, described by its -h line: `usage` is the left column
 * ("-p, --port <port>"; a second line starts with "\n"), `help` the text (a
 * "\n" continues it at the help column). The flag's names are read from the
 * usage column, so -h and the parser cannot disagree. -h prints the sections in
 * order and, inside one, the flags by rank. */
typedef struct opt_flag {
    const char *usage;
    const char *help;
    unsigned char section, rank;
    unsigned char ftype; /* opt_ftype_t of the argument; 0 = from the row's type */
} opt_flag_t;

/* Argument types of flags (Go flag.Bool, Int, Int64, String). */
typedef enum opt_ftype { FT_FROM_ROW, FT_BOOL, FT_INT, FT_INT64, FT_STR } opt_ftype_t;

/* How a row's value shows in /varz. */
typedef enum opt_show {
    VZ_VALUE,     /* as JSON: a number (a duration in ns), a string ("" when unset), a bool */
    VZ_OMITEMPTY, /* the same, left out when 0 or "" (the reference's omitempty) */
    VZ_SECS,      /* a duration as float seconds */
} opt_show_t;

/* A row's /varz field. /varz writes its fields by rank: the ones that are
 * not an option (identity, listeners as bound, blocks, counters) have ranks
 * of their own in monitor/varz.c, and a row goes between them by its rank
 * (rows of equal rank in table order; a row ranked like a part of varz.c
 * after it). Ranks are the reference's Varz field order, by tens. */
typedef struct opt_varz {
    const char *name; /* NULL: not in /varz */
    unsigned short rank;
    unsigned char show; /* opt_show_t */
} opt_varz_t;

struct cfg_ctx;
struct conf_kv;
typedef struct opt_def opt_def_t;
/* Reads one key's value into o; problems go to c (with the key's position). */
typedef void opt_parse_fn(struct cfg_ctx *c, const struct conf_kv *kv, opts_t *o,
                          const opt_def_t *d);
/* Range check of an OT_INT value as read: false = reported, value not taken. */
typedef bool opt_check_fn(struct cfg_ctx *c, const struct conf_kv *kv, int64_t v);
/* A refusal test of its own: the refusal text in buf, or NULL. */
typedef const char *opt_refuse_fn(const opts_t *a, const opts_t *b, char *buf, size_t n);

struct opt_def {
    const char *key;     /* config key; NULL: set by another row's block, or a flag only */
    const char *aliases; /* more keys, space separated (keys match case-insensitively) */
    opt_type_t type;
    size_t off;          /* offsetof(opts_t, field) */
    int64_t def;         /* default; re-applied after file and flags when the value is 0 */
    const char *def_str; /* default of an OT_STR */
    opt_parse_fn *parse; /* NULL: read by type */
    opt_check_fn *check;
    opt_reload_t reload;
    const char *reload_text; /* the reference's field name (refusal) or log text */
    opt_refuse_fn *refuse;
    opt_flag_t flag;
    opt_varz_t varz;
    /* /metrics gauge name (help "Configured <key>."), in table order; NULL: none */
    const char *metric;
    /* the value in force where code resolves the field's default (0 = the
     * default) through conf/opts.h; /varz shows it. NULL: the field itself */
    int64_t (*value)(const opts_t *o);
};

/* The top-level rows, in reload order: refusals are tested and notices logged
 * in table order (the reference's, which follows its Options struct). */
extern const opt_def_t opt_rows[];
extern const size_t opt_nrows;
/* The cluster block's flat keys (opts_cluster.c). */
extern const opt_def_t opt_cluster_rows[];
extern const size_t opt_cluster_nrows;

/* The row whose key or alias is `key` (case-insensitive), or NULL. */
const opt_def_t *opt_find(const opt_def_t *rows, size_t n, const char *key);
/* Did the row's field change between a and b? (strings: NULL == "") */
bool opt_changed(const opt_def_t *d, const opts_t *a, const opts_t *b);
/* The value in force of a number or bool row (its `value` function, else the
 * field), and a string row's value ("" for NULL). */
int64_t opt_int(const opt_def_t *d, const opts_t *o);
const char *opt_str(const opt_def_t *d, const opts_t *o);
/* The field's value as the reference logs it ("true", "2m0s", "" for NULL);
 * may return the string itself or buf. */
const char *opt_format(const opt_def_t *d, const opts_t *o, char *buf, size_t len);

/* The first refusal of a reload from a to b ("config reload not supported for
 * Port: old=4222, new=4223"), in buf, or NULL when every change can be applied. */
const char *opts_reload_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n);

/* Do two tls blocks differ in what a reload applies: whether the block is
 * there, and the keys of opts_tls.c's key table marked compared? */
bool opts_tls_changed(const tls_opts_t *a, const tls_opts_t *b);
/* Did the cluster block change beyond its address (refused) and its routes
 * (dialed or dropped by the route files): a row of opt_cluster_rows with
 * reload OR_EFFECT, the permissions, or the tls block? */
bool opts_cluster_changed(const opts_t *a, const opts_t *b);

#endif
