/* test_opts.c: command-line parsing (Go flag rules), config application,
 * precedence, error/warning texts and positions, -t, reload, and -sl. */
#include "app/signal_cmd.h"
#include "base/common.h"
#include "base/gofmt.h"
#include "base/version.h"
#include "conf/opts.h"
#include "conf/opts_table.h"
#include "test.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[64];
static int nconf;

/* Writes text to a fresh file in the test dir; returns its path (static buffer ring). */
static const char *write_conf(const char *text)
{
    static char paths[8][128];
    char *p = paths[nconf % 8];
    snprintf(p, 128, "%s/c%d.conf", tmpdir, nconf++);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

typedef struct run {
    opts_t o;
    opts_cli_t cli;
    opts_action_t a;
    char *out, *err;
} run_t;

/* Runs opts_from_args_io on a NULL-terminated argument list (argv[0] = prog). */
static void run_v(run_t *r, const char *prog, va_list ap)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)prog;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL)
        argv[argc++] = (char *)a;
    argv[argc] = NULL;
    size_t no, ne;
    FILE *out = open_memstream(&r->out, &no);
    FILE *err = open_memstream(&r->err, &ne);
    r->a = opts_from_args_io(argc, argv, &r->o, &r->cli, out, err);
    fclose(out);
    fclose(err);
}

static void run(run_t *r, ...)
{
    va_list ap;
    va_start(ap, r);
    run_v(r, "/usr/sbin/nats-server", ap);
    va_end(ap);
}

static void run_prog(run_t *r, const char *prog, ...)
{
    va_list ap;
    va_start(ap, prog);
    run_v(r, prog, ap);
    va_end(ap);
}

static void done(run_t *r)
{
    opts_free(&r->o);
    free(r->cli.signal_cmd);
    free(r->out);
    free(r->err);
}

/* Loads a config text with optional extra flags; returns the action. */
static opts_action_t load(run_t *r, const char *text)
{
    run(r, "-c", write_conf(text), NULL);
    return r->a;
}

static bool contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        if (!contains((hay), (needle))) {                                                          \
            fprintf(stderr, "  %s:%d: \"%s\" not found in:\n%s\n", __FILE__, __LINE__, (needle),   \
                    (hay) ? (hay) : "(null)");                                                     \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------------- */

TEST(defaults)
{
    opts_t o;
    opts_defaults(&o);
    CHECK_EQ_INT(o.port, 4222);
    CHECK_EQ_STR(o.host, "0.0.0.0");
    CHECK(o.logtime);
    CHECK(!o.debug && !o.trace);
    CHECK_EQ_INT(o.max_payload, 1048576);
    CHECK_EQ_INT(o.max_control_line, 4096);
    CHECK_EQ_INT(o.max_pending, 67108864);
    CHECK_EQ_INT(o.max_connections, 65536);
    CHECK_EQ_INT(o.ping_interval_ns, 120LL * 1000000000LL);
    CHECK_EQ_INT(o.ping_max, 2);
    CHECK_EQ_INT(o.write_deadline_ns, 10LL * 1000000000LL);
    CHECK_EQ_INT(opts_auth_timeout_ns(&o), 2LL * 1000000000LL);
    o.tls.enabled = true;
    CHECK_EQ_INT(opts_auth_timeout_ns(&o), 3LL * 1000000000LL);
    o.auth_timeout_ns = 5;
    CHECK_EQ_INT(opts_auth_timeout_ns(&o), 5);
    opts_free(&o);
}

TEST(flag_forms)
{
    run_t r;
    run(&r, "-p", "4333", "--addr=127.0.0.1", "-D", "--trace", "-T=false", "--workers", "3", NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK_EQ_INT(r.o.port, 4333);
    CHECK_EQ_STR(r.o.host, "127.0.0.1");
    CHECK(r.o.debug && r.o.trace && !r.o.logtime);
    CHECK_EQ_INT(r.o.workers, 3);
    done(&r);

    run(&r, "--port=5000", "-p=5001", "-net", "::1", "-m", "8222", "-ms=8443", "-n", "srv",
        "--client_advertise", "x:1", "-P", "/tmp/p", "--ports_file_dir", "/tmp", NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK_EQ_INT(r.o.port, 5001); /* last alias wins */
    CHECK_EQ_STR(r.o.host, "::1");
    CHECK_EQ_INT(r.o.http_port, 8222);
    CHECK_EQ_INT(r.o.https_port, 8443);
    CHECK_EQ_STR(r.o.server_name, "srv");
    CHECK_EQ_STR(r.o.client_advertise, "x:1");
    CHECK_EQ_STR(r.o.pid_file, "/tmp/p");
    CHECK_EQ_STR(r.o.ports_file_dir, "/tmp");
    done(&r);

    run(&r, "-DV", NULL);
    CHECK(r.o.debug && r.o.trace && !r.o.trace_verbose);
    done(&r);
    run(&r, "-VV", NULL);
    CHECK(!r.o.debug && r.o.trace && r.o.trace_verbose);
    done(&r);
    run(&r, "-DVV", NULL);
    CHECK(r.o.debug && r.o.trace && r.o.trace_verbose);
    done(&r);

    run(&r, "-l", "/tmp/x.log", "--log_size_limit", "0x100", "-s", "-r", "udp://h:514",
        "--max_traced_msg_len", "10", "--user", "u", "--pass", "p", NULL);
    CHECK_EQ_STR(r.o.log_file, "/tmp/x.log");
    CHECK_EQ_INT(r.o.log_size_limit, 256);
    CHECK(r.o.syslog);
    CHECK_EQ_STR(r.o.remote_syslog, "udp://h:514");
    CHECK_EQ_INT(r.o.max_traced_msg_len, 10);
    CHECK_EQ_STR(r.o.username, "u");
    CHECK_EQ_STR(r.o.password, "p");
    done(&r);

    run(&r, "--auth", "tok", NULL);
    CHECK_EQ_STR(r.o.token, "tok");
    done(&r);

    /* "--" ends the flags; what follows is positional */
    run(&r, "-D", "--", "-p", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_FAIL);
    CHECK_EQ_STR(r.err, "nats-server: unrecognized command: \"-p\"\n");
    done(&r);
}

TEST(flag_errors)
{
    run_t r;
    run(&r, "-VD", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_OK);
    CHECK_EQ_STR(r.err, "flag provided but not defined: -VD\n");
    CHECK(strncmp(r.out, "\nUsage: nats-server [options]\n\nServer Options:\n", 47) == 0);
    done(&r);

    run(&r, "-p", "abc", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_OK);
    CHECK_EQ_STR(r.err, "invalid value \"abc\" for flag -p: parse error\n");
    CHECK_CONTAINS(r.out, "Usage:");
    done(&r);

    run(&r, "--port", "99999999999999999999", NULL);
    CHECK_EQ_STR(r.err,
                 "invalid value \"99999999999999999999\" for flag -port: value out of range\n");
    done(&r);

    run(&r, "-sl", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_OK);
    CHECK_EQ_STR(r.err, "flag needs an argument: -sl\n");
    done(&r);

    run(&r, "-D=x", NULL);
    CHECK_EQ_STR(r.err, "invalid boolean value \"x\" for -D: parse error\n");
    done(&r);

    run(&r, "---x", NULL);
    CHECK_EQ_STR(r.err, "bad flag syntax: ---x\n");
    done(&r);

    /* bool flags take no separate value */
    run(&r, "--no_advertise", "false", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_FAIL);
    CHECK_EQ_STR(r.err, "nats-server: unrecognized command: \"false\"\n");
    done(&r);

    run(&r, "--no_advertise=false", NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK(!r.o.cluster.no_advertise);
    done(&r);

    /* out-of-scope 2.9 flags are unknown here */
    run(&r, "-js", NULL);
    CHECK_EQ_STR(r.err, "flag provided but not defined: -js\n");
    done(&r);
}

TEST(version_help)
{
    run_t r;
    run(&r, "-v", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_OK);
    CHECK_EQ_STR(r.out, "nats-server: v2.9.10\n");
    done(&r);
    run_prog(&r, "./build/gnatsd", "VERSION", NULL);
    CHECK_EQ_STR(r.out, "nats-server: v2.9.10\n"); /* whatever the binary is called */
    CHECK_EQ_STR(r.cli.prog, "gnatsd");
    done(&r);
    run(&r, "--help", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_OK);
    CHECK_CONTAINS(r.out,
                   "    -p, --port <port>                Use port for clients (default: 4222)\n");
    CHECK_CONTAINS(r.out, "        --workers <n>                Worker threads");
    CHECK_CONTAINS(r.out,
                   "Common Options:\n    -h, --help                       Show this message\n");
    size_t n = strlen(r.out);
    CHECK(n > 2 && strcmp(r.out + n - 2, "\n\n") == 0);
    done(&r);
    run(&r, "help", NULL);
    CHECK_CONTAINS(r.out, "Usage: nats-server [options]");
    done(&r);
    run(&r, "--help_tls", NULL);
    CHECK_CONTAINS(r.out, "Available cipher suites include:\n");
    CHECK_CONTAINS(r.out, "    CurveP521\n");
    done(&r);
    run(&r, "foo", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_FAIL);
    CHECK_EQ_STR(r.err, "nats-server: unrecognized command: \"foo\"\n");
    done(&r);
}

/* -h is printed from the option rows; this is the text the hand-written
 * usage had (the reference's), byte for byte. */
static const char want_usage[] =
    "\nUsage: nats-server [options]\n\n"
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

TEST(usage_text)
{
    run_t r;
    run(&r, "-h", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_OK);
    /* the reference's text, then one line naming this build (base/version.h) */
    char want[sizeof want_usage + 256];
    snprintf(want, sizeof want, "%s%s, compatible with nats-server %s\n\n", want_usage,
             gnatsd_c_ident(), SERVER_VERSION);
    CHECK_EQ_STR(r.out, want);
    done(&r);
}

/* The reload refusal walks the option table: the first refused change in
 * table order, formatted by the option's type. */
TEST(reload_refusal)
{
    opts_t a, b;
    char buf[512];
    opts_defaults(&a);
    opts_defaults(&b);
    CHECK(opts_reload_refusal(&a, &b, buf, sizeof buf) == NULL);
    b.port = 4223;
    b.lame_duck_duration_ns = 60LL * 1000000000LL;
    CHECK_EQ_STR(opts_reload_refusal(&a, &b, buf, sizeof buf),
                 "config reload not supported for Port: old=4222, new=4223");
    b.port = a.port;
    CHECK_EQ_STR(opts_reload_refusal(&a, &b, buf, sizeof buf),
                 "config reload not supported for LameDuckDuration: old=2m0s, new=1m0s");
    b.lame_duck_duration_ns = a.lame_duck_duration_ns;
    b.no_auth_user = strdup("bob");
    CHECK_EQ_STR(opts_reload_refusal(&a, &b, buf, sizeof buf),
                 "config reload not supported for NoAuthUser: old=, new=bob");
    free(b.no_auth_user);
    b.no_auth_user = NULL;
    b.tls.verify_and_map = true;
    CHECK_EQ_STR(opts_reload_refusal(&a, &b, buf, sizeof buf),
                 "config reload not supported for TLSMap: old=false, new=true");
    b.tls.verify_and_map = false;
    b.cluster.port = 6222;
    CHECK_EQ_STR(opts_reload_refusal(&a, &b, buf, sizeof buf),
                 "config reload not supported for cluster host: old=, new=");
    a.cluster.port = 6333;
    CHECK_EQ_STR(opts_reload_refusal(&a, &b, buf, sizeof buf),
                 "config reload not supported for cluster port: old=6333, new=6222");
    /* reloadable options are not refused */
    b.cluster.port = a.cluster.port;
    b.debug = true;
    b.max_payload = 5;
    CHECK(opts_reload_refusal(&a, &b, buf, sizeof buf) == NULL);
    opts_free(&a);
    opts_free(&b);
}

TEST(signal_flag)
{
    run_t r;
    run(&r, "-sl", "reload=123", "-c", "/nonexistent", NULL);
    CHECK_EQ_INT(r.a, OPTS_SIGNAL);
    CHECK_EQ_STR(r.cli.signal_cmd, "reload=123");
    done(&r);
    run(&r, "--signal=ldm", NULL);
    CHECK_EQ_INT(r.a, OPTS_SIGNAL);
    CHECK_EQ_STR(r.cli.signal_cmd, "ldm");
    done(&r);
}

TEST(check_config)
{
    run_t r;
    run(&r, "-t", NULL);
    CHECK_EQ_INT(r.a, OPTS_CHECK_CONFIG);
    CHECK_EQ_INT(r.cli.exit_code, 1);
    CHECK_EQ_STR(r.err, "nats-server: must specify [-c, --config] option to check configuration "
                        "file syntax\n");
    done(&r);

    const char *good = write_conf("port: 4999\n");
    run(&r, "-t", "-c", good, NULL);
    CHECK_EQ_INT(r.a, OPTS_CHECK_CONFIG);
    CHECK_EQ_INT(r.cli.exit_code, 0);
    char want[1024];
    snprintf(want, sizeof(want), "nats-server: configuration file %s is valid\n", good);
    CHECK_EQ_STR(r.err, want);
    done(&r);

    /* warnings make -t fail; output: warnings first, then errors, blank line */
    const char *bad = write_conf("zz: 1\nping_interval: 5\nport: \"abc\"\n");
    run(&r, "-t", "-c", bad, NULL);
    CHECK_EQ_INT(r.cli.exit_code, 1);
    snprintf(want, sizeof(want),
             "nats-server: %s:2:1: invalid use of field \"ping_interval\": ping_interval should "
             "be converted to a duration\n%s:1:0: unknown field \"zz\"\n%s:3:1: interface "
             "conversion: interface {} is string, not int64\n\n",
             bad, bad, bad);
    CHECK_EQ_STR(r.err, want);
    done(&r);

    run(&r, "-t", "-c", "/nonexistent/x.conf", NULL);
    CHECK_EQ_INT(r.cli.exit_code, 1);
    CHECK_EQ_STR(r.err, "nats-server: open /nonexistent/x.conf: no such file or directory\n");
    done(&r);
}

TEST(warnings_without_t)
{
    run_t r;
    const char *f = write_conf("ping_interval: 5\nwrite_deadline: 3\n");
    run(&r, "-c", f, NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK_EQ_INT(r.o.ping_interval_ns, 5LL * 1000000000LL);
    CHECK_EQ_INT(r.o.write_deadline_ns, 3LL * 1000000000LL);
    CHECK_EQ_INT(r.o.nwarnings, 2);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:1:0: invalid use of field \"ping_interval\": ping_interval should be converted "
             "to a duration\n%s:2:1: invalid use of field \"write_deadline\": write_deadline "
             "should be converted to a duration\n",
             f, f);
    CHECK_EQ_STR(r.err, want);
    done(&r);

    /* errors: first line prefixed, exit 1 */
    f = write_conf("port: 1\n  bogus: 2\n");
    run(&r, "-c", f, NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_FAIL);
    snprintf(want, sizeof(want), "nats-server: %s:2:3: unknown field \"bogus\"\n\n", f);
    CHECK_EQ_STR(r.err, want);
    done(&r);
}

TEST(precedence)
{
    run_t r;
    const char *f = write_conf("port: 5000\ndebug: true\nlogtime: false\nhost: 10.0.0.1\n");
    run(&r, "-c", f, "-p", "6000", "-D=false", NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK_EQ_INT(r.o.port, 6000);
    CHECK(!r.o.debug);   /* explicit false flag beats the file */
    CHECK(!r.o.logtime); /* file honoured when no -T */
    CHECK_EQ_STR(r.o.host, "10.0.0.1");
    CHECK_EQ_STR(r.o.config_file, f);
    done(&r);

    /* flag before -c still wins */
    run(&r, "-p", "6001", "-c", f, NULL);
    CHECK_EQ_INT(r.o.port, 6001);
    done(&r);

    /* port 0 means default */
    f = write_conf("port: 0\n");
    run(&r, "-c", f, NULL);
    CHECK_EQ_INT(r.o.port, 4222);
    done(&r);
}

TEST(top_level_keys)
{
    run_t r;
    const char *text = "listen: \"127.0.0.1:4333\"\n"
                       "server_name: n1\n"
                       "client_advertise: \"adv:1\"\n"
                       "http: 8222\n"
                       "https_port: 8443\n"
                       "http_base_path: /mon\n"
                       "debug: true\n"
                       "trace_verbose: true\n"
                       "logtime: false\n"
                       "log_file: /tmp/l.log\n"
                       "logfile_size_limit: 1MB\n"
                       "syslog: true\n"
                       "remote_syslog: \"udp://h:1\"\n"
                       "pidfile: /tmp/p.pid\n"
                       "ports_file_dir: /tmp\n"
                       "max_connections: 10\n"
                       "max_subs: 5\n"
                       "max_control_line: 2048\n"
                       "max_payload: 2MB\n"
                       "max_pending: 10MB\n"
                       "ping_interval: \"1m30s\"\n"
                       "ping_max: 4\n"
                       "write_deadline: \"500ms\"\n"
                       "lame_duck_duration: \"1m\"\n"
                       "lame_duck_grace_period: \"5s\"\n"
                       "max_traced_msg_len: 33\n"
                       "no_header_support: true\n"
                       "disable_sublist_cache: true\n"
                       "max_sub_tokens: 10\n"
                       "no_sys_acc: true\n"
                       "allow_non_tls: true\n"
                       "connect_error_reports: 7\n"
                       "reconnect_error_reports: 8\n";
    CHECK_EQ_INT(load(&r, text), OPTS_RUN);
    CHECK_EQ_STR(r.err, "");
    CHECK_EQ_STR(r.o.host, "127.0.0.1");
    CHECK_EQ_INT(r.o.port, 4333);
    CHECK_EQ_STR(r.o.server_name, "n1");
    CHECK_EQ_STR(r.o.client_advertise, "adv:1");
    CHECK_EQ_INT(r.o.http_port, 8222);
    CHECK_EQ_STR(r.o.http_host, "127.0.0.1"); /* defaults to the client host */
    CHECK_EQ_INT(r.o.https_port, 8443);
    CHECK_EQ_STR(r.o.http_base_path, "/mon");
    CHECK(r.o.debug && r.o.trace && r.o.trace_verbose && !r.o.logtime);
    CHECK_EQ_STR(r.o.log_file, "/tmp/l.log");
    CHECK_EQ_INT(r.o.log_size_limit, 1048576);
    CHECK(r.o.syslog);
    CHECK_EQ_STR(r.o.remote_syslog, "udp://h:1");
    CHECK_EQ_STR(r.o.pid_file, "/tmp/p.pid");
    CHECK_EQ_STR(r.o.ports_file_dir, "/tmp");
    CHECK_EQ_INT(r.o.max_connections, 10);
    CHECK_EQ_INT(r.o.max_subscriptions, 5);
    CHECK_EQ_INT(r.o.max_control_line, 2048);
    CHECK_EQ_INT(r.o.max_payload, 2097152);
    CHECK_EQ_INT(r.o.max_pending, 10485760);
    CHECK_EQ_INT(r.o.ping_interval_ns, 90LL * 1000000000LL);
    CHECK_EQ_INT(r.o.ping_max, 4);
    CHECK_EQ_INT(r.o.write_deadline_ns, 500000000LL);
    CHECK_EQ_INT(r.o.lame_duck_duration_ns, 60LL * 1000000000LL);
    CHECK_EQ_INT(r.o.lame_duck_grace_ns, 5LL * 1000000000LL);
    CHECK_EQ_INT(r.o.max_traced_msg_len, 33);
    CHECK(r.o.no_header_support && r.o.disable_sublist_cache && r.o.no_sys_acc);
    CHECK(r.o.allow_non_tls);
    CHECK_EQ_INT(r.o.max_sub_tokens, 10);
    CHECK_EQ_INT(r.o.connect_error_reports, 7);
    CHECK_EQ_INT(r.o.reconnect_error_reports, 8);
    done(&r);

    /* aliases and case-insensitive keys */
    CHECK_EQ_INT(load(&r, "NET: 1.2.3.4\nPort: 1\nmonitor_port: 9\nmax_conn: 3\nlogfile: a\n"),
                 OPTS_RUN);
    CHECK_EQ_STR(r.o.host, "1.2.3.4");
    CHECK_EQ_INT(r.o.port, 1);
    CHECK_EQ_INT(r.o.http_port, 9);
    CHECK_EQ_INT(r.o.max_connections, 3);
    CHECK_EQ_STR(r.o.log_file, "a");
    done(&r);

    /* repeated key: last wins */
    CHECK_EQ_INT(load(&r, "port: 1\nport: 2\n"), OPTS_RUN);
    CHECK_EQ_INT(r.o.port, 2);
    done(&r);
}

TEST(listen_forms)
{
    run_t r;
    CHECK_EQ_INT(load(&r, "listen: 4444\n"), OPTS_RUN);
    CHECK_EQ_INT(r.o.port, 4444);
    CHECK_EQ_STR(r.o.host, "0.0.0.0");
    done(&r);
    CHECK_EQ_INT(load(&r, "listen: \"[::1]:4445\"\n"), OPTS_RUN);
    CHECK_EQ_STR(r.o.host, "::1");
    CHECK_EQ_INT(r.o.port, 4445);
    done(&r);
    CHECK_EQ_INT(load(&r, "http: \"127.0.0.2:8000\"\n"), OPTS_RUN);
    CHECK_EQ_STR(r.o.http_host, "127.0.0.2");
    CHECK_EQ_INT(r.o.http_port, 8000);
    done(&r);
    CHECK_EQ_INT(load(&r, "listen: localhost\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":1:0: could not parse address string \"localhost\"\n");
    done(&r);
    CHECK_EQ_INT(load(&r, "x: 1\nlisten: \"h:abc\"\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":2:1: could not parse port \"abc\"");
    done(&r);
    CHECK_EQ_INT(load(&r, "listen: true\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "expected port or host:port, got bool");
    done(&r);
}

TEST(durations)
{
    int64_t ns;
    char e[256], b[64];
    CHECK_EQ_INT(opts_parse_duration("2s", &ns, e, sizeof(e)), 0);
    CHECK_EQ_INT(ns, 2000000000LL);
    CHECK_EQ_INT(opts_parse_duration("1m30s", &ns, e, sizeof(e)), 0);
    CHECK_EQ_INT(ns, 90000000000LL);
    CHECK_EQ_INT(opts_parse_duration("1.5h", &ns, e, sizeof(e)), 0);
    CHECK_EQ_INT(ns, 5400000000000LL);
    CHECK_EQ_INT(opts_parse_duration("500ms", &ns, e, sizeof(e)), 0);
    CHECK_EQ_INT(ns, 500000000LL);
    CHECK_EQ_INT(opts_parse_duration("0", &ns, e, sizeof(e)), 0);
    CHECK_EQ_INT(ns, 0);
    CHECK_EQ_INT(opts_parse_duration("-1s", &ns, e, sizeof(e)), 0);
    CHECK_EQ_INT(ns, -1000000000LL);
    CHECK_EQ_INT(opts_parse_duration("10us", &ns, e, sizeof(e)), 0);
    CHECK_EQ_INT(ns, 10000);
    CHECK_EQ_INT(opts_parse_duration("abc", &ns, e, sizeof(e)), -1);
    CHECK_EQ_STR(e, "time: invalid duration \"abc\"");
    CHECK_EQ_INT(opts_parse_duration("2x", &ns, e, sizeof(e)), -1);
    CHECK_EQ_STR(e, "time: unknown unit \"x\" in duration \"2x\"");
    CHECK_EQ_INT(opts_parse_duration("5", &ns, e, sizeof(e)), -1);
    CHECK_EQ_STR(e, "time: missing unit in duration \"5\"");
    CHECK_EQ_INT(opts_parse_duration("", &ns, e, sizeof(e)), -1);

    go_duration(b, sizeof(b), 120LL * 1000000000LL);
    CHECK_EQ_STR(b, "2m0s");
    go_duration(b, sizeof(b), 3600LL * 1000000000LL);
    CHECK_EQ_STR(b, "1h0m0s");
    go_duration(b, sizeof(b), 5LL * 1000000000LL);
    CHECK_EQ_STR(b, "5s");
    go_duration(b, sizeof(b), 1500000000LL);
    CHECK_EQ_STR(b, "1.5s");
    go_duration(b, sizeof(b), 500000000LL);
    CHECK_EQ_STR(b, "500ms");
    go_duration(b, sizeof(b), 0);
    CHECK_EQ_STR(b, "0s");
    go_duration(b, sizeof(b), -90LL * 1000000000LL);
    CHECK_EQ_STR(b, "-1m30s");

    run_t r;
    CHECK_EQ_INT(load(&r, "lame_duck_duration: \"10s\"\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "invalid lame_duck_duration of 10s, minimum is 30 seconds");
    done(&r);
    CHECK_EQ_INT(load(&r, "lame_duck_duration: \"abc\"\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing lame_duck_duration: time: invalid duration \"abc\"");
    done(&r);
    CHECK_EQ_INT(load(&r, "lame_duck_grace_period: \"-1s\"\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "invalid lame_duck_grace_period, needs to be positive");
    done(&r);
    CHECK_EQ_INT(load(&r, "ping_interval: \"2x\"\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing ping_interval: time: unknown unit \"x\" in duration");
    done(&r);
}

TEST(limits_errors)
{
    run_t r;
    CHECK_EQ_INT(load(&r, "max_payload: 3000000000\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "max_payload value is too big");
    done(&r);
    CHECK_EQ_INT(load(&r, "max_sub_tokens: 300\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "max_sub_tokens value is too big");
    done(&r);
    CHECK_EQ_INT(load(&r, "max_sub_tokens: 0\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "max_sub_tokens value can not be negative");
    done(&r);
    CHECK_EQ_INT(load(&r, "server_name: 5\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":1:0: interface conversion: interface {} is int64, not string");
    done(&r);
    CHECK_EQ_INT(load(&r, "debug: \"true\"\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "interface {} is string, not bool");
    done(&r);

    /* cross-option validation is separate (main/reload call it) */
    CHECK_EQ_INT(load(&r, "max_payload: 100MB\n"), OPTS_RUN);
    char e[256];
    CHECK_EQ_INT(opts_validate(&r.o, e, sizeof(e)), -1);
    CHECK_EQ_STR(e, "max_payload (104857600) cannot be higher than max_pending (67108864)");
    done(&r);
    CHECK_EQ_INT(load(&r, "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"\n"),
                 OPTS_RUN);
    CHECK_EQ_INT(opts_validate(&r.o, e, sizeof(e)), -1);
    CHECK_EQ_STR(e, "lame duck grace period (30s) should be strictly lower than lame duck "
                    "duration (30s)");
    done(&r);
    CHECK_EQ_INT(load(&r, "no_auth_user: bob\n"), OPTS_RUN);
    CHECK_EQ_INT(opts_validate(&r.o, e, sizeof(e)), -1);
    CHECK_EQ_STR(e, "no_auth_user: \"bob\" present, but users are not defined");
    done(&r);
    CHECK_EQ_INT(load(&r, "no_auth_user: bob\nauthorization { users: [{user: al}] }\n"), OPTS_RUN);
    CHECK_EQ_INT(opts_validate(&r.o, e, sizeof(e)), -1);
    CHECK_EQ_STR(e, "no_auth_user: \"bob\" not present as user in authorization block or "
                    "account configuration");
    done(&r);
    CHECK_EQ_INT(load(&r, "no_auth_user: al\nauthorization { users: [{user: al}] }\n"), OPTS_RUN);
    CHECK_EQ_INT(opts_validate(&r.o, e, sizeof(e)), 0);
    done(&r);
}

TEST(auth_single_and_token)
{
    run_t r;
    CHECK_EQ_INT(load(&r, "authorization {\n  user: derek\n  password: s3cr3t\n  timeout: 5\n}\n"),
                 OPTS_RUN);
    CHECK_EQ_STR(r.o.username, "derek");
    CHECK_EQ_STR(r.o.password, "s3cr3t");
    CHECK_EQ_INT(r.o.auth_timeout_ns, 5LL * 1000000000LL);
    CHECK_EQ_INT(opts_auth_timeout_ns(&r.o), 5LL * 1000000000LL);
    done(&r);

    CHECK_EQ_INT(load(&r, "authorization { token: abc, timeout: 0.5 }\n"), OPTS_RUN);
    CHECK_EQ_STR(r.o.token, "abc");
    CHECK_EQ_INT(r.o.auth_timeout_ns, 500000000LL);
    done(&r);

    /* a non-number timeout silently means 1 second */
    CHECK_EQ_INT(load(&r, "authorization { token: abc, timeout: \"5s\" }\n"), OPTS_RUN);
    CHECK_EQ_INT(r.o.auth_timeout_ns, 1000000000LL);
    done(&r);

    /* flags override the file's single user */
    const char *f = write_conf("authorization { user: a, pass: b }\n");
    run(&r, "-c", f, "--user", "x", "--pass", "y", NULL);
    CHECK_EQ_STR(r.o.username, "x");
    CHECK_EQ_STR(r.o.password, "y");
    done(&r);

    CHECK_EQ_INT(load(&r, "authorization {\n user: a\n token: t\n}\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":1:0: Cannot have a user/pass and token");
    done(&r);
    CHECK_EQ_INT(load(&r, "\nauthorization { user: a, users: [] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":2:1: Can not have a single user/pass and a users array");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { token: a, users: [{user: b}] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Can not have a token and a users array");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { foo: 1 }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "unknown field \"foo\"");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization: 5\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "interface {} is int64, not map[string]interface {}");
    done(&r);
    /* empty users array enables nothing */
    CHECK_EQ_INT(load(&r, "authorization { users: [] }\n"), OPTS_RUN);
    CHECK_EQ_INT(r.o.nusers, 0);
    done(&r);
}

/* The seed README's authorization example. */
static const char readme_conf[] = "authorization {\n"
                                  "  ADMIN = {\n"
                                  "    publish = \">\"\n"
                                  "    subscribe = \">\"\n"
                                  "  }\n"
                                  "  REQUESTOR = {\n"
                                  "    publish = [\"req.foo\", \"req.bar\"]\n"
                                  "    subscribe = \"_INBOX.>\"\n"
                                  "  }\n"
                                  "  RESPONDER = {\n"
                                  "    subscribe = [\"req.foo\", \"req.bar\"]\n"
                                  "    publish = \"_INBOX.>\"\n"
                                  "  }\n"
                                  "  DEFAULT_PERMISSIONS = {\n"
                                  "    publish = \"SANDBOX.*\"\n"
                                  "    subscribe = [\"PUBLIC.>\", \"_INBOX.>\"]\n"
                                  "  }\n"
                                  "\n"
                                  "  PASS: abcdefghijklmnopqrstuvwxwz0123456789\n"
                                  "  users = [\n"
                                  "    {user: joe,     password: foo,   permissions: $ADMIN}\n"
                                  "    {user: alice,   password: bar,   permissions: $REQUESTOR}\n"
                                  "    {user: bob,     password: $PASS, permissions: $RESPONDER}\n"
                                  "    {user: charlie, password: bar}\n"
                                  "  ]\n"
                                  "}\n";

static const user_t *find_user(const opts_t *o, const char *name)
{
    for (size_t i = 0; i < o->nusers; i++)
        if (strcmp(o->users[i].name, name) == 0) return &o->users[i];
    return NULL;
}

TEST(auth_readme_users)
{
    run_t r;
    CHECK_EQ_INT(load(&r, readme_conf), OPTS_RUN);
    CHECK_EQ_STR(r.err, "");
    CHECK_EQ_INT(r.o.nusers, 4);
    const user_t *joe = find_user(&r.o, "joe");
    const user_t *alice = find_user(&r.o, "alice");
    const user_t *bob = find_user(&r.o, "bob");
    const user_t *charlie = find_user(&r.o, "charlie");
    CHECK(joe && alice && bob && charlie);
    if (!joe || !alice || !bob || !charlie) return done(&r);
    CHECK_EQ_STR(joe->password, "foo");
    CHECK(joe->perms && joe->perms->publish.nallow == 1);
    CHECK_EQ_STR(joe->perms->publish.allow[0], ">");
    CHECK(alice->perms && alice->perms->publish.nallow == 2);
    CHECK_EQ_STR(alice->perms->publish.allow[1], "req.bar");
    CHECK_EQ_STR(alice->perms->subscribe.allow[0], "_INBOX.>");
    CHECK_EQ_STR(bob->password, "abcdefghijklmnopqrstuvwxwz0123456789");
    CHECK_EQ_STR(bob->perms->publish.allow[0], "_INBOX.>");
    /* charlie inherits default_permissions (key matched case-insensitively) */
    CHECK(charlie->perms != NULL);
    if (charlie->perms) {
        CHECK_EQ_STR(charlie->perms->publish.allow[0], "SANDBOX.*");
        CHECK_EQ_INT(charlie->perms->subscribe.nallow, 2);
    }
    CHECK(r.o.default_perms != NULL);
    done(&r);
}

TEST(auth_users_errors)
{
    run_t r;
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a}, {user: a}] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Duplicate user \"a\" detected");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{password: a}] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "User entry requires a user");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: 5 }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Expected users field to be an array, got 5");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [x] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Expected user entry to be a map/struct, got x");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization {\n users: [\n  {user: a, foo: 1}\n ]\n}\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":3:13: unknown field \"foo\"");
    done(&r);
    /* an nkey that is not a user's public key: the reference's error at the entry */
    CHECK_EQ_INT(load(&r, "authorization { users: [{nkey: UABC}] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":1:25: Not a valid public nkey for a user");
    done(&r);

    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, username: b, pass: c, "
                          "allowed_connection_types: [\"STANDARD\", \"websocket\"]}, "
                          "{user: w, clients: WEBSOCKET}] }\n"),
                 OPTS_RUN);
    CHECK_EQ_INT(r.o.nusers, 2);
    CHECK_EQ_STR(r.o.users[0].name, "b");
    CHECK_EQ_STR(r.o.users[0].password, "c");
    CHECK(r.o.users[0].restrict_conn_types && r.o.users[0].allow_standard);
    CHECK(r.o.users[1].restrict_conn_types && !r.o.users[1].allow_standard);
    CHECK_EQ_STR(r.o.users[1].password, "");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, connection_types: [FOO]}] }\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "invalid connection types [\"FOO\"]");
    done(&r);
}

TEST(permissions_forms)
{
    run_t r;
    CHECK_EQ_INT(load(&r, "authorization { users: [\n"
                          " {user: a, permissions: {publish: {allow: [\"x.>\"], deny: \"x.y\"},"
                          " subscribe: {deny: [\"s\", \"q.* grp\"]}}}\n"
                          " {user: b, permissions: {pub: {}, sub: []}}\n"
                          " {user: c, permissions: {allow_responses: true}}\n"
                          " {user: d, permissions: {publish: \"p\", allow_responses: {max: 5, "
                          "expires: \"1m\"}}}\n"
                          "] }\n"),
                 OPTS_RUN);
    CHECK_EQ_STR(r.err, "");
    CHECK_EQ_INT(r.o.nusers, 4);
    if (r.o.nusers != 4) return done(&r);
    permissions_t *p = r.o.users[0].perms;
    CHECK(p && p->has_publish && p->publish.has_allow);
    CHECK_EQ_STR(p->publish.allow[0], "x.>");
    CHECK_EQ_STR(p->publish.deny[0], "x.y");
    CHECK(p->has_subscribe && !p->subscribe.has_allow);
    CHECK_EQ_INT(p->subscribe.ndeny, 2);
    CHECK_EQ_STR(p->subscribe.deny[1], "q.* grp");
    p = r.o.users[1].perms;
    CHECK(p && !p->has_publish); /* {} = no restriction */
    CHECK(!p->subscribe.has_allow && p->subscribe.nallow == 0);
    p = r.o.users[2].perms;
    CHECK(p && p->allow_responses && p->resp_max == 1);
    CHECK_EQ_INT(p->resp_expires_ns, 120LL * 1000000000LL);
    /* responses only: the blanket publish allow is turned off */
    CHECK(p->has_publish && p->publish.has_allow && p->publish.nallow == 0);
    p = r.o.users[3].perms;
    CHECK(p && p->allow_responses && p->resp_max == 5);
    CHECK_EQ_INT(p->resp_expires_ns, 60LL * 1000000000LL);
    CHECK_EQ_INT(p->publish.nallow, 1);
    done(&r);

    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, permissions: {pubx: a}}] }\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Unknown field \"pubx\" parsing permissions");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, permissions: {publish: "
                          "{allowed: a}}}] }\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Unknown field name \"allowed\" parsing subject permissions, only "
                          "'allow' or 'deny' are permitted");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, permissions: {publish: \"a..b\"}}] "
                          "}\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "subject \"a..b\" is not a valid subject");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, permissions: {publish: 5}}] }\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Expected subject permissions to be a subject, or array of subjects, "
                          "got int64");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, permissions: {publish: [true]}}] "
                          "}\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Subject in permissions array cannot be cast to string");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, permissions: a}] }\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Expected permissions to be a map/struct, got a");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, permissions: {allow_responses: "
                          "{expires: \"zz\"}}}] }\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing expires: time: invalid duration \"zz\"");
    done(&r);
    CHECK_EQ_INT(load(&r, "authorization { users: [{user: a, permissions: {allow_responses: "
                          "x}}] }\n"),
                 OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing response permissions, expected a boolean or a map");
    done(&r);
}

TEST(tls_block)
{
    run_t r;
    CHECK_EQ_INT(load(&r, "tls {\n cert_file: \"c.pem\"\n key_file: \"k.pem\"\n ca_file: ca.pem\n"
                          " verify: true\n timeout: 3\n"
                          " cipher_suites: [\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]\n"
                          " curve_preferences: [\"X25519\"]\n"
                          " pinned_certs: "
                          "[\"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"]\n"
                          " connection_rate_limit: 7\n}\n"),
                 OPTS_RUN);
    CHECK_EQ_STR(r.err, "");
    CHECK(r.o.tls.enabled && r.o.tls.verify && !r.o.tls.verify_and_map);
    CHECK_EQ_STR(r.o.tls.cert_file, "c.pem");
    CHECK_EQ_STR(r.o.tls.key_file, "k.pem");
    CHECK_EQ_STR(r.o.tls.ca_file, "ca.pem");
    CHECK_EQ_INT(r.o.tls.timeout_ns, 3LL * 1000000000LL);
    CHECK_EQ_INT(r.o.tls.ncipher_suites, 1);
    CHECK_EQ_INT(r.o.tls.ncurve_prefs, 1);
    CHECK_EQ_INT(r.o.tls.npinned_certs, 1);
    CHECK_EQ_STR(r.o.tls.pinned_certs[0],
                 "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    CHECK_EQ_INT(r.o.tls.connection_rate_limit, 7);
    CHECK_EQ_INT(opts_auth_timeout_ns(&r.o), 4LL * 1000000000LL);
    done(&r);

    CHECK_EQ_INT(load(&r, "tls { cert_file: c, key_file: k, timeout: \"1.5s\", verify_and_map: "
                          "true }\n"),
                 OPTS_RUN);
    CHECK_EQ_INT(r.o.tls.timeout_ns, 1500000000LL);
    CHECK(r.o.tls.verify && r.o.tls.verify_and_map);
    done(&r);

    CHECK_EQ_INT(load(&r, "tls { foo: 1 }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing tls config, unknown field [\"foo\"]");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { cert_file: 5 }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing tls config, expected 'cert_file' to be filename");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { verify: yes2 }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing tls config, expected 'verify' to be a boolean");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { cipher_suites: [FOO] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "unrecognized cipher FOO");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { curve_preferences: [\"P999\"] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "unrecognized curve preference P999");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { cipher_suites: [] }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing tls config, 'cipher_suites' cannot be empty");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { timeout: true }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "error parsing tls config, 'timeout' wrong type");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { cert_file: c }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":1:0: missing 'key_file' in TLS configuration");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { key_file: k }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "missing 'cert_file' in TLS configuration");
    done(&r);
    CHECK_EQ_INT(load(&r, "tls { verify_cert_and_check_known_urls: true }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "verify_cert_and_check_known_urls not supported in this context");
    done(&r);
}

TEST(tls_flags)
{
    run_t r;
    run(&r, "--tls", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_FAIL);
    CHECK_EQ_STR(r.err, "nats-server: TLS Server certificate must be present and valid\n");
    done(&r);
    run(&r, "--tlscert", "c", NULL);
    CHECK_EQ_STR(r.err, "nats-server: TLS Server private key must be present and valid\n");
    done(&r);
    run(&r, "--tlsverify", "--tlscert", "c", "--tlskey", "k", "--tlscacert", "ca", NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK(r.o.tls.enabled && r.o.tls.verify && r.o.tls_from_flags);
    CHECK_EQ_STR(r.o.tls.ca_file, "ca");
    done(&r);
    /* --tls=false disables a file's tls block, even with other tls flags */
    const char *f = write_conf("tls { cert_file: c, key_file: k }\n");
    run(&r, "-c", f, "--tls=false", "--tlscert", "z", NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK(!r.o.tls.enabled);
    CHECK(!r.o.tls.cert_file);
    done(&r);
}

TEST(cluster_block)
{
    run_t r;
    CHECK_EQ_INT(load(&r, "cluster {\n"
                          "  name: c1\n"
                          "  listen: \"127.0.0.1:6222\"\n"
                          "  authorization { user: ru, password: rp, timeout: 3 }\n"
                          "  routes: [\"nats-route://a:6223\", \"nats://b:6224\", "
                          "\"nats://b:6224\"]\n"
                          "  cluster_advertise: \"adv:6222\"\n"
                          "  no_advertise: true\n"
                          "  connect_retries: 4\n"
                          "  permissions { import: \"foo.>\", export: {deny: \"bar\"} }\n"
                          "  tls { cert_file: c, key_file: k, insecure: true }\n"
                          "}\n"),
                 OPTS_RUN);
    cluster_opts_t *c = &r.o.cluster;
    CHECK_EQ_STR(c->name, "c1");
    CHECK_EQ_STR(c->host, "127.0.0.1");
    CHECK_EQ_INT(c->port, 6222);
    CHECK_EQ_STR(c->user, "ru");
    CHECK_EQ_STR(c->password, "rp");
    CHECK_EQ_INT(c->auth_timeout_ns, 3LL * 1000000000LL);
    CHECK_EQ_INT(c->nroutes, 2);
    CHECK_EQ_STR(c->advertise, "adv:6222");
    CHECK(c->no_advertise);
    CHECK_EQ_INT(c->connect_retries, 4);
    CHECK(c->perms && c->perms->publish.nallow == 1 && c->perms->subscribe.ndeny == 1);
    CHECK(c->tls.enabled && c->tls.insecure);
    /* duplicate route: warning only */
    CHECK_EQ_INT(r.o.nwarnings, 1);
    CHECK_CONTAINS(r.err, "invalid use of field \"nats://b:6224\": Duplicate route entry detected");
    done(&r);

    CHECK_EQ_INT(load(&r, "cluster { port: 6222, authorization { token: x } }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Cluster authorization does not support tokens");
    done(&r);
    CHECK_EQ_INT(load(&r, "cluster { authorization { users: [] } }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Cluster authorization does not allow multiple users");
    done(&r);
    CHECK_EQ_INT(load(&r, "cluster { permissions { allow_responses: true } }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Cluster permissions do not support dynamic responses");
    done(&r);
    CHECK_EQ_INT(load(&r, "cluster: 6222\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "Expected map to define cluster, got int64");
    done(&r);
    CHECK_EQ_INT(load(&r, "cluster { routes: \"nats://a:1\" }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "interface {} is string, not []interface {}");
    done(&r);
    CHECK_EQ_INT(load(&r, "cluster { zork: 1 }\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, "unknown field \"zork\"");
    done(&r);
    CHECK_EQ_INT(load(&r, "cluster { authorization { user: a, password: b, permissions: "
                          "{import: x} } }\n"),
                 OPTS_RUN);
    CHECK_CONTAINS(r.err, "setting \"permissions\" within cluster authorization block is "
                          "deprecated");
    CHECK(r.o.cluster.perms && r.o.cluster.perms->publish.nallow == 1);
    done(&r);
    /* port set, no host: host defaults */
    CHECK_EQ_INT(load(&r, "cluster { port: -1 }\n"), OPTS_RUN);
    CHECK_EQ_INT(r.o.cluster.port, -1);
    CHECK_EQ_STR(r.o.cluster.host, "0.0.0.0");
    done(&r);
}

TEST(cluster_flags)
{
    run_t r;
    const char *f = write_conf("cluster { listen: 6222, authorization { user: a, password: b }\n"
                               " routes: [\"nats://x:1\"] }\n");
    run(&r, "-c", f, "--cluster", "nats://u:p%40@127.0.0.1:7000", "--routes",
        "nats://r1:1, nats://r2:2", "--cluster_name", "cn", "--no_advertise", "--cluster_advertise",
        "ca:1", "--connect_retries", "9", NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK_EQ_STR(r.o.cluster.host, "127.0.0.1");
    CHECK_EQ_INT(r.o.cluster.port, 7000);
    CHECK_EQ_STR(r.o.cluster.user, "u");
    CHECK_EQ_STR(r.o.cluster.password, "p@");
    CHECK_EQ_INT(r.o.cluster.nroutes, 2);
    CHECK_EQ_STR(r.o.cluster.routes[1], "nats://r2:2");
    CHECK_EQ_STR(r.o.cluster.name, "cn");
    CHECK(r.o.cluster.no_advertise);
    CHECK_EQ_STR(r.o.cluster.advertise, "ca:1");
    CHECK_EQ_INT(r.o.cluster.connect_retries, 9);
    done(&r);

    /* --cluster without credentials clears the file's */
    run(&r, "-c", f, "--cluster_listen", "nats://h:-1", NULL);
    CHECK_EQ_INT(r.o.cluster.port, -1);
    CHECK(!r.o.cluster.user && !r.o.cluster.password);
    CHECK_EQ_INT(r.o.cluster.nroutes, 1);
    done(&r);

    /* empty --cluster turns clustering off */
    run(&r, "-c", f, "--cluster", "", NULL);
    CHECK_EQ_INT(r.o.cluster.port, 0);
    done(&r);

    run(&r, "--routes", "nats://a:1", NULL);
    CHECK_EQ_INT(r.a, OPTS_EXIT_FAIL);
    CHECK_EQ_STR(r.err, "nats-server: solicited routes require cluster capabilities, e.g. "
                        "--cluster\n");
    done(&r);
    run(&r, "--cluster", "nats://u@h:1", NULL);
    CHECK_EQ_STR(r.err, "nats-server: expected cluster password to be set\n");
    done(&r);
    run(&r, "--cluster", "nats://h", NULL);
    CHECK_EQ_STR(r.err, "nats-server: address h: missing port in address\n");
    done(&r);
}

/* leafnodes {} (docs/leafnodes.md §1): what is built is read, the rest refused with its
 * position, never ignored */
TEST(leafnodes_block)
{
    run_t r;
    CHECK_EQ_INT(load(&r,
                      "leafnodes {\n  listen: 127.0.0.1:7500\n"
                      "  authorization { user: a, password: b, account: ACC, timeout: 3 }\n"
                      "  advertise: \"h:1\"\n  no_advertise: true\n  reconnect: 5\n"
                      "  remotes: [ {url: \"nats://u:p@h:1\", account: X, credentials: \"/c\",\n"
                      "               deny_imports: \"a.>\", deny_exports: [b, c]},\n"
                      "             {urls: [\"nats://a:1\", \"nats://b:2\"]} ]\n}\n"
                      "accounts { ACC {}, X {} }\n"),
                 OPTS_RUN);
    CHECK_EQ_STR(r.o.leaf.host, "127.0.0.1");
    CHECK_EQ_INT(r.o.leaf.port, 7500);
    CHECK_EQ_STR(r.o.leaf.user, "a");
    CHECK_EQ_STR(r.o.leaf.password, "b");
    CHECK_EQ_STR(r.o.leaf.account, "ACC");
    CHECK_EQ_INT(r.o.leaf.auth_timeout_ns == 3000000000LL, 1);
    CHECK_EQ_STR(r.o.leaf.advertise, "h:1");
    CHECK_EQ_INT(r.o.leaf.no_advertise, 1);
    CHECK_EQ_INT(r.o.leaf.reconnect_ns == 5000000000LL, 1);
    CHECK_EQ_INT((int)r.o.leaf.nremotes, 2);
    CHECK_EQ_STR(r.o.leaf.remotes[0].urls[0], "nats://u:p@h:1");
    CHECK_EQ_STR(r.o.leaf.remotes[0].account, "X");
    CHECK_EQ_STR(r.o.leaf.remotes[0].credentials, "/c");
    CHECK_EQ_INT((int)r.o.leaf.remotes[0].ndeny_imports, 1);
    CHECK_EQ_STR(r.o.leaf.remotes[0].deny_imports[0], "a.>");
    CHECK_EQ_INT((int)r.o.leaf.remotes[0].ndeny_exports, 2);
    CHECK_EQ_STR(r.o.leaf.remotes[0].deny_exports[1], "c");
    CHECK_EQ_INT((int)r.o.leaf.remotes[1].nurls, 2);
    CHECK_EQ_STR(r.o.leaf.remotes[1].urls[1], "nats://b:2");
    done(&r);
    CHECK_EQ_INT(load(&r, "leafnodes { authorization { users: [ {user: a, password: b, "
                          "account: A} ] } }\naccounts { A {} }\n"),
                 OPTS_RUN);
    CHECK_EQ_INT((int)r.o.leaf.nusers, 1);
    CHECK_EQ_STR(r.o.leaf.users[0].account, "A");
    done(&r);
    /* TLS on both sides (docs/leafnodes.md §10) */
    CHECK_EQ_INT(load(&r,
                      "leafnodes {\n  port: -1\n"
                      "  tls { cert_file: c, key_file: k, verify: true, timeout: 0.5 }\n"
                      "  remotes: [ {url: \"nats://h:1\", tls { ca_file: ca, insecure: true }},\n"
                      "             {url: \"nats://h:2\"} ]\n}\n"),
                 OPTS_RUN);
    CHECK_EQ_INT(r.o.leaf.tls.enabled && r.o.leaf.tls.verify, 1);
    CHECK_EQ_STR(r.o.leaf.tls.cert_file, "c");
    CHECK_EQ_INT(r.o.leaf.tls.timeout_ns == 500000000LL, 1);
    CHECK_EQ_INT(opts_leaf_auth_timeout_ns(&r.o.leaf) == 1500000000LL, 1);
    CHECK_EQ_INT(r.o.leaf.remotes[0].tls.enabled && r.o.leaf.remotes[0].tls.insecure, 1);
    CHECK_EQ_STR(r.o.leaf.remotes[0].tls.ca_file, "ca");
    CHECK_EQ_INT(r.o.leaf.remotes[0].tls.timeout_ns == 2000000000LL, 1);
    CHECK_EQ_INT(r.o.leaf.remotes[1].tls.enabled, 0);
    done(&r);
    const char *bad[][2] = {
        {"leafnodes {\n  min_version: \"2.8.0\"\n}\n",
         ":2:3: leafnodes \"min_version\" is not supported by this server"},
        {"leafnodes {\n  tls { cert_file: x }\n}\n", "missing 'key_file' in TLS configuration"},
        {"leafnodes { remotes: [ { url: \"nats://h:1\", hub: true } ] }\n",
         ":1:44: leafnode remote \"hub\" is not supported by this server"},
        {"leafnodes { authorization { token: x } }\n", "unknown field \"token\""},
        {"leafnodes { authorization { user: a, users: [ {user: b} ] } }\n",
         "can not have a single user/pass and a users array"},
        {"leafnodes { remotes: 3 }\n", "Expected remotes field to be an array"},
        {"leafnodes: 3\n", "Expected map to define a leafnode"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(load(&r, bad[i][0]), OPTS_EXIT_FAIL);
        CHECK_CONTAINS(r.err, bad[i][1]);
        done(&r);
    }
}

/* gateway {} (docs/gateways.md "Configuration") */
TEST(gateway_block)
{
    run_t r;
    CHECK_EQ_INT(load(&r, "gateway {\n  name: A\n  listen: 127.0.0.1:7222\n"
                          "  authorization { user: gu, password: gp, timeout: 3 }\n"
                          "  advertise: \"gw:7222\"\n  connect_retries: 2\n"
                          "  reject_unknown_cluster: true\n"
                          "  tls { cert_file: c, key_file: k }\n"
                          "  gateways: [ {name: B, url: \" nats://b:7222 \"},\n"
                          "              {name: C, urls: [\"nats://c1:1\", \"nats://c2:2\"],"
                          " tls { cert_file: c2, key_file: k2 }} ]\n}\n"),
                 OPTS_RUN);
    gateway_opts_t *g = &r.o.gateway;
    CHECK_EQ_STR(g->name, "A");
    CHECK_EQ_STR(g->host, "127.0.0.1");
    CHECK_EQ_INT(g->port, 7222);
    CHECK_EQ_STR(g->user, "gu");
    CHECK_EQ_STR(g->password, "gp");
    CHECK_EQ_INT(g->auth_timeout_ns == 3000000000LL, 1);
    CHECK_EQ_STR(g->advertise, "gw:7222");
    CHECK_EQ_INT(g->connect_retries, 2);
    CHECK(g->reject_unknown);
    CHECK(g->tls.enabled);
    CHECK_EQ_INT((int)g->nremotes, 2);
    CHECK_EQ_STR(g->remotes[0].name, "B");
    CHECK_EQ_STR(g->remotes[0].urls[0], "nats://b:7222"); /* trimmed */
    CHECK(!g->remotes[0].tls.enabled);
    CHECK_EQ_INT((int)g->remotes[1].nurls, 2);
    CHECK(g->remotes[1].tls.enabled);
    done(&r);
    const char *bad[][2] = {
        {"gateway { name: A, port: 1, authorization { token: t } }\n",
         "Gateway authorization does not support tokens"},
        {"gateway { name: A, port: 1, authorization { users: [] } }\n",
         "Gateway authorization does not allow multiple users"},
        {"gateway { name: A, port: 1, gateways: 3 }\n",
         "Expected gateways field to be an array, got int64"},
        {"gateway { name: A, port: 1, gateways: [ 3 ] }\n",
         "Expected gateway entry to be a map/struct"},
        {"gateway { name: A, port: 1, zork: 1 }\n", ":1:28: unknown field \"zork\""},
        {"gateway: 3\n", "Expected gateway to be a map, got int64"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(load(&r, bad[i][0]), OPTS_EXIT_FAIL);
        CHECK_CONTAINS(r.err, bad[i][1]);
        done(&r);
    }
}

TEST(unsupported_and_security_blocks)
{
    run_t r;
    const char *f = write_conf("websocket { port: 1 }\nleafnodes {}\njetstream: true\n"
                               "mqtt {}\nserver_tags: [a]\n");
    run(&r, "-c", f, NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    /* leafnodes and gateway are built (docs/leafnodes.md, docs/gateways.md) */
    CHECK_EQ_INT(r.o.nwarnings, 4);
    char want[256];
    snprintf(want, sizeof(want), "%s:1:0: websocket is not supported by this server, ignoring\n",
             f);
    CHECK_CONTAINS(r.err, want);
    done(&r);
    /* -t still reports the file valid (the reference accepts these keys) */
    run(&r, "-t", "-c", f, NULL);
    CHECK_EQ_INT(r.cli.exit_code, 0);
    CHECK_CONTAINS(r.err, "is valid\n");
    done(&r);

    /* operator mode (docs/operator.md): what is not built is refused, never ignored */
    const char *sec[][2] = {
        {"resolver: URL(\"http://127.0.0.1:9/jwt\")\n", "is not supported by this server"},
        {"resolver { type: cache, dir: \"/tmp/x\", interval: \"1m\" }\n",
         ":1:0: CACHE does not accept sync"},
        {"resolver { type: cache, dir: \"/tmp/x\", allow_delete: true }\n",
         ":1:0: CACHE does not accept allow_delete"},
        {"resolver { type: cache, dir: \"/tmp/x\", ttl: 5 }\n",
         ":1:39: interface conversion: interface {} is int64, not string"},
        {"resolver { type: full, dir: \"/tmp/x\", ttl: \"1m\" }\n",
         ":1:0: FULL does not accept ttl"},
        {"resolver { type: full, dir: \"/tmp/x\", timeout: 2 }\n",
         ":1:38: interface conversion: interface {} is int64, not string"},
        {"resolver { type: full, dir: \"/tmp/x\", timeout: \"0s\" }\n",
         ":1:0: Fetch timeout 0s is too smal"},
        {"resolver { type: full, dir: \"/tmp/x\", timeout: \"-1.5s\" }\n",
         ":1:0: Fetch timeout -1.5s is too smal"},
        {"resolver { type: full, dir: \"/tmp/x\", timeout: \"soon\" }\n",
         ":1:0: time: invalid duration \"soon\""},
        {"resolver_tls { cert_file: x }\n", "is not supported by this server"},
        {"resolver { type: full }\n", "dir has no value and needs to point to a directory"},
        {"operator: \"/nonexistent/op.jwt\"\nresolver: MEMORY\n",
         ":1:0: error parsing operator JWT: open /nonexistent/op.jwt: no such file or directory"},
        {"trusted: [\"OABC\"]\n", "is not a valid public operator nkey"},
        {"resolver: MEMORY\nresolver_preload: { AX: \"bad\" }\n", ":2:21: invalid account JWT"},
    };
    for (size_t i = 0; i < sizeof(sec) / sizeof(sec[0]); i++) {
        CHECK_EQ_INT(load(&r, sec[i][0]), OPTS_EXIT_FAIL);
        CHECK_CONTAINS(r.err, sec[i][1]);
        done(&r);
    }
    /* a resolver without an operator is not operator mode: the server runs */
    CHECK_EQ_INT(load(&r, "resolver: MEMORY\n"), OPTS_RUN);
    done(&r);
    /* the full resolver's lookup timeout: a duration string (default 0: 1.9 s) */
    CHECK_EQ_INT(load(&r, "resolver { type: full, dir: \"/tmp/x\", timeout: \"500ms\" }\n"),
                 OPTS_RUN);
    CHECK_EQ_INT(r.o.resolver_timeout_ns, 500000000LL);
    done(&r);
    /* the cache resolver: its ttl; zero sync and ttl values are taken (as the reference) */
    CHECK_EQ_INT(load(&r, "resolver { type: cache, dir: \"/tmp/x\", ttl: \"2s\", limit: 2 }\n"),
                 OPTS_RUN);
    CHECK_EQ_INT(r.o.resolver, RESOLVER_CACHE);
    CHECK(r.o.resolver_ttl_ns == 2000000000LL && r.o.resolver_limit == 2);
    done(&r);
    CHECK_EQ_INT(load(&r,
                      "resolver { type: cache, dir: \"/tmp/x\", interval: \"0s\", ttl: \"0s\" }\n"
                      "resolver_preload: {}\n"),
                 OPTS_RUN);
    done(&r);
    CHECK_EQ_INT(load(&r, "resolver { type: full, dir: \"/tmp/x\", ttl: \"0s\" }\n"), OPTS_RUN);
    done(&r);
}

/* accounts {}: users bound to accounts, exports and imports, and the reference's
 * errors at the reference's positions (each compared with nats-server -t). */
TEST(accounts_block)
{
    run_t r;
    CHECK_EQ_INT(load(&r,
                      "accounts {\n"
                      "  A: { users: [{user: a, password: p}],\n"
                      "       imports: [{service: {account: B, subject: svc}, to: asvc},\n"
                      "                 {stream: {account: B, subject: \"ev.>\"}, prefix: b}],\n"
                      "       limits: {max_connections: 3, max_subs: 7} }\n"
                      "  B: { users: [{user: b, password: q}],\n"
                      "       exports: [{service: svc, response: stream, accounts: [A]},\n"
                      "                 {stream: \"ev.>\"}] }\n"
                      "}\nsystem_account: B\n"),
                 OPTS_RUN);
    CHECK_EQ_INT(r.o.naccounts, 2);
    CHECK_EQ_INT(r.o.nusers, 2);
    CHECK_EQ_STR(r.o.users[0].account, "A");
    CHECK_EQ_STR(r.o.users[1].account, "B");
    CHECK_EQ_STR(r.o.system_account, "B");
    const account_opts_t *a = opts_account(&r.o, "A"), *b = opts_account(&r.o, "B");
    CHECK(a && b);
    CHECK_EQ_INT(a->max_conns, 3);
    CHECK_EQ_INT(a->max_subs, 7);
    CHECK_EQ_INT(a->max_payload, -1);
    CHECK_EQ_INT(a->nimports, 2);
    CHECK(a->imports[0].service);
    CHECK_EQ_STR(a->imports[0].to, "asvc");
    CHECK(!a->imports[1].service);
    CHECK_EQ_STR(a->imports[1].prefix, "b");
    CHECK_EQ_INT(b->nexports, 2);
    CHECK_EQ_INT(b->exports[0].resp_type, ACCT_RESP_STREAM);
    CHECK_EQ_INT(b->exports[0].naccounts, 1);
    done(&r);

    static const struct {
        const char *conf, *err;
    } bad[] = {
        {"accounts {\n  $G: {}\n}\n", ":2:3: \"$G\" is a Reserved Account"},
        {"accounts {\n  A: { imports: [{stream: {account: C, subject: foo}}] }\n}\n",
         ":1:0: \"C\" account not defined for stream import"},
        {"accounts {\n  A: { users: [{user: a, password: p}] }\n"
         "  B: { users: [{user: a, password: q}] }\n}\n",
         ":3:8: Duplicate user \"a\" detected"},
        {"accounts {\n  A: { imports: [{stream: {account: B, subject: foo}, prefix: x, to: y}] }\n"
         "  B: { exports: [{stream: foo, response: single}] }\n}\n",
         ":2:66: Stream import can not have a 'prefix' and a 'to' property"},
        {"accounts {\n  B: { exports: [{stream: foo, response: single}] }\n}\n",
         ":2:32: Detected response directive on non-service"},
        {"authorization { user: u, password: p }\naccounts {\n  A: { users: [{user: a}] }\n}\n",
         ":3:8: Can not have a single user/pass and accounts"},
        {"accounts { A: { limits: { max_things: 1 } } }\n",
         ":1:26: Unknown field \"max_things\" parsing account limits"},
        {"accounts { A: { exports: [{service: x, response: sometimes}] } }\n",
         ":1:39: Unknown response type: \"sometimes\""},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_EQ_INT(load(&r, bad[i].conf), OPTS_EXIT_FAIL);
        CHECK_CONTAINS(r.err, bad[i].err);
        done(&r);
    }
}

TEST(variables_not_unknown)
{
    run_t r;
    /* a variable used elsewhere is not an unknown field; an unused one is */
    CHECK_EQ_INT(load(&r, "PORTV: 4555\nport: $PORTV\n"), OPTS_RUN);
    CHECK_EQ_INT(r.o.port, 4555);
    done(&r);
    CHECK_EQ_INT(load(&r, "UNUSED: 1\n"), OPTS_EXIT_FAIL);
    CHECK_CONTAINS(r.err, ":1:0: unknown field \"UNUSED\"");
    done(&r);
}

TEST(reload)
{
    run_t r;
    const char *f = write_conf("port: 5000\ndebug: false\n");
    run(&r, "-c", f, "-D", "--cluster", "nats://127.0.0.1:7000", NULL);
    CHECK_EQ_INT(r.a, OPTS_RUN);
    CHECK(r.o.debug);

    /* rewrite the same file */
    FILE *fp = fopen(f, "w");
    fputs("port: 5001\ndebug: false\ntrace: true\n", fp);
    fclose(fp);
    opts_t n;
    char err[512];
    CHECK_EQ_INT(opts_reload(&r.o, &n, err, sizeof(err)), 0);
    CHECK_EQ_INT(n.port, 5001);
    CHECK(n.debug); /* the flag still wins */
    CHECK(n.trace);
    CHECK_EQ_INT(n.cluster.port, 7000);
    CHECK_EQ_STR(n.config_file, f);
    opts_free(&n);

    fp = fopen(f, "w");
    fputs("port: 5001\nnope: 1\n", fp);
    fclose(fp);
    CHECK_EQ_INT(opts_reload(&r.o, &n, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s:2:1: unknown field \"nope\"", f);
    CHECK_EQ_STR(err, want);
    opts_free(&n);
    done(&r);

    run(&r, "-p", "1", NULL);
    CHECK_EQ_INT(opts_reload(&r.o, &n, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "can only reload config when a file is provided using -c or --config");
    opts_free(&n);
    done(&r);
}

/* ------------------------------------------------------------------------- */
/* -sl                                                                        */

static char *sl(const char *arg, int *rc)
{
    char *buf = NULL;
    size_t n;
    FILE *e = open_memstream(&buf, &n);
    *rc = signal_cmd_run_io("nats-server", arg, e);
    fclose(e);
    return buf;
}

TEST(signal_cmd_errors)
{
    int rc;
    char *m = sl("reload=1=2", &rc);
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_STR(m, "nats-server: invalid signal parameters: [2]\n");
    free(m);
    m = sl("reload=abc", &rc);
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_STR(m, "nats-server: invalid pid: abc\n");
    free(m);
    m = sl("RELOAD=1", &rc);
    CHECK_EQ_STR(m, "nats-server: unknown signal \"RELOAD\"\n");
    free(m);

    /* a pid that just exited */
    pid_t c = fork();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    char arg[64];
    snprintf(arg, sizeof(arg), "reload=%d", (int)c);
    m = sl(arg, &rc);
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_STR(m, "nats-server: no such process\n");
    free(m);

    CHECK_EQ_INT(signal_cmd_signo("stop"), SIGKILL);
    CHECK_EQ_INT(signal_cmd_signo("quit"), SIGINT);
    CHECK_EQ_INT(signal_cmd_signo("term"), SIGTERM);
    CHECK_EQ_INT(signal_cmd_signo("reopen"), SIGUSR1);
    CHECK_EQ_INT(signal_cmd_signo("reload"), SIGHUP);
    CHECK_EQ_INT(signal_cmd_signo("ldm"), SIGUSR2);
    CHECK_EQ_INT(signal_cmd_signo("Stop"), -1);
}

TEST(signal_cmd_sends)
{
    /* our own child, addressed by a pid file with a trailing newline */
    pid_t c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    char pf[128];
    snprintf(pf, sizeof(pf), "%s/srv.pid", tmpdir);
    FILE *f = fopen(pf, "w");
    fprintf(f, "%d\n", (int)c);
    fclose(f);
    char arg[256];
    snprintf(arg, sizeof(arg), "term=%s", pf);
    int rc;
    char *m = sl(arg, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(m, "");
    free(m);
    int st = 0;
    waitpid(c, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_opts.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(defaults);
    RUN(flag_forms);
    RUN(flag_errors);
    RUN(version_help);
    RUN(usage_text);
    RUN(reload_refusal);
    RUN(signal_flag);
    RUN(check_config);
    RUN(warnings_without_t);
    RUN(precedence);
    RUN(top_level_keys);
    RUN(listen_forms);
    RUN(durations);
    RUN(limits_errors);
    RUN(auth_single_and_token);
    RUN(auth_readme_users);
    RUN(auth_users_errors);
    RUN(permissions_forms);
    RUN(tls_block);
    RUN(tls_flags);
    RUN(cluster_block);
    RUN(cluster_flags);
    RUN(leafnodes_block);
    RUN(gateway_block);
    RUN(unsupported_and_security_blocks);
    RUN(variables_not_unknown);
    RUN(accounts_block);
    RUN(reload);
    RUN(signal_cmd_errors);
    RUN(signal_cmd_sends);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return test_summary();
}
