/* opts.h: the server's option set, built from defaults, then a config file,
 * then command-line flags (flags always win, also on reload).
 *
 * Contract: opts_t is a plain value owned by whoever holds it; all strings
 * and arrays inside are owned by it (opts_free releases them). Building an
 * opts_t never touches the running server, so reload can build and validate
 * a whole new set off the hot path and diff it (opts_reload_refusal and the
 * notices, both walking the option table of conf/opts_table.h). */
#ifndef GNATSD_OPTS_H
#define GNATSD_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The defaults of every option are in the option table (conf/opts_rows.c);
 * these are the ones code elsewhere needs as well. */
#define DEFAULT_PORT 4222
#define DEFAULT_HOST "0.0.0.0"
#define DEFAULT_AUTH_TIMEOUT_NS (2LL * 1000000000LL)
#define DEFAULT_TLS_TIMEOUT_NS (2LL * 1000000000LL)

/* A subject permission list: allow (NULL/0 = everything allowed), deny. */
typedef struct perm_list {
    char **allow;
    size_t nallow;
    /* an allow list is in force. An empty list written in the config means "no
     * restriction" (has_allow false); has_allow with nallow == 0 only arises from
     * allow_responses without a publish allow list, and then allows nothing. */
    bool has_allow;
    char **deny;
    size_t ndeny;
} perm_list_t;

typedef struct permissions {
    bool has_publish, has_subscribe;
    perm_list_t publish;
    perm_list_t subscribe;
    bool allow_responses;    /* publish_allow_responses */
    int64_t resp_max;        /* default 1; negative = unlimited */
    int64_t resp_expires_ns; /* default 2 minutes; negative = no expiry */
} permissions_t;

typedef struct user {
    char *name;
    char *password;       /* plain or bcrypt hash; "" if absent */
    permissions_t *perms; /* NULL = no permissions of its own (default_permissions apply) */
    /* allowed_connection_types: when restricted and STANDARD is not listed the
     * user may not log in on the client port at all. */
    bool restrict_conn_types;
    bool allow_standard;
    bool allow_leaf; /* LEAFNODE is listed: it may log in a leaf node (docs/leafnodes.md §4) */
    char *account;   /* the account it logs in to (accounts block); NULL = the global account */
    bool is_nkey;    /* an nkey user: name is its public key ("U..."), no password */
} user_t;

/* accounts {} (docs/config.md "Accounts"): what one account exports, imports and limits. */
typedef enum acct_resp { ACCT_RESP_SINGLETON = 0, ACCT_RESP_STREAM, ACCT_RESP_CHUNKED } acct_resp_t;

typedef struct acct_export {
    char *subject;
    bool service;
    acct_resp_t resp_type;     /* services only */
    int64_t resp_threshold_ns; /* services only; 0 = the default (2 minutes) */
    char **accounts;           /* who may import it; none = everyone */
    size_t naccounts;
    int token_pos;  /* account_token_position, 0 = none */
    bool token_req; /* an account JWT's private export: importers show an activation token */
    /* services only: latency tracking (docs/accounts.md "Service latency"): the results
     * subject in this account, NULL = not tracked; sampling 1-100 (percent), 0 = only
     * requests with a tracing header */
    char *lat_subject;
    int lat_sampling;
} acct_export_t;

typedef struct acct_import {
    bool service;
    char *account; /* the exporting account */
    char *subject; /* as exported */
    char *to;      /* local subject (stream: mapped; service: the importer's name), or NULL */
    char *prefix;  /* stream only: prepended to the subject, or NULL */
    bool share;    /* service only: share the requester's connection info */
    char *token;   /* an account JWT's import: the exporter's activation JWT, or NULL */
} acct_import_t;

/* mappings {} (docs/accounts.md "Subject mappings"): a source and its destinations;
 * weights in percent (a total under 100 keeps the subject for the rest); a
 * destination with a cluster applies only in that cluster. */
typedef struct mapping_dest {
    char *subject;
    int weight;
    char *cluster;
} mapping_dest_t;

typedef struct mapping {
    char *src;
    mapping_dest_t *dests;
    size_t ndests;
} mapping_t;

typedef struct account_opts {
    char *name;
    mapping_t *mappings;
    size_t nmappings;
    permissions_t *default_perms;
    int max_conns, max_subs, max_payload, max_leafs; /* limits {}; -1 = none */
    acct_export_t *exports;
    size_t nexports;
    acct_import_t *imports;
    size_t nimports;
} account_opts_t;

typedef struct tls_opts {
    bool enabled;
    char *cert_file, *key_file, *ca_file;
    bool verify, verify_and_map, insecure;
    char **cipher_suites;
    size_t ncipher_suites;
    char **curve_prefs;
    size_t ncurve_prefs;
    int64_t timeout_ns;
    char **pinned_certs;
    size_t npinned_certs;
    int64_t connection_rate_limit;
} tls_opts_t;

typedef struct cluster_opts {
    char *name;
    char *host;
    int port; /* 0 = clustering off, -1 = random */
    char *advertise;
    bool no_advertise;
    int connect_retries;
    char *user, *password;
    int64_t auth_timeout_ns;
    char **routes; /* URLs */
    size_t nroutes;
    permissions_t *perms; /* import/export as publish/subscribe */
    tls_opts_t tls;
} cluster_opts_t;

/* One remote gateway of the gateway {} block's "gateways" list. */
typedef struct gateway_remote {
    char *name;
    char **urls; /* as written (url and urls) */
    size_t nurls;
    tls_opts_t tls; /* its own tls {} (enabled), else the block's */
} gateway_remote_t;

/* gateway {} (docs/gateways.md): port 0 = gateways off. */
typedef struct gateway_opts {
    char *name;
    char *host;
    int port; /* -1 = random */
    char *advertise;
    int connect_retries;
    bool reject_unknown;
    char *user, *password;
    int64_t auth_timeout_ns;
    gateway_remote_t *remotes;
    size_t nremotes;
    tls_opts_t tls; /* both directions, the peer verified (as a cluster's) */
} gateway_opts_t;
/* One remote of leafnodes { remotes: [...] } (docs/leafnodes.md §1). */
typedef struct leaf_remote {
    char **urls; /* as written; dialled in turn */
    size_t nurls;
    char *account;     /* the local account it binds; NULL = the global account */
    char *credentials; /* a credentials file (user JWT and seed): signs the hub's nonce */
    char **deny_imports, **deny_exports; /* subjects not taken from / not sent to the hub */
    size_t ndeny_imports, ndeny_exports;
    bool no_randomize;
    tls_opts_t tls; /* tls {} (enabled): the hub's certificate checked, ours shown */
} leaf_remote_t;

/* leafnodes {} (docs/leafnodes.md §1). */
typedef struct leaf_opts {
    char *host;
    int port; /* 0 = no leafnode listener, -1 = random */
    char *advertise;
    bool no_advertise;
    char *user, *password; /* authorization {}: one user, or users */
    char *account;         /* authorization's account: what an unnamed leaf binds */
    int64_t auth_timeout_ns;
    user_t *users;
    size_t nusers;
    leaf_remote_t *remotes;
    size_t nremotes;
    int64_t reconnect_ns; /* 0 = the default (1 s) */
    bool configured;      /* a leafnodes block was given */
    tls_opts_t tls;       /* tls {} (enabled): leaf nodes must upgrade after our INFO */
} leaf_opts_t;

typedef struct opts {
    /* server */
    char *config_file; /* -c, as given */
    char *host;
    int port;
    char *server_name;
    char *client_advertise;
    char *pid_file;
    char *ports_file_dir;
    /* monitoring */
    char *http_host;
    int http_port;  /* 0 = off, -1 = random */
    int https_port; /* 0 = off */
    char *http_base_path;
    /* logging */
    bool debug, trace, logtime, syslog;
    char *log_file;
    char *remote_syslog;
    int64_t log_size_limit;
    int64_t max_traced_msg_len;
    /* limits */
    int max_connections;   /* < 0 = unlimited */
    int max_subscriptions; /* 0 = unlimited */
    int max_control_line;
    int max_payload;
    int64_t max_pending;
    int64_t ping_interval_ns;
    int ping_max;
    int64_t write_deadline_ns;
    int max_sub_tokens;
    bool no_header_support;
    bool no_sys_acc;
    bool disable_sublist_cache;
    int64_t lame_duck_duration_ns;
    int64_t lame_duck_grace_ns;
    /* authorization (client port) */
    char *username, *password; /* single user */
    char *token;
    int64_t auth_timeout_ns; /* 0 = default (2s, or tls timeout + 1s) */
    user_t *users;
    size_t nusers;
    permissions_t *default_perms;
    char *no_auth_user;
    /* accounts (config order; users bound to them are in users[] with .account set) */
    account_opts_t *accounts;
    size_t naccounts;
    char *system_account; /* NULL = "$SYS" unless no_sys_acc */
    mapping_t *mappings;  /* top level: the global account's */
    size_t nmappings;
    /* operator mode (docs/operator.md): operator JWTs as read (tokens), or the
     * trusted operator keys; the account resolver and its preloaded account JWTs */
    char **operators;
    size_t noperators;
    char **trusted_keys;
    size_t ntrusted_keys;
    int resolver; /* resolver_type_t */
    /* the directory resolvers (resolver { type: full|cache, dir: ... }) */
    char *resolver_dir;
    bool resolver_allow_delete;
    int64_t resolver_limit;       /* stored JWTs at most; 0 = the reference's default */
    int64_t resolver_interval_ns; /* between two CLAIMS.PACK syncs; 0 = 1 minute */
    int64_t resolver_timeout_ns;  /* an account lookup's wait for an answer; 0 = 1.9 s */
    int64_t resolver_ttl_ns;      /* cache: a JWT's life after its last use; 0 = its exp */
    char **preload_keys, **preload_jwts;
    size_t npreload;
    /* tls (client port) */
    tls_opts_t tls;
    bool allow_non_tls;
    /* cluster */
    cluster_opts_t cluster;
    gateway_opts_t gateway;
    leaf_opts_t leaf;
    /* threading (gnatsd extension; 0 = one per core) */
    int workers;

    /* options outside the 1.4 feature set that still show up in reload diffs */
    bool trace_verbose;
    int prof_port;
    int64_t connect_error_reports;   /* default 3600 */
    int64_t reconnect_error_reports; /* default 1 */
    bool tls_from_flags; /* --tls* flags built o->tls: such a server cannot reload TLS */

    /* config warnings (already printed by opts_from_args), "file:line:col: ..." */
    char **warnings;
    size_t nwarnings;
    /* argv[1..argc-1] as given, so opts_reload can re-apply the same flags */
    char **cli_args;
    int ncli_args;
} opts_t;

typedef enum resolver_type {
    RESOLVER_NONE = 0,
    RESOLVER_MEMORY,
    RESOLVER_FULL,
    RESOLVER_CACHE
} resolver_type_t;

/* Operator mode: JWTs say who may connect (an operator or trusted keys are configured). */
static inline bool opts_operator_mode(const opts_t *o)
{
    return o->noperators > 0 || o->ntrusted_keys > 0;
}

/* What main should do after parsing the command line. */
typedef enum opts_action {
    OPTS_RUN,          /* start the server */
    OPTS_EXIT_OK,      /* already printed (help, version, usage after a flag error): exit 0 */
    OPTS_EXIT_FAIL,    /* already printed the error: exit 1 */
    OPTS_CHECK_CONFIG, /* -t: config was checked; result printed; exit code in *exit_code */
    OPTS_SIGNAL,       /* -sl: signal_cmd / signal_pid hold the request */
} opts_action_t;

typedef struct opts_cli {
    const char *prog; /* basename of argv[0] */
    char *signal_cmd; /* -sl argument, as given (e.g. "reload=1234") */
    int exit_code;
} opts_cli_t;

void opts_defaults(opts_t *o);
void opts_free(opts_t *o);

/* Parses argv with Go flag rules (docs/config.md §9.1), loads -c FILE if given and
 * merges: defaults < file < flags. Prints errors/usage as the reference does. */
opts_action_t opts_from_args(int argc, char **argv, opts_t *o, opts_cli_t *cli);

/* Re-reads o->config_file into a fresh opts_t, re-applying the same flags
 * (kept from opts_from_args). Returns 0 or -1 with err = "file:line:col: msg". */
int opts_reload(const opts_t *running, opts_t *out, char *err, size_t errlen);

/* Resolved auth timeout (applies TLS rule). */
int64_t opts_auth_timeout_ns(const opts_t *o);

/* The TLS handshake timeout in force: the block's, or the default. */
static inline int64_t tls_opts_timeout_ns(const tls_opts_t *t)
{
    return t->timeout_ns ? t->timeout_ns : DEFAULT_TLS_TIMEOUT_NS;
}

/* The time a leaf node has to send CONNECT: the authorization's, else as the reference
 * resolves it (the TLS timeout plus 1 s with TLS, else 2 s). */
static inline int64_t opts_leaf_auth_timeout_ns(const leaf_opts_t *l)
{
    if (l->auth_timeout_ns) return l->auth_timeout_ns;
    return l->tls.enabled ? tls_opts_timeout_ns(&l->tls) + 1000000000LL : DEFAULT_AUTH_TIMEOUT_NS;
}

/* The time a route has to authenticate: cluster authorization's, or the default. */
static inline int64_t opts_cluster_auth_timeout_ns(const opts_t *o)
{
    return o->cluster.auth_timeout_ns ? o->cluster.auth_timeout_ns : DEFAULT_AUTH_TIMEOUT_NS;
}

/* opts_from_args with explicit output streams (usage/version go to `out`,
 * everything else to `err`), for tests. */
opts_action_t opts_from_args_io(int argc, char **argv, opts_t *o, opts_cli_t *cli, FILE *out,
                                FILE *err);

/* Start-up checks that need the merged option set (docs/config.md §6.3): 0, or -1
 * with err = the reference's text (print as "<prog>: <err>"). Also used by reload. */
int opts_validate(const opts_t *o, char *err, size_t errlen);

/* Go time.ParseDuration: 0 or -1 with err = "time: invalid duration \"x\"" etc. */
int opts_parse_duration(const char *s, int64_t *ns, char *err, size_t errlen);

/* -h: the flags by section (the reference's text), then one line naming this
 * build (base/version.h). */
void opts_print_usage(FILE *out, const char *prog);
/* The flags of -h as data, in -h's order, for the man page (tools/genman.c):
 * section(arg, title) as each section starts, then flag(arg, usage, help) for
 * each of its flags. usage is -h's left column without its indent (it may hold
 * a newline and indent: "-n, --name\n    --server_name <server_name>"), help
 * the right one (a newline starts another line). */
void opts_usage_walk(void (*section)(void *arg, const char *title),
                     void (*flag)(void *arg, const char *usage, const char *help), void *arg);
void opts_print_tls_help(FILE *out);
void permissions_free(permissions_t *p);
/* The account options named `name`, or NULL. */
const account_opts_t *opts_account(const opts_t *o, const char *name);

#endif
