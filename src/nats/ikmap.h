/* ikmap.h: interest counted per key "account subject[ queue]" (what routes and
 * gateways announce with RS+/RS-), a chained hash map owned by its module and used
 * under that module's lock. The key holds where the account and the subject end,
 * so a line can be written from it without parsing. */
#ifndef GNATSD_IKMAP_H
#define GNATSD_IKMAP_H

#include "base/common.h"

typedef struct ikey {
    struct ikey *next;
    uint64_t h;
    int64_t count;
    uint32_t acc_len;  /* the account's name is key[0, acc_len) */
    uint32_t subj_end; /* the subject is key[acc_len + 1, subj_end) */
    uint32_t len;
    char key[]; /* account SP subject [SP queue] */
} ikey_t;

typedef struct ikmap {
    ikey_t **b;
    size_t cap, n;
} ikmap_t;

/* "account subject[ queue]" into stack (or the heap when it does not fit: the caller
 * frees a result != stack): the key, its length in *len. */
char *ikey_build(char *stack, size_t cap, const char *acc, size_t acc_len, slice_t subject,
                 slice_t queue, size_t *len);
/* Adds delta to the key's count (an absent key counts 0; a count that drops to 0 or
 * below removes the key). Returns the count before; *after gets the count after. */
int64_t ikmap_add(ikmap_t *m, const char *k, size_t n, size_t acc_len, size_t subj_end,
                  int64_t delta, int64_t *after);
void ikmap_free(ikmap_t *m);

/* Every entry of m, in no order: for (IKMAP_EACH(m, i, e)) { ... } */
#define IKMAP_EACH(m, i, e)                                                                        \
    size_t i = 0;                                                                                  \
    i < (m)->cap; i++)                                                               \
        for (ikey_t * e = (m)->b[i]; e; e = e->next

#endif
