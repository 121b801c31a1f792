/* test_resolver.c: loading an account from the resolver (nats/resolver.c) while other
 * threads look it up. A login on one worker may look an account up while another
 * thread is loading it (a lookup's answer came, and the waiting login and the system
 * thread both load it): a lookup must find it complete (its claims and its limits) or
 * not at all. Tokens are the fixtures made by the official nats-io libraries; the
 * account's JWT limits connections to 7. */
#include "nats/account.h"
#include "nats/resolver.h"
#include "base/qsbr.h"
#include "conf/opts.h"
#include "test.h"
#include "test_conf_load.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];
static opts_t opts;
static server_t server;

static int load(const char *text)
{
    return test_conf_load(tmpdir, "resolver.conf", text, &opts, &server);
}

typedef struct watch {
    const char *name;
    _Atomic bool spinning;
    bool seen, complete;
} watch_t;

/* Spins on the lock-free lookup until the account shows (the load makes it show), then
 * fetches it as a login does (account_fetch_quiet) and notes whether what it got was
 * complete. */
static void *watcher(void *arg)
{
    watch_t *w = arg;
    qsbr_register();
    atomic_store(&w->spinning, true);
    for (;;) {
        if (account_lookup(w->name, strlen(w->name))) {
            account_t *a = account_fetch_quiet(w->name, strlen(w->name));
            w->seen = a != NULL;
            w->complete = a && atomic_load(&a->claims) != NULL && atomic_load(&a->max_conns) == 7;
            break;
        }
        qsbr_quiescent();
    }
    qsbr_unregister();
    return NULL;
}

TEST(account_found_only_once_loaded)
{
    const char *acc = fixture_jwt("account_pub");
    char dir[128], *text = malloc(16384);
    for (int round = 0; round < 20; round++) {
        snprintf(dir, sizeof dir, "%s/jwt%d", tmpdir, round);
        snprintf(text, 16384,
                 "operator: \"%s\"\nresolver: { type: full, dir: \"%s\" }\n"
                 "resolver_preload: { %s: \"%s\" }\n",
                 fixture_jwt("operator"), dir, acc, fixture_jwt("account"));
        CHECK_EQ_INT(load(text), 0);
        const char *sys = NULL;
        char err[256];
        CHECK_EQ_INT(resolver_start(&opts, &sys, err, sizeof err), 0);
        accounts_init(&opts, sys);
        watch_t w = {.name = acc};
        pthread_t th;
        pthread_create(&th, NULL, watcher, &w);
        while (!atomic_load(&w.spinning)) /* the load starts while it looks */
            sched_yield();
        account_t *a = account_fetch(acc, strlen(acc));
        CHECK(a != NULL);
        pthread_join(th, NULL);
        CHECK(w.seen);
        if (!w.complete) {
            fprintf(stderr, "  round %d: the account was found before it was loaded\n", round);
            CHECK(w.complete);
        }
        qsbr_quiescent();
        resolver_free_all();
        accounts_free_all();
        opts_free(&opts);
        if (test_failed_now) break;
    }
    free(text);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gnatsd-unit-resolver-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    qsbr_register();
    RUN(account_found_only_once_loaded);
    qsbr_drain_all();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) return 1;
    return test_summary();
}
