/* client_connect.h: reading a client's CONNECT (client_connect.c), for the client
 * protocol (client.c) and its fuzz harness (tests/fuzz/fuzz_connect.c). */
#ifndef GNATSD_CLIENT_CONNECT_H
#define GNATSD_CLIENT_CONNECT_H

#include "core/core.h"
#include "base/json.h"

/* What a CONNECT said; the caller sets the ints to -1 (absent) before parsing. */
typedef struct connect_info {
    conn_t *c;
    bool bad;
    int verbose, pedantic, echo, headers, no_responders; /* -1 = absent */
    int64_t protocol;
    bool has_protocol;
    bool account;
    char user[256], pass[1024], token[1024];
    bool has_user, has_pass, has_token;
    char nkey[64], sig[128];
    bool has_nkey, has_sig;
    slice_t jwt; /* raw JSON string token of "jwt" (into the CONNECT line), or empty */
    char name[256], lang[64], version[64];
} connect_info_t;

/* json_parse_object's member callback: ctx is a connect_info_t. Nonzero: a member of
 * the wrong type (the CONNECT is refused). */
int connect_member(void *ctx, slice_t key, json_type_t t, slice_t raw);
/* c->prefix from its address, cid and the client's version, lang and name (quoted). */
void client_update_prefix(conn_t *c);
/* The trace line of a CONNECT, every password and token string redacted. */
void trace_connect(conn_t *c, slice_t line);
/* tests/fuzz/fuzz_connect.c: CONNECT JSON through the real member parsing, the log
 * prefix built from it, and the trace redaction (appended to *redacted). False if a
 * valid CONNECT's redacted form still shows a secret. */
bool client_fuzz_connect(const char *p, size_t n, char *prefix, size_t prefix_cap, buf_t *redacted);

#endif
