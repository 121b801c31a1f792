/* fuzz_subject.c: libFuzzer harness for the subject work accounts do on config text
 * and client subjects: base/subject_map.h (a mapping compiled from "src\ndest" and
 * applied to a subject) and base/subject.h (subset, collide, positional transform).
 * Input: three lines. No crash, no read past an input, no output past its buffer. */
#include "base/subject.h"
#include "base/subject_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size + 1);
    if (!p) return 0;
    memcpy(p, data, size);
    p[size] = 0;
    char *src = p, *dest = strchr(src, '\n'), *subj = NULL;
    if (dest) {
        *dest++ = 0;
        subj = strchr(dest, '\n');
        if (subj) *subj++ = 0;
    }
    if (dest && subj) {
        char err[256], out[64];
        smap_t *m = smap_compile(src, dest, err, sizeof err);
        if (m) {
            if (smap_matches(m, subj, strlen(subj)))
                smap_apply(m, subj, strlen(subj), out, sizeof out);
            smap_free(m);
        }
        size_t sn = strlen(src), dn = strlen(dest), un = strlen(subj);
        (void)subject_is_subset(src, sn, dest, dn);
        (void)subjects_collide(src, sn, subj, un);
        if (subject_transform_ok(src, dest))
            subject_transform(src, dest, subj, un, out, sizeof out);
    }
    free(p);
    return 0;
}
