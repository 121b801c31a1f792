/* jwt.c: decoding and verifying NATS JWTs (see jwt.h). */
#include "base/jwt.h"
#include "base/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JWT_MAX (64 * 1024) /* a token longer than this is refused */

typedef struct hdr {
    char typ[16], alg[32];
} hdr_t;

static int hdr_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    hdr_t *h = ctx;
    if (t != JSON_STRING) return 0;
    if (json_key_is(key, "typ")) json_unquote(raw, h->typ, sizeof h->typ);
    if (json_key_is(key, "alg")) json_unquote(raw, h->alg, sizeof h->alg);
    return 0;
}

static void get_int(slice_t raw, int64_t *v)
{
    char b[32];
    if (raw.n >= sizeof b) return;
    memcpy(b, raw.p, raw.n);
    b[raw.n] = 0;
    *v = strtoll(b, NULL, 10);
}

static int claim_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    jwt_t *j = ctx;
    if (t == JSON_STRING) {
        if (json_key_is(key, "jti")) json_unquote(raw, j->jti, sizeof j->jti);
        if (json_key_is(key, "iss")) json_unquote(raw, j->iss, sizeof j->iss);
        if (json_key_is(key, "sub")) json_unquote(raw, j->sub, sizeof j->sub);
        if (json_key_is(key, "name")) json_unquote(raw, j->name, sizeof j->name);
        if (json_key_is(key, "type")) json_unquote(raw, j->type, sizeof j->type); /* v1 */
    } else if (t == JSON_NUMBER) {
        if (json_key_is(key, "iat")) get_int(raw, &j->iat);
        if (json_key_is(key, "exp")) get_int(raw, &j->exp);
        if (json_key_is(key, "nbf")) get_int(raw, &j->nbf);
    } else if (t == JSON_OBJECT && json_key_is(key, "nats")) {
        j->nats = raw;
    }
    return 0;
}

static int nats_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    jwt_t *j = ctx;
    if (t == JSON_STRING && json_key_is(key, "type")) json_unquote(raw, j->type, sizeof j->type);
    if (t == JSON_NUMBER && json_key_is(key, "version")) {
        int64_t v = 0;
        get_int(raw, &v);
        if (v > 0 && v < 100) j->version = (int)v;
    }
    return 0;
}

static int fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

int jwt_decode(const char *tok, size_t n, jwt_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (n == 0 || n > JWT_MAX) return fail(err, errlen, "not a JWT");
    const char *d1 = memchr(tok, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(tok + n - d1 - 1)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', (size_t)(tok + n - d2 - 1)))
        return fail(err, errlen, "not a JWT (expected three parts)");
    char hbuf[256];
    long hl = nkey_b64_decode(tok, (size_t)(d1 - tok), (uint8_t *)hbuf, sizeof hbuf - 1);
    hdr_t h = {0};
    if (hl <= 0 || json_parse_object(hbuf, (size_t)hl, hdr_member, &h) != 0)
        return fail(err, errlen, "bad JWT header");
    if (strcasecmp(h.typ, "jwt") != 0) return fail(err, errlen, "not a JWT (typ)");
    if (strcmp(h.alg, "ed25519-nkey") == 0)
        out->version = 2;
    else if (strcmp(h.alg, "ed25519") == 0)
        out->version = 1;
    else
        return fail(err, errlen, "unsupported JWT algorithm");
    size_t pn = (size_t)(d2 - d1 - 1);
    out->payload = xmalloc(pn + 1);
    long pl = nkey_b64_decode(d1 + 1, pn, (uint8_t *)out->payload, pn);
    if (pl <= 0) {
        jwt_free(out);
        return fail(err, errlen, "bad JWT payload encoding");
    }
    out->payload[pl] = 0;
    out->payload_len = (size_t)pl;
    int version = out->version;
    if (json_parse_object(out->payload, out->payload_len, claim_member, out) != 0) {
        jwt_free(out);
        return fail(err, errlen, "bad JWT claims");
    }
    if (out->nats.n) json_parse_object(out->nats.p, out->nats.n, nats_member, out);
    out->version = version; /* the header decides, as the reference's decoder */
    uint8_t sig[64];
    if (nkey_b64_decode(d2 + 1, (size_t)(tok + n - d2 - 1), sig, sizeof sig) != 64) {
        jwt_free(out);
        return fail(err, errlen, "bad JWT signature encoding");
    }
    uint8_t raw[32];
    if (!nkey_decode_public(out->iss, strlen(out->iss), NKEY_ANY, raw, &out->iss_type)) {
        jwt_free(out);
        return fail(err, errlen, "JWT issuer is not a public nkey");
    }
    /* version 2 signs "header.payload"; version 1 signed the payload part alone */
    const char *signed_p = out->version == 1 ? d1 + 1 : tok;
    if (!nkey_verify(raw, signed_p, (size_t)(d2 - signed_p), sig)) {
        jwt_free(out);
        return fail(err, errlen, "JWT signature verification failed");
    }
    return 0;
}

void jwt_free(jwt_t *j)
{
    free(j->payload);
    j->payload = NULL;
    j->nats = (slice_t){NULL, 0};
}

bool jwt_expired(const jwt_t *j, int64_t now)
{
    return (j->exp && now >= j->exp) || (j->nbf && now < j->nbf);
}
