/* genman: writes the man pages gnatsd.8 and gnatsd-mkpasswd.1 (roff, man
 * macros) to stdout, at build time (`make man`).
 *
 *   genman gnatsd DATE     gnatsd.8
 *   genman mkpasswd DATE   gnatsd-mkpasswd.1
 *
 * The OPTIONS sections are written from the tables -h and mkpasswd's usage
 * print (opts_usage_walk in src/conf/opts_flags.c, mkpasswd_flags.c), so the
 * pages cannot list a flag the programs lack or miss one they have; the rest
 * of each page (signals, files, exit status) is prose kept here. */
#include "base/common.h"
#include "base/version.h"
#include "conf/opts.h"
#include "mkpasswd_flags.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Text for a roff line: backslashes and hyphens escaped (a plain '-' may be
 * typeset as a hyphen, not the minus of a flag), a control character at the
 * start of a line defused. `at_bol` says whether s starts an output line. */
static void roff(const char *s, bool at_bol)
{
    for (; *s; s++) {
        if (at_bol && (*s == '.' || *s == '\'')) fputs("\\&", stdout);
        at_bol = false;
        if (*s == '\\')
            fputs("\\e", stdout);
        else if (*s == '-')
            fputs("\\-", stdout);
        else
            putchar(*s);
    }
}

/* ---- gnatsd.8 ------------------------------------------------------------- */

static void man_section(void *arg, const char *title)
{
    (void)arg;
    printf(".SS \"%s\"\n", title);
}

/* One -h row as a tagged paragraph. The left column is flag names (a word
 * that starts with '-', separated by commas, spaces or -h's line break),
 * then the argument text, where <name> becomes an italic name:
 * "-sl,--signal <signal>[=<pid>]" -> \fB\-sl\fR, \fB\-\-signal\fR \fIsignal\fR[=\fIpid\fR]. */
static void man_flag(void *arg, const char *usage, const char *help)
{
    (void)arg;
    fputs(".TP\n", stdout);
    const char *p = usage;
    bool first = true;
    for (;;) {
        p += strspn(p, " ,\n");
        if (*p != '-') break;
        size_t n = strcspn(p, " ,\n");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        fputs(first ? "\\fB" : ", \\fB", stdout);
        roff(name, false);
        fputs("\\fR", stdout);
        first = false;
        p += n;
    }
    if (*p) {
        putchar(' ');
        for (; *p; p++) {
            if (*p == '<')
                fputs("\\fI", stdout);
            else if (*p == '>')
                fputs("\\fR", stdout);
            else {
                char c[2] = {*p, 0};
                roff(c, false);
            }
        }
    }
    putchar('\n');
    /* help: -h's line breaks stay line breaks */
    for (const char *h = help; *h;) {
        size_t n = strcspn(h, "\n");
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)n, h);
        roff(line, true);
        putchar('\n');
        h += n;
        if (*h == '\n') {
            fputs(".br\n", stdout);
            h++;
        }
    }
}

static void page_gnatsd(const char *date)
{
    printf(".TH GNATSD 8 \"%s\" \"%s\" \"System Manager's Manual\"\n", date, gnatsd_c_ident());
    puts(".nh\n.ad l\n.SH NAME\n"
         "gnatsd, nats\\-server \\- NATS messaging server (gnatsd\\-c)\n"
         ".SH SYNOPSIS\n"
         ".B gnatsd\n"
         "[\\fIoptions\\fR]\n"
         ".br\n"
         ".B gnatsd \\-t \\-c\n"
         ".I file\n"
         ".br\n"
         ".B gnatsd \\-sl\n"
         ".IR signal [= pid ]\n"
         ".SH DESCRIPTION\n"
         ".B gnatsd\n"
         "is a NATS messaging server written in C. It speaks the client and route\n"
         "protocols of nats\\-server " SERVER_VERSION ", takes its command line flags and\n"
         "configuration files, and serves the same monitoring endpoints, so the\n"
         "official NATS clients and the tools written for nats\\-server work with it.\n"
         "Installed as\n"
         ".B nats\\-server\n"
         "too, it is the same program under the reference's name.\n"
         ".PP\n"
         "What clients and tools parse names the protocol level: \\fB\\-v\\fR prints\n"
         "\"nats\\-server: v" SERVER_VERSION
         "\" and the client INFO and /varz say \"version\":\"" SERVER_VERSION "\".\n"
         "The build itself is named by the \"gnatsd\\-c:\" line of the start\\-up log,\n"
         "the last line of \\fB\\-h\\fR, and the \\fBgnatsd_c_version\\fR and\n"
         "\\fBgit_commit\\fR fields of /varz.\n"
         ".SH OPTIONS\n"
         "Flags follow Go's flag package, as nats\\-server's do: \\fB\\-x\\fR and\n"
         "\\fB\\-\\-x\\fR are the same flag, a value is given as \\fB\\-x\\fR \\fIv\\fR or\n"
         "\\fB\\-x\\fR=\\fIv\\fR, and a boolean flag is switched off only as\n"
         "\\fB\\-x\\fR=false. Flags given on the command line beat the configuration\n"
         "file, also when it is reloaded.");
    opts_usage_walk(man_section, man_flag, NULL);
    puts(".SH CONFIGURATION\n"
         "The configuration file (\\fB\\-c\\fR) uses the nats\\-server configuration\n"
         "language: \\fIkey\\fR: \\fIvalue\\fR lines (also = or a space), blocks in\n"
         "braces, lists in brackets, # and // comments, \\fBinclude\\fR, and\n"
         "variables. The keys are nats\\-server's: listen, port, http_port,\n"
         "max_connections, max_payload, lame_duck_duration, authorization {},\n"
         "tls {}, cluster {} and the others nats\\-server " SERVER_VERSION " documents.\n"
         "\\fBgnatsd \\-t \\-c\\fR \\fIfile\\fR checks a file and exits.\n"
         "SIGHUP (\\fB\\-sl reload\\fR) reloads it; a change that cannot be applied\n"
         "while running (the client port, for one) is refused with the\n"
         "reference's error and the running configuration is kept.\n"
         ".SH SIGNALS\n"
         ".TP\n"
         ".B SIGINT\n"
         "Stop: close every connection and exit with status 0.\n"
         ".TP\n"
         ".B SIGTERM\n"
         "Stop, as SIGINT, with exit status 1 (as nats\\-server).\n"
         ".TP\n"
         ".B SIGQUIT\n"
         "Exit at once with status 2.\n"
         ".TP\n"
         ".B SIGHUP\n"
         "Reload the configuration file.\n"
         ".TP\n"
         ".B SIGUSR1\n"
         "Reopen the log file (after it was rotated).\n"
         ".TP\n"
         ".B SIGUSR2\n"
         "Lame duck mode: stop accepting clients, tell the connected ones (INFO\n"
         "with \"ldm\":true), wait \\fBlame_duck_grace_period\\fR (10s), close them\n"
         "spread over the rest of \\fBlame_duck_duration\\fR (2m), then exit with\n"
         "status 0. The systemd unit stops the server this way.\n"
         ".PP\n"
         "\\fBgnatsd \\-sl\\fR \\fIcommand\\fR[=\\fIpid\\fR|\\fIpidfile\\fR] sends\n"
         "them: \\fBquit\\fR SIGINT, \\fBterm\\fR SIGTERM, \\fBreload\\fR SIGHUP,\n"
         "\\fBreopen\\fR SIGUSR1, \\fBldm\\fR SIGUSR2, \\fBstop\\fR SIGKILL. Without\n"
         "a pid it signals the one running gnatsd or nats\\-server process (more\n"
         "than one is an error).\n"
         ".SH EXIT STATUS\n"
         ".TP\n"
         ".B 0\n"
         "Stopped by SIGINT or after lame duck mode; \\fB\\-h\\fR, \\fB\\-v\\fR,\n"
         "a valid file under \\fB\\-t\\fR; also a bad or unknown flag, after the\n"
         "usage text (as nats\\-server " SERVER_VERSION ").\n"
         ".TP\n"
         ".B 1\n"
         "The configuration could not be loaded or the server could not start\n"
         "(an error on standard error or in the log); stopped by SIGTERM;\n"
         "\\fB\\-sl\\fR could not signal.\n"
         ".TP\n"
         ".B 2\n"
         "Stopped by SIGQUIT.");
    puts(".SH FILES\n"
         ".TP\n"
         ".IR sysconfdir /gnatsd/gnatsd.conf\n"
         "The configuration file the systemd unit starts the server with:\n"
         "/etc/gnatsd/gnatsd.conf when installed with \\fBmake install PREFIX=/usr\\fR,\n"
         "else \\fIprefix\\fR/etc/gnatsd/gnatsd.conf (/usr/local/etc by default).\n"
         "\\fBmake install\\fR never overwrites it.\n"
         ".TP\n"
         ".I gnatsd.service\n"
         "The systemd unit: starts the server with that file, reloads it on\n"
         "\\fBsystemctl reload\\fR (SIGHUP) and stops it in lame duck mode\n"
         "(SIGUSR2, with a stop timeout above lame_duck_duration). It runs as a\n"
         "dynamic user, so files the server reads (TLS keys) must be readable by\n"
         "it, or passed with LoadCredential=; log files go to /var/log/gnatsd,\n"
         "pid files to /run/gnatsd.\n"
         ".TP\n"
         ".IR dir / prog _ pid .ports\n"
         "The ports file \\fB\\-\\-ports_file_dir\\fR asks for: the client, monitoring\n"
         "and cluster URLs as JSON, removed at exit.\n"
         ".SH SEE ALSO\n"
         ".BR gnatsd\\-mkpasswd (1),\n"
         ".BR systemd.exec (5),\n"
         "https://docs.nats.io/");
}

/* ---- gnatsd-mkpasswd.1 ------------------------------------------------------ */

static void page_mkpasswd(const char *date)
{
    printf(".TH GNATSD\\-MKPASSWD 1 \"%s\" \"%s\" \"User Commands\"\n", date, gnatsd_c_ident());
    puts(".nh\n.ad l\n.SH NAME\n"
         "gnatsd\\-mkpasswd \\- make a bcrypt hash of a password for a NATS server\n"
         ".SH SYNOPSIS\n"
         ".B gnatsd\\-mkpasswd\n"
         "[\\fB\\-p\\fR] [\\fB\\-c\\fR \\fIcost\\fR]\n"
         ".SH DESCRIPTION\n"
         "Prints a bcrypt hash for the \\fBpassword\\fR of an \\fBauthorization\\fR\n"
         "block or user of the server's configuration file, so the file does not\n"
         "hold the password itself. Without \\fB\\-p\\fR it makes a random password\n"
         "of 22 characters and prints it as \"pass: \\fIpassword\\fR\", then\n"
         "\"bcrypt hash: \\fIhash\\fR\". It is nats\\-server's mkpasswd tool; it is\n"
         "built as \\fBmkpasswd\\fR and installed as \\fBgnatsd\\-mkpasswd\\fR\n"
         "because Debian's whois package installs an unrelated \\fBmkpasswd\\fR.\n"
         ".SH OPTIONS");
    for (size_t i = 0; i < mkpasswd_nflags; i++) {
        const mkpasswd_flag_t *m = &mkpasswd_flags[i];
        fputs(".TP\n\\fB\\-", stdout);
        roff(m->name, false);
        fputs("\\fR", stdout);
        if (m->arg) {
            fputs(" \\fI", stdout);
            roff(m->arg, false);
            fputs("\\fR", stdout);
        }
        putchar('\n');
        roff(m->help, true);
        if (m->def) {
            fputs(" (default ", stdout);
            roff(m->def, false);
            putchar(')');
        }
        putchar('\n');
    }
    puts(".PP\n"
         "With \\fB\\-p\\fR on a terminal the password is asked for twice without\n"
         "echo; from a pipe one line of standard input is the password, without\n"
         "prompts. Flags follow Go's flag package (\\fB\\-c\\fR 12, \\fB\\-c\\fR=12,\n"
         "\\fB\\-\\-c\\fR 12).\n"
         ".SH EXIT STATUS\n"
         ".TP\n"
         ".B 0\n"
         "The hash was printed, or \\fB\\-h\\fR.\n"
         ".TP\n"
         ".B 1\n"
         "The password could not be read, the two did not match, or the cost is\n"
         "above 31.\n"
         ".TP\n"
         ".B 2\n"
         "A bad or unknown flag (the usage text follows).\n"
         ".SH EXAMPLES\n"
         ".EX\n"
         "$ echo 's3cr3t' | gnatsd\\-mkpasswd \\-p \\-c 12\n"
         "bcrypt hash: $2a$12$...\n"
         ".EE\n"
         ".SH SEE ALSO\n"
         ".BR gnatsd (8)");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "gnatsd") == 0) {
        page_gnatsd(argv[2]);
    } else if (argc == 3 && strcmp(argv[1], "mkpasswd") == 0) {
        page_mkpasswd(argv[2]);
    } else {
        fprintf(stderr, "usage: genman gnatsd|mkpasswd DATE\n");
        return 2;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
