/* leaf_parse.h: a leaf connection's CONNECT and INFO as text (docs/leafnodes.md
 * §3): one JSON object each, of which the members a leaf uses are kept; unknown
 * members and wrong types are ignored (an over-long string reads as empty), as
 * the reference's decoder does. Pure: no server state. */
#ifndef GNATSD_LEAF_PARSE_H
#define GNATSD_LEAF_PARSE_H

#include "base/common.h"

/* The spoke's CONNECT, as the hub reads it. */
typedef struct leaf_connect {
    char name[128], cluster[128], gateway[128], server_id[64];
    char user[256], pass[256], token[256];
    char jwt[8192], sig[256]; /* a user JWT and its signature of our nonce (operator mode) */
    bool has_lang, headers, hub;
} leaf_connect_t;

/* The hub's INFO, as the spoke reads it. */
#define LEAF_INFO_URLS 16
typedef struct leaf_info_msg {
    char id[64], name[128], cluster[128], nonce[64];
    uint64_t cid;
    char urls[LEAF_INFO_URLS][300]; /* leafnode_urls (host:port), the first LEAF_INFO_URLS */
    size_t nurls;
    bool has_urls, headers, info_on_connect, connect_info, tls_required;
} leaf_info_msg_t;

/* 0, or -1 if json[0..n) is not one JSON object (*out zeroed first either way). */
int leaf_connect_parse(const char *json, size_t n, leaf_connect_t *out);
int leaf_info_parse(const char *json, size_t n, leaf_info_msg_t *out);

/* A credentials file (a user JWT and the user's nkey seed, each between two dashed
 * lines, as nsc writes it): 0 with both copied (NUL-terminated, trimmed), -1 if either
 * is missing or does not fit. */
int leaf_creds_parse(const char *text, size_t n, char *jwt, size_t jn, char *seed, size_t sn);

#endif
