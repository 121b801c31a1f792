/* gb_report.c: statistics and output of gnatsd-bench.
 *
 * Latency percentiles come from a sorted array of every sample rather than
 * a histogram: reqrep runs are sequential round trips, so even long runs
 * stay at a few million samples, and exact percentiles are easier to trust
 * when comparing two servers. Percentile rule: nearest rank, ceil(q*n). */
#include "gb_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GB_MAX_RESULTS 16

static gb_result results[GB_MAX_RESULTS];
static int nresults;

const char *gb_mode_name(enum gb_mode m)
{
    static const char *names[] = {"pub",    "sub",   "pubsub", "queue",
                                  "reqrep", "conns", "subs",   "accounts"};
    return names[m];
}

void gb_result_extra(gb_result *r, const char *key, double v)
{
    if (r->nextra < GB_MAX_EXTRA) {
        r->xkey[r->nextra] = key;
        r->xval[r->nextra++] = v;
    }
}

void gb_result_rates(gb_result *r, gb_worker **ws, int n, size_t size)
{
    uint64_t t0 = 0, t1 = 0, total = 0;
    double sum = 0;
    int nper = 0;
    r->per_min = INFINITY;
    r->per_max = 0;
    for (int i = 0; i < n; i++) {
        gb_worker *w = ws[i];
        uint64_t c = gb_load(&w->count);
        total += c;
        if (!w->t_start || w->t_end <= w->t_start) continue;
        if (!t0 || w->t_start < t0) t0 = w->t_start;
        if (w->t_end > t1) t1 = w->t_end;
        double rate = c / ((w->t_end - w->t_start) / 1e9);
        sum += rate;
        nper++;
        if (rate < r->per_min) r->per_min = rate;
        if (rate > r->per_max) r->per_max = rate;
    }
    r->msgs = total;
    r->secs = t1 > t0 ? (t1 - t0) / 1e9 : 0;
    r->rate = r->secs > 0 ? total / r->secs : 0;
    r->mbps = r->rate * (double)size / 1e6;
    r->has_per = n > 1 && nper > 0;
    r->per_avg = nper ? sum / nper : 0;
    if (!nper) r->per_min = 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, uint64_t n, double q)
{
    uint64_t rank = (uint64_t)ceil(q * (double)n);
    if (rank < 1) rank = 1;
    return v[rank - 1] / 1e3;
}

int gb_result_latency(gb_result *r, gb_worker **ws, int n)
{
    uint64_t total = 0, k = 0;
    double sum = 0;
    for (int i = 0; i < n; i++)
        total += ws[i]->nlat;
    if (!total) return 0;
    uint64_t *all = malloc(total * sizeof(*all));
    if (!all) return -1;
    for (int i = 0; i < n; i++) {
        memcpy(all + k, ws[i]->lat, ws[i]->nlat * sizeof(*all));
        k += ws[i]->nlat;
    }
    qsort(all, total, sizeof(*all), cmp_u64);
    for (uint64_t i = 0; i < total; i++)
        sum += (double)all[i];
    r->has_lat = true;
    r->lat_min = all[0] / 1e3;
    r->lat_avg = sum / (double)total / 1e3;
    r->lat_p50 = pct(all, total, 0.50);
    r->lat_p90 = pct(all, total, 0.90);
    r->lat_p99 = pct(all, total, 0.99);
    r->lat_p999 = pct(all, total, 0.999);
    r->lat_max = all[total - 1] / 1e3;
    free(all);
    return 0;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void gb_emit(const gb_cfg *cfg, const gb_result *r)
{
    if (nresults < GB_MAX_RESULTS) results[nresults++] = *r;
    if (!cfg->json) return;
    FILE *f = stdout;
    fprintf(f, "{\"mode\":\"%s\",\"role\":\"%s\",\"client\":\"%s\",\"server\":",
            gb_mode_name(cfg->mode), r->role, cfg->engine == GB_RAW ? "raw" : "nats");
    json_str(f, cfg->url);
    fprintf(f, ",\"subject\":");
    json_str(f, cfg->subject);
    fprintf(f,
            ",\"clients\":%d,\"msg_size\":%zu,\"msgs\":%llu,\"expected\":%llu,\"lost\":%llu,"
            "\"extra\":%llu,\"errors\":%llu,\"seconds\":%.6f,\"msgs_per_sec\":%.1f,"
            "\"mb_per_sec\":%.3f",
            r->clients, cfg->size, (unsigned long long)r->msgs, (unsigned long long)r->expected,
            (unsigned long long)r->lost, (unsigned long long)r->extra,
            (unsigned long long)r->errors, r->secs, r->rate, r->mbps);
    if (r->has_per)
        fprintf(f, ",\"per_client_msgs_per_sec\":{\"min\":%.1f,\"avg\":%.1f,\"max\":%.1f}",
                r->per_min, r->per_avg, r->per_max);
    if (r->has_lat)
        fprintf(f,
                ",\"latency_us\":{\"min\":%.2f,\"avg\":%.2f,\"p50\":%.2f,\"p90\":%.2f,"
                "\"p99\":%.2f,\"p99_9\":%.2f,\"max\":%.2f}",
                r->lat_min, r->lat_avg, r->lat_p50, r->lat_p90, r->lat_p99, r->lat_p999,
                r->lat_max);
    for (int i = 0; i < r->nextra; i++)
        fprintf(f, ",\"%s\":%.6g", r->xkey[i], r->xval[i]);
    if (r->errmsg) {
        fprintf(f, ",\"error\":");
        json_str(f, r->errmsg);
    }
    fprintf(f, "}\n");
    fflush(f);
}

/* 1234567 -> "1,234,567" so rates can be read at a glance */
static const char *commas(char *buf, double v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.0f", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0 && tmp[i - 1] != '-') buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

void gb_table(const gb_cfg *cfg)
{
    FILE *f = cfg->json ? stderr : stdout;
    char a[40], b[40], c[40], d[40];
    fprintf(f, "\ngnatsd-bench %s  client=%s  server=%s  size=%zu B\n", gb_mode_name(cfg->mode),
            cfg->engine == GB_RAW ? "raw" : "nats", cfg->url, cfg->size);
    fprintf(f, "%-6s %7s %13s %13s %9s %9s %8s %6s\n", "role", "clients", "msgs", "msgs/s", "MB/s",
            "secs", "lost", "errors");
    for (int i = 0; i < nresults; i++) {
        const gb_result *r = &results[i];
        fprintf(f, "%-6s %7d %13s %13s %9.2f %9.3f %8llu %6llu\n", r->role, r->clients,
                commas(a, (double)r->msgs), commas(b, r->rate), r->mbps, r->secs,
                (unsigned long long)r->lost, (unsigned long long)r->errors);
    }
    for (int i = 0; i < nresults; i++) {
        const gb_result *r = &results[i];
        if (r->has_per)
            fprintf(f, "  %s per-client msgs/s: min %s  avg %s  max %s\n", r->role,
                    commas(a, r->per_min), commas(b, r->per_avg), commas(c, r->per_max));
        if (r->has_lat)
            fprintf(f,
                    "  %s latency (us): min %.1f  avg %.1f  p50 %.1f  p90 %.1f  p99 %.1f  "
                    "p99.9 %.1f  max %.1f\n",
                    r->role, r->lat_min, r->lat_avg, r->lat_p50, r->lat_p90, r->lat_p99,
                    r->lat_p999, r->lat_max);
        for (int k = 0; k < r->nextra; k++)
            fprintf(f, "  %s %s: %s\n", r->role, r->xkey[k],
                    r->xval[k] >= 1000 ? commas(d, r->xval[k])
                                       : (snprintf(d, sizeof(d), "%.4g", r->xval[k]), d));
        if (r->extra)
            fprintf(f, "  %s: %llu messages more than expected (duplicates)\n", r->role,
                    (unsigned long long)r->extra);
        if (r->errmsg) fprintf(f, "  %s error: %s\n", r->role, r->errmsg);
    }
    fflush(f);
}
