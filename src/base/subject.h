/* subject.h: relations between subject patterns, and positional subject
 * transforms (docs/accounts.md "Subjects across accounts"), for what accounts
 * do with subjects: checking an import against the exports, finding import
 * cycles, and mapping a subject from one account's name space to another's.
 *
 * Pure functions on "token.token..." strings where a token "*" matches one
 * token and a last token ">" matches one or more; no allocation except in
 * subject_transform's output, which the caller provides. Patterns are assumed
 * valid (the config and SUB paths check that first). */
#ifndef GNATSD_SUBJECT_H
#define GNATSD_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

/* Subject rules (docs/protocol.md §6). */
bool subject_valid(const char *s, size_t n);         /* for SUB: no empty token, '>' last */
bool subject_valid_literal(const char *s, size_t n); /* for PUB: also no wildcards */
bool subject_has_wildcard(const char *s, size_t n);

/* Every subject `a` matches is matched by `b` (a's "*" only under b's "*" or ">"). */
bool subject_is_subset(const char *a, size_t an, const char *b, size_t bn);
/* Some literal subject is matched by both. */
bool subjects_collide(const char *a, size_t an, const char *b, size_t bn);
/* `dst` has the same wildcards as `src`, in the same order ("*" for "*", a last ">"
 * for a last ">"), so subject_transform can map between them. */
bool subject_transform_ok(const char *src, const char *dst);
/* s matches src (or is a pattern under it): writes dst with each wildcard token
 * replaced by the token(s) of s in the same wildcard position of src. Returns the
 * length written (excluding the NUL), or 0 if s does not fit src or out is too small. */
size_t subject_transform(const char *src, const char *dst, const char *s, size_t sn, char *out,
                         size_t cap);

#endif
