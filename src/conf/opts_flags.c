/* opts_flags.c: the command line with Go `flag` rules (-x and --x alike,
 * -x=v or -x v, bools only as -x=v, aliases share one variable so the last one
 * wins), its second pass over the loaded options (flags beat the file), and
 * the -h text. */
#include "conf/opts_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

/* ------------------------------------------------------------------------- */
/* command line (cli.md §2, §3)                                              */

static const struct flagdef {
    const char *name;
    fid_t id;
    ftype_t t;
} flagdefs[] = {
    {"h", F_HELP, FT_BOOL},
    {"help", F_HELP, FT_BOOL},
    {"port", F_PORT, FT_INT},
    {"p", F_PORT, FT_INT},
    {"n", F_NAME, FT_STR},
    {"name", F_NAME, FT_STR},
    {"server_name", F_NAME, FT_STR},
    {"addr", F_HOST, FT_STR},
    {"a", F_HOST, FT_STR},
    {"net", F_HOST, FT_STR},
    {"client_advertise", F_CLIENT_ADV, FT_STR},
    {"D", F_D, FT_BOOL},
    {"debug", F_D, FT_BOOL},
    {"V", F_V, FT_BOOL},
    {"trace", F_V, FT_BOOL},
    {"VV", F_VV, FT_BOOL},
    {"DV", F_DV, FT_BOOL},
    {"DVV", F_DVV, FT_BOOL},
    {"T", F_T, FT_BOOL},
    {"logtime", F_T, FT_BOOL},
    {"user", F_USER, FT_STR},
    {"pass", F_PASS, FT_STR},
    {"auth", F_AUTH, FT_STR},
    {"m", F_HTTP, FT_INT},
    {"http_port", F_HTTP, FT_INT},
    {"ms", F_HTTPS, FT_INT},
    {"https_port", F_HTTPS, FT_INT},
    {"c", F_CONFIG, FT_STR},
    {"config", F_CONFIG, FT_STR},
    {"t", F_CHECK, FT_BOOL},
    {"sl", F_SIGNAL, FT_STR},
    {"signal", F_SIGNAL, FT_STR},
    {"P", F_PID, FT_STR},
    {"pid", F_PID, FT_STR},
    {"ports_file_dir", F_PORTS_DIR, FT_STR},
    {"l", F_LOG, FT_STR},
    {"log", F_LOG, FT_STR},
    {"log_size_limit", F_LOG_SIZE, FT_INT64},
    {"s", F_SYSLOG, FT_BOOL},
    {"syslog", F_SYSLOG, FT_BOOL},
    {"r", F_RSYSLOG, FT_STR},
    {"remote_syslog", F_RSYSLOG, FT_STR},
    {"version", F_VERSION, FT_BOOL},
    {"v", F_VERSION, FT_BOOL},
    {"routes", F_ROUTES, FT_STR},
    {"cluster", F_CLUSTER, FT_STR},
    {"cluster_listen", F_CLUSTER, FT_STR},
    {"cluster_advertise", F_CLUSTER_ADV, FT_STR},
    {"no_advertise", F_NO_ADV, FT_BOOL},
    {"connect_retries", F_CONN_RETRIES, FT_INT},
    {"cluster_name", F_CLUSTER_NAME, FT_STR},
    {"help_tls", F_HELP_TLS, FT_BOOL},
    {"tls", F_TLS, FT_BOOL},
    {"tlsverify", F_TLSVERIFY, FT_BOOL},
    {"tlscert", F_TLSCERT, FT_STR},
    {"tlskey", F_TLSKEY, FT_STR},
    {"tlscacert", F_TLSCACERT, FT_STR},
    {"max_traced_msg_len", F_MAX_TRACED, FT_INT},
    {"workers", F_WORKERS, FT_INT},
};

/* Go strconv.ParseBool. */
static bool parse_go_bool(const char *s, bool *out)
{
    static const char *t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < ARRAY_LEN(t); i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Go strconv.ParseInt(s, 0, 64): returns NULL or "parse error"/"value out of range". */
static const char *parse_go_int(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    int base = 10;
    bool prefixed = false;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
        prefixed = true;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        base = 8;
        p += 2;
        prefixed = true;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        p += 2;
        prefixed = true;
    } else if (p[0] == '0' && p[1]) {
        base = 8;
        p += 1;
        prefixed = true;
    }
    if (!*p) return "parse error";
    uint64_t v = 0;
    bool range = false, last_us = prefixed, any = false;
    for (; *p; p++) {
        if (*p == '_') {
            /* underscores only between digits or after a base prefix */
            if (last_us && !(prefixed && !any)) return "parse error";
            if (p[1] == 0) return "parse error";
            last_us = true;
            continue;
        }
        int d;
        if (isdigit((unsigned char)*p))
            d = *p - '0';
        else if (isxdigit((unsigned char)*p))
            d = tolower((unsigned char)*p) - 'a' + 10;
        else
            return "parse error";
        if (d >= base) return "parse error";
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            range = true;
        else
            v = v * (uint64_t)base + (uint64_t)d;
        last_us = false;
        any = true;
    }
    if (!any) return "parse error";
    if (range || (!neg && v > (uint64_t)INT64_MAX) || (neg && v > (uint64_t)INT64_MAX + 1))
        return "value out of range";
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NULL;
}

/* Go flag.FlagSet.Parse. Returns 0, or -1 with the message in err. */
int parse_flags(int n, char **args, flagvals_t *fv, char *err, size_t errlen)
{
    memset(fv, 0, sizeof(*fv));
    fv->first_pos = -1;
    int i = 0;
    while (i < n) {
        const char *s = args[i];
        if (strlen(s) < 2 || s[0] != '-') break;
        int minuses = 1;
        if (s[1] == '-') {
            minuses = 2;
            if (s[2] == 0) {
                i++;
                break;
            }
        }
        const char *name = s + minuses;
        if (!*name || *name == '-' || *name == '=') {
            snprintf(err, errlen, "bad flag syntax: %s", s);
            return -1;
        }
        i++;
        const char *eq = strchr(name + 1, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        const struct flagdef *fd = NULL;
        for (size_t k = 0; k < ARRAY_LEN(flagdefs) && !fd; k++)
            if (strlen(flagdefs[k].name) == nl && strncmp(flagdefs[k].name, name, nl) == 0)
                fd = &flagdefs[k];
        if (!fd) {
            snprintf(err, errlen, "flag provided but not defined: -%.*s", (int)nl, name);
            return -1;
        }
        char vq[512];
        if (fd->t == FT_BOOL) {
            bool b = true;
            if (value && !parse_go_bool(value, &b)) {
                quote_go_str(vq, sizeof(vq), value);
                snprintf(err, errlen, "invalid boolean value %s for -%s: parse error", vq,
                         fd->name);
                return -1;
            }
            fv->b[fd->id] = b;
        } else {
            if (!value && i < n) value = args[i++];
            if (!value) {
                snprintf(err, errlen, "flag needs an argument: -%s", fd->name);
                return -1;
            }
            if (fd->t == FT_STR) {
                fv->s[fd->id] = value;
            } else {
                int64_t v = 0;
                const char *e = parse_go_int(value, &v);
                if (!e && fd->t == FT_INT && (v > INT_MAX || v < INT_MIN)) e = "value out of range";
                if (e) {
                    quote_go_str(vq, sizeof(vq), value);
                    snprintf(err, errlen, "invalid value %s for flag -%s: %s", vq, fd->name, e);
                    return -1;
                }
                fv->i[fd->id] = v;
            }
        }
        fv->set[fd->id] = true;
    }
    if (i < n) fv->first_pos = i;
    return 0;
}

/* Second pass of the reference: explicitly given flags overwrite whatever
 * the file said, then the flags with side effects are post-processed. */
int apply_flags(const flagvals_t *fv, opts_t *o, char *err, size_t errlen)
{
#define MARK(f) (o->flag_set |= OPTS_FLAG_BIT(f))
    if (fv->set[F_PORT]) o->port = (int)fv->i[F_PORT], MARK(OPTF_PORT);
    if (fv->set[F_NAME]) set_str_nonempty(&o->server_name, fv->s[F_NAME]), MARK(OPTF_SERVER_NAME);
    if (fv->set[F_HOST]) set_str_nonempty(&o->host, fv->s[F_HOST]), MARK(OPTF_HOST);
    if (fv->set[F_CLIENT_ADV])
        set_str_nonempty(&o->client_advertise, fv->s[F_CLIENT_ADV]), MARK(OPTF_CLIENT_ADVERTISE);
    if (fv->set[F_D]) o->debug = fv->b[F_D], MARK(OPTF_DEBUG);
    if (fv->set[F_V]) o->trace = fv->b[F_V], MARK(OPTF_TRACE);
    if (fv->set[F_T]) o->logtime = fv->b[F_T], MARK(OPTF_LOGTIME);
    if (fv->set[F_USER]) set_str_nonempty(&o->username, fv->s[F_USER]), MARK(OPTF_USER);
    if (fv->set[F_PASS]) set_str_nonempty(&o->password, fv->s[F_PASS]), MARK(OPTF_PASS);
    if (fv->set[F_AUTH]) set_str_nonempty(&o->token, fv->s[F_AUTH]), MARK(OPTF_AUTH);
    if (fv->set[F_HTTP]) o->http_port = (int)fv->i[F_HTTP], MARK(OPTF_HTTP_PORT);
    if (fv->set[F_HTTPS]) o->https_port = (int)fv->i[F_HTTPS], MARK(OPTF_HTTPS_PORT);
    if (fv->set[F_PID]) set_str_nonempty(&o->pid_file, fv->s[F_PID]), MARK(OPTF_PID_FILE);
    if (fv->set[F_PORTS_DIR])
        set_str_nonempty(&o->ports_file_dir, fv->s[F_PORTS_DIR]), MARK(OPTF_PORTS_FILE_DIR);
    if (fv->set[F_LOG]) set_str_nonempty(&o->log_file, fv->s[F_LOG]), MARK(OPTF_LOG_FILE);
    if (fv->set[F_LOG_SIZE]) o->log_size_limit = fv->i[F_LOG_SIZE], MARK(OPTF_LOG_SIZE_LIMIT);
    if (fv->set[F_SYSLOG]) o->syslog = fv->b[F_SYSLOG], MARK(OPTF_SYSLOG);
    if (fv->set[F_RSYSLOG])
        set_str_nonempty(&o->remote_syslog, fv->s[F_RSYSLOG]), MARK(OPTF_REMOTE_SYSLOG);
    if (fv->set[F_CLUSTER_ADV])
        set_str_nonempty(&o->cluster.advertise, fv->s[F_CLUSTER_ADV]), MARK(OPTF_CLUSTER_ADVERTISE);
    if (fv->set[F_NO_ADV]) o->cluster.no_advertise = fv->b[F_NO_ADV], MARK(OPTF_NO_ADVERTISE);
    if (fv->set[F_CONN_RETRIES])
        o->cluster.connect_retries = (int)fv->i[F_CONN_RETRIES], MARK(OPTF_CONNECT_RETRIES);
    if (fv->set[F_CLUSTER_NAME])
        set_str_nonempty(&o->cluster.name, fv->s[F_CLUSTER_NAME]), MARK(OPTF_CLUSTER_NAME);
    if (fv->set[F_MAX_TRACED])
        o->max_traced_msg_len = fv->i[F_MAX_TRACED], MARK(OPTF_MAX_TRACED_MSG_LEN);
    if (fv->set[F_WORKERS]) o->workers = (int)fv->i[F_WORKERS], MARK(OPTF_WORKERS);

    /* in the reference's Visit order (sorted names): DV, DVV, VV */
    if (fv->set[F_DV]) {
        o->debug = o->trace = fv->b[F_DV];
        MARK(OPTF_DEBUG), MARK(OPTF_TRACE);
    }
    if (fv->set[F_DVV]) {
        o->debug = o->trace = o->trace_verbose = fv->b[F_DVV];
        MARK(OPTF_DEBUG), MARK(OPTF_TRACE), MARK(OPTF_TRACE_VERBOSE);
    }
    if (fv->set[F_VV]) {
        o->trace = o->trace_verbose = fv->b[F_VV];
        MARK(OPTF_TRACE), MARK(OPTF_TRACE_VERBOSE);
    }
    if (fv->set[F_CLUSTER]) {
        MARK(OPTF_CLUSTER);
        if (override_cluster(o, fv->s[F_CLUSTER], err, errlen) != 0) return -1;
    }
    const char *routes = fv->set[F_ROUTES] ? fv->s[F_ROUTES] : NULL;
    if (fv->set[F_ROUTES]) {
        MARK(OPTF_ROUTES);
        strv_free(&o->cluster.routes, &o->cluster.nroutes);
        if (*routes) {
            const char *p = routes;
            for (;;) {
                const char *c = strchr(p, ',');
                size_t l = c ? (size_t)(c - p) : strlen(p);
                const char *b = p;
                while (l && isspace((unsigned char)*b))
                    b++, l--;
                while (l && isspace((unsigned char)b[l - 1]))
                    l--;
                strv_push(&o->cluster.routes, &o->cluster.nroutes, xstrndup(b, l));
                if (!c) break;
                p = c + 1;
            }
        }
    }

    bool tls_disabled = fv->set[F_TLS] && !fv->b[F_TLS];
    bool tls_override =
        !tls_disabled && (fv->set[F_TLS] || fv->set[F_TLSVERIFY] || fv->set[F_TLSCERT] ||
                          fv->set[F_TLSKEY] || fv->set[F_TLSCACERT]);
    if (tls_disabled) {
        MARK(OPTF_TLS);
        tls_free(&o->tls);
        o->tls.enabled = false;
    } else if (tls_override) {
        MARK(OPTF_TLS);
        const char *cert = fv->s[F_TLSCERT], *key = fv->s[F_TLSKEY];
        if (!cert || !*cert) {
            snprintf(err, errlen, "TLS Server certificate must be present and valid");
            return -1;
        }
        if (!key || !*key) {
            snprintf(err, errlen, "TLS Server private key must be present and valid");
            return -1;
        }
        int64_t timeout = o->tls.timeout_ns;
        tls_free(&o->tls);
        o->tls.enabled = true;
        o->tls.timeout_ns = timeout;
        o->tls.cert_file = xstrdup(cert);
        o->tls.key_file = xstrdup(key);
        set_str_nonempty(&o->tls.ca_file, fv->s[F_TLSCACERT]);
        o->tls.verify = fv->set[F_TLSVERIFY] && fv->b[F_TLSVERIFY];
        o->tls_from_flags = true;
    }

    if (routes && *routes && !(fv->set[F_CLUSTER] && fv->s[F_CLUSTER] && *fv->s[F_CLUSTER]) &&
        !o->cluster.host && o->cluster.port == 0) {
        snprintf(err, errlen, "solicited routes require cluster capabilities, e.g. --cluster");
        return -1;
    }
#undef MARK
    return 0;
}

/* ------------------------------------------------------------------------- */
/* usage, version, tls help                                                  */

static const char usage_body[] =
    "Server Options:\n"
    "    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)\n"
    "    -p, --port <port>                Use port for clients (default: 4222)\n"
    "    -n, --name\n"
    "        --server_name <server_name>  Server name (default: auto)\n"
    "    -P, --pid <file>                 File to store PID\n"
    "    -m, --http_port <port>           Use port for http monitoring\n"
    "    -ms,--https_port <port>          Use port for https monitoring\n"
    "    -c, --config <file>              Configuration file\n"
    "    -t                               Test configuration and exit\n"
    "    -sl,--signal <signal>[=<pid>]    Send signal to nats-server process (ldm, stop, quit, "
    "term, reopen, reload)\n"
    "                                     pid> can be either a PID (e.g. 1) or the path to a PID "
    "file (e.g. /var/run/nats-server.pid)\n"
    "        --client_advertise <string>  Client URL to advertise to other servers\n"
    "        --ports_file_dir <dir>       Creates a ports file in the specified directory "
    "(<executable_name>_<pid>.ports).\n"
    "        --workers <n>                Worker threads (default: 0, one per CPU core)\n"
    "\n"
    "Logging Options:\n"
    "    -l, --log <file>                 File to redirect log output\n"
    "    -T, --logtime                    Timestamp log entries (default: true)\n"
    "    -s, --syslog                     Log to syslog or windows event log\n"
    "    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)\n"
    "    -D, --debug                      Enable debugging output\n"
    "    -V, --trace                      Trace the raw protocol\n"
    "    -VV                              Verbose trace (traces system account as well)\n"
    "    -DV                              Debug and trace\n"
    "    -DVV                             Debug and verbose trace (traces system account as "
    "well)\n"
    "        --log_size_limit <limit>     Logfile size limit (default: auto)\n"
    "        --max_traced_msg_len <len>   Maximum printable length for traced messages "
    "(default: unlimited)\n"
    "\n"
    "Authorization Options:\n"
    "        --user <user>                User required for connections\n"
    "        --pass <password>            Password required for connections\n"
    "        --auth <token>               Authorization token required for connections\n"
    "\n"
    "TLS Options:\n"
    "        --tls                        Enable TLS, do not verify clients (default: false)\n"
    "        --tlscert <file>             Server certificate file\n"
    "        --tlskey <file>              Private key for server certificate\n"
    "        --tlsverify                  Enable TLS, verify client certificates\n"
    "        --tlscacert <file>           Client certificate CA for verification\n"
    "\n"
    "Cluster Options:\n"
    "        --routes <rurl-1, rurl-2>    Routes to solicit and connect\n"
    "        --cluster <cluster-url>      Cluster URL for solicited routes\n"
    "        --cluster_name <string>      Cluster Name, if not set one will be dynamically "
    "generated\n"
    "        --no_advertise <bool>        Do not advertise known cluster information to "
    "clients\n"
    "        --cluster_advertise <string> Cluster URL to advertise to other servers\n"
    "        --connect_retries <number>   For implicit routes, number of connect retries\n"
    "        --cluster_listen <url>       Cluster url from which members can solicit routes\n"
    "\n"
    "Common Options:\n"
    "    -h, --help                       Show this message\n"
    "    -v, --version                    Show version\n"
    "        --help_tls                   TLS help\n"
    "\n";

void opts_print_usage(FILE *out, const char *prog)
{
    fprintf(out, "\nUsage: %s [options]\n\n%s", prog, usage_body);
    fflush(out);
}
