/* gb_report.h: results of gnatsd-bench: one JSON object per result on
 * stdout (--json) and a human-readable table at the end of the run. */
#ifndef GB_REPORT_H
#define GB_REPORT_H

#include "gb.h"

#define GB_MAX_EXTRA 8

/* One row of output: a role (pub, sub, req, conns, subs) of one run. */
typedef struct gb_result {
    const char *role;
    int clients;
    uint64_t msgs;     /* messages sent / received / requests completed */
    uint64_t expected; /* what receivers should have got (0 for senders) */
    uint64_t lost, extra, errors;
    double secs, rate, mbps;
    bool has_per; /* per-client msgs/s, for multi-client roles */
    double per_min, per_avg, per_max;
    bool has_lat; /* microseconds */
    double lat_min, lat_avg, lat_p50, lat_p90, lat_p99, lat_p999, lat_max;
    int nextra;
    const char *xkey[GB_MAX_EXTRA];
    double xval[GB_MAX_EXTRA];
    const char *errmsg;
} gb_result;

void gb_result_extra(gb_result *r, const char *key, double v);

/* Fill the rate fields of r from workers (time span = earliest start to
 * latest end; per-client rates from each worker's own span). */
void gb_result_rates(gb_result *r, gb_worker **ws, int n, size_t size);

/* Merge, sort and summarise the latency samples of requesters. */
int gb_result_latency(gb_result *r, gb_worker **ws, int n);

/* Print the JSON line now (if --json) and keep r for the final table. */
void gb_emit(const gb_cfg *cfg, const gb_result *r);

/* The table, on stdout (stderr with --json so stdout stays parseable). */
void gb_table(const gb_cfg *cfg);

const char *gb_mode_name(enum gb_mode m);

#endif
