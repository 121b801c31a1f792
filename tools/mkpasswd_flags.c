/* mkpasswd_flags.c: the rows of mkpasswd's flags (mkpasswd_flags.h). */
#include "mkpasswd_flags.h"
#include "base/bcrypt.h"

#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

const mkpasswd_flag_t mkpasswd_flags[] = {
    {"c", "int", "The cost weight, range of 4-31", STR(BCRYPT_DEFAULT_COST)},
    {"p", NULL, "Input password via stdin", NULL},
};
const size_t mkpasswd_nflags = sizeof mkpasswd_flags / sizeof mkpasswd_flags[0];

void mkpasswd_print_defaults(FILE *f)
{
    for (size_t i = 0; i < mkpasswd_nflags; i++) {
        const mkpasswd_flag_t *m = &mkpasswd_flags[i];
        fprintf(f, "  -%s", m->name);
        if (m->arg) fprintf(f, " %s", m->arg);
        /* Go: a one-letter bool flag keeps its help on the same line after a tab */
        fputs(!m->arg && strlen(m->name) == 1 ? "\t" : "\n    \t", f);
        fputs(m->help, f);
        if (m->def) fprintf(f, " (default %s)", m->def);
        fputc('\n', f);
    }
}
