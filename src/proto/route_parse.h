/* route_parse.h: the route protocol's own texts, parsed and formatted without
 * server state (the operations themselves, RS+/RS-/RMSG..., are parse_op's in
 * PARSE_ROUTE mode, parser.h).
 *
 * - A route INFO or CONNECT: one JSON object; route_info_parse keeps the
 *   members a route uses (unknown members and wrong types are ignored, as the
 *   reference's decoder does; an over-long string reads as empty).
 * - Route URLs (nats-route://user:pass@host:port/): host, port (4222 when
 *   absent), percent-decoded user and password; the log form hides the password.
 * - The interest lines we send (RS+/RS- for "subject[ queue]" keys) and the
 *   queue-name list of a routed message (RMSG's "+ reply q1 q2" / "| q1 q2"). */
#ifndef GNATSD_ROUTE_PARSE_H
#define GNATSD_ROUTE_PARSE_H

#include "base/common.h"

typedef struct route_info_msg {
    char id[64], name[128], host[256], ip[300], cluster[128];
    char user[256], pass[256], lang[64];
    int64_t port;
    bool headers, dynamic, ldm, auth_required, gateway, has_cluster;
    bool lnoc;   /* takes LS+/LS-/LMSG with a leaf node's origin cluster */
    char **urls; /* connect_urls (owned) */
    size_t nurls;
    /* gateway INFO/CONNECT (docs/gateways.md): the gateway's name, its URL and the URLs
     * of its cluster, a command (1 gossip, 2/3 start/end of an account's interest) with
     * its payload (an account name, base64 in the JSON, decoded here) */
    char gw_name[128], gw_url[300], gw_payload[256];
    char **gw_urls; /* owned */
    size_t ngw_urls;
    int64_t gw_cmd;
    bool gw_iom, gw_nrp, has_gw_payload;
    char **lurls; /* leafnode_urls (owned): the peer's leafnode listener (docs/leafnodes.md §2) */
    size_t nlurls;
} route_info_msg_t;

/* 0, or -1 if json[0..n) is not one JSON object (members read before the error stay
 * set). server_id is read into id, and so is CONNECT's name. route_info_msg_free
 * either way. */
int route_info_parse(const char *json, size_t n, route_info_msg_t *out);
void route_info_msg_free(route_info_msg_t *r);

/* 0, or -1 for a URL whose host part does not fit or has an unclosed '['. user/pass
 * may be NULL (not wanted); out strings are truncated to their sizes. */
int route_url_split(const char *url, char *host, size_t hn, int *port, char *user, size_t un,
                    char *pass, size_t pn);
/* url with its password (if any) shown as xxxxx, for log lines. */
void route_url_redacted(const char *url, char *out, size_t n);

/* "RS+ key\r\n", "RS+ key weight\r\n" (a queue) or "RS- key\r\n" for the interest
 * key "account subject" or "account subject queue" (a queue when subj_end < len: the
 * subject ends at key[subj_end]). Returns the line's length; like snprintf, a result
 * >= cap means it did not fit. */
size_t route_interest_line(char *out, size_t cap, const char *key, size_t len, size_t subj_end,
                           int64_t weight, bool add);
/* The same for a leaf node's interest to a peer that takes its origin (lnoc, docs/
 * routes.md "Leaf node origin"): "LS+ origin key[ weight]\r\n" or "LS- key\r\n". */
size_t route_leaf_interest_line(char *out, size_t cap, slice_t origin, const char *key, size_t len,
                                size_t subj_end, int64_t weight, bool add);

/* Is queue q one of the names in list (blank separated)? Inline: delivery of a routed
 * message asks it for every matching queue group. */
static inline bool route_queue_listed(slice_t list, slice_t q)
{
    if (!list.n) return false; /* list.p may be NULL: no arithmetic on it */
    const char *p = list.p, *end = list.p + list.n;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *st = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        if ((size_t)(p - st) == q.n && q.n && memcmp(st, q.p, q.n) == 0) return true;
    }
    return false;
}

#endif
