/* json.h: the JSON the server writes (INFO, monitoring) and reads (CONNECT,
 * route INFO).
 *
 * Writer: appends to a buf_t in Go's encoding/json style (compact, or
 * indented with two spaces like json.MarshalIndent), with Go's string
 * escaping (<, >, & as \u003c...) so the bytes match the reference.
 * Reader: validates a whole JSON document that must be one object and calls
 * back once per top-level member; nested values are validated and handed over
 * raw. Nothing is allocated while reading. */
#ifndef GNATSD_JSON_H
#define GNATSD_JSON_H

#include "base/buf.h"

#define JW_MAX_DEPTH 32

typedef struct jw {
    buf_t *b;
    int depth;
    bool pretty;
    bool nonempty[JW_MAX_DEPTH];
} jw_t;

void jw_init(jw_t *w, buf_t *b, bool pretty);
/* Compact writer that adds members to an object already open in b with members (a
 * comma first); the caller closes it. */
void jw_resume(jw_t *w, buf_t *b);
/* key is NULL for the root value and for array elements. */
void jw_obj_begin(jw_t *w, const char *key);
void jw_obj_end(jw_t *w);
void jw_arr_begin(jw_t *w, const char *key);
void jw_arr_end(jw_t *w);
void jw_str(jw_t *w, const char *key, const char *s);
void jw_strn(jw_t *w, const char *key, const char *s, size_t n);
void jw_int(jw_t *w, const char *key, int64_t v);
void jw_uint(jw_t *w, const char *key, uint64_t v);
void jw_bool(jw_t *w, const char *key, bool v);
void jw_float(jw_t *w, const char *key, double v);
void jw_null(jw_t *w, const char *key);
/* A value already in JSON (compact; from a JSON document this server read), as it is. */
void jw_raw(jw_t *w, const char *key, const char *json, size_t n);
/* RFC 3339 UTC with trimmed nanoseconds, as Go's time.Time marshals. */
void jw_time(jw_t *w, const char *key, int64_t wall_ns);

/* Go-style JSON string escaping of s into b (with the quotes). */
void json_put_string(buf_t *b, const char *s, size_t n);
/* Go's shortest float formatting ('f' style unless exponent < -6 or >= 21). */
void json_put_float(buf_t *b, double v);

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_OBJECT,
    JSON_ARRAY
} json_type_t;

/* raw: the value's text (for strings: including the quotes). Return non-zero to stop (the
 * parse then fails with that value). */
typedef int (*json_member_fn)(void *ctx, slice_t key_raw, json_type_t t, slice_t raw);

/* 0 if s is exactly one JSON object (surrounding whitespace allowed), -1 otherwise
 * (or the callback's non-zero value). */
int json_parse_object(const char *s, size_t n, json_member_fn fn, void *ctx);
/* Whether s holds nothing but JSON whitespace (an empty request payload). */
bool json_blank(const char *s, size_t n);
/* The same for a document that is exactly one array: fn once per element. */
typedef int (*json_elem_fn)(void *ctx, json_type_t t, slice_t raw);
int json_parse_array(const char *s, size_t n, json_elem_fn fn, void *ctx);
/* Decodes a raw JSON string token (with quotes) into out (NUL-terminated, at most outsz-1
 * bytes). Returns the decoded length, or -1 if it does not fit or is malformed. */
long json_unquote(slice_t raw, char *out, size_t outsz);
/* Appends the JSON document s without the whitespace between tokens (the indented
 * monitoring bodies as the compact replies of the system account). */
void json_compact(buf_t *out, const char *s, size_t n);
/* Compares a raw key token (with quotes) with a plain ASCII name (exact, no escapes). */
bool json_key_is(slice_t key_raw, const char *name);

#endif
