/* auth.c: see auth.h. Permission lists are short, so matching is a linear
 * scan with subject_matches (publish) or a token-literal cover test
 * (subscribe, security.md §5.1); a per-connection cache of publish verdicts
 * keeps hot subjects at one hash lookup. */
#include "auth.h"
#include "bcrypt.h"
#include "core.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct pattern {
    char *subject;
    char *queue; /* NULL: plain entry */
} pattern_t;

typedef struct plist {
    pattern_t *allow;
    size_t nallow;
    bool has_allow;
    pattern_t *deny;
    size_t ndeny;
} plist_t;

typedef struct resp_entry {
    char *subject;
    int64_t at_ns;
    int64_t count;
} resp_entry_t;

struct conn_auth {
    plist_t pub, sub;
    bool allow_responses;
    int64_t resp_max, resp_expires_ns;
    pthread_mutex_t resp_lock; /* deliverers (any worker) add, the owner consumes */
    resp_entry_t *resp;
    size_t nresp, capresp;
};

bool auth_required(void)
{
    opts_t *o = srv->opts;
    return (o->username && *o->username) || (o->token && *o->token) || o->nusers > 0;
}

static bool secret_ok(const char *configured, const char *given)
{
    if (!configured) configured = "";
    if (!given) given = "";
    if (bcrypt_is_hash(configured)) return bcrypt_check(configured, given, strlen(given));
    return secret_equal(configured, strlen(configured), given, strlen(given));
}

static void split_pattern(const char *in, pattern_t *out)
{
    const char *sp = strchr(in, ' ');
    if (sp) {
        out->subject = xstrndup(in, (size_t)(sp - in));
        while (*sp == ' ')
            sp++;
        out->queue = *sp ? xstrdup(sp) : NULL;
    } else {
        out->subject = xstrdup(in);
        out->queue = NULL;
    }
}

static void compile_list(const perm_list_t *in, plist_t *out)
{
    out->has_allow = in->has_allow && in->nallow > 0;
    out->nallow = in->nallow;
    out->allow = xcalloc(in->nallow, sizeof(pattern_t));
    for (size_t i = 0; i < in->nallow; i++)
        split_pattern(in->allow[i], &out->allow[i]);
    out->ndeny = in->ndeny;
    out->deny = xcalloc(in->ndeny, sizeof(pattern_t));
    for (size_t i = 0; i < in->ndeny; i++)
        split_pattern(in->deny[i], &out->deny[i]);
}

static void free_list(plist_t *l)
{
    for (size_t i = 0; i < l->nallow; i++) {
        free(l->allow[i].subject);
        free(l->allow[i].queue);
    }
    for (size_t i = 0; i < l->ndeny; i++) {
        free(l->deny[i].subject);
        free(l->deny[i].queue);
    }
    free(l->allow);
    free(l->deny);
}

static struct conn_auth *compile_perms(const permissions_t *p)
{
    if (!p) return NULL;
    struct conn_auth *a = xcalloc(1, sizeof *a);
    pthread_mutex_init(&a->resp_lock, NULL);
    if (p->has_publish) compile_list(&p->publish, &a->pub);
    if (p->has_subscribe) compile_list(&p->subscribe, &a->sub);
    if (p->allow_responses) {
        a->allow_responses = true;
        a->resp_max = p->resp_max == 0 ? 1 : p->resp_max;
        a->resp_expires_ns = p->resp_expires_ns == 0 ? 120LL * 1000000000LL : p->resp_expires_ns;
        /* Responses-only: with no publish allow list, nothing else may be published. */
        if (!a->pub.has_allow) a->pub.has_allow = true;
    }
    return a;
}

void auth_conn_free(conn_t *c)
{
    struct conn_auth *a = c->auth;
    if (!a) return;
    free_list(&a->pub);
    free_list(&a->sub);
    for (size_t i = 0; i < a->nresp; i++)
        free(a->resp[i].subject);
    free(a->resp);
    pthread_mutex_destroy(&a->resp_lock);
    free(a);
    c->auth = NULL;
}

void auth_violation_log(const conn_t *c, const char *user)
{
    /* The reference (client.authViolation) names the CONNECT user only when a
     * users list is configured; never the secret. */
    if (srv->opts->nusers > 0)
        ERROR("%sauthentication error - User \"%s\"", c->prefix, user ? user : "");
    else
        ERROR("%sauthentication error", c->prefix);
}

bool auth_check(conn_t *c, const char *user, const char *pass, const char *token)
{
    opts_t *o = srv->opts;
    if (o->token && *o->token) {
        if (token && secret_ok(o->token, token)) return true;
        auth_violation_log(c, user);
        return false;
    }
    if (o->nusers > 0) {
        for (size_t i = 0; i < o->nusers; i++) {
            user_t *u = &o->users[i];
            if (!user || strcmp(u->name, user) != 0) continue;
            if (!secret_ok(u->password, pass)) break;
            /* allowed_connection_types without STANDARD: not on the client port */
            if (u->restrict_conn_types && !u->allow_standard) break;
            free(c->user);
            c->user = xstrdup(u->name);
            auth_conn_free(c);
            c->auth = compile_perms(u->perms ? u->perms : o->default_perms);
            return true;
        }
        auth_violation_log(c, user);
        return false;
    }
    if (o->username && *o->username) {
        if (user && strcmp(user, o->username) == 0 && secret_ok(o->password, pass)) {
            free(c->user);
            c->user = xstrdup(user);
            return true;
        }
        auth_violation_log(c, user);
        return false;
    }
    return true;
}

/* Subscription subject `sub` covered by pattern `pat`, tokens of sub taken literally. */
static bool sub_covered(const char *pat, const char *sub, size_t subn)
{
    const char *p = pat, *s = sub, *se = sub + subn;
    for (;;) {
        const char *pe = strchr(p, '.');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        const char *te = memchr(s, '.', (size_t)(se - s));
        size_t tl = te ? (size_t)(te - s) : (size_t)(se - s);
        if (pl == 1 && p[0] == '>')
            return true; /* covers one or more remaining tokens, wildcards included */
        if (pl == 1 && p[0] == '*') {
            /* any one token, a literal `*` or `>` of the subscription included
             * (the reference matches the SUB subject through its sublist) */
        } else if (pl != tl || memcmp(p, s, pl) != 0) {
            return false;
        }
        if (!pe && !te) return true;
        if (!pe || !te) return false;
        p = pe + 1;
        s = te + 1;
    }
}

static bool pub_match(const pattern_t *ps, size_t n, slice_t subj)
{
    for (size_t i = 0; i < n; i++)
        if (subject_matches(ps[i].subject, strlen(ps[i].subject), subj.p, subj.n)) return true;
    return false;
}

static bool queue_match(const char *pat, slice_t q)
{
    return subject_matches(pat, strlen(pat), q.p, q.n);
}

static bool resp_allowed(struct conn_auth *a, slice_t subj, int64_t now)
{
    bool ok = false;
    pthread_mutex_lock(&a->resp_lock);
    for (size_t i = 0; i < a->nresp;) {
        resp_entry_t *e = &a->resp[i];
        bool stale = (a->resp_expires_ns > 0 && now - e->at_ns > a->resp_expires_ns) ||
                     (a->resp_max > 0 && e->count >= a->resp_max);
        if (!stale && !ok && strlen(e->subject) == subj.n &&
            memcmp(e->subject, subj.p, subj.n) == 0) {
            e->count++;
            ok = true;
            stale = a->resp_max > 0 && e->count >= a->resp_max;
        }
        if (stale) {
            free(e->subject);
            a->resp[i] = a->resp[--a->nresp];
            continue;
        }
        i++;
    }
    pthread_mutex_unlock(&a->resp_lock);
    return ok;
}

bool auth_can_publish(worker_t *w, conn_t *c, slice_t subject)
{
    struct conn_auth *a = c->auth;
    if (!a) return true;
    bool ok = true;
    if (a->pub.has_allow) ok = pub_match(a->pub.allow, a->pub.nallow, subject);
    if (ok && a->pub.ndeny) ok = !pub_match(a->pub.deny, a->pub.ndeny, subject);
    if (!ok && a->allow_responses) ok = resp_allowed(a, subject, now_mono_ns());
    if (!ok) {
        char text[1024];
        snprintf(text, sizeof text, "Permissions Violation for Publish to \"%.*s\"",
                 (int)(subject.n > 900 ? 900 : subject.n), subject.p);
        ERROR("%sPublish Violation - User \"%s\", Subject \"%.*s\"", c->prefix,
              c->user ? c->user : "N/A", (int)subject.n, subject.p);
        client_send_err(w, c, text);
    }
    return ok;
}

bool auth_sub_allowed(const conn_t *c, slice_t subject, slice_t queue)
{
    if (queue.n == 5 && memcmp(queue.p, "_sys_", 5) == 0) return false;
    struct conn_auth *a = c->auth;
    if (!a) return true;
    bool ok = true;
    if (a->sub.has_allow) {
        bool qmatched = false, qok = false, plain = false;
        for (size_t i = 0; i < a->sub.nallow; i++) {
            pattern_t *p = &a->sub.allow[i];
            if (!sub_covered(p->subject, subject.p, subject.n)) continue;
            if (p->queue) {
                qmatched = true;
                if (queue.n && queue_match(p->queue, queue)) qok = true;
            } else {
                plain = true;
            }
        }
        ok = (queue.n && qmatched) ? qok : plain;
    }
    if (ok && a->sub.ndeny) {
        bool qdeny_matched = false, qdenied = false;
        for (size_t i = 0; i < a->sub.ndeny; i++) {
            pattern_t *p = &a->sub.deny[i];
            if (!sub_covered(p->subject, subject.p, subject.n)) continue;
            if (p->queue) {
                qdeny_matched = true;
                if (queue.n && queue_match(p->queue, queue)) qdenied = true;
            } else {
                ok = false;
            }
        }
        if (queue.n && qdeny_matched) ok = !qdenied;
    }
    return ok;
}

bool auth_can_subscribe_sid(worker_t *w, conn_t *c, slice_t subject, slice_t queue, slice_t sid)
{
    bool ok = auth_sub_allowed(c, subject, queue);
    if (!ok) {
        char text[1024], sidtxt[256];
        /* reference log: ..., Subject "foo"[, Queue: "q"], SID 6 */
        sidtxt[0] = 0;
        if (sid.n)
            snprintf(sidtxt, sizeof sidtxt, ", SID %.*s", (int)(sid.n > 200 ? 200 : sid.n), sid.p);
        if (queue.n) {
            snprintf(text, sizeof text,
                     "Permissions Violation for Subscription to \"%.*s\" using queue \"%.*s\"",
                     (int)(subject.n > 400 ? 400 : subject.n), subject.p,
                     (int)(queue.n > 400 ? 400 : queue.n), queue.p);
            ERROR("%sSubscription Violation - User \"%s\", Subject \"%.*s\", Queue: \"%.*s\"%s",
                  c->prefix, c->user ? c->user : "N/A", (int)subject.n, subject.p, (int)queue.n,
                  queue.p, sidtxt);
        } else {
            snprintf(text, sizeof text, "Permissions Violation for Subscription to \"%.*s\"",
                     (int)(subject.n > 900 ? 900 : subject.n), subject.p);
            ERROR("%sSubscription Violation - User \"%s\", Subject \"%.*s\"%s", c->prefix,
                  c->user ? c->user : "N/A", (int)subject.n, subject.p, sidtxt);
        }
        client_send_err(w, c, text);
    }
    return ok;
}

bool auth_can_subscribe(worker_t *w, conn_t *c, slice_t subject, slice_t queue)
{
    return auth_can_subscribe_sid(w, c, subject, queue, (slice_t){NULL, 0});
}

bool auth_deliver_slow(conn_t *c, slice_t subject, slice_t reply)
{
    struct conn_auth *a = c->auth;
    for (size_t i = 0; i < a->sub.ndeny; i++) {
        pattern_t *p = &a->sub.deny[i];
        if (!p->queue && subject_matches(p->subject, strlen(p->subject), subject.p, subject.n))
            return false;
    }
    if (a->allow_responses && reply.n) {
        pthread_mutex_lock(&a->resp_lock);
        if (a->nresp < 65536) {
            if (a->nresp == a->capresp) {
                a->capresp = a->capresp ? a->capresp * 2 : 8;
                a->resp = xrealloc(a->resp, a->capresp * sizeof *a->resp);
            }
            a->resp[a->nresp++] = (resp_entry_t){xstrndup(reply.p, reply.n), now_mono_ns(), 0};
        }
        pthread_mutex_unlock(&a->resp_lock);
    }
    return true;
}

bool auth_user_exists(const char *name)
{
    /* Only a users list can "lose" a user (closed silently on reload, as the
     * reference does). A single user whose name or password changed is an
     * authentication failure instead (security.md §6): the caller's re-check
     * sends -ERR 'Authorization Violation'. */
    opts_t *o = srv->opts;
    if (!name || o->nusers == 0) return true;
    for (size_t i = 0; i < o->nusers; i++)
        if (strcmp(o->users[i].name, name) == 0) return true;
    return false;
}
