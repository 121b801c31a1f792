/* opts_impl.h: private to the conf/opts*.c files (the option set's parsers),
 * never included elsewhere: the shared helpers, the context that collects a
 * config file's errors/warnings/notes, and the parsers one file calls in another.
 *
 * Errors are collected, not returned: every parser reports into cfg_ctx_t with
 * the key's "file:line:col" and carries on, so one run lists every problem in
 * the reference's order (warnings, then errors). */
#ifndef GNATSD_OPTS_IMPL_H
#define GNATSD_OPTS_IMPL_H

#include "base/common.h"
#include "base/gofmt.h"
#include "base/pct.h"
#include "conf/conf.h"
#include "conf/opts.h"
#include "conf/opts_table.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_PER_SEC 1000000000LL
#define DEFAULT_RESP_EXPIRES_NS (2 * 60 * NS_PER_SEC)

/* ------------------------------------------------------------------------- */
/* small helpers                                                             */

/* Durations from a config are kept within +-DUR_MAX_NS (about 73 years): a
 * deadline is "now + duration", and a huge value must mean "practically never",
 * not a signed overflow (undefined in C; found by fuzz_opts). */
#define DUR_MAX_NS (INT64_MAX / 4)

static inline int64_t dur_clamp(int64_t ns)
{
    return ns > DUR_MAX_NS ? DUR_MAX_NS : ns < -DUR_MAX_NS ? -DUR_MAX_NS : ns;
}

static inline int64_t secs_to_ns(int64_t s)
{
    int64_t ns;
    if (__builtin_mul_overflow(s, NS_PER_SEC, &ns)) return s < 0 ? -DUR_MAX_NS : DUR_MAX_NS;
    return dur_clamp(ns);
}

static inline int64_t fsecs_to_ns(double s)
{
    double ns = s * (double)NS_PER_SEC;
    if (ns != ns) return 0; /* NaN: the config language cannot write one */
    if (ns >= (double)DUR_MAX_NS) return DUR_MAX_NS;
    if (ns <= -(double)DUR_MAX_NS) return -DUR_MAX_NS;
    return (int64_t)ns;
}

static inline char **strv_dup(char **v, size_t n)
{
    if (!n) return NULL;
    char **r = xmalloc(n * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        r[i] = xstrdup(v[i]);
    return r;
}

/* Equal strings, NULL being "". */
static inline bool str_same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static inline bool strv_eq(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (!str_same(a[i], b[i])) return false;
    return true;
}

static inline char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    return s;
}

static inline bool streq_any(const char *k, ...)
{
    va_list ap;
    va_start(ap, k);
    const char *c;
    bool r = false;
    while ((c = va_arg(ap, const char *)) != NULL) {
        if (strcasecmp(k, c) == 0) {
            r = true;
            break;
        }
    }
    va_end(ap);
    return r;
}
#define KEYIS(k, ...) streq_any((k), __VA_ARGS__, (const char *)NULL)

/* ------------------------------------------------------------------------- */
/* config application context (opts_cfg.c)                                   */

typedef struct pos {
    const char *file;
    int line, col;
} pos_t;

typedef struct cfg_ctx {
    char **errs;
    size_t nerrs;
    char **warns; /* the reference's warnings: fatal under -t */
    size_t nwarns;
    char **notes; /* "X is not supported by this server, ignoring" */
    size_t nnotes;
    /* text of every file of the tree, to tell variable definitions (keys
     * referenced as $NAME somewhere) from unknown keys */
    char **texts;
    size_t ntexts;
    const char **files;
    size_t nfiles;
} cfg_ctx_t;

pos_t kvpos(const conf_kv_t *kv);
pos_t valpos(const conf_val_t *v);
void cfg_err(cfg_ctx_t *c, pos_t p, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cfg_warn(cfg_ctx_t *c, pos_t p, const char *field, const char *reason);
void cfg_note(cfg_ctx_t *c, pos_t p, const char *what);
void cfg_ctx_free(cfg_ctx_t *c);
void collect_files(cfg_ctx_t *c, const conf_val_t *v);
bool used_as_variable(const cfg_ctx_t *c, const char *name);
bool shadowed(const conf_val_t *map, size_t i);
void unknown_field(cfg_ctx_t *c, const conf_kv_t *kv);
const char *tname(conf_type_t t);
bool want(cfg_ctx_t *c, pos_t p, const conf_val_t *v, conf_type_t t);
bool get_str(cfg_ctx_t *c, const conf_kv_t *kv, char **dst);
bool get_bool(cfg_ctx_t *c, const conf_kv_t *kv, bool *dst);
bool get_i64(cfg_ctx_t *c, const conf_kv_t *kv, int64_t *dst);
bool get_int(cfg_ctx_t *c, const conf_kv_t *kv, int *dst);
char *val_plain(const conf_val_t *v);
bool parse_listen(cfg_ctx_t *c, pos_t p, const conf_val_t *v, char **host, int *port);
void parse_duration_field(cfg_ctx_t *c, const conf_kv_t *kv, const char *field, int64_t *dst);

/* ------------------------------------------------------------------------- */
/* rows (opts_rows.c)                                                         */

/* Applies one key of a map through its row (by type, or the row's parser);
 * a key no row knows is an unknown field. */
void opt_apply(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *rows, size_t n);
/* Sets the top-level rows' defaults; only_unset: only where the value is 0/""
 * (the reference's setBaselineOptions, after file and flags). */
void opt_set_defaults(opts_t *o, bool only_unset);

/* ------------------------------------------------------------------------- */
/* blocks (opts_auth.c, opts_tls.c, opts_cluster.c)                          */

typedef struct auth_block {
    char *user, *pass, *token;
    int64_t timeout_ns;
    bool has_users;
    user_t *users;
    size_t nusers;
    permissions_t *default_perms;
} auth_block_t;

void users_free(user_t *u, size_t n);
permissions_t *parse_permissions(cfg_ctx_t *c, pos_t p, const conf_val_t *v);
bool permissions_equal(const permissions_t *a, const permissions_t *b);
void auth_block_free(auth_block_t *a);
void parse_auth_block(cfg_ctx_t *c, const conf_val_t *v, auth_block_t *a);
void apply_authorization(cfg_ctx_t *c, const conf_kv_t *akv, opts_t *o);
bool parse_users(cfg_ctx_t *c, pos_t p, const conf_val_t *v, auth_block_t *a);
permissions_t *permissions_dup(const permissions_t *s);
/* Empty permissions with the reply defaults (1 response within 2 minutes). */
permissions_t *permissions_new(void);

/* leafnodes (opts_leaf.c) */
void parse_leafnodes(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o);
void leaf_opts_free(leaf_opts_t *l);
const char *leaf_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n);

/* accounts (opts_accounts.c) */
void accounts_free(account_opts_t *a, size_t n);
account_opts_t *account_add(opts_t *o, const char *name);
void mappings_free(mapping_t *m, size_t n);
void parse_mappings(cfg_ctx_t *c, const conf_kv_t *kv, mapping_t **out, size_t *nout);
void apply_accounts(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o);

/* operator mode (opts_operator.c): the rows' parsers, freeing, the start-up checks */
opt_parse_fn p_operator, p_trusted_keys, p_resolver, p_resolver_preload;
void operator_opts_free(opts_t *o);
int operator_validate(const opts_t *o, char *err, size_t errlen);
int gateway_validate(const opts_t *o, char *err, size_t n);
/* After the whole file: users unique across accounts, references defined (p: the
 * accounts key, where the reference reports them). */
void accounts_finish(cfg_ctx_t *c, pos_t p, opts_t *o);

void tls_defaults(tls_opts_t *t);
void tls_free(tls_opts_t *t);
bool parse_tls(cfg_ctx_t *c, const conf_kv_t *tkv, tls_opts_t *t, bool client_ctx);

void cluster_free(cluster_opts_t *c);
/* gateway {} (opts_gateway.c) */
void gateway_free(gateway_opts_t *g);
void parse_gateway(cfg_ctx_t *c, const conf_kv_t *gkv, opts_t *o);
const char *gateway_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n);
void parse_cluster(cfg_ctx_t *c, const conf_kv_t *ckv, opts_t *o);
int override_cluster(opts_t *o, const char *listen, char *err, size_t errlen);
const char *cluster_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n);

/* ------------------------------------------------------------------------- */
/* command line (opts_flags.c)                                               */

/* The flags that are not one option's (commands, and flags apply_flags works
 * out itself); their value slots in flagvals_t come first. */
typedef enum fid {
    F_HELP,
    F_VERSION,
    F_HELP_TLS,
    F_CONFIG,
    F_CHECK,
    F_SIGNAL,
    F_VV,
    F_DV,
    F_DVV,
    F_TLS,
    F_TLSVERIFY,
    F_TLSCERT,
    F_TLSKEY,
    F_TLSCACERT,
    F_ROUTES,
    F_CLUSTER,
    F__N
} fid_t;

/* value slots: F__N commands, then one per option row */
#define FLAG_SLOTS 128

/* Aliases share one variable, so the last occurrence of any alias wins. */
typedef struct flagvals {
    bool set[FLAG_SLOTS];
    bool b[FLAG_SLOTS];
    int64_t i[FLAG_SLOTS];
    const char *s[FLAG_SLOTS]; /* borrowed from the argv copy */
    int first_pos;             /* index of the first non-flag argument, or -1 */
} flagvals_t;

int parse_flags(int n, char **args, flagvals_t *fv, char *err, size_t errlen);
int apply_flags(const flagvals_t *fv, opts_t *o, char *err, size_t errlen);

#endif
