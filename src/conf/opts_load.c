/* opts_load.c: the option set's life, as nats-server 2.9.10 does it: defaults, the
 * config file's top-level keys, the merge defaults < file < flags, start-up
 * checks, and the entry points (start-up, -t, reload).
 *
 * The config tree comes from conf.c; the opts*.c files only know option names
 * (blocks in opts_auth.c, opts_tls.c, opts_cluster.c; flags in opts_flags.c).
 * Every semantic problem is collected (not just the first) so the output matches
 * the reference: warnings first, then errors, each "file:line:col: reason". Flags
 * are kept as the raw argv so a reload can re-apply exactly the same ones. */
#include "conf/opts.h"

#include "conf/opts_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

/* ------------------------------------------------------------------------- */
/* defaults / free                                                           */

void opts_defaults(opts_t *o)
{
    memset(o, 0, sizeof(*o));
    opt_set_defaults(o, false);
    tls_defaults(&o->tls);
    tls_defaults(&o->cluster.tls);
    tls_defaults(&o->gateway.tls);
    tls_defaults(&o->leaf.tls);
}

void opts_free(opts_t *o)
{
    free(o->config_file);
    free(o->host);
    free(o->server_name);
    free(o->client_advertise);
    free(o->pid_file);
    free(o->ports_file_dir);
    free(o->http_host);
    free(o->http_base_path);
    free(o->log_file);
    free(o->remote_syslog);
    free(o->username);
    free(o->password);
    free(o->token);
    users_free(o->users, o->nusers);
    permissions_free(o->default_perms);
    free(o->no_auth_user);
    accounts_free(o->accounts, o->naccounts);
    mappings_free(o->mappings, o->nmappings);
    operator_opts_free(o);
    free(o->system_account);
    tls_free(&o->tls);
    cluster_free(&o->cluster);
    gateway_free(&o->gateway);
    leaf_opts_free(&o->leaf);
    strv_free(&o->warnings, &o->nwarnings);
    for (int i = 0; i < o->ncli_args; i++)
        free(o->cli_args[i]);
    free(o->cli_args);
    memset(o, 0, sizeof(*o));
}

int64_t opts_auth_timeout_ns(const opts_t *o)
{
    if (o->auth_timeout_ns > 0) return o->auth_timeout_ns;
    if (o->tls.enabled) {
        int64_t t = o->tls.timeout_ns > 0 ? o->tls.timeout_ns : DEFAULT_TLS_TIMEOUT_NS;
        return t + NS_PER_SEC;
    }
    return DEFAULT_AUTH_TIMEOUT_NS;
}

/* ------------------------------------------------------------------------- */
/* Go durations                                                              */

int opts_parse_duration(const char *orig, int64_t *out, char *err, size_t errlen)
{
    char q[256];
    quote_go_str(q, sizeof(q), orig);
    const char *s = orig;
    bool neg = false;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (!*s) goto invalid;
    /* Accumulate in long double-free integer math like Go: whole part and a
     * scaled fraction per unit, with overflow checks on the total. */
    uint64_t total = 0;
    while (*s) {
        if (!(*s == '.' || isdigit((unsigned char)*s))) goto invalid;
        uint64_t v = 0;
        const char *p = s;
        bool ovf = false;
        while (isdigit((unsigned char)*s)) {
            if (v > (UINT64_MAX - 9) / 10)
                ovf = true;
            else
                v = v * 10 + (uint64_t)(*s - '0');
            s++;
        }
        bool pre = s != p;
        uint64_t f = 0, scale = 1;
        bool post = false;
        if (*s == '.') {
            s++;
            const char *fp = s;
            while (isdigit((unsigned char)*s)) {
                if (scale <= UINT64_MAX / 10 / 10) {
                    f = f * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
            }
            post = s != fp;
        }
        if (!pre && !post) goto invalid;
        if (ovf) goto invalid;
        const char *us = s;
        while (*s && *s != '.' && !isdigit((unsigned char)*s))
            s++;
        size_t ul = (size_t)(s - us);
        if (ul == 0) {
            snprintf(err, errlen, "time: missing unit in duration %s", q);
            return -1;
        }
        uint64_t unit;
        if (ul == 2 && !strncmp(us, "ns", 2))
            unit = 1;
        else if ((ul == 2 && !strncmp(us, "us", 2)) || (ul == 3 && !strncmp(us, "\xc2\xb5s", 3)) ||
                 (ul == 3 && !strncmp(us, "\xce\xbcs", 3)))
            unit = 1000;
        else if (ul == 2 && !strncmp(us, "ms", 2))
            unit = 1000000;
        else if (ul == 1 && *us == 's')
            unit = NS_PER_SEC;
        else if (ul == 1 && *us == 'm')
            unit = 60 * NS_PER_SEC;
        else if (ul == 1 && *us == 'h')
            unit = 3600 * NS_PER_SEC;
        else {
            char uq[128], ub[64];
            snprintf(ub, sizeof(ub), "%.*s", (int)(ul < 60 ? ul : 60), us);
            quote_go_str(uq, sizeof(uq), ub);
            snprintf(err, errlen, "time: unknown unit %s in duration %s", uq, q);
            return -1;
        }
        if (v > (uint64_t)INT64_MAX / unit) goto invalid;
        v *= unit;
        if (f) {
            v += (uint64_t)((long double)f * (long double)unit / (long double)scale);
            if (v > (uint64_t)INT64_MAX) goto invalid;
        }
        total += v;
        if (total > (uint64_t)INT64_MAX) goto invalid;
    }
    *out = neg ? -(int64_t)total : (int64_t)total;
    return 0;
invalid:
    snprintf(err, errlen, "time: invalid duration %s", q);
    return -1;
}

/* Loads `path` into o. Returns -1 on a parse error (message in perr) and
 * leaves the semantic report in c. */
static int load_config(const char *path, opts_t *o, cfg_ctx_t *c, char *perr, size_t perrlen)
{
    conf_val_t *root = conf_parse_file(path, perr, perrlen);
    if (!root) return -1;
    set_str(&o->config_file, path);
    collect_files(c, root);
    if (root->type == CONF_MAP) {
        const conf_kv_t *acc = NULL;
        for (size_t i = 0; i < root->u.map.n; i++) {
            if (shadowed(root, i)) continue;
            opt_apply(c, &root->u.map.items[i], o, opt_rows, opt_nrows);
            if (KEYIS(root->u.map.items[i].key, "accounts")) acc = &root->u.map.items[i];
        }
        if (acc) accounts_finish(c, kvpos(acc), o);
    }
    conf_free(root);
    return 0;
}

/* Defaults for values still unset/zero after file and flags (the reference's
 * setBaselineOptions). */
static void apply_baseline(opts_t *o)
{
    opt_set_defaults(o, true);
    if (!o->http_host || !*o->http_host) set_str(&o->http_host, o->host);
    o->tls.timeout_ns = tls_opts_timeout_ns(&o->tls);
    o->cluster.tls.timeout_ns = tls_opts_timeout_ns(&o->cluster.tls);
    o->gateway.tls.timeout_ns = tls_opts_timeout_ns(&o->gateway.tls);
    for (size_t i = 0; i < o->gateway.nremotes; i++)
        o->gateway.remotes[i].tls.timeout_ns = tls_opts_timeout_ns(&o->gateway.remotes[i].tls);
    o->leaf.tls.timeout_ns = tls_opts_timeout_ns(&o->leaf.tls);
    for (size_t i = 0; i < o->leaf.nremotes; i++)
        o->leaf.remotes[i].tls.timeout_ns = tls_opts_timeout_ns(&o->leaf.remotes[i].tls);
    if (o->cluster.port != 0 && (!o->cluster.host || !*o->cluster.host))
        set_str(&o->cluster.host, DEFAULT_HOST);
}

int opts_validate(const opts_t *o, char *err, size_t errlen)
{
    if (operator_validate(o, err, errlen) != 0) return -1;
    if (gateway_validate(o, err, errlen) != 0) return -1;
    if (o->lame_duck_duration_ns > 0 && o->lame_duck_grace_ns >= o->lame_duck_duration_ns) {
        char a[64], b[64];
        go_duration(a, sizeof(a), o->lame_duck_grace_ns);
        go_duration(b, sizeof(b), o->lame_duck_duration_ns);
        snprintf(err, errlen,
                 "lame duck grace period (%s) should be strictly lower than lame duck duration "
                 "(%s)",
                 a, b);
        return -1;
    }
    if ((int64_t)o->max_payload > o->max_pending) {
        snprintf(err, errlen, "max_payload (%d) cannot be higher than max_pending (%lld)",
                 o->max_payload, (long long)o->max_pending);
        return -1;
    }
    /* Certificate-mapped identities are not implemented: running without them would
     * accept the mapped users without their certificates. */
    if (o->tls.enabled && o->tls.verify_and_map) {
        snprintf(err, errlen,
                 "tls verify_and_map is not supported by this server (refusing to run "
                 "without the certificate identity checks it configures)");
        return -1;
    }
    if (o->no_auth_user && *o->no_auth_user) {
        char q[300];
        quote_go_str(q, sizeof(q), o->no_auth_user);
        if (o->nusers == 0) {
            snprintf(err, errlen, "no_auth_user: %s present, but users are not defined", q);
            return -1;
        }
        bool found = false;
        for (size_t i = 0; i < o->nusers && !found; i++)
            found = strcmp(o->users[i].name, o->no_auth_user) == 0;
        if (!found) {
            snprintf(err, errlen,
                     "no_auth_user: %s not present as user in authorization block or account "
                     "configuration",
                     q);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* entry points                                                              */

static void print_lines(FILE *f, char **v, size_t n, const char *prog, bool *first)
{
    for (size_t i = 0; i < n; i++) {
        if (*first && prog) fprintf(f, "%s: ", prog);
        *first = false;
        fprintf(f, "%s\n", v[i]);
    }
}

static void keep_warnings(opts_t *o, const cfg_ctx_t *c)
{
    strv_free(&o->warnings, &o->nwarnings);
    for (size_t i = 0; i < c->nnotes; i++)
        strv_push(&o->warnings, &o->nwarnings, xstrdup(c->notes[i]));
    for (size_t i = 0; i < c->nwarns; i++)
        strv_push(&o->warnings, &o->nwarnings, xstrdup(c->warns[i]));
}

opts_action_t opts_from_args_io(int argc, char **argv, opts_t *o, opts_cli_t *cli, FILE *out,
                                FILE *err)
{
    const char *prog = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
    prog = prog ? prog + 1 : (argc > 0 && argv[0] && *argv[0] ? argv[0] : "nats-server");
    cli->prog = prog;
    cli->signal_cmd = NULL;
    cli->exit_code = 0;

    opts_defaults(o);
    o->ncli_args = argc > 1 ? argc - 1 : 0;
    o->cli_args = xcalloc((size_t)o->ncli_args + 1, sizeof(char *));
    for (int i = 0; i < o->ncli_args; i++)
        o->cli_args[i] = xstrdup(argv[i + 1]);

    flagvals_t fv;
    char msg[1024];
    if (parse_flags(o->ncli_args, o->cli_args, &fv, msg, sizeof(msg)) != 0) {
        fprintf(err, "%s\n", msg);
        fflush(err);
        opts_print_usage(out, prog);
        return OPTS_EXIT_OK;
    }
    if (fv.b[F_VERSION]) {
        fprintf(out, "nats-server: v%s\n", SERVER_VERSION); /* the form tools parse */
        return OPTS_EXIT_OK;
    }
    if (fv.b[F_HELP]) {
        opts_print_usage(out, prog);
        return OPTS_EXIT_OK;
    }
    if (fv.b[F_HELP_TLS]) {
        opts_print_tls_help(out);
        return OPTS_EXIT_OK;
    }
    if (fv.first_pos >= 0) {
        const char *a = o->cli_args[fv.first_pos];
        if (strcasecmp(a, "version") == 0) {
            fprintf(out, "nats-server: v%s\n", SERVER_VERSION);
            return OPTS_EXIT_OK;
        }
        if (strcasecmp(a, "help") == 0) {
            opts_print_usage(out, prog);
            return OPTS_EXIT_OK;
        }
        char q[600];
        quote_go_str(q, sizeof(q), a);
        fprintf(err, "%s: unrecognized command: %s\n", prog, q);
        return OPTS_EXIT_FAIL;
    }
    if (fv.set[F_SIGNAL] && fv.s[F_SIGNAL] && *fv.s[F_SIGNAL]) {
        cli->signal_cmd = xstrdup(fv.s[F_SIGNAL]);
        return OPTS_SIGNAL;
    }

    bool check = fv.b[F_CHECK];
    const char *cfile = fv.set[F_CONFIG] ? fv.s[F_CONFIG] : NULL;
    if (cfile && *cfile) {
        cfg_ctx_t c = {0};
        char perr[2048];
        if (load_config(cfile, o, &c, perr, sizeof(perr)) != 0) {
            fprintf(err, "%s: %s\n", prog, perr);
            cfg_ctx_free(&c);
            cli->exit_code = 1;
            return check ? OPTS_CHECK_CONFIG : OPTS_EXIT_FAIL;
        }
        keep_warnings(o, &c);
        bool first = true;
        if (c.nerrs || (check && c.nwarns)) {
            print_lines(err, c.notes, c.nnotes, prog, &first);
            print_lines(err, c.warns, c.nwarns, prog, &first);
            print_lines(err, c.errs, c.nerrs, prog, &first);
            fputc('\n', err);
            cfg_ctx_free(&c);
            cli->exit_code = 1;
            return check ? OPTS_CHECK_CONFIG : OPTS_EXIT_FAIL;
        }
        print_lines(err, c.notes, c.nnotes, NULL, &first);
        print_lines(err, c.warns, c.nwarns, NULL, &first);
        cfg_ctx_free(&c);
        if (check) {
            fprintf(err, "%s: configuration file %s is valid\n", prog, cfile);
            cli->exit_code = 0;
            return OPTS_CHECK_CONFIG;
        }
    } else if (check) {
        fprintf(err, "%s: must specify [-c, --config] option to check configuration file syntax\n",
                prog);
        cli->exit_code = 1;
        return OPTS_CHECK_CONFIG;
    }

    if (apply_flags(&fv, o, msg, sizeof(msg)) != 0) {
        fprintf(err, "%s: %s\n", prog, msg);
        return OPTS_EXIT_FAIL;
    }
    apply_baseline(o);
    return OPTS_RUN;
}

opts_action_t opts_from_args(int argc, char **argv, opts_t *o, opts_cli_t *cli)
{
    return opts_from_args_io(argc, argv, o, cli, stdout, stderr);
}

int opts_reload(const opts_t *running, opts_t *out, char *err, size_t errlen)
{
    opts_defaults(out);
    out->ncli_args = running->ncli_args;
    out->cli_args = xcalloc((size_t)out->ncli_args + 1, sizeof(char *));
    for (int i = 0; i < out->ncli_args; i++)
        out->cli_args[i] = xstrdup(running->cli_args[i]);
    if (!running->config_file || !*running->config_file) {
        snprintf(err, errlen,
                 "can only reload config when a file is provided using -c or --config");
        return -1;
    }
    cfg_ctx_t c = {0};
    if (load_config(running->config_file, out, &c, err, errlen) != 0) {
        cfg_ctx_free(&c);
        return -1;
    }
    if (c.nerrs) {
        size_t o = 0;
        err[0] = 0;
        for (size_t i = 0; i < c.nerrs && o < errlen; i++)
            o += (size_t)snprintf(err + o, errlen - o, "%s%s", i ? "\n" : "", c.errs[i]);
        cfg_ctx_free(&c);
        return -1;
    }
    keep_warnings(out, &c);
    cfg_ctx_free(&c);
    flagvals_t fv;
    if (parse_flags(out->ncli_args, out->cli_args, &fv, err, errlen) != 0 ||
        apply_flags(&fv, out, err, errlen) != 0)
        return -1;
    apply_baseline(out);
    return 0;
}
