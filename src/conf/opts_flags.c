/* opts_flags.c: the command line with Go `flag` rules (-x and --x alike,
 * -x=v or -x v, bools only as -x=v, aliases share one variable so the last one
 * wins), its second pass over the loaded options (flags beat the file), and
 * the -h text. */
#include "conf/opts_impl.h"
#include "base/version.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

/* ------------------------------------------------------------------------- */
/* the flags                                                                 */

/* Flags that are not one option: commands, and flags with side effects that
 * apply_flags works out itself. Options' flags are in their rows. */
static const struct cmd_flag {
    fid_t id;
    opt_flag_t f;
} cmd_flags[] = {
    {F_CONFIG, {"-c, --config <file>", "Configuration file", OS_SERVER, 70, FT_STR}},
    {F_CHECK, {"-t", "Test configuration and exit", OS_SERVER, 80, FT_BOOL}},
    {F_SIGNAL,
     {"-sl,--signal <signal>[=<pid>]",
      "Send signal to nats-server process (ldm, stop, quit, term, reopen, reload)\n"
      "pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/nats-server.pid)",
      OS_SERVER, 90, FT_STR}},
    {F_VV, {"-VV", "Verbose trace (traces system account as well)", OS_LOGGING, 70, FT_BOOL}},
    {F_DV, {"-DV", "Debug and trace", OS_LOGGING, 80, FT_BOOL}},
    {F_DVV,
     {"-DVV", "Debug and verbose trace (traces system account as well)", OS_LOGGING, 90, FT_BOOL}},
    {F_TLS,
     {"    --tls", "Enable TLS, do not verify clients (default: false)", OS_TLS, 10, FT_BOOL}},
    {F_TLSCERT, {"    --tlscert <file>", "Server certificate file", OS_TLS, 20, FT_STR}},
    {F_TLSKEY, {"    --tlskey <file>", "Private key for server certificate", OS_TLS, 30, FT_STR}},
    {F_TLSVERIFY,
     {"    --tlsverify", "Enable TLS, verify client certificates", OS_TLS, 40, FT_BOOL}},
    {F_TLSCACERT,
     {"    --tlscacert <file>", "Client certificate CA for verification", OS_TLS, 50, FT_STR}},
    {F_ROUTES,
     {"    --routes <rurl-1, rurl-2>", "Routes to solicit and connect", OS_CLUSTER, 10, FT_STR}},
    {F_CLUSTER,
     {"    --cluster <cluster-url>", "Cluster URL for solicited routes", OS_CLUSTER, 20, FT_STR}},
    {F_CLUSTER,
     {"    --cluster_listen <url>", "Cluster url from which members can solicit routes", OS_CLUSTER,
      70, FT_STR}},
    {F_HELP, {"-h, --help", "Show this message", OS_COMMON, 10, FT_BOOL}},
    {F_VERSION, {"-v, --version", "Show version", OS_COMMON, 20, FT_BOOL}},
    {F_HELP_TLS, {"    --help_tls", "TLS help", OS_COMMON, 30, FT_BOOL}},
};

/* One flag of any table: its description, the value slot it writes
 * (flagvals_t; a command's slot is its fid_t, an option row's comes after) and
 * the option row, if any. */
typedef struct flag_ref {
    const opt_flag_t *f;
    int slot;
    const opt_def_t *row;
} flag_ref_t;

/* Calls fn for every flag: commands first, then the top-level rows, then the
 * cluster block's. Stops when fn returns true; returns that. */
static bool each_flag(bool (*fn)(const flag_ref_t *r, void *arg), void *arg)
{
    for (size_t i = 0; i < ARRAY_LEN(cmd_flags); i++) {
        flag_ref_t r = {&cmd_flags[i].f, cmd_flags[i].id, NULL};
        if (fn(&r, arg)) return true;
    }
    int slot = F__N;
    const opt_def_t *tables[] = {opt_rows, opt_cluster_rows};
    size_t sizes[] = {opt_nrows, opt_cluster_nrows};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizes[t]; i++, slot++) {
            if (slot >= FLAG_SLOTS) abort(); /* raise FLAG_SLOTS (opts_impl.h) */
            flag_ref_t r = {&tables[t][i].flag, slot, &tables[t][i]};
            if (r.f->usage && fn(&r, arg)) return true;
        }
    }
    return false;
}

/* Is `name` (nl bytes) one of the flag names of a -h column ("-a, --addr, --net
 * <host>": a, addr, net)? A name is what follows the dashes that start a word. */
static bool usage_has_name(const char *u, const char *name, size_t nl)
{
    for (const char *p = u; *p; p++) {
        if (*p != '-' || (p > u && !strchr(" ,\n", p[-1]))) continue;
        while (*p == '-')
            p++;
        size_t l = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (l == nl && strncmp(p, name, nl) == 0) return true;
        if (!*p) break;
    }
    return false;
}

typedef struct flag_lookup {
    const char *name;
    size_t nl;
    flag_ref_t found;
} flag_lookup_t;

static bool match_flag(const flag_ref_t *r, void *arg)
{
    flag_lookup_t *l = arg;
    if (!usage_has_name(r->f->usage, l->name, l->nl)) return false;
    l->found = *r;
    return true;
}

static opt_ftype_t flag_type(const flag_ref_t *r)
{
    if (r->f->ftype != FT_FROM_ROW) return r->f->ftype;
    switch (r->row->type) {
    case OT_BOOL:
        return FT_BOOL;
    case OT_INT:
        return FT_INT;
    case OT_STR:
        return FT_STR;
    default:
        return FT_INT64;
    }
}

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
        flag_lookup_t look = {name, nl, {0}};
        if (!each_flag(match_flag, &look)) {
            snprintf(err, errlen, "flag provided but not defined: -%.*s", (int)nl, name);
            return -1;
        }
        const flag_ref_t *fd = &look.found;
        opt_ftype_t ft = flag_type(fd);
        char vq[512];
        if (ft == FT_BOOL) {
            bool b = true;
            if (value && !parse_go_bool(value, &b)) {
                quote_go_str(vq, sizeof(vq), value);
                snprintf(err, errlen, "invalid boolean value %s for -%.*s: parse error", vq,
                         (int)nl, name);
                return -1;
            }
            fv->b[fd->slot] = b;
        } else {
            if (!value && i < n) value = args[i++];
            if (!value) {
                snprintf(err, errlen, "flag needs an argument: -%.*s", (int)nl, name);
                return -1;
            }
            if (ft == FT_STR) {
                fv->s[fd->slot] = value;
            } else {
                int64_t v = 0;
                const char *e = parse_go_int(value, &v);
                if (!e && ft == FT_INT && (v > INT_MAX || v < INT_MIN)) e = "value out of range";
                if (e) {
                    quote_go_str(vq, sizeof(vq), value);
                    snprintf(err, errlen, "invalid value %s for flag -%.*s: %s", vq, (int)nl, name,
                             e);
                    return -1;
                }
                fv->i[fd->slot] = v;
            }
        }
        fv->set[fd->slot] = true;
    }
    if (i < n) fv->first_pos = i;
    return 0;
}

typedef struct apply_flag_ctx {
    const flagvals_t *fv;
    opts_t *o;
} apply_flag_ctx_t;

/* A given option flag overwrites the option's field. */
static bool apply_option_flag(const flag_ref_t *r, void *arg)
{
    apply_flag_ctx_t *ac = arg;
    int s = r->slot;
    if (!r->row || !ac->fv->set[s]) return false;
    void *f = (char *)ac->o + r->row->off;
    switch (r->row->type) {
    case OT_BOOL:
        *(bool *)f = ac->fv->b[s];
        break;
    case OT_INT:
        *(int *)f = (int)ac->fv->i[s];
        break;
    case OT_I64:
    case OT_DUR:
        *(int64_t *)f = ac->fv->i[s];
        break;
    case OT_STR:
        set_str_nonempty(f, ac->fv->s[s]);
        break;
    case OT_NONE:
        break;
    }
    return false;
}

/* Second pass of the reference: explicitly given flags overwrite whatever
 * the file said, then the flags with side effects are post-processed. */
int apply_flags(const flagvals_t *fv, opts_t *o, char *err, size_t errlen)
{
    apply_flag_ctx_t ac = {fv, o};
    each_flag(apply_option_flag, &ac);

    /* in the reference's Visit order (sorted names): DV, DVV, VV */
    if (fv->set[F_DV]) {
        o->debug = o->trace = fv->b[F_DV];
    }
    if (fv->set[F_DVV]) {
        o->debug = o->trace = o->trace_verbose = fv->b[F_DVV];
    }
    if (fv->set[F_VV]) {
        o->trace = o->trace_verbose = fv->b[F_VV];
    }
    if (fv->set[F_CLUSTER]) {
        if (override_cluster(o, fv->s[F_CLUSTER], err, errlen) != 0) return -1;
    }
    const char *routes = fv->set[F_ROUTES] ? fv->s[F_ROUTES] : NULL;
    if (fv->set[F_ROUTES]) {
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
        tls_free(&o->tls);
        o->tls.enabled = false;
    } else if (tls_override) {
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
    return 0;
}

/* ------------------------------------------------------------------------- */
/* usage, version, tls help                                                  */

/* -h: every flag's line, by section then rank. The help column starts at 37
 * (the reference's layout); a line too long for it keeps one space. */
#define HELP_COL 37

static const char *const section_names[] = {
    [OS_SERVER] = "Server Options",      [OS_LOGGING] = "Logging Options",
    [OS_AUTH] = "Authorization Options", [OS_TLS] = "TLS Options",
    [OS_CLUSTER] = "Cluster Options",    [OS_COMMON] = "Common Options",
};

typedef struct usage_pick {
    int section, after; /* the flag with the lowest rank above `after` */
    const opt_flag_t *best;
} usage_pick_t;

static bool pick_next(const flag_ref_t *r, void *arg)
{
    usage_pick_t *u = arg;
    if (r->f->section == u->section && r->f->rank > u->after &&
        (!u->best || r->f->rank < u->best->rank))
        u->best = r->f;
    return false;
}

void opts_usage_walk(void (*section)(void *arg, const char *title),
                     void (*flag)(void *arg, const char *usage, const char *help), void *arg)
{
    for (int s = OS_SERVER; s <= OS_COMMON; s++) {
        section(arg, section_names[s]);
        usage_pick_t u = {s, 0, NULL};
        for (;;) {
            u.best = NULL;
            each_flag(pick_next, &u);
            if (!u.best) break;
            flag(arg, u.best->usage, u.best->help);
            u.after = u.best->rank;
        }
    }
}

typedef struct usage_out {
    FILE *out;
    bool first;
} usage_out_t;

static void print_section(void *arg, const char *title)
{
    usage_out_t *u = arg;
    if (!u->first) fputc('\n', u->out);
    u->first = false;
    fprintf(u->out, "%s:\n", title);
}

static void print_flag_line(void *arg, const char *usage, const char *help)
{
    FILE *out = ((usage_out_t *)arg)->out;
    fprintf(out, "    %s", usage);
    const char *nl = strrchr(usage, '\n');
    int col = nl ? (int)strlen(nl + 1) : 4 + (int)strlen(usage);
    fprintf(out, "%*s", col < HELP_COL ? HELP_COL - col : 1, "");
    for (const char *h = help; *h; h++) {
        fputc(*h, out);
        if (*h == '\n') fprintf(out, "%*s", HELP_COL, "");
    }
    fputc('\n', out);
}

void opts_print_usage(FILE *out, const char *prog)
{
    fprintf(out, "\nUsage: %s [options]\n\n", prog);
    usage_out_t u = {out, true};
    opts_usage_walk(print_section, print_flag_line, &u);
    /* below the reference's text, which stays as it is: which server this is */
    fprintf(out, "\n%s, compatible with nats-server %s\n\n", gnatsd_c_ident(), SERVER_VERSION);
    fflush(out);
}
