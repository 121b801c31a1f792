/* gb_main.c: command line of gnatsd-bench, a NATS benchmark tool in the
 * spirit of `nats bench` (see bench/README.md).
 *
 *   gnatsd-bench MODE [options]     MODE: pub sub pubsub queue reqrep conns subs
 *
 * Exit status: 0 when every expected message arrived and nothing failed,
 * 1 on loss, duplicates or errors, 2 on bad usage. */
#include "gb.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "gb_report.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gnatsd-bench MODE [options]\n"
            "\n"
            "modes:\n"
            "  pub      publishers only\n"
            "  sub      subscribers only; wait for --msgs from an external publisher\n"
            "  pubsub   publishers and fan-out subscribers (each gets every message)\n"
            "  queue    publishers and one queue group (the group gets every message once)\n"
            "  reqrep   sequential request/reply; --pub requesters, --sub responders;\n"
            "           latency percentiles\n"
            "  conns    open --conns connections with one SUB each, then one message each\n"
            "  subs     --subs subscriptions (1%% wildcards) on one connection, then publish\n"
            "           --msgs to random literal subjects\n"
            "  accounts --accounts accounts of --acc-conns connections importing one service\n"
            "           (--sub responders): connect rate, RSS per account (--pid), requests\n"
            "           through the imports, isolation; --write-config FILE writes the config\n"
            "\n"
            "options:\n"
            "  -s, --server URL     nats://[user:pass@]host:port (default nats://127.0.0.1:4222)\n"
            "  -p, --pub N          publishers / requesters (default 1)\n"
            "  -n, --sub N          subscribers / responders (default 1)\n"
            "  -z, --size BYTES     message payload size (default 128; k/m suffixes)\n"
            "  -m, --msgs N         total messages, split across publishers (default 100000)\n"
            "  -d, --duration SECS  stop publishing after SECS (no --msgs: unbounded count)\n"
            "  -S, --subject SUBJ   subject, or prefix in conns/subs (default gnatsd.bench)\n"
            "  -q, --queue NAME     queue group for queue/reqrep (default gnatsd-bench)\n"
            "  -c, --conns N        conns mode: connections (default 1000)\n"
            "  -M, --subs N         subs mode: subscriptions (default 10000)\n"
            "      --client ENGINE  raw (default: hand-tuned protocol client) or nats (libnats)\n"
            "      --batch BYTES    raw publishers: bytes per write (default 65536)\n"
            "      --timeout SECS   give up after SECS without progress (default 10)\n"
            "      --json           one JSON object per result on stdout (table on stderr)\n"
            "      --no-progress    no once-a-second progress lines on stderr\n"
            "      --accounts N     accounts mode: accounts (default 100)\n"
            "      --acc-conns N    accounts mode: connections per account (default 50)\n"
            "      --pid PID        accounts mode: the server's pid, for its RSS\n"
            "      --write-config F accounts mode: write the server's config to F (- = stdout)\n"
            "  -h, --help\n");
}

/* "16", "4k", "1m", "2M": suffixes are decimal for counts, binary for sizes */
static int parse_num(const char *s, bool binary, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return -1;
    double k = binary ? 1024.0 : 1000.0;
    switch (tolower((unsigned char)*end)) {
    case 'k':
        v *= k;
        end++;
        break;
    case 'm':
        v *= k * k;
        end++;
        break;
    case 'g':
        v *= k * k * k;
        end++;
        break;
    default:
        break;
    }
    if (*end || v > 1e15) return -1;
    *out = (uint64_t)v;
    return 0;
}

static int copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) return -1;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 0;
}

/* nats://[user[:pass]@]host[:port]; "user@" alone is a token */
static int parse_url(gb_cfg *cfg, const char *url)
{
    const char *p = strstr(url, "://"), *at, *hp, *colon;
    char tmp[512];
    if (p) {
        if (strncmp(url, "nats://", 7) != 0) {
            fprintf(stderr, "gnatsd-bench: only nats:// URLs are supported\n");
            return -1;
        }
        p += 3;
    } else {
        p = url;
    }
    snprintf(cfg->url, sizeof(cfg->url), "nats://%s", p);
    at = strrchr(p, '@');
    hp = p;
    if (at) {
        const char *c = memchr(p, ':', (size_t)(at - p));
        if (c) {
            if (copy(cfg->user, sizeof(cfg->user), p, (size_t)(c - p)) < 0 ||
                copy(cfg->pass, sizeof(cfg->pass), c + 1, (size_t)(at - c - 1)) < 0)
                return -1;
        } else if (copy(cfg->token, sizeof(cfg->token), p, (size_t)(at - p)) < 0) {
            return -1;
        }
        hp = at + 1;
    }
    if (copy(tmp, sizeof(tmp), hp, strcspn(hp, "/")) < 0) return -1;
    if (tmp[0] == '[') { /* [v6]:port */
        char *rb = strchr(tmp, ']');
        if (!rb) return -1;
        if (copy(cfg->host, sizeof(cfg->host), tmp + 1, (size_t)(rb - tmp - 1)) < 0) return -1;
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = strrchr(tmp, ':');
        if (copy(cfg->host, sizeof(cfg->host), tmp, colon ? (size_t)(colon - tmp) : strlen(tmp)) <
            0)
            return -1;
    }
    snprintf(cfg->port, sizeof(cfg->port), "%s", colon && colon[1] ? colon + 1 : "4222");
    if (!cfg->host[0]) snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&gb_interrupted, 1);
}

static const char *mode_names[] = {"pub",    "sub",   "pubsub", "queue",
                                   "reqrep", "conns", "subs",   "accounts"};
#define NMODES (int)(sizeof mode_names / sizeof mode_names[0])

int main(int argc, char **argv)
{
    enum {
        O_CLIENT = 256,
        O_BATCH,
        O_TIMEOUT,
        O_JSON,
        O_NOPROGRESS,
        O_ACCOUNTS,
        O_ACC_CONNS,
        O_PID,
        O_WRITE_CONFIG
    };
    const char *write_config = NULL;
    static const struct option longopts[] = {{"server", required_argument, 0, 's'},
                                             {"pub", required_argument, 0, 'p'},
                                             {"sub", required_argument, 0, 'n'},
                                             {"size", required_argument, 0, 'z'},
                                             {"msgs", required_argument, 0, 'm'},
                                             {"duration", required_argument, 0, 'd'},
                                             {"subject", required_argument, 0, 'S'},
                                             {"queue", required_argument, 0, 'q'},
                                             {"conns", required_argument, 0, 'c'},
                                             {"subs", required_argument, 0, 'M'},
                                             {"client", required_argument, 0, O_CLIENT},
                                             {"batch", required_argument, 0, O_BATCH},
                                             {"timeout", required_argument, 0, O_TIMEOUT},
                                             {"json", no_argument, 0, O_JSON},
                                             {"no-progress", no_argument, 0, O_NOPROGRESS},
                                             {"accounts", required_argument, 0, O_ACCOUNTS},
                                             {"acc-conns", required_argument, 0, O_ACC_CONNS},
                                             {"pid", required_argument, 0, O_PID},
                                             {"write-config", required_argument, 0, O_WRITE_CONFIG},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    gb_cfg cfg;
    bool msgs_set = false;
    uint64_t v;
    int opt, mode = -1;

    memset(&cfg, 0, sizeof(cfg));
    cfg.npub = 1;
    cfg.nsub = 1;
    cfg.size = 128;
    cfg.msgs = 100000;
    cfg.timeout = 10;
    cfg.conns = 1000;
    cfg.subs = 10000;
    cfg.accounts = 100;
    cfg.acc_conns = 50;
    cfg.batch = 65536;
    cfg.progress = true;
    snprintf(cfg.subject, sizeof(cfg.subject), "gnatsd.bench");
    snprintf(cfg.queue, sizeof(cfg.queue), "gnatsd-bench");
    parse_url(&cfg, "nats://127.0.0.1:4222");

    while ((opt = getopt_long(argc, argv, "s:p:n:z:m:d:S:q:c:M:h", longopts, NULL)) != -1) {
        bool bad = false;
        switch (opt) {
        case 's':
            bad = parse_url(&cfg, optarg) < 0;
            break;
        case 'p':
            bad = parse_num(optarg, false, &v) < 0 || v > 10000;
            cfg.npub = (int)v;
            break;
        case 'n':
            bad = parse_num(optarg, false, &v) < 0 || v > 10000;
            cfg.nsub = (int)v;
            break;
        case 'z':
            bad = parse_num(optarg, true, &v) < 0 || v > 64 * 1024 * 1024;
            cfg.size = (size_t)v;
            break;
        case 'm':
            bad = parse_num(optarg, false, &v) < 0;
            cfg.msgs = v;
            msgs_set = true;
            break;
        case 'd':
            cfg.duration = strtod(optarg, NULL);
            bad = cfg.duration <= 0;
            break;
        case 'S':
            bad = !optarg[0] || strpbrk(optarg, " \t\r\n") ||
                  snprintf(cfg.subject, sizeof(cfg.subject), "%s", optarg) >= 150;
            break;
        case 'q':
            bad = !optarg[0] || strpbrk(optarg, " \t\r\n") ||
                  snprintf(cfg.queue, sizeof(cfg.queue), "%s", optarg) >= (int)sizeof(cfg.queue);
            break;
        case 'c':
            bad = parse_num(optarg, false, &v) < 0 || v < 1 || v > 1000000;
            cfg.conns = (int)v;
            break;
        case 'M':
            bad = parse_num(optarg, false, &v) < 0 || v < 1 || v > 100000000;
            cfg.subs = (int)v;
            break;
        case O_CLIENT:
            if (!strcmp(optarg, "raw"))
                cfg.engine = GB_RAW;
            else if (!strcmp(optarg, "nats") || !strcmp(optarg, "libnats"))
                cfg.engine = GB_NATS;
            else
                bad = true;
            break;
        case O_BATCH:
            bad = parse_num(optarg, true, &v) < 0 || v < 1 || v > 64 * 1024 * 1024;
            cfg.batch = (size_t)v;
            break;
        case O_TIMEOUT:
            cfg.timeout = strtod(optarg, NULL);
            bad = cfg.timeout <= 0;
            break;
        case O_JSON:
            cfg.json = true;
            break;
        case O_ACCOUNTS:
            bad = parse_num(optarg, false, &v) < 0 || v < 1 || v > 100000;
            cfg.accounts = (int)v;
            break;
        case O_ACC_CONNS:
            bad = parse_num(optarg, false, &v) < 0 || v < 2 || v > 100000;
            cfg.acc_conns = (int)v;
            break;
        case O_PID:
            bad = parse_num(optarg, false, &v) < 0 || v < 1 || v > 0x7fffffff;
            cfg.server_pid = (int)v;
            break;
        case O_WRITE_CONFIG:
            write_config = optarg;
            break;
        case O_NOPROGRESS:
            cfg.progress = false;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "gnatsd-bench: bad value for -%c: %s\n", opt < 256 ? opt : '-', optarg);
            return 2;
        }
    }
    /* GNU getopt moves the mode word behind the options, wherever it was */
    for (int m = 0; optind == argc - 1 && m < NMODES; m++)
        if (!strcmp(argv[optind], mode_names[m])) mode = m;
    if (mode < 0) {
        usage(stderr);
        return 2;
    }
    cfg.mode = (enum gb_mode)mode;
    if (write_config) {
        if (cfg.mode != GB_ACCOUNTS) {
            fprintf(stderr, "gnatsd-bench: --write-config is for accounts mode\n");
            return 2;
        }
        FILE *f = strcmp(write_config, "-") == 0 ? stdout : fopen(write_config, "w");
        int wrc = f ? gb_accounts_config(&cfg, f) : -1;
        if (f && f != stdout && fclose(f) != 0) wrc = -1;
        if (wrc < 0) fprintf(stderr, "gnatsd-bench: cannot write %s\n", write_config);
        return wrc < 0 ? 1 : 0;
    }
    if (cfg.duration > 0 && !msgs_set)
        cfg.msgs = UINT64_MAX; /* the duration alone bounds the run */
    if ((cfg.mode == GB_CONNS || cfg.mode == GB_SUBS || cfg.mode == GB_ACCOUNTS) &&
        cfg.engine == GB_NATS) {
        /* libnats starts threads per connection: 1000s of them would measure the client */
        fprintf(stderr, "gnatsd-bench: %s mode supports only --client raw\n", mode_names[mode]);
        return 2;
    }
    if (cfg.mode == GB_SUB && cfg.msgs == UINT64_MAX && cfg.duration <= 0) {
        fprintf(stderr, "gnatsd-bench: sub mode needs --msgs or --duration\n");
        return 2;
    }
    if ((cfg.npub < 1 && cfg.mode != GB_SUB) ||
        (cfg.nsub < 1 && cfg.mode != GB_PUB && cfg.mode != GB_SUBS)) {
        fprintf(stderr, "gnatsd-bench: %s mode needs at least one client per role\n",
                mode_names[mode]);
        return 2;
    }

    /* conns mode needs one descriptor per connection */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = cfg.mode == GB_CONNS      ? gb_raw_conns(&cfg)
             : cfg.mode == GB_ACCOUNTS ? gb_accounts_run(&cfg)
                                       : gb_run(&cfg);
    gb_table(&cfg);
    if (cfg.engine == GB_NATS) gb_nats_shutdown();
    return rc;
}
