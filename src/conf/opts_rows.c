/* opts_rows.c: the top-level option rows (conf/opts_table.h), the parsers of the
 * keys that are not a plain typed value, and the walks every user of the
 * table shares: find a key, read a value by type, compare and format a field,
 * the reload refusal.
 *
 * Row order is reload order: the first refusal in table order is the one
 * reported, and notices are logged in table order (the reference's order, its
 * Options struct's). -h has its own order (section, rank). */
#include "conf/opts_table.h"

#include "conf/opts_impl.h"

#include <stddef.h>

#define OFF(field) offsetof(opts_t, field)
#define SECS(n) ((int64_t)(n)*NS_PER_SEC)

/* ------------------------------------------------------------------------- */
/* keys with a parser of their own                                           */

static void p_listen(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_listen(c, kvpos(kv), kv->val, &o->host, &o->port);
}

static void p_http(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_listen(c, kvpos(kv), kv->val, &o->http_host, &o->http_port);
}

static void p_https(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_listen(c, kvpos(kv), kv->val, &o->http_host, &o->https_port);
}

static void p_trace_verbose(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    if (get_bool(c, kv, &o->trace_verbose)) o->trace = o->trace_verbose;
}

static void p_authorization(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    apply_authorization(c, kv, o);
}

static void p_tls(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_tls(c, kv, &o->tls, true);
}

static void p_cluster(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_cluster(c, kv, o);
}

static void p_gateway(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_gateway(c, kv, o);
}

static void p_leafnodes(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_leafnodes(c, kv, o);
}

static void p_prof_port(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    if (get_int(c, kv, &o->prof_port)) cfg_note(c, kvpos(kv), "prof_port (profiling)");
}

static void check_lame_duck(cfg_ctx_t *c, const conf_kv_t *kv, const char *field, bool grace,
                            int64_t *dst)
{
    if (!want(c, kvpos(kv), kv->val, CONF_STRING)) return;
    char e[300];
    int64_t ns;
    if (opts_parse_duration(kv->val->u.str.s, &ns, e, sizeof(e)) != 0) {
        cfg_err(c, kvpos(kv), "error parsing %s: %s", field, e);
        return;
    }
    if (grace && ns < 0) {
        cfg_err(c, kvpos(kv), "invalid lame_duck_grace_period, needs to be positive");
        return;
    }
    if (!grace && ns < 30 * NS_PER_SEC) {
        char d[64];
        go_duration(d, sizeof(d), ns);
        cfg_err(c, kvpos(kv), "invalid lame_duck_duration of %s, minimum is 30 seconds", d);
        return;
    }
    *dst = dur_clamp(ns);
}

static void p_lame_duck(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    check_lame_duck(c, kv, d->key, false, (int64_t *)(void *)((char *)o + d->off));
}

static void p_lame_duck_grace(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    check_lame_duck(c, kv, d->key, true, (int64_t *)(void *)((char *)o + d->off));
}

static int64_t tls_timeout_value(const opts_t *o)
{
    return tls_opts_timeout_ns(&o->tls);
}

static bool chk_int32(cfg_ctx_t *c, const conf_kv_t *kv, int64_t v)
{
    if (v <= INT32_MAX) return true;
    cfg_err(c, kvpos(kv), "%s value is too big", kv->key);
    return false;
}

static bool chk_sub_tokens(cfg_ctx_t *c, const conf_kv_t *kv, int64_t v)
{
    if (v > 255)
        cfg_err(c, kvpos(kv), "%s value is too big", kv->key);
    else if (v <= 0)
        cfg_err(c, kvpos(kv), "%s value can not be negative", kv->key);
    return v > 0 && v <= 255;
}

/* Operator mode's trust cannot change under running connections (the reference refuses
 * these reloads too); the preloaded account JWTs can. */
static const char *operators_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n)
{
    (void)buf, (void)n;
    return strv_eq(a->operators, a->noperators, b->operators, b->noperators) ? NULL
                                                                             : "TrustedOperators";
}

static const char *trusted_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n)
{
    (void)buf, (void)n;
    return strv_eq(a->trusted_keys, a->ntrusted_keys, b->trusted_keys, b->ntrusted_keys)
               ? NULL
               : "TrustedKeys";
}

static const char *resolver_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n)
{
    (void)buf, (void)n;
    return a->resolver == b->resolver && str_same(a->resolver_dir, b->resolver_dir) &&
                   a->resolver_allow_delete == b->resolver_allow_delete &&
                   a->resolver_limit == b->resolver_limit &&
                   a->resolver_ttl_ns == b->resolver_ttl_ns
               ? NULL
               : "AccountResolver";
}

/* Each of these restricts who may do what, or (mappings) changes where messages
 * go; silently ignoring one would run the server more open, or deliver
 * elsewhere, than its configuration says. */
static void p_refuse_access(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)o, (void)d;
    cfg_err(c, kvpos(kv),
            "%s is not supported by this server (refusing to run without the access "
            "restrictions it configures)",
            kv->key);
}

static void p_mappings(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    parse_mappings(c, kv, &o->mappings, &o->nmappings);
}

static void p_accounts(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)d;
    apply_accounts(c, kv, o);
}

static void p_ignored(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *d)
{
    (void)o, (void)d;
    cfg_note(c, kvpos(kv), kv->key);
}

/* ------------------------------------------------------------------------- */
/* the rows (docs/config.md §7.1), in reload order                           */

const opt_def_t opt_rows[] = {
    {.key = "listen", .parse = p_listen},
    {.key = "host",
     .aliases = "net",
     .type = OT_STR,
     .off = OFF(host),
     .def_str = DEFAULT_HOST,
     .reload = OR_REFUSE,
     .reload_text = "Host",
     .flag = {"-a, --addr, --net <host>", "Bind to host address (default: 0.0.0.0)", OS_SERVER, 10},
     .varz = {"host", 70}},
    {.key = "port",
     .type = OT_INT,
     .off = OFF(port),
     .def = DEFAULT_PORT,
     .reload = OR_REFUSE,
     .reload_text = "Port",
     .flag = {"-p, --port <port>", "Use port for clients (default: 4222)", OS_SERVER, 20}},
    {.key = "server_name",
     .type = OT_STR,
     .off = OFF(server_name),
     .reload = OR_REFUSE,
     .reload_text = "ServerName",
     .flag = {"-n, --name\n        --server_name <server_name>", "Server name (default: auto)",
              OS_SERVER, 30}},
    {.key = "client_advertise",
     .type = OT_STR,
     .off = OFF(client_advertise),
     .reload = OR_NOTICE,
     .reload_text = "Reload: client_advertise",
     .flag = {"    --client_advertise <string>", "Client URL to advertise to other servers",
              OS_SERVER, 100}},
    {.key = "http", .parse = p_http},
    {.key = "https", .parse = p_https},
    {.type = OT_STR, .off = OFF(http_host), .reload = OR_REFUSE, .reload_text = "HTTPHost"},
    {.key = "http_port",
     .aliases = "monitor_port",
     .type = OT_INT,
     .off = OFF(http_port),
     .reload = OR_REFUSE,
     .reload_text = "HTTPPort",
     .flag = {"-m, --http_port <port>", "Use port for http monitoring", OS_SERVER, 50}},
    {.key = "https_port",
     .type = OT_INT,
     .off = OFF(https_port),
     .reload = OR_REFUSE,
     .reload_text = "HTTPSPort",
     .flag = {"-ms,--https_port <port>", "Use port for https monitoring", OS_SERVER, 60}},
    {.key = "http_base_path",
     .type = OT_STR,
     .off = OFF(http_base_path),
     .reload = OR_REFUSE,
     .reload_text = "HTTPBasePath",
     .varz = {"http_base_path", 210}},
    {.key = "trace",
     .type = OT_BOOL,
     .off = OFF(trace),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: trace",
     .flag = {"-V, --trace", "Trace the raw protocol", OS_LOGGING, 60}},
    {.key = "debug",
     .type = OT_BOOL,
     .off = OFF(debug),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: debug",
     .flag = {"-D, --debug", "Enable debugging output", OS_LOGGING, 50}},
    {.key = "trace_verbose",
     .type = OT_BOOL,
     .off = OFF(trace_verbose),
     .parse = p_trace_verbose,
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: trace_verbose"},
    {.key = "logtime",
     .type = OT_BOOL,
     .off = OFF(logtime),
     .def = true,
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: logtime",
     .flag = {"-T, --logtime", "Timestamp log entries (default: true)", OS_LOGGING, 20}},
    {.key = "max_connections",
     .aliases = "max_conn",
     .type = OT_INT,
     .off = OFF(max_connections),
     .def = 65536,
     .reload = OR_EFFECT,
     .reload_text = "max_connections",
     .varz = {"max_connections", 150},
     .metric = "gnatsd_max_connections"},
    {.key = "max_subscriptions",
     .aliases = "max_subs",
     .type = OT_INT,
     .off = OFF(max_subscriptions),
     .reload = OR_REFUSE,
     .reload_text = "MaxSubs",
     .varz = {"max_subscriptions", 160, VZ_OMITEMPTY}},
    {.key = "max_pending",
     .type = OT_I64,
     .off = OFF(max_pending),
     .def = 67108864,
     .reload = OR_REFUSE,
     .reload_text = "MaxPending",
     .varz = {"max_pending", 260}},
    {.key = "logfile_size_limit",
     .aliases = "log_size_limit",
     .type = OT_I64,
     .off = OFF(log_size_limit),
     .reload = OR_REFUSE,
     .reload_text = "LogSizeLimit",
     .flag = {"    --log_size_limit <limit>", "Logfile size limit (default: auto)", OS_LOGGING,
              100}},
    {.key = "lame_duck_duration",
     .type = OT_DUR,
     .off = OFF(lame_duck_duration_ns),
     .def = SECS(120),
     .parse = p_lame_duck,
     .reload = OR_REFUSE,
     .reload_text = "LameDuckDuration"},
    {.key = "lame_duck_grace_period",
     .type = OT_DUR,
     .off = OFF(lame_duck_grace_ns),
     .def = SECS(10),
     .parse = p_lame_duck_grace,
     .reload = OR_REFUSE,
     .reload_text = "LameDuckGracePeriod"},
    /* The reference re-runs the authorization pass on every reload, and logs so. */
    {.key = "authorization",
     .parse = p_authorization,
     .reload = OR_EFFECT,
     .reload_text = "authorization users"},
    {.type = OT_STR,
     .off = OFF(username),
     .reload = OR_NOTE,
     .reload_text = "Reloaded: authorization username",
     .flag = {"    --user <user>", "User required for connections", OS_AUTH, 10}},
    {.type = OT_STR,
     .off = OFF(password),
     .reload = OR_NOTE,
     .reload_text = "Reloaded: authorization password",
     .flag = {"    --pass <password>", "Password required for connections", OS_AUTH, 20}},
    {.type = OT_STR,
     .off = OFF(token),
     .reload = OR_NOTE,
     .reload_text = "Reloaded: authorization token",
     .flag = {"    --auth <token>", "Authorization token required for connections", OS_AUTH, 30}},
    {.key = "no_auth_user",
     .type = OT_STR,
     .off = OFF(no_auth_user),
     .reload = OR_REFUSE,
     .reload_text = "NoAuthUser"},
    {.key = "ping_interval",
     .type = OT_DUR,
     .off = OFF(ping_interval_ns),
     .def = SECS(120),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: ping_interval",
     .varz = {"ping_interval", 170}},
    {.key = "ping_max",
     .type = OT_INT,
     .off = OFF(ping_max),
     .def = 2,
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: ping_max",
     .varz = {"ping_max", 180}},
    /* 0 = the default, resolved by opts_auth_timeout_ns */
    {.type = OT_DUR,
     .off = OFF(auth_timeout_ns),
     .reload = OR_EFFECT,
     .reload_text = "authorization timeout",
     .varz = {"auth_timeout", 230, VZ_SECS},
     .value = opts_auth_timeout_ns},
    {.key = "tls", .parse = p_tls},
    {.key = "allow_non_tls",
     .type = OT_BOOL,
     .off = OFF(allow_non_tls),
     .reload = OR_REFUSE,
     .reload_text = "AllowNonTLS"},
    {.type = OT_BOOL, .off = OFF(tls.verify_and_map), .reload = OR_REFUSE, .reload_text = "TLSMap"},
    {.type = OT_I64,
     .off = OFF(tls.connection_rate_limit),
     .reload = OR_REFUSE,
     .reload_text = "TLSRateLimit"},
    /* set by the tls block; a change there reloads TLS as a whole (app/reload.c) */
    {.type = OT_DUR,
     .off = OFF(tls.timeout_ns),
     .varz = {"tls_timeout", 330, VZ_SECS},
     .value = tls_timeout_value},
    {.key = "max_control_line",
     .type = OT_INT,
     .off = OFF(max_control_line),
     .def = 4096,
     .check = chk_int32,
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: max_control_line",
     .varz = {"max_control_line", 240}},
    {.key = "max_payload",
     .type = OT_INT,
     .off = OFF(max_payload),
     .def = 1048576,
     .check = chk_int32,
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: max_payload",
     .varz = {"max_payload", 250},
     .metric = "gnatsd_max_payload_bytes"},
    {.key = "prof_port",
     .type = OT_INT,
     .off = OFF(prof_port),
     .parse = p_prof_port,
     .reload = OR_REFUSE,
     .reload_text = "ProfPort"},
    {.key = "max_sub_tokens",
     .aliases = "max_subscription_tokens",
     .type = OT_INT,
     .off = OFF(max_sub_tokens),
     .check = chk_sub_tokens,
     .reload = OR_REFUSE,
     .reload_text = "MaxSubTokens"},
    {.key = "no_header_support",
     .type = OT_BOOL,
     .off = OFF(no_header_support),
     .reload = OR_REFUSE,
     .reload_text = "NoHeaderSupport"},
    {.key = "disable_sublist_cache",
     .aliases = "no_sublist_cache",
     .type = OT_BOOL,
     .off = OFF(disable_sublist_cache),
     .reload = OR_REFUSE,
     .reload_text = "NoSublistCache"},
    {.key = "cluster",
     .parse = p_cluster,
     .refuse = cluster_refusal,
     .reload = OR_EFFECT,
     .reload_text = "cluster"},
    {.key = "gateway", .parse = p_gateway, .refuse = gateway_refusal},
    {.key = "leafnodes", .aliases = "leaf", .parse = p_leafnodes, .refuse = leaf_refusal},
    {.key = "pidfile",
     .aliases = "pid_file",
     .type = OT_STR,
     .off = OFF(pid_file),
     .reload = OR_EFFECT,
     .reload_text = "pid_file",
     .flag = {"-P, --pid <file>", "File to store PID", OS_SERVER, 40}},
    {.key = "ports_file_dir",
     .type = OT_STR,
     .off = OFF(ports_file_dir),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: ports_file_dir",
     .flag = {"    --ports_file_dir <dir>",
              "Creates a ports file in the specified directory (<executable_name>_<pid>.ports).",
              OS_SERVER, 110}},
    {.key = "logfile",
     .aliases = "log_file",
     .type = OT_STR,
     .off = OFF(log_file),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: log_file",
     .flag = {"-l, --log <file>", "File to redirect log output", OS_LOGGING, 10}},
    {.key = "syslog",
     .type = OT_BOOL,
     .off = OFF(syslog),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: syslog",
     .flag = {"-s, --syslog", "Log to syslog or windows event log", OS_LOGGING, 30}},
    {.key = "remote_syslog",
     .type = OT_STR,
     .off = OFF(remote_syslog),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: remote_syslog",
     .flag = {"-r, --remote_syslog <addr>", "Syslog server addr (udp://localhost:514)", OS_LOGGING,
              40}},
    {.key = "write_deadline",
     .type = OT_DUR,
     .off = OFF(write_deadline_ns),
     .def = SECS(10),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: write_deadline",
     .varz = {"write_deadline", 340}},
    {.key = "max_traced_msg_len",
     .type = OT_I64,
     .off = OFF(max_traced_msg_len),
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: max_traced_msg_len",
     .flag = {"    --max_traced_msg_len <len>",
              "Maximum printable length for traced messages (default: unlimited)", OS_LOGGING, 110,
              FT_INT}},
    {.key = "connect_error_reports",
     .type = OT_I64,
     .off = OFF(connect_error_reports),
     .def = 3600,
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: connect_error_reports"},
    {.key = "reconnect_error_reports",
     .type = OT_I64,
     .off = OFF(reconnect_error_reports),
     .def = 1,
     .reload = OR_NOTICE,
     .reload_text = "Reloaded: reconnect_error_reports"},
    {.key = "no_system_account",
     .aliases = "no_system no_sys_acc",
     .type = OT_BOOL,
     .off = OFF(no_sys_acc)},
    {.type = OT_INT,
     .off = OFF(workers),
     .flag = {"    --workers <n>", "Worker threads (default: 0, one per CPU core)", OS_SERVER,
              120}},
    {.key = "accounts", .parse = p_accounts},
    {.key = "system_account",
     .aliases = "system",
     .type = OT_STR,
     .off = OFF(system_account),
     .reload = OR_REFUSE,
     .reload_text = "SystemAccount"},
    {.key = "operator",
     .aliases = "operators root roots root_operator root_operators",
     .parse = p_operator,
     .refuse = operators_refusal},
    {.key = "trusted_keys",
     .aliases = "trusted",
     .parse = p_trusted_keys,
     .refuse = trusted_refusal},
    {.key = "resolver",
     .aliases = "account_resolver accounts_resolver",
     .parse = p_resolver,
     .refuse = resolver_refusal},
    {.key = "resolver_preload", .parse = p_resolver_preload},
    /* only the URL resolver has these: a resolver_tls or pinned account list would restrict
     * who connects, so it is refused rather than ignored */
    {.key = "resolver_tls", .aliases = "resolver_pinned_accounts", .parse = p_refuse_access},
    {.key = "mappings", .aliases = "maps", .parse = p_mappings},
    {.key = "jetstream",
     .aliases = "store_dir storedir websocket ws mqtt server_tags "
                "default_js_domain ocsp",
     .parse = p_ignored},
};
const size_t opt_nrows = ARRAY_LEN(opt_rows);

/* ------------------------------------------------------------------------- */
/* walks                                                                     */

static bool key_in(const char *list, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = list; p && *p;) {
        size_t l = strcspn(p, " ");
        if (l == kl && strncasecmp(p, key, l) == 0) return true;
        p += l;
        p += strspn(p, " ");
    }
    return false;
}

const opt_def_t *opt_find(const opt_def_t *rows, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].key && (strcasecmp(rows[i].key, key) == 0 || key_in(rows[i].aliases, key)))
            return &rows[i];
    return NULL;
}

void opt_apply(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, const opt_def_t *rows, size_t n)
{
    const opt_def_t *d = opt_find(rows, n, kv->key);
    if (!d) {
        unknown_field(c, kv);
        return;
    }
    if (d->parse) {
        d->parse(c, kv, o, d);
        return;
    }
    void *f = (char *)o + d->off;
    int64_t v;
    switch (d->type) {
    case OT_BOOL:
        get_bool(c, kv, f);
        break;
    case OT_INT:
        if (!d->check)
            get_int(c, kv, f);
        else if (get_i64(c, kv, &v) && d->check(c, kv, v))
            *(int *)f = (int)v;
        break;
    case OT_I64:
        get_i64(c, kv, f);
        break;
    case OT_DUR:
        parse_duration_field(c, kv, d->key, f);
        break;
    case OT_STR:
        get_str(c, kv, f);
        break;
    case OT_NONE:
        break;
    }
}

void opt_set_defaults(opts_t *o, bool only_unset)
{
    for (size_t i = 0; i < opt_nrows; i++) {
        const opt_def_t *d = &opt_rows[i];
        void *f = (char *)o + d->off;
        switch (d->type) {
        case OT_BOOL:
            if (!only_unset && d->def) *(bool *)f = true;
            break;
        case OT_INT:
            if (d->def && (!only_unset || *(int *)f == 0)) *(int *)f = (int)d->def;
            break;
        case OT_I64:
        case OT_DUR:
            if (d->def && (!only_unset || *(int64_t *)f == 0)) *(int64_t *)f = d->def;
            break;
        case OT_STR:
            if (d->def_str && (!only_unset || !*(char **)f || !**(char **)f))
                set_str(f, d->def_str);
            break;
        case OT_NONE:
            break;
        }
    }
}

const char *opt_str(const opt_def_t *d, const opts_t *o)
{
    const char *s = *(char *const *)(const void *)((const char *)o + d->off);
    return s ? s : "";
}

static int64_t field_int(const opts_t *o, const opt_def_t *d)
{
    const void *f = (const char *)o + d->off;
    switch (d->type) {
    case OT_BOOL:
        return *(const bool *)f;
    case OT_INT:
        return *(const int *)f;
    case OT_I64:
    case OT_DUR:
        return *(const int64_t *)f;
    default:
        return 0;
    }
}

int64_t opt_int(const opt_def_t *d, const opts_t *o)
{
    return d->value ? d->value(o) : field_int(o, d);
}

bool opt_changed(const opt_def_t *d, const opts_t *a, const opts_t *b)
{
    if (d->type == OT_STR) return strcmp(opt_str(d, a), opt_str(d, b)) != 0;
    return field_int(a, d) != field_int(b, d);
}

const char *opt_format(const opt_def_t *d, const opts_t *o, char *buf, size_t len)
{
    int64_t v = field_int(o, d);
    switch (d->type) {
    case OT_STR:
        return opt_str(d, o);
    case OT_BOOL:
        return v ? "true" : "false";
    case OT_DUR:
        go_duration(buf, len, v);
        return buf;
    default:
        snprintf(buf, len, "%lld", (long long)v);
        return buf;
    }
}

const char *opts_reload_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n)
{
    for (size_t i = 0; i < opt_nrows; i++) {
        const opt_def_t *d = &opt_rows[i];
        if (d->refuse) {
            const char *why = d->refuse(a, b, buf, n);
            if (why) return why;
        } else if (d->reload == OR_REFUSE && opt_changed(d, a, b)) {
            char va[512], vb[512];
            snprintf(buf, n, "config reload not supported for %s: old=%s, new=%s", d->reload_text,
                     opt_format(d, a, va, sizeof va), opt_format(d, b, vb, sizeof vb));
            return buf;
        }
    }
    return NULL;
}
