/* mkpasswd: make a bcrypt hash for a password (security.md §8).
 *
 *   mkpasswd            random 22-char password, prints "pass: ..." and
 *                       "bcrypt hash: ..."
 *   mkpasswd -p         password typed twice without echo; when stdin is not
 *                       a terminal, one line is read from stdin instead (the
 *                       reference hashed the empty string there) and no
 *                       prompts are printed
 *   mkpasswd -c COST    bcrypt cost, default 11
 *
 * The flags' descriptions are rows of mkpasswd_flags.c (usage and man page).
 * Flags follow Go's flag package (-c 12, -c=12, --c 12, -p=false; parsing
 * stops at the first non-flag argument) since the reference is a Go tool. */
#include "base/bcrypt.h"
#include "base/os.h"
#include "mkpasswd_flags.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD_LEN 22
#define MAX_PW 4096

static const char alphabet[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@$#%^&*()";

static void usage(FILE *f)
{
    /* The reference prints the first line on stdout and the flag list (Go's
     * flag.PrintDefaults) on stderr. */
    printf("%s\n", MKPASSWD_USAGE);
    fflush(stdout);
    mkpasswd_print_defaults(f);
}

static void fill_random(unsigned char *p, size_t n)
{
    if (os_random(p, n) != 0) {
        fprintf(stderr, "Error producing random integer: %s\n", strerror(errno));
        exit(1);
    }
}

/* Uniform choice from the alphabet: reject bytes >= the largest multiple of
 * its size so there is no modulo bias (the reference uses crypto/rand.Int). */
static void gen_password(char *out)
{
    const unsigned n = sizeof alphabet - 1, lim = 256 - 256 % n;
    size_t i = 0;
    unsigned char buf[64];
    while (i < PASSWORD_LEN) {
        fill_random(buf, sizeof buf);
        for (size_t j = 0; j < sizeof buf && i < PASSWORD_LEN; j++)
            if (buf[j] < lim) out[i++] = alphabet[buf[j] % n];
    }
    out[i] = 0;
}

static void restore_echo(void)
{
    os_tty_echo(true);
}

/* Ctrl-C while typing must not leave the terminal without echo. */
static void on_signal(int sig)
{
    restore_echo();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line from fd 0 into buf (without the line ending). Returns its
 * length, or -1 on error. */
static int read_line(char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0 || c == '\n') break;
        if (n + 1 < cap) buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r') n--;
    buf[n] = 0;
    return (int)n;
}

/* Prints the prompt once echo is off, then reads a line. Echo is switched
 * with TCSANOW, not TCSAFLUSH: a password typed (or pasted) right after the
 * prompt appeared must not be discarded (Go's term.ReadPassword does the
 * same). */
static int read_password_tty(const char *prompt, char *buf, size_t cap)
{
    if (os_tty_echo(false) != 0) return -1;
    fputs(prompt, stdout);
    fflush(stdout);
    int n = read_line(buf, cap);
    restore_echo();
    return n;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(v, t[i]) == 0) return *out = 1, 0;
        if (strcmp(v, f[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    int prompt = 0;
    long long cost = BCRYPT_DEFAULT_COST;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) break;
        if (strcmp(a, "--") == 0) break;
        const char *name = a + 1 + (a[1] == '-');
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if (nl == 0 || name[0] == '-' || name[0] == '=') {
            fprintf(stderr, "bad flag syntax: %s\n", a);
            usage(stderr);
            return 2;
        }
        if ((nl == 1 && name[0] == 'h') || (nl == 4 && strncmp(name, "help", 4) == 0)) {
            usage(stderr);
            return 0;
        }
        if (nl == 1 && name[0] == 'p') {
            if (eq && parse_bool(eq + 1, &prompt) != 0) {
                fprintf(stderr, "invalid boolean value \"%s\" for -p: parse error\n", eq + 1);
                usage(stderr);
                return 2;
            }
            if (!eq) prompt = 1;
        } else if (nl == 1 && name[0] == 'c') {
            const char *v = eq ? eq + 1 : NULL;
            if (!v) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "flag needs an argument: -c\n");
                    usage(stderr);
                    return 2;
                }
                v = argv[++i];
            }
            char *end;
            errno = 0;
            cost = strtoll(v, &end, 0);
            if (!*v || *end || errno) {
                fprintf(stderr, "invalid value \"%s\" for flag -c: parse error\n", v);
                usage(stderr);
                return 2;
            }
        } else {
            fprintf(stderr, "flag provided but not defined: -%.*s\n", (int)nl, name);
            usage(stderr);
            return 2;
        }
    }

    char pw[MAX_PW];
    if (prompt) {
        if (isatty(0)) {
            char pw2[MAX_PW];
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
#ifdef SIGQUIT /* not on Windows */
            signal(SIGQUIT, on_signal);
#endif
            int n1 = read_password_tty("Enter Password: ", pw, sizeof pw);
            int n2 = n1 < 0 ? -1 : read_password_tty("\nReenter Password: ", pw2, sizeof pw2);
            if (n1 < 0 || n2 < 0) {
                fprintf(stderr, "Error reading password: %s\n", strerror(errno));
                return 1;
            }
            if (n1 != n2 || memcmp(pw, pw2, (size_t)n1) != 0) {
                fprintf(stderr, "Error, passwords do not match\n");
                return 1;
            }
            explicit_bzero(pw2, sizeof pw2);
            printf("\n");
        } else if (read_line(pw, sizeof pw) < 0) {
            fprintf(stderr, "Error reading password: %s\n", strerror(errno));
            return 1;
        }
    } else {
        gen_password(pw);
        printf("pass: %s\n", pw);
    }

    if (cost > 31) {
        fprintf(stderr,
                "Error producing bcrypt hash: crypto/bcrypt: cost %lld is outside allowed range "
                "(4,31)\n",
                cost);
        return 1;
    }
    char hash[BCRYPT_HASH_LEN + 1];
    if (bcrypt_hash(pw, (int)(cost < 4 ? 10 : cost), hash, sizeof hash) != 0) {
        fprintf(stderr, "Error producing bcrypt hash: %s\n", strerror(errno));
        return 1;
    }
    explicit_bzero(pw, sizeof pw);
    printf("bcrypt hash: %s\n", hash);
    return 0;
}
