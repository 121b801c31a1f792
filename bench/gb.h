/* gb.h: shared types of gnatsd-bench, the user-facing NATS benchmark tool.
 *
 * The tool is split into: gb_main.c (options, dispatch), gb_run.c (mode
 * orchestration, progress, result assembly), gb_proto.c (the raw protocol
 * client), gb_raw.c (raw-engine workers), gb_natsc.c (libnats-engine
 * workers) and gb_report.c (statistics, table and JSON output).
 *
 * Every client is one worker running on its own thread. Workers publish
 * their progress through relaxed atomics only, so the monitor thread can
 * print progress and detect stalls without slowing the hot loops down. */
#ifndef GB_H
#define GB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum gb_mode { GB_PUB, GB_SUB, GB_PUBSUB, GB_QUEUE, GB_REQREP, GB_CONNS, GB_SUBS, GB_ACCOUNTS };
enum gb_engine { GB_RAW, GB_NATS };
enum gb_role { GB_ROLE_PUB, GB_ROLE_SUB, GB_ROLE_REQ, GB_ROLE_REP };

/* Parsed command line. Counts are totals for the whole run (split across
 * publishers), as in `nats bench`, so changing -p does not change the work. */
typedef struct gb_cfg {
    enum gb_mode mode;
    enum gb_engine engine;
    char url[512];
    char host[256];
    char port[16];
    char user[128];
    char pass[128];
    char token[256];
    char subject[200];
    char queue[64];
    int npub;
    int nsub;
    size_t size;
    uint64_t msgs;   /* total messages (UINT64_MAX when bounded by duration only) */
    double duration; /* seconds; 0 = no time limit on publishing */
    double timeout;  /* seconds without progress before giving up */
    int conns;       /* conns mode */
    int subs;        /* subs mode */
    int accounts;    /* accounts mode: accounts */
    int acc_conns;   /* accounts mode: connections per account */
    int server_pid;  /* accounts mode: the server, for its RSS (0: not measured) */
    size_t batch;    /* raw publisher write size in bytes */
    bool json;
    bool progress;
} gb_cfg;

/* One client. Hot counters are atomics written with relaxed stores by the
 * owner and read by the monitor; everything else is owned by the thread
 * until it is joined. */
typedef struct gb_worker {
    int id;
    enum gb_role role;
    const gb_cfg *cfg;
    pthread_t th;
    _Atomic uint64_t count; /* messages published / received / requests done */
    _Atomic int ready;      /* subscribed and flushed */
    _Atomic int finished;   /* thread about to exit */
    uint64_t quota;         /* publishers: messages to send */
    uint64_t expected;      /* subscribers: fixed expectation (fan-out); 0 = see run */
    uint64_t bytes;         /* payload bytes moved */
    uint64_t t_start;       /* ns: first send / first message */
    uint64_t t_end;         /* ns: flushed / last message */
    uint64_t *lat;          /* requesters: latency samples in ns */
    uint64_t nlat, lat_cap;
    char *payload;     /* libnats responders: the reply body */
    uint64_t bad_size; /* received payloads of the wrong size */
    int err;
    char errmsg[200];
} gb_worker;

/* State shared by the workers of one run. */
typedef struct gb_shared {
    _Atomic int abort;     /* give up: stall, error or signal */
    _Atomic int pubs_done; /* every publisher has flushed */
    _Atomic int stop_responders;
    _Atomic uint64_t expected; /* per-subscriber (fan-out) or group (queue) total */
    _Atomic uint64_t group_rx; /* queue mode: messages received by the whole group */
    bool queue;                /* subscribers form one queue group */
    bool random_subjects;      /* subs mode: publish to random literal subjects */
    uint64_t deadline;         /* ns; publishers stop here (0 = none) */
    uint64_t subs_setup_ns;    /* subs mode: time to register all subscriptions */
} gb_shared;

extern gb_shared gb_sh;
extern _Atomic int gb_interrupted;

static inline uint64_t gb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t gb_load(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static inline void gb_store(_Atomic uint64_t *v, uint64_t x)
{
    atomic_store_explicit(v, x, memory_order_relaxed);
}

/* true once a subscriber has everything it should get */
static inline bool gb_sub_done(gb_worker *w)
{
    uint64_t exp = atomic_load(&gb_sh.expected);
    if (gb_sh.queue) return gb_load(&gb_sh.group_rx) >= exp;
    return gb_load(&w->count) >= exp;
}

void gb_fail(gb_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* subject used by subs mode for index k; wildcard subscriptions replace the
 * literal one for every 100th k, so each published subject has one match */
int gb_subs_subject(char *out, size_t cap, const char *base, uint64_t k, bool wildcard);

/* raw engine (gb_raw.c) */
int gb_lat_push(gb_worker *w, uint64_t ns);
void *gb_raw_pub(void *arg);
void *gb_raw_sub(void *arg);
void *gb_raw_req(void *arg);
void *gb_raw_rep(void *arg);
int gb_raw_conns(const gb_cfg *cfg);

/* libnats engine (gb_natsc.c) */
void *gb_nats_pub(void *arg);
void *gb_nats_sub(void *arg);
void *gb_nats_req(void *arg);
void *gb_nats_rep(void *arg);
void gb_nats_shutdown(void);

/* accounts mode (gb_accounts.c): the server's config, and the run */
#include <stdio.h>
int gb_accounts_config(const gb_cfg *cfg, FILE *f);
int gb_accounts_run(const gb_cfg *cfg);

/* orchestration (gb_run.c) */
int gb_run(const gb_cfg *cfg);

#endif
