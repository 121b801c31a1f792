/* mkpasswd_flags.h: mkpasswd's flags as data: its usage text (-h, flag errors)
 * and its man page (tools/genman.c) are both written from this table. */
#ifndef GNATSD_MKPASSWD_FLAGS_H
#define GNATSD_MKPASSWD_FLAGS_H

#include <stddef.h>
#include <stdio.h>

/* the reference's first usage line (with its trailing space) */
#define MKPASSWD_USAGE "Usage: mkpasswd [-p <stdin password>] [-c COST] "

typedef struct mkpasswd_flag {
    const char *name; /* without the dash */
    const char *arg;  /* the value's type word as Go's flag package shows it, NULL for a bool */
    const char *help;
    const char *def; /* "(default X)" when not NULL */
} mkpasswd_flag_t;

extern const mkpasswd_flag_t mkpasswd_flags[];
extern const size_t mkpasswd_nflags;

/* The flag list as Go's flag.PrintDefaults writes it (the reference is a Go tool). */
void mkpasswd_print_defaults(FILE *f);

#endif
