/* fuzz_conf.c: libFuzzer harness for the configuration parser.
 *
 * Any input must parse or fail cleanly: no crash, no leak, no hang. Includes
 * resolve against a directory that does not exist, and ".." is defused, so a
 * fuzzed `include` can never reach a real file. */
#include "conf/conf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    for (size_t i = 0; i + 1 < size; i++)
        if (text[i] == '.' && text[i + 1] == '.') text[i + 1] = '_';
    char err[512];
    conf_val_t *v =
        conf_parse_string(text, size, "/nonexistent-gnatsd-fuzz/fuzz.conf", err, sizeof(err));
    if (v) {
        /* Walk the result so a malformed tree shows up under ASan. */
        const conf_kv_t *kv = conf_map_find(v, "port");
        if (kv && kv->val->type == CONF_STRING) (void)strlen(kv->val->u.str.s);
        (void)conf_type_name(v->type);
        conf_free(v);
    } else if (!memchr(err, 0, sizeof(err))) {
        abort(); /* the error must be a terminated string */
    }
    free(text);
    return 0;
}
